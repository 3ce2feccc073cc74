//! Server-side key backups: encrypted megolm session keys the server stores but cannot
//! read.
//!
//! Trees:
//! - `useridversion_backup`: `(user_id, version u64)` → [`BackupVersion`] (deleted
//!   versions stay, marked, so version numbers are never reused)
//! - `useridversionroomsession_key`: `(user_id, version u64, room_id, session_id)` → the
//!   backed-up session (JSON, encrypted by the client)

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::codec::{KeyReader, key};
use crate::engine::{Batch, Engine, Tree};
use crate::users::corrupt;
use crate::{Result, StorageError, decode, encode, get};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BackupVersion {
    pub algorithm: String,
    pub auth_data: serde_json::Value,
    /// Bumped whenever the stored keys change.
    pub etag: u64,
    pub deleted: bool,
}

#[derive(Clone)]
pub struct KeyBackup {
    versions: Tree,
    keys: Tree,
}

fn raw(bytes: Vec<u8>) -> Result<Box<RawValue>> {
    let text = String::from_utf8(bytes).map_err(|e| StorageError::Corrupt(e.to_string()))?;
    RawValue::from_string(text).map_err(|e| StorageError::Corrupt(e.to_string()))
}

impl KeyBackup {
    pub(crate) fn open(engine: &Engine) -> Result<Self> {
        Ok(Self {
            versions: engine.tree("useridversion_backup")?,
            keys: engine.tree("useridversionroomsession_key")?,
        })
    }

    /// The newest version ever created (deleted or not) and its record.
    fn newest(&self, user_id: &str) -> Result<Option<(u64, BackupVersion)>> {
        match self.versions.scan_prefix(&key((user_id,))).next_back() {
            Some(entry) => {
                let (k, v) = entry?;
                let mut reader = KeyReader::new(&k);
                reader.str().map_err(corrupt)?;
                Ok(Some((reader.u64().map_err(corrupt)?, decode(&v)?)))
            }
            None => Ok(None),
        }
    }

    /// The current backup version: the newest one, unless it was deleted.
    pub fn current(&self, user_id: &str) -> Result<Option<(u64, BackupVersion)>> {
        Ok(self.newest(user_id)?.filter(|(_, v)| !v.deleted))
    }

    pub fn version(&self, user_id: &str, version: u64) -> Result<Option<BackupVersion>> {
        Ok(get::<BackupVersion>(&self.versions, &key((user_id, version)))?.filter(|v| !v.deleted))
    }

    /// Creates a new version, which becomes current.
    pub fn create(
        &self,
        user_id: &str,
        algorithm: &str,
        auth_data: serde_json::Value,
    ) -> Result<u64> {
        let number = self.newest(user_id)?.map_or(1, |(n, _)| n + 1);
        let record = BackupVersion {
            algorithm: algorithm.to_owned(),
            auth_data,
            etag: 0,
            deleted: false,
        };
        self.versions
            .insert(&key((user_id, number)), &encode(&record))?;
        Ok(number)
    }

    pub fn put_version(
        &self,
        batch: &mut Batch,
        user_id: &str,
        version: u64,
        record: &BackupVersion,
    ) {
        batch.insert(&self.versions, key((user_id, version)), encode(record));
    }

    /// Marks a version deleted and removes its keys.
    pub fn delete_version(&self, batch: &mut Batch, user_id: &str, version: u64) -> Result<()> {
        if let Some(mut record) = get::<BackupVersion>(&self.versions, &key((user_id, version)))? {
            record.deleted = true;
            batch.insert(&self.versions, key((user_id, version)), encode(&record));
        }
        for entry in self.keys.scan_prefix(&key((user_id, version))) {
            batch.remove(&self.keys, entry?.0);
        }
        Ok(())
    }

    pub fn get_key(
        &self,
        user_id: &str,
        version: u64,
        room_id: &str,
        session_id: &str,
    ) -> Result<Option<Box<RawValue>>> {
        self.keys
            .get(&key((user_id, version, room_id, session_id)))?
            .map(raw)
            .transpose()
    }

    pub fn put_key(
        &self,
        batch: &mut Batch,
        user_id: &str,
        version: u64,
        room_id: &str,
        session_id: &str,
        data: &RawValue,
    ) {
        batch.insert(
            &self.keys,
            key((user_id, version, room_id, session_id)),
            data.get().as_bytes().to_vec(),
        );
    }

    pub fn remove_key(
        &self,
        batch: &mut Batch,
        user_id: &str,
        version: u64,
        room_id: &str,
        session_id: &str,
    ) {
        batch.remove(&self.keys, key((user_id, version, room_id, session_id)));
    }

    /// `(room_id, session_id, data)` of the version's keys, optionally of one room.
    pub fn keys(
        &self,
        user_id: &str,
        version: u64,
        room_id: Option<&str>,
    ) -> Result<Vec<(String, String, Box<RawValue>)>> {
        let prefix = match room_id {
            Some(room) => key((user_id, version, room)),
            None => key((user_id, version)),
        };
        self.keys
            .scan_prefix(&prefix)
            .map(|entry| {
                let (k, v) = entry?;
                let mut reader = KeyReader::new(&k);
                reader.str().map_err(corrupt)?;
                reader.u64().map_err(corrupt)?;
                let room = reader.str().map_err(corrupt)?.to_owned();
                let session = reader.str().map_err(corrupt)?.to_owned();
                Ok((room, session, raw(v)?))
            })
            .collect()
    }

    pub fn count(&self, user_id: &str, version: u64) -> Result<u64> {
        Ok(self.keys.scan_prefix(&key((user_id, version))).count() as u64)
    }
}
