//! Media metadata (the files themselves live in the server's content-addressed store).
//!
//! Trees:
//! - `servermediaid_media`: `(server_name, media_id)` → [`MediaRecord`]
//! - `useridmediaid_owned`: `(uploader, media_id)` → empty: a user's uploads, for listing
//!   and deleting them
//! - `userid_mediausage`: `(user_id)` → bytes stored, for quotas
//! - `servermediaid_lastaccess`: `(server_name, media_id)` → when cached remote media was
//!   last served (coarsely), so purging the cache keeps what is in use; a tree of its
//!   own, so recording an access never overwrites a concurrent change to the record
//! - `position_quarantinechange`: `(stream position)` → [`QuarantineChange`], in the
//!   order quarantines were set and lifted, for `media/quarantine_changes`

use serde::{Deserialize, Serialize};

use crate::codec::{KeyReader, key};
use crate::engine::{Batch, Engine, Tree};
use crate::users::corrupt;
use crate::{Result, decode, encode, get};

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct MediaRecord {
    pub uploader: String,
    pub created_ts: u64,
    /// SHA-256 of the content (hex), naming its file; `None` until uploaded (a reserved
    /// media ID from `/create`).
    pub sha256: Option<String>,
    pub size: u64,
    pub content_type: Option<String>,
    pub file_name: Option<String>,
    /// Until when a reserved, not yet uploaded ID may be uploaded to.
    pub unused_expires_at: Option<u64>,
    /// Quarantined media is served to no one.
    pub quarantined: bool,
    /// Protected media is left alone by bulk quarantines and bulk deletes (stickers,
    /// shared avatars).
    #[serde(default)]
    pub protected: bool,
}

/// One quarantine set or lifted.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct QuarantineChange {
    pub origin: String,
    pub media_id: String,
    pub quarantined: bool,
}

#[derive(Clone)]
pub struct Media {
    records: Tree,
    by_user: Tree,
    usage: Tree,
    quarantine_changes: Tree,
    last_access: Tree,
}

impl Media {
    pub(crate) fn open(engine: &Engine) -> Result<Self> {
        Ok(Self {
            records: engine.tree("servermediaid_media")?,
            by_user: engine.tree("useridmediaid_owned")?,
            usage: engine.tree("userid_mediausage")?,
            quarantine_changes: engine.tree("position_quarantinechange")?,
            last_access: engine.tree("servermediaid_lastaccess")?,
        })
    }

    pub fn get(&self, server_name: &str, media_id: &str) -> Result<Option<MediaRecord>> {
        get(&self.records, &key((server_name, media_id)))
    }

    pub fn put(&self, batch: &mut Batch, server_name: &str, media_id: &str, record: &MediaRecord) {
        batch.insert(&self.records, key((server_name, media_id)), encode(record));
        batch.insert(
            &self.by_user,
            key((record.uploader.as_str(), media_id)),
            Vec::new(),
        );
    }

    pub fn remove(&self, batch: &mut Batch, server_name: &str, media_id: &str, uploader: &str) {
        batch.remove(&self.records, key((server_name, media_id)));
        batch.remove(&self.by_user, key((uploader, media_id)));
        batch.remove(&self.last_access, key((server_name, media_id)));
    }

    /// When the item was last served, if that was recorded.
    pub fn last_access(&self, server_name: &str, media_id: &str) -> Result<Option<u64>> {
        get(&self.last_access, &key((server_name, media_id)))
    }

    pub fn set_last_access(&self, server_name: &str, media_id: &str, ts: u64) -> Result<()> {
        self.last_access
            .insert(&key((server_name, media_id)), &encode(&ts))?;
        Ok(())
    }

    /// Media IDs a user uploaded.
    pub fn by_user(&self, user_id: &str) -> Result<Vec<String>> {
        self.by_user
            .scan_prefix(&key((user_id,)))
            .map(|entry| {
                let (k, _) = entry?;
                let mut reader = KeyReader::new(&k);
                reader.str().map_err(corrupt)?;
                Ok(reader.str().map_err(corrupt)?.to_owned())
            })
            .collect()
    }

