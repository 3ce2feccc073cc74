//! End-to-end encryption keys of this server's users, for other servers:
//! `/user/keys/query`, `/user/keys/claim` and `/user/devices/{userId}`.

use actix_web::{HttpResponse, web};
use serde_json::{Map, Value, json};

use crate::api::error::{Error, Result, parse_json};
use crate::api::federation::auth::FederationRequest;
use crate::app::AppState;

/// The part of a `{user_id: …}` map about this server's users.
fn local_only(state: &AppState, map: Option<&Value>) -> Result<Map<String, Value>> {
    let map = map
        .and_then(Value::as_object)
        .ok_or_else(|| Error::bad_json("Expected an object of users"))?;
    Ok(map
        .iter()
        .filter(|(user, _)| {
            ruma::UserId::parse(user.as_str())
                .is_ok_and(|u| u.server_name().as_str() == state.server_name())
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect())
}

/// `POST /_matrix/federation/v1/user/keys/query`
pub async fn query(state: web::Data<AppState>, from: FederationRequest) -> Result<HttpResponse> {
    let body: Value = parse_json(&from.body)?;
    let requested = local_only(&state, body.get("device_keys"))?;
    // Another server gets no user-signing keys (the requester is nobody of ours).
    let mut answer = crate::e2ee::keys::query(&state, "", &requested)?;
    if let Some(object) = answer.as_object_mut() {
        object.remove("user_signing_keys");
        object.remove("failures");
    }
    Ok(HttpResponse::Ok().json(answer))
}

/// `POST /_matrix/federation/v1/user/keys/claim`
pub async fn claim(state: web::Data<AppState>, from: FederationRequest) -> Result<HttpResponse> {
    let body: Value = parse_json(&from.body)?;
    let requested = local_only(&state, body.get("one_time_keys"))?;
    let mut answer = crate::e2ee::keys::claim(&state, &requested)?;
    if let Some(object) = answer.as_object_mut() {
        object.remove("failures");
    }
    Ok(HttpResponse::Ok().json(answer))
}

/// `GET /_matrix/federation/v1/user/devices/{userId}`
pub async fn devices(
    state: web::Data<AppState>,
    _from: FederationRequest,
    user_id: web::Path<String>,
) -> Result<HttpResponse> {
    let user =
        ruma::UserId::parse(user_id.as_str()).map_err(|_| Error::invalid_param("Bad user ID"))?;
    if user.server_name().as_str() != state.server_name() {
        return Err(Error::invalid_param("Not a user of this server"));
    }
    let mut requested = Map::new();
    requested.insert(user.to_string(), json!([]));
    let keys = crate::e2ee::keys::query(&state, "", &requested)?;
    let mut devices = Vec::new();
    for (device_id, record) in state.storage.devices.list(user.as_str())? {
        let mut device = json!({ "device_id": device_id });
        if let Some(device_keys) = keys["device_keys"][user.as_str()].get(&device_id) {
            device["keys"] = device_keys.clone();
        }
        if let Some(name) = record.display_name {
            device["device_display_name"] = json!(name);
        }
        devices.push(device);
    }
    let mut answer = json!({
        "user_id": user,
        "stream_id": state.storage.e2ee_keys.last_change(user.as_str())?.unwrap_or(0),
        "devices": devices,
    });
    for (field, from) in [
        ("master_key", "master_keys"),
        ("self_signing_key", "self_signing_keys"),
    ] {
        if let Some(key) = keys[from].get(user.as_str()) {
            answer[field] = key.clone();
        }
    }
    Ok(HttpResponse::Ok().json(answer))
}
