//! Third-party identifiers (email addresses, phone numbers) an admin attached to an
//! account. Citadel verifies none itself; they are kept for admins and shown to the user.
//!
//! Trees:
//! - `mediumaddress_userid`: `(medium, address)` → the owner's user ID, so an address
//!   belongs to at most one account
//! - `useridmediumaddress_threepid`: `(user_id, medium, address)` → [`Threepid`]

use serde::{Deserialize, Serialize};

use crate::codec::{KeyReader, key};
use crate::engine::{Engine, Tree};
use crate::users::corrupt;
use crate::{Result, decode, encode};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Threepid {
    pub medium: String,
    pub address: String,
    pub added_at: u64,
    pub validated_at: u64,
}

#[derive(Clone)]
pub struct Threepids {
    owners: Tree,
    by_user: Tree,
}

impl Threepids {
    pub(crate) fn open(engine: &Engine) -> Result<Self> {
        Ok(Self {
            owners: engine.tree("mediumaddress_userid")?,
            by_user: engine.tree("useridmediumaddress_threepid")?,
        })
    }

    /// A user's identifiers, by medium and address.
    pub fn of(&self, user_id: &str) -> Result<Vec<Threepid>> {
        self.by_user
            .scan_prefix(&key((user_id,)))
            .map(|entry| decode(&entry?.1))
            .collect()
    }

    /// Who holds the identifier.
    pub fn owner(&self, medium: &str, address: &str) -> Result<Option<String>> {
        self.owners
            .get(&key((medium, address)))?
            .map(|bytes| {
                KeyReader::new(&bytes)
                    .str()
                    .map(str::to_owned)
                    .map_err(corrupt)
            })
            .transpose()
    }

    /// Attaches the identifier to the user unless another account holds it; returns
    /// whether the user holds it now. The claim is a compare-and-swap, so two accounts
    /// never both get one address.
    pub fn add(&self, user_id: &str, threepid: &Threepid) -> Result<bool> {
        let owner_key = key((threepid.medium.as_str(), threepid.address.as_str()));
        let me = key((user_id,));
        if !self.owners.compare_and_swap(&owner_key, None, Some(&me))?
            && self.owners.get(&owner_key)?.as_deref() != Some(me.as_slice())
        {
            return Ok(false);
        }
        self.by_user.insert(
            &key((user_id, threepid.medium.as_str(), threepid.address.as_str())),
            &encode(threepid),
        )?;
        Ok(true)
    }

    /// Detaches the identifier from the user (nothing if they do not hold it).
    pub fn remove(&self, user_id: &str, medium: &str, address: &str) -> Result<()> {
        self.by_user.take(&key((user_id, medium, address)))?;
        let me = key((user_id,));
        self.owners
            .compare_and_swap(&key((medium, address)), Some(&me), None)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_belongs_to_one_account_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let options = crate::engine::EngineOptions {
            cache_bytes: 1 << 20,
        };
        let engine = Engine::open(dir.path(), &options).unwrap();
        let threepids = Threepids::open(&engine).unwrap();
        let email = Threepid {
            medium: "email".into(),
            address: "a@example.org".into(),
            added_at: 1,
            validated_at: 1,
        };
        assert!(threepids.add("@a:x", &email).unwrap());
        assert!(threepids.add("@a:x", &email).unwrap(), "again is fine");
        assert!(!threepids.add("@b:x", &email).unwrap());
        assert_eq!(threepids.of("@a:x").unwrap(), vec![email.clone()]);
        assert_eq!(
            threepids
                .owner("email", "a@example.org")
                .unwrap()
                .as_deref(),
            Some("@a:x")
        );
        threepids.remove("@b:x", "email", "a@example.org").unwrap();
        assert_eq!(threepids.of("@a:x").unwrap().len(), 1, "not b's to remove");
        threepids.remove("@a:x", "email", "a@example.org").unwrap();
        assert!(threepids.add("@b:x", &email).unwrap());
        assert!(threepids.of("@a:x").unwrap().is_empty());
    }
}
