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
    rules: Mutex<HashMap<String, UserRules>>,
    /// Bumped by every [`PushCache::forget_rules`].
    rule_changes: AtomicU64,
    /// Per room: the state snapshot the names were read at, and the names.
    names: Mutex<HashMap<String, RoomNames>>,
}

/// A user's parsed rules, and whether a membership event about someone else can ever
/// notify them (see [`member_events_silent`]).
#[derive(Clone)]
struct UserRules {
    rules: Arc<Ruleset>,
    member_events_silent: bool,
}

/// A room's state snapshot, and members' display names read at it.
type RoomNames = (u64, HashMap<String, String>);

/// Most users' rules, and most rooms' names, kept (all are dropped when full).
const ENTRIES: usize = 8192;

impl PushCache {
    /// The user's push rules (their own, or the spec's defaults).
    pub fn rules(&self, state: &AppState, user_id: &UserId) -> Result<Arc<Ruleset>> {
        Ok(self.user_rules(state, user_id.as_str())?.rules)
    }

    fn user_rules(&self, state: &AppState, user_id: &str) -> Result<UserRules> {
        let changes = self.rule_changes.load(SeqCst);
        if let Some(rules) = lock(&self.rules).get(user_id) {
            return Ok(rules.clone());
        }
        let parsed = match <&UserId>::try_from(user_id) {
            Ok(user) => crate::push::rules::load(state, user)?,
            Err(_) => Ruleset::new(),
        };
        let rules = UserRules {
            member_events_silent: member_events_silent(&parsed),
            rules: Arc::new(parsed),
        };
        let mut cached = lock(&self.rules);
        if self.rule_changes.load(SeqCst) == changes {
            if cached.len() >= ENTRIES {
                cached.clear();
            }
            cached.insert(user_id.to_owned(), rules.clone());
        }
        Ok(rules)
    }

    /// Of these users, those whom a membership event about someone else might notify:
    /// for every user on the default rules none, so a join into a room of thousands
    /// evaluates no one's rules. Takes the lock once for all users already cached.
    pub fn may_notify_of_member_events<'a>(
        &self,
        state: &AppState,
        users: Vec<&'a str>,
    ) -> Result<Vec<&'a str>> {
        let mut out = Vec::new();
        let mut unknown = Vec::new();
        {
            let cached = lock(&self.rules);
            for user in users {
                match cached.get(user) {
                    Some(rules) if rules.member_events_silent => {}
                    Some(_) => out.push(user),
                    None => unknown.push(user),
                }
            }
        }
        for user in unknown {
            if !self.user_rules(state, user)?.member_events_silent {
                out.push(user);
            }
        }
        Ok(out)
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

/// Whether no `m.room.member` event about another user can notify someone with these
/// rules. `.m.rule.member_event` matches every membership event, so nothing after it is
/// reached; before it, each enabled rule either cannot notify (whatever its conditions)
/// or is `.m.rule.invite_for_me`, which matches only an invite of the user themselves
/// (whose rules are always evaluated). Walks the override rules in evaluation order.
fn member_events_silent(rules: &Ruleset) -> bool {
    let notifies = |actions: &[ruma::push::Action]| actions.iter().any(|a| a.should_notify());
    for rule in rules.override_.iter().filter(|r| r.enabled) {
        match rule.rule_id.as_str() {
            ".m.rule.member_event" => return !notifies(&rule.actions),
            ".m.rule.invite_for_me" => {}
            _ if notifies(&rule.actions) => return false,
            _ => {}
        }
    }
    false
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
