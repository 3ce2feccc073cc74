//! Whois: a user's devices with their last seen address and time, at Synapse's admin
//! path (admins only) and the spec's client path (admins, and users about themselves).

use actix_web::http::Method;
use actix_web::{HttpResponse, web};
use serde_json::{Value, json};

use crate::api::Routes;
use crate::api::admin::synapse::users::{existing, local_user};
use crate::api::admin::synapse::{Admin, is_admin};
use crate::api::error::{Error, Result};
use crate::api::extract::Authed;
use crate::app::AppState;

pub fn routes(routes: &mut Routes<'_>) {
    routes.raw(Method::GET, "/_synapse/admin/v1/whois/{user_id}", whois);
    for version in ["v3", "r0"] {
        routes.raw(
            Method::GET,
            &format!("/_matrix/client/{version}/admin/whois/{{user_id}}"),
            client_whois,
        );
    }
}

/// `GET /_synapse/admin/v1/whois/{user_id}`
async fn whois(
    state: web::Data<AppState>,
    _admin: Admin,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    whois_of(&state, &path)
}

/// `GET /_matrix/client/v3/admin/whois/{userId}`: the spec lets a server restrict this
/// to admins and the user being looked up, as Synapse does.
async fn client_whois(
    state: web::Data<AppState>,
    Authed(sender): Authed,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    if sender.user_id.as_str() != path.as_str() && !is_admin(&state, sender.user_id.as_str())? {
        return Err(Error::forbidden("You are not a server admin"));
    }
    whois_of(&state, &path)
}

fn whois_of(state: &AppState, raw_user_id: &str) -> Result<HttpResponse> {
    let user_id = local_user(state, raw_user_id, "whois")?;
    existing(state, &user_id)?;
    let mut devices = serde_json::Map::new();
    for (device_id, device) in state.storage.devices.list(&user_id)? {
        let connections: Vec<Value> = match (&device.last_seen_ip, device.last_seen_ts) {
            (Some(ip), Some(ts)) => vec![json!({ "ip": ip, "last_seen": ts, "user_agent": "" })],
            _ => Vec::new(),
        };
        devices.insert(
            device_id,
            json!({ "sessions": [{ "connections": connections }] }),
        );
    }
    Ok(HttpResponse::Ok().json(json!({ "user_id": user_id, "devices": devices })))
}
