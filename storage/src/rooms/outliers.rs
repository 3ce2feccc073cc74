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
