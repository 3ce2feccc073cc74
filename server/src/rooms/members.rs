//! Who is in a room, cached per state snapshot and carried forward by each write.
//!
//! Every `/sync` (room summaries, device-list tracking, presence) and every new event
//! (wake-ups, push rules, federation destinations) asks who is in a room. Membership
//! records change in the same atomic write as the room's current state, so a list read
//! while the room's current state was snapshot `H` stays right for as long as the current
//! state is `H`. A write that moves the room from `H` to `H'` hands the users it changed
//! to [`MembersCache::advance`], which updates the cached list in place (copying it only
//! while a reader still holds it) instead of dropping it: re-reading every record after
//! every join made a join cost grow with the room. The one change made outside the
//! room's state (an invite or knock received for a room this server also holds) forgets
//! the room explicitly.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

use citadel_storage::rooms::membership::MemberRecord;

use crate::api::error::Result;
use crate::app::AppState;

pub type Members = Arc<RoomMembers>;

/// Every user with a membership in one room, and the servers with joined members.
/// Cheap to copy (shared keys and records): a writer copies it when a reader still holds
/// the list it advances.
#[derive(Clone, Default)]
pub struct RoomMembers {
    records: BTreeMap<Arc<str>, Arc<MemberRecord>>,
    /// Server name → how many of its users are joined.
    joined_servers: BTreeMap<String, usize>,
    joined: usize,
    invited: usize,
}

impl RoomMembers {
    fn from_records(records: Vec<(String, MemberRecord)>) -> Self {
        let mut members = Self::default();
        for (user, record) in records {
            members.set(user, record);
        }
        members
    }

    /// Users and their records, ordered by user ID.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &MemberRecord)> {
        self.records
            .iter()
            .map(|(user, record)| (&**user, &**record))
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The user's record, if they ever had a membership here.
    pub fn get(&self, user_id: &str) -> Option<&MemberRecord> {
        self.records.get(user_id).map(|record| &**record)
    }

    /// How many users are joined.
    pub fn joined_count(&self) -> usize {
        self.joined
    }

    /// How many users are invited.
    pub fn invited_count(&self) -> usize {
        self.invited
    }

    /// The servers with at least one joined member.
    pub fn joined_servers(&self) -> impl Iterator<Item = &str> {
        self.joined_servers.keys().map(String::as_str)
    }

    fn set(&mut self, user: String, record: MemberRecord) {
        let was = |m: &str| {
            self.records
                .get(user.as_str())
                .is_some_and(|r| r.membership == m)
        };
        let (was_joined, was_invited) = (was("join"), was("invite"));
        let joined = record.membership == "join";
        self.joined = self.joined + usize::from(joined) - usize::from(was_joined);
        self.invited =
            self.invited + usize::from(record.membership == "invite") - usize::from(was_invited);
        let server = server_of(&user);
        match (was_joined, joined) {
            (false, true) => *self.joined_servers.entry(server.to_owned()).or_default() += 1,
            (true, false) => {
                if let Some(count) = self.joined_servers.get_mut(server) {
                    *count -= 1;
                    if *count == 0 {
                        self.joined_servers.remove(server);
                    }
                }
            }
            _ => {}
        }
        self.records.insert(Arc::from(user), Arc::new(record));
    }
}

