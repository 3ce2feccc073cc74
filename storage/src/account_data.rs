//! Per-user account data, global and per room.
//!
//! Trees:
//! - `useridroomidtype_data`: `(user_id, room_id or "", type)` → `{"pos": u64, "content": …}`
//! - `useridpos_roomidtype`: `(user_id, pos u64)` → `(room_id or "", type)`: what changed
//!   after a given stream position, for incremental `/sync`. The previous position's
//!   entry is removed when a type is overwritten, so each type appears once.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::codec::{KeyReader, key};
use crate::engine::{Batch, Engine, Tree};
use crate::users::corrupt;
use crate::{Result, StorageError, get};

#[derive(Serialize, Deserialize)]
struct Entry {
    pos: u64,
    content: Box<RawValue>,
}

#[derive(Clone)]
pub struct AccountData {
    data: Tree,
    changes: Tree,
}

impl AccountData {
    pub(crate) fn open(engine: &Engine) -> Result<Self> {
        Ok(Self {
            data: engine.tree("useridroomidtype_data")?,
            changes: engine.tree("useridpos_roomidtype")?,
        })
    }

    /// The stored content, as the JSON the client sent.
    pub fn get(
        &self,
        user_id: &str,
        room_id: Option<&str>,
        kind: &str,
    ) -> Result<Option<Box<RawValue>>> {
        let entry: Option<Entry> = get(&self.data, &key((user_id, room_id.unwrap_or(""), kind)))?;
        Ok(entry.map(|e| e.content))
    }

    /// Stores content at stream position `pos` (from `Storage::next_id`).
    pub fn set(
        &self,
        batch: &mut Batch,
        user_id: &str,
        room_id: Option<&str>,
        kind: &str,
        content: &RawValue,
        pos: u64,
    ) -> Result<()> {
        let room = room_id.unwrap_or("");
        let data_key = key((user_id, room, kind));
        let old: Option<Entry> = get(&self.data, &data_key)?;
        if let Some(old) = old {
            batch.remove(&self.changes, key((user_id, old.pos)));
        }
        let entry = Entry {
            pos,
            content: content.to_owned(),
        };
        let bytes = serde_json::to_vec(&entry).map_err(|e| StorageError::Io(e.to_string()))?;
        batch.insert(&self.data, data_key, bytes);
        batch.insert(&self.changes, key((user_id, pos)), key((room, kind)));
        Ok(())
    }

    /// `(type, content)` of every entry the user has for one room: what an initial sync
    /// sends with the room, read without walking the user's other rooms' entries.
    pub fn of_room(&self, user_id: &str, room_id: &str) -> Result<Vec<(String, Box<RawValue>)>> {
        self.data
            .scan_prefix(&key((user_id, room_id)))
            .map(|entry| {
                let (k, v) = entry?;
                let mut reader = KeyReader::new(&k);
                reader.str().map_err(corrupt)?;
                reader.str().map_err(corrupt)?;
                let kind = reader.str().map_err(corrupt)?.to_owned();
                let entry: Entry =
                    serde_json::from_slice(&v).map_err(|e| StorageError::Corrupt(e.to_string()))?;
                Ok((kind, entry.content))
            })
            .collect()
    }

    /// `(room_id, type)` of every entry changed after `since`, oldest first.
    pub fn changed_since(
        &self,
        user_id: &str,
        since: u64,
    ) -> Result<Vec<(Option<String>, String)>> {
        let start = key((user_id, since.saturating_add(1)));
        let end = key((user_id, u64::MAX));
        self.changes
            .range(start..=end)
            .map(|entry| {
                let (_, v) = entry?;
                let mut reader = KeyReader::new(&v);
                let room = reader.str().map_err(corrupt)?;
                let kind = reader.str().map_err(corrupt)?;
                Ok(((!room.is_empty()).then(|| room.to_owned()), kind.to_owned()))
            })
            .collect()
    }
}

/// Room purges.
impl AccountData {
    /// Forgets the user's account data for the room (tags, read markers …).
    pub fn remove_room(&self, batch: &mut Batch, user_id: &str, room_id: &str) -> Result<()> {
        for entry in self.data.scan_prefix(&key((user_id, room_id))) {
            let (k, v) = entry?;
            if let Ok(old) = serde_json::from_slice::<Entry>(&v) {
                batch.remove(&self.changes, key((user_id, old.pos)));
            }
            batch.remove(&self.data, k);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overwrite_moves_the_change_to_the_new_position() {
        let (_dir, s) = crate::test_storage();
        let v1 = RawValue::from_string(r#"{"a":1}"#.into()).unwrap();
        let v2 = RawValue::from_string(r#"{"a":2}"#.into()).unwrap();
        let mut b = s.batch();
        s.account_data
            .set(&mut b, "@a:x", None, "m.t", &v1, 5)
            .unwrap();
        s.engine.apply(b).unwrap();
        let mut b = s.batch();
        s.account_data
            .set(&mut b, "@a:x", Some("!r:x"), "m.t", &v1, 6)
            .unwrap();
        s.account_data
            .set(&mut b, "@a:x", None, "m.t", &v2, 7)
            .unwrap();
        s.engine.apply(b).unwrap();
        assert_eq!(
            s.account_data
                .get("@a:x", None, "m.t")
                .unwrap()
                .unwrap()
                .get(),
            r#"{"a":2}"#
        );
        assert_eq!(
            s.account_data.changed_since("@a:x", 0).unwrap(),
            vec![
                (Some("!r:x".to_owned()), "m.t".to_owned()),
                (None, "m.t".to_owned())
            ]
        );
        assert_eq!(s.account_data.changed_since("@a:x", 6).unwrap().len(), 1);
    }
}
