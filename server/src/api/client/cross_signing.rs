//! Cross-signing: `/keys/device_signing/upload` and `/keys/signatures/upload`. Every
//! signature is verified before it is stored.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use ruma::api::client::uiaa::AuthData;
use serde_json::{Map, Value, json};

use crate::api::client::keys::json_body;
use crate::api::error::{Error, Result};
use crate::api::extract::Authed;
use crate::app::AppState;
use crate::auth::uiaa::{self, Requirement};
use crate::e2ee::keys::verify_signature;

fn invalid_signature(message: impl Into<String>) -> Error {
    Error::new(StatusCode::BAD_REQUEST, "M_INVALID_SIGNATURE", message)
}

/// The single ed25519 key of a cross-signing key: `(key id, public key)`.
fn ed25519_key(key: &Value) -> Option<(String, String)> {
    let keys = key["keys"].as_object()?;
    if keys.len() != 1 {
        return None;
    }
    let (id, public) = keys.iter().next()?;
    id.starts_with("ed25519:")
        .then(|| (id.clone(), public.as_str().unwrap_or_default().to_owned()))
}

fn stored(state: &AppState, user: &str, kind: &str) -> Result<Option<Value>> {
    Ok(state
        .storage
        .e2ee_keys
        .cross_signing_key(user, kind)?
        .and_then(|raw| serde_json::from_str(raw.get()).ok()))
}

