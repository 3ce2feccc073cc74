//! End-to-end encryption keys: device keys, one-time and fallback keys, cross-signing
//! keys, and the stream of key changes that drives `device_lists` in `/sync`.
//!
//! Trees:
//! - `useriddeviceid_devicekeys`: `(user_id, device_id)` → signed device keys (JSON)
//! - `useriddevicealgokey_otk`: `(user_id, device_id, algorithm, key_id)` → one-time key
//! - `useriddevicealgo_fallback`: `(user_id, device_id, algorithm)` → [`FallbackKey`]
//! - `useridkind_crosssigning`: `(user_id, "master" | "self_signing" | "user_signing")` →
//!   the cross-signing key (JSON)
//! - `useridpos_keychange`: `(user_id, pos u64)` → empty: the user's keys changed at `pos`
//! - `userid_lastkeychange`: `(user_id)` → `pos u64` of the latest change
//! - `keyid_signature`: `(owner, key id, signer, signer key id)` → signature: signatures
//!   uploaded through `/keys/signatures/upload`, kept apart from the key so each reader
//!   sees only the ones the spec lets them see

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::codec::{KeyReader, key};
use crate::engine::{Batch, Engine, Tree};
use crate::users::corrupt;
use crate::{Result, StorageError, decode, encode, get};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct FallbackKey {
    pub key_id: String,
    pub key: serde_json::Value,
    pub used: bool,
}

#[derive(Clone)]
pub struct E2eeKeys {
    device_keys: Tree,
    one_time: Tree,
    fallback: Tree,
    cross_signing: Tree,
    changes: Tree,
    last_change: Tree,
    signatures: Tree,
}

fn raw(bytes: Vec<u8>) -> Result<Box<RawValue>> {
    let text = String::from_utf8(bytes).map_err(|e| StorageError::Corrupt(e.to_string()))?;
    RawValue::from_string(text).map_err(|e| StorageError::Corrupt(e.to_string()))
}

impl E2eeKeys {
    pub(crate) fn open(engine: &Engine) -> Result<Self> {
        Ok(Self {
            device_keys: engine.tree("useriddeviceid_devicekeys")?,
            one_time: engine.tree("useriddevicealgokey_otk")?,
            fallback: engine.tree("useriddevicealgo_fallback")?,
            cross_signing: engine.tree("useridkind_crosssigning")?,
            changes: engine.tree("useridpos_keychange")?,
            last_change: engine.tree("userid_lastkeychange")?,
            signatures: engine.tree("keyid_signature")?,
        })
    }

    pub fn device_keys(&self, user_id: &str, device_id: &str) -> Result<Option<Box<RawValue>>> {
        self.device_keys
            .get(&key((user_id, device_id)))?
            .map(raw)
            .transpose()
    }

    /// Every device's keys of a user: `(device_id, keys)`.
    pub fn all_device_keys(&self, user_id: &str) -> Result<Vec<(String, Box<RawValue>)>> {
        self.device_keys
            .scan_prefix(&key((user_id,)))
            .map(|entry| {
                let (k, v) = entry?;
                let mut reader = KeyReader::new(&k);
                reader.str().map_err(corrupt)?;
                Ok((reader.str().map_err(corrupt)?.to_owned(), raw(v)?))
            })
            .collect()
    }

    pub fn set_device_keys(
        &self,
        batch: &mut Batch,
        user_id: &str,
        device_id: &str,
        keys: &RawValue,
    ) {
        batch.insert(
            &self.device_keys,
            key((user_id, device_id)),
            keys.get().as_bytes().to_vec(),
        );
    }

    pub fn add_one_time_key(
        &self,
        batch: &mut Batch,
        user_id: &str,
        device_id: &str,
        algorithm: &str,
        key_id: &str,
        value: &RawValue,
    ) {
        batch.insert(
            &self.one_time,
            key((user_id, device_id, algorithm, key_id)),
            value.get().as_bytes().to_vec(),
        );
    }

