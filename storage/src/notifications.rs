//! Notifications produced by push rules, and users' pushers.
//!
//! Trees:
//! - `useridroomidcount_notification`: `(user_id, room_id, event count u64)` →
//!   [`Notification`]; unread counts are a range scan after the user's read receipt.
//!   `/notifications` merges the user's rooms' ranges, newest first. (Databases from
//!   before may still hold `useridcount_roomid`, an index of the same records by count
//!   that cost a second write per notified member per event; it is no longer read.)
//! - `useridappidpushkey_pusher`: `(user_id, app_id, pushkey)` → the pusher (JSON).

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::codec::{KeyReader, key};
use crate::engine::{Batch, Engine, Tree};
use crate::users::corrupt;
use crate::{Result, StorageError, decode, encode};

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
    pushers: Tree,
}

impl Notifications {
    pub(crate) fn open(engine: &Engine) -> Result<Self> {
        Ok(Self {
            by_room: engine.tree("useridroomidcount_notification")?,
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
            .map(|entry| entry_of(entry?))
            .collect()
    }

    /// Up to `limit` notifications with a count below `before`, newest first, from the
    /// user's notifications in `rooms` (every room the user has a membership in: only
    /// members are notified).
    pub fn list(
        &self,
        user_id: &str,
        rooms: &[String],
        before: u64,
        limit: usize,
    ) -> Result<Vec<(u64, String, Notification)>> {
        // Each room's range newest first; the merge takes the newest head each time.
        let mut heads = Vec::new();
        for room_id in rooms {
            let start = key((user_id, room_id.as_str(), 0u64));
            let end = key((user_id, room_id.as_str(), before));
            let mut entries = self.by_room.range(start..end).rev();
            if let Some(first) = entries.next() {
                heads.push((entry_of(first?)?, room_id.as_str(), entries));
            }
        }
        let mut out = Vec::new();
        while out.len() < limit {
            let Some(newest) = (0..heads.len()).max_by_key(|&i| heads[i].0.0) else {
                break;
            };
            let room_id = heads[newest].1.to_owned();
            let (count, notification) = match heads[newest].2.next() {
                Some(entry) => std::mem::replace(&mut heads[newest].0, entry_of(entry?)?),
                None => heads.swap_remove(newest).0,
            };
            out.push((count, room_id, notification));
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

    /// Removes (in the caller's batch) the user's pushers registered from `device_id`
    /// (their `device_id` field): a device that goes takes its pushers along.
    pub fn remove_device_pushers(
        &self,
        batch: &mut Batch,
        user_id: &str,
        device_id: &str,
    ) -> Result<()> {
        for entry in self.pushers.scan_prefix(&key((user_id,))) {
            let (k, v) = entry?;
            let pusher: serde_json::Value = serde_json::from_slice(&v).unwrap_or_default();
            if pusher["device_id"] == device_id {
                batch.remove(&self.pushers, k);
            }
        }
        Ok(())
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

/// A `by_room` record: the event's count (from the key) and the notification.
fn entry_of((k, v): (Vec<u8>, Vec<u8>)) -> Result<(u64, Notification)> {
    let mut reader = KeyReader::new(&k);
    reader.str().map_err(corrupt)?;
    reader.str().map_err(corrupt)?;
    Ok((reader.u64().map_err(corrupt)?, decode(&v)?))
}

/// Room purges.
impl Notifications {
    /// Forgets the user's notifications from the room.
    pub fn remove_room(&self, batch: &mut Batch, user_id: &str, room_id: &str) -> Result<()> {
        for entry in self.by_room.scan_prefix(&key((user_id, room_id))) {
            batch.remove(&self.by_room, entry?.0);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_merges_rooms_newest_first_within_bounds() {
        let (_dir, s) = crate::test_storage();
        let notification = |event: &str| Notification {
            event_id: event.into(),
            highlight: false,
            actions: serde_json::json!(["notify"]),
            ts: 1,
            thread_id: None,
        };
        let mut b = s.batch();
        for (room, count) in [
            ("!a:x", 1),
            ("!b:x", 2),
            ("!a:x", 3),
            ("!c:x", 4),
            ("!b:x", 5),
        ] {
            let event = format!("${count}");
            s.notifications
                .add(&mut b, "@u:x", room, count, &notification(&event));
        }
        // Another user's notifications are not listed.
        s.notifications
            .add(&mut b, "@v:x", "!a:x", 6, &notification("$6"));
        s.apply_each(b).unwrap();
        let rooms: Vec<String> = ["!a:x", "!b:x", "!c:x", "!empty:x"]
            .map(String::from)
            .into();
        let listed = |before: u64, limit: usize| -> Vec<(u64, String)> {
            s.notifications
                .list("@u:x", &rooms, before, limit)
                .unwrap()
                .into_iter()
                .map(|(count, room, n)| {
                    assert_eq!(n.event_id, format!("${count}"));
                    (count, room)
                })
                .collect()
        };
        let all = listed(u64::MAX, 10);
        assert_eq!(
            all,
            [
                (5, "!b:x"),
                (4, "!c:x"),
                (3, "!a:x"),
                (2, "!b:x"),
                (1, "!a:x")
            ]
            .map(|(c, r)| (c, r.to_owned()))
        );
        assert_eq!(listed(u64::MAX, 2), all[..2]);
        assert_eq!(listed(4, 2), all[2..4]);
        assert_eq!(listed(1, 5), []);
    }
}
