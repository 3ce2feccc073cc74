//! Interning of long identifiers to `u64` short IDs.
//!
//! Trees (each pair maps both ways):
//! - `roomid_short` / `short_roomid`
//! - `eventid_short` / `short_eventid`
//! - `statekey_short` / `short_statekey`: `(event type, state key)`
//!
//! Interning is idempotent and safe under concurrency: the forward mapping is created with
//! compare-and-swap, so two callers interning one ID get the same short ID. An ID interned
//! for a write that then fails is harmless.

use crate::codec::{KeyReader, key};
use crate::engine::{Batch, Engine, Tree};
use crate::memo::Memo;
use crate::users::corrupt;
use crate::{Result, StorageError};

#[derive(Clone)]
pub struct ShortIds {
    engine: Engine,
    room_fwd: Tree,
    room_rev: Tree,
    event_fwd: Tree,
    event_rev: Tree,
    statekey_fwd: Tree,
    statekey_rev: Tree,
    /// Room IDs' short IDs (they never change once given).
    rooms: std::sync::Arc<Memo<String, u64>>,
    /// Short state keys by their encoded `(type, state key)`: every state lookup asks.
    state_keys: std::sync::Arc<Memo<Vec<u8>, u64>>,
    /// Event IDs by short ID: every load of a state event asks.
    event_ids: std::sync::Arc<Memo<u64, String>>,
}

fn read_u64(bytes: &[u8]) -> Result<u64> {
    KeyReader::new(bytes).u64().map_err(corrupt)
}

impl ShortIds {
    pub(crate) fn open(engine: &Engine) -> Result<Self> {
        Ok(Self {
            engine: engine.clone(),
            room_fwd: engine.tree("roomid_short")?,
            room_rev: engine.tree("short_roomid")?,
            event_fwd: engine.tree("eventid_short")?,
            event_rev: engine.tree("short_eventid")?,
            statekey_fwd: engine.tree("statekey_short")?,
            statekey_rev: engine.tree("short_statekey")?,
            rooms: std::sync::Arc::new(Memo::new(100_000)),
            state_keys: std::sync::Arc::new(Memo::new(100_000)),
            event_ids: std::sync::Arc::new(Memo::new(100_000)),
        })
    }

    fn intern(&self, fwd: &Tree, rev: &Tree, long: Vec<u8>) -> Result<u64> {
        if let Some(existing) = fwd.get(&long)? {
            return read_u64(&existing);
        }
        let short = self.engine.next_id()?;
        if fwd.compare_and_swap(&long, None, Some(&key((short,))))? {
            rev.insert(&key((short,)), &long)?;
            return Ok(short);
        }
        let existing = fwd
            .get(&long)?
            .ok_or_else(|| StorageError::Corrupt("interning race lost the winner".into()))?;
        read_u64(&existing)
    }

    fn lookup(fwd: &Tree, long: &[u8]) -> Result<Option<u64>> {
        fwd.get(long)?.map(|b| read_u64(&b)).transpose()
    }

    pub fn room(&self, room_id: &str) -> Result<u64> {
        if let Some(short) = self.room_if_known(room_id)? {
            return Ok(short);
        }
        self.intern(&self.room_fwd, &self.room_rev, key((room_id,)))
    }
    pub fn room_if_known(&self, room_id: &str) -> Result<Option<u64>> {
        self.rooms
            .get_or_load(room_id, || Self::lookup(&self.room_fwd, &key((room_id,))))
    }
    pub fn room_id(&self, short: u64) -> Result<Option<String>> {
        self.room_rev
            .get(&key((short,)))?
            .map(|b| Ok(KeyReader::new(&b).str().map_err(corrupt)?.to_owned()))
            .transpose()
    }

    pub fn event(&self, event_id: &str) -> Result<u64> {
        self.intern(&self.event_fwd, &self.event_rev, key((event_id,)))
    }
    pub fn event_if_known(&self, event_id: &str) -> Result<Option<u64>> {
        Self::lookup(&self.event_fwd, &key((event_id,)))
    }
    pub fn event_id(&self, short: u64) -> Result<Option<String>> {
        self.event_ids.get_or_load(&short, || {
            self.event_rev
                .get(&key((short,)))?
                .map(|b| Ok(KeyReader::new(&b).str().map_err(corrupt)?.to_owned()))
                .transpose()
        })
    }

    pub fn state_key(&self, kind: &str, state_key: &str) -> Result<u64> {
        if let Some(short) = self.state_key_if_known(kind, state_key)? {
            return Ok(short);
        }
        self.intern(
            &self.statekey_fwd,
            &self.statekey_rev,
            key((kind, state_key)),
        )
    }
    pub fn state_key_if_known(&self, kind: &str, state_key: &str) -> Result<Option<u64>> {
        let long = key((kind, state_key));
        self.state_keys
            .get_or_load(long.as_slice(), || Self::lookup(&self.statekey_fwd, &long))
    }
    /// The `(type, state_key)` pair behind a short state key.
    pub fn state_key_pair(&self, short: u64) -> Result<Option<(String, String)>> {
        self.statekey_rev
            .get(&key((short,)))?
            .map(|b| {
                let mut reader = KeyReader::new(&b);
                let kind = reader.str().map_err(corrupt)?.to_owned();
                let state_key = reader.str().map_err(corrupt)?.to_owned();
                Ok((kind, state_key))
            })
            .transpose()
    }
}

/// Room purges.
impl ShortIds {
    /// Forgets an event's short ID (never handed out again: short IDs only grow).
    pub fn remove_event(&self, batch: &mut Batch, event_id: &str, short: u64) {
        batch.remove(&self.event_fwd, key((event_id,)));
        batch.remove(&self.event_rev, key((short,)));
    }

    /// Forgets a room's short ID; a room of that ID known again later gets a new one.
    pub fn remove_room(&self, batch: &mut Batch, room_id: &str, short: u64) {
        batch.remove(&self.room_fwd, key((room_id,)));
        batch.remove(&self.room_rev, key((short,)));
        let (memo, room_id) = (self.rooms.clone(), room_id.to_owned());
        batch.after_commit(move || memo.changed(room_id.as_str(), |_| false));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn interning_is_stable_and_reversible() {
        let (_dir, s) = crate::test_storage();
        let a = s.rooms.short.event("$a").unwrap();
        assert_eq!(s.rooms.short.event("$a").unwrap(), a);
        assert_ne!(s.rooms.short.event("$b").unwrap(), a);
        assert_eq!(s.rooms.short.event_id(a).unwrap().as_deref(), Some("$a"));
        let k = s.rooms.short.state_key("m.room.member", "@u:x").unwrap();
        assert_eq!(
            s.rooms.short.state_key_pair(k).unwrap(),
            Some(("m.room.member".into(), "@u:x".into()))
        );
        assert_eq!(
            s.rooms.short.state_key_if_known("m.room.name", "").unwrap(),
            None
        );
    }
}
