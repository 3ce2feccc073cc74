//! The ordered key-value engine behind every domain module.
//!
//! This is the only file that names sled. Callers see [`Engine`], [`Tree`] and [`Batch`]:
//! byte keys and values, prefix and range scans, compare-and-swap, a monotonic counter and
//! atomic multi-tree batches. A second backend (PostgreSQL, for several processes sharing
//! one database) slots in by giving these three types another variant, not by changing
//! the domain modules.
//!
//! The engine is fail-stop: once any write or disk sync fails, every later write is refused
//! with [`StorageError::Stopped`] until the database is opened again. Continuing would be
//! unsafe: a failed batch leaves its journal record behind, and the next open replays it,
//! so any write accepted after the failure could be silently rewritten by that replay.

use std::ops::RangeBounds;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::StorageError;

/// Where [`Engine::next_id`] starts (2^32): leaves room below every stream position.
pub const ID_BASE: u64 = 1 << 32;

/// An open database.
#[derive(Clone)]
pub struct Engine {
    db: sled::Db,
    commit: Arc<GroupCommit>,
    /// Added to sled's counter by [`Engine::next_id`] (see [`IdFloor`]).
    id_offset: u64,
    /// The highest number [`Engine::next_id`] has handed out, readable without taking one.
    last_id: Arc<AtomicU64>,
    /// Batches in flight (see [`Engine::apply`]), keyed by a per-process sequence.
    journal: sled::Tree,
    journal_seq: Arc<AtomicU64>,
    /// Held while a batch goes from journal record to applied: one batch at a time, so a
    /// replay never re-applies an older batch over a newer one's acknowledged writes.
    journal_lock: Arc<std::sync::Mutex<()>>,
    stop: Arc<FailStop>,
    #[cfg(test)]
    faults: Arc<Faults>,
}

/// Name of the tree holding the batch journal.
const JOURNAL_TREE: &str = "engine.batch_journal";
/// Name of the engine's own small records (the ID offset).
const META_TREE: &str = "engine.meta";
const ID_OFFSET_KEY: &[u8] = b"id_offset";

/// Set when a write or a disk sync failed: from then on the engine refuses writes.
#[derive(Default)]
struct FailStop {
    stopped: AtomicBool,
}

impl FailStop {
    fn check(&self) -> Result<(), StorageError> {
        if self.stopped.load(Ordering::SeqCst) {
            Err(StorageError::Stopped)
        } else {
            Ok(())
        }
    }

    /// Passes a write's result through, stopping the engine if it failed.
    fn watch<T>(&self, result: Result<T, StorageError>) -> Result<T, StorageError> {
        if let Err(e) = &result
            && !matches!(e, StorageError::Stopped)
            && !self.stopped.swap(true, Ordering::SeqCst)
        {
            tracing::error!(
                error = %e,
                "a database write failed: refusing all writes until the server is restarted"
            );
        }
        result
    }
}

/// Injected write failures, for the tests of the failure path.
#[cfg(test)]
#[derive(Default)]
struct Faults {
    /// The write (counted from 1) of [`Engine::apply_each`] that fails; 0: none.
    fail_write: AtomicU64,
    writes: AtomicU64,
}

/// Group commit: concurrent `flush` callers share disk syncs. Each caller takes a ticket
/// after its writes are applied; one caller at a time (the leader) syncs everything
/// applied so far, which covers every ticket taken before it started, and the callers
/// it covered return without a sync of their own.
#[derive(Default)]
struct GroupCommit {
    requested: std::sync::atomic::AtomicU64,
    completed: std::sync::atomic::AtomicU64,
    leader: tokio::sync::Mutex<()>,
}

/// One named keyspace ("tree") of the database.
#[derive(Clone)]
pub struct Tree {
    tree: sled::Tree,
    stop: Arc<FailStop>,
}

/// A set of writes across trees that lands atomically: all of it or none of it.
#[derive(Default)]
pub struct Batch {
    ops: Vec<(Tree, Vec<u8>, Option<Vec<u8>>)>,
    /// Run once the writes have landed: how in-memory indexes over the trees learn of
    /// them (never before, so they cannot get ahead of what a reader can load).
    after: Vec<Box<dyn FnOnce() + Send>>,
}

/// Options for opening the engine.
pub struct EngineOptions {
    /// Upper bound of the page cache, in bytes (sled's own default is 1 GiB).
    pub cache_bytes: u64,
}

