//! Synapse's forward-extremities admin API: list a room's forward extremities, or drop
//! all but the newest when a netsplit left too many.

use actix_web::http::Method;
use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::api::Routes;
use crate::api::admin::synapse::Admin;
use crate::api::admin::synapse::rooms::room;
use crate::api::error::Result;
use crate::app::AppState;
use crate::rooms::extremities;

const PATH: &str = "/_synapse/admin/v1/rooms/{room_id}/forward_extremities";

/// JSON integers above 2^53 lose precision in the JavaScript panels that read this.
const STATE_GROUP_MASK: u64 = (1 << 53) - 1;

pub fn routes(routes: &mut Routes<'_>) {
    routes
        .raw(Method::GET, PATH, list)
        .raw(Method::DELETE, PATH, delete);
}

/// `GET /_synapse/admin/v1/rooms/{room_id_or_alias}/forward_extremities`
async fn list(
    state: web::Data<AppState>,
    _admin: Admin,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    let room = room(&state, &path)?;
    let results: Vec<_> = extremities::list(&state, &room)?
        .into_iter()
        .map(|e| {
            json!({
                "event_id": e.event_id,
                // Citadel's state snapshots are content hashes rather than numbered groups.
                "state_group": e.state_after.map(|h| h & STATE_GROUP_MASK),
                "depth": e.depth,
                // Citadel does not keep a separate arrival time.
                "received_ts": e.origin_server_ts,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "count": results.len(), "results": results })))
}

/// `DELETE /_synapse/admin/v1/rooms/{room_id_or_alias}/forward_extremities`
async fn delete(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    let room = room(&state, &path)?;
    let deleted = extremities::keep_newest(&state, &room).await?;
    super::audited(
        &state,
        &admin,
        "admin.room.forward_extremities.delete",
        Some(room.room_id.as_str()),
    )
    .await?;
    Ok(HttpResponse::Ok().json(json!({ "deleted": deleted })))
}
