//! Local user accounts and their profile fields.
//!
//! Trees:
//! - `userid_user`: `(user_id)` → [`UserRecord`] (JSON)
//! - `useridfield_profile`: `(user_id, field)` → the field's JSON value (`displayname`,
//!   `avatar_url` and extended profile fields)

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::codec::{KeyReader, key};
use crate::engine::{Batch, Engine, Tree};
use crate::{Result, StorageError, decode, encode, get};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct UserRecord {
    /// argon2id PHC string; `None` for accounts that cannot log in with a password.
    pub password_hash: Option<String>,
    pub admin: bool,
    pub deactivated: bool,
    pub created_ts: u64,
    #[serde(default)]
    pub user_type: Option<String>,
    /// Locked by an admin: every request but logout gets `M_USER_LOCKED`.
    #[serde(default)]
    pub locked: bool,
    /// Suspended by an admin: may read, not act (`M_USER_SUSPENDED`).
    #[serde(default)]
    pub suspended: bool,
    /// Shadow-banned: what they send is acknowledged but reaches no one.
    #[serde(default)]
    pub shadow_banned: bool,
    /// An admin's override of the message rate limit (Synapse's `override_ratelimit`);
    /// zeros mean no limit at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratelimit_override: Option<RatelimitOverride>,
    /// Deactivated with `erase` (GDPR erasure): shown as `erased` to admins.
    #[serde(default)]
    pub erased: bool,
    /// A guest account (the spec's guest access): no password, a short list of
    /// endpoints, rooms that allow guests only. Cleared when the guest registers.
    #[serde(default)]
    pub guest: bool,
}

/// A per-user message rate: sustained events per second and the burst before it applies.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RatelimitOverride {
    pub messages_per_second: u64,
    pub burst_count: u64,
}

#[derive(Clone)]
pub struct Users {
    users: Tree,
    profile: Tree,
}

impl Users {
    pub(crate) fn open(engine: &Engine) -> Result<Self> {
        Ok(Self {
            users: engine.tree("userid_user")?,
            profile: engine.tree("useridfield_profile")?,
        })
    }

    pub fn get(&self, user_id: &str) -> Result<Option<UserRecord>> {
        get(&self.users, &key((user_id,)))
    }

    pub fn exists(&self, user_id: &str) -> Result<bool> {
        self.users.contains(&key((user_id,)))
    }

    /// Creates the account unless the ID is taken; returns whether it was created. Atomic:
    /// of two concurrent registrations of one name exactly one succeeds.
    pub fn create(&self, user_id: &str, record: &UserRecord) -> Result<bool> {
        self.users
            .compare_and_swap(&key((user_id,)), None, Some(&encode(record)))
    }

    /// Reads, changes and writes back a record, retrying if it changed meanwhile.
    /// Returns the new record, or `None` when the user does not exist.
    pub fn update(
        &self,
        user_id: &str,
        mut change: impl FnMut(&mut UserRecord),
    ) -> Result<Option<UserRecord>> {
        let k = key((user_id,));
        loop {
            let Some(old) = self.users.get(&k)? else {
                return Ok(None);
            };
            let mut record: UserRecord = decode(&old)?;
            change(&mut record);
            if self
                .users
                .compare_and_swap(&k, Some(&old), Some(&encode(&record)))?
            {
                return Ok(Some(record));
            }
        }
    }

    /// Every local account, in user-ID order.
    pub fn list(&self) -> Result<Vec<(String, UserRecord)>> {
        self.users
            .scan_prefix(&[])
            .map(|entry| {
                let (k, v) = entry?;
                let user_id = KeyReader::new(&k).str().map_err(corrupt)?.to_owned();
                Ok((user_id, decode(&v)?))
            })
            .collect()
    }

    pub fn profile_field(&self, user_id: &str, field: &str) -> Result<Option<Value>> {
        get(&self.profile, &key((user_id, field)))
    }

    /// All profile fields of a user, by name.
    pub fn profile(&self, user_id: &str) -> Result<serde_json::Map<String, Value>> {
        let mut out = serde_json::Map::new();
        for entry in self.profile.scan_prefix(&key((user_id,))) {
            let (k, v) = entry?;
            let mut reader = KeyReader::new(&k);
            reader.str().map_err(corrupt)?;
            let field = reader.str().map_err(corrupt)?.to_owned();
            out.insert(field, decode(&v)?);
        }
        Ok(out)
    }

    /// Every user's avatar URL (what a bulk media delete keeps).
    pub fn avatar_urls(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for entry in self.profile.scan_prefix(&[]) {
            let (k, v) = entry?;
            let mut reader = KeyReader::new(&k);
            reader.str().map_err(corrupt)?;
            if reader.str().map_err(corrupt)? == "avatar_url"
                && let Some(url) = decode::<Value>(&v)?.as_str()
            {
                out.push(url.to_owned());
            }
        }
        Ok(out)
    }

    pub fn set_profile_field(&self, batch: &mut Batch, user_id: &str, field: &str, value: &Value) {
        batch.insert(&self.profile, key((user_id, field)), encode(value));
    }

    pub fn remove_profile_field(&self, batch: &mut Batch, user_id: &str, field: &str) {
        batch.remove(&self.profile, key((user_id, field)));
    }
}

pub(crate) fn corrupt(e: crate::codec::MalformedKey) -> StorageError {
    StorageError::Corrupt(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> UserRecord {
        UserRecord {
            password_hash: Some("h".into()),
            admin: false,
            deactivated: false,
            created_ts: 1,
            user_type: None,
            locked: false,
            suspended: false,
            shadow_banned: false,
            ratelimit_override: None,
            erased: false,
            guest: false,
        }
    }

    #[test]
    fn create_is_exclusive_and_update_persists() {
        let (_dir, s) = crate::test_storage();
        assert!(s.users.create("@a:x", &record()).unwrap());
        assert!(!s.users.create("@a:x", &record()).unwrap());
        let updated = s.users.update("@a:x", |r| r.admin = true).unwrap().unwrap();
        assert!(updated.admin);
        assert!(s.users.get("@a:x").unwrap().unwrap().admin);
        assert!(
            s.users
                .update("@missing:x", |r| r.admin = true)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn profile_fields_are_per_user() {
        let (_dir, s) = crate::test_storage();
        let mut b = s.batch();
        s.users
            .set_profile_field(&mut b, "@a:x", "displayname", &Value::from("A"));
        s.users
            .set_profile_field(&mut b, "@ab:x", "displayname", &Value::from("AB"));
        s.engine.apply(b).unwrap();
        let p = s.users.profile("@a:x").unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(p["displayname"], "A");
    }
}
