//! Rooms: events, state, membership and aliases.
//!
//! Room IDs, event IDs and `(type, state_key)` pairs are interned to `u64` short IDs
//! ([`short`]) so that the big trees have compact fixed-width keys.

pub mod aliases;
pub mod blocked;
pub mod directory;
pub mod membership;
pub mod outliers;
pub mod relations;
pub mod short;
pub mod state;
pub mod timeline;

use serde::{Deserialize, Serialize};

use crate::codec::key;
use crate::engine::{Batch, Engine, Tree};
use crate::{Result, encode, get};

/// Facts about a room that never change.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RoomMeta {
    pub version: String,
    pub short_id: u64,
    pub created_ts: u64,
}

#[derive(Clone)]
pub struct Rooms {
    /// `roomid_meta`: `(room_id)` → [`RoomMeta`].
    meta: Tree,
    pub short: short::ShortIds,
    pub timeline: timeline::Timeline,
    pub state: state::StateSnapshots,
    pub membership: membership::Membership,
    pub outliers: outliers::Outliers,
    pub aliases: aliases::Aliases,
    pub blocked: blocked::BlockedRooms,
    pub relations: relations::Relations,
    pub directory: directory::Directory,
}

impl Rooms {
    pub(crate) fn open(engine: &Engine) -> Result<Self> {
        let short = short::ShortIds::open(engine)?;
        Ok(Self {
            meta: engine.tree("roomid_meta")?,
            short: short.clone(),
            timeline: timeline::Timeline::open(engine)?,
            state: state::StateSnapshots::open(engine)?,
            membership: membership::Membership::open(engine, short)?,
            outliers: outliers::Outliers::open(engine)?,
            aliases: aliases::Aliases::open(engine)?,
            blocked: blocked::BlockedRooms::open(engine)?,
            relations: relations::Relations::open(engine)?,
            directory: directory::Directory::open(engine)?,
        })
    }

    pub fn meta(&self, room_id: &str) -> Result<Option<RoomMeta>> {
        get(&self.meta, &key((room_id,)))
    }

    /// Every room this server knows, by room ID.
    pub fn all(&self) -> Result<Vec<(String, RoomMeta)>> {
        self.meta
            .scan_prefix(&[])
            .map(|entry| {
                let (k, v) = entry?;
                let room_id = crate::codec::KeyReader::new(&k)
                    .str()
                    .map_err(crate::users::corrupt)?
                    .to_owned();
                Ok((room_id, crate::decode(&v)?))
            })
            .collect()
    }

    pub fn put_meta(&self, batch: &mut Batch, room_id: &str, meta: &RoomMeta) {
        batch.insert(&self.meta, key((room_id,)), encode(meta));
    }

    /// Forgets the room's facts (the last step of a purge).
    pub fn remove_meta(&self, batch: &mut Batch, room_id: &str) {
        batch.remove(&self.meta, key((room_id,)));
    }

    /// Records a new room unless its ID is taken; returns whether it was free. Of two
    /// concurrent claims of one ID exactly one succeeds (room version 12 derives the room
    /// ID from the create event, so two identical create events name the same room).
    pub fn claim(&self, room_id: &str, meta: &RoomMeta) -> Result<bool> {
        self.meta
            .compare_and_swap(&key((room_id,)), None, Some(&encode(meta)))
    }
}
