//! The server's own signing keys (and, later, cached keys of remote servers).
//!
//! Tree `keyid_ownsigningkey`: `(key_id)` → [`OwnSigningKey`] (the key pair as PKCS#8 DER).

use serde::{Deserialize, Serialize};

use crate::codec::{KeyReader, key};
use crate::engine::{Engine, Tree};
use crate::users::corrupt;
use crate::{Result, decode, encode};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct OwnSigningKey {
    /// PKCS#8 DER of the ed25519 key pair, as ruma-signatures produces it.
    pub pkcs8: Vec<u8>,
    pub created_ts: u64,
}

#[derive(Clone)]
pub struct ServerKeys {
    own: Tree,
    /// `servername_keys`: `(server_name)` → the server's verified key document (JSON).
    remote: Tree,
}

impl ServerKeys {
    pub(crate) fn open(engine: &Engine) -> Result<Self> {
        Ok(Self {
            own: engine.tree("keyid_ownsigningkey")?,
            remote: engine.tree("servername_keys")?,
        })
    }

    /// The current signing key: the only one, or the newest if keys were rotated.
    pub fn own_key(&self) -> Result<Option<(String, OwnSigningKey)>> {
        let mut newest: Option<(String, OwnSigningKey)> = None;
        for entry in self.own.scan_prefix(&[]) {
            let (k, v) = entry?;
            let id = KeyReader::new(&k).str().map_err(corrupt)?.to_owned();
            let record: OwnSigningKey = decode(&v)?;
            if newest
                .as_ref()
                .is_none_or(|(_, n)| record.created_ts > n.created_ts)
            {
                newest = Some((id, record));
            }
        }
        Ok(newest)
    }

    /// Stores a new key unless one with this ID exists; returns whether it was stored.
    pub fn put_own_key(&self, key_id: &str, record: &OwnSigningKey) -> Result<bool> {
        self.own
            .compare_and_swap(&key((key_id,)), None, Some(&encode(record)))
    }

    /// The cached, verified keys of another server.
    pub fn remote(&self, server_name: &str) -> Result<Option<serde_json::Value>> {
        crate::get(&self.remote, &key((server_name,)))
    }

    pub fn put_remote(&self, server_name: &str, keys: &serde_json::Value) -> Result<()> {
        self.remote.insert(&key((server_name,)), &encode(keys))
    }
}
