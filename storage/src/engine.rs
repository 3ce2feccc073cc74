//! The ordered key-value engine behind every domain module.
//!
//! This is the only file that names sled. Callers see [`Engine`], [`Tree`] and [`Batch`]:
//! byte keys and values, prefix and range scans, compare-and-swap, a monotonic counter and
//! atomic multi-tree batches. A second backend (PostgreSQL, for several processes sharing
//! one database) slots in by giving these three types another variant, not by changing
//! the domain modules.

use std::ops::RangeBounds;
use std::path::Path;

use crate::StorageError;

/// Where [`Engine::next_id`] starts (2^32): leaves room below every stream position.
pub const ID_BASE: u64 = 1 << 32;

/// An open database.
#[derive(Clone)]
pub struct Engine {
    db: sled::Db,
    commit: std::sync::Arc<GroupCommit>,
    /// The highest number [`Engine::next_id`] has handed out, readable without taking one.
    last_id: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Batches in flight (see [`Engine::apply`]), keyed by a per-process sequence.
    journal: sled::Tree,
    journal_seq: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Held while a batch goes from journal record to applied: one batch at a time, so a
    /// replay never re-applies an older batch over a newer one's acknowledged writes.
    journal_lock: std::sync::Arc<std::sync::Mutex<()>>,
}

/// Name of the tree holding the batch journal.
const JOURNAL_TREE: &str = "engine.batch_journal";

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
}

