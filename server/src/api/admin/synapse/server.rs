//! Server-wide admin endpoints.

use actix_web::HttpResponse;
use actix_web::http::Method;
use serde_json::json;

use crate::api::Routes;

pub fn routes(routes: &mut Routes<'_>) {
    routes.raw(
        Method::GET,
        "/_synapse/admin/v1/server_version",
        server_version,
    );
}

/// `GET /_synapse/admin/v1/server_version` (public, as in Synapse: panels ask it before
/// anyone logs in).
async fn server_version() -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "server_version": concat!("Citadel ", env!("CARGO_PKG_VERSION")),
    }))
}
