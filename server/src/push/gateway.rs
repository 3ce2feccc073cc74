//! Delivering notifications to HTTP push gateways (push gateway API,
//! `POST /_matrix/push/v1/notify`), in the background, never holding up the sender.

use citadel_federation::pdu::Pdu;
use citadel_storage::notifications::Notification;
use serde_json::{Value, json};

use crate::api::error::Result;
use crate::app::AppState;
use crate::rooms::RoomCtx;

/// Sends the notification to every HTTP pusher of the user.
pub fn deliver(
    state: &AppState,
    user_id: &str,
    room: &RoomCtx,
    pdu: &Pdu,
    notification: &Notification,
) -> Result<()> {
    if state
        .storage
        .notifications
        .pushers(Some(user_id))?
        .is_empty()
    {
        return Ok(());
    }
    let details = room_details(state, user_id, room, pdu)?;
    send(state, user_id, &room.room_id, pdu, notification, &details)
}

/// Sends the notification to every HTTP pusher of the user, with `details` (room name,
/// alias, sender's display name…) beside the event.
pub fn send(
    state: &AppState,
    user_id: &str,
    room_id: &ruma::RoomId,
    pdu: &Pdu,
    notification: &Notification,
    details: &serde_json::Map<String, Value>,
) -> Result<()> {
    let pushers = state.storage.notifications.pushers(Some(user_id))?;
    if pushers.is_empty() {
        return Ok(());
    }
    let badge = match ruma::UserId::parse(user_id) {
        Ok(user) => crate::push::read::badge_count(state, &user)?.max(1),
        Err(_) => 1,
    };
    for (_, pusher) in pushers {
        let pusher: Value = serde_json::from_str(pusher.get()).unwrap_or_default();
        if pusher["kind"] != "http" {
            continue;
        }
        let Some(url) = pusher["data"]["url"].as_str().map(str::to_owned) else {
            continue;
        };
        let event_id_only = pusher["data"]["format"] == "event_id_only";
        // The pusher's data goes to the gateway without the URL (push gateway API).
        let mut data = pusher["data"].clone();
        if let Some(data) = data.as_object_mut() {
            data.remove("url");
        }
        let mut body = json!({
            "event_id": pdu.event_id,
            // Synapse's name for the event ID, which gateways and test suites read too.
            "id": pdu.event_id,
            "room_id": room_id,
            "counts": { "unread": badge },
            "devices": [{
                "app_id": pusher["app_id"],
                "pushkey": pusher["pushkey"],
                "pushkey_ts": pusher["pushkey_ts"].as_u64().unwrap_or(0),
                "data": data,
                "tweaks": tweaks(&notification.actions),
            }],
            "prio": if notification.highlight { "high" } else { "low" },
        });
        if !event_id_only {
            body["type"] = json!(pdu.kind.to_string());
            body["sender"] = json!(pdu.sender);
            body["content"] = serde_json::from_str(pdu.content.get()).unwrap_or_default();
            for (key, value) in details {
                body[key] = value.clone();
            }
        }
        post(state, url, json!({ "notification": body }));
    }
    Ok(())
}

/// Tells every HTTP pusher of the user the new badge, with a notification that carries
/// only counts (as Synapse does when a read receipt clears a room), so a phone's badge
/// goes down without a new message.
pub fn badge_update(state: &AppState, user: &ruma::UserId) -> Result<()> {
    let pushers = state.storage.notifications.pushers(Some(user.as_str()))?;
    if pushers.is_empty() {
        return Ok(());
    }
    let badge = crate::push::read::badge_count(state, user)?;
    for (_, pusher) in pushers {
        let pusher: Value = serde_json::from_str(pusher.get()).unwrap_or_default();
        if pusher["kind"] != "http" {
            continue;
        }
        let Some(url) = pusher["data"]["url"].as_str().map(str::to_owned) else {
            continue;
        };
        let mut data = pusher["data"].clone();
        if let Some(data) = data.as_object_mut() {
            data.remove("url");
        }
        let body = json!({ "notification": {
            "id": "",
            "type": null,
            "sender": "",
            "counts": { "unread": badge },
            "devices": [{
                "app_id": pusher["app_id"],
                "pushkey": pusher["pushkey"],
                "pushkey_ts": pusher["pushkey_ts"].as_u64().unwrap_or(0),
                "data": data,
            }],
        }});
        post(state, url, body);
    }
    Ok(())
}

/// Posts a notification to a gateway in the background, three tries with back-off.
fn post(state: &AppState, url: String, notification: Value) {
    // With the server's trusted roots and extra CAs: a client of its own would trust
    // no certificate at all (reqwest is built without a root store).
    let client = match state.federation.outbound_http() {
        Ok(client) => client,
        Err(e) => {
            tracing::warn!(error = %e, "no HTTP client for push gateways");
            return;
        }
    };
    tokio::spawn(async move {
        for attempt in 0..3u32 {
            match client.post(&url).json(&notification).send().await {
                Ok(response) if response.status().is_success() => return,
                Ok(response) => {
                    tracing::warn!(%url, status = %response.status(), "push gateway refused")
                }
                Err(e) => tracing::warn!(%url, error = %e, "push gateway unreachable"),
            }
            tokio::time::sleep(std::time::Duration::from_millis(500 * 2u64.pow(attempt))).await;
        }
    });
}

/// The `set_tweak` actions as a tweaks object.
fn tweaks(actions: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for action in actions.as_array().into_iter().flatten() {
        if let Some(name) = action["set_tweak"].as_str() {
            out.insert(
                name.to_owned(),
                action.get("value").cloned().unwrap_or(Value::Bool(true)),
            );
        }
    }
    Value::Object(out)
}

/// What a gateway shows beside the event: the room's name or canonical alias, the
/// sender's display name, and whether the user is the target of a membership event.
fn room_details(
    state: &AppState,
    user_id: &str,
    room: &RoomCtx,
    pdu: &Pdu,
) -> Result<serde_json::Map<String, Value>> {
    let mut out = serde_json::Map::new();
    let content_of = |kind: &str, key: &str| -> Result<Option<Value>> {
        Ok(crate::rooms::state::current_event(state, room, kind, key)?
            .and_then(|event| serde_json::from_str::<Value>(event.content.get()).ok()))
    };
    let name = content_of("m.room.name", "")?.and_then(|c| {
        c["name"]
            .as_str()
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
    });
    let alias = content_of("m.room.canonical_alias", "")?
        .and_then(|c| c["alias"].as_str().map(str::to_owned));
    // The name a client would show: the room's name, else its canonical alias (as
    // Synapse names rooms in notifications).
    if let Some(name) = name.clone().or_else(|| alias.clone()) {
        out.insert("room_name".into(), name.into());
    }
    if let Some(alias) = alias {
        out.insert("room_alias".into(), alias.into());
    }
    if let Some(name) = content_of("m.room.member", pdu.sender.as_str())?
        .and_then(|c| c["displayname"].as_str().map(str::to_owned))
    {
        out.insert("sender_display_name".into(), name.into());
    }
    if pdu.kind.to_string() == "m.room.member" {
        out.insert(
            "user_is_target".into(),
            (pdu.state_key.as_deref() == Some(user_id)).into(),
        );
        // Synapse's addition, which gateways use to word invites.
        if let Some(membership) = serde_json::from_str::<Value>(pdu.content.get())
            .ok()
            .and_then(|c| c["membership"].as_str().map(str::to_owned))
        {
            out.insert("membership".into(), membership.into());
        }
    }
    Ok(out)
}
