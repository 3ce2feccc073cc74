//! One error type for every API, rendered as the spec's `{"errcode", "error"}` body with
//! the matching HTTP status. Internal failures become `500 M_UNKNOWN`; their details go to
//! the log only, never to the client.

use std::borrow::Cow;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use citadel_storage::StorageError;
use serde_json::{Map, Value, json};

#[derive(Debug)]
pub enum Error {
    /// A Matrix error response.
    Matrix {
        status: StatusCode,
        /// Ours are static; another server's, passed on to a client, are owned.
        errcode: Cow<'static, str>,
        message: String,
        extra: Map<String, Value>,
    },
    /// A user-interactive-auth challenge: 401 with the flows/session body.
    Uiaa(Value),
    /// Something broke on our side.
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(status: StatusCode, errcode: &'static str, message: impl Into<String>) -> Self {
        Error::Matrix {
            status,
            errcode: Cow::Borrowed(errcode),
            message: message.into(),
            extra: Map::new(),
        }
    }

    /// An error another server answered with, passed on as it came: the errcode is
    /// kept when it has the spec's form (`M_…` or a namespaced code), else `M_UNKNOWN`.
    pub fn passed_on(status: StatusCode, errcode: Option<&str>, message: String) -> Self {
        let well_formed = |code: &str| {
            (4..=255).contains(&code.len())
                && code
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b"_.".contains(&b))
                && code.contains('_')
        };
        let errcode = match errcode {
            Some(code) if well_formed(code) => Cow::Owned(code.to_owned()),
            _ => Cow::Borrowed("M_UNKNOWN"),
        };
        Error::Matrix {
            status,
            errcode,
            message,
            extra: Map::new(),
        }
    }

    /// Adds a field beside `errcode` and `error` (e.g. `soft_logout`, `retry_after_ms`).
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        if let Error::Matrix { extra, .. } = &mut self {
            extra.insert(key.to_owned(), value.into());
        }
        self
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "M_FORBIDDEN", message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "M_NOT_FOUND", message)
    }
    pub fn bad_json(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "M_BAD_JSON", message)
    }
    pub fn not_json(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "M_NOT_JSON", message)
    }
    pub fn missing_param(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "M_MISSING_PARAM", message)
    }
    pub fn invalid_param(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "M_INVALID_PARAM", message)
    }
    pub fn missing_token() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "M_MISSING_TOKEN",
            "Missing access token",
        )
    }
    pub fn unknown_token(soft_logout: bool) -> Self {
        let e = Self::new(
            StatusCode::UNAUTHORIZED,
            "M_UNKNOWN_TOKEN",
            "Unrecognised access token",
        );
        if soft_logout {
            e.with("soft_logout", true)
        } else {
            e
        }
    }
    pub fn unrecognized(status: StatusCode) -> Self {
        Self::new(status, "M_UNRECOGNIZED", "Unrecognized request")
    }
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "M_TOO_LARGE", message)
    }
    pub fn limit_exceeded(retry_after_ms: u64) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "M_LIMIT_EXCEEDED",
            "Too many requests",
        )
        .with("retry_after_ms", retry_after_ms)
    }
    pub fn user_in_use() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "M_USER_IN_USE",
            "User ID already taken.",
        )
    }
    pub fn invalid_username(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "M_INVALID_USERNAME", message)
    }
    pub fn unknown(status: StatusCode, message: impl Into<String>) -> Self {
        Self::new(status, "M_UNKNOWN", message)
    }

    pub fn internal(message: impl std::fmt::Display) -> Self {
        Error::Internal(message.to_string())
    }

    /// What a client is told (internal details stay in the log).
    pub fn message(&self) -> &str {
        match self {
            Error::Matrix { message, .. } => message,
            Error::Uiaa(_) => "Authentication required",
            Error::Internal(_) => "Internal server error",
        }
    }

    /// The errcode, for tests and logs.
    pub fn errcode(&self) -> &str {
        match self {
            Error::Matrix { errcode, .. } => errcode,
            Error::Uiaa(_) => "M_UIAA",
            Error::Internal(_) => "M_UNKNOWN",
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Matrix {
                errcode, message, ..
            } => write!(f, "{errcode}: {message}"),
            Error::Uiaa(_) => write!(f, "user-interactive authentication required"),
            Error::Internal(m) => write!(f, "internal error: {m}"),
        }
    }
}