impl Engine {
    /// Opens (or creates) the database in `path`. Fails with [`StorageError::Locked`]
    /// when another process holds it open.
    ///
    /// A database closed a moment ago (a restart in the same process) may still be held by
    /// the engine's background threads for a few milliseconds, so a held lock is retried
    /// briefly before it counts as another process's.
    pub fn open(path: &Path, options: &EngineOptions) -> Result<Self, StorageError> {
        let mut attempts = 0;
        loop {
            match Self::open_once(path, options, now_micros()) {
                Err(StorageError::Locked(_)) if attempts < 20 => {
                    attempts += 1;
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                other => return other,
            }
        }
    }

    fn open_once(
        path: &Path,
        options: &EngineOptions,
        now_micros: u64,
    ) -> Result<Self, StorageError> {
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(options.cache_bytes)
            // Durability comes from the explicit flush after every acknowledged write
            // (`Engine::flush`); the background flush only bounds what an unacknowledged
            // write could lose.
            .flush_every_ms(Some(500))
            .open()
            .map_err(|e| match e {
                sled::Error::Io(io) if io.to_string().contains("could not acquire lock") => {
                    StorageError::Locked(path.display().to_string())
                }
                other => map_err(other),
            })?;
        let journal = db.open_tree(JOURNAL_TREE).map_err(map_err)?;
        let (id_offset, first) = IdFloor::raise(&db, now_micros)?;
        let engine = Self {
            db,
            commit: Default::default(),
            id_offset,
            last_id: Arc::new(first.into()),
            journal,
            journal_seq: Default::default(),
            journal_lock: Default::default(),
            stop: Default::default(),
            #[cfg(test)]
            faults: Default::default(),
        };
        engine.replay_journal()?;
        Ok(engine)
    }

    /// Completes the batches a crash interrupted: every record still in the journal is
    /// applied again in order (its writes are blind puts and deletes, so writes that did
    /// land are simply rewritten), then dropped, and all of it made durable at the end
    /// (a record's removal follows its writes in the log, as in [`Engine::apply`]).
    fn replay_journal(&self) -> Result<(), StorageError> {
        let mut replayed = 0usize;
        for entry in self.journal.iter() {
            let (seq, record) = entry.map_err(map_err)?;
            let ops = crate::journal::decode(&record).ok_or_else(|| {
                StorageError::Corrupt("unreadable record in the batch journal".into())
            })?;
            for (tree, key, value) in ops {
                let tree = self.db.open_tree(tree).map_err(map_err)?;
                match value {
                    Some(v) => tree.insert(key, v).map(|_| ()),
                    None => tree.remove(key).map(|_| ()),
                }
                .map_err(map_err)?;
            }
            self.journal.remove(seq).map_err(map_err)?;
            replayed += 1;
        }
        if replayed > 0 {
            self.db.flush().map_err(map_err)?;
            tracing::warn!(replayed, "completed batches interrupted by a crash");
        }
        Ok(())
    }

    /// Opens the named tree, creating it when it does not exist.
    pub fn tree(&self, name: &str) -> Result<Tree, StorageError> {
        Ok(Tree {
            tree: self.db.open_tree(name).map_err(map_err)?,
            stop: Arc::clone(&self.stop),
        })
    }

    /// A strictly increasing number, unique across restarts and, through [`IdFloor`],
    /// across restores of older backups and reinstalls: stream positions, transaction and
    /// message IDs handed to clients and other servers are drawn from here. Numbers are
    /// above [`ID_BASE`], so a room's history fetched later from other servers (backfill)
    /// takes the positions below its first event.
    pub fn next_id(&self) -> Result<u64, StorageError> {
        self.stop.check()?;
        let raw = self.stop.watch(self.db.generate_id().map_err(map_err))?;
        let id = ID_BASE + self.id_offset + raw;
        self.last_id.fetch_max(id, Ordering::SeqCst);
        Ok(id)
    }

    /// The highest number handed out so far (without taking a new one).
    pub fn last_id(&self) -> u64 {
        self.last_id.load(Ordering::SeqCst)
    }

    /// Whether a failed write has stopped the engine (see the module documentation).
    pub fn is_stopped(&self) -> bool {
        self.stop.check().is_err()
    }

    /// Applies every write of the batch atomically: after a crash, all of it or none of
    /// it is there.
    ///
    /// Atomicity comes from the batch journal rather than a database transaction: the
    /// batch is written as one journal record (one key: stored whole or not at all), then
    /// write by write, then the record is dropped. The database recovers a prefix of its
    /// log, so if any of the writes survives a crash the record does too, and opening the
    /// database replays it. A transaction would cost two extra log-buffer hand-offs to the
    /// I/O threads per batch, which made it the largest cost of sending a message.
    ///
    /// Batches are applied one at a time (the writes are in-memory; the disk sync is
    /// [`Engine::flush`], outside), so at most one record is ever in flight and a replay
    /// cannot put an older batch over a newer one. Readers may see a batch half-applied
    /// for a moment (as they could with the transaction); callers that need readers to
    /// see all or nothing order their writes or hold their own lock, as the room append
    /// does.
    pub fn apply(&self, mut batch: Batch) -> Result<(), StorageError> {
        self.stop.check()?;
        let after = std::mem::take(&mut batch.after);
        self.apply_writes(batch)?;
        after.into_iter().for_each(|hook| hook());
        Ok(())
    }

    fn apply_writes(&self, batch: Batch) -> Result<(), StorageError> {
        if batch.ops.len() <= 1 {
            // One write is atomic by itself.
            return self.apply_each(batch);
        }
        let names: Vec<sled::IVec> = batch.ops.iter().map(|(t, _, _)| t.tree.name()).collect();
        let record = crate::journal::encode(
            batch
                .ops
                .iter()
                .zip(&names)
                .map(|((_, key, value), name)| (&name[..], &key[..], value.as_deref())),
        );
        // A poisoned lock only means another batch panicked; its record (if any) is
        // replayed at the next open, and this batch is independent of it.
        let _one_at_a_time = self
            .journal_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Checked again under the lock: a batch that failed while this one waited has
        // left its record for the next open, and nothing may be written after it.
        self.stop.check()?;
        let seq = self
            .journal_seq
            .fetch_add(1, Ordering::Relaxed)
            .to_be_bytes();
        self.stop.watch(
            self.journal
                .insert(seq, record)
                .map(|_| ())
                .map_err(map_err),
        )?;
        // On failure the record stays and the engine stops: the next open completes the
        // batch, and nothing written in between can be overwritten by that replay.
        self.apply_each(batch)?;
        self.stop
            .watch(self.journal.remove(seq).map(|_| ()).map_err(map_err))
    }

    /// Applies the writes one by one: for writes that do not depend on each other (each
    /// is atomic, a crash may keep some and not others before the next flush).
    pub fn apply_each(&self, batch: Batch) -> Result<(), StorageError> {
        self.stop.check()?;
        for (tree, key, value) in batch.ops {
            self.stop.watch(self.write_one(&tree.tree, key, value))?;
        }
        batch.after.into_iter().for_each(|hook| hook());
        Ok(())
    }

    fn write_one(
        &self,
        tree: &sled::Tree,
        key: Vec<u8>,
        value: Option<Vec<u8>>,
    ) -> Result<(), StorageError> {
        #[cfg(test)]
        {
            let n = self.faults.writes.fetch_add(1, Ordering::SeqCst) + 1;
            if self.faults.fail_write.load(Ordering::SeqCst) == n {
                return Err(StorageError::Io("injected write failure".into()));
            }
        }
        match value {
            Some(v) => tree.insert(key, v).map(|_| ()),
            None => tree.remove(key).map(|_| ()),
        }
        .map_err(map_err)
    }

    /// Makes every write so far durable. Concurrent callers share disk syncs (see
    /// [`GroupCommit`]).
    pub async fn flush(&self) -> Result<(), StorageError> {
        use std::sync::atomic::Ordering::SeqCst;
        // A stopped engine may hold a half-applied batch in memory: syncing it would be
        // harmless (the record is synced with it) but acknowledging anything is not.
        self.stop.check()?;
        let commit = &self.commit;
        let ticket = commit.requested.fetch_add(1, SeqCst) + 1;
        loop {
            if commit.completed.load(SeqCst) >= ticket {
                return Ok(());
            }
            let _leader = commit.leader.lock().await;
            if commit.completed.load(SeqCst) >= ticket {
                return Ok(());
            }
            let target = commit.requested.load(SeqCst);
            self.stop
                .watch(self.db.flush_async().await.map(|_| ()).map_err(map_err))?;
            commit.completed.fetch_max(target, SeqCst);
        }
    }

    /// Synchronous flush, for shutdown paths that are not async.
    pub fn flush_blocking(&self) -> Result<(), StorageError> {
        self.stop
            .watch(self.db.flush().map(|_| ()).map_err(map_err))
    }
}

/// Keeps [`Engine::next_id`] above every number an earlier database under the same server
/// name can have handed out, so that IDs other servers and clients remember (federation
/// transaction IDs, to-device message IDs, device-list stream IDs, sync tokens) never
/// repeat after the data directory is restored from an older backup or created anew.
///
/// At every open the counter is raised, if need be, to the current time in microseconds.
/// A database gets ahead of the clock only by handing out more than one number per
/// microsecond, or by sled's jump of two million at every open (its counter is persisted
/// in steps), so every number a lost database handed out lies below the floor unless it
/// was last started within a few seconds of the restore. The raise is an offset stored
/// in the engine's meta tree, because sled's own counter cannot be set.
struct IdFloor;

fn now_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

impl IdFloor {
    /// Returns the offset to add to sled's counter, and a number taken with it.
    fn raise(db: &sled::Db, floor: u64) -> Result<(u64, u64), StorageError> {
        let meta = db.open_tree(META_TREE).map_err(map_err)?;
        let stored = match meta.get(ID_OFFSET_KEY).map_err(map_err)? {
            Some(bytes) => u64::from_be_bytes(bytes.as_ref().try_into().map_err(|_| {
                StorageError::Corrupt("the engine's ID offset is unreadable".into())
            })?),
            None => 0,
        };
        let raw = db.generate_id().map_err(map_err)?;
        let current = ID_BASE + stored + raw;
        if current >= floor {
            return Ok((stored, current));
        }
        let offset = floor - ID_BASE - raw;
        meta.insert(ID_OFFSET_KEY, &offset.to_be_bytes())
            .map_err(map_err)?;
        // Durable before any number above the old counter is handed out.
        db.flush().map_err(map_err)?;
        Ok((offset, ID_BASE + offset + raw))
    }
}

impl Tree {
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.tree.get(key).map_err(map_err)?.map(|v| v.to_vec()))
    }

    pub fn contains(&self, key: &[u8]) -> Result<bool, StorageError> {
        self.tree.contains_key(key).map_err(map_err)
    }

    pub fn insert(&self, key: &[u8], value: &[u8]) -> Result<(), StorageError> {
        self.stop.check()?;
        self.stop
            .watch(self.tree.insert(key, value).map(|_| ()).map_err(map_err))
    }

    /// Removes the key and returns what it held, atomically: of two concurrent callers
    /// only one gets the value (single-use tokens rely on this).
    pub fn take(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        self.stop.check()?;
        let taken = self.stop.watch(self.tree.remove(key).map_err(map_err))?;
        Ok(taken.map(|v| v.to_vec()))
    }

    /// Replaces `old` with `new` only if the key still holds `old`; `None` means absent.
    /// Returns whether the swap happened.
    pub fn compare_and_swap(
        &self,
        key: &[u8],
        old: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, StorageError> {
        self.stop.check()?;
        let result = self
            .stop
            .watch(self.tree.compare_and_swap(key, old, new).map_err(map_err))?;
        Ok(result.is_ok())
    }

    /// Every entry whose key starts with `prefix`, in key order.
    pub fn scan_prefix(
        &self,
        prefix: &[u8],
    ) -> impl DoubleEndedIterator<Item = Result<(Vec<u8>, Vec<u8>), StorageError>> + use<> {
        self.tree
            .scan_prefix(prefix)
            .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(map_err))
    }

    /// The last key in the range, without reading its value.
    pub fn last_key_in<R: RangeBounds<Vec<u8>>>(
        &self,
        range: R,
    ) -> Result<Option<Vec<u8>>, StorageError> {
        match self.tree.range(range).next_back() {
            Some(entry) => Ok(Some(entry.map_err(map_err)?.0.to_vec())),
            None => Ok(None),
        }
    }

    /// Every entry in the key range, in key order.
    pub fn range<R: RangeBounds<Vec<u8>>>(
        &self,
        range: R,
    ) -> impl DoubleEndedIterator<Item = Result<(Vec<u8>, Vec<u8>), StorageError>> + use<R> {
        self.tree
            .range(range)
            .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(map_err))
    }
}

impl Batch {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, tree: &Tree, key: Vec<u8>, value: Vec<u8>) {
        self.ops.push((tree.clone(), key, Some(value)));
    }

    pub fn remove(&mut self, tree: &Tree, key: Vec<u8>) {
        self.ops.push((tree.clone(), key, None));
    }

    /// Runs `hook` after the batch has been applied (not at all if it fails).
    pub fn after_commit(&mut self, hook: impl FnOnce() + Send + 'static) {
        self.after.push(Box::new(hook));
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

fn map_err(e: sled::Error) -> StorageError {
    match e {
        sled::Error::Corruption { .. } => StorageError::Corrupt(e.to_string()),
        other => StorageError::Io(other.to_string()),
    }
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
