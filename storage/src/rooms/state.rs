//! Room state snapshots, stored as deltas.
//!
//! A state map is `short state key → short event ID`. Each snapshot stores only what
//! changed against its parent snapshot (and a full copy every [`MAX_CHAIN`] links, so
//! loading walks a bounded chain). An event that does not change the state reuses its
//! predecessor's snapshot, so a message costs no state storage at all.
//!
//! Trees:
//! - `statehash_snapshot`: `(state hash u64)` → [`Snapshot`]
//! - `shorteventid_statehash`: `(short event u64)` → the state hash *after* the event
//! - `shortroomid_statehash`: `(short room u64)` → the room's current state hash

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::codec::{KeyReader, key};
use crate::engine::{Batch, Engine, Tree};
use crate::users::corrupt;
use crate::{Result, StorageError, encode, get};

/// `short state key → short event ID`.
pub type StateMap = BTreeMap<u64, u64>;

/// Longest delta chain before a full snapshot is written.
pub const MAX_CHAIN: u32 = 32;

#[derive(Debug, Serialize, Deserialize)]
struct Snapshot {
    parent: Option<u64>,
    /// Links from here to the nearest full snapshot.
    chain: u32,
    added: Vec<(u64, u64)>,
    removed: Vec<u64>,
}

#[derive(Clone)]
pub struct StateSnapshots {
    engine: Engine,
    snapshots: Tree,
    after_event: Tree,
    current: Tree,
    /// Recently loaded maps. A snapshot never changes once written, so entries are never
    /// stale; the cache only bounds how many are kept.
    cache: Arc<Mutex<MapCache>>,
}

/// Loaded state maps, bounded by their total size: a thousand small rooms' maps fit
/// (an initial sync reads each), a few rooms of tens of thousands of members do not
/// crowd out memory.
#[derive(Default)]
struct MapCache {
    maps: HashMap<u64, Arc<StateMap>>,
    /// Sum of the kept maps' lengths.
    entries: usize,
}

/// Most state entries (summed over maps) kept in memory: about 20 MiB.
const CACHE_ENTRIES: usize = 500_000;

impl MapCache {
    fn insert(&mut self, hash: u64, map: Arc<StateMap>) {
        if self.entries + map.len() > CACHE_ENTRIES {
            self.maps.clear();
            self.entries = 0;
        }
        self.entries += map.len();
        if let Some(old) = self.maps.insert(hash, map) {
            self.entries -= old.len();
        }
    }
}

/// What `new` adds or changes against `old`, and the keys it drops: one merged walk of
/// the two sorted maps, so a change to a large room's state costs no lookups per entry.
pub fn diff(old: &StateMap, new: &StateMap) -> (Vec<(u64, u64)>, Vec<u64>) {
    let (mut added, mut removed) = (Vec::new(), Vec::new());
    let mut old = old.iter().peekable();
    let mut new = new.iter().peekable();
    loop {
        match (old.peek(), new.peek()) {
            (None, None) => break,
            (Some((k, _)), None) => {
                removed.push(**k);
                old.next();
            }
            (None, Some((k, v))) => {
                added.push((**k, **v));
                new.next();
            }
            (Some((ko, vo)), Some((kn, vn))) => {
                if ko < kn {
                    removed.push(**ko);
                    old.next();
                } else if kn < ko {
                    added.push((**kn, **vn));
                    new.next();
                } else {
                    if vo != vn {
                        added.push((**kn, **vn));
                    }
                    old.next();
                    new.next();
                }
            }
        }
    }
    (added, removed)
}

fn read_u64(bytes: &[u8]) -> Result<u64> {
    KeyReader::new(bytes).u64().map_err(corrupt)
}

impl StateSnapshots {
    pub(crate) fn open(engine: &Engine) -> Result<Self> {
        Ok(Self {
            engine: engine.clone(),
            snapshots: engine.tree("statehash_snapshot")?,
            after_event: engine.tree("shorteventid_statehash")?,
            current: engine.tree("shortroomid_statehash")?,
            cache: Arc::default(),
        })
    }

