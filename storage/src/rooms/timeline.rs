//! Room events in stream order, and each room's forward extremities.
//!
//! Trees:
//! - `pduid_pdu`: `(short room u64, count u64)` → [`StoredPdu`]. `count` is the global
//!   stream position the event was appended at, so one range scan pages through a room.
//! - `eventid_pduid`: `(event_id)` → `(short room u64, count u64)`.
//! - `roomid_extremity`: `(short room u64, event_id)` → empty: the events nothing
//!   references yet, which become the `prev_events` of the next event.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::codec::{KeyReader, key};
use crate::engine::{Batch, Engine, Tree};
use crate::memo::Memo;
use crate::users::corrupt;
use crate::{Result, decode, encode};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StoredPdu {
    pub event_id: String,
    /// The signed event as canonical JSON.
    pub pdu: Box<RawValue>,
}

/// Where an event sits: its room and its stream position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PduId {
    pub room: u64,
    pub count: u64,
}

#[derive(Clone)]
pub struct Timeline {
    pdus: Tree,
    by_event: Tree,
    extremities: Tree,
    /// Each room's newest position, read for every room of a user on each sliding sync.
    tips: std::sync::Arc<Memo<u64, u64>>,
    /// Bumped after every rewrite of a stored event ([`Timeline::rewrites`]).
    rewrites: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Timeline {
    pub(crate) fn open(engine: &Engine) -> Result<Self> {
        Ok(Self {
            pdus: engine.tree("pduid_pdu")?,
            by_event: engine.tree("eventid_pduid")?,
            extremities: engine.tree("roomid_extremity")?,
            tips: std::sync::Arc::new(Memo::new(200_000)),
            rewrites: Default::default(),
        })
    }

    pub fn append(&self, batch: &mut Batch, at: PduId, pdu: &StoredPdu) {
        batch.insert(&self.pdus, key((at.room, at.count)), encode(pdu));
        batch.insert(
            &self.by_event,
            key((pdu.event_id.as_str(),)),
            key((at.room, at.count)),
        );
        let tips = self.tips.clone();
        batch.after_commit(move || {
            tips.changed(&at.room, |tip| {
                *tip = (*tip).max(at.count);
                true
            })
        });
    }

    /// Overwrites a stored event in place (redaction strips content from storage).
    pub fn replace(&self, batch: &mut Batch, at: PduId, pdu: &StoredPdu) {
        batch.insert(&self.pdus, key((at.room, at.count)), encode(pdu));
        let rewrites = self.rewrites.clone();
        batch.after_commit(move || {
            rewrites.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        });
    }

    /// How many rewrites of stored events have landed. Caches of events keyed by ID
    /// alone read it before loading and trust an entry only while it has not moved: a
    /// redaction must never be answered with the text it removed.
    pub fn rewrites(&self) -> u64 {
        self.rewrites.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn pdu_id(&self, event_id: &str) -> Result<Option<PduId>> {
        self.by_event
            .get(&key((event_id,)))?
            .map(|b| {
                let mut reader = KeyReader::new(&b);
                Ok(PduId {
                    room: reader.u64().map_err(corrupt)?,
                    count: reader.u64().map_err(corrupt)?,
                })
            })
            .transpose()
    }

    pub fn get_at(&self, at: PduId) -> Result<Option<StoredPdu>> {
        self.pdus
            .get(&key((at.room, at.count)))?
            .map(|b| decode(&b))
            .transpose()
    }

    pub fn get(&self, event_id: &str) -> Result<Option<(PduId, StoredPdu)>> {
        let Some(at) = self.pdu_id(event_id)? else {
            return Ok(None);
        };
        Ok(self.get_at(at)?.map(|pdu| (at, pdu)))
    }

    /// Up to `limit` events of `room` with a position above `after`, oldest first.
    pub fn after(&self, room: u64, after: u64, limit: usize) -> Result<Vec<(u64, StoredPdu)>> {
        let start = key((room, after.saturating_add(1)));
        let end = key((room, u64::MAX));
        self.pdus
            .range(start..=end)
            .take(limit)
            .map(|e| Self::entry(e?))
            .collect()
    }

    /// How many bytes the room's stored events take (a full scan of the room: for the
    /// admin API's statistics, not for hot paths).
    pub fn room_bytes(&self, room: u64) -> Result<u64> {
        let mut total = 0u64;
        for entry in self.pdus.scan_prefix(&key((room,))) {
            let (k, v) = entry?;
            total += (k.len() + v.len()) as u64;
        }
        Ok(total)
    }

    /// The room's `limit` oldest events by position, oldest first.
    pub fn oldest(&self, room: u64, limit: usize) -> Result<Vec<(u64, StoredPdu)>> {
        self.pdus
            .scan_prefix(&key((room,)))
            .take(limit)
            .map(|e| Self::entry(e?))
            .collect()
    }

    /// Up to `limit` events of `room` with a position below `before`, newest first.
    pub fn before(&self, room: u64, before: u64, limit: usize) -> Result<Vec<(u64, StoredPdu)>> {
        let start = key((room, 0u64));
        let end = key((room, before));
        self.pdus
            .range(start..end)
            .rev()
            .take(limit)
            .map(|e| Self::entry(e?))
            .collect()
    }

    /// Up to `limit` events of `room` with a position in `from..before`, newest first.
    pub fn between(
        &self,
        room: u64,
        from: u64,
        before: u64,
        limit: usize,
    ) -> Result<Vec<(u64, StoredPdu)>> {
        if from >= before {
            return Ok(Vec::new());
        }
        self.pdus
            .range(key((room, from))..key((room, before)))
            .rev()
            .take(limit)
            .map(|e| Self::entry(e?))
            .collect()
    }

    fn entry((k, v): (Vec<u8>, Vec<u8>)) -> Result<(u64, StoredPdu)> {
        let mut reader = KeyReader::new(&k);
        reader.u64().map_err(corrupt)?;
        Ok((reader.u64().map_err(corrupt)?, decode(&v)?))
    }

    /// The position of the room's newest event below `before` (its key alone: cheap
    /// enough to ask of every room a user is in).
    pub fn last_count_before(&self, room: u64, before: u64) -> Result<Option<u64>> {
        match self.tip(room)? {
            Some(tip) if tip < before => Ok(Some(tip)),
            None => Ok(None),
            // Only when the room moved on since `before` was taken.
            Some(_) => self.last_key_below(room, before),
        }
    }

    /// The room's newest position, from memory when it can.
    fn tip(&self, room: u64) -> Result<Option<u64>> {
        self.tips
            .get_or_load(&room, || self.last_key_below(room, u64::MAX))
    }

    fn last_key_below(&self, room: u64, before: u64) -> Result<Option<u64>> {
        let Some(k) = self
            .pdus
            .last_key_in(key((room, 0u64))..key((room, before)))?
        else {
            return Ok(None);
        };
        let mut reader = KeyReader::new(&k);
        reader.u64().map_err(corrupt)?;
        Ok(Some(reader.u64().map_err(corrupt)?))
    }

    /// The stream position of the room's newest event.
    pub fn latest_count(&self, room: u64) -> Result<Option<u64>> {
        self.tip(room)
    }

    pub fn extremities(&self, room: u64) -> Result<Vec<String>> {
        self.extremities
            .scan_prefix(&key((room,)))
            .map(|entry| {
                let (k, _) = entry?;
                let mut reader = KeyReader::new(&k);
                reader.u64().map_err(corrupt)?;
                Ok(reader.str().map_err(corrupt)?.to_owned())
            })
            .collect()
    }

    /// Replaces `referenced` extremities by the new event.
    pub fn advance_extremities(
        &self,
        batch: &mut Batch,
        room: u64,
        referenced: &[String],
        new_event: &str,
    ) {
        self.drop_extremities(batch, room, referenced);
        batch.insert(&self.extremities, key((room, new_event)), Vec::new());
    }

    /// Deletes an event from the timeline (a room purge). Readers of the room's newest
    /// position and caches of events by ID are told once the batch lands.
    pub fn remove(&self, batch: &mut Batch, at: PduId, event_id: &str) {
        batch.remove(&self.pdus, key((at.room, at.count)));
        batch.remove(&self.by_event, key((event_id,)));
        let (tips, rewrites) = (self.tips.clone(), self.rewrites.clone());
        batch.after_commit(move || {
            tips.changed(&at.room, |_| false);
            rewrites.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        });
    }

    /// Forgets every forward extremity of the room (a room purge).
    pub fn remove_all_extremities(&self, batch: &mut Batch, room: u64) -> Result<()> {
        let all = self.extremities(room)?;
        self.drop_extremities(batch, room, &all);
        Ok(())
    }

    /// Forgets forward extremities (the admin API's clean-up of a room that has too many).
    pub fn drop_extremities(&self, batch: &mut Batch, room: u64, dropped: &[String]) {
        for old in dropped {
            batch.remove(&self.extremities, key((room, old.as_str())));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pdu(id: &str) -> StoredPdu {
        StoredPdu {
            event_id: id.into(),
            pdu: RawValue::from_string("{}".into()).unwrap(),
        }
    }

    #[test]
    fn the_newest_position_follows_appends_and_respects_the_boundary() {
        let (_dir, s) = crate::test_storage();
        let t = &s.rooms.timeline;
        assert_eq!(t.latest_count(7).unwrap(), None);
        let mut b = s.batch();
        t.append(&mut b, PduId { room: 7, count: 10 }, &pdu("$a"));
        s.apply(b).unwrap();
        assert_eq!(t.latest_count(7).unwrap(), Some(10));
        let mut b = s.batch();
        t.append(&mut b, PduId { room: 7, count: 20 }, &pdu("$b"));
        // Backfilled events sit below the newest one and do not move it.
        t.append(&mut b, PduId { room: 7, count: 5 }, &pdu("$c"));
        s.apply(b).unwrap();
        assert_eq!(t.latest_count(7).unwrap(), Some(20));
        assert_eq!(t.last_count_before(7, 21).unwrap(), Some(20));
        // A boundary taken before the newest event was appended does not see it.
        assert_eq!(t.last_count_before(7, 20).unwrap(), Some(10));
        assert_eq!(t.last_count_before(7, 6).unwrap(), Some(5));
        assert_eq!(t.last_count_before(7, 5).unwrap(), None);
        // A batch that never lands leaves the memory untouched.
        let mut b = s.batch();
        t.append(&mut b, PduId { room: 7, count: 30 }, &pdu("$d"));
        drop(b);
        assert_eq!(t.latest_count(7).unwrap(), Some(20));
    }
}
