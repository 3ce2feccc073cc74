//! Tests of the engine: batches, the journal and its failure path, the ID floor.

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
fn a_failed_batch_stops_all_writes_until_reopened() {
    let dir = tempfile::tempdir().unwrap();
    {
        let engine = Engine::open(dir.path(), &OPTIONS).unwrap();
        let a = engine.tree("a").unwrap();
        let mut first = Batch::new();
        first.insert(&a, b"k1".to_vec(), b"v1".to_vec());
        first.insert(&a, b"k2".to_vec(), b"v2".to_vec());
        engine.apply(first).unwrap();

        // The second write of the next batch fails: the batch is half applied and its
        // journal record stays for the next open.
        let done = engine.faults.writes.load(Ordering::SeqCst);
        engine.faults.fail_write.store(done + 2, Ordering::SeqCst);
        let mut failing = Batch::new();
        failing.insert(&a, b"k1".to_vec(), b"failed".to_vec());
        failing.insert(&a, b"k2".to_vec(), b"failed".to_vec());
        assert!(matches!(engine.apply(failing), Err(StorageError::Io(_))));
        assert!(engine.is_stopped());

        // Every later write is refused, whatever path it takes: a write accepted now
        // would be overwritten by the replay of the failed batch at the next open.
        let mut later = Batch::new();
        later.insert(&a, b"k1".to_vec(), b"later".to_vec());
        later.insert(&a, b"k3".to_vec(), b"later".to_vec());
        assert!(matches!(engine.apply(later), Err(StorageError::Stopped)));
        let mut single = Batch::new();
        single.insert(&a, b"k1".to_vec(), b"later".to_vec());
        assert!(matches!(engine.apply(single), Err(StorageError::Stopped)));
        assert!(matches!(
            a.insert(b"k1", b"later"),
            Err(StorageError::Stopped)
        ));
        assert!(matches!(a.take(b"k2"), Err(StorageError::Stopped)));
        assert!(matches!(
            a.compare_and_swap(b"k1", None, Some(b"x")),
            Err(StorageError::Stopped)
        ));
        assert!(matches!(engine.next_id(), Err(StorageError::Stopped)));
        let flushed = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(engine.flush());
        assert!(matches!(flushed, Err(StorageError::Stopped)));
        // Reads still work.
        assert_eq!(a.get(b"k1").unwrap().as_deref(), Some(&b"failed"[..]));
        let _ = engine.db.flush();
    }
    // Reopened: the failed batch is completed from its record, nothing written after
    // it exists, and writes are accepted again.
    let engine = Engine::open(dir.path(), &OPTIONS).unwrap();
    let a = engine.tree("a").unwrap();
    assert_eq!(a.get(b"k1").unwrap().as_deref(), Some(&b"failed"[..]));
    assert_eq!(a.get(b"k2").unwrap().as_deref(), Some(&b"failed"[..]));
    assert_eq!(a.get(b"k3").unwrap(), None);
    assert!(!engine.is_stopped());
    a.insert(b"k4", b"v4").unwrap();
    assert_eq!(engine.journal.len(), 0);
}

#[test]
fn ids_stay_above_the_clock_after_a_restore_or_a_new_database() {
    const SECOND: u64 = 1_000_000;
    let t0 = now_micros();
    // sled's background thread may hold the lock of an engine just dropped a moment
    // longer: a reopen waits for it.
    let open_at = |dir: &Path, t: u64| {
        for _ in 0..100 {
            match Engine::open_once(dir, &OPTIONS, t) {
                Err(StorageError::Locked(_)) => {
                    std::thread::sleep(std::time::Duration::from_millis(20))
                }
                other => return other.unwrap(),
            }
        }
        panic!("the database stayed locked");
    };
    let live = tempfile::tempdir().unwrap();
    let backup = tempfile::tempdir().unwrap();
    let first = {
        let engine = open_at(live.path(), t0);
        let first = engine.next_id().unwrap();
        engine.flush_blocking().unwrap();
        copy_dir(live.path(), backup.path());
        first
    };
    assert!(first >= t0, "a new database starts at the clock");
    // The live server runs on for an hour and is restarted now and then.
    let mut handed_out = first;
    for hour_part in 1..=4 {
        let engine = open_at(live.path(), t0 + hour_part * 900 * SECOND);
        for _ in 0..1000 {
            handed_out = engine.next_id().unwrap();
        }
    }
    // Restoring the backup a minute later: its own counter would repeat what the live
    // database handed out; the floor moves it past all of it.
    let restored = open_at(backup.path(), t0 + 3660 * SECOND);
    let after_restore = restored.next_id().unwrap();
    assert!(after_restore > handed_out);
    drop(restored);
    // So does a new, empty database (a reinstall under the same name).
    let fresh = tempfile::tempdir().unwrap();
    let reinstalled = open_at(fresh.path(), t0 + 3660 * SECOND);
    assert!(reinstalled.next_id().unwrap() > handed_out);
    // The floor only raises: a clock that went backwards keeps numbers increasing.
    let reopened = open_at(backup.path(), t0);
    assert!(reopened.next_id().unwrap() > after_restore);
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
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

#[test]
fn after_commit_hooks_run_only_when_the_batch_lands() {
    use std::sync::Arc;
    let (_dir, engine) = open();
    let tree = engine.tree("t").unwrap();
    let ran = Arc::new(AtomicU64::new(0));
    let mut batch = Batch::new();
    batch.insert(&tree, b"a".to_vec(), b"1".to_vec());
    batch.insert(&tree, b"b".to_vec(), b"2".to_vec());
    let seen = ran.clone();
    let reader = tree.clone();
    batch.after_commit(move || {
        // The writes are readable by the time the hook runs.
        assert_eq!(reader.get(b"b").unwrap().as_deref(), Some(&b"2"[..]));
        seen.fetch_add(1, Ordering::SeqCst);
    });
    engine.apply(batch).unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), 1);

    let done = engine.faults.writes.load(Ordering::SeqCst);
    engine.faults.fail_write.store(done + 2, Ordering::SeqCst);
    let mut batch = Batch::new();
    batch.insert(&tree, b"c".to_vec(), b"3".to_vec());
    batch.insert(&tree, b"d".to_vec(), b"4".to_vec());
    let seen = ran.clone();
    batch.after_commit(move || {
        seen.fetch_add(1, Ordering::SeqCst);
    });
    assert!(engine.apply(batch).is_err());
    assert_eq!(ran.load(Ordering::SeqCst), 1);
}