    /// The full state map of a snapshot, to change.
    pub fn load(&self, state_hash: u64) -> Result<StateMap> {
        Ok(Arc::unwrap_or_clone(self.load_shared(state_hash)?))
    }

    /// The full state map of a snapshot, shared with the cache: for reading.
    pub fn load_shared(&self, state_hash: u64) -> Result<Arc<StateMap>> {
        if let Ok(cache) = self.cache.lock()
            && let Some(map) = cache.maps.get(&state_hash)
        {
            return Ok(Arc::clone(map));
        }
        let map = Arc::new(self.load_uncached(state_hash)?);
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(state_hash, Arc::clone(&map));
        }
        Ok(map)
    }

    /// Keeps a map the caller has just written under `state_hash` (in a batch now
    /// applied), so the next event of the room does not read it back: rebuilding a large
    /// room's state from its delta chain after every change cost work in proportion
    /// to the room's members.
    pub fn remember(&self, state_hash: u64, map: Arc<StateMap>) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(state_hash, map);
        }
    }

    fn load_uncached(&self, state_hash: u64) -> Result<StateMap> {
        let mut chain = Vec::new();
        let mut next = Some(state_hash);
        while let Some(hash) = next {
            let snapshot: Snapshot = get(&self.snapshots, &key((hash,)))?
                .ok_or_else(|| StorageError::Corrupt(format!("missing state snapshot {hash}")))?;
            next = snapshot.parent;
            chain.push(snapshot);
            if chain.len() > MAX_CHAIN as usize + 1 {
                return Err(StorageError::Corrupt(
                    "state snapshot chain too long".into(),
                ));
            }
        }
        let mut map = StateMap::new();
        for snapshot in chain.iter().rev() {
            for removed in &snapshot.removed {
                map.remove(removed);
            }
            map.extend(snapshot.added.iter().copied());
        }
        Ok(map)
    }

    /// Stores `new` as a snapshot derived from `parent` (its hash and full map) and
    /// returns its hash; an unchanged map returns the parent's hash.
    pub fn save(
        &self,
        batch: &mut Batch,
        parent: Option<(u64, &StateMap)>,
        new: &StateMap,
    ) -> Result<u64> {
        let snapshot = match parent {
            Some((parent_hash, parent_map)) => {
                let (added, removed) = diff(parent_map, new);
                if added.is_empty() && removed.is_empty() {
                    return Ok(parent_hash);
                }
                let parent_chain = get::<Snapshot>(&self.snapshots, &key((parent_hash,)))?
                    .map_or(MAX_CHAIN, |s| s.chain);
                if parent_chain + 1 >= MAX_CHAIN {
                    Snapshot {
                        parent: None,
                        chain: 0,
                        added: new.iter().map(|(k, v)| (*k, *v)).collect(),
                        removed: Vec::new(),
                    }
                } else {
                    Snapshot {
                        parent: Some(parent_hash),
                        chain: parent_chain + 1,
                        added,
                        removed,
                    }
                }
            }
            None => Snapshot {
                parent: None,
                chain: 0,
                added: new.iter().map(|(k, v)| (*k, *v)).collect(),
                removed: Vec::new(),
            },
        };
        let hash = self.engine.next_id()?;
        batch.insert(&self.snapshots, key((hash,)), encode(&snapshot));
        Ok(hash)
    }

    pub fn current(&self, room: u64) -> Result<Option<u64>> {
        self.current
            .get(&key((room,)))?
            .map(|b| read_u64(&b))
            .transpose()
    }

    pub fn set_current(&self, batch: &mut Batch, room: u64, state_hash: u64) {
        batch.insert(&self.current, key((room,)), key((state_hash,)));
    }

    /// The state hash after the event.
    pub fn after_event(&self, short_event: u64) -> Result<Option<u64>> {
        self.after_event
            .get(&key((short_event,)))?
            .map(|b| read_u64(&b))
            .transpose()
    }

    pub fn set_after_event(&self, batch: &mut Batch, short_event: u64, state_hash: u64) {
        batch.insert(&self.after_event, key((short_event,)), key((state_hash,)));
    }

    /// Deletes the state recorded after an event and the snapshots it leads to (a room
    /// purge). Snapshots are never shared between rooms, so a purge that removes every
    /// event of a room removes exactly its snapshots; `gone` collects what this batch
    /// already removes, so a chain shared by many events is walked once.
    pub fn remove_after_event(
        &self,
        batch: &mut Batch,
        short_event: u64,
        gone: &mut std::collections::HashSet<u64>,
    ) -> Result<()> {
        if let Some(hash) = self.after_event(short_event)? {
            self.remove_chain(batch, hash, gone)?;
        }
        batch.remove(&self.after_event, key((short_event,)));
        Ok(())
    }

    /// Forgets which state followed an event, keeping the snapshot (a history purge:
    /// other events share it).
    pub fn forget_after_event(&self, batch: &mut Batch, short_event: u64) {
        batch.remove(&self.after_event, key((short_event,)));
    }

    /// Deletes the room's current state pointer and its snapshots (a room purge).
    pub fn remove_current(
        &self,
        batch: &mut Batch,
        room: u64,
        gone: &mut std::collections::HashSet<u64>,
    ) -> Result<()> {
        if let Some(hash) = self.current(room)? {
            self.remove_chain(batch, hash, gone)?;
        }
        batch.remove(&self.current, key((room,)));
        Ok(())
    }

    fn remove_chain(
        &self,
        batch: &mut Batch,
        hash: u64,
        gone: &mut std::collections::HashSet<u64>,
    ) -> Result<()> {
        let mut next = Some(hash);
        while let Some(hash) = next {
            if !gone.insert(hash) {
                break;
            }
            // A snapshot already removed by an earlier (interrupted) purge ends the walk:
            // its parents went with it, in the same batch.
            next = get::<Snapshot>(&self.snapshots, &key((hash,)))?.and_then(|s| s.parent);
            batch.remove(&self.snapshots, key((hash,)));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_round_trip_and_unchanged_state_is_shared() {
        let (_dir, s) = crate::test_storage();
        let state = &s.rooms.state;
        let mut batch = s.batch();
        let mut map = StateMap::new();
        map.insert(1, 100);
        map.insert(2, 200);
        let first = state.save(&mut batch, None, &map).unwrap();
        s.engine.apply(batch).unwrap();

        let mut batch = s.batch();
        assert_eq!(
            state.save(&mut batch, Some((first, &map)), &map).unwrap(),
            first
        );
        let mut next = map.clone();
        next.insert(2, 201);
        next.insert(3, 300);
        next.remove(&1);
        let second = state.save(&mut batch, Some((first, &map)), &next).unwrap();
        s.engine.apply(batch).unwrap();
        assert_eq!(state.load(first).unwrap(), map);
        assert_eq!(state.load(second).unwrap(), next);
    }

    #[test]
    fn diff_finds_additions_changes_and_removals_at_both_ends() {
        let old: StateMap = [(1, 10), (3, 30), (5, 50), (9, 90)].into();
        let new: StateMap = [(0, 1), (3, 31), (5, 50), (7, 70)].into();
        assert_eq!(
            diff(&old, &new),
            (vec![(0, 1), (3, 31), (7, 70)], vec![1, 9])
        );
        assert_eq!(diff(&old, &old), (vec![], vec![]));
        assert_eq!(diff(&StateMap::new(), &old).1, Vec::<u64>::new());
    }

    #[test]
    fn long_chains_are_cut_by_full_snapshots() {
        let (_dir, s) = crate::test_storage();
        let state = &s.rooms.state;
        let mut map = StateMap::new();
        let mut batch = s.batch();
        let mut hash = state.save(&mut batch, None, &map).unwrap();
        s.engine.apply(batch).unwrap();
        for i in 0..100u64 {
            let mut next = map.clone();
            next.insert(i, i + 1000);
            let mut batch = s.batch();
            hash = state.save(&mut batch, Some((hash, &map)), &next).unwrap();
            s.engine.apply(batch).unwrap();
            map = next;
        }
        assert_eq!(state.load(hash).unwrap(), map);
    }
}
