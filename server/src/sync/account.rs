//! The account-wide sections of a `/sync` response: account data and presence.

use serde_json::{Value, json};

use crate::api::error::{Error, Result};
use crate::app::AppState;
use crate::rooms::RoomCtx;

pub(crate) fn global_account_data(
    state: &AppState,
    user_id: &str,
    since: Option<u64>,
) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for (room, kind) in state
        .storage
        .account_data
        .changed_since(user_id, since.unwrap_or(0).saturating_sub(1))?
    {
        if room.is_some() {
            continue;
        }
        if let Some(content) = state.storage.account_data.get(user_id, None, &kind)? {
            out.push(json!({ "type": kind, "content": serde_json::from_str::<Value>(content.get()).unwrap_or_default() }));
        }
    }
    Ok(out)
}

pub(crate) fn room_account_data(
    state: &AppState,
    user_id: &str,
    room: &RoomCtx,
    since: Option<u64>,
) -> Result<Vec<Value>> {
    let as_event = |kind: &str, content: &serde_json::value::RawValue| json!({ "type": kind, "content": serde_json::from_str::<Value>(content.get()).unwrap_or_default() });
    let Some(since) = since else {
        // An initial sync: this room's entries only (not every change of every room,
        // which made an initial sync quadratic in the rooms).
        return Ok(state
            .storage
            .account_data
            .of_room(user_id, room.room_id.as_str())?
            .iter()
            .map(|(kind, content)| as_event(kind, content))
            .collect());
    };
    let mut out = Vec::new();
    for (room_id, kind) in state
        .storage
        .account_data
        .changed_since(user_id, since.saturating_sub(1))?
    {
        if room_id.as_deref() != Some(room.room_id.as_str()) {
            continue;
        }
        if let Some(content) =
            state
                .storage
                .account_data
                .get(user_id, Some(room.room_id.as_str()), &kind)?
        {
            out.push(as_event(&kind, &content));
        }
    }
    Ok(out)
}

/// Presence of the user and of everyone sharing a room with them, changed since `since`.
pub(crate) fn presence_events(
    state: &AppState,
    user_id: &str,
    since: Option<u64>,
) -> Result<Vec<Value>> {
    let mut people = std::collections::BTreeSet::new();
    people.insert(user_id.to_owned());
    for (room, record) in state.storage.rooms.membership.rooms(user_id)? {
        if record.membership == "join" {
            for (member, m) in crate::rooms::members::of(state, &room)?.iter() {
                if m.membership == "join" {
                    people.insert(member.to_owned());
                }
            }
        }
    }
    let all = state
        .presence
        .lock()
        .map_err(|_| Error::internal("presence lock poisoned"))?;
    let now = citadel_storage::now_ms();
    let mut out = Vec::new();
    for person in people {
        let Some(record) = all.get(&person) else {
            continue;
        };
        if since.is_some_and(|since| record.changed < since) {
            continue;
        }
        let mut content = json!({
            "presence": record.presence.as_str(),
            "last_active_ago": now.saturating_sub(record.last_active_ms),
            "currently_active": record.presence == ruma::presence::PresenceState::Online,
        });
        if let Some(message) = &record.status_msg {
            content["status_msg"] = json!(message);
        }
        out.push(json!({ "type": "m.presence", "sender": person, "content": content }));
    }
    Ok(out)
}
