//! What evaluating an event's push rules asks for every member, kept between events:
//! each user's parsed rule set, and each member's display name per room state.
//!
//! Both were read and parsed again for every member on every event (a tenth of the
//! server's time in the send benchmark). A display name is part of the room's state, so a
//! name read while the current state is snapshot `H` stays right while it is `H`. Rules
//! change only through [`crate::push::rules::save`], which forgets the user's entry once
//! the new rules are committed; a rule set read across such a change is not kept.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

use ruma::UserId;
use ruma::push::Ruleset;

use crate::api::error::Result;
use crate::app::AppState;

#[derive(Default)]
pub struct PushCache {
    rules: Mutex<HashMap<String, Arc<Ruleset>>>,
    /// Bumped by every [`PushCache::forget_rules`].
    rule_changes: AtomicU64,
    /// Per room: the state snapshot the names were read at, and the names.
    names: Mutex<HashMap<String, RoomNames>>,
}

/// A room's state snapshot, and members' display names read at it.
type RoomNames = (u64, HashMap<String, String>);

/// Most users' rules, and most rooms' names, kept (all are dropped when full).
const ENTRIES: usize = 8192;

impl PushCache {
    /// The user's push rules (their own, or the spec's defaults).
    pub fn rules(&self, state: &AppState, user_id: &UserId) -> Result<Arc<Ruleset>> {
        let changes = self.rule_changes.load(SeqCst);
        if let Some(rules) = lock(&self.rules).get(user_id.as_str()) {
            return Ok(Arc::clone(rules));
        }
        let rules = Arc::new(crate::push::rules::load(state, user_id)?);
        let mut cached = lock(&self.rules);
        if self.rule_changes.load(SeqCst) == changes {
            if cached.len() >= ENTRIES {
                cached.clear();
            }
            cached.insert(user_id.as_str().to_owned(), Arc::clone(&rules));
        }
        Ok(rules)
    }

    /// Drops the user's rules; called after new ones are committed.
    pub fn forget_rules(&self, user_id: &UserId) {
        self.rule_changes.fetch_add(1, SeqCst);
        lock(&self.rules).remove(user_id.as_str());
    }

    /// The member's display name in the room at state snapshot `snapshot`, read with
    /// `read` when not known yet.
    pub fn display_name(
        &self,
        room_id: &str,
        snapshot: u64,
        user_id: &str,
        read: impl FnOnce() -> Result<String>,
    ) -> Result<String> {
        if let Some((at, names)) = lock(&self.names).get(room_id)
            && *at == snapshot
            && let Some(name) = names.get(user_id)
        {
            return Ok(name.clone());
        }
        let name = read()?;
        let mut rooms = lock(&self.names);
        if rooms.len() >= ENTRIES && !rooms.contains_key(room_id) {
            rooms.clear();
        }
        let entry = rooms
            .entry(room_id.to_owned())
            .or_insert_with(|| (snapshot, HashMap::new()));
        // A new snapshot replaces the room's names: each is kept only with the snapshot
        // it was read at.
        if entry.0 != snapshot {
            *entry = (snapshot, HashMap::new());
        }
        entry.1.insert(user_id.to_owned(), name.clone());
        Ok(name)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
