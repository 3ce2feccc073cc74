//! Server-wide admin endpoints: the version, and which rooms take the most space.

use actix_web::http::Method;
use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::api::Routes;
use crate::api::admin::synapse::Admin;
use crate::api::error::Result;
use crate::app::AppState;

pub fn routes(routes: &mut Routes<'_>) {
    routes
        .raw(
            Method::GET,
            "/_synapse/admin/v1/server_version",
            server_version,
        )
        .raw(
            Method::GET,
            "/_synapse/admin/v1/statistics/database/rooms",
            largest_rooms,
        );
}

/// `GET /_synapse/admin/v1/server_version` (public, as in Synapse: panels ask it before
/// anyone logs in).
async fn server_version() -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "server_version": concat!("Citadel ", env!("CARGO_PKG_VERSION")),
    }))
}

/// How many rooms the statistics list, as in Synapse.
const LARGEST: usize = 10;

/// `GET /_synapse/admin/v1/statistics/database/rooms`: the ten rooms whose events take
/// the most space, largest first, with their size in bytes.
async fn largest_rooms(state: web::Data<AppState>, _admin: Admin) -> Result<HttpResponse> {
    let storage = state.storage.clone();
    let sizes = web::block(move || -> citadel_storage::Result<Vec<(String, u64)>> {
        let mut sizes = Vec::new();
        for (room_id, meta) in storage.rooms.all()? {
            sizes.push((room_id, storage.rooms.timeline.room_bytes(meta.short_id)?));
        }
        Ok(sizes)
    })
    .await
    .map_err(crate::api::error::Error::internal)??;
    let mut sizes = sizes;
    sizes.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    sizes.truncate(LARGEST);
    let rooms: Vec<_> = sizes
        .into_iter()
        .map(|(room_id, size)| json!({ "room_id": room_id, "estimated_size": size }))
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "rooms": rooms })))
}
