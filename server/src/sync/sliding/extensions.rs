//! Sliding-sync extensions: to-device messages (MSC3885), end-to-end encryption state
//! (MSC3884), account data (MSC3959), receipts (MSC3960) and typing (MSC3961), with the
//! same sources as `/sync` v3.

use std::collections::BTreeMap;

use ruma::OwnedRoomId;
use serde_json::{Map, Value, json};

use crate::api::error::Result;
use crate::app::AppState;
use crate::rooms::RoomCtx;
use crate::sync::sliding::request::{Extensions, Scope, ToDevice};

/// Which rooms of the response each list and subscription put there, for the
/// extensions' `lists`/`rooms` scopes.
pub struct RoomsInView {
    /// Room → the lists whose windows hold it.
    pub by_list: BTreeMap<OwnedRoomId, Vec<String>>,
    pub subscribed: Vec<OwnedRoomId>,
}

impl RoomsInView {
    fn in_scope(&self, scope: &Scope) -> Vec<&OwnedRoomId> {
        let mut out: Vec<&OwnedRoomId> = Vec::new();
        for (room, lists) in &self.by_list {
            let listed = match &scope.lists {
                None => true,
                Some(wanted) => lists
                    .iter()
                    .any(|l| wanted.iter().any(|w| w == l || w == "*")),
            };
            if listed {
                out.push(room);
            }
        }
        for room in &self.subscribed {
            let wanted = match &scope.rooms {
                None => true,
                Some(rooms) => rooms.iter().any(|r| r == "*" || r == room.as_str()),
            };
            if wanted && !out.contains(&room) {
                out.push(room);
            }
        }
        out
    }
}

/// The extensions' part of a response.
#[derive(Default)]
pub struct ExtensionResults {
    pub body: Map<String, Value>,
    /// Whether any of it is news (to end a long-poll).
    pub news: bool,
    /// To-device messages below this position are delivered.
    pub to_device_upto: Option<u64>,
}

pub struct ExtensionInput<'a> {
    pub user_id: &'a str,
    pub device_id: &'a str,
    /// The previous response's boundary (`None`: a new connection).
    pub since: Option<u64>,
    pub next: u64,
    pub to_device_upto: u64,
    /// Rooms sent for the first time in this response: their account data and receipts
    /// are sent whole.
    pub initial_rooms: &'a [OwnedRoomId],
}

pub async fn build(
    state: &AppState,
    requested: &Extensions,
    input: &ExtensionInput<'_>,
    view: &RoomsInView,
) -> Result<ExtensionResults> {
    let mut out = ExtensionResults::default();
    if let Some(config) = &requested.to_device {
        to_device(state, config, input, &mut out).await?;
    }
    if requested.e2ee {
        let (changed, left) = match input.since {
            Some(since) => {
                crate::e2ee::device_lists::changes(state, input.user_id, since, input.next)?
            }
            None => (Vec::new(), Vec::new()),
        };
        out.news |= !changed.is_empty() || !left.is_empty();
        let counts = crate::e2ee::keys::one_time_key_counts(state, input.user_id, input.device_id)?;
        let fallback = state
            .storage
            .e2ee_keys
            .unused_fallback_algorithms(input.user_id, input.device_id)?;
        out.body.insert(
            "e2ee".into(),
            json!({
                "device_lists": { "changed": changed, "left": left },
                "device_one_time_keys_count": counts,
                "device_unused_fallback_key_types": fallback,
            }),
        );
    }
    if let Some(scope) = &requested.account_data {
        let global = crate::sync::account::global_account_data(state, input.user_id, input.since)?;
        let mut rooms = Map::new();
        for room_id in view.in_scope(scope) {
            let Some(room) = RoomCtx::load(&state.storage, room_id)? else {
                continue;
            };
            let since = room_since(input, room_id);
            let events =
                crate::sync::account::room_account_data(state, input.user_id, &room, since)?;
            if !events.is_empty() {
                rooms.insert(room_id.to_string(), json!(events));
            }
        }
        out.news |= !global.is_empty() || !rooms.is_empty();
        out.body.insert(
            "account_data".into(),
            json!({ "global": global, "rooms": rooms }),
        );
    }
    if let Some(scope) = &requested.receipts {
        let mut rooms = Map::new();
        for room_id in view.in_scope(scope) {
            let Some(room) = RoomCtx::load(&state.storage, room_id)? else {
                continue;
            };
            let since = room_since(input, room_id);
            for event in crate::sync::room::ephemeral(state, &room, input.user_id, since)? {
                if event["type"] == "m.receipt" {
                    rooms.insert(room_id.to_string(), event);
                }
            }
        }
        out.news |= !rooms.is_empty();
        out.body
            .insert("receipts".into(), json!({ "rooms": rooms }));
    }
    if let Some(scope) = &requested.typing {
        let mut rooms = Map::new();
        for room_id in view.in_scope(scope) {
            let since = room_since(input, room_id);
            if let Some(users) = state.typing.changed_since(room_id, since) {
                // Initially only rooms where someone is typing.
                if since.is_some() || !users.is_empty() {
                    rooms.insert(
                        room_id.to_string(),
                        json!({ "type": "m.typing", "content": { "user_ids": users } }),
                    );
                }
            }
        }
        out.news |= !rooms.is_empty();
        out.body.insert("typing".into(), json!({ "rooms": rooms }));
    }
    Ok(out)
}

/// Changes since the previous response, or everything for a room new to the connection.
fn room_since(input: &ExtensionInput<'_>, room_id: &OwnedRoomId) -> Option<u64> {
    if input.initial_rooms.contains(room_id) {
        None
    } else {
        input.since
    }
}

/// Most to-device messages delivered in one response.
const MAX_TO_DEVICE: usize = 100;

/// To-device messages wait until a later request's `since` shows they arrived; the
/// connection's own record stands in when the client sends no `since`.
async fn to_device(
    state: &AppState,
    config: &ToDevice,
    input: &ExtensionInput<'_>,
    out: &mut ExtensionResults,
) -> Result<()> {
    let since = config
        .since
        .as_deref()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(input.to_device_upto);
    if since > 0 {
        let mut batch = state.storage.batch();
        if state
            .storage
            .to_device
            .acknowledge(&mut batch, input.user_id, input.device_id, since)?
            > 0
        {
            state.storage.commit(batch).await?;
        }
    }
    let limit = config.limit.min(MAX_TO_DEVICE);
    let mut pending =
        state
            .storage
            .to_device
            .pending(input.user_id, input.device_id, input.next, limit)?;
    pending.retain(|(pos, _)| *pos >= since);
    let upto = pending.last().map_or(since, |(pos, _)| pos + 1);
    let events: Vec<Value> = pending
        .iter()
        .filter_map(|(_, raw)| serde_json::from_str(raw.get()).ok())
        .collect();
    out.news |= !events.is_empty();
    out.to_device_upto = Some(upto);
    out.body.insert(
        "to_device".into(),
        json!({ "next_batch": upto.to_string(), "events": events }),
    );
    Ok(())
}
