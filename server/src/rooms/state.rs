//! Reading room state: the current state, state at an event, single state events.

use std::collections::BTreeMap;
use std::sync::Arc;

use citadel_federation::pdu::Pdu;
use citadel_federation::state_res::StateIds;
use citadel_storage::rooms::state::StateMap;
use ruma::OwnedEventId;
use ruma::events::StateEventType;

use crate::api::error::{Error, Result};
use crate::app::AppState;
use crate::rooms::{RoomCtx, load_pdu};

/// The current state snapshot of a room: its hash and map (empty for a room being
/// created), shared with the snapshot cache: copying a large room's map for every event
/// would be work in proportion to its members.
pub fn current(state: &AppState, room: &RoomCtx) -> Result<(Option<u64>, Arc<StateMap>)> {
    match state.storage.rooms.state.current(room.short)? {
        Some(hash) => Ok((Some(hash), state.storage.rooms.state.load_shared(hash)?)),
        None => Ok((None, Arc::default())),
    }
}

/// The event holding `(kind, state_key)` in a state map.
pub fn event_in(
    state: &AppState,
    map: &StateMap,
    kind: &str,
    state_key: &str,
) -> Result<Option<Arc<Pdu>>> {
    let Some(short_key) = state
        .storage
        .rooms
        .short
        .state_key_if_known(kind, state_key)?
    else {
        return Ok(None);
    };
    let Some(short_event) = map.get(&short_key) else {
        return Ok(None);
    };
    let event_id = state
        .storage
        .rooms
        .short
        .event_id(*short_event)?
        .ok_or_else(|| Error::internal("state names an unknown event"))?;
    load_pdu(state, &event_id)
}

/// A current state event of the room.
pub fn current_event(
    state: &AppState,
    room: &RoomCtx,
    kind: &str,
    state_key: &str,
) -> Result<Option<Arc<Pdu>>> {
    let (_, map) = current(state, room)?;
    event_in(state, &map, kind, state_key)
}

/// Every event of a state map, ordered by `(type, state_key)`.
pub fn events_of(state: &AppState, map: &StateMap) -> Result<Vec<Arc<Pdu>>> {
    let mut out = BTreeMap::new();
    for (short_key, short_event) in map {
        let pair = state.storage.rooms.short.state_key_pair(*short_key)?;
        let event_id = state.storage.rooms.short.event_id(*short_event)?;
        if let (Some(pair), Some(event_id)) = (pair, event_id)
            && let Some(pdu) = load_pdu(state, &event_id)?
        {
            out.insert(pair, pdu);
        }
    }
    Ok(out.into_values().collect())
}

/// The state map after an event (including the event itself if it is a state event).
pub fn after_event(state: &AppState, event_id: &str) -> Result<Option<StateMap>> {
    Ok(after_event_shared(state, event_id)?.map(Arc::unwrap_or_clone))
}

/// [`after_event`], shared with the snapshot cache: for reading.
pub fn after_event_shared(state: &AppState, event_id: &str) -> Result<Option<Arc<StateMap>>> {
    let Some(short) = state.storage.rooms.short.event_if_known(event_id)? else {
        return Ok(None);
    };
    match state.storage.rooms.state.after_event(short)? {
        Some(hash) => Ok(Some(state.storage.rooms.state.load_shared(hash)?)),
        None => Ok(None),
    }
}

/// The state map in force just before the room's event at stream position `count`: the
/// state after the event before it. The first event of a timeline has none before it;
/// its own state after, without itself, stands in (empty for a room's create event; the
/// state a remote room was joined with for the join that starts its timeline here).
pub fn before_count(state: &AppState, room: &RoomCtx, count: u64) -> Result<Arc<StateMap>> {
    let timeline = &state.storage.rooms.timeline;
    if let Some((_, previous)) = timeline.before(room.short, count, 1)?.into_iter().next() {
        return Ok(after_event_shared(state, &previous.event_id)?.unwrap_or_default());
    }
    let Some((_, first)) = timeline
        .after(room.short, count.saturating_sub(1), 1)?
        .into_iter()
        .next()
    else {
        return Ok(Arc::default());
    };
    let mut map = after_event(state, &first.event_id)?.unwrap_or_default();
    remove_own_entry(state, &mut map, &crate::rooms::parse_stored(&first)?)?;
    Ok(Arc::new(map))
}

/// Takes a state event's own `(type, state_key)` out of a state map.
pub fn remove_own_entry(state: &AppState, map: &mut StateMap, pdu: &Pdu) -> Result<()> {
    if let Some(key) = &pdu.state_key
        && let Some(short) = state
            .storage
            .rooms
            .short
            .state_key_if_known(&pdu.kind.to_string(), key)?
    {
        map.remove(&short);
    }
    Ok(())
}

