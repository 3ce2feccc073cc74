//! Sync filters uploaded by clients (`POST /user/{userId}/filter`).
//!
//! Tree `useridfilterid_filter`: `(user_id, filter_id)` → the filter JSON.

use serde_json::value::RawValue;

use crate::codec::key;
use crate::engine::{Engine, Tree};
use crate::{Result, StorageError};

#[derive(Clone)]
pub struct Filters {
    filters: Tree,
}

impl Filters {
    pub(crate) fn open(engine: &Engine) -> Result<Self> {
        Ok(Self {
            filters: engine.tree("useridfilterid_filter")?,
        })
    }

    pub fn put(&self, user_id: &str, filter_id: &str, filter: &RawValue) -> Result<()> {
        self.filters
            .insert(&key((user_id, filter_id)), filter.get().as_bytes())
    }

    pub fn get(&self, user_id: &str, filter_id: &str) -> Result<Option<Box<RawValue>>> {
        self.filters
            .get(&key((user_id, filter_id)))?
            .map(|bytes| {
                let text =
                    String::from_utf8(bytes).map_err(|e| StorageError::Corrupt(e.to_string()))?;
                RawValue::from_string(text).map_err(|e| StorageError::Corrupt(e.to_string()))
            })
            .transpose()
    }
}
