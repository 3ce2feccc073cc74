//! Synapse's admin API to redact a user's events in bulk (spam clean-up), as a
//! background task with a status endpoint.

use actix_web::http::Method;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use crate::api::Routes;
use crate::api::admin::synapse::Admin;
use crate::api::error::{Error, Result, parse_json};
use crate::app::AppState;
use crate::rooms::redact_user::RedactParams;
use crate::tasks::REDACT_ALL_EVENTS;

pub fn routes(routes: &mut Routes<'_>) {
    routes
        .raw(
            Method::POST,
            "/_synapse/admin/v1/user/{user_id}/redact",
            redact,
        )
        .raw(
            Method::GET,
            "/_synapse/admin/v1/user/redact_status/{redact_id}",
            status,
        );
}

#[derive(Deserialize)]
struct RedactBody {
    rooms: Vec<String>,
    reason: Option<String>,
    limit: Option<u64>,
    #[serde(default)]
    use_admin: bool,
    after_ts: Option<u64>,
    before_ts: Option<u64>,
}

/// `POST /_synapse/admin/v1/user/{user_id}/redact`: `rooms` empty means every room the
/// user has a membership in.
async fn redact(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    let request: RedactBody = parse_json(&body)?;
    let user = ruma::UserId::parse(path.as_str())
        .map_err(|_| Error::invalid_param(format!("Invalid user ID {:?}", path.as_str())))?;
    if request.limit == Some(0) {
        return Err(Error::invalid_param(
            "If limit is provided it must be a positive integer",
        ));
    }
    for room in &request.rooms {
        ruma::RoomId::parse(room.as_str())
            .map_err(|_| Error::invalid_param(format!("{room} is not a legal room ID")))?;
    }
    let rooms = if request.rooms.is_empty() {
        state
            .storage
            .rooms
            .membership
            .rooms_shared(user.as_str())?
            .iter()
            .map(|r| r.room_id.clone())
            .collect()
    } else {
        request.rooms
    };
    let params = RedactParams {
        user_id: user.to_string(),
        admin: admin.0.user_id.to_string(),
        rooms,
        reason: request.reason,
        limit: request.limit.unwrap_or(1000) as usize,
        use_admin: request.use_admin,
        after_ts: request.after_ts,
        before_ts: request.before_ts,
    };
    let task = crate::tasks::schedule(
        &state,
        REDACT_ALL_EVENTS,
        user.as_str(),
        serde_json::to_value(&params).map_err(Error::internal)?,
    )
    .await?;
    let redact_id = task.id.clone();
    crate::audit::record(
        &state,
        crate::audit::Event::new(
            admin.0.user_id.as_str(),
            "admin.user.redact",
            Some(user.as_str()),
        )
        .details(json!({ "redact_id": redact_id, "rooms": params.rooms.len() })),
    )
    .await?;
    crate::tasks::spawn(state.clone(), task);
    Ok(HttpResponse::Ok().json(json!({ "redact_id": redact_id })))
}

/// `GET /_synapse/admin/v1/user/redact_status/{redact_id}`
async fn status(
    state: web::Data<AppState>,
    _admin: Admin,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    match crate::tasks::get(&state, &path, REDACT_ALL_EVENTS)? {
        Some(task) => {
            let failed = task
                .result
                .as_ref()
                .map(|r| r["failed_redactions"].clone())
                .filter(|f| f.is_object())
                .unwrap_or_else(|| json!({}));
            Ok(HttpResponse::Ok().json(json!({
                "status": task.status.as_str(),
                "failed_redactions": failed,
            })))
        }
        _ => Err(Error::not_found(format!("redact id '{path}' not found"))),
    }
}
