//! Request parsing and authentication.
//!
//! [`Ruma<R>`] is an actix extractor that reads the body (bounded by
//! `http.max_request_bytes`), authenticates the access token when the endpoint's ruma
//! metadata asks for one, and parses the request into ruma's typed request `R`. actix-web 4
//! speaks `http` 0.2 while ruma speaks `http` 1.x; the conversion between them lives here.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, Responder, web};
use bytes::BytesMut;
use futures_util::StreamExt;
use ruma::api::auth_scheme::{
    AccessToken, AccessTokenOptional, AppserviceToken, AppserviceTokenOptional, NoAccessToken,
    NoAuthentication,
};
use ruma::api::{IncomingRequest, IncomingRequestExt, OutgoingResponse, OutgoingResponseExt};

use crate::api::error::{Error, Result, from_deserialization};
use crate::app::AppState;
use crate::auth::session::{Sender, authenticate};

/// Which kind of authentication an endpoint takes, read from its ruma auth scheme.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    /// No access token is read.
    None,
    /// A token is used when present, and must then be valid.
    Optional,
    /// A valid token is required.
    Required,
}

pub trait AuthPolicy {
    const KIND: AuthKind;
}
impl AuthPolicy for NoAuthentication {
    const KIND: AuthKind = AuthKind::None;
}
impl AuthPolicy for NoAccessToken {
    const KIND: AuthKind = AuthKind::None;
}
impl AuthPolicy for AccessToken {
    const KIND: AuthKind = AuthKind::Required;
}
impl AuthPolicy for AccessTokenOptional {
    const KIND: AuthKind = AuthKind::Optional;
}
// Application services do not exist yet; until they do, an appservice token is an
// ordinary user token and endpoints where it is optional (login, register) ignore it.
impl AuthPolicy for AppserviceToken {
    const KIND: AuthKind = AuthKind::Required;
}
impl AuthPolicy for AppserviceTokenOptional {
    const KIND: AuthKind = AuthKind::None;
}

/// A parsed, authenticated client request.
pub struct Ruma<R> {
    pub body: R,
    /// The authenticated user and device, when the endpoint takes a token and one was given.
    pub sender: Option<Sender>,
    /// The client's address (from X-Forwarded-For when a local reverse proxy sent it).
    pub ip: IpAddr,
    /// The request body as received, for the rare field ruma's types do not carry
    /// (Synapse's `guest_access_token` in `/register`, say).
    pub raw_body: bytes::Bytes,
}

impl<R> Ruma<R> {
    /// The authenticated sender of an endpoint that requires authentication.
    pub fn sender(&self) -> Result<&Sender> {
        self.sender.as_ref().ok_or_else(Error::missing_token)
    }
}

impl<R> FromRequest for Ruma<R>
where
    R: IncomingRequest + 'static,
    R::Authentication: AuthPolicy,
{
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let payload = payload.take();
        Box::pin(async move {
            let state = app_state(&req)?;
            let ip = client_ip(&req);
            let sender = match <R::Authentication as AuthPolicy>::KIND {
                AuthKind::None => None,
                AuthKind::Optional => match access_token(&req)? {
                    Some(token) => Some(authenticate(&state, &token, ip).await?),
                    None => None,
                },
                AuthKind::Required => {
                    let token = access_token(&req)?.ok_or_else(Error::missing_token)?;
                    Some(authenticate(&state, &token, ip).await?)
                }
            };
            if let Some(sender) = &sender {
                crate::auth::restrictions::check(sender, req.method(), req.path())?;
            }
            let body = read_body(&req, payload, state.config.http.max_request_bytes).await?;
            let body = compat::normalize_body(&req, body);
            let parsed = to_ruma_request::<R>(&req, &body)?;
            Ok(Ruma {
                body: parsed,
                sender,
                ip,
                raw_body: body,
            })
        })
    }
}

pub fn app_state(req: &HttpRequest) -> Result<web::Data<AppState>> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| Error::internal("app state missing"))
}

