//! Who is in which room, both ways.
//!
//! Trees:
//! - `useridroomid_membership`: `(user_id, room_id)` → [`MemberRecord`]
//! - `roomiduserid_membership`: `(room_id, user_id)` → [`MemberRecord`]

use serde::{Deserialize, Serialize};

use crate::codec::{KeyReader, key};
use crate::engine::{Batch, Engine, Tree};
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
}

impl Membership {
    pub(crate) fn open(engine: &Engine) -> Result<Self> {
        Ok(Self {
            by_user: engine.tree("useridroomid_membership")?,
            by_room: engine.tree("roomiduserid_membership")?,
        })
    }

    pub fn set(&self, batch: &mut Batch, room_id: &str, user_id: &str, record: &MemberRecord) {
        batch.insert(&self.by_user, key((user_id, room_id)), encode(record));
        batch.insert(&self.by_room, key((room_id, user_id)), encode(record));
    }

    /// Drops a room from the user's list (after leaving: `/forget`).
    pub fn forget(&self, batch: &mut Batch, room_id: &str, user_id: &str) {
        batch.remove(&self.by_user, key((user_id, room_id)));
    }

    pub fn get(&self, user_id: &str, room_id: &str) -> Result<Option<MemberRecord>> {
        get(&self.by_user, &key((user_id, room_id)))
    }

    /// Every room the user has a (not forgotten) membership in.
    pub fn rooms(&self, user_id: &str) -> Result<Vec<(String, MemberRecord)>> {
        Self::scan(&self.by_user, user_id)
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
