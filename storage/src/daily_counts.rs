//! Counters per UTC day (events stored today, for the admin dashboard), kept across
//! restarts.
//!
//! Tree `daycounter_value`: `(day, name)` → u64 big-endian, where `day` is days since the
//! Unix epoch. Increments swap the value in place, so two rooms writing at once never lose
//! a count.

use crate::Result;
use crate::codec::key;
use crate::engine::{Engine, Tree};

/// Local and federated events stored.
pub const EVENTS: &str = "events";

const DAY_MS: u64 = 24 * 60 * 60 * 1000;

#[derive(Clone)]
pub struct DailyCounts {
    values: Tree,
}

/// The UTC day of a millisecond timestamp.
pub fn day_of(ts_ms: u64) -> u64 {
    ts_ms / DAY_MS
}

impl DailyCounts {
    pub(crate) fn open(engine: &Engine) -> Result<Self> {
        Ok(Self {
            values: engine.tree("daycounter_value")?,
        })
    }

    pub fn add(&self, day: u64, name: &str, n: u64) -> Result<()> {
        let k = key((day, name));
        loop {
            let old = self.values.get(&k)?;
            let current = old.as_deref().map_or(0, read);
            let new = (current + n).to_be_bytes();
            if self
                .values
                .compare_and_swap(&k, old.as_deref(), Some(&new))?
            {
                return Ok(());
            }
        }
    }

    pub fn get(&self, day: u64, name: &str) -> Result<u64> {
        Ok(self
            .values
            .get(&key((day, name)))?
            .as_deref()
            .map_or(0, read))
    }
}

fn read(bytes: &[u8]) -> u64 {
    bytes.try_into().map(u64::from_be_bytes).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_up_per_day_and_name() {
        let dir = tempfile::tempdir().unwrap();
        let options = crate::engine::EngineOptions {
            cache_bytes: 1 << 20,
        };
        let engine = Engine::open(dir.path(), &options).unwrap();
        let counts = DailyCounts::open(&engine).unwrap();
        counts.add(5, EVENTS, 2).unwrap();
        counts.add(5, EVENTS, 3).unwrap();
        counts.add(6, EVENTS, 1).unwrap();
        assert_eq!(counts.get(5, EVENTS).unwrap(), 5);
        assert_eq!(counts.get(6, EVENTS).unwrap(), 1);
        assert_eq!(counts.get(7, EVENTS).unwrap(), 0);
        assert_eq!(counts.get(5, "other").unwrap(), 0);
        assert_eq!(day_of(DAY_MS * 5 + 1), 5);
    }
}
