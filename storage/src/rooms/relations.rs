//! Relations between events (`m.relates_to`): edits, reactions, thread replies,
//! references.
//!
//! Trees:
//! - `eventid_relation`: `(target event_id, count u64)` → [`Relation`]: the events that
//!   relate to a target, in stream order.
//! - `roomid_threadroot`: `(short room u64, root event_id)` → `count u64` of the latest
//!   reply, for the room's thread list.

use serde::{Deserialize, Serialize};

use crate::codec::{KeyReader, key};
use crate::engine::{Batch, Engine, Tree};
use crate::users::corrupt;
use crate::{Result, decode, encode};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Relation {
    pub event_id: String,
    pub rel_type: String,
    /// The relating event's type.
    pub kind: String,
    pub sender: String,
}

#[derive(Clone)]
pub struct Relations {
    children: Tree,
    threads: Tree,
}

impl Relations {
    pub(crate) fn open(engine: &Engine) -> Result<Self> {
        Ok(Self {
            children: engine.tree("eventid_relation")?,
            threads: engine.tree("roomid_threadroot")?,
        })
    }

    pub fn add(&self, batch: &mut Batch, target: &str, count: u64, relation: &Relation) {
        batch.insert(&self.children, key((target, count)), encode(relation));
    }

    /// Relations to `target` with positions in `[from, to)`, oldest first.
    pub fn children(&self, target: &str, from: u64, to: u64) -> Result<Vec<(u64, Relation)>> {
        let start = key((target, from));
        let end = key((target, to));
        self.children
            .range(start..end)
            .map(|entry| {
                let (k, v) = entry?;
                let mut reader = KeyReader::new(&k);
                reader.str().map_err(corrupt)?;
                Ok((reader.u64().map_err(corrupt)?, decode(&v)?))
            })
            .collect()
    }

    pub fn touch_thread(&self, batch: &mut Batch, room: u64, root: &str, count: u64) {
        batch.insert(&self.threads, key((room, root)), key((count,)));
    }

    /// Thread roots of a room with the position of their latest reply.
    pub fn threads(&self, room: u64) -> Result<Vec<(String, u64)>> {
        self.threads
            .scan_prefix(&key((room,)))
            .map(|entry| {
                let (k, v) = entry?;
                let mut reader = KeyReader::new(&k);
                reader.u64().map_err(corrupt)?;
                let root = reader.str().map_err(corrupt)?.to_owned();
                Ok((root, KeyReader::new(&v).u64().map_err(corrupt)?))
            })
            .collect()
    }
}

/// Room purges.
impl Relations {
    /// Forgets what relates to an event.
    pub fn remove_target(&self, batch: &mut Batch, target: &str) -> Result<()> {
        for entry in self.children.scan_prefix(&key((target,))) {
            batch.remove(&self.children, entry?.0);
        }
        Ok(())
    }

    /// Forgets the room's thread list.
    pub fn remove_threads(&self, batch: &mut Batch, room: u64) -> Result<()> {
        for entry in self.threads.scan_prefix(&key((room,))) {
            batch.remove(&self.threads, entry?.0);
        }
        Ok(())
    }
}
