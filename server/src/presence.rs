//! Presence, kept in memory: a hint that goes stale within minutes, not data worth a disk
//! write. A change wakes everyone who shares a room with the user and, for local users,
//! goes to the other servers of those people.

use citadel_storage::now_ms;
use ruma::presence::PresenceState;

use crate::api::error::{Error, Result};
use crate::app::AppState;

#[derive(Clone, Debug)]
pub struct PresenceRecord {
    pub presence: PresenceState,
    pub status_msg: Option<String>,
    pub last_active_ms: u64,
    /// Stream position of the last change, for incremental `/sync`.
    pub changed: u64,
}

/// Records a user's presence and wakes everyone who shares a room with them. Returns
/// whether anything changed.
pub fn update(
    state: &AppState,
    user_id: &str,
    presence: PresenceState,
    status_msg: Option<Option<String>>,
) -> Result<bool> {
    let position = {
        let mut all = state
            .presence
            .lock()
            .map_err(|_| Error::internal("presence lock poisoned"))?;
        let old = all.get(user_id).cloned();
        let status_msg = match status_msg {
            Some(new) => new,
            None => old.as_ref().and_then(|o| o.status_msg.clone()),
        };
        if old
            .as_ref()
            .is_some_and(|o| o.presence == presence && o.status_msg == status_msg)
        {
            if let Some(record) = all.get_mut(user_id) {
                record.last_active_ms = now_ms();
            }
            return Ok(false);
        }
        // A position only for a real change: every `/sync` call sets presence, and an
        // unchanged one must not move the stream (which would defeat the sync cache).
        let reserved = state.stream.reserve(&state.storage)?;
        let position = reserved.position;
        all.insert(
            user_id.to_owned(),
            PresenceRecord {
                presence,
                status_msg,
                last_active_ms: now_ms(),
                changed: position,
            },
        );
        position
    };
    let mut audience = vec![user_id.to_owned()];
    for (room, record) in state.storage.rooms.membership.rooms(user_id)? {
        if record.membership == "join" {
            for (member, m) in crate::rooms::members::of(state, &room)?.iter() {
                if m.membership == "join" {
                    audience.push(member.to_owned());
                }
            }
        }
    }
    state
        .notifier
        .notify(audience.iter().map(String::as_str), position);
    if ruma::UserId::parse(user_id).is_ok_and(|u| u.server_name().as_str() == state.server_name()) {
        announce(state, user_id, &audience)?;
    }
    Ok(true)
}

/// Sends a local user's new presence to the other servers of the people who see it.
fn announce(state: &AppState, user_id: &str, audience: &[String]) -> Result<()> {
    let record = state
        .presence
        .lock()
        .map_err(|_| Error::internal("presence lock poisoned"))?
        .get(user_id)
        .cloned();
    let Some(record) = record else {
        return Ok(());
    };
    let mut entry = serde_json::json!({
        "user_id": user_id,
        "presence": record.presence.as_str(),
        "last_active_ago": now_ms().saturating_sub(record.last_active_ms),
        "currently_active": record.presence == PresenceState::Online,
    });
    if let Some(message) = &record.status_msg {
        entry["status_msg"] = serde_json::json!(message);
    }
    let users: std::collections::BTreeSet<String> = audience.iter().cloned().collect();
    crate::federation::edu_out::to_servers_of(
        state,
        &users,
        serde_json::json!({ "edu_type": "m.presence", "content": { "push": [entry] } }),
    )
}
