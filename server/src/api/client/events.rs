//! `GET /events`: the legacy event stream (deprecated in r0, still in the spec and
//! still used by older clients and test suites); built in `sync::events`.

use std::time::{Duration, Instant};

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use crate::api::Routes;
use crate::api::client::message::parse_token;
use crate::api::error::{Error, Result};
use crate::api::extract::Authed;
use crate::app::AppState;
use crate::sync::events::{StreamRequest, events_between};
use crate::sync::v3::MAX_TIMEOUT_MS;

/// The wait when the client gives no `timeout` (as Synapse).
const DEFAULT_TIMEOUT_MS: u64 = 30_000;

pub fn routes(routes: &mut Routes<'_>) {
    routes
        .raw(Method::GET, "/_matrix/client/v3/events", events)
        .raw(Method::GET, "/_matrix/client/r0/events", events);
}

#[derive(Deserialize)]
struct EventsQuery {
    from: Option<String>,
    timeout: Option<u64>,
    room_id: Option<String>,
}

/// `GET /_matrix/client/v3/events`
async fn events(
    state: web::Data<AppState>,
    Authed(sender): Authed,
    req: HttpRequest,
) -> Result<HttpResponse> {
    let query = web::Query::<EventsQuery>::from_query(req.query_string())
        .map_err(|e| Error::invalid_param(format!("Invalid query parameters: {e}")))?
        .into_inner();
    if let Some(room_id) = &query.room_id {
        crate::api::extract::room_id_param(room_id)?;
    }
    let mut wake = state.notifier.subscribe(sender.user_id.as_str());
    // Without a token the stream starts now: only what happens from here on.
    let from = match query.from.as_deref() {
        Some(token) => parse_token(token)?,
        None => state.stream.safe_upto(&state.storage)? + 1,
    };
    let request = StreamRequest {
        user_id: sender.user_id.as_str(),
        device_id: sender.device_id.as_str(),
        from,
        room_id: query.room_id.as_deref(),
    };
    let timeout = query
        .timeout
        .unwrap_or(DEFAULT_TIMEOUT_MS)
        .min(MAX_TIMEOUT_MS);
    let deadline = Instant::now() + Duration::from_millis(timeout);
    loop {
        let next = (state.stream.safe_upto(&state.storage)? + 1).max(from);
        let chunk = events_between(&state, &request, next)?;
        let now = Instant::now();
        if !chunk.is_empty() || now >= deadline || state.notifier.is_closing() {
            return Ok(HttpResponse::Ok().json(json!({
                "start": format!("s{from}"),
                "end": format!("s{next}"),
                "chunk": chunk,
            })));
        }
        let _waiting = state.metrics.waiting("events");
        // A wake-up or the deadline: either way, look again.
        let _ = tokio::time::timeout(deadline - now, wake.changed()).await;
    }
}
