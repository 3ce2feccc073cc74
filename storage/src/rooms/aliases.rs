//! Room aliases.
//!
//! Trees:
//! - `alias_roomid`: `(alias)` → [`AliasRecord`]
//! - `roomid_alias`: `(room_id, alias)` → empty

use serde::{Deserialize, Serialize};

use crate::codec::{KeyReader, key};
use crate::engine::{Engine, Tree};
use crate::users::corrupt;
use crate::{Result, decode, encode, get};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AliasRecord {
    pub room_id: String,
    pub creator: String,
}

#[derive(Clone)]
pub struct Aliases {
    by_alias: Tree,
    by_room: Tree,
}

impl Aliases {
    pub(crate) fn open(engine: &Engine) -> Result<Self> {
        Ok(Self {
            by_alias: engine.tree("alias_roomid")?,
            by_room: engine.tree("roomid_alias")?,
        })
    }

    /// Claims the alias for the room; false if it is taken.
    pub fn create(&self, alias: &str, record: &AliasRecord) -> Result<bool> {
        if !self
            .by_alias
            .compare_and_swap(&key((alias,)), None, Some(&encode(record)))?
        {
            return Ok(false);
        }
        self.by_room
            .insert(&key((record.room_id.as_str(), alias)), &[])?;
        Ok(true)
    }

    pub fn get(&self, alias: &str) -> Result<Option<AliasRecord>> {
        get(&self.by_alias, &key((alias,)))
    }

    pub fn remove(&self, alias: &str) -> Result<Option<AliasRecord>> {
        let Some(bytes) = self.by_alias.take(&key((alias,)))? else {
            return Ok(None);
        };
        let record: AliasRecord = decode(&bytes)?;
        self.by_room.take(&key((record.room_id.as_str(), alias)))?;
        Ok(Some(record))
    }

    pub fn for_room(&self, room_id: &str) -> Result<Vec<String>> {
        self.by_room
            .scan_prefix(&key((room_id,)))
            .map(|entry| {
                let (k, _) = entry?;
                let mut reader = KeyReader::new(&k);
                reader.str().map_err(corrupt)?;
                Ok(reader.str().map_err(corrupt)?.to_owned())
            })
            .collect()
    }
}
