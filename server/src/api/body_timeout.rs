//! Request bodies that arrive too slowly are cut off (a slowloris: `Content-Length: 1000`
//! and one byte, holding a connection and a worker's attention for minutes before any
//! authentication). A body must keep coming — no gap longer than [`IDLE`] — and be
//! complete within [`TOTAL`] ([`UPLOAD_TOTAL`] for media uploads, which may be large
//! on a slow link); otherwise reading it fails and the request is answered with an error.
//! And only so many requests with a body but no credentials may be in progress at once
//! (`http.max_unauthenticated_requests`): with the deadlines, that bounds what slow
//! anonymous clients can hold.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::HttpMessage;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::web::Bytes;
use futures_util::Stream;
use tokio::time::{Instant, Sleep, sleep_until};

pub const IDLE: Duration = Duration::from_secs(10);
pub const TOTAL: Duration = Duration::from_secs(60);
pub const UPLOAD_TOTAL: Duration = Duration::from_secs(600);

struct Deadlined {
    inner: Payload,
    idle: Pin<Box<Sleep>>,
    total: Pin<Box<Sleep>>,
}

impl Stream for Deadlined {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                let next = Instant::now() + IDLE;
                self.idle.as_mut().reset(next);
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(other) => Poll::Ready(other),
            Poll::Pending => {
                let timed_out = self.idle.as_mut().poll(cx).is_ready()
                    || self.total.as_mut().poll(cx).is_ready();
                if timed_out {
                    Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the request body arrived too slowly",
                    )))))
                } else {
                    Poll::Pending
                }
            }
        }
    }
}

fn is_upload(path: &str) -> bool {
    path.starts_with("/_matrix/media/") && path.contains("/upload")
        || path.starts_with("/_matrix/client/v1/media/upload")
}

/// A body is coming, and nothing says who sends it (no `Authorization` header, whether
/// a client's token or a server's X-Matrix, and no `access_token` parameter).
fn is_anonymous_with_body(req: &ServiceRequest) -> bool {
    let headers = req.headers();
    let has_body = headers.contains_key("transfer-encoding")
        || headers
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0");
    has_body
        && !headers.contains_key("authorization")
        && !req.query_string().contains("access_token=")
}

/// Middleware: puts the deadlines on every request's body, and the cap on anonymous ones.
pub async fn limit(
    mut req: ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let permits = req
        .app_data::<actix_web::web::Data<crate::app::AppState>>()
        .map(|state| Arc::clone(&state.unauthenticated));
    let _permit = match permits {
        Some(permits) if is_anonymous_with_body(&req) => match permits.try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) => {
                let error = crate::api::error::Error::new(
                    actix_web::http::StatusCode::TOO_MANY_REQUESTS,
                    "M_LIMIT_EXCEEDED",
                    "Too many unauthenticated requests in progress; try again shortly",
                )
                .with("retry_after_ms", 1000);
                let response = actix_web::ResponseError::error_response(&error);
                return Ok(req.into_response(response));
            }
        },
        _ => None,
    };
    let total = if is_upload(req.path()) {
        UPLOAD_TOTAL
    } else {
        TOTAL
    };
    let now = Instant::now();
    let payload = Deadlined {
        inner: req.take_payload(),
        idle: Box::pin(sleep_until(now + IDLE)),
        total: Box::pin(sleep_until(now + total)),
    };
    req.set_payload(Payload::from(
        Box::pin(payload) as Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>>
    ));
    // The permit is held until the handler has answered.
    Ok(next.call(req).await?.map_into_boxed_body())
}
