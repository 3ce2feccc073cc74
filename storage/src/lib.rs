//! Citadel's storage: the only crate that touches the database.
//!
//! [`Storage`] opens the engine, runs schema migrations and hands out one typed struct per
//! domain (users, devices, tokens …). Records are JSON-encoded serde structs; keys are built
//! with [`codec`]. Writes that must land together are collected in a [`Batch`] and committed
//! with [`Storage::commit`], which also makes them durable before it returns.

pub mod account_data;
pub mod audit;
pub mod codec;
pub mod daily_counts;
pub mod devices;
pub mod e2ee_keys;
mod engine;
pub mod filters;
pub mod inbox;
mod journal;
pub mod key_backup;
pub mod media;
mod memo;
pub mod notifications;
pub mod outbox;
pub mod receipts;
pub mod registration_tokens;
pub mod remote_devices;
pub mod reports;
pub mod room_purge;
pub mod rooms;
pub mod server_keys;
pub mod settings;
pub mod tasks;
pub mod threepids;
pub mod to_device;
pub mod tokens;
pub mod txn_ids;
pub mod uiaa;
pub mod users;

use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use engine::{Batch, EngineOptions};
use engine::{Engine, Tree};

/// The schema version this build writes. Bump it together with a migration step in
/// [`Storage::migrate`].
pub const SCHEMA_VERSION: u64 = 1;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("the database at {0} is in use by another process")]
    Locked(String),
    #[error("database I/O error: {0}")]
    Io(String),
    #[error("database corruption: {0}")]
    Corrupt(String),
    #[error("database schema version {found} is newer than this build understands ({supported})")]
    TooNew { found: u64, supported: u64 },
    /// An earlier write failed; the engine refuses writes until it is opened again.
    #[error("the database refuses writes after an earlier write failed; restart the server")]
    Stopped,
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// The whole database, split by domain.
#[derive(Clone)]
pub struct Storage {
    engine: Engine,
    pub users: users::Users,
    pub devices: devices::Devices,
    pub tokens: tokens::Tokens,
    pub registration_tokens: registration_tokens::RegistrationTokens,
    pub uiaa: uiaa::UiaaSessions,
    pub account_data: account_data::AccountData,
    pub server_keys: server_keys::ServerKeys,
    pub rooms: rooms::Rooms,
    pub txn_ids: txn_ids::TxnIds,
    pub filters: filters::Filters,
    pub receipts: receipts::Receipts,
    pub reports: reports::Reports,
    pub notifications: notifications::Notifications,
    pub e2ee_keys: e2ee_keys::E2eeKeys,
    pub to_device: to_device::ToDevice,
    pub key_backup: key_backup::KeyBackup,
    pub media: media::Media,
    pub outbox: outbox::Outbox,
    pub inbox: inbox::Inbox,
    pub remote_devices: remote_devices::RemoteDevices,
    pub audit: audit::Audit,
    pub tasks: tasks::Tasks,
    pub settings: settings::Settings,
    pub threepids: threepids::Threepids,
    pub daily_counts: daily_counts::DailyCounts,
}

impl Storage {
    /// Opens the database directory, creating and migrating it as needed.
    pub fn open(path: &Path, options: &EngineOptions) -> Result<Self> {
        let engine = Engine::open(path, options)?;
        let storage = Self {
            users: users::Users::open(&engine)?,
            devices: devices::Devices::open(&engine)?,
            tokens: tokens::Tokens::open(&engine)?,
            registration_tokens: registration_tokens::RegistrationTokens::open(&engine)?,
            uiaa: uiaa::UiaaSessions::open(&engine)?,
            account_data: account_data::AccountData::open(&engine)?,
            server_keys: server_keys::ServerKeys::open(&engine)?,
            rooms: rooms::Rooms::open(&engine)?,
            txn_ids: txn_ids::TxnIds::open(&engine)?,
            filters: filters::Filters::open(&engine)?,
            receipts: receipts::Receipts::open(&engine)?,
            reports: reports::Reports::open(&engine)?,
            notifications: notifications::Notifications::open(&engine)?,
            e2ee_keys: e2ee_keys::E2eeKeys::open(&engine)?,
            to_device: to_device::ToDevice::open(&engine)?,
            key_backup: key_backup::KeyBackup::open(&engine)?,
            media: media::Media::open(&engine)?,
            outbox: outbox::Outbox::open(&engine)?,
            inbox: inbox::Inbox::open(&engine)?,
            remote_devices: remote_devices::RemoteDevices::open(&engine)?,
            audit: audit::Audit::open(&engine)?,
            tasks: tasks::Tasks::open(&engine)?,
            settings: settings::Settings::open(&engine)?,
            threepids: threepids::Threepids::open(&engine)?,
            daily_counts: daily_counts::DailyCounts::open(&engine)?,
            engine,
        };
        storage.migrate()?;
        Ok(storage)
    }

