//! Device-list tracking: who must be told that a user's devices or keys changed (everyone
//! sharing a room with them), and who has stopped sharing rooms with whom.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::api::error::Result;
use crate::app::AppState;

/// Users in a joined room with `user_id` (including the user).
pub fn sharing_a_room(state: &AppState, user_id: &str) -> Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    out.insert(user_id.to_owned());
    for (room, record) in state.storage.rooms.membership.rooms(user_id)? {
        if record.membership != "join" {
            continue;
        }
        for (member, m) in crate::rooms::members::of(state, &room)?.iter() {
            if m.membership == "join" {
                out.insert(member.to_owned());
            }
        }
    }
    Ok(out)
}

/// Wakes everyone who tracks `user_id`'s devices.
pub fn notify_interested(state: &AppState, user_id: &str, position: u64) -> Result<()> {
    let audience = sharing_a_room(state, user_id)?;
    state
        .notifier
        .notify(audience.iter().map(String::as_str), position);
    Ok(())
}

/// Tells other servers sharing a room with a local user that one of their devices changed
/// (`m.device_list_update`). `prev` is the user's previous change: a receiver that saw it
/// applies this update as it is; one that did not fetches the whole list again.
pub fn announce_device(
    state: &AppState,
    user_id: &str,
    device_id: &str,
    position: u64,
    prev: Option<u64>,
) -> Result<()> {
    let mut content = json!({
        "user_id": user_id,
        "device_id": device_id,
        "stream_id": position,
        "prev_id": prev.into_iter().collect::<Vec<_>>(),
        "deleted": false,
    });
    if let Some(keys) = state.storage.e2ee_keys.device_keys(user_id, device_id)? {
        content["keys"] = serde_json::from_str(keys.get()).unwrap_or(Value::Null);
    }
    if let Some(name) = state
        .storage
        .devices
        .get(user_id, device_id)?
        .and_then(|d| d.display_name)
    {
        content["device_display_name"] = json!(name);
    }
    let audience = sharing_a_room(state, user_id)?;
    crate::federation::edu_out::to_servers_of(
        state,
        &audience,
        json!({ "edu_type": "m.device_list_update", "content": content }),
    )
}

/// Tells other servers that a local user's device list changed in a way best fetched
/// whole (devices removed): an update without `prev_id` makes receivers resync.
pub fn announce_resync(state: &AppState, user_id: &str, position: u64) -> Result<()> {
    let content = json!({
        "user_id": user_id,
        "device_id": "",
        "stream_id": position,
        "prev_id": [],
        "deleted": false,
    });
    let audience = sharing_a_room(state, user_id)?;
    crate::federation::edu_out::to_servers_of(
        state,
        &audience,
        json!({ "edu_type": "m.device_list_update", "content": content }),
    )
}

/// Tells other servers sharing a room with a local user that their cross-signing keys
/// changed (`m.signing_key_update`).
pub fn announce_signing_keys(state: &AppState, user_id: &str) -> Result<()> {
    let audience = sharing_a_room(state, user_id)?;
    let key = |kind: &str| -> Result<Value> {
        Ok(
            match state.storage.e2ee_keys.cross_signing_key(user_id, kind)? {
                Some(raw) => serde_json::from_str(raw.get()).unwrap_or(Value::Null),
                None => Value::Null,
            },
        )
    };
    let mut content = json!({ "user_id": user_id });
    for (field, kind) in [
        ("master_key", "master"),
        ("self_signing_key", "self_signing"),
    ] {
        let value = key(kind)?;
        if !value.is_null() {
            content[field] = value;
        }
    }
    crate::federation::edu_out::to_servers_of(
        state,
        &audience,
        json!({ "edu_type": "m.signing_key_update", "content": content }),
    )
}

/// `(changed, left)` for `user_id` between stream positions `since` and `next`:
/// users sharing a room whose keys changed or who started sharing one (a join on either
/// side), and users who no longer share any room.
pub fn changes(
    state: &AppState,
    user_id: &str,
    since: u64,
    next: u64,
) -> Result<(Vec<String>, Vec<String>)> {
    let sharing = sharing_a_room(state, user_id)?;
    let mut changed = BTreeSet::new();
    let mut left = BTreeSet::new();
    for other in &sharing {
        if state
            .storage
            .e2ee_keys
            .last_change(other)?
            .is_some_and(|pos| pos >= since && pos < next)
        {
            changed.insert(other.clone());
        }
    }
    for (room, my_record) in state.storage.rooms.membership.rooms(user_id)? {
        let i_joined_recently =
            my_record.membership == "join" && my_record.count >= since && my_record.count < next;
        let i_left_recently =
            my_record.membership != "join" && my_record.count >= since && my_record.count < next;
        for (member, record) in crate::rooms::members::of(state, &room)?.iter() {
            if member == user_id {
                continue;
            }
            let recent = record.count >= since && record.count < next;
            if record.membership == "join"
                && (recent || i_joined_recently)
                && my_record.membership == "join"
            {
                changed.insert(member.to_owned());
            }
            let they_left = record.membership != "join" && recent;
            if (they_left || (i_left_recently && record.membership == "join"))
                && !sharing.contains(member)
            {
                left.insert(member.to_owned());
            }
        }
    }
    Ok((changed.into_iter().collect(), left.into_iter().collect()))
}
