//! The user's room list for sliding sync: every room they are in, invited to, knocked on,
//! or were removed from, ordered by activity, and the lists' filters and ranges over it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use citadel_storage::rooms::membership::{MemberRecord, UserRoom, UserRooms};
use ruma::{OwnedRoomId, RoomId};
use serde_json::Value;

use crate::api::error::Result;
use crate::app::AppState;
use crate::rooms::RoomCtx;
use crate::sync::sliding::connection::ConnState;
use crate::sync::sliding::request::{Filters, ListConfig};

/// One room of the user's list.
pub struct Entry<'a> {
    pub room_id: &'a RoomId,
    pub record: &'a MemberRecord,
    /// The ordering key: the room's newest event below the boundary for joined rooms,
    /// the membership change otherwise (nothing after a leave is the user's to see).
    pub activity: u64,
    /// Whether lists show it (a room the user left themselves is only for subscriptions,
    /// unless the connection already had it).
    pub listed: bool,
}

impl Entry<'_> {
    /// The room; `None` for a room on another server this one only knows an invite or
    /// knock for. Loaded on demand: most of a user's rooms are only sorted and counted.
    pub fn room(&self, state: &AppState) -> Result<Option<RoomCtx>> {
        RoomCtx::load(&state.storage, self.room_id)
    }
}

/// The user's rooms, most recently active first. Lists show rooms the user left
/// themselves only if the connection has sent them before (the user knows they left),
/// and rooms they were kicked or banned from always, unless they never were in them.
pub fn rooms<'a>(
    state: &AppState,
    user_rooms: &'a UserRooms,
    next: u64,
    sent: &ConnState,
) -> Result<Vec<Entry<'a>>> {
    let mut out = Vec::with_capacity(user_rooms.len());
    for UserRoom {
        room_id,
        record,
        short,
    } in user_rooms
    {
        if record.count >= next {
            // Committed after this response's boundary: the next response has it.
            continue;
        }
        let Ok(room_id) = <&RoomId>::try_from(room_id.as_str()) else {
            continue;
        };
        let mut listed = true;
        let activity = match record.membership.as_str() {
            "join" => {
                let Some(short) = *short else {
                    continue;
                };
                state
                    .storage
                    .rooms
                    .timeline
                    .last_count_before(short, next)?
                    .unwrap_or(record.count)
            }
            "invite" | "knock" => record.count,
            "leave" | "ban" => {
                let Some(room) = RoomCtx::load(&state.storage, room_id)? else {
                    continue;
                };
                listed =
                    sent.rooms.contains_key(room_id) || removed_by_other(state, &room, record)?;
                record.count
            }
            _ => continue,
        };
        out.push(Entry {
            room_id,
            record,
            activity,
            listed,
        });
    }
    out.sort_unstable_by(|a, b| b.activity.cmp(&a.activity).then(a.room_id.cmp(b.room_id)));
    Ok(out)
}

/// Whether a leave or ban was someone else's doing to a user who had been in the room
/// (a rejected invite or a ban of a stranger is not news to show).
fn removed_by_other(state: &AppState, room: &RoomCtx, record: &MemberRecord) -> Result<bool> {
    let Some(pdu) = crate::rooms::load_pdu(state, &record.event_id)? else {
        return Ok(false);
    };
    let Some(user_id) = pdu.state_key.as_deref() else {
        return Ok(false);
    };
    if user_id == pdu.sender.as_str() {
        return Ok(false);
    }
    let before = crate::rooms::state::before_count(state, room, record.count)?;
    let previous = crate::rooms::state::membership_in(state, &before, user_id)?;
    Ok(matches!(previous.as_str(), "join" | "invite" | "knock"))
}

/// What the filters need to know of a room, computed only when a filter asks.
struct Facts<'a> {
    state: &'a AppState,
    user_id: &'a str,
    direct: Option<BTreeSet<String>>,
    space_children: HashMap<String, BTreeSet<String>>,
}

impl<'a> Facts<'a> {
    fn is_dm(&mut self, room_id: &str) -> Result<bool> {
        if self.direct.is_none() {
            self.direct = Some(direct_rooms(self.state, self.user_id)?);
        }
        Ok(self.direct.as_ref().is_some_and(|d| d.contains(room_id)))
    }

    fn children_of(&mut self, space: &str) -> Result<&BTreeSet<String>> {
        if !self.space_children.contains_key(space) {
            let children = space_children(self.state, self.user_id, space)?;
            self.space_children.insert(space.to_owned(), children);
        }
        Ok(&self.space_children[space])
    }
}

/// Rooms named in the user's `m.direct` account data.
pub fn direct_rooms(state: &AppState, user_id: &str) -> Result<BTreeSet<String>> {
    let Some(raw) = state.storage.account_data.get(user_id, None, "m.direct")? else {
        return Ok(BTreeSet::new());
    };
    let content: Value = serde_json::from_str(raw.get()).unwrap_or_default();
    Ok(content
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
        .filter_map(Value::as_array)
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect())
}

