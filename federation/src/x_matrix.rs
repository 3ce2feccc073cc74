//! `Authorization: X-Matrix` request signatures between servers (server-server API,
//! "Request Authentication"), through ruma's implementation: we sign every outgoing
//! request and verify every incoming one against the origin's published keys.

use ruma::api::federation::authentication::{XMatrix, XMatrixSigningInput};
use ruma::signatures::PublicKeyMap;
use ruma::{OwnedServerName, ServerName};

use crate::signing::ServerSigningKey;

#[derive(Debug, thiserror::Error)]
pub enum XMatrixError {
    #[error("missing or malformed X-Matrix authorization: {0}")]
    Malformed(String),
    #[error("the request was addressed to another server")]
    WrongDestination,
    #[error("invalid X-Matrix signature: {0}")]
    BadSignature(String),
}

/// The `Authorization` header value for a request from this server to `destination`.
pub fn sign<T: AsRef<[u8]>>(
    key: &ServerSigningKey,
    destination: &ServerName,
    request: &http1::Request<T>,
) -> Result<String, XMatrixError> {
    let origin = OwnedServerName::try_from(key.server_name())
        .map_err(|e| XMatrixError::Malformed(e.to_string()))?;
    let input = XMatrixSigningInput::new(origin, destination.to_owned(), key.key_pair());
    let scheme = XMatrix::sign_http_request(request, input)
        .map_err(|e| XMatrixError::Malformed(e.to_string()))?;
    Ok(scheme.to_string())
}

/// Parses an incoming `Authorization` header: who claims to have sent the request, and
/// with which key.
pub fn parse(header: &str) -> Result<XMatrix, XMatrixError> {
    XMatrix::parse(header).map_err(|e| XMatrixError::Malformed(e.to_string()))
}

/// Verifies an incoming request's signature against the origin's keys (`keys` maps the
/// origin's server name to its key IDs and public keys).
pub fn verify<T: AsRef<[u8]>>(
    scheme: &XMatrix,
    request: &http1::Request<T>,
    our_name: &ServerName,
    keys: &PublicKeyMap,
) -> Result<(), XMatrixError> {
    if scheme.destination.as_deref().is_some_and(|d| d != our_name) {
        return Err(XMatrixError::WrongDestination);
    }
    scheme
        .verify_http_request(request, our_name, keys)
        .map_err(|e| XMatrixError::BadSignature(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use citadel_storage::{EngineOptions, Storage};
    use std::collections::BTreeMap;

    fn key(dir: &std::path::Path, name: &str) -> ServerSigningKey {
        let storage = Storage::open(
            dir,
            &EngineOptions {
                cache_bytes: 1 << 20,
            },
        )
        .unwrap();
        ServerSigningKey::load_or_generate(&storage, name).unwrap()
    }

    fn keys_of(key: &ServerSigningKey) -> PublicKeyMap {
        let mut ids = BTreeMap::new();
        ids.insert(
            key.key_id(),
            ruma::serde::Base64::parse(key.public_key_base64()).unwrap(),
        );
        let mut map = BTreeMap::new();
        map.insert(key.server_name().to_owned(), ids);
        map
    }

    #[test]
    fn signed_requests_verify_and_tampering_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        let origin = key(dir.path(), "origin.test");
        let destination = <&ServerName>::try_from("dest.test").unwrap();
        let request = http1::Request::builder()
            .method("PUT")
            .uri("/_matrix/federation/v1/send/1")
            .body(br#"{"pdus":[]}"#.to_vec())
            .unwrap();
        let header = sign(&origin, destination, &request).unwrap();
        assert!(header.starts_with("X-Matrix "));
        let scheme = parse(&header).unwrap();
        assert_eq!(scheme.origin.as_str(), "origin.test");
        verify(&scheme, &request, destination, &keys_of(&origin)).unwrap();

        let tampered = http1::Request::builder()
            .method("PUT")
            .uri("/_matrix/federation/v1/send/1")
            .body(br#"{"pdus":[{"evil":true}]}"#.to_vec())
            .unwrap();
        assert!(matches!(
            verify(&scheme, &tampered, destination, &keys_of(&origin)),
            Err(XMatrixError::BadSignature(_))
        ));
        let elsewhere = <&ServerName>::try_from("other.test").unwrap();
        assert!(matches!(
            verify(&scheme, &request, elsewhere, &keys_of(&origin)),
            Err(XMatrixError::WrongDestination)
        ));
        assert!(parse("Bearer abc").is_err());
    }
}
