//! Device keys, one-time and fallback keys: validating uploads and answering queries and
//! claims.

use std::collections::BTreeMap;

use citadel_storage::e2ee_keys::FallbackKey;
use ruma::canonical_json::CanonicalJsonObject;
use ruma::serde::Base64;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use crate::api::error::{Error, Result};
use crate::app::AppState;
use crate::auth::session::Sender;

fn raw(value: &Value) -> Result<Box<RawValue>> {
    RawValue::from_string(value.to_string()).map_err(Error::internal)
}

/// Checks that `object` carries a valid signature by `signer` with the ed25519 key
/// `key_id` = `public_key` (unpadded base64), using ruma's canonical-JSON verification.
pub fn verify_signature(object: &Value, signer: &str, key_id: &str, public_key: &str) -> bool {
    let Ok(canonical) = serde_json::from_value::<CanonicalJsonObject>(object.clone()) else {
        return false;
    };
    let Ok(key) = Base64::parse(public_key) else {
        return false;
    };
    let mut keys = BTreeMap::new();
    keys.insert(key_id.to_owned(), key);
    let mut map = BTreeMap::new();
    map.insert(signer.to_owned(), keys);
    // Only the named signer's signature counts: verify against a copy carrying just it.
    let mut only = canonical;
    if let Some(ruma::CanonicalJsonValue::Object(signatures)) = only.get_mut("signatures") {
        signatures.retain(|k, _| k == signer);
        if let Some(ruma::CanonicalJsonValue::Object(by_signer)) = signatures.get_mut(signer) {
            by_signer.retain(|k, _| k == key_id);
        }
    }
    ruma::signatures::verify_json(&map, &only).is_ok()
}

/// Validates and stores an upload: device keys (self-signed by the device, naming the
/// uploading user and device), one-time keys and fallback keys. Returns whether the
/// device keys changed, and the one-time key counts afterwards.
pub async fn upload(
    state: &AppState,
    sender: &Sender,
    body: &Value,
) -> Result<(bool, Map<String, Value>)> {
    let user = sender.user_id.as_str();
    let device = sender.device_id.as_str();
    let mut batch = state.storage.batch();
    let mut changed = false;

    if let Some(device_keys) = body.get("device_keys").filter(|v| !v.is_null()) {
        if device_keys["user_id"] != user || device_keys["device_id"] != device {
            return Err(Error::invalid_param(
                "device_keys must name the uploading user and device",
            ));
        }
        let key_id = format!("ed25519:{device}");
        let public = device_keys["keys"][&key_id].as_str();
        let strict = state.config.e2ee.strict_key_uploads;
        if strict && public.is_none() {
            return Err(Error::invalid_param(format!(
                "device_keys.keys lacks {key_id}"
            )));
        }
        if strict
            && !public.is_some_and(|public| verify_signature(device_keys, user, &key_id, public))
        {
            return Err(Error::new(
                actix_web::http::StatusCode::BAD_REQUEST,
                "M_INVALID_SIGNATURE",
                "device_keys are not signed by the device's own ed25519 key",
            ));
        }
        let new = raw(device_keys)?;
        let old = state.storage.e2ee_keys.device_keys(user, device)?;
        let same = old
            .as_ref()
            .and_then(|o| serde_json::from_str::<Value>(o.get()).ok())
            .as_ref()
            == Some(device_keys);
        if !same {
            state
                .storage
                .e2ee_keys
                .set_device_keys(&mut batch, user, device, &new);
            changed = true;
        }
    }

    if let Some(keys) = body.get("one_time_keys").and_then(Value::as_object) {
        for (id, value) in keys {
            let (algorithm, key_id) = split_key_id(id)?;
            if state
                .storage
                .e2ee_keys
                .has_one_time_key(user, device, algorithm, key_id)?
            {
                continue;
            }
            state.storage.e2ee_keys.add_one_time_key(
                &mut batch,
                user,
                device,
                algorithm,
                key_id,
                &raw(value)?,
            );
        }
    }
    if let Some(keys) = body.get("fallback_keys").and_then(Value::as_object) {
        for (id, value) in keys {
            let (algorithm, key_id) = split_key_id(id)?;
            let fallback = FallbackKey {
                key_id: key_id.to_owned(),
                key: value.clone(),
                used: false,
            };
            state
                .storage
                .e2ee_keys
                .set_fallback_key(&mut batch, user, device, algorithm, &fallback);
        }
    }
    if changed {
        let pos = state.stream.reserve(&state.storage)?;
        let previous = state.storage.e2ee_keys.last_change(user)?;
        state
            .storage
            .e2ee_keys
            .mark_changed(&mut batch, user, pos.position)?;
        state.storage.commit(batch).await?;
        crate::e2ee::device_lists::notify_interested(state, user, pos.position)?;
        crate::e2ee::device_lists::announce_device(state, user, device, pos.position, previous)?;
    } else {
        state.storage.commit(batch).await?;
    }
    Ok((changed, one_time_key_counts(state, user, device)?))
}