/// Rooms a joined space lists as `m.space.child` (with a `via`); nothing for a space
/// the user is not in.
fn space_children(state: &AppState, user_id: &str, space: &str) -> Result<BTreeSet<String>> {
    let Ok(space_id) = OwnedRoomId::try_from(space) else {
        return Ok(BTreeSet::new());
    };
    let joined = state
        .storage
        .rooms
        .membership
        .get(user_id, space)?
        .is_some_and(|r| r.membership == "join");
    let Some(room) = RoomCtx::load(&state.storage, &space_id)?.filter(|_| joined) else {
        return Ok(BTreeSet::new());
    };
    let (_, map) = crate::rooms::state::current(state, &room)?;
    Ok(crate::rooms::state::events_of(state, &map)?
        .into_iter()
        .filter(|pdu| pdu.kind.to_string() == "m.space.child")
        .filter(|pdu| {
            serde_json::from_str::<Value>(pdu.content.get())
                .ok()
                .is_some_and(|c| c["via"].as_array().is_some_and(|v| !v.is_empty()))
        })
        .filter_map(|pdu| pdu.state_key.clone())
        .collect())
}

/// A room's current state event, for the filters (read through the snapshot cache:
/// a filter may look at every room the user is in).
fn state_content(state: &AppState, room: &RoomCtx, kind: &str) -> Result<Option<Value>> {
    let Some(hash) = state.storage.rooms.state.current(room.short)? else {
        return Ok(None);
    };
    let map = state.storage.rooms.state.load_shared(hash)?;
    Ok(crate::rooms::state::event_in(state, &map, kind, "")?
        .map(|pdu| serde_json::from_str(pdu.content.get()).unwrap_or_default()))
}

fn matches(facts: &mut Facts<'_>, filters: &Filters, entry: &Entry<'_>) -> Result<bool> {
    let room_id = entry.room_id.as_str();
    if let Some(want) = filters.is_invited
        && want != (entry.record.membership == "invite")
    {
        return Ok(false);
    }
    if let Some(want) = filters.is_dm
        && want != facts.is_dm(room_id)?
    {
        return Ok(false);
    }
    if let Some(want) = filters.is_encrypted {
        let encrypted = match entry.room(facts.state)? {
            Some(room) => state_content(facts.state, &room, "m.room.encryption")?.is_some(),
            None => false,
        };
        if want != encrypted {
            return Ok(false);
        }
    }
    if filters.room_types.is_some() || filters.not_room_types.is_some() {
        let kind = match entry.room(facts.state)? {
            Some(room) => state_content(facts.state, &room, "m.room.create")?
                .and_then(|c| c["type"].as_str().map(str::to_owned)),
            None => None,
        };
        if let Some(types) = &filters.room_types
            && !types.contains(&kind)
        {
            return Ok(false);
        }
        if let Some(types) = &filters.not_room_types
            && types.contains(&kind)
        {
            return Ok(false);
        }
    }
    if let Some(spaces) = &filters.spaces {
        let mut found = false;
        for space in spaces {
            if facts.children_of(space)?.contains(room_id) {
                found = true;
                break;
            }
        }
        if !found {
            return Ok(false);
        }
    }
    if filters.tags.is_some() || filters.not_tags.is_some() {
        let tags = room_tags(facts.state, facts.user_id, room_id)?;
        if let Some(not) = &filters.not_tags
            && not.iter().any(|t| tags.contains(t))
        {
            return Ok(false);
        }
        if let Some(wanted) = &filters.tags
            && !wanted.iter().any(|t| tags.contains(t))
        {
            return Ok(false);
        }
    }
    Ok(true)
}

fn room_tags(state: &AppState, user_id: &str, room_id: &str) -> Result<BTreeSet<String>> {
    let Some(raw) = state
        .storage
        .account_data
        .get(user_id, Some(room_id), "m.tag")?
    else {
        return Ok(BTreeSet::new());
    };
    let content: Value = serde_json::from_str(raw.get()).unwrap_or_default();
    Ok(content["tags"]
        .as_object()
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default())
}

/// One list's outcome: how many rooms pass its filters, and the indices (into the
/// user's rooms) its ranges select.
pub struct ListWindow {
    pub count: usize,
    pub selected: Vec<usize>,
}

/// Applies every list's filters and ranges to the user's rooms.
pub fn windows(
    state: &AppState,
    user_id: &str,
    rooms: &[Entry<'_>],
    lists: &BTreeMap<String, ListConfig>,
) -> Result<BTreeMap<String, ListWindow>> {
    let mut facts = Facts {
        state,
        user_id,
        direct: None,
        space_children: HashMap::new(),
    };
    let mut out = BTreeMap::new();
    for (name, list) in lists {
        let mut filtered = Vec::new();
        for (index, entry) in rooms.iter().enumerate() {
            if entry.listed && matches(&mut facts, &list.filters, entry)? {
                filtered.push(index);
            }
        }
        let selected = match &list.ranges {
            None => filtered.clone(),
            Some(ranges) => {
                let mut picked = BTreeSet::new();
                for (start, end) in ranges {
                    let start = usize::try_from(*start).unwrap_or(usize::MAX);
                    let end = usize::try_from(*end).unwrap_or(usize::MAX);
                    if start < filtered.len() {
                        let end = end.min(filtered.len() - 1);
                        picked.extend(filtered[start..=end].iter().copied());
                    }
                }
                picked.into_iter().collect()
            }
        };
        out.insert(
            name.clone(),
            ListWindow {
                count: filtered.len(),
                selected,
            },
        );
    }
    Ok(out)
}
