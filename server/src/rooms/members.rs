//! Who is in a room, cached per state snapshot.
//!
//! Every `/sync` (room summaries, device-list tracking, presence) and every new event
//! (wake-ups, push rules) asks who is in a room; reading and decoding every membership
//! record each time was a tenth of a woken `/sync`. Membership records change in the
//! same atomic write as the room's current state, so a list read while the room's
//! current state was snapshot `H` stays right for as long as the current state is `H`.
//! The one change made outside the room's state (an invite or knock received for a room
//! this server also holds) forgets the room explicitly.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

use citadel_storage::rooms::membership::MemberRecord;

use crate::api::error::Result;
use crate::app::AppState;

pub type Members = Arc<Vec<(String, MemberRecord)>>;

#[derive(Default)]
pub struct MembersCache {
    rooms: Mutex<HashMap<String, (u64, Members)>>,
    /// Bumped by every [`MembersCache::forget`]: a list read across one is not kept.
    forgets: AtomicU64,
}

/// Most rooms kept.
const ROOMS: usize = 4096;

impl MembersCache {
    /// Drops a room whose memberships changed outside its state.
    pub fn forget(&self, room_id: &str) {
        self.forgets.fetch_add(1, SeqCst);
        self.rooms
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(room_id);
    }
}

/// Every user with a membership in the room.
pub fn of(state: &AppState, room_id: &str) -> Result<Members> {
    let storage = &state.storage;
    let current = match storage.rooms.short.room_if_known(room_id)? {
        Some(short) => storage.rooms.state.current(short)?,
        None => None,
    };
    let cache = &state.members_cache;
    if let Some(hash) = current
        && let Some((known, members)) = cache
            .rooms
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(room_id)
        && *known == hash
    {
        return Ok(Arc::clone(members));
    }
    let forgets = cache.forgets.load(SeqCst);
    let members: Members = Arc::new(storage.rooms.membership.members(room_id)?);
    if let Some(hash) = current {
        let mut rooms = cache.rooms.lock().unwrap_or_else(|p| p.into_inner());
        if cache.forgets.load(SeqCst) == forgets {
            if rooms.len() >= ROOMS {
                rooms.clear();
            }
            rooms.insert(room_id.to_owned(), (hash, Arc::clone(&members)));
        }
    }
    Ok(members)
}
