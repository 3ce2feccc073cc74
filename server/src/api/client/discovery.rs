//! Server discovery and capabilities: `/versions`, `/.well-known/matrix/*`,
//! `/capabilities`.

use actix_web::http::Method;
use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::api::Routes;
use crate::api::extract::Authed;
use crate::app::AppState;

/// Spec versions this server implements, oldest first.
pub const SPEC_VERSIONS: &[&str] = &[
    "r0.0.1", "r0.1.0", "r0.2.0", "r0.3.0", "r0.4.0", "r0.5.0", "r0.6.0", "r0.6.1", "v1.1", "v1.2",
    "v1.3", "v1.4", "v1.5", "v1.6", "v1.7", "v1.8", "v1.9", "v1.10", "v1.11", "v1.12", "v1.13",
    "v1.14", "v1.15", "v1.16", "v1.17", "v1.18", "v1.19",
];

/// Room versions this server can create and join (every stable version); the default is
/// the spec's recommended one.
pub const ROOM_VERSIONS: &[&str] = &[
    "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12",
];
pub use crate::rooms::create::DEFAULT_ROOM_VERSION;

pub fn routes(routes: &mut Routes<'_>) {
    routes
        .raw(Method::GET, "/_matrix/client/versions", versions)
        .raw(Method::GET, "/.well-known/matrix/client", well_known_client)
        .raw(Method::GET, "/.well-known/matrix/server", well_known_server)
        .raw(
            Method::GET,
            "/_matrix/client/v3/capabilities",
            get_capabilities,
        )
        .raw(
            Method::GET,
            "/_matrix/client/r0/capabilities",
            get_capabilities,
        );
}

/// `GET /_matrix/client/versions`
async fn versions() -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "versions": SPEC_VERSIONS,
        "unstable_features": { "org.matrix.simplified_msc3575": true },
    }))
}

/// `GET /.well-known/matrix/client`
async fn well_known_client(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "m.homeserver": { "base_url": state.config.client_base_url() },
    }))
}

/// `GET /.well-known/matrix/server`: where other servers reach our federation API.
/// Not found when there is nothing to delegate to.
async fn well_known_server(state: web::Data<AppState>) -> HttpResponse {
    let delegated = match (&state.config.well_known.server, &state.config.tls) {
        (Some(server), _) => Some(server.clone()),
        (None, Some(_)) => Some(format!("{}:443", state.config.server_name)),
        (None, None) => None,
    };
    match delegated {
        Some(server) => HttpResponse::Ok().json(json!({ "m.server": server })),
        None => actix_web::ResponseError::error_response(&crate::api::error::Error::not_found(
            "No federation delegation is configured",
        )),
    }
}

/// `GET /_matrix/client/v3/capabilities`
///
/// Built as JSON rather than through ruma's type, which leaves out capabilities that
/// are at their default; clients (and the spec's examples) expect them spelled out.
async fn get_capabilities(_sender: Authed) -> HttpResponse {
    let available: serde_json::Map<String, serde_json::Value> = ROOM_VERSIONS
        .iter()
        .map(|v| ((*v).to_owned(), json!("stable")))
        .collect();
    let capabilities = json!({
        "m.change_password": { "enabled": true },
        "m.room_versions": { "default": DEFAULT_ROOM_VERSION, "available": available },
        "m.set_displayname": { "enabled": true },
        "m.set_avatar_url": { "enabled": true },
        "m.3pid_changes": { "enabled": false },
        "m.get_login_token": { "enabled": true },
        "m.profile_fields": { "enabled": true },
    });
    HttpResponse::Ok().json(json!({ "capabilities": capabilities }))
}
