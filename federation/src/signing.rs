//! The server's ed25519 signing key and JSON signing/verification.
//!
//! The key is generated on first start and persisted in storage, so the server keeps its
//! identity across restarts (remote servers cache our public key by key ID). Signing and
//! verification are ruma-signatures'; this module only loads the key and wraps the calls.

use base64::Engine as _;
use citadel_storage::server_keys::OwnSigningKey;
use citadel_storage::{Storage, StorageError, now_ms};
use rand::Rng;
use ruma::CanonicalJsonObject;
use ruma::signatures::{Ed25519KeyPair, KeyPair};

#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("stored signing key is unreadable: {0}")]
    BadKey(String),
    #[error("could not sign JSON: {0}")]
    Json(String),
}

/// The server's signing identity.
pub struct ServerSigningKey {
    server_name: String,
    key_pair: Ed25519KeyPair,
}

impl ServerSigningKey {
    /// Loads the stored key, generating and persisting one on first start.
    pub fn load_or_generate(storage: &Storage, server_name: &str) -> Result<Self, SigningError> {
        loop {
            if let Some((key_id, record)) = storage.server_keys.own_key()? {
                let version = key_id
                    .strip_prefix("ed25519:")
                    .unwrap_or(&key_id)
                    .to_owned();
                let key_pair = Ed25519KeyPair::from_der(&record.pkcs8, version)
                    .map_err(|e| SigningError::BadKey(e.to_string()))?;
                return Ok(Self {
                    server_name: server_name.to_owned(),
                    key_pair,
                });
            }
            // Synapse-style key versions: "a_" and four random alphanumerics.
            let suffix: String = rand::thread_rng()
                .sample_iter(rand::distributions::Alphanumeric)
                .take(4)
                .map(char::from)
                .collect();
            let key_id = format!("ed25519:a_{suffix}");
            let record = OwnSigningKey {
                pkcs8: Ed25519KeyPair::generate().to_vec(),
                created_ts: now_ms(),
            };
            if storage.server_keys.put_own_key(&key_id, &record)? {
                storage.flush_blocking()?;
                tracing::info!(%key_id, "generated the server signing key");
            }
        }
    }

    /// The key ID, `ed25519:<version>`.
    pub fn key_id(&self) -> String {
        format!("ed25519:{}", self.key_pair.version())
    }

    /// The public key, unpadded standard base64 as Matrix writes keys.
    pub fn public_key_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(self.key_pair.public_key())
    }

    /// Adds this server's signature to a JSON object.
    pub fn sign_json(&self, object: &mut CanonicalJsonObject) -> Result<(), SigningError> {
        ruma::signatures::sign_json(&self.server_name, &self.key_pair, object)
            .map_err(|e| SigningError::Json(e.to_string()))
    }

    /// Verifies this server's own signature on a JSON object (signed by [`Self::sign_json`]).
    pub fn verify_own_json(&self, object: &CanonicalJsonObject) -> bool {
        let Ok(key) = ruma::serde::Base64::parse(self.public_key_base64()) else {
            return false;
        };
        let mut ids = std::collections::BTreeMap::new();
        ids.insert(self.key_id(), key);
        let mut map = std::collections::BTreeMap::new();
        map.insert(self.server_name.clone(), ids);
        ruma::signatures::verify_json(&map, object).is_ok()
    }

    /// Signs raw bytes (for X-Matrix request signatures).
    pub fn sign_bytes(&self, message: &[u8]) -> String {
        self.key_pair.sign(message).base64()
    }
}

impl ServerSigningKey {
    /// Adds the content hash and this server's signature to an event (ruma's algorithm,
    /// which signs the redacted form so signatures survive redaction).
    pub fn hash_and_sign_event(
        &self,
        object: &mut CanonicalJsonObject,
        rules: &ruma::room_version_rules::RoomVersionRules,
    ) -> Result<(), crate::pdu::SignError> {
        ruma::signatures::hash_and_sign_event(
            &self.server_name,
            &self.key_pair,
            object,
            &rules.redaction,
        )
        .map_err(|e| match e {
            ruma::signatures::JsonError::PduTooLarge => crate::pdu::SignError::TooLarge,
            other => crate::pdu::SignError::Other(other.to_string()),
        })
    }

    pub fn server_name(&self) -> &str {
        &self.server_name
    }

    /// The key pair, for ruma functions that sign with it directly.
    pub fn key_pair(&self) -> &Ed25519KeyPair {
        &self.key_pair
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use citadel_storage::EngineOptions;
    use std::collections::BTreeMap;

    #[test]
    fn key_persists_and_signatures_verify() {
        let dir = tempfile::tempdir().unwrap();
        let opts = EngineOptions {
            cache_bytes: 1 << 20,
        };
        let (id1, pk1) = {
            let storage = Storage::open(dir.path(), &opts).unwrap();
            let key = ServerSigningKey::load_or_generate(&storage, "example.org").unwrap();
            (key.key_id(), key.public_key_base64())
        };
        let storage = Storage::open(dir.path(), &opts).unwrap();
        let key = ServerSigningKey::load_or_generate(&storage, "example.org").unwrap();
        assert_eq!(key.key_id(), id1);
        assert_eq!(key.public_key_base64(), pk1);

        let mut object: CanonicalJsonObject = serde_json::from_str(r#"{"hello":"world"}"#).unwrap();
        key.sign_json(&mut object).unwrap();
        let mut keys = BTreeMap::new();
        keys.insert(key.key_id(), ruma::serde::Base64::parse(&pk1).unwrap());
        let mut map = BTreeMap::new();
        map.insert("example.org".to_owned(), keys);
        ruma::signatures::verify_json(&map, &object).unwrap();

        object.insert("hello".into(), "tampered".into());
        assert!(ruma::signatures::verify_json(&map, &object).is_err());
    }
}
