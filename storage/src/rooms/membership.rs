//! Who is in which room, both ways.
//!
//! Trees:
//! - `useridroomid_membership`: `(user_id, room_id)` → [`MemberRecord`]
//! - `roomiduserid_membership`: `(room_id, user_id)` → [`MemberRecord`]

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::codec::{KeyReader, key};
use crate::engine::{Batch, Engine, Tree};
use crate::memo::Memo;
use crate::rooms::short::ShortIds;
use crate::users::corrupt;
use crate::{Result, decode, encode, get};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct MemberRecord {
    /// `join`, `invite`, `leave`, `ban` or `knock`.
    pub membership: String,
    /// The `m.room.member` event that set it.
    pub event_id: String,
    /// Its stream position.
    pub count: u64,
}

#[derive(Clone)]
pub struct Membership {
    by_user: Tree,
    by_room: Tree,
    /// Each user's rooms: every sync of either API walks them.
    rooms_of: Arc<Memo<String, Arc<UserRooms>>>,
    short: ShortIds,
}

/// A user's rooms and their memberships, ordered by room ID.
pub type UserRooms = Vec<UserRoom>;

pub struct UserRoom {
    pub room_id: String,
    pub record: MemberRecord,
    /// The room's short ID; `None` for a room this server only knows an invite or
    /// knock for.
    pub short: Option<u64>,
}

impl Membership {
    pub(crate) fn open(engine: &Engine, short: ShortIds) -> Result<Self> {
        Ok(Self {
            by_user: engine.tree("useridroomid_membership")?,
            by_room: engine.tree("roomiduserid_membership")?,
            rooms_of: Arc::new(Memo::new(1024)),
            short,
        })
    }

    pub fn set(&self, batch: &mut Batch, room_id: &str, user_id: &str, record: &MemberRecord) {
        batch.insert(&self.by_user, key((user_id, room_id)), encode(record));
        batch.insert(&self.by_room, key((room_id, user_id)), encode(record));
        self.forget_cached(batch, user_id);
    }

    fn forget_cached(&self, batch: &mut Batch, user_id: &str) {
        let (memo, user_id) = (self.rooms_of.clone(), user_id.to_owned());
        batch.after_commit(move || memo.changed(user_id.as_str(), |_| false));
    }

    /// Drops a room from the user's list (after leaving: `/forget`).
    pub fn forget(&self, batch: &mut Batch, room_id: &str, user_id: &str) {
        batch.remove(&self.by_user, key((user_id, room_id)));
        self.forget_cached(batch, user_id);
    }

    pub fn get(&self, user_id: &str, room_id: &str) -> Result<Option<MemberRecord>> {
        get(&self.by_user, &key((user_id, room_id)))
    }

    /// Every room the user has a (not forgotten) membership in.
    pub fn rooms(&self, user_id: &str) -> Result<Vec<(String, MemberRecord)>> {
        Ok(self
            .rooms_shared(user_id)?
            .iter()
            .map(|r| (r.room_id.clone(), r.record.clone()))
            .collect())
    }

    /// [`Membership::rooms`] without the copy.
    pub fn rooms_shared(&self, user_id: &str) -> Result<Arc<UserRooms>> {
        let rooms = self.rooms_of.get_or_load(user_id, || {
            let rooms = Self::scan(&self.by_user, user_id)?
                .into_iter()
                .map(|(room_id, record)| {
                    let short = self.short.room_if_known(&room_id)?;
                    Ok(UserRoom {
                        room_id,
                        record,
                        short,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            Ok::<_, crate::StorageError>(Some(Arc::new(rooms)))
        })?;
        Ok(rooms.unwrap_or_default())
    }

    /// Every user with a membership in the room.
    pub fn members(&self, room_id: &str) -> Result<Vec<(String, MemberRecord)>> {
        Self::scan(&self.by_room, room_id)
    }

    fn scan(tree: &Tree, first: &str) -> Result<Vec<(String, MemberRecord)>> {
        tree.scan_prefix(&key((first,)))
            .map(|entry| {
                let (k, v) = entry?;
                let mut reader = KeyReader::new(&k);
                reader.str().map_err(corrupt)?;
                Ok((reader.str().map_err(corrupt)?.to_owned(), decode(&v)?))
            })
            .collect()
    }
}

/// Room purges.
impl Membership {
    /// Forgets every membership in the room, on both sides; returns the users it had.
    pub fn remove_room(&self, batch: &mut Batch, room_id: &str) -> Result<Vec<String>> {
        let users: Vec<String> = self.members(room_id)?.into_iter().map(|(u, _)| u).collect();
        for user_id in &users {
            batch.remove(&self.by_room, key((room_id, user_id.as_str())));
            batch.remove(&self.by_user, key((user_id.as_str(), room_id)));
            self.forget_cached(batch, user_id);
        }
        Ok(users)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(membership: &str, count: u64) -> MemberRecord {
        MemberRecord {
            membership: membership.into(),
            event_id: format!("$e{count}"),
            count,
        }
    }

    #[test]
    fn the_remembered_room_list_follows_every_change() {
        let (_dir, s) = crate::test_storage();
        let m = &s.rooms.membership;
        let short = s.rooms.short.room("!a:x").unwrap();
        let mut b = s.batch();
        m.set(&mut b, "!a:x", "@u:x", &record("join", 1));
        m.set(&mut b, "!remote:y", "@u:x", &record("invite", 2));
        s.apply(b).unwrap();
        let rooms = m.rooms_shared("@u:x").unwrap();
        assert_eq!(rooms.len(), 2);
        assert_eq!(rooms[0].short, Some(short));
        assert_eq!(rooms[1].short, None);

        let mut b = s.batch();
        m.set(&mut b, "!a:x", "@u:x", &record("leave", 3));
        s.apply(b).unwrap();
        assert_eq!(m.rooms("@u:x").unwrap()[0].1, record("leave", 3));
        let mut b = s.batch();
        m.forget(&mut b, "!a:x", "@u:x");
        s.apply(b).unwrap();
        let rooms = m.rooms("@u:x").unwrap();
        assert_eq!(rooms.len(), 1);
        assert_eq!(rooms[0].0, "!remote:y");
    }
}
