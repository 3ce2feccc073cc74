//! Read receipts.
//!
//! Trees:
//! - `roomidpos_receipt`: `(room_id, pos u64)` → [`Receipt`]: receipts in the order they
//!   were set, for incremental `/sync`.
//! - `roomidkey_pos`: `(room_id, receipt type, thread or "", user_id)` → `pos u64`: each
//!   user's latest receipt, so an update replaces the older entry.

use serde::{Deserialize, Serialize};

use crate::codec::{KeyReader, key};
use crate::engine::{Batch, Engine, Tree};
use crate::users::corrupt;
use crate::{Result, decode, encode};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Receipt {
    /// `m.read` or `m.read.private`.
    pub receipt_type: String,
    pub user_id: String,
    pub event_id: String,
    pub ts: u64,
    /// `None` for unthreaded receipts, `main` or a thread root's event ID otherwise.
    pub thread_id: Option<String>,
}

#[derive(Clone)]
pub struct Receipts {
    by_pos: Tree,
    latest: Tree,
}

impl Receipts {
    pub(crate) fn open(engine: &Engine) -> Result<Self> {
        Ok(Self {
            by_pos: engine.tree("roomidpos_receipt")?,
            latest: engine.tree("roomidkey_pos")?,
        })
    }

    pub fn set(&self, batch: &mut Batch, room_id: &str, receipt: &Receipt, pos: u64) -> Result<()> {
        let thread = receipt.thread_id.as_deref().unwrap_or("");
        let latest_key = key((
            room_id,
            receipt.receipt_type.as_str(),
            thread,
            receipt.user_id.as_str(),
        ));
        if let Some(old) = self.latest.get(&latest_key)? {
            let old_pos = KeyReader::new(&old).u64().map_err(corrupt)?;
            batch.remove(&self.by_pos, key((room_id, old_pos)));
        }
        batch.insert(&self.latest, latest_key, key((pos,)));
        batch.insert(&self.by_pos, key((room_id, pos)), encode(receipt));
        Ok(())
    }

    /// A user's latest receipt of one type and thread in a room.
    pub fn latest(
        &self,
        room_id: &str,
        receipt_type: &str,
        thread: Option<&str>,
        user_id: &str,
    ) -> Result<Option<Receipt>> {
        let latest_key = key((room_id, receipt_type, thread.unwrap_or(""), user_id));
        let Some(pos) = self.latest.get(&latest_key)? else {
            return Ok(None);
        };
        let pos = KeyReader::new(&pos).u64().map_err(corrupt)?;
        self.by_pos
            .get(&key((room_id, pos)))?
            .map(|b| decode(&b))
            .transpose()
    }

    /// Every latest receipt of the room set at or after `since`.
    pub fn since(&self, room_id: &str, since: u64) -> Result<Vec<Receipt>> {
        let start = key((room_id, since));
        let end = key((room_id, u64::MAX));
        self.by_pos
            .range(start..=end)
            .map(|entry| decode(&entry?.1))
            .collect()
    }
}

/// Room purges.
impl Receipts {
    /// Forgets every receipt in the room.
    pub fn remove_room(&self, batch: &mut Batch, room_id: &str) -> Result<()> {
        for tree in [&self.by_pos, &self.latest] {
            for entry in tree.scan_prefix(&key((room_id,))) {
                batch.remove(tree, entry?.0);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_newer_receipt_replaces_the_older_one() {
        let (_dir, s) = crate::test_storage();
        let r = |event: &str| Receipt {
            receipt_type: "m.read".into(),
            user_id: "@a:x".into(),
            event_id: event.into(),
            ts: 1,
            thread_id: None,
        };
        let mut b = s.batch();
        s.receipts.set(&mut b, "!r:x", &r("$1"), 10).unwrap();
        s.engine.apply(b).unwrap();
        let mut b = s.batch();
        s.receipts.set(&mut b, "!r:x", &r("$2"), 20).unwrap();
        s.engine.apply(b).unwrap();
        assert_eq!(s.receipts.since("!r:x", 0).unwrap(), vec![r("$2")]);
        assert!(s.receipts.since("!r:x", 21).unwrap().is_empty());
    }
}
