//! Events this server holds without placing them in a room's timeline: the auth chain and
//! state a join brought in, events fetched to check another's authorization, and
//! soft-failed events. They are kept for authorization and state resolution, never shown
//! in a timeline.
//!
//! Trees:
//! - `eventid_outlier`: `(event_id)` → [`StoredPdu`]

use crate::codec::key;
use crate::engine::{Batch, Engine, Tree};
use crate::rooms::timeline::StoredPdu;
use crate::{Result, encode, get};

#[derive(Clone)]
pub struct Outliers {
    events: Tree,
}

impl Outliers {
    pub(crate) fn open(engine: &Engine) -> Result<Self> {
        Ok(Self {
            events: engine.tree("eventid_outlier")?,
        })
    }

    pub fn put(&self, batch: &mut Batch, pdu: &StoredPdu) {
        batch.insert(&self.events, key((pdu.event_id.as_str(),)), encode(pdu));
    }

    pub fn get(&self, event_id: &str) -> Result<Option<StoredPdu>> {
        get(&self.events, &key((event_id,)))
    }

    pub fn contains(&self, event_id: &str) -> Result<bool> {
        self.events.contains(&key((event_id,)))
    }
}

/// Room purges.
impl Outliers {
    /// Forgets every outlier of the room (a scan of all outliers: purges are rare).
    pub fn remove_room(&self, batch: &mut Batch, room_id: &str) -> Result<usize> {
        #[derive(serde::Deserialize)]
        struct RoomOf<'a> {
            #[serde(borrow)]
            room_id: Option<std::borrow::Cow<'a, str>>,
        }
        let mut removed = 0;
        for entry in self.events.scan_prefix(&[]) {
            let (k, v) = entry?;
            let stored: StoredPdu = crate::decode(&v)?;
            let of: RoomOf<'_> = serde_json::from_str(stored.pdu.get())
                .map_err(|e| crate::StorageError::Corrupt(e.to_string()))?;
            if of.room_id.as_deref() == Some(room_id) {
                batch.remove(&self.events, k);
                removed += 1;
            }
        }
        Ok(removed)
    }
}
