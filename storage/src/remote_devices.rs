//! Device lists of other servers' users, as last fetched from their servers: reused by
//! `/keys/query` until an `m.device_list_update` (or signing-key update) for the user
//! arrives, which drops the entry so that the next query asks the user's server again.
//!
//! Tree `userid_remotedevices`: `(user_id)` → `{"device_keys": {…}, "master_key": …,
//! "self_signing_key": …}` as the user's server answered.

use serde_json::Value;

use crate::codec::key;
use crate::engine::{Engine, Tree};
use crate::{Result, encode, get};

#[derive(Clone)]
pub struct RemoteDevices {
    lists: Tree,
}

impl RemoteDevices {
    pub(crate) fn open(engine: &Engine) -> Result<Self> {
        Ok(Self {
            lists: engine.tree("userid_remotedevices")?,
        })
    }

    pub fn get(&self, user_id: &str) -> Result<Option<Value>> {
        get(&self.lists, &key((user_id,)))
    }

    pub fn put(&self, user_id: &str, keys: &Value) -> Result<()> {
        self.lists.insert(&key((user_id,)), &encode(keys))
    }

    /// Forgets a user's list (it changed): the next query fetches it again.
    pub fn invalidate(&self, user_id: &str) -> Result<()> {
        self.lists.take(&key((user_id,))).map(|_| ())
    }
}
