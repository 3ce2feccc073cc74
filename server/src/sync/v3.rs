//! `/sync` v3 responses: initial and incremental, for the handler in `api::client::sync`.
//!
//! Tokens are stream boundaries (`s<n>`: everything below `n` has been delivered). A
//! request subscribes to the notifier *before* looking for news, so an event committed
//! while the response is being built still wakes it.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use crate::api::error::{Error, Result};
use crate::app::AppState;
use crate::rooms::RoomCtx;
use crate::sync::account::{global_account_data, presence_events};
use crate::sync::room::{joined_room, left_remote_room, left_room, stripped_state};

/// Timeline events per room when the filter does not say.
pub(crate) const DEFAULT_TIMELINE_LIMIT: usize = 10;
/// Most to-device messages delivered in one response.
const MAX_TO_DEVICE: usize = 100;
/// Longest long-poll honoured.
pub(crate) const MAX_TIMEOUT_MS: u64 = 60_000;

pub(crate) struct Options {
    /// The requesting device, which gets its own events' transaction IDs.
    pub(crate) device_id: String,
    /// To-device messages below this position were delivered before.
    pub(crate) to_device_since: Option<u64>,
    pub(crate) since: Option<u64>,
    pub(crate) full_state: bool,
    pub(crate) timeline_limit: usize,
    /// Send only the member events of the timeline's senders (and the user's own).
    pub(crate) lazy_load_members: bool,
    /// With lazy-loading: send the senders' members even if this device has them.
    pub(crate) include_redundant_members: bool,
    /// Count notifications per thread (`unread_thread_notifications` in the filter).
    pub(crate) unread_thread_notifications: bool,
    pub(crate) filter: crate::sync::filter::SyncFilter,
    /// The filter's `event_format: federation`: timeline events as the PDUs they are.
    pub(crate) federation_format: bool,
    /// For an initial sync: its key in the cache of built `rooms` sections.
    pub(crate) cache_key: Option<String>,
}

/// The filter of a request: inline JSON or the ID of a stored filter.
pub(crate) fn load_filter(state: &AppState, user_id: &str, filter: Option<&str>) -> Result<Value> {
    let Some(filter) = filter else {
        return Ok(Value::Null);
    };
    if filter.trim_start().starts_with('{') {
        // The same definition `POST /filter` accepts: a filter of the wrong shape is an
        // error, not silently no filter at all.
        let invalid = |e: serde_json::Error| Error::invalid_param(format!("Invalid filter: {e}"));
        let value: Value = serde_json::from_str(filter).map_err(invalid)?;
        serde_json::from_value::<ruma::api::client::filter::FilterDefinition>(value.clone())
            .map_err(invalid)?;
        return Ok(value);
    }
    match state.storage.filters.get(user_id, filter)? {
        Some(raw) => Ok(serde_json::from_str(raw.get()).unwrap_or_default()),
        None => Err(Error::not_found(format!(
            "No filter {filter:?} for this user"
        ))),
    }
}

/// The response body: everything but the rooms is built as a value; the rooms section
/// is kept as text so an initial sync can reuse one built moments before.
#[derive(serde::Serialize)]
pub(crate) struct Body {
    next_batch: String,
    #[serde(serialize_with = "shared_raw")]
    rooms: Arc<RawValue>,
    account_data: Value,
    presence: Value,
    to_device: Value,
    device_lists: Value,
    device_one_time_keys_count: Value,
    device_unused_fallback_key_types: Value,
}

/// Builds the response for events below the boundary `next`; says whether it carries
/// anything new.
pub(crate) fn build(
    state: &AppState,
    user_id: &str,
    options: &Options,
    next: u64,
) -> Result<(Body, bool)> {
    let cached = options
        .cache_key
        .as_deref()
        .and_then(|key| state.initial_sync_cache.get(key, next));
    let (rooms, rooms_news) = match cached {
        Some(rooms) => (rooms, true),
        None => {
            let (rooms, news) = build_rooms(state, user_id, options, next)?;
            let rooms: Arc<RawValue> = Arc::from(rooms);
            if let Some(key) = &options.cache_key {
                state
                    .initial_sync_cache
                    .put(key.clone(), next, Arc::clone(&rooms));
            }
            (rooms, news)
        }
    };

    let presence = presence_events(state, user_id, options.since)?;
    // To-device messages wait until acknowledged, in bounded batches.
    let to_device_from = options.to_device_since.unwrap_or(0);
    let mut to_device =
        state
            .storage
            .to_device
            .pending(user_id, &options.device_id, next, MAX_TO_DEVICE + 1)?;
    to_device.retain(|(pos, _)| *pos >= to_device_from);
    let to_device_upto = if to_device.len() > MAX_TO_DEVICE {
        to_device.truncate(MAX_TO_DEVICE);
        to_device.last().map(|(pos, _)| pos + 1)
    } else {
        None
    };
    let to_device: Vec<Value> = to_device
        .iter()
        .filter_map(|(_, raw)| serde_json::from_str(raw.get()).ok())
        .collect();
    let (changed, left) = match options.since {
        Some(since) => crate::e2ee::device_lists::changes(state, user_id, since, next)?,
        None => (Vec::new(), Vec::new()),
    };
    let one_time_key_counts =
        crate::e2ee::keys::one_time_key_counts(state, user_id, &options.device_id)?;
    let fallback_types = state
        .storage
        .e2ee_keys
        .unused_fallback_algorithms(user_id, &options.device_id)?;
    let mut account_data = global_account_data(state, user_id, options.since)?;
    options.filter.account_data.retain(&mut account_data);
    let has_news = rooms_news
        || !account_data.is_empty()
        || !presence.is_empty()
        || !to_device.is_empty()
        || !changed.is_empty()
        || !left.is_empty();
    let next_batch = match to_device_upto {
        Some(upto) => format!("s{next}_{upto}"),
        None => format!("s{next}"),
    };
    let body = Body {
        next_batch,
        rooms,
        account_data: json!({ "events": account_data }),
        presence: json!({ "events": presence }),
        to_device: json!({ "events": to_device }),
        device_lists: json!({ "changed": changed, "left": left }),
        device_one_time_keys_count: json!(one_time_key_counts),
        device_unused_fallback_key_types: json!(fallback_types),
    };
    Ok((body, has_news))
}

