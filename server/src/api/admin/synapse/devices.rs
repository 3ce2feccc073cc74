//! Synapse's device admin API for a user (list, create, show, rename, delete, delete
//! several) and the user's joined rooms.

use actix_web::http::{Method, StatusCode};
use actix_web::{HttpResponse, web};
use citadel_storage::devices::Device;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::Routes;
use crate::api::admin::synapse::Admin;
use crate::api::admin::synapse::users::{existing, local_user};
use crate::api::error::{Error, Result, parse_json};
use crate::app::AppState;

pub fn routes(routes: &mut Routes<'_>) {
    let devices = "/_synapse/admin/v2/users/{user_id}/devices";
    let device = "/_synapse/admin/v2/users/{user_id}/devices/{device_id}";
    routes
        .raw(Method::GET, devices, list)
        .raw(Method::POST, devices, create)
        .raw(Method::GET, device, get)
        .raw(Method::PUT, device, rename)
        .raw(Method::DELETE, device, delete)
        .raw(
            Method::POST,
            "/_synapse/admin/v2/users/{user_id}/delete_devices",
            delete_many,
        )
        .raw(
            Method::GET,
            "/_synapse/admin/v1/users/{user_id}/joined_rooms",
            joined_rooms,
        );
}

fn describe(user_id: &str, device_id: &str, device: &Device) -> Value {
    json!({
        "user_id": user_id,
        "device_id": device_id,
        "display_name": device.display_name,
        "last_seen_ip": device.last_seen_ip,
        "last_seen_ts": device.last_seen_ts,
        "last_seen_user_agent": null,
    })
}

/// The user of the path, who must exist on this server.
fn user(state: &AppState, raw: &str) -> Result<String> {
    let user_id = local_user(state, raw, "look up")?;
    existing(state, &user_id)?;
    Ok(user_id)
}

/// `GET /_synapse/admin/v2/users/{user_id}/devices`
async fn list(
    state: web::Data<AppState>,
    _admin: Admin,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    let user_id = user(&state, &path)?;
    let devices: Vec<Value> = state
        .storage
        .devices
        .list(&user_id)?
        .iter()
        .map(|(id, d)| describe(&user_id, id, d))
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "total": devices.len(), "devices": devices })))
}

#[derive(Deserialize)]
struct NewDevice {
    device_id: String,
}

/// `POST /_synapse/admin/v2/users/{user_id}/devices`: a device without tokens (for
/// bridges and tools that log in with it later).
async fn create(
    state: web::Data<AppState>,
    _admin: Admin,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    let user_id = user(&state, &path)?;
    let new: NewDevice = parse_json(&body)?;
    if new.device_id.is_empty() || new.device_id.len() > 255 {
        return Err(Error::invalid_param("Invalid device ID"));
    }
    if state
        .storage
        .devices
        .get(&user_id, &new.device_id)?
        .is_none()
    {
        let mut batch = state.storage.batch();
        let device = Device {
            display_name: None,
            last_seen_ip: None,
            last_seen_ts: None,
            created_ts: citadel_storage::now_ms(),
        };
        state
            .storage
            .devices
            .put(&mut batch, &user_id, &new.device_id, &device);
        state.storage.commit(batch).await?;
    }
    Ok(HttpResponse::build(StatusCode::CREATED).json(json!({})))
}

fn found(state: &AppState, user_id: &str, device_id: &str) -> Result<Device> {
    state
        .storage
        .devices
        .get(user_id, device_id)?
        .ok_or_else(|| Error::not_found("Device not found"))
}

/// `GET /_synapse/admin/v2/users/{user_id}/devices/{device_id}`
async fn get(
    state: web::Data<AppState>,
    _admin: Admin,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    let (raw_user, device_id) = path.into_inner();
    let user_id = user(&state, &raw_user)?;
    let device = found(&state, &user_id, &device_id)?;
    Ok(HttpResponse::Ok().json(describe(&user_id, &device_id, &device)))
}

#[derive(Deserialize)]
struct Rename {
    display_name: Option<String>,
}

/// `PUT /_synapse/admin/v2/users/{user_id}/devices/{device_id}`
async fn rename(
    state: web::Data<AppState>,
    _admin: Admin,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    let (raw_user, device_id) = path.into_inner();
    let user_id = user(&state, &raw_user)?;
    let change: Rename = parse_json(&body)?;
    if change.display_name.as_ref().is_some_and(|n| n.len() > 100) {
        return Err(Error::too_large(
            "Device display name is longer than 100 characters",
        ));
    }
    let mut device = found(&state, &user_id, &device_id)?;
    device.display_name = change.display_name;
    let mut batch = state.storage.batch();
    state
        .storage
        .devices
        .put(&mut batch, &user_id, &device_id, &device);
    state.storage.commit(batch).await?;
    Ok(HttpResponse::Ok().json(json!({})))
}

/// `DELETE /_synapse/admin/v2/users/{user_id}/devices/{device_id}` (an unknown device
/// is already gone: 200, as in Synapse).
async fn delete(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    let (raw_user, device_id) = path.into_inner();
    let user_id = user(&state, &raw_user)?;
    remove(&state, &user_id, std::slice::from_ref(&device_id)).await?;
    let target = format!("{user_id}/{device_id}");
    super::audited(&state, &admin, "admin.device.delete", Some(&target)).await?;
    Ok(HttpResponse::Ok().json(json!({})))
}

#[derive(Deserialize)]
struct DeleteMany {
    devices: Vec<String>,
}

/// `POST /_synapse/admin/v2/users/{user_id}/delete_devices`
async fn delete_many(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    let user_id = user(&state, &path)?;
    let request: DeleteMany = parse_json(&body)?;
    remove(&state, &user_id, &request.devices).await?;
    super::audited(&state, &admin, "admin.device.delete_many", Some(&user_id)).await?;
    Ok(HttpResponse::Ok().json(json!({})))
}

async fn remove(state: &AppState, user_id: &str, devices: &[String]) -> Result<()> {
    let mut batch = state.storage.batch();
    for device_id in devices {
        if state.storage.devices.get(user_id, device_id)?.is_some() {
            crate::auth::session::remove_device(state, &mut batch, user_id, device_id)?;
        }
    }
    crate::auth::session::commit_device_removal(state, batch, user_id).await
}

/// `GET /_synapse/admin/v1/users/{user_id}/joined_rooms`
async fn joined_rooms(
    state: web::Data<AppState>,
    _admin: Admin,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    let user_id = user(&state, &path)?;
    let rooms: Vec<String> = state
        .storage
        .rooms
        .membership
        .rooms(&user_id)?
        .into_iter()
        .filter(|(_, r)| r.membership == "join")
        .map(|(room, _)| room)
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "total": rooms.len(), "joined_rooms": rooms })))
}