/// The client address: the connection's peer, or behind a configured reverse proxy
/// (`http.trusted_proxies`) the right-most untrusted hop of `X-Forwarded-For`.
pub fn client_ip(req: &HttpRequest) -> IpAddr {
    let peer = req
        .peer_addr()
        .map(|a| a.ip())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]));
    let Some(state) = req.app_data::<web::Data<AppState>>() else {
        return peer;
    };
    // Several headers are one list, in order.
    let values: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .collect();
    let joined = (!values.is_empty()).then(|| values.join(","));
    crate::api::forwarded::client_address(peer, joined.as_deref(), &state.trusted_proxies)
}

/// The access token from `Authorization: Bearer …` or the `access_token` query parameter.
fn access_token(req: &HttpRequest) -> Result<Option<String>> {
    if let Some(header) = req.headers().get("authorization") {
        let value = header.to_str().map_err(|_| Error::missing_token())?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| {
                Error::new(
                    StatusCode::UNAUTHORIZED,
                    "M_MISSING_TOKEN",
                    "Authorization header is not a Bearer token",
                )
            })?;
        return Ok(Some(token.trim().to_owned()));
    }
    let query = req.query_string();
    for pair in query.split('&') {
        if let Some(value) = pair.strip_prefix("access_token=") {
            let token = percent_encoding::percent_decode_str(value)
                .decode_utf8_lossy()
                .into_owned();
            return Ok(Some(token));
        }
    }
    Ok(None)
}

/// Reads the whole body, refusing more than `limit` bytes with `M_TOO_LARGE` before
/// buffering them.
pub async fn read_body(
    req: &HttpRequest,
    mut payload: Payload,
    limit: usize,
) -> Result<bytes::Bytes> {
    let too_large = || Error::too_large(format!("Request body is larger than {limit} bytes"));
    if let Some(length) = req
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        && length.parse::<u64>().is_ok_and(|n| n > limit as u64)
    {
        return Err(too_large());
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| match e {
            actix_web::error::PayloadError::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => {
                Error::new(StatusCode::REQUEST_TIMEOUT, "M_UNKNOWN", io.to_string())
            }
            e => Error::bad_json(format!("Could not read request body: {e}")),
        })?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Bodies ruma is known to panic on, refused before it sees them: `/login` indexes a
/// missing `type` (the panic would be caught below, but print a backtrace per request).
/// Checks (or completes) a body ruma would mishandle; returns the body to parse when it
/// had to be rewritten.
fn precheck<R: 'static>(body: &[u8]) -> Result<Option<Vec<u8>>> {
    use ruma::api::client::session::login;
    use ruma::api::client::typing::create_typing_event;
    if std::any::TypeId::of::<R>() == std::any::TypeId::of::<create_typing_event::v3::Request>() {
        // The spec makes `timeout` optional; ruma requires it with `"typing": true`.
        // Synapse's default of 30 s stands in.
        let mut value: serde_json::Value = crate::api::error::parse_json(body)?;
        if let Some(object) = value.as_object_mut()
            && object.get("typing") == Some(&serde_json::Value::Bool(true))
            && !object.contains_key("timeout")
        {
            object.insert("timeout".into(), serde_json::json!(TYPING_TIMEOUT_MS));
            return serde_json::to_vec(&value)
                .map(Some)
                .map_err(Error::internal);
        }
    }
    if std::any::TypeId::of::<R>() == std::any::TypeId::of::<login::v3::Request>() {
        let value: serde_json::Value = crate::api::error::parse_json(body)?;
        let Some(object) = value.as_object() else {
            return Err(Error::bad_json("The body must be a JSON object"));
        };
        match object.get("type") {
            None => return Err(Error::missing_param("Missing the login type (`type`)")),
            Some(kind) if !kind.is_string() => {
                return Err(Error::bad_json("The login `type` must be a string"));
            }
            Some(_) => {}
        }
    }
    Ok(None)
}

/// How long a user is shown typing when their request names no timeout.
const TYPING_TIMEOUT_MS: u64 = 30_000;