/// `algorithm:key_id`.
fn split_key_id(id: &str) -> Result<(&str, &str)> {
    id.split_once(':')
        .filter(|(a, k)| !a.is_empty() && !k.is_empty())
        .ok_or_else(|| Error::invalid_param(format!("Invalid key ID {id:?}")))
}

/// One-time key counts per algorithm; `signed_curve25519` is always listed.
pub fn one_time_key_counts(
    state: &AppState,
    user: &str,
    device: &str,
) -> Result<Map<String, Value>> {
    let mut counts: Map<String, Value> = state
        .storage
        .e2ee_keys
        .one_time_key_counts(user, device)?
        .into_iter()
        .map(|(k, v)| (k, json!(v)))
        .collect();
    counts.entry("signed_curve25519").or_insert(json!(0));
    Ok(counts)
}

/// Adds the signatures others made on a key (stored apart from it) that `requester` may
/// see: the key owner's own, and the requester's.
fn with_signatures(
    state: &AppState,
    owner: &str,
    key_id: &str,
    mut key: Value,
    requester: &str,
) -> Result<Value> {
    for (signer, signer_key, signature) in state.storage.e2ee_keys.signatures(owner, key_id)? {
        if signer == owner || signer == requester {
            key["signatures"][&signer][&signer_key] = json!(signature);
        }
    }
    Ok(key)
}

/// `POST /keys/query`: device keys (with display names) and cross-signing keys of the
/// requested users; user-signing keys only of the requester.
pub fn query(state: &AppState, requester: &str, requested: &Map<String, Value>) -> Result<Value> {
    let mut device_keys = Map::new();
    let mut master = Map::new();
    let mut self_signing = Map::new();
    let mut user_signing = Map::new();
    for (user, wanted) in requested {
        let wanted: Vec<&str> = wanted
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut devices = Map::new();
        for (device, keys) in state.storage.e2ee_keys.all_device_keys(user)? {
            if !wanted.is_empty() && !wanted.contains(&device.as_str()) {
                continue;
            }
            let mut keys: Value = serde_json::from_str(keys.get()).map_err(Error::internal)?;
            keys = with_signatures(state, user, &device, keys, requester)?;
            if let Some(stored) = state.storage.devices.get(user, &device)?
                && let Some(name) = stored.display_name
            {
                keys["unsigned"]["device_display_name"] = json!(name);
            }
            devices.insert(device, keys);
        }
        device_keys.insert(user.clone(), Value::Object(devices));
        for (kind, out) in [
            ("master", &mut master),
            ("self_signing", &mut self_signing),
            ("user_signing", &mut user_signing),
        ] {
            if kind == "user_signing" && user != requester {
                continue;
            }
            if let Some(key) = state.storage.e2ee_keys.cross_signing_key(user, kind)? {
                let key: Value = serde_json::from_str(key.get()).map_err(Error::internal)?;
                let id = key["keys"]
                    .as_object()
                    .and_then(|k| k.keys().next().cloned())
                    .unwrap_or_default();
                let public = id
                    .split_once(':')
                    .map(|(_, p)| p.to_owned())
                    .unwrap_or_default();
                out.insert(
                    user.clone(),
                    with_signatures(state, user, &public, key, requester)?,
                );
            }
        }
    }
    Ok(json!({
        "device_keys": device_keys,
        "master_keys": master,
        "self_signing_keys": self_signing,
        "user_signing_keys": user_signing,
        "failures": {},
    }))
}

/// `POST /keys/claim`: one one-time key per requested device, or its fallback key when
/// none are left.
pub fn claim(state: &AppState, requested: &Map<String, Value>) -> Result<Value> {
    let mut claimed = Map::new();
    for (user, devices) in requested {
        let mut per_device = Map::new();
        for (device, algorithm) in devices.as_object().into_iter().flatten() {
            let Some(algorithm) = algorithm.as_str() else {
                continue;
            };
            let key = match state
                .storage
                .e2ee_keys
                .claim_one_time_key(user, device, algorithm)?
            {
                Some((key_id, key)) => Some((
                    key_id,
                    serde_json::from_str::<Value>(key.get()).map_err(Error::internal)?,
                )),
                None => match state
                    .storage
                    .e2ee_keys
                    .fallback_key(user, device, algorithm)?
                {
                    Some(fallback) => {
                        state
                            .storage
                            .e2ee_keys
                            .mark_fallback_used(user, device, algorithm)?;
                        Some((fallback.key_id, fallback.key))
                    }
                    None => None,
                },
            };
            if let Some((key_id, key)) = key {
                per_device.insert(
                    device.clone(),
                    json!({ format!("{algorithm}:{key_id}"): key }),
                );
            }
        }
        if !per_device.is_empty() {
            claimed.insert(user.clone(), Value::Object(per_device));
        }
    }
    Ok(json!({ "one_time_keys": claimed, "failures": {} }))
}