    pub fn has_one_time_key(
        &self,
        user_id: &str,
        device_id: &str,
        algorithm: &str,
        key_id: &str,
    ) -> Result<bool> {
        self.one_time
            .contains(&key((user_id, device_id, algorithm, key_id)))
    }

    /// Unclaimed one-time keys per algorithm.
    pub fn one_time_key_counts(
        &self,
        user_id: &str,
        device_id: &str,
    ) -> Result<std::collections::BTreeMap<String, u64>> {
        let mut counts = std::collections::BTreeMap::new();
        for entry in self.one_time.scan_prefix(&key((user_id, device_id))) {
            let (k, _) = entry?;
            let mut reader = KeyReader::new(&k);
            reader.str().map_err(corrupt)?;
            reader.str().map_err(corrupt)?;
            *counts
                .entry(reader.str().map_err(corrupt)?.to_owned())
                .or_insert(0) += 1;
        }
        Ok(counts)
    }

    /// Takes one one-time key of the algorithm, atomically: a key is handed out once, to
    /// exactly one of any number of concurrent claimers. Returns `(key_id, key)`.
    pub fn claim_one_time_key(
        &self,
        user_id: &str,
        device_id: &str,
        algorithm: &str,
    ) -> Result<Option<(String, Box<RawValue>)>> {
        loop {
            let Some(entry) = self
                .one_time
                .scan_prefix(&key((user_id, device_id, algorithm)))
                .next()
            else {
                return Ok(None);
            };
            let (k, _) = entry?;
            // Whoever removes the key owns it; a claimer that lost the race tries the next.
            if let Some(value) = self.one_time.take(&k)? {
                let mut reader = KeyReader::new(&k);
                for _ in 0..3 {
                    reader.str().map_err(corrupt)?;
                }
                let key_id = reader.str().map_err(corrupt)?.to_owned();
                return Ok(Some((key_id, raw(value)?)));
            }
        }
    }

    pub fn set_fallback_key(
        &self,
        batch: &mut Batch,
        user_id: &str,
        device_id: &str,
        algorithm: &str,
        fallback: &FallbackKey,
    ) {
        batch.insert(
            &self.fallback,
            key((user_id, device_id, algorithm)),
            encode(fallback),
        );
    }

    pub fn fallback_key(
        &self,
        user_id: &str,
        device_id: &str,
        algorithm: &str,
    ) -> Result<Option<FallbackKey>> {
        get(&self.fallback, &key((user_id, device_id, algorithm)))
    }

    /// Marks a fallback key as handed out (it stays usable until replaced).
    pub fn mark_fallback_used(
        &self,
        user_id: &str,
        device_id: &str,
        algorithm: &str,
    ) -> Result<()> {
        let k = key((user_id, device_id, algorithm));
        if let Some(mut fallback) = get::<FallbackKey>(&self.fallback, &k)? {
            fallback.used = true;
            self.fallback.insert(&k, &encode(&fallback))?;
        }
        Ok(())
    }

