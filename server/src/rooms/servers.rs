//! Which servers share a room, and keeping the membership index in step with the room's
//! current state (which state resolution may change in several places at once).

use std::collections::BTreeSet;

use citadel_federation::pdu::Pdu;
use citadel_storage::Batch;
use citadel_storage::rooms::membership::MemberRecord;
use citadel_storage::rooms::state::StateMap;
use ruma::RoomId;

use crate::api::error::Result;
use crate::app::AppState;
use crate::rooms::state::content_str;
use crate::rooms::{RoomCtx, load_pdu};

/// The servers with at least one joined member in the room (this one included).
pub fn in_room(state: &AppState, room_id: &RoomId) -> Result<BTreeSet<String>> {
    Ok(crate::rooms::members::of(state, room_id.as_str())?
        .joined_servers()
        .map(str::to_owned)
        .collect())
}

/// Whether `server` has a joined member in the room.
pub fn is_in_room(state: &AppState, room_id: &RoomId, server: &str) -> Result<bool> {
    Ok(in_room(state, room_id)?.contains(server))
}

/// Records the membership of every user whose `m.room.member` event differs between the
/// old and the new current state; returns those users and their new records. `writing`
/// is the event being written in the same batch (not readable from storage yet).
pub fn update_memberships(
    state: &AppState,
    batch: &mut Batch,
    room: &RoomCtx,
    writing: &Pdu,
    old: &StateMap,
    new: &StateMap,
    count: u64,
) -> Result<Vec<(String, MemberRecord)>> {
    let short = &state.storage.rooms.short;
    let mut changed = Vec::new();
    for (key, event) in citadel_storage::rooms::state::diff(old, new).0 {
        let Some((kind, user)) = short.state_key_pair(key)? else {
            continue;
        };
        if kind != "m.room.member" {
            continue;
        }
        let Some(event_id) = short.event_id(event)? else {
            continue;
        };
        let loaded;
        let pdu: &Pdu = if event_id == writing.event_id.as_str() {
            writing
        } else {
            match load_pdu(state, &event_id)? {
                Some(pdu) => {
                    loaded = pdu;
                    &loaded
                }
                None => continue,
            }
        };
        let membership = content_str(pdu, "membership").unwrap_or_else(|| "leave".into());
        // A profile change (join → join) is not a new membership: the record keeps the
        // position where the membership began, so syncs do not treat the room as newly
        // joined (full state, a reset timeline) every time the user renames themselves.
        let count = match state
            .storage
            .rooms
            .membership
            .get(&user, room.room_id.as_str())?
        {
            Some(previous) if previous.membership == membership => previous.count,
            _ => count,
        };
        let record = MemberRecord {
            membership,
            event_id,
            count,
        };
        state
            .storage
            .rooms
            .membership
            .set(batch, room.room_id.as_str(), &user, &record);
        changed.push((user, record));
    }
    Ok(changed)
}