impl From<StorageError> for Error {
    fn from(e: StorageError) -> Self {
        Error::Internal(e.to_string())
    }
}

impl From<actix_web::error::BlockingError> for Error {
    fn from(e: actix_web::error::BlockingError) -> Self {
        Error::Internal(e.to_string())
    }
}

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        match self {
            Error::Matrix { status, .. } => *status,
            Error::Uiaa(_) => StatusCode::UNAUTHORIZED,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut builder = HttpResponse::build(self.status_code());
        let body = match self {
            Error::Matrix {
                errcode,
                message,
                extra,
                ..
            } => {
                if let Some(ms) = extra.get("retry_after_ms").and_then(Value::as_u64) {
                    builder.insert_header(("Retry-After", ms.div_ceil(1000).to_string()));
                }
                let mut body = extra.clone();
                body.insert("errcode".into(), errcode.as_ref().into());
                body.insert("error".into(), message.clone().into());
                Value::Object(body)
            }
            Error::Uiaa(body) => body.clone(),
            Error::Internal(message) => {
                tracing::error!(error = %message, "internal error");
                json!({"errcode": "M_UNKNOWN", "error": "Internal server error"})
            }
        };
        builder
            .content_type("application/json")
            .body(body.to_string())
    }
}

/// Maps a request-parsing failure from ruma to the spec's errcode: unparseable JSON is
/// `M_NOT_JSON`, a missing required field `M_MISSING_PARAM`, anything else of the wrong
/// shape `M_BAD_JSON`, and a malformed path or query value `M_INVALID_PARAM`.
pub fn from_deserialization(e: ruma::api::error::FromHttpRequestError) -> Error {
    use ruma::api::error::{DeserializationError as D, FromHttpRequestError as F};
    match e {
        F::MethodMismatch { .. } => Error::unrecognized(StatusCode::METHOD_NOT_ALLOWED),
        F::Deserialization(D::Json(json)) => from_json_error(&json),
        F::Deserialization(D::Query(q)) => {
            let text = q.to_string();
            if text.starts_with("missing field") {
                Error::missing_param(text)
            } else {
                Error::invalid_param(text)
            }
        }
        F::Deserialization(D::Ident(id)) => {
            Error::invalid_param(format!("Invalid identifier: {id}"))
        }
        F::Deserialization(D::Utf8(_)) => Error::not_json("Body is not UTF-8"),
        F::Deserialization(other) => Error::invalid_param(other.to_string()),
        _ => Error::bad_json("Malformed request"),
    }
}

/// Maps a JSON body error: unparseable is `M_NOT_JSON`, a missing required field
/// `M_MISSING_PARAM`, any other wrong shape `M_BAD_JSON`.
pub fn from_json_error(e: &serde_json::Error) -> Error {
    let text = e.to_string();
    if e.is_syntax() || e.is_eof() {
        Error::not_json(format!("Content not JSON: {text}"))
    } else if text.starts_with("missing field") {
        Error::missing_param(text)
    } else {
        Error::bad_json(text)
    }
}

/// Parses a JSON body into `T` with the spec's errcodes (for endpoints ruma has no
/// server type for).
pub fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| from_json_error(&e))
}

/// Refuses JSON that the spec's canonical JSON cannot carry (floats such as `1e400`,
/// integers beyond ±2^53, lone surrogates, nesting deeper than serde_json's limit), with
/// `M_BAD_JSON` as `/send` does: stored anyway, it could never be sent back out (it came
/// back as `null` in `/sync`).
pub fn ensure_canonical(raw: &serde_json::value::RawValue) -> Result<()> {
    let value: Value = serde_json::from_str(raw.get())
        .map_err(|e| Error::bad_json(format!("Content is not valid JSON: {e}")))?;
    ruma::canonical_json::to_canonical_value(value)
        .map(|_| ())
        .map_err(|e| Error::bad_json(format!("Content is not canonical JSON: {e}")))
}
