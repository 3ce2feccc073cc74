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

/// Keys of other servers: from the storage cache while valid and holding `key_id` (any
/// key when empty), else fetched from the server itself and checked — or, when it cannot
/// be reached, from the configured notary servers, whose countersignature is checked too.
pub async fn remote_keys(
    client: &crate::client::FederationClient,
    storage: &citadel_storage::Storage,
    server_name: &str,
    key_id: &str,
    now_ms: u64,
) -> Result<VerifiedKeys, RemoteKeyError> {
    if let Some(keys) = cached(storage, server_name)?
        && keys.valid_until_ts > now_ms
        && (key_id.is_empty() || keys.verify_keys.contains_key(key_id))
    {
        return Ok(keys);
    }
    let (keys, document) = match fetch_direct(client, server_name).await {
        Ok(found) => found,
        Err(direct) => {
            let mut found = None;
            for notary in client.notaries() {
                if notary == server_name {
                    continue;
                }
                match via_notary(client, storage, notary, server_name, now_ms).await {
                    Ok(result) => {
                        found = Some(result);
                        break;
                    }
                    Err(e) => {
                        tracing::info!(%notary, server = %server_name, error = %e, "notary could not help")
                    }
                }
            }
            found.ok_or(direct)?
        }
    };
    remember(storage, &keys, document)?;
    if !key_id.is_empty() && !keys.verify_keys.contains_key(key_id) {
        return Err(RemoteKeyError::UnknownKey(key_id.to_owned()));
    }
    Ok(keys)
}

fn cached(
    storage: &citadel_storage::Storage,
    server_name: &str,
) -> Result<Option<VerifiedKeys>, RemoteKeyError> {
    let Some(record) = storage
        .server_keys
        .remote(server_name)
        .map_err(|e| RemoteKeyError::Storage(e.to_string()))?
    else {
        return Ok(None);
    };
    Ok((|| {
        Some(VerifiedKeys {
            server_name: record["server_name"].as_str()?.to_owned(),
            verify_keys: serde_json::from_value(record["verify_keys"].clone()).ok()?,
            valid_until_ts: record["valid_until_ts"].as_u64()?,
        })
    })())
}

/// The key document of `server_name` as last fetched (signed by the server, and by a
/// notary when it came through one), for answering notary queries.
pub fn cached_document(
    storage: &citadel_storage::Storage,
    server_name: &str,
) -> Option<serde_json::Value> {
    let record = storage.server_keys.remote(server_name).ok().flatten()?;
    let document = record.get("document")?.clone();
    (!document.is_null()).then_some(document)
}

/// Asks `notary` for `server_name`'s keys: the answer must be signed by the server itself
/// and by the notary.
async fn via_notary(
    client: &crate::client::FederationClient,
    storage: &citadel_storage::Storage,
    notary: &str,
    server_name: &str,
    now_ms: u64,
) -> Result<(VerifiedKeys, serde_json::Value), RemoteKeyError> {
    let notary_keys = Box::pin(remote_keys_direct_only(client, storage, notary, now_ms)).await?;
    let body = json!({ "server_keys": { server_name: {} } });
    let (status, answer) = client
        .request(notary, "POST", "/_matrix/key/v2/query", Some(&body))
        .await
        .map_err(|e| RemoteKeyError::Fetch(e.to_string()))?;
    if status != 200 {
        return Err(RemoteKeyError::Fetch(format!("notary answered {status}")));
    }
    for document in answer["server_keys"].as_array().into_iter().flatten() {
        if document["server_name"] != server_name {
            continue;
        }
        let keys =
            verify_keys(document, server_name).map_err(|e| RemoteKeyError::Fetch(e.to_string()))?;
        let mut object: CanonicalJsonObject = serde_json::from_value(document.clone())
            .map_err(|e| RemoteKeyError::Fetch(e.to_string()))?;
        if let Some(ruma::CanonicalJsonValue::Object(signatures)) = object.get_mut("signatures") {
            signatures.retain(|signer, _| signer == notary);
        }
        ruma::signatures::verify_json(&notary_keys.public_key_map(), &object)
            .map_err(|e| RemoteKeyError::Fetch(format!("notary signature: {e}")))?;
        return Ok((keys, document.clone()));
    }
    Err(RemoteKeyError::Fetch(
        "the notary does not know the server".into(),
    ))
}

/// A notary's own keys, fetched only from the notary itself.
async fn remote_keys_direct_only(
    client: &crate::client::FederationClient,
    storage: &citadel_storage::Storage,
    server_name: &str,
    now_ms: u64,
) -> Result<VerifiedKeys, RemoteKeyError> {
    if let Some(keys) = cached(storage, server_name)?
        && keys.valid_until_ts > now_ms
    {
        return Ok(keys);
    }
    let (keys, document) = fetch_direct(client, server_name).await?;
    remember(storage, &keys, document)?;
    Ok(keys)
}

/// `GET /_matrix/key/v2/server` of the server itself, checked.
async fn fetch_direct(
    client: &crate::client::FederationClient,
    server_name: &str,
) -> Result<(VerifiedKeys, serde_json::Value), RemoteKeyError> {
    let document = client
        .get_unsigned(server_name, "/_matrix/key/v2/server")
        .await
        .map_err(|e| RemoteKeyError::Fetch(e.to_string()))?;
    let keys =
        verify_keys(&document, server_name).map_err(|e| RemoteKeyError::Fetch(e.to_string()))?;
    Ok((keys, document))
}

/// Caches checked keys with the document they came in.
fn remember(
    storage: &citadel_storage::Storage,
    keys: &VerifiedKeys,
    document: serde_json::Value,
) -> Result<(), RemoteKeyError> {
    let record = json!({
        "server_name": keys.server_name,
        "verify_keys": keys.verify_keys,
        "valid_until_ts": keys.valid_until_ts,
        "document": document,
    });
    storage
        .server_keys
        .put_remote(&keys.server_name, &record)
        .map_err(|e| RemoteKeyError::Storage(e.to_string()))
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