fn shared_raw<S: serde::Serializer>(raw: &Arc<RawValue>, serializer: S) -> Result<S::Ok, S::Error> {
    serde::Serialize::serialize(&**raw, serializer)
}

/// The `rooms` section, each room already serialized: a room's JSON tree lives only
/// while that room is built, so an initial sync of a thousand rooms holds their text,
/// not a thousand trees.
#[derive(serde::Serialize)]
struct Rooms {
    join: BTreeMap<String, Box<RawValue>>,
    invite: Map<String, Value>,
    leave: Map<String, Value>,
    knock: Map<String, Value>,
}

/// The `rooms` section for events below `next`, and whether it has anything new.
fn build_rooms(
    state: &AppState,
    user_id: &str,
    options: &Options,
    next: u64,
) -> Result<(Box<RawValue>, bool)> {
    let mut join = BTreeMap::new();
    let mut invite = Map::new();
    let mut leave = Map::new();
    let mut knock = Map::new();
    let ignored = crate::rooms::visibility::ignored_users(state, user_id)?;
    for (room_id, record) in state.storage.rooms.membership.rooms(user_id)? {
        if !options.filter.rooms.allows_room(&room_id) {
            continue;
        }
        let Ok(room_id) = ruma::OwnedRoomId::try_from(room_id) else {
            continue;
        };
        if record.count >= next {
            // A change committed after this response's boundary: the next sync has it.
            continue;
        }
        let changed_since = options.since.is_none_or(|since| record.count >= since);
        // Invites and knocks for rooms on other servers are shown without the room.
        let room = RoomCtx::load(&state.storage, &room_id)?;
        match (record.membership.as_str(), room) {
            ("invite", _) if changed_since => {
                // An invite from someone the user ignores is not shown (as in Synapse).
                if !ignored.is_empty()
                    && crate::rooms::load_pdu(state, &record.event_id)?
                        .is_some_and(|invite| ignored.contains(invite.sender.as_str()))
                {
                    continue;
                }
                let events = stripped_state(state, &record.event_id)?;
                invite.insert(
                    room_id.to_string(),
                    json!({ "invite_state": { "events": events } }),
                );
            }
            ("knock", _) if changed_since => {
                let events = stripped_state(state, &record.event_id)?;
                knock.insert(
                    room_id.to_string(),
                    json!({ "knock_state": { "events": events } }),
                );
            }
            ("leave" | "ban", None)
                if changed_since && (options.since.is_some() || options.filter.include_leave) =>
            {
                leave.insert(
                    room_id.to_string(),
                    left_remote_room(state, &record.event_id)?,
                );
            }
            (_, None) => {}
            ("join", Some(room)) => {
                if let Some(body) =
                    joined_room(state, &room, user_id, options, next, changed_since)?
                {
                    let body = serde_json::value::to_raw_value(&body).map_err(Error::internal)?;
                    join.insert(room_id.to_string(), body);
                }
            }
            ("leave" | "ban", Some(room))
                if changed_since && (options.since.is_some() || options.filter.include_leave) =>
            {
                leave.insert(
                    room_id.to_string(),
                    left_room(state, &room, user_id, options, record.count)?,
                );
            }
            _ => {}
        }
    }

    let has_news = !join.is_empty() || !invite.is_empty() || !leave.is_empty() || !knock.is_empty();
    let rooms = Rooms {
        join,
        invite,
        leave,
        knock,
    };
    Ok((
        serde_json::value::to_raw_value(&rooms).map_err(Error::internal)?,
        has_news,
    ))
}
