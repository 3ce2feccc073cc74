//! Device management: `/devices`, `/devices/{deviceId}`, `/delete_devices`.

use actix_web::web;
use citadel_storage::devices::Device as StoredDevice;
use ruma::api::client::device::{
    self, delete_device, delete_devices, get_device, get_devices, update_device,
};
use ruma::{MilliSecondsSinceUnixEpoch, OwnedDeviceId, UInt};

use crate::api::Routes;
use crate::api::error::{Error, Result};
use crate::api::extract::Ruma;
use crate::app::AppState;
use crate::auth::session;
use crate::auth::uiaa::{self, Requirement};

pub fn routes(routes: &mut Routes<'_>) {
    routes
        .ruma(get_devices)
        .ruma(get_device)
        .ruma(update_device)
        .ruma(delete_device)
        .ruma(delete_devices);
}

/// Longest device display name accepted (Synapse's limit).
const MAX_DISPLAY_NAME_LEN: usize = 100;

fn to_api(device_id: &str, stored: StoredDevice) -> device::Device {
    let mut out = device::Device::new(OwnedDeviceId::from(device_id));
    out.display_name = stored.display_name;
    out.last_seen_ip = stored.last_seen_ip;
    out.last_seen_ts = stored
        .last_seen_ts
        .and_then(UInt::new)
        .map(MilliSecondsSinceUnixEpoch);
    out
}

fn no_such_device() -> Error {
    Error::not_found("Device not found")
}

/// `GET /_matrix/client/v3/devices`
async fn get_devices(
    state: web::Data<AppState>,
    req: Ruma<get_devices::v3::Request>,
) -> Result<get_devices::v3::Response> {
    let user_id = req.sender()?.user_id.as_str();
    let devices = state
        .storage
        .devices
        .list(user_id)?
        .into_iter()
        .map(|(id, d)| to_api(&id, d))
        .collect();
    Ok(get_devices::v3::Response::new(devices))
}

/// `GET /_matrix/client/v3/devices/{deviceId}`
async fn get_device(
    state: web::Data<AppState>,
    req: Ruma<get_device::v3::Request>,
) -> Result<get_device::v3::Response> {
    let user_id = req.sender()?.user_id.as_str();
    let device_id = req.body.device_id.as_str();
    let stored = state
        .storage
        .devices
        .get(user_id, device_id)?
        .ok_or_else(no_such_device)?;
    Ok(get_device::v3::Response::new(to_api(device_id, stored)))
}

/// `PUT /_matrix/client/v3/devices/{deviceId}`: renames a device.
async fn update_device(
    state: web::Data<AppState>,
    req: Ruma<update_device::v3::Request>,
) -> Result<update_device::v3::Response> {
    let user_id = req.sender()?.user_id.as_str();
    let device_id = req.body.device_id.as_str();
    let mut stored = state
        .storage
        .devices
        .get(user_id, device_id)?
        .ok_or_else(no_such_device)?;
    if let Some(name) = &req.body.display_name {
        if name.chars().count() > MAX_DISPLAY_NAME_LEN {
            return Err(Error::invalid_param(format!(
                "Device display name is longer than {MAX_DISPLAY_NAME_LEN} characters"
            )));
        }
        stored.display_name = Some(name.clone());
        let mut batch = state.storage.batch();
        state
            .storage
            .devices
            .put(&mut batch, user_id, device_id, &stored);
        state.storage.commit(batch).await?;
    }
    Ok(update_device::v3::Response::new())
}

/// `DELETE /_matrix/client/v3/devices/{deviceId}` (user-interactive auth)
async fn delete_device(
    state: web::Data<AppState>,
    req: Ruma<delete_device::v3::Request>,
) -> Result<delete_device::v3::Response> {
    let user_id = req.sender()?.user_id.as_str();
    let device_id = req.body.device_id.as_str();
    if state.storage.devices.get(user_id, device_id)?.is_none() {
        return Err(no_such_device());
    }
    let need = Requirement {
        operation: "delete_devices",
        target: serde_json::json!([device_id]).to_string(),
        user_id: Some(user_id),
        flows: vec![vec![uiaa::PASSWORD]],
        remember: None,
    };
    uiaa::authorize(&state, &need, req.body.auth.as_ref()).await?;
    let mut batch = state.storage.batch();
    session::remove_device(&state, &mut batch, user_id, device_id)?;
    session::commit_device_removal(&state, batch, user_id).await?;
    crate::audit::user_action(&state, user_id, "device_delete", Some(device_id)).await;
    Ok(delete_device::v3::Response::new())
}

/// `POST /_matrix/client/v3/delete_devices` (user-interactive auth). Unknown device IDs
/// are skipped, as the spec allows.
async fn delete_devices(
    state: web::Data<AppState>,
    req: Ruma<delete_devices::v3::Request>,
) -> Result<delete_devices::v3::Response> {
    let user_id = req.sender()?.user_id.as_str();
    // The same set of devices, in whatever order the client lists them.
    let mut devices: Vec<&str> = req.body.devices.iter().map(|d| d.as_str()).collect();
    devices.sort_unstable();
    devices.dedup();
    let need = Requirement {
        operation: "delete_devices",
        target: serde_json::json!(devices).to_string(),
        user_id: Some(user_id),
        flows: vec![vec![uiaa::PASSWORD]],
        remember: None,
    };
    uiaa::authorize(&state, &need, req.body.auth.as_ref()).await?;
    let mut batch = state.storage.batch();
    for device_id in &req.body.devices {
        session::remove_device(&state, &mut batch, user_id, device_id.as_str())?;
    }
    session::commit_device_removal(&state, batch, user_id).await?;
    crate::audit::user_action(&state, user_id, "devices_delete", Some(user_id)).await;
    Ok(delete_devices::v3::Response::new())
}
