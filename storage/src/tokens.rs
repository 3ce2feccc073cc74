//! Access, refresh and login tokens, stored only as SHA-256 hashes.
//!
//! Trees:
//! - `accesshash_token`: `(hash[32])` → [`AccessToken`]
//! - `refreshhash_token`: `(hash[32])` → [`RefreshToken`]
//! - `loginhash_token`: `(hash[32])` → [`LoginToken`]
//! - `openidhash_token`: `(hash[32])` → [`OpenIdToken`]
//! - `useriddeviceid_tokens`: `(user_id, device_id, kind u64, hash[32])` → empty; finds every
//!   token of a device when the device is deleted or logged out.
//!
//! The caller hashes the secret; this module never sees a token in the clear.

use serde::{Deserialize, Serialize};

use crate::codec::{KeyReader, key};
use crate::engine::{Batch, Engine, Tree};
use crate::users::corrupt;
use crate::{Result, encode, get};

/// SHA-256 of a token secret.
pub type TokenHash = [u8; 32];

const KIND_ACCESS: u64 = 0;
const KIND_REFRESH: u64 = 1;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessToken {
    pub user_id: String,
    pub device_id: String,
    /// Set for tokens issued together with a refresh token.
    pub expires_at: Option<u64>,
    /// The refresh token this access token was issued with, if any.
    #[serde(default, with = "opt_hash")]
    pub refresh: Option<TokenHash>,
    /// A refresh token to revoke the first time this access token is used: the one that
    /// was exchanged for it (the spec keeps the old one valid until the new pair is used).
    #[serde(default, with = "opt_hash")]
    pub revoke_on_use: Option<TokenHash>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RefreshToken {
    pub user_id: String,
    pub device_id: String,
    /// The access token issued together with this refresh token.
    #[serde(with = "hash")]
    pub access: TokenHash,
    /// The refresh token exchanged for this one, revoked when this one is used.
    #[serde(default, with = "opt_hash")]
    pub predecessor: Option<TokenHash>,
    /// The refresh token most recently issued in exchange for this one. If this one is
    /// presented again (the client never received the successor), the successor pair is
    /// revoked before a fresh pair is issued.
    #[serde(default, with = "opt_hash")]
    pub successor: Option<TokenHash>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct LoginToken {
    pub user_id: String,
    pub expires_at: u64,
}

/// A token a user hands to a third party (an integration manager, a widget) so that it
/// can learn from this server, over federation `openid/userinfo`, who the user is.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct OpenIdToken {
    pub user_id: String,
    pub expires_at: u64,
}

#[derive(Clone)]
pub struct Tokens {
    access: Tree,
    refresh: Tree,
    login: Tree,
    openid: Tree,
    by_device: Tree,
}

impl Tokens {
    pub(crate) fn open(engine: &Engine) -> Result<Self> {
        Ok(Self {
            access: engine.tree("accesshash_token")?,
            refresh: engine.tree("refreshhash_token")?,
            login: engine.tree("loginhash_token")?,
            openid: engine.tree("openidhash_token")?,
            by_device: engine.tree("useriddeviceid_tokens")?,
        })
    }

    pub fn access(&self, hash: &TokenHash) -> Result<Option<AccessToken>> {
        get(&self.access, &key((hash,)))
    }

    pub fn put_access(&self, batch: &mut Batch, hash: &TokenHash, token: &AccessToken) {
        batch.insert(&self.access, key((hash,)), encode(token));
        batch.insert(
            &self.by_device,
            key((&token.user_id, &token.device_id, KIND_ACCESS, hash)),
            Vec::new(),
        );
    }

    pub fn remove_access(&self, batch: &mut Batch, hash: &TokenHash, token: &AccessToken) {
        batch.remove(&self.access, key((hash,)));
        batch.remove(
            &self.by_device,
            key((&token.user_id, &token.device_id, KIND_ACCESS, hash)),
        );
    }

    pub fn refresh(&self, hash: &TokenHash) -> Result<Option<RefreshToken>> {
        get(&self.refresh, &key((hash,)))
    }

    pub fn put_refresh(&self, batch: &mut Batch, hash: &TokenHash, token: &RefreshToken) {
        batch.insert(&self.refresh, key((hash,)), encode(token));
        batch.insert(
            &self.by_device,
            key((&token.user_id, &token.device_id, KIND_REFRESH, hash)),
            Vec::new(),
        );
    }

    /// Revokes a refresh token together with the access token issued with it.
    pub fn revoke_refresh(&self, batch: &mut Batch, hash: &TokenHash) -> Result<()> {
        let Some(token) = self.refresh(hash)? else {
            return Ok(());
        };
        batch.remove(&self.refresh, key((hash,)));
        batch.remove(
            &self.by_device,
            key((&token.user_id, &token.device_id, KIND_REFRESH, hash)),
        );
        if let Some(access) = self.access(&token.access)? {
            self.remove_access(batch, &token.access, &access);
        }
        Ok(())
    }

    /// Every token of one device, for logout and device deletion.
    pub fn remove_device_tokens(
        &self,
        batch: &mut Batch,
        user_id: &str,
        device_id: &str,
    ) -> Result<()> {
        for entry in self.by_device.scan_prefix(&key((user_id, device_id))) {
            let (k, _) = entry?;
            let mut reader = KeyReader::new(&k);
            reader.str().map_err(corrupt)?;
            reader.str().map_err(corrupt)?;
            let kind = reader.u64().map_err(corrupt)?;
            let hash: TokenHash = reader.bytes().map_err(corrupt)?;
            let tree = if kind == KIND_REFRESH {
                &self.refresh
            } else {
                &self.access
            };
            batch.remove(tree, key((&hash,)));
            batch.remove(&self.by_device, k);
        }
        Ok(())
    }

    pub fn put_login(&self, hash: &TokenHash, token: &LoginToken) -> Result<()> {
        self.login.insert(&key((hash,)), &encode(token))
    }

    /// Consumes a login token: it is returned to exactly one caller, once.
    pub fn take_login(&self, hash: &TokenHash) -> Result<Option<LoginToken>> {
        self.login
            .take(&key((hash,)))?
            .map(|b| crate::decode(&b))
            .transpose()
    }
}

impl Tokens {
    pub fn put_openid(&self, hash: &TokenHash, token: &OpenIdToken) -> Result<()> {
        self.openid.insert(&key((hash,)), &encode(token))
    }

    /// The OpenID token, if it was issued and has not expired by `now_ms`; an expired one
    /// is removed on sight. Unlike a login token it may be checked more than once.
    pub fn openid(&self, hash: &TokenHash, now_ms: u64) -> Result<Option<OpenIdToken>> {
        let Some(token) = get::<OpenIdToken>(&self.openid, &key((hash,)))? else {
            return Ok(None);
        };
        if token.expires_at <= now_ms {
            self.openid.take(&key((hash,)))?;
            return Ok(None);
        }
        Ok(Some(token))
    }
}

mod hash {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(h: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&to_hex(h))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let s = String::deserialize(d)?;
        from_hex(&s).ok_or_else(|| serde::de::Error::custom("bad token hash"))
    }

    pub(super) fn to_hex(h: &[u8; 32]) -> String {
        h.iter().map(|b| format!("{b:02x}")).collect()
    }

    pub(super) fn from_hex(s: &str) -> Option<[u8; 32]> {
        if s.len() != 64 || !s.is_ascii() {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(out)
    }
}

mod opt_hash {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(h: &Option<[u8; 32]>, s: S) -> Result<S::Ok, S::Error> {
        match h {
            Some(h) => s.serialize_some(&super::hash::to_hex(h)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<[u8; 32]>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|s| {
                super::hash::from_hex(&s).ok_or_else(|| serde::de::Error::custom("bad token hash"))
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(device: &str) -> AccessToken {
        AccessToken {
            user_id: "@a:x".into(),
            device_id: device.into(),
            expires_at: None,
            refresh: Some([9; 32]),
            revoke_on_use: None,
        }
    }

    #[test]
    fn removing_a_device_removes_only_its_tokens() {
        let (_dir, s) = crate::test_storage();
        let mut b = s.batch();
        s.tokens.put_access(&mut b, &[1; 32], &access("D1"));
        s.tokens.put_access(&mut b, &[2; 32], &access("D2"));
        let refresh = RefreshToken {
            user_id: "@a:x".into(),
            device_id: "D1".into(),
            access: [1; 32],
            predecessor: None,
            successor: None,
        };
        s.tokens.put_refresh(&mut b, &[3; 32], &refresh);
        s.engine.apply(b).unwrap();
        assert_eq!(s.tokens.access(&[1; 32]).unwrap(), Some(access("D1")));
        assert_eq!(s.tokens.refresh(&[3; 32]).unwrap(), Some(refresh));

        let mut b = s.batch();
        s.tokens.remove_device_tokens(&mut b, "@a:x", "D1").unwrap();
        s.engine.apply(b).unwrap();
        assert_eq!(s.tokens.access(&[1; 32]).unwrap(), None);
        assert_eq!(s.tokens.refresh(&[3; 32]).unwrap(), None);
        assert!(s.tokens.access(&[2; 32]).unwrap().is_some());
    }

    #[test]
    fn login_tokens_are_single_use() {
        let (_dir, s) = crate::test_storage();
        let t = LoginToken {
            user_id: "@a:x".into(),
            expires_at: 10,
        };
        s.tokens.put_login(&[5; 32], &t).unwrap();
        assert_eq!(s.tokens.take_login(&[5; 32]).unwrap(), Some(t));
        assert_eq!(s.tokens.take_login(&[5; 32]).unwrap(), None);
    }
}
