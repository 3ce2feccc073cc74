//! Stream positions: every event (and account-data change) gets a strictly increasing
//! position from storage. Writers commit out of order, so readers must never look past a
//! position whose write is still in flight, or they would skip it for good. This tracks
//! the in-flight positions and answers the highest position below all of them.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use citadel_storage::Storage;

use crate::api::error::{Error, Result};

#[derive(Default)]
pub struct StreamPositions {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    in_flight: BTreeSet<u64>,
    highest_allocated: u64,
}

/// A reserved position; the reservation ends when it is dropped (after the commit, or on
/// failure, in which case the position simply stays unused).
pub struct Reserved {
    pub position: u64,
    owner: Arc<StreamPositions>,
}

impl Drop for Reserved {
    fn drop(&mut self) {
        if let Ok(mut inner) = self.owner.inner.lock() {
            inner.in_flight.remove(&self.position);
        }
    }
}

impl StreamPositions {
    /// Reserves the next position.
    pub fn reserve(self: &Arc<Self>, storage: &Storage) -> Result<Reserved> {
        let mut inner = self
            .inner
            .lock()
            .map_err(|_| Error::internal("stream lock poisoned"))?;
        // Allocated under the lock, so positions enter `in_flight` in increasing order.
        let position = storage.next_id()?;
        inner.in_flight.insert(position);
        inner.highest_allocated = inner.highest_allocated.max(position);
        Ok(Reserved {
            position,
            owner: Arc::clone(self),
        })
    }

    /// Every position up to (and including) this one is committed or abandoned.
    pub fn safe_upto(&self, storage: &Storage) -> Result<u64> {
        let inner = self
            .inner
            .lock()
            .map_err(|_| Error::internal("stream lock poisoned"))?;
        Ok(match inner.in_flight.first() {
            Some(first) => first - 1,
            // Nothing in flight: everything allocated so far is done. Positions taken by
            // writes that do not reserve (IDs, snapshots) are harmless to include.
            // (Read, not allocated: reading must not move the stream, or every
            // request would look like news.)
            None => inner.highest_allocated.max(storage.last_id()),
        })
    }
}
