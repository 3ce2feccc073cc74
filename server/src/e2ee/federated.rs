//! Keys of users on other servers: `/keys/query` and `/keys/claim` ask each user's server
//! (`/_matrix/federation/v1/user/keys/query|claim`), and answers are checked to speak
//! only for that server's users. A server that does not answer is listed in `failures`.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::app::AppState;

/// Splits a `{user_id: …}` request into this server's users and, per server, the others.
pub fn split_by_server(
    state: &AppState,
    requested: &Map<String, Value>,
) -> (Map<String, Value>, BTreeMap<String, Map<String, Value>>) {
    let mut local = Map::new();
    let mut remote: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    for (user, value) in requested {
        match ruma::UserId::parse(user) {
            Ok(id) if id.server_name().as_str() != state.server_name() => {
                remote
                    .entry(id.server_name().to_string())
                    .or_default()
                    .insert(user.clone(), value.clone());
            }
            _ => {
                local.insert(user.clone(), value.clone());
            }
        }
    }
    (local, remote)
}

/// Keeps only the entries of `map` about users of `server`.
fn only_users_of(map: &Value, server: &str) -> Map<String, Value> {
    map.as_object()
        .into_iter()
        .flatten()
        .filter(|(user, _)| {
            ruma::UserId::parse(user.as_str()).is_ok_and(|u| u.server_name().as_str() == server)
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Merges the keys of other servers' users into a `/keys/query` response: from the
/// cache of device lists (kept for users who share a room with one of ours, dropped when
/// their server announces a change), else asked of their servers.
pub async fn query_remote(
    state: &AppState,
    remote: BTreeMap<String, Map<String, Value>>,
    response: &mut Value,
) {
    for (server, mut users) in remote {
        users.retain(|user, wanted| !from_cache(state, user, wanted, response));
        if users.is_empty() {
            continue;
        }
        let body = json!({ "device_keys": users });
        let answer = state
            .federation
            .request(
                &server,
                "POST",
                "/_matrix/federation/v1/user/keys/query",
                Some(&body),
            )
            .await;
        let answer = match answer {
            Ok((200, answer)) => answer,
            Ok((status, answer)) => {
                response["failures"][&server] = json!({ "status": status, "error": answer });
                continue;
            }
            Err(e) => {
                response["failures"][&server] = json!({ "error": e.to_string() });
                continue;
            }
        };
        for field in ["device_keys", "master_keys", "self_signing_keys"] {
            for (user, keys) in only_users_of(&answer[field], &server) {
                if field == "device_keys" {
                    // Each device's keys must name that user and device.
                    let devices: Map<String, Value> = keys
                        .as_object()
                        .into_iter()
                        .flatten()
                        .filter(|(device, k)| k["user_id"] == user && k["device_id"] == **device)
                        .map(|(d, k)| (d.clone(), k.clone()))
                        .collect();
                    response[field][&user] = Value::Object(devices);
                } else {
                    response[field][&user] = keys;
                }
            }
        }
        // Cached as checked above, not as received.
        for user in users.keys() {
            remember(state, user, response);
        }
    }
}

/// Answers a user's part of a query from the cache; says whether it could.
fn from_cache(state: &AppState, user: &str, wanted: &Value, response: &mut Value) -> bool {
    let Ok(Some(cached)) = state.storage.remote_devices.get(user) else {
        return false;
    };
    let wanted: Vec<&str> = wanted
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let devices: Map<String, Value> = cached["device_keys"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(device, _)| wanted.is_empty() || wanted.contains(&device.as_str()))
        .map(|(d, k)| (d.clone(), k.clone()))
        .collect();
    response["device_keys"][user] = Value::Object(devices);
    for (field, cached_field) in [
        ("master_keys", "master_key"),
        ("self_signing_keys", "self_signing_key"),
    ] {
        if !cached[cached_field].is_null() {
            response[field][user] = cached[cached_field].clone();
        }
    }
    true
}

/// Caches a user's whole device list from a server's answer, when the user shares a room
/// with one of ours (only then will their server tell us about changes).
fn remember(state: &AppState, user: &str, answer: &Value) {
    let tracked = crate::e2ee::device_lists::sharing_a_room(state, user)
        .map(|users| {
            users.iter().any(|u| {
                ruma::UserId::parse(u.as_str())
                    .is_ok_and(|id| id.server_name().as_str() == state.server_name())
            })
        })
        .unwrap_or(false);
    if !tracked || answer["device_keys"].get(user).is_none() {
        return;
    }
    let entry = json!({
        "device_keys": answer["device_keys"][user],
        "master_key": answer["master_keys"][user],
        "self_signing_key": answer["self_signing_keys"][user],
    });
    if let Err(e) = state.storage.remote_devices.put(user, &entry) {
        tracing::warn!(error = %e, "could not cache a device list");
    }
}

/// Merges the answers of other servers to `/keys/claim` into `response`.
pub async fn claim_remote(
    state: &AppState,
    remote: BTreeMap<String, Map<String, Value>>,
    response: &mut Value,
) {
    for (server, users) in remote {
        let body = json!({ "one_time_keys": users });
        let answer = state
            .federation
            .request(
                &server,
                "POST",
                "/_matrix/federation/v1/user/keys/claim",
                Some(&body),
            )
            .await;
        match answer {
            Ok((200, answer)) => {
                for (user, keys) in only_users_of(&answer["one_time_keys"], &server) {
                    response["one_time_keys"][&user] = keys;
                }
            }
            Ok((status, answer)) => {
                response["failures"][&server] = json!({ "status": status, "error": answer });
            }
            Err(e) => {
                response["failures"][&server] = json!({ "error": e.to_string() });
            }
        }
    }
}