/// A set of writes across trees that lands atomically: all of it or none of it.
#[derive(Default)]
pub struct Batch {
    ops: Vec<(Tree, Vec<u8>, Option<Vec<u8>>)>,
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
            match Self::open_once(path, options) {
                Err(StorageError::Locked(_)) if attempts < 20 => {
                    attempts += 1;
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                other => return other,
            }
        }
    }

    fn open_once(path: &Path, options: &EngineOptions) -> Result<Self, StorageError> {
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
        // Taking one number at open gives `last_id` its starting point.
        let first = ID_BASE + db.generate_id().map_err(map_err)?;
        let journal = db.open_tree(JOURNAL_TREE).map_err(map_err)?;
        let engine = Self {
            db,
            commit: Default::default(),
            last_id: std::sync::Arc::new(first.into()),
            journal,
            journal_seq: Default::default(),
            journal_lock: Default::default(),
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
        })
    }

    /// A strictly increasing number, unique across restarts. Numbers start at
    /// [`ID_BASE`]: stream positions are drawn from here, and a room's history fetched
    /// later from other servers (backfill) takes the positions below its first event.
    pub fn next_id(&self) -> Result<u64, StorageError> {
        let id = ID_BASE + self.db.generate_id().map_err(map_err)?;
        self.last_id
            .fetch_max(id, std::sync::atomic::Ordering::SeqCst);
        Ok(id)
    }

    /// The highest number handed out so far (without taking a new one).
    pub fn last_id(&self) -> u64 {
        self.last_id.load(std::sync::atomic::Ordering::SeqCst)
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
    pub fn apply(&self, batch: Batch) -> Result<(), StorageError> {
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
        let seq = self
            .journal_seq
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            .to_be_bytes();
        self.journal.insert(seq, record).map_err(map_err)?;
        let applied = self.apply_each(batch);
        // On failure the record stays: the next open completes the batch.
        applied?;
        self.journal.remove(seq).map_err(map_err)?;
        Ok(())
    }

    /// Applies the writes one by one: for writes that do not depend on each other (each
    /// is atomic, a crash may keep some and not others before the next flush).
    pub fn apply_each(&self, batch: Batch) -> Result<(), StorageError> {
        for (tree, key, value) in batch.ops {
            match value {
                Some(v) => tree.tree.insert(key, v).map(|_| ()),
                None => tree.tree.remove(key).map(|_| ()),
            }
            .map_err(map_err)?;
        }
        Ok(())
    }

    /// Makes every write so far durable. Concurrent callers share disk syncs (see
    /// [`GroupCommit`]).
    pub async fn flush(&self) -> Result<(), StorageError> {
        use std::sync::atomic::Ordering::SeqCst;
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
            self.db.flush_async().await.map_err(map_err)?;
            commit.completed.fetch_max(target, SeqCst);
        }
    }

    /// Synchronous flush, for shutdown paths that are not async.
    pub fn flush_blocking(&self) -> Result<(), StorageError> {
        self.db.flush().map(|_| ()).map_err(map_err)
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
        self.tree.insert(key, value).map(|_| ()).map_err(map_err)
    }

    /// Removes the key and returns what it held, atomically: of two concurrent callers
    /// only one gets the value (single-use tokens rely on this).
    pub fn take(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.tree.remove(key).map_err(map_err)?.map(|v| v.to_vec()))
    }

    /// Replaces `old` with `new` only if the key still holds `old`; `None` means absent.
    /// Returns whether the swap happened.
    pub fn compare_and_swap(
        &self,
        key: &[u8],
        old: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, StorageError> {
        let result = self.tree.compare_and_swap(key, old, new).map_err(map_err)?;
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
mod tests {
    use super::*;

    const OPTIONS: EngineOptions = EngineOptions {
        cache_bytes: 1 << 20,
    };

    fn open() -> (tempfile::TempDir, Engine) {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path(), &OPTIONS).unwrap();
        (dir, engine)
    }

    #[test]
    fn batch_spans_trees() {
        let (_dir, engine) = open();
        let a = engine.tree("a").unwrap();
        let b = engine.tree("b").unwrap();
        a.insert(b"gone", b"x").unwrap();
        let mut batch = Batch::new();
        batch.insert(&a, b"k1".to_vec(), b"v1".to_vec());
        batch.insert(&b, b"k2".to_vec(), b"v2".to_vec());
        batch.remove(&a, b"gone".to_vec());
        engine.apply(batch).unwrap();
        assert_eq!(a.get(b"k1").unwrap().as_deref(), Some(&b"v1"[..]));
        assert_eq!(b.get(b"k2").unwrap().as_deref(), Some(&b"v2"[..]));
        assert_eq!(a.get(b"gone").unwrap(), None);
    }

    #[test]
    fn single_writes_and_independent_writes_apply_outside_transactions() {
        let (_dir, engine) = open();
        let a = engine.tree("a").unwrap();
        let b = engine.tree("b").unwrap();
        let mut one = Batch::new();
        one.insert(&a, b"k".to_vec(), b"v".to_vec());
        engine.apply(one).unwrap();
        assert_eq!(a.get(b"k").unwrap().as_deref(), Some(&b"v"[..]));
        let mut each = Batch::new();
        each.remove(&a, b"k".to_vec());
        each.insert(&b, b"x".to_vec(), b"y".to_vec());
        engine.apply_each(each).unwrap();
        assert_eq!(a.get(b"k").unwrap(), None);
        assert_eq!(b.get(b"x").unwrap().as_deref(), Some(&b"y"[..]));
    }

    #[test]
    fn batch_interrupted_by_a_crash_is_completed_at_open() {
        let dir = tempfile::tempdir().unwrap();
        {
            let engine = Engine::open(dir.path(), &OPTIONS).unwrap();
            let a = engine.tree("a").unwrap();
            a.insert(b"old", b"x").unwrap();
            // What a crash between the journal record and the last writes leaves: the
            // record, and only the first of its three writes.
            let record = crate::journal::encode(
                [
                    (&b"a"[..], &b"k1"[..], Some(&b"v1"[..])),
                    (&b"b"[..], &b"k2"[..], Some(&b"v2"[..])),
                    (&b"a"[..], &b"old"[..], None),
                ]
                .into_iter(),
            );
            engine.journal.insert(7u64.to_be_bytes(), record).unwrap();
            a.insert(b"k1", b"v1").unwrap();
            engine.flush_blocking().unwrap();
        }
        let engine = Engine::open(dir.path(), &OPTIONS).unwrap();
        let a = engine.tree("a").unwrap();
        let b = engine.tree("b").unwrap();
        assert_eq!(a.get(b"k1").unwrap().as_deref(), Some(&b"v1"[..]));
        assert_eq!(b.get(b"k2").unwrap().as_deref(), Some(&b"v2"[..]));
        assert_eq!(a.get(b"old").unwrap(), None);
        assert_eq!(engine.journal.len(), 0, "replayed records are dropped");
        // A batch applied normally leaves no record behind.
        let mut batch = Batch::new();
        batch.insert(&a, b"k3".to_vec(), b"v3".to_vec());
        batch.insert(&b, b"k4".to_vec(), b"v4".to_vec());
        engine.apply(batch).unwrap();
        assert_eq!(engine.journal.len(), 0);
    }

    #[test]
    fn damaged_journal_record_refuses_to_open() {
        let dir = tempfile::tempdir().unwrap();
        {
            let engine = Engine::open(dir.path(), &OPTIONS).unwrap();
            engine
                .journal
                .insert(1u64.to_be_bytes(), &[9u8, 0][..])
                .unwrap();
            engine.flush_blocking().unwrap();
        }
        match Engine::open(dir.path(), &OPTIONS) {
            Err(StorageError::Corrupt(_)) => {}
            other => panic!("expected Corrupt, got {:?}", other.map(|_| ())),
        }
    }

    #[test]
    fn take_is_single_use() {
        let (_dir, engine) = open();
        let t = engine.tree("t").unwrap();
        t.insert(b"k", b"v").unwrap();
        assert_eq!(t.take(b"k").unwrap().as_deref(), Some(&b"v"[..]));
        assert_eq!(t.take(b"k").unwrap(), None);
    }

    #[test]
    fn ids_increase() {
        let (_dir, engine) = open();
        let a = engine.next_id().unwrap();
        let b = engine.next_id().unwrap();
        assert!(b > a);
    }
}