    /// How many media IDs a user has reserved but not uploaded yet.
    pub fn pending_count(&self, server_name: &str, user_id: &str, now: u64) -> Result<usize> {
        let mut count = 0;
        for media_id in self.by_user(user_id)? {
            if let Some(record) = self.get(server_name, &media_id)?
                && record.sha256.is_none()
                && record.unused_expires_at.is_some_and(|t| t > now)
            {
                count += 1;
            }
        }
        Ok(count)
    }

    pub fn usage(&self, user_id: &str) -> Result<u64> {
        Ok(self
            .usage
            .get(&key((user_id,)))?
            .map(|b| decode::<u64>(&b))
            .transpose()?
            .unwrap_or(0))
    }

    /// Adds `delta` bytes to the user's usage if that stays within `quota`; returns whether
    /// it did. Atomic, so concurrent uploads cannot overshoot together.
    pub fn reserve_usage(&self, user_id: &str, delta: u64, quota: u64) -> Result<bool> {
        let k = key((user_id,));
        loop {
            let old = self.usage.get(&k)?;
            let used = old
                .as_ref()
                .map(|b| decode::<u64>(b))
                .transpose()?
                .unwrap_or(0);
            if used.saturating_add(delta) > quota {
                return Ok(false);
            }
            if self
                .usage
                .compare_and_swap(&k, old.as_deref(), Some(&encode(&(used + delta))))?
            {
                return Ok(true);
            }
        }
    }

    /// Gives bytes back (a failed upload, deleted media).
    pub fn release_usage(&self, user_id: &str, delta: u64) -> Result<()> {
        let k = key((user_id,));
        loop {
            let old = self.usage.get(&k)?;
            let used = old
                .as_ref()
                .map(|b| decode::<u64>(b))
                .transpose()?
                .unwrap_or(0);
            if self.usage.compare_and_swap(
                &k,
                old.as_deref(),
                Some(&encode(&used.saturating_sub(delta))),
            )? {
                return Ok(());
            }
        }
    }

    /// Every media record: `(server_name, media_id, record)`.
    pub fn all(&self) -> Result<Vec<(String, String, MediaRecord)>> {
        self.records
            .scan_prefix(&[])
            .map(|entry| {
                let (k, v) = entry?;
                let mut reader = KeyReader::new(&k);
                let server = reader.str().map_err(corrupt)?.to_owned();
                let media_id = reader.str().map_err(corrupt)?.to_owned();
                Ok((server, media_id, decode(&v)?))
            })
            .collect()
    }

    /// Records a quarantine change at a reserved stream position, so a reader that stops
    /// below positions still in flight never skips one.
    pub fn log_quarantine_change(
        &self,
        batch: &mut Batch,
        position: u64,
        change: &QuarantineChange,
    ) {
        batch.insert(
            &self.quarantine_changes,
            position.to_be_bytes().to_vec(),
            encode(change),
        );
    }

    /// Up to `limit` changes after position `after`, up to and including `upto`.
    pub fn quarantine_changes(
        &self,
        after: u64,
        upto: u64,
        limit: usize,
    ) -> Result<Vec<(u64, QuarantineChange)>> {
        if after >= upto {
            return Ok(Vec::new());
        }
        self.quarantine_changes
            .range((after + 1).to_be_bytes().to_vec()..=upto.to_be_bytes().to_vec())
            .take(limit)
            .map(|entry| {
                let (k, v) = entry?;
                let position = <[u8; 8]>::try_from(&k[..])
                    .map(u64::from_be_bytes)
                    .map_err(|_| crate::StorageError::Corrupt("quarantine change key".into()))?;
                Ok((position, decode(&v)?))
            })
            .collect()
    }
}