/// Every held event in the auth chains of `start`.
pub fn auth_chain_of<'a>(
    state: &AppState,
    start: impl IntoIterator<Item = &'a OwnedEventId>,
) -> Result<Vec<Arc<Pdu>>> {
    let ids = citadel_federation::state_res::auth_chain(start, &|id| {
        load_pdu(state, id.as_str()).ok().flatten()
    });
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(pdu) = load_pdu(state, id.as_str())? {
            out.push(pdu);
        }
    }
    Ok(out)
}

/// The membership of `user_id` in the given state (`leave` when absent).
pub fn membership_in(state: &AppState, map: &StateMap, user_id: &str) -> Result<String> {
    Ok(match event_in(state, map, "m.room.member", user_id)? {
        Some(pdu) => content_str(&pdu, "membership").unwrap_or_else(|| "leave".into()),
        None => "leave".into(),
    })
}

/// A user's power level in a state map, and the level an action (`"redact"`, `"kick"` …)
/// needs, per the spec's defaults. Room creators of version 12 rooms outrank everyone.
pub fn power_levels(
    state: &AppState,
    room: &RoomCtx,
    map: &StateMap,
    user_id: &str,
    action: &str,
) -> Result<(i64, i64)> {
    if room.rules.authorization.explicitly_privilege_room_creators
        && let Some(create) = event_in(state, map, "m.room.create", "")?
    {
        let content: serde_json::Value =
            serde_json::from_str(create.content.get()).unwrap_or_default();
        let additional = content["additional_creators"]
            .as_array()
            .is_some_and(|c| c.iter().any(|u| u == user_id));
        if create.sender.as_str() == user_id || additional {
            return Ok((i64::MAX, 0));
        }
    }
    let Some(levels) = event_in(state, map, "m.room.power_levels", "")? else {
        // Without power levels, the creator has 100 and everyone else 0; actions need 50.
        let creator = event_in(state, map, "m.room.create", "")?
            .is_some_and(|c| c.sender.as_str() == user_id);
        return Ok((if creator { 100 } else { 0 }, 50));
    };
    let content: serde_json::Value = serde_json::from_str(levels.content.get()).unwrap_or_default();
    let number = |v: &serde_json::Value| {
        v.as_i64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
    };
    let user = content["users"]
        .get(user_id)
        .and_then(number)
        .or_else(|| number(&content["users_default"]))
        .unwrap_or(0);
    let needed = number(&content[action]).unwrap_or(if action == "invite" { 0 } else { 50 });
    Ok((user, needed))
}

/// A string field of an event's content.
pub fn content_str(pdu: &Pdu, field: &str) -> Option<String> {
    let content: serde_json::Value = serde_json::from_str(pdu.content.get()).ok()?;
    content.get(field)?.as_str().map(str::to_owned)
}

/// A state map with full IDs, as state resolution takes it.
pub fn to_ids(state: &AppState, map: &StateMap) -> Result<StateIds> {
    let short = &state.storage.rooms.short;
    let mut out = StateIds::with_capacity(map.len());
    for (key, event) in map {
        let (Some((kind, state_key)), Some(event_id)) =
            (short.state_key_pair(*key)?, short.event_id(*event)?)
        else {
            return Err(Error::internal("state names an unknown short ID"));
        };
        let event_id = OwnedEventId::try_from(event_id).map_err(Error::internal)?;
        out.insert((StateEventType::from(kind), state_key), event_id);
    }
    Ok(out)
}

/// A state map with full IDs, interned to short IDs.
pub fn from_ids(state: &AppState, ids: &StateIds) -> Result<StateMap> {
    let short = &state.storage.rooms.short;
    let mut out = StateMap::new();
    for ((kind, state_key), event_id) in ids {
        out.insert(
            short.state_key(&kind.to_string(), state_key)?,
            short.event(event_id.as_str())?,
        );
    }
    Ok(out)
}

/// Resolves forks of a room's state (state resolution v2, ruma's).
pub fn resolve(state: &AppState, room: &RoomCtx, forks: &[StateMap]) -> Result<StateMap> {
    if forks.len() == 1 {
        return Ok(forks[0].clone());
    }
    let mut ids = Vec::with_capacity(forks.len());
    for fork in forks {
        ids.push(to_ids(state, fork)?);
    }
    let resolved = citadel_federation::state_res::resolve(&room.rules, &ids, |id| {
        load_pdu(state, id.as_str()).ok().flatten()
    })
    .map_err(|e| Error::internal(e.to_string()))?;
    from_ids(state, &resolved)
}
