//! The published room directory.
//!
//! Tree `roomid_published`: `(room_id)` → empty, for every room listed in `/publicRooms`.

use crate::Result;
use crate::codec::{KeyReader, key};
use crate::engine::{Engine, Tree};
use crate::users::corrupt;

#[derive(Clone)]
pub struct Directory {
    published: Tree,
}

impl Directory {
    pub(crate) fn open(engine: &Engine) -> Result<Self> {
        Ok(Self {
            published: engine.tree("roomid_published")?,
        })
    }

    pub fn set_published(&self, room_id: &str, published: bool) -> Result<()> {
        if published {
            self.published.insert(&key((room_id,)), &[])
        } else {
            self.published.take(&key((room_id,))).map(|_| ())
        }
    }

    pub fn is_published(&self, room_id: &str) -> Result<bool> {
        self.published.contains(&key((room_id,)))
    }

    pub fn published(&self) -> Result<Vec<String>> {
        self.published
            .scan_prefix(&[])
            .map(|entry| Ok(KeyReader::new(&entry?.0).str().map_err(corrupt)?.to_owned()))
            .collect()
    }
}
