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

/// Merges the answers of other servers to `/keys/query` into `response`.
pub async fn query_remote(
    state: &AppState,
    remote: BTreeMap<String, Map<String, Value>>,
    response: &mut Value,
) {
    for (server, users) in remote {
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
