//! Rooms an admin blocked: nobody on this server may join them or be invited to them.
//! A room can be blocked before this server knows it.
//!
//! Trees:
//! - `roomid_blocked`: `(room_id)` → [`Block`].

use serde::{Deserialize, Serialize};

use crate::codec::key;
use crate::engine::{Engine, Tree};
use crate::{Result, encode, get};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Block {
    /// The admin who blocked it.
    pub user_id: String,
    pub ts: u64,
}

#[derive(Clone)]
pub struct BlockedRooms {
    blocked: Tree,
}

impl BlockedRooms {
    pub(crate) fn open(engine: &Engine) -> Result<Self> {
        Ok(Self {
            blocked: engine.tree("roomid_blocked")?,
        })
    }

    /// Blocks the room; a room already blocked keeps its first block.
    pub fn block(&self, room_id: &str, block: &Block) -> Result<()> {
        self.blocked
            .compare_and_swap(&key((room_id,)), None, Some(&encode(block)))
            .map(|_| ())
    }

    pub fn unblock(&self, room_id: &str) -> Result<()> {
        self.blocked.take(&key((room_id,))).map(|_| ())
    }

    pub fn get(&self, room_id: &str) -> Result<Option<Block>> {
        get(&self.blocked, &key((room_id,)))
    }
}
