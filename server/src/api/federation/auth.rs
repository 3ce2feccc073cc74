//! Authenticating incoming server-server requests (`Authorization: X-Matrix`): the origin's
//! key is fetched (or taken from the cache) and the signature over the request checked.
//! Anything else is `401 M_UNAUTHORIZED`.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest};

use crate::api::error::{Error, Result};
use crate::api::extract::{app_state, read_body};

/// A verified request from another server.
pub struct FederationRequest {
    pub origin: String,
    pub body: bytes::Bytes,
}

fn unauthorized(message: impl Into<String>) -> Error {
    Error::new(StatusCode::UNAUTHORIZED, "M_UNAUTHORIZED", message)
}

impl FromRequest for FederationRequest {
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let payload = payload.take();
        Box::pin(async move {
            let state = app_state(&req)?;
            if !state.config.federation.enabled {
                return Err(Error::forbidden("Federation is disabled on this server"));
            }
            let header = req
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| unauthorized("Missing X-Matrix authorization"))?;
            // A header that does not parse (an origin that is no server name, say) is a
            // bad request, as from Synapse; a signature that does not verify is a 401.
            let scheme = citadel_federation::x_matrix::parse(header).map_err(|e| {
                Error::new(StatusCode::BAD_REQUEST, "M_UNAUTHORIZED", e.to_string())
            })?;
            let body = read_body(&req, payload, state.config.http.max_request_bytes).await?;
            let origin = scheme.origin.to_string();
            if origin == state.server_name() {
                return Err(unauthorized("Requests cannot come from this server itself"));
            }
            if !crate::rooms::acl::server_allowed(&state, &origin) {
                crate::rooms::acl::audit_denial(&state, &origin, req.path()).await?;
                return Err(Error::forbidden("This server does not federate with yours"));
            }
            let keys = citadel_federation::server_keys::remote_keys(
                &state.federation,
                &state.storage,
                &origin,
                scheme.key.as_str(),
                citadel_storage::now_ms(),
            )
            .await
            .map_err(|e| unauthorized(format!("Cannot verify the origin's key: {e}")))?;
            // The signature covers the body as canonical JSON; a body that cannot be
            // (floats, integers out of range) is bad JSON, not a bad signature.
            if !body.is_empty()
                && serde_json::from_slice::<ruma::CanonicalJsonValue>(&body).is_err()
            {
                return Err(Error::bad_json("The request body is not canonical JSON"));
            }
            let path = req
                .uri()
                .path_and_query()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_default();
            let request = http1::Request::builder()
                .method(req.method().as_str())
                .uri(path)
                .body(body.clone())
                .map_err(|e| unauthorized(e.to_string()))?;
            let our_name =
                <&ruma::ServerName>::try_from(state.server_name()).map_err(Error::internal)?;
            citadel_federation::x_matrix::verify(
                &scheme,
                &request,
                our_name,
                &keys.public_key_map(),
            )
            .map_err(|e| unauthorized(e.to_string()))?;
            Ok(FederationRequest { origin, body })
        })
    }
}