    /// Algorithms with an unused fallback key.
    pub fn unused_fallback_algorithms(
        &self,
        user_id: &str,
        device_id: &str,
    ) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for entry in self.fallback.scan_prefix(&key((user_id, device_id))) {
            let (k, v) = entry?;
            let fallback: FallbackKey = decode(&v)?;
            if !fallback.used {
                let mut reader = KeyReader::new(&k);
                reader.str().map_err(corrupt)?;
                reader.str().map_err(corrupt)?;
                out.push(reader.str().map_err(corrupt)?.to_owned());
            }
        }
        Ok(out)
    }

    /// Removes everything a deleted device had.
    pub fn remove_device(&self, batch: &mut Batch, user_id: &str, device_id: &str) -> Result<()> {
        batch.remove(&self.device_keys, key((user_id, device_id)));
        for tree in [&self.one_time, &self.fallback] {
            for entry in tree.scan_prefix(&key((user_id, device_id))) {
                batch.remove(tree, entry?.0);
            }
        }
        Ok(())
    }

    pub fn cross_signing_key(&self, user_id: &str, kind: &str) -> Result<Option<Box<RawValue>>> {
        self.cross_signing
            .get(&key((user_id, kind)))?
            .map(raw)
            .transpose()
    }

    pub fn set_cross_signing_key(
        &self,
        batch: &mut Batch,
        user_id: &str,
        kind: &str,
        value: &RawValue,
    ) {
        batch.insert(
            &self.cross_signing,
            key((user_id, kind)),
            value.get().as_bytes().to_vec(),
        );
    }

    pub fn add_signature(
        &self,
        batch: &mut Batch,
        owner: &str,
        key_id: &str,
        signer: &str,
        signer_key_id: &str,
        signature: &str,
    ) {
        batch.insert(
            &self.signatures,
            key((owner, key_id, signer, signer_key_id)),
            signature.as_bytes().to_vec(),
        );
    }

    /// `(signer, signer key id, signature)` of every signature stored for a key.
    pub fn signatures(&self, owner: &str, key_id: &str) -> Result<Vec<(String, String, String)>> {
        self.signatures
            .scan_prefix(&key((owner, key_id)))
            .map(|entry| {
                let (k, v) = entry?;
                let mut reader = KeyReader::new(&k);
                reader.str().map_err(corrupt)?;
                reader.str().map_err(corrupt)?;
                let signer = reader.str().map_err(corrupt)?.to_owned();
                let signer_key = reader.str().map_err(corrupt)?.to_owned();
                Ok((signer, signer_key, String::from_utf8_lossy(&v).into_owned()))
            })
            .collect()
    }

    /// Users whose keys changed at or after `since`, with the position of the change.
    pub fn changed_since(&self, user_id: &str, since: u64) -> Result<bool> {
        Ok(self.last_change(user_id)?.is_some_and(|pos| pos >= since))
    }

    /// Records that the user's keys changed at stream position `pos`.
    pub fn mark_changed(&self, batch: &mut Batch, user_id: &str, pos: u64) -> Result<()> {
        if let Some(old) = self.last_change.get(&key((user_id,)))? {
            batch.remove(
                &self.changes,
                key((user_id, KeyReader::new(&old).u64().map_err(corrupt)?)),
            );
        }
        batch.insert(&self.changes, key((user_id, pos)), Vec::new());
        batch.insert(&self.last_change, key((user_id,)), key((pos,)));
        Ok(())
    }

    /// The position of the user's latest key change.
    pub fn last_change(&self, user_id: &str) -> Result<Option<u64>> {
        self.last_change
            .get(&key((user_id,)))?
            .map(|b| KeyReader::new(&b).u64().map_err(corrupt))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn one_time_keys_are_claimed_once_even_concurrently() {
        let (_dir, s) = crate::test_storage();
        let mut b = s.batch();
        for i in 0..50 {
            let value = RawValue::from_string(format!("\"key{i}\"")).unwrap();
            s.e2ee_keys.add_one_time_key(
                &mut b,
                "@a:x",
                "D",
                "signed_curve25519",
                &format!("AAAA{i:03}"),
                &value,
            );
        }
        s.engine.apply(b).unwrap();
        assert_eq!(
            s.e2ee_keys.one_time_key_counts("@a:x", "D").unwrap()["signed_curve25519"],
            50
        );
        let storage = Arc::new(s);
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let storage = Arc::clone(&storage);
                std::thread::spawn(move || {
                    let mut mine = Vec::new();
                    while let Some((id, _)) = storage
                        .e2ee_keys
                        .claim_one_time_key("@a:x", "D", "signed_curve25519")
                        .unwrap()
                    {
                        mine.push(id);
                    }
                    mine
                })
            })
            .collect();
        let mut all: Vec<String> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        assert_eq!(all.len(), 50);
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 50, "no key handed out twice");
    }
}
