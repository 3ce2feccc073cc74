//! Client transaction IDs, so that a retried `PUT …/{txnId}` sends its event only once.
//!
//! Trees:
//! - `useriddevicetxn_eventid`: `(user_id, device_id, txn_id)` → the event ID, or a
//!   claim marker (a zero byte and the claiming process's nonce) while the first request
//!   is still sending it. A marker left by a process that died mid-send is stale: the
//!   next request with the ID claims it anew, instead of waiting forever.
//! - `eventid_devicetxn`: `(event_id)` → `(device_id, txn_id)`: the sending device gets
//!   its transaction ID back in `unsigned` to recognise its own echo.

use crate::Result;
use crate::codec::key;
use crate::engine::{Batch, Engine, Tree};

/// The key under which a client's transaction ID is claimed: the ID scoped to where it
/// was used (a room and event type, or `sendToDevice` and a type). The parts are joined by
/// the key codec, not a separator, so an event type or ID containing one cannot make two
/// different requests collide.
pub fn scoped_txn(scope: &str, kind: &str, txn_id: &str) -> String {
    key((scope, kind, txn_id))
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What a transaction ID maps to.
#[derive(Debug, PartialEq, Eq)]
pub enum TxnState {
    /// This caller claimed it and must send the event.
    Claimed,
    /// Another request with the same ID is still sending.
    Pending,
    /// Already sent: this event.
    Done(String),
}

#[derive(Clone)]
pub struct TxnIds {
    txns: Tree,
    by_event: Tree,
    /// This process's claim marker: a zero byte (never the start of an event ID) and a
    /// nonce drawn at open.
    marker: Vec<u8>,
}

impl TxnIds {
    pub(crate) fn open(engine: &Engine) -> Result<Self> {
        Ok(Self {
            txns: engine.tree("useriddevicetxn_eventid")?,
            by_event: engine.tree("eventid_devicetxn")?,
            marker: {
                let mut marker = vec![0u8];
                marker.extend_from_slice(&engine.next_id()?.to_be_bytes());
                marker
            },
        })
    }

    /// Claims a transaction ID for sending, or says who has it.
    pub fn claim(&self, user_id: &str, device_id: &str, txn_id: &str) -> Result<TxnState> {
        let k = key((user_id, device_id, txn_id));
        loop {
            if self.txns.compare_and_swap(&k, None, Some(&self.marker))? {
                return Ok(TxnState::Claimed);
            }
            match self.txns.get(&k)? {
                Some(v) if v == self.marker => return Ok(TxnState::Pending),
                // A claim of a process that is gone: nobody will finish it.
                Some(v)
                    if (v.first() == Some(&0) || v.is_empty())
                        && self
                            .txns
                            .compare_and_swap(&k, Some(&v), Some(&self.marker))? =>
                {
                    return Ok(TxnState::Claimed);
                }
                // (Taken over by someone else in between: look again.)
                Some(v) if v.first() == Some(&0) || v.is_empty() => {}
                Some(v) => return Ok(TxnState::Done(String::from_utf8_lossy(&v).into_owned())),
                // Released between the two reads: try again.
                None => {}
            }
        }
    }

    /// Records, in the batch of the event itself, the event the transaction sent and
    /// which device sent it under which transaction ID: both become durable with the
    /// event, so a retry after a crash finds the event instead of sending it twice.
    pub fn complete(
        &self,
        batch: &mut Batch,
        user_id: &str,
        device_id: &str,
        txn_id: &str,
        event_id: &str,
    ) {
        batch.insert(
            &self.txns,
            key((user_id, device_id, txn_id)),
            event_id.as_bytes().to_vec(),
        );
    }

    /// Remembers, in the event's batch, which device sent an event under which client
    /// transaction ID.
    pub fn record_origin(&self, batch: &mut Batch, event_id: &str, device_id: &str, txn_id: &str) {
        batch.insert(&self.by_event, key((event_id,)), key((device_id, txn_id)));
    }

    /// The transaction ID an event was sent with, if `device_id` sent it.
    pub fn origin_txn(&self, event_id: &str, device_id: &str) -> Result<Option<String>> {
        let Some(bytes) = self.by_event.get(&key((event_id,)))? else {
            return Ok(None);
        };
        let mut reader = crate::codec::KeyReader::new(&bytes);
        let device = reader.str().map_err(crate::users::corrupt)?;
        if device != device_id {
            return Ok(None);
        }
        Ok(Some(
            reader.str().map_err(crate::users::corrupt)?.to_owned(),
        ))
    }

    /// Gives a claimed transaction ID back after a failure, so a retry can send.
    pub fn release(&self, user_id: &str, device_id: &str, txn_id: &str) -> Result<()> {
        self.txns
            .take(&key((user_id, device_id, txn_id)))
            .map(|_| ())
    }
}

/// Room purges.
impl TxnIds {
    /// Forgets which device sent the event.
    pub fn remove_origin(&self, batch: &mut Batch, event_id: &str) {
        batch.remove(&self.by_event, key((event_id,)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scoped_ids_never_collide_across_separators() {
        assert_ne!(
            scoped_txn("!r:x", "a|b", "c"),
            scoped_txn("!r:x", "a", "b|c")
        );
        assert_ne!(
            scoped_txn("!r:x|a", "b", "c"),
            scoped_txn("!r:x", "a|b", "c")
        );
        assert_eq!(
            scoped_txn("!r:x", "m.room.message", "t1"),
            scoped_txn("!r:x", "m.room.message", "t1")
        );
    }

    #[test]
    fn claim_pending_done_and_release() {
        let (_dir, s) = crate::test_storage();
        let t = &s.txn_ids;
        assert_eq!(t.claim("@a:x", "D", "1").unwrap(), TxnState::Claimed);
        assert_eq!(t.claim("@a:x", "D", "1").unwrap(), TxnState::Pending);
        assert_eq!(t.claim("@a:x", "OTHER", "1").unwrap(), TxnState::Claimed);
        let mut batch = Batch::new();
        t.complete(&mut batch, "@a:x", "D", "1", "$e");
        t.record_origin(&mut batch, "$e", "D", "1");
        s.apply(batch).unwrap();
        assert_eq!(
            t.claim("@a:x", "D", "1").unwrap(),
            TxnState::Done("$e".into())
        );
        assert_eq!(t.origin_txn("$e", "D").unwrap().as_deref(), Some("1"));
        t.release("@a:x", "OTHER", "1").unwrap();
        assert_eq!(t.claim("@a:x", "OTHER", "1").unwrap(), TxnState::Claimed);
    }

    #[test]
    fn a_claim_left_by_a_dead_process_is_taken_over() {
        let (_dir, s) = crate::test_storage();
        let t = &s.txn_ids;
        let k = key(("@a:x", "D", "1"));
        // Another process's marker, and the empty marker of older versions.
        t.txns.insert(&k, &[0, 9, 9, 9]).unwrap();
        assert_eq!(t.claim("@a:x", "D", "1").unwrap(), TxnState::Claimed);
        assert_eq!(t.claim("@a:x", "D", "1").unwrap(), TxnState::Pending);
        t.txns.insert(&k, &[]).unwrap();
        assert_eq!(t.claim("@a:x", "D", "1").unwrap(), TxnState::Claimed);
    }
}
