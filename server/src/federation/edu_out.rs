//! Ephemeral events for other servers, through the outbox: typing notifications and read
//! receipts of local users go to every other server with a member in the room; device-list
//! and presence updates to the servers of the users who see them.

use citadel_storage::outbox::OutboxItem;
use ruma::RoomId;
use serde_json::{Value, json};

use crate::api::error::Result;
use crate::app::AppState;

/// Queues `edu` for every other server in the room.
fn to_room(state: &AppState, room_id: &RoomId, edu: Value) -> Result<()> {
    let servers = crate::rooms::servers::in_room(state, room_id)?;
    to_servers(state, servers, edu)
}

/// Queues `edu` for the servers of `users` (other than this one).
pub fn to_servers_of(
    state: &AppState,
    users: &std::collections::BTreeSet<String>,
    edu: Value,
) -> Result<()> {
    let servers = users
        .iter()
        .filter_map(|u| ruma::UserId::parse(u).ok())
        .map(|u| u.server_name().to_string())
        .collect();
    to_servers(state, servers, edu)
}

/// Queues `edu` for each of `servers` but this one, and wakes their senders.
fn to_servers(
    state: &AppState,
    mut servers: std::collections::BTreeSet<String>,
    edu: Value,
) -> Result<()> {
    servers.remove(state.server_name());
    if servers.is_empty() || !state.config.federation.enabled {
        return Ok(());
    }
    let mut batch = state.storage.batch();
    for server in &servers {
        let item = OutboxItem::Edu { edu: edu.clone() };
        state.storage.outbox.push(&mut batch, server, &item)?;
    }
    state.storage.apply(batch)?;
    for server in &servers {
        state.wake_sender(server);
    }
    Ok(())
}

/// `m.typing` for a local user.
pub fn typing(state: &AppState, room_id: &RoomId, user_id: &str, typing: bool) -> Result<()> {
    to_room(
        state,
        room_id,
        json!({
            "edu_type": "m.typing",
            "content": { "room_id": room_id, "user_id": user_id, "typing": typing },
        }),
    )
}

/// `m.receipt` for a local user's public read receipt.
pub fn receipt(
    state: &AppState,
    room_id: &RoomId,
    user_id: &str,
    event_id: &str,
    ts: u64,
    thread_id: Option<&str>,
) -> Result<()> {
    let mut data = json!({ "ts": ts });
    if let Some(thread) = thread_id {
        data["thread_id"] = json!(thread);
    }
    to_room(
        state,
        room_id,
        json!({
            "edu_type": "m.receipt",
            "content": { room_id.as_str(): { "m.read": { user_id: {
                "event_ids": [event_id],
                "data": data,
            } } } },
        }),
    )
}
