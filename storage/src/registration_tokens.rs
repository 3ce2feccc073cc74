//! Registration tokens (`m.login.registration_token`), created by admins.
//!
//! Tree `token_registrationtoken`: `(token)` → [`RegistrationToken`].

use serde::{Deserialize, Serialize};

use crate::codec::{KeyReader, key};
use crate::engine::{Engine, Tree};
use crate::users::corrupt;
use crate::{Result, decode, encode, get};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RegistrationToken {
    /// How many registrations it may complete; `None` is unlimited.
    pub uses_allowed: Option<u64>,
    /// Registrations completed with it.
    pub completed: u64,
    /// Milliseconds since the epoch after which it is no longer valid.
    pub expiry_time: Option<u64>,
    pub created_ts: u64,
}

impl RegistrationToken {
    pub fn is_valid(&self, now: u64) -> bool {
        self.expiry_time.is_none_or(|t| now < t)
            && self.uses_allowed.is_none_or(|u| self.completed < u)
    }
}

#[derive(Clone)]
pub struct RegistrationTokens {
    tokens: Tree,
}

impl RegistrationTokens {
    pub(crate) fn open(engine: &Engine) -> Result<Self> {
        Ok(Self {
            tokens: engine.tree("token_registrationtoken")?,
        })
    }

    pub fn get(&self, token: &str) -> Result<Option<RegistrationToken>> {
        get(&self.tokens, &key((token,)))
    }

    /// Creates a token unless it exists; returns whether it was created.
    pub fn create(&self, token: &str, record: &RegistrationToken) -> Result<bool> {
        self.tokens
            .compare_and_swap(&key((token,)), None, Some(&encode(record)))
    }

    pub fn delete(&self, token: &str) -> Result<bool> {
        Ok(self.tokens.take(&key((token,)))?.is_some())
    }

    pub fn list(&self) -> Result<Vec<(String, RegistrationToken)>> {
        self.tokens
            .scan_prefix(&[])
            .map(|entry| {
                let (k, v) = entry?;
                Ok((
                    KeyReader::new(&k).str().map_err(corrupt)?.to_owned(),
                    decode(&v)?,
                ))
            })
            .collect()
    }

    /// Changes a token's record atomically (against concurrent registrations using it);
    /// returns the new record, or `None` when the token does not exist.
    pub fn update(
        &self,
        token: &str,
        change: impl Fn(&mut RegistrationToken),
    ) -> Result<Option<RegistrationToken>> {
        let k = key((token,));
        loop {
            let Some(old) = self.tokens.get(&k)? else {
                return Ok(None);
            };
            let mut record: RegistrationToken = decode(&old)?;
            change(&mut record);
            if self
                .tokens
                .compare_and_swap(&k, Some(&old), Some(&encode(&record)))?
            {
                return Ok(Some(record));
            }
        }
    }

    /// Counts one completed registration against the token, atomically, if it is still
    /// valid. Returns false when it is unknown, expired or used up.
    pub fn consume(&self, token: &str, now: u64) -> Result<bool> {
        let k = key((token,));
        loop {
            let Some(old) = self.tokens.get(&k)? else {
                return Ok(false);
            };
            let mut record: RegistrationToken = decode(&old)?;
            if !record.is_valid(now) {
                return Ok(false);
            }
            record.completed += 1;
            if self
                .tokens
                .compare_and_swap(&k, Some(&old), Some(&encode(&record)))?
            {
                return Ok(true);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uses_and_expiry_are_enforced() {
        let (_dir, s) = crate::test_storage();
        let t = RegistrationToken {
            uses_allowed: Some(1),
            completed: 0,
            expiry_time: Some(100),
            created_ts: 0,
        };
        assert!(s.registration_tokens.create("tok", &t).unwrap());
        assert!(
            !s.registration_tokens.consume("tok", 100).unwrap(),
            "expired"
        );
        assert!(s.registration_tokens.consume("tok", 50).unwrap());
        assert!(
            !s.registration_tokens.consume("tok", 50).unwrap(),
            "used up"
        );
        assert!(!s.registration_tokens.consume("nope", 50).unwrap());
    }
}
