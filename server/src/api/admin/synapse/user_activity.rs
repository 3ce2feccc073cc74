//! Synapse's admin API on what a user does in rooms: their memberships, and how many
//! invites they sent and rooms they joined since a moment (spam-account signals).

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value, json};

use crate::api::Routes;
use crate::api::admin::synapse::Admin;
use crate::api::admin::synapse::users::{existing, local_user, query};
use crate::api::error::{Error, Result};
use crate::app::AppState;

pub fn routes(routes: &mut Routes<'_>) {
    routes
        .raw(
            Method::GET,
            "/_synapse/admin/v1/users/{user_id}/memberships",
            memberships,
        )
        .raw(
            Method::GET,
            "/_synapse/admin/v1/users/{user_id}/sent_invite_count",
            sent_invite_count,
        )
        .raw(
            Method::GET,
            "/_synapse/admin/v1/users/{user_id}/cumulative_joined_room_count",
            cumulative_joined_room_count,
        );
}

/// `GET /_synapse/admin/v1/users/{user_id}/memberships`: every room the user has a
/// membership in, with that membership.
async fn memberships(
    state: web::Data<AppState>,
    _admin: Admin,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    let user_id = local_user(&state, &path, "list the memberships of")?;
    existing(&state, &user_id)?;
    let rooms = state.storage.rooms.membership.rooms_shared(&user_id)?;
    let memberships: Map<String, Value> = rooms
        .iter()
        .map(|room| (room.room_id.clone(), json!(room.record.membership)))
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "memberships": memberships })))
}

/// The required `from_ts` query parameter.
fn from_ts(req: &HttpRequest) -> Result<u64> {
    let query = query(req);
    let text = query
        .get("from_ts")
        .ok_or_else(|| Error::missing_param("Missing integer query parameter 'from_ts'"))?;
    text.parse()
        .map_err(|_| Error::invalid_param("Query parameter 'from_ts' must be an integer"))
}

/// `GET /_synapse/admin/v1/users/{user_id}/sent_invite_count?from_ts=`
async fn sent_invite_count(
    state: web::Data<AppState>,
    _admin: Admin,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse> {
    let user_id = local_user(&state, &path, "count the invites of")?;
    let from_ts = from_ts(&req)?;
    existing(&state, &user_id)?;
    let count = crate::rooms::activity::invites_sent_since(&state, &user_id, from_ts)?;
    Ok(HttpResponse::Ok().json(json!({ "invite_count": count })))
}

/// `GET /_synapse/admin/v1/users/{user_id}/cumulative_joined_room_count?from_ts=`
async fn cumulative_joined_room_count(
    state: web::Data<AppState>,
    _admin: Admin,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse> {
    let user_id = local_user(&state, &path, "count the joins of")?;
    let from_ts = from_ts(&req)?;
    existing(&state, &user_id)?;
    let count = crate::rooms::activity::rooms_joined_since(&state, &user_id, from_ts)?;
    Ok(HttpResponse::Ok().json(json!({ "cumulative_joined_room_count": count })))
}
