//! In-memory indexes over trees, for reads hot enough that even sled's page cache is slow
//! (a user's room list, each room's newest position, read for every room on every sync).
//!
//! A [`Memo`] never holds anything a reader could not load from the tree itself: writers
//! change or drop an entry only after their batch has landed (`Batch::after_commit`), and
//! a reader that loaded from the tree while a writer changed that key throws its answer
//! away instead of caching it (the generation check in [`Memo::fill`]).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{PoisonError, RwLock};

pub struct Memo<K, V> {
    inner: RwLock<Inner<K, V>>,
    capacity: usize,
}

struct Inner<K, V> {
    map: HashMap<K, V>,
    /// Bumped by every change a reader's fill could race with.
    generation: u64,
}

impl<K: Eq + Hash, V: Clone> Memo<K, V> {
    /// A memo of at most `capacity` entries (past it, it starts over: these are caches
    /// of what the trees hold, and losing them costs only speed).
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: RwLock::new(Inner {
                map: HashMap::new(),
                generation: 0,
            }),
            capacity,
        }
    }

    /// The cached value, or the generation to pass to [`Memo::fill`] after loading it.
    pub fn get<Q>(&self, key: &Q) -> Result<V, u64>
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        inner.map.get(key).cloned().ok_or(inner.generation)
    }

    /// The cached value, or what `load` reads from the tree (cached when found).
    pub fn get_or_load<Q, E>(
        &self,
        key: &Q,
        load: impl FnOnce() -> Result<Option<V>, E>,
    ) -> Result<Option<V>, E>
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + Hash + ToOwned<Owned = K> + ?Sized,
    {
        let generation = match self.get(key) {
            Ok(value) => return Ok(Some(value)),
            Err(generation) => generation,
        };
        let value = load()?;
        if let Some(value) = &value {
            self.fill(key.to_owned(), generation, value.clone());
        }
        Ok(value)
    }

    /// Caches a value loaded from the tree, unless a writer touched the memo since
    /// `generation` was read (the loaded value may predate that write).
    pub fn fill(&self, key: K, generation: u64, value: V) {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        if inner.generation != generation {
            return;
        }
        if inner.map.len() >= self.capacity {
            inner.map.clear();
        }
        inner.map.insert(key, value);
    }

    /// After a write to `key` landed: changes the cached value in place if there is one
    /// (`update` returns false to drop it instead); stops racing fills either way.
    pub fn changed<Q>(&self, key: &Q, update: impl FnOnce(&mut V) -> bool)
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        inner.generation = inner.generation.wrapping_add(1);
        if let Some(value) = inner.map.get_mut(key)
            && !update(value)
        {
            inner.map.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fill_that_raced_a_write_is_not_cached() {
        let memo: Memo<u64, u64> = Memo::new(10);
        let generation = memo.get(&1).unwrap_err();
        // A writer lands between the reader's tree load and its fill.
        memo.changed(&1, |_| true);
        memo.fill(1, generation, 5);
        assert!(memo.get(&1).is_err());
        let generation = memo.get(&1).unwrap_err();
        memo.fill(1, generation, 6);
        assert_eq!(memo.get(&1), Ok(6));
        memo.changed(&1, |v| {
            *v = 7;
            true
        });
        assert_eq!(memo.get(&1), Ok(7));
        memo.changed(&1, |_| false);
        assert!(memo.get(&1).is_err());
    }

    #[test]
    fn it_starts_over_past_its_capacity() {
        let memo: Memo<u64, u64> = Memo::new(2);
        for k in 0..3 {
            let g = memo.get(&k).unwrap_err();
            memo.fill(k, g, k);
        }
        assert_eq!(memo.get(&2), Ok(2));
        assert!(memo.get(&0).is_err());
    }
}
