//! Server keys: the document this server publishes at `/_matrix/key/v2/server`, and
//! checking the documents other servers publish before trusting their keys.

use std::collections::BTreeMap;

use ruma::CanonicalJsonObject;
use ruma::serde::Base64;
use serde_json::{Value, json};

use crate::signing::{ServerSigningKey, SigningError};

/// How long other servers may cache our key.
pub const KEY_VALIDITY_MS: u64 = 7 * 24 * 60 * 60 * 1000;

/// This server's signed key document.
pub fn own_keys(key: &ServerSigningKey, now_ms: u64) -> Result<Value, SigningError> {
    let document = json!({
        "server_name": key.server_name(),
        "valid_until_ts": now_ms + KEY_VALIDITY_MS,
        "verify_keys": { key.key_id(): { "key": key.public_key_base64() } },
        "old_verify_keys": {},
    });
    let mut object: CanonicalJsonObject =
        serde_json::from_value(document).map_err(|e| SigningError::Json(e.to_string()))?;
    key.sign_json(&mut object)?;
    serde_json::to_value(object).map_err(|e| SigningError::Json(e.to_string()))
}

/// Keys a server published, after checking the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedKeys {
    pub server_name: String,
    /// Key ID → unpadded base64 public key.
    pub verify_keys: BTreeMap<String, String>,
    pub valid_until_ts: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyDocumentError {
    #[error("the key document is malformed: {0}")]
    Malformed(String),
    #[error("the key document is for {0}, not the server asked")]
    WrongServer(String),
    #[error("the key document is not signed by its own keys: {0}")]
    BadSignature(String),
}

/// Checks a key document fetched from `expected_server`: it names that server and is
/// signed by every key it lists.
pub fn verify_keys(
    document: &Value,
    expected_server: &str,
) -> Result<VerifiedKeys, KeyDocumentError> {
    let server_name = document["server_name"]
        .as_str()
        .ok_or_else(|| KeyDocumentError::Malformed("no server_name".into()))?;
    if server_name != expected_server {
        return Err(KeyDocumentError::WrongServer(server_name.to_owned()));
    }
    let verify_keys: BTreeMap<String, String> = document["verify_keys"]
        .as_object()
        .ok_or_else(|| KeyDocumentError::Malformed("no verify_keys".into()))?
        .iter()
        .filter_map(|(id, k)| Some((id.clone(), k["key"].as_str()?.to_owned())))
        .collect();
    if verify_keys.is_empty() {
        return Err(KeyDocumentError::Malformed("no usable verify_keys".into()));
    }
    let object: CanonicalJsonObject = serde_json::from_value(document.clone())
        .map_err(|e| KeyDocumentError::Malformed(e.to_string()))?;
    for (id, public) in &verify_keys {
        let key = Base64::parse(public).map_err(|e| KeyDocumentError::Malformed(e.to_string()))?;
        let mut ids = BTreeMap::new();
        ids.insert(id.clone(), key);
        let mut map = BTreeMap::new();
        map.insert(server_name.to_owned(), ids);
        let mut only_own = object.clone();
        if let Some(ruma::CanonicalJsonValue::Object(signatures)) = only_own.get_mut("signatures") {
            signatures.retain(|signer, _| signer == server_name);
            if let Some(ruma::CanonicalJsonValue::Object(own)) = signatures.get_mut(server_name) {
                own.retain(|signing_key, _| signing_key == id);
            }
        }
        ruma::signatures::verify_json(&map, &only_own)
            .map_err(|e| KeyDocumentError::BadSignature(e.to_string()))?;
    }
    let valid_until_ts = document["valid_until_ts"].as_u64().unwrap_or(0);
    Ok(VerifiedKeys {
        server_name: server_name.to_owned(),
        verify_keys,
        valid_until_ts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use citadel_storage::{EngineOptions, Storage};

    #[test]
    fn own_document_verifies_and_forgeries_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(
            dir.path(),
            &EngineOptions {
                cache_bytes: 1 << 20,
            },
        )
        .unwrap();
        let key = ServerSigningKey::load_or_generate(&storage, "a.test").unwrap();
        let document = own_keys(&key, 1000).unwrap();
        let verified = verify_keys(&document, "a.test").unwrap();
        assert_eq!(verified.verify_keys[&key.key_id()], key.public_key_base64());
        assert_eq!(verified.valid_until_ts, 1000 + KEY_VALIDITY_MS);

        assert!(matches!(
            verify_keys(&document, "b.test"),
            Err(KeyDocumentError::WrongServer(_))
        ));
        let mut forged = document.clone();
        forged["valid_until_ts"] = json!(9_000_000_000_000u64);
        assert!(matches!(
            verify_keys(&forged, "a.test"),
            Err(KeyDocumentError::BadSignature(_))
        ));
    }
}

/// Keys of other servers: from the storage cache while valid, else fetched from the
/// server itself and checked.
pub async fn remote_keys(
    client: &crate::client::FederationClient,
    storage: &citadel_storage::Storage,
    server_name: &str,
    key_id: &str,
    now_ms: u64,
) -> Result<VerifiedKeys, RemoteKeyError> {
    if let Some(cached) = storage
        .server_keys
        .remote(server_name)
        .map_err(|e| RemoteKeyError::Storage(e.to_string()))?
    {
        let keys: Option<VerifiedKeys> = (|| {
            Some(VerifiedKeys {
                server_name: cached["server_name"].as_str()?.to_owned(),
                verify_keys: serde_json::from_value(cached["verify_keys"].clone()).ok()?,
                valid_until_ts: cached["valid_until_ts"].as_u64()?,
            })
        })();
        if let Some(keys) = keys
            && keys.valid_until_ts > now_ms
            && keys.verify_keys.contains_key(key_id)
        {
            return Ok(keys);
        }
    }
    let document = client
        .get_unsigned(server_name, "/_matrix/key/v2/server")
        .await
        .map_err(|e| RemoteKeyError::Fetch(e.to_string()))?;
    let keys =
        verify_keys(&document, server_name).map_err(|e| RemoteKeyError::Fetch(e.to_string()))?;
    let record = json!({ "server_name": keys.server_name, "verify_keys": keys.verify_keys, "valid_until_ts": keys.valid_until_ts });
    storage
        .server_keys
        .put_remote(server_name, &record)
        .map_err(|e| RemoteKeyError::Storage(e.to_string()))?;
    if !keys.verify_keys.contains_key(key_id) {
        return Err(RemoteKeyError::UnknownKey(key_id.to_owned()));
    }
    Ok(keys)
}

#[derive(Debug, thiserror::Error)]
pub enum RemoteKeyError {
    #[error("could not fetch the server's keys: {0}")]
    Fetch(String),
    #[error("the server has no key {0}")]
    UnknownKey(String),
    #[error("storage: {0}")]
    Storage(String),
}

impl VerifiedKeys {
    /// The keys as ruma's public-key map, for signature checks.
    pub fn public_key_map(&self) -> ruma::signatures::PublicKeyMap {
        let keys = self
            .verify_keys
            .iter()
            .filter_map(|(id, key)| Some((id.clone(), Base64::parse(key).ok()?)))
            .collect();
        let mut map = BTreeMap::new();
        map.insert(self.server_name.clone(), keys);
        map
    }
}
