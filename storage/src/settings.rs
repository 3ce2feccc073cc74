//! Server-wide settings an admin changes at runtime (they override the configuration
//! file's value until removed).
//!
//! Tree `settingname_value`: `(name)` → the setting as JSON.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec::key;
use crate::engine::{Batch, Engine, Tree};
use crate::{Result, encode, get};

/// The runtime federation allow/deny lists (see the server's `rooms::acl`).
pub const FEDERATION_RULES: &str = "federation_rules";

#[derive(Clone)]
pub struct Settings {
    values: Tree,
}

impl Settings {
    pub(crate) fn open(engine: &Engine) -> Result<Self> {
        Ok(Self {
            values: engine.tree("settingname_value")?,
        })
    }

    pub fn get<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>> {
        get(&self.values, &key((name,)))
    }

    pub fn put<T: Serialize>(&self, batch: &mut Batch, name: &str, value: &T) {
        batch.insert(&self.values, key((name,)), encode(value));
    }

    pub fn remove(&self, batch: &mut Batch, name: &str) {
        batch.remove(&self.values, key((name,)));
    }
}
