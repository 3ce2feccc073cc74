//! Recently built `rooms` sections of initial `/sync` responses.
//!
//! A client that loses its connection repeats its initial sync, and a fresh login
//! often syncs twice; rebuilding every joined room each time is the most expensive
//! read the server does. An entry is reused only while the stream has not moved at
//! all since it was built (every change a `/sync` can show takes a stream position),
//! so a cached answer is always exactly what a rebuild would give; entries also
//! expire, and the cache is bounded in bytes, so it never holds memory for long.
//! Everything per device or time-dependent (to-device messages, key counts,
//! presence) is built fresh on every request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::value::RawValue;

/// How long an entry may be reused.
const LIFETIME: Duration = Duration::from_secs(120);
/// Most bytes of cached JSON kept at once.
const MAX_BYTES: usize = 32 * 1024 * 1024;

#[derive(Default)]
pub struct InitialSyncCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<String, Entry>,
    bytes: usize,
}

struct Entry {
    /// The response boundary the section was built for.
    position: u64,
    built: Instant,
    rooms: Arc<RawValue>,
}

/// Identifies what a response depends on besides the stream: who asks, from which
/// device (its own events carry transaction IDs), and through which filter (stored
/// filters never change, so their ID stands for their content).
pub fn key(user_id: &str, device_id: &str, filter: Option<&str>) -> String {
    format!("{user_id}\n{device_id}\n{}", filter.unwrap_or(""))
}

impl InitialSyncCache {
    /// The section built for exactly this boundary, if it is still fresh.
    pub fn get(&self, key: &str, position: u64) -> Option<Arc<RawValue>> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.expire();
        inner
            .entries
            .get(key)
            .filter(|entry| entry.position == position)
            .map(|entry| Arc::clone(&entry.rooms))
    }

    pub fn put(&self, key: String, position: u64, rooms: Arc<RawValue>) {
        let size = rooms.get().len();
        if size > MAX_BYTES / 4 {
            return;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.expire();
        let entry = Entry {
            position,
            built: Instant::now(),
            rooms,
        };
        if let Some(old) = inner.entries.insert(key, entry) {
            inner.bytes -= old.rooms.get().len();
        }
        inner.bytes += size;
        // Over the budget: the oldest entries go first.
        while inner.bytes > MAX_BYTES {
            let Some(oldest) = inner
                .entries
                .iter()
                .min_by_key(|(_, e)| e.built)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(old) = inner.entries.remove(&oldest) {
                inner.bytes -= old.rooms.get().len();
            }
        }
    }
}

impl Inner {
    fn expire(&mut self) {
        let before = self.entries.len();
        let mut freed = 0;
        self.entries.retain(|_, entry| {
            let keep = entry.built.elapsed() < LIFETIME;
            if !keep {
                freed += entry.rooms.get().len();
            }
            keep
        });
        if self.entries.len() != before {
            self.bytes -= freed;
            self.entries.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Arc<RawValue> {
        Arc::from(RawValue::from_string(text.to_owned()).unwrap())
    }

    #[test]
    fn an_entry_serves_only_its_own_boundary_and_key() {
        let cache = InitialSyncCache::default();
        let k = key("@a:x", "DEV", None);
        cache.put(k.clone(), 7, raw(r#"{"join":{}}"#));
        assert_eq!(cache.get(&k, 7).unwrap().get(), r#"{"join":{}}"#);
        assert!(cache.get(&k, 8).is_none(), "the stream moved on");
        assert!(cache.get(&key("@a:x", "OTHER", None), 7).is_none());
        assert!(cache.get(&key("@a:x", "DEV", Some("1")), 7).is_none());
    }

    #[test]
    fn the_byte_budget_evicts_the_oldest() {
        let cache = InitialSyncCache::default();
        let big = format!("\"{}\"", "x".repeat(MAX_BYTES / 5));
        for i in 0..6 {
            cache.put(format!("k{i}"), 1, raw(&big));
        }
        assert!(cache.get("k0", 1).is_none());
        assert!(cache.get("k5", 1).is_some());
        let inner = cache.inner.lock().unwrap();
        assert!(inner.bytes <= MAX_BYTES);
        assert_eq!(
            inner.bytes,
            inner
                .entries
                .values()
                .map(|e| e.rooms.get().len())
                .sum::<usize>()
        );
    }
}
