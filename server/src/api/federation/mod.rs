//! The server-server API: server keys, version, profile queries and media so far; the
//! room protocol (transactions, joins, backfill) comes next.

use actix_web::http::Method;
use actix_web::{HttpResponse, web};
use serde_json::json;

pub mod auth;
pub mod media;
pub mod query;

use crate::api::Routes;
use crate::api::error::{Error, Result};
use crate::app::AppState;

pub fn register(routes: &mut Routes<'_>) {
    routes
        .raw(Method::GET, "/_matrix/key/v2/server", server_keys)
        .raw(Method::GET, "/_matrix/key/v2/server/{key_id}", server_keys)
        .raw(Method::GET, "/_matrix/federation/v1/version", version)
        .raw(
            Method::GET,
            "/_matrix/federation/v1/query/profile",
            query::profile,
        )
        .raw(
            Method::GET,
            "/_matrix/federation/v1/media/download/{media_id}",
            media::download,
        )
        .raw(
            Method::GET,
            "/_matrix/federation/v1/media/thumbnail/{media_id}",
            media::thumbnail,
        );
}

/// `GET /_matrix/key/v2/server`: the server's signed key document.
async fn server_keys(state: web::Data<AppState>) -> Result<HttpResponse> {
    let document =
        citadel_federation::server_keys::own_keys(&state.signing_key, citadel_storage::now_ms())
            .map_err(Error::internal)?;
    Ok(HttpResponse::Ok().json(document))
}

/// `GET /_matrix/federation/v1/version`
async fn version() -> HttpResponse {
    HttpResponse::Ok()
        .json(json!({ "server": { "name": "Citadel", "version": env!("CARGO_PKG_VERSION") } }))
}
