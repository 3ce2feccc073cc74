//! Notifications produced by push rules, and users' pushers.
//!
//! Trees:
//! - `useridroomidcount_notification`: `(user_id, room_id, event count u64)` →
//!   [`Notification`]; unread counts are a range scan after the user's read receipt.
//! - `useridcount_roomid`: `(user_id, event count u64)` → `(room_id)`, for `/notifications`.
//! - `useridappidpushkey_pusher`: `(user_id, app_id, pushkey)` → the pusher (JSON).

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::codec::{KeyReader, key};
use crate::engine::{Batch, Engine, Tree};
use crate::users::corrupt;
use crate::{Result, StorageError, decode, encode, get};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Notification {
    pub event_id: String,
    pub highlight: bool,
    /// The push actions, as JSON.
    pub actions: serde_json::Value,
    pub ts: u64,
    /// The thread root, for events in a thread.
    #[serde(default)]
    pub thread_id: Option<String>,
}

#[derive(Clone)]
pub struct Notifications {
    by_room: Tree,
    by_user: Tree,
    pushers: Tree,
}

impl Notifications {
    pub(crate) fn open(engine: &Engine) -> Result<Self> {
        Ok(Self {
            by_room: engine.tree("useridroomidcount_notification")?,
            by_user: engine.tree("useridcount_roomid")?,
            pushers: engine.tree("useridappidpushkey_pusher")?,
        })
    }

    pub fn add(
        &self,
        batch: &mut Batch,
        user_id: &str,
        room_id: &str,
        count: u64,
        notification: &Notification,
    ) {
        batch.insert(
            &self.by_room,
            key((user_id, room_id, count)),
            encode(notification),
        );
        batch.insert(&self.by_user, key((user_id, count)), key((room_id,)));
    }

    /// `(notifications, highlights)` in a room after the event at `read_upto`.
    pub fn unread(&self, user_id: &str, room_id: &str, read_upto: u64) -> Result<(u64, u64)> {
        let start = key((user_id, room_id, read_upto.saturating_add(1)));
        let end = key((user_id, room_id, u64::MAX));
        let mut counts = (0, 0);
        for entry in self.by_room.range(start..=end) {
            let notification: Notification = decode(&entry?.1)?;
            counts.0 += 1;
            if notification.highlight {
                counts.1 += 1;
            }
        }
        Ok(counts)
    }

    /// Every notification in a room after the event at `after`, oldest first.
    pub fn in_room_after(
        &self,
        user_id: &str,
        room_id: &str,
        after: u64,
    ) -> Result<Vec<(u64, Notification)>> {
        let start = key((user_id, room_id, after.saturating_add(1)));
        let end = key((user_id, room_id, u64::MAX));
        self.by_room
            .range(start..=end)
            .map(|entry| {
                let (k, v) = entry?;
                let mut reader = KeyReader::new(&k);
                reader.str().map_err(corrupt)?;
                reader.str().map_err(corrupt)?;
                Ok((reader.u64().map_err(corrupt)?, decode(&v)?))
            })
            .collect()
    }

    /// Up to `limit` notifications with a count below `before`, newest first.
    pub fn list(
        &self,
        user_id: &str,
        before: u64,
        limit: usize,
    ) -> Result<Vec<(u64, String, Notification)>> {
        let start = key((user_id, 0u64));
        let end = key((user_id, before));
        let mut out = Vec::new();
        for entry in self.by_user.range(start..end).rev() {
            let (k, v) = entry?;
            let mut reader = KeyReader::new(&k);
            reader.str().map_err(corrupt)?;
            let count = reader.u64().map_err(corrupt)?;
            let room_id = KeyReader::new(&v).str().map_err(corrupt)?.to_owned();
            if let Some(notification) =
                get(&self.by_room, &key((user_id, room_id.as_str(), count)))?
            {
                out.push((count, room_id, notification));
                if out.len() == limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    pub fn put_pusher(
        &self,
        user_id: &str,
        app_id: &str,
        pushkey: &str,
        pusher: &RawValue,
    ) -> Result<()> {
        self.pushers
            .insert(&key((user_id, app_id, pushkey)), pusher.get().as_bytes())
    }

    pub fn remove_pusher(&self, user_id: &str, app_id: &str, pushkey: &str) -> Result<()> {
        self.pushers
            .take(&key((user_id, app_id, pushkey)))
            .map(|_| ())
    }

    /// Every pusher of a user, or of everyone when `user_id` is `None`, with its owner.
    pub fn pushers(&self, user_id: Option<&str>) -> Result<Vec<(String, Box<RawValue>)>> {
        let prefix = user_id.map(|u| key((u,))).unwrap_or_default();
        self.pushers
            .scan_prefix(&prefix)
            .map(|entry| {
                let (k, v) = entry?;
                let owner = KeyReader::new(&k).str().map_err(corrupt)?.to_owned();
                let text =
                    String::from_utf8(v).map_err(|e| StorageError::Corrupt(e.to_string()))?;
                Ok((
                    owner,
                    RawValue::from_string(text)
                        .map_err(|e| StorageError::Corrupt(e.to_string()))?,
                ))
            })
            .collect()
    }
}
