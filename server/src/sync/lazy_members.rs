//! Which member events each device was already sent by lazy-loading `/sync` responses
//! (`lazy_load_members` without `include_redundant_members`), so an incremental sync
//! leaves out the ones the client has.
//!
//! As in Synapse the record is best-effort and in memory: a device whose record was
//! dropped (expired, evicted, another process answered, the server restarted) is sent
//! those members again, which is redundant but never wrong. An initial sync starts the
//! device's record afresh, since the client starts with nothing.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A device's record is dropped after this long without a sync.
const IDLE_EXPIRY: Duration = Duration::from_secs(30 * 60);
/// Most member events remembered per device; past it the record starts again.
const MAX_PER_DEVICE: usize = 2_000;
/// Most devices remembered; past it the least recently syncing one is dropped.
const MAX_DEVICES: usize = 10_000;

#[derive(Default)]
pub struct LazyMembersCache {
    inner: Mutex<HashMap<(String, String), Device>>,
}

struct Device {
    used: Instant,
    /// (room ID, member's user ID) → the member event ID sent.
    sent: HashMap<(String, String), String>,
}

impl LazyMembersCache {
    /// Forgets what the device was sent (its client is starting from an initial sync).
    pub fn reset(&self, user_id: &str, device_id: &str) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.remove(&(user_id.to_owned(), device_id.to_owned()));
    }

    /// Whether the device was sent exactly this member event for the room.
    pub fn was_sent(
        &self,
        user_id: &str,
        device_id: &str,
        room_id: &str,
        member: &str,
        event_id: &str,
    ) -> bool {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner
            .get(&(user_id.to_owned(), device_id.to_owned()))
            .and_then(|device| device.sent.get(&(room_id.to_owned(), member.to_owned())))
            .is_some_and(|sent| sent == event_id)
    }

    /// Records member events (member's user ID, event ID) sent to the device for a room.
    pub fn record<'a>(
        &self,
        user_id: &str,
        device_id: &str,
        room_id: &str,
        members: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let key = (user_id.to_owned(), device_id.to_owned());
        if !inner.contains_key(&key) && inner.len() >= MAX_DEVICES {
            inner.retain(|_, device| now.duration_since(device.used) < IDLE_EXPIRY);
            if inner.len() >= MAX_DEVICES
                && let Some(oldest) = inner
                    .iter()
                    .min_by_key(|(_, device)| device.used)
                    .map(|(key, _)| key.clone())
            {
                inner.remove(&oldest);
            }
        }
        let device = inner.entry(key).or_insert_with(|| Device {
            used: now,
            sent: HashMap::new(),
        });
        if now.duration_since(device.used) >= IDLE_EXPIRY {
            device.sent.clear();
        }
        device.used = now;
        for (member, event_id) in members {
            if device.sent.len() >= MAX_PER_DEVICE {
                device.sent.clear();
            }
            device
                .sent
                .insert((room_id.to_owned(), member.to_owned()), event_id.to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_the_exact_event_per_room_and_device() {
        let cache = LazyMembersCache::default();
        cache.record("@a:x", "D", "!r:x", [("@b:x", "$1")]);
        assert!(cache.was_sent("@a:x", "D", "!r:x", "@b:x", "$1"));
        // A newer member event, another room or another device was not sent.
        assert!(!cache.was_sent("@a:x", "D", "!r:x", "@b:x", "$2"));
        assert!(!cache.was_sent("@a:x", "D", "!s:x", "@b:x", "$1"));
        assert!(!cache.was_sent("@a:x", "E", "!r:x", "@b:x", "$1"));
        cache.reset("@a:x", "D");
        assert!(!cache.was_sent("@a:x", "D", "!r:x", "@b:x", "$1"));
    }

    #[test]
    fn stays_bounded() {
        let cache = LazyMembersCache::default();
        for i in 0..MAX_PER_DEVICE + 10 {
            let member = format!("@u{i}:x");
            cache.record("@a:x", "D", "!r:x", [(member.as_str(), "$e")]);
        }
        let inner = cache.inner.lock().unwrap();
        assert!(inner[&("@a:x".to_owned(), "D".to_owned())].sent.len() <= MAX_PER_DEVICE);
    }
}
