//! Client transaction IDs, so that a retried `PUT …/{txnId}` sends its event only once.
//!
//! Trees:
//! - `useriddevicetxn_eventid`: `(user_id, device_id, txn_id)` → the event ID, or empty
//!   while the first request is still sending it.
//! - `eventid_devicetxn`: `(event_id)` → `(device_id, txn_id)`: the sending device gets
//!   its transaction ID back in `unsigned` to recognise its own echo.

use crate::Result;
use crate::codec::key;
use crate::engine::{Engine, Tree};

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
}

impl TxnIds {
    pub(crate) fn open(engine: &Engine) -> Result<Self> {
        Ok(Self {
            txns: engine.tree("useriddevicetxn_eventid")?,
            by_event: engine.tree("eventid_devicetxn")?,
        })
    }

    /// Claims a transaction ID for sending, or says who has it.
    pub fn claim(&self, user_id: &str, device_id: &str, txn_id: &str) -> Result<TxnState> {
        let k = key((user_id, device_id, txn_id));
        if self.txns.compare_and_swap(&k, None, Some(&[]))? {
            return Ok(TxnState::Claimed);
        }
        Ok(match self.txns.get(&k)? {
            Some(v) if v.is_empty() => TxnState::Pending,
            Some(v) => TxnState::Done(String::from_utf8_lossy(&v).into_owned()),
            // Released between the two reads: try again.
            None => return self.claim(user_id, device_id, txn_id),
        })
    }

    /// Records the event the transaction sent.
    pub fn complete(
        &self,
        user_id: &str,
        device_id: &str,
        txn_id: &str,
        event_id: &str,
    ) -> Result<()> {
        self.txns
            .insert(&key((user_id, device_id, txn_id)), event_id.as_bytes())
    }

    /// Remembers which device sent an event under which client transaction ID.
    pub fn record_origin(&self, event_id: &str, device_id: &str, txn_id: &str) -> Result<()> {
        self.by_event
            .insert(&key((event_id,)), &key((device_id, txn_id)))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_pending_done_and_release() {
        let (_dir, s) = crate::test_storage();
        let t = &s.txn_ids;
        assert_eq!(t.claim("@a:x", "D", "1").unwrap(), TxnState::Claimed);
        assert_eq!(t.claim("@a:x", "D", "1").unwrap(), TxnState::Pending);
        assert_eq!(t.claim("@a:x", "OTHER", "1").unwrap(), TxnState::Claimed);
        t.complete("@a:x", "D", "1", "$e").unwrap();
        assert_eq!(
            t.claim("@a:x", "D", "1").unwrap(),
            TxnState::Done("$e".into())
        );
        t.release("@a:x", "OTHER", "1").unwrap();
        assert_eq!(t.claim("@a:x", "OTHER", "1").unwrap(), TxnState::Claimed);
    }
}