    /// Brings an older database up to [`SCHEMA_VERSION`], refusing one from a newer build.
    fn migrate(&self) -> Result<()> {
        let meta = self.engine.tree("meta")?;
        let found = match meta.get(b"schema_version")? {
            Some(bytes) => decode::<u64>(&bytes)?,
            None => {
                // A fresh database starts at the current version.
                meta.insert(b"schema_version", &encode(&SCHEMA_VERSION))?;
                self.engine.flush_blocking()?;
                return Ok(());
            }
        };
        if found > SCHEMA_VERSION {
            return Err(StorageError::TooNew {
                found,
                supported: SCHEMA_VERSION,
            });
        }
        let mut version = found;
        while version < SCHEMA_VERSION {
            // Each future step: `version => migrate_vN_to_vN1(&self.engine)?`.
            tracing::info!(
                from = version,
                to = version + 1,
                "migrating database schema"
            );
            version += 1;
            meta.insert(b"schema_version", &encode(&version))?;
        }
        self.engine.flush_blocking()
    }

    /// A new, empty batch of writes.
    pub fn batch(&self) -> Batch {
        Batch::new()
    }

    /// Applies the batch atomically, without waiting for the disk: the caller makes it
    /// durable with [`flush`](Self::flush) before acknowledging it (concurrent writers then
    /// share one disk sync).
    pub fn apply(&self, batch: Batch) -> Result<()> {
        self.engine.apply(batch)
    }

    /// Applies the batch's writes one by one, without waiting for the disk: for writes
    /// that stand on their own (each is atomic; before the next flush a crash may keep
    /// some and not others), at a fraction of an atomic batch's cost.
    pub fn apply_each(&self, batch: Batch) -> Result<()> {
        self.engine.apply_each(batch)
    }

    /// Applies the batch atomically and waits until it is on disk.
    pub async fn commit(&self, batch: Batch) -> Result<()> {
        self.engine.apply(batch)?;
        self.engine.flush().await
    }

    /// Waits until every write so far is on disk.
    pub async fn flush(&self) -> Result<()> {
        self.engine.flush().await
    }

    /// Synchronous flush, used on shutdown.
    pub fn flush_blocking(&self) -> Result<()> {
        self.engine.flush_blocking()
    }

    /// A strictly increasing number, unique across restarts (stream positions, IDs).
    pub fn next_id(&self) -> Result<u64> {
        self.engine.next_id()
    }

    /// The highest number [`Storage::next_id`] has handed out so far.
    pub fn last_id(&self) -> u64 {
        self.engine.last_id()
    }

    /// Whether a failed write has stopped the database from accepting writes (fail-stop:
    /// see `engine.rs`); it accepts them again once reopened.
    pub fn is_stopped(&self) -> bool {
        self.engine.is_stopped()
    }
}

pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialising our own plain structs to JSON cannot fail (no maps with non-string keys).
    serde_json::to_vec(value).unwrap_or_default()
}

pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| StorageError::Corrupt(format!("bad record: {e}")))
}

/// Reads and decodes one record.
pub(crate) fn get<T: DeserializeOwned>(tree: &Tree, key: &[u8]) -> Result<Option<T>> {
    tree.get(key)?.map(|b| decode(&b)).transpose()
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
pub(crate) fn test_storage() -> (tempfile::TempDir, Storage) {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(
        dir.path(),
        &EngineOptions {
            cache_bytes: 1 << 20,
        },
    )
    .unwrap();
    (dir, storage)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reopening_keeps_schema_version_and_refuses_newer() {
        let dir = tempfile::tempdir().unwrap();
        let opts = EngineOptions {
            cache_bytes: 1 << 20,
        };
        {
            let s = Storage::open(dir.path(), &opts).unwrap();
            let meta = s.engine.tree("meta").unwrap();
            assert_eq!(meta.get(b"schema_version").unwrap().unwrap(), b"1");
            meta.insert(b"schema_version", b"99").unwrap();
            s.flush_blocking().unwrap();
        }
        match Storage::open(dir.path(), &opts) {
            Err(StorageError::TooNew {
                found: 99,
                supported: SCHEMA_VERSION,
            }) => {}
            other => panic!("expected TooNew, got {:?}", other.err()),
        }
    }
}