/// The server part of a user ID (everything after the first `:`).
fn server_of(user_id: &str) -> &str {
    user_id.split_once(':').map_or("", |(_, server)| server)
}

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
        self.lock().remove(room_id);
    }

    /// A write committed moved the room's current state from snapshot `from` to `to`,
    /// changing these users' records: a list cached at `from` becomes the list at `to`.
    /// Without one, nothing is cached (the next reader reads the records).
    pub fn advance(
        &self,
        room_id: &str,
        from: Option<u64>,
        to: u64,
        changed: impl IntoIterator<Item = (String, MemberRecord)>,
    ) {
        let mut rooms = self.lock();
        let Some((at, mut members)) = rooms.remove(room_id) else {
            return;
        };
        if at == to {
            // A reader already read the records as they are now.
            rooms.insert(room_id.to_owned(), (at, members));
            return;
        }
        if Some(at) != from {
            return;
        }
        let list = Arc::make_mut(&mut members);
        for (user, record) in changed {
            list.set(user, record);
        }
        rooms.insert(room_id.to_owned(), (to, members));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u64, Members)>> {
        self.rooms.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Every user with a membership in the room.
pub fn of(state: &AppState, room_id: &str) -> Result<Members> {
    let storage = &state.storage;
    let short = storage.rooms.short.room_if_known(room_id)?;
    let current_hash = || match short {
        Some(short) => storage.rooms.state.current(short),
        None => Ok(None),
    };
    let current = current_hash()?;
    let cache = &state.members_cache;
    if let Some(hash) = current
        && let Some((known, members)) = cache.lock().get(room_id)
        && *known == hash
    {
        return Ok(Arc::clone(members));
    }
    let forgets = cache.forgets.load(SeqCst);
    let members: Members = Arc::new(RoomMembers::from_records(
        storage.rooms.membership.members(room_id)?,
    ));
    if let Some(hash) = current {
        let mut rooms = cache.lock();
        // Kept only if the room is still at the snapshot the records were read for: a
        // write committed meanwhile has already moved the cache on (or will), and an
        // older list must not replace a newer one.
        if current_hash()? == Some(hash) && cache.forgets.load(SeqCst) == forgets {
            if rooms.len() >= ROOMS {
                rooms.clear();
            }
            rooms.insert(room_id.to_owned(), (hash, Arc::clone(&members)));
        }
    }
    Ok(members)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(membership: &str) -> MemberRecord {
        MemberRecord {
            membership: membership.into(),
            event_id: "$e".into(),
            count: 1,
        }
    }

    #[test]
    fn joined_servers_follow_every_change() {
        let mut members = RoomMembers::from_records(vec![
            ("@a:one".into(), record("join")),
            ("@b:one".into(), record("join")),
            ("@c:two".into(), record("invite")),
        ]);
        assert_eq!(members.joined_servers().collect::<Vec<_>>(), ["one"]);
        assert_eq!((members.joined_count(), members.invited_count()), (2, 1));
        members.set("@c:two".into(), record("join"));
        members.set("@a:one".into(), record("leave"));
        assert_eq!(members.joined_servers().collect::<Vec<_>>(), ["one", "two"]);
        members.set("@b:one".into(), record("ban"));
        assert_eq!(members.joined_servers().collect::<Vec<_>>(), ["two"]);
        // A profile change (join → join) counts the user once.
        members.set("@c:two".into(), record("join"));
        members.set("@c:two".into(), record("leave"));
        assert_eq!(members.joined_servers().count(), 0);
        assert_eq!((members.joined_count(), members.invited_count()), (0, 0));
        assert_eq!(members.len(), 3);
    }

    #[test]
    fn advance_carries_a_list_only_from_the_snapshot_it_was_read_at() {
        let cache = MembersCache::default();
        let list = Arc::new(RoomMembers::from_records(vec![(
            "@a:one".into(),
            record("join"),
        )]));
        cache.lock().insert("!r".into(), (1, Arc::clone(&list)));
        // A reader still holds the list: it is copied, and the reader's copy is unchanged.
        cache.advance("!r", Some(1), 2, [("@b:one".into(), record("join"))]);
        assert_eq!(list.len(), 1);
        let (at, now) = cache.lock().get("!r").cloned().unwrap();
        assert_eq!((at, now.len()), (2, 2));
        // From a snapshot the cache is not at, the entry is dropped, not guessed at.
        cache.advance("!r", Some(7), 8, [("@c:one".into(), record("join"))]);
        assert!(cache.lock().get("!r").is_none());
    }
}