/// `POST /_matrix/client/v3/keys/device_signing/upload`: the first upload needs no
/// re-authentication; replacing existing keys needs the password.
pub async fn upload_signing_keys(
    state: web::Data<AppState>,
    Authed(sender): Authed,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse> {
    let body = json_body(&state, &req, payload).await?;
    let user = sender.user_id.as_str();
    if stored(&state, user, "master")?.is_some() {
        let auth: Option<AuthData> = match body.get("auth") {
            Some(auth) => Some(
                serde_json::from_value(auth.clone()).map_err(|e| Error::bad_json(e.to_string()))?,
            ),
            None => None,
        };
        let need = Requirement {
            operation: "cross_signing",
            target: String::new(),
            user_id: Some(user),
            flows: vec![vec![uiaa::PASSWORD]],
            remember: None,
        };
        uiaa::authorize(&state, &need, auth.as_ref()).await?;
    }

    let master = match body.get("master_key") {
        Some(key) => Some(check_key(key, user, "master")?),
        None => None,
    };
    let master_for_signing = match &master {
        Some(key) => Some(key.clone()),
        None => stored(&state, user, "master")?,
    };
    let mut batch = state.storage.batch();
    for (field, kind) in [
        ("self_signing_key", "self_signing"),
        ("user_signing_key", "user_signing"),
    ] {
        let Some(key) = body.get(field) else { continue };
        let key = check_key(key, user, kind)?;
        let master = master_for_signing
            .as_ref()
            .ok_or_else(|| invalid_signature("Upload a master key first"))?;
        let (master_id, master_public) =
            ed25519_key(master).ok_or_else(|| invalid_signature("Bad master key"))?;
        if !verify_signature(&key, user, &master_id, &master_public) {
            return Err(invalid_signature(format!(
                "The {kind} key is not signed by the master key"
            )));
        }
        let raw =
            serde_json::value::RawValue::from_string(key.to_string()).map_err(Error::internal)?;
        state
            .storage
            .e2ee_keys
            .set_cross_signing_key(&mut batch, user, kind, &raw);
    }
    if let Some(master) = &master {
        let raw = serde_json::value::RawValue::from_string(master.to_string())
            .map_err(Error::internal)?;
        state
            .storage
            .e2ee_keys
            .set_cross_signing_key(&mut batch, user, "master", &raw);
    }
    let reserved = state.stream.reserve(&state.storage)?;
    state
        .storage
        .e2ee_keys
        .mark_changed(&mut batch, user, reserved.position)?;
    state.storage.commit(batch).await?;
    let position = reserved.position;
    drop(reserved);
    crate::e2ee::device_lists::notify_interested(&state, user, position)?;
    crate::e2ee::device_lists::announce_signing_keys(&state, user)?;
    crate::audit::user_action(&state, user, "cross_signing_upload", Some(user)).await;
    Ok(HttpResponse::Ok().json(json!({})))
}

/// A cross-signing key must belong to the uploader, have the right usage and exactly one
/// ed25519 key.
fn check_key(key: &Value, user: &str, usage: &str) -> Result<Value> {
    if key["user_id"] != user {
        return Err(Error::invalid_param(
            "Cross-signing keys must belong to the uploading user",
        ));
    }
    if !key["usage"]
        .as_array()
        .is_some_and(|u| u.iter().any(|x| x == usage))
    {
        return Err(Error::invalid_param(format!(
            "The key's usage must include {usage}"
        )));
    }
    if ed25519_key(key).is_none() {
        return Err(Error::invalid_param(
            "A cross-signing key has exactly one ed25519 key",
        ));
    }
    Ok(key.clone())
}

/// `POST /_matrix/client/v3/keys/signatures/upload`: the user's self-signing key signs
/// their devices, their devices sign their master key, and their user-signing key signs
/// other users' master keys. Each signature is verified; failures are reported per key.
pub async fn upload_signatures(
    state: web::Data<AppState>,
    Authed(sender): Authed,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse> {
    let body = json_body(&state, &req, payload).await?;
    let me = sender.user_id.as_str();
    let mut failures: Map<String, Value> = Map::new();
    let mut batch = state.storage.batch();
    let mut touched = Vec::new();
    for (target_user, keys) in &body {
        let Some(keys) = keys.as_object() else {
            continue;
        };
        for (key_id, signed) in keys {
            match check_signature(&state, me, target_user, key_id, signed) {
                Ok((signer_key_id, signature)) => {
                    state.storage.e2ee_keys.add_signature(
                        &mut batch,
                        target_user,
                        key_id,
                        me,
                        &signer_key_id,
                        &signature,
                    );
                    touched.push(target_user.clone());
                }
                Err(Error::Matrix {
                    errcode, message, ..
                }) => {
                    failures
                        .entry(target_user.clone())
                        .or_insert_with(|| json!({}))[key_id] =
                        json!({ "errcode": errcode, "error": message });
                }
                Err(other) => return Err(other),
            }
        }
    }
    let reserved = state.stream.reserve(&state.storage)?;
    touched.sort();
    touched.dedup();
    for user in &touched {
        state
            .storage
            .e2ee_keys
            .mark_changed(&mut batch, user, reserved.position)?;
    }
    state.storage.commit(batch).await?;
    let position = reserved.position;
    drop(reserved);
    for user in &touched {
        crate::e2ee::device_lists::notify_interested(&state, user, position)?;
    }
    Ok(HttpResponse::Ok().json(json!({ "failures": failures })))
}

/// Verifies one uploaded signature; returns `(signer key id, signature)`.
fn check_signature(
    state: &AppState,
    me: &str,
    target_user: &str,
    key_id: &str,
    signed: &Value,
) -> Result<(String, String)> {
    let not_found = || Error::not_found(format!("Unknown key {key_id}"));
    // The signing key allowed for this target, and the object that must be signed.
    let (signer_key, object) = if target_user == me {
        if let Some(device_keys) = state.storage.e2ee_keys.device_keys(me, key_id)? {
            // One of my devices, signed by my self-signing key.
            let ssk = stored(state, me, "self_signing")?
                .ok_or_else(|| invalid_signature("No self-signing key"))?;
            let stored_device: Value =
                serde_json::from_str(device_keys.get()).map_err(Error::internal)?;
            (
                ed25519_key(&ssk).ok_or_else(|| invalid_signature("Bad self-signing key"))?,
                stored_device,
            )
        } else {
            // My master key, signed by one of my devices.
            let master = stored(state, me, "master")?.ok_or_else(not_found)?;
            let (_, master_public) = ed25519_key(&master).ok_or_else(not_found)?;
            if master_public != key_id {
                return Err(not_found());
            }
            let signer_id = signed["signatures"][me]
                .as_object()
                .and_then(|s| s.keys().find(|k| k.starts_with("ed25519:")).cloned())
                .ok_or_else(|| invalid_signature("No signature from the uploader"))?;
            let device = signer_id.trim_start_matches("ed25519:");
            let device_keys = state
                .storage
                .e2ee_keys
                .device_keys(me, device)?
                .ok_or_else(|| invalid_signature("Unknown signing device"))?;
            let device_keys: Value =
                serde_json::from_str(device_keys.get()).map_err(Error::internal)?;
            let public = device_keys["keys"][&signer_id]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            ((signer_id, public), master)
        }
    } else {
        // Another user's master key, signed by my user-signing key.
        let usk = stored(state, me, "user_signing")?
            .ok_or_else(|| invalid_signature("No user-signing key"))?;
        let master = stored(state, target_user, "master")?.ok_or_else(not_found)?;
        let (_, master_public) = ed25519_key(&master).ok_or_else(not_found)?;
        if master_public != key_id {
            return Err(not_found());
        }
        (
            ed25519_key(&usk).ok_or_else(|| invalid_signature("Bad user-signing key"))?,
            master,
        )
    };
    let (signer_key_id, signer_public) = signer_key;
    // The uploaded object must be the stored key (apart from signatures and unsigned).
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(o) = v.as_object_mut() {
            o.remove("signatures");
            o.remove("unsigned");
        }
        v
    };
    if strip(signed) != strip(&object) {
        return Err(invalid_signature(
            "The signed object differs from the stored key",
        ));
    }
    if !verify_signature(signed, me, &signer_key_id, &signer_public) {
        return Err(invalid_signature("Invalid signature"));
    }
    let signature = signed["signatures"][me][&signer_key_id]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    Ok((signer_key_id, signature))
}
