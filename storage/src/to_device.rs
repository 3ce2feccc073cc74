//! To-device messages, queued per device until the device acknowledges them.
//!
//! Tree `useriddevicepos_todevice`: `(user_id, device_id, pos u64)` → the event
//! `{"type", "sender", "content"}` (JSON). A device acknowledges everything below the
//! `since` token of its next `/sync`, and those messages are deleted.

use serde_json::value::RawValue;

use crate::codec::{KeyReader, key};
use crate::engine::{Batch, Engine, Tree};
use crate::users::corrupt;
use crate::{Result, StorageError};

#[derive(Clone)]
pub struct ToDevice {
    queue: Tree,
}

impl ToDevice {
    pub(crate) fn open(engine: &Engine) -> Result<Self> {
        Ok(Self {
            queue: engine.tree("useriddevicepos_todevice")?,
        })
    }

    pub fn push(
        &self,
        batch: &mut Batch,
        user_id: &str,
        device_id: &str,
        pos: u64,
        event: &RawValue,
    ) {
        batch.insert(
            &self.queue,
            key((user_id, device_id, pos)),
            event.get().as_bytes().to_vec(),
        );
    }

    /// Up to `limit` queued messages below position `before`, oldest first.
    /// How many messages wait for delivery, for every device.
    pub fn queued(&self) -> Result<usize> {
        let mut n = 0;
        for entry in self.queue.scan_prefix(&[]) {
            entry?;
            n += 1;
        }
        Ok(n)
    }

    pub fn pending(
        &self,
        user_id: &str,
        device_id: &str,
        before: u64,
        limit: usize,
    ) -> Result<Vec<(u64, Box<RawValue>)>> {
        let start = key((user_id, device_id, 0u64));
        let end = key((user_id, device_id, before));
        self.queue
            .range(start..end)
            .take(limit)
            .map(|entry| {
                let (k, v) = entry?;
                let mut reader = KeyReader::new(&k);
                reader.str().map_err(corrupt)?;
                reader.str().map_err(corrupt)?;
                let pos = reader.u64().map_err(corrupt)?;
                let text =
                    String::from_utf8(v).map_err(|e| StorageError::Corrupt(e.to_string()))?;
                Ok((
                    pos,
                    RawValue::from_string(text)
                        .map_err(|e| StorageError::Corrupt(e.to_string()))?,
                ))
            })
            .collect()
    }

    /// Deletes the messages the device has acknowledged (positions below `upto`).
    pub fn acknowledge(
        &self,
        batch: &mut Batch,
        user_id: &str,
        device_id: &str,
        upto: u64,
    ) -> Result<usize> {
        let start = key((user_id, device_id, 0u64));
        let end = key((user_id, device_id, upto));
        let mut removed = 0;
        for entry in self.queue.range(start..end) {
            batch.remove(&self.queue, entry?.0);
            removed += 1;
        }
        Ok(removed)
    }

    pub fn remove_device(&self, batch: &mut Batch, user_id: &str, device_id: &str) -> Result<()> {
        for entry in self.queue.scan_prefix(&key((user_id, device_id))) {
            batch.remove(&self.queue, entry?.0);
        }
        Ok(())
    }
}