fn to_ruma_request<R: IncomingRequest + 'static>(req: &HttpRequest, body: &[u8]) -> Result<R> {
    let rewritten = precheck::<R>(body)?;
    let body = rewritten.as_deref().unwrap_or(body);
    let mut builder = http1::Request::builder()
        .method(req.method().as_str())
        .uri(req.uri().to_string());
    for (name, value) in req.headers() {
        builder = builder.header(name.as_str(), value.as_bytes());
    }
    let http_request = builder
        .body(body)
        .map_err(|e| Error::bad_json(format!("Malformed request: {e}")))?;
    // actix leaves `%2F`, `%25` and `%2B` encoded in path segments; ruma wants them decoded.
    let path_args: Vec<String> = req
        .match_info()
        .iter()
        .map(|(_, value)| {
            percent_encoding::percent_decode_str(value)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let mut path_refs: Vec<&str> = path_args.iter().map(String::as_str).collect();
    if req.app_data::<EmptyLastPathArg>().is_some() {
        path_refs.push("");
    }
    // ruma's parsers are not all panic-free on hostile input (for example `/login`
    // without a `type` indexes a missing key); a panic must never take a worker down, so
    // it becomes an ordinary bad-request answer.
    let parsed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        R::try_from_http_request(http_request, &path_refs)
    }));
    match parsed {
        Ok(result) => result.map_err(from_deserialization),
        Err(_) => Err(Error::bad_json("Malformed request body")),
    }
}

/// Marks a route registered without its last path segment (an empty state key).
#[derive(Clone, Copy)]
pub struct EmptyLastPathArg;

/// A room ID taken from a raw handler's path or query: `M_INVALID_PARAM` when malformed.
pub fn room_id_param(raw: &str) -> Result<ruma::OwnedRoomId> {
    ruma::OwnedRoomId::try_from(raw)
        .map_err(|_| Error::invalid_param(format!("Invalid room ID {raw:?}")))
}

/// A ruma response, serialised by ruma and sent by actix.
pub struct RumaResponse<T>(pub T);

impl<T: OutgoingResponse> Responder for RumaResponse<T> {
    type Body = actix_web::body::BoxBody;

    fn respond_to(self, _req: &HttpRequest) -> HttpResponse {
        match self.0.try_into_http_response::<BytesMut>() {
            Ok(response) => {
                let status =
                    StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::OK);
                let mut builder = HttpResponse::build(status);
                for (name, value) in response.headers() {
                    builder.append_header((name.as_str(), value.as_bytes()));
                }
                builder.body(response.into_body().freeze())
            }
            Err(e) => actix_web::ResponseError::error_response(&Error::internal(format!(
                "serialising response: {e}"
            ))),
        }
    }
}

/// Small rewrites of request bodies that older clients send in shapes ruma does not parse.
mod compat {
    use serde_json::Value;

    /// An empty JSON body means `{}` (clients send `POST …/join` with no body at all;
    /// a few ruma parsers insist on an object). UIAA `m.login.password` dicts with the
    /// pre-r0.4 `"user"` field instead of an `identifier` (Synapse accepts both) get an
    /// `m.id.user` identifier.
    pub fn normalize_body(req: &actix_web::HttpRequest, body: bytes::Bytes) -> bytes::Bytes {
        let json_or_unset = req
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_none_or(|v| v.starts_with("application/json"));
        if body.iter().all(u8::is_ascii_whitespace)
            && json_or_unset
            && req.method() != actix_web::http::Method::GET
        {
            return bytes::Bytes::from_static(b"{}");
        }
        let needs_look = memchr(&body, b"\"auth\"") && memchr(&body, b"\"user\"");
        if !needs_look {
            return body;
        }
        let Ok(mut value) = serde_json::from_slice::<Value>(&body) else {
            return body;
        };
        let Some(auth) = value.get_mut("auth").and_then(Value::as_object_mut) else {
            return body;
        };
        if auth.contains_key("identifier") {
            return body;
        }
        let Some(user) = auth.remove("user") else {
            return body;
        };
        auth.insert(
            "identifier".into(),
            serde_json::json!({"type": "m.id.user", "user": user}),
        );
        serde_json::to_vec(&value).map(Into::into).unwrap_or(body)
    }

    fn memchr(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }
}

/// Authentication alone, for handlers that build their own JSON (endpoints whose ruma
/// response type would leave out fields that clients expect to see).
pub struct Authed(pub Sender);

impl FromRequest for Authed {
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self>>>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = app_state(&req)?;
            let token = access_token(&req)?.ok_or_else(Error::missing_token)?;
            let sender = authenticate(&state, &token, client_ip(&req)).await?;
            crate::auth::restrictions::check(&sender, req.method(), req.path())?;
            Ok(Authed(sender))
        })
    }
}
