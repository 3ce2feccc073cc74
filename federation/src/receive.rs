//! The first checks on a PDU another server sent: its format and size, its event ID, the
//! signatures of every server that must have signed it, and its content hash (an event
//! whose hash does not match is kept only in redacted form, as the spec requires).
//!
//! What needs the room (authorization, state) is the room engine's; what needs the
//! network (fetching keys) is the caller's: [`signing_servers`] says whose keys to fetch.

use std::collections::BTreeSet;

use ruma::canonical_json::{CanonicalJsonObject, CanonicalJsonValue, redact};
use ruma::room_version_rules::{EventIdFormatVersion, RoomVersionRules};
use ruma::signatures::{PublicKeyMap, Verified};
use ruma::{OwnedEventId, OwnedServerName};

use crate::pdu::{MAX_PDU_BYTES, Pdu, PduError};

/// A PDU that passed the checks that need no room state.
#[derive(Debug)]
pub struct Received {
    pub pdu: Pdu,
    /// Its content hash did not match, so only its redacted form was kept.
    pub redacted: bool,
}

/// Parses and format-checks a received PDU, dropping the unsigned section the sender
/// may have added, and computes its event ID.
pub fn parse(
    rules: &RoomVersionRules,
    value: &serde_json::value::RawValue,
) -> Result<(OwnedEventId, CanonicalJsonObject), PduError> {
    if value.get().len() > MAX_PDU_BYTES {
        return Err(PduError::TooLarge);
    }
    let mut json: CanonicalJsonObject = serde_json::from_str(value.get())
        .map_err(|e| PduError::Malformed(format!("not canonical JSON: {e}")))?;
    json.remove("unsigned");
    ruma::state_res::check_pdu_format(&json, &rules.event_format).map_err(PduError::Malformed)?;
    let event_id = event_id(rules, &json)?;
    Ok((event_id, json))
}

/// The event ID: carried in the event for room versions 1 and 2, its reference hash after.
pub fn event_id(
    rules: &RoomVersionRules,
    json: &CanonicalJsonObject,
) -> Result<OwnedEventId, PduError> {
    let id = match rules.event_id_format {
        EventIdFormatVersion::V1 => match json.get("event_id") {
            Some(CanonicalJsonValue::String(id)) => id.clone(),
            _ => return Err(PduError::Malformed("missing event_id".into())),
        },
        _ => {
            let hash = ruma::signatures::reference_hash(json, rules).map_err(|e| match e {
                ruma::signatures::JsonError::PduTooLarge => PduError::TooLarge,
                other => PduError::Malformed(other.to_string()),
            })?;
            format!("${hash}")
        }
    };
    OwnedEventId::try_from(id).map_err(|e| PduError::Malformed(e.to_string()))
}

/// The servers whose signatures the event must carry, and for each the key IDs it signed
/// with (so the caller knows which keys to fetch).
pub fn signing_servers(
    rules: &RoomVersionRules,
    json: &CanonicalJsonObject,
) -> Result<Vec<(OwnedServerName, Vec<String>)>, PduError> {
    let servers: BTreeSet<OwnedServerName> =
        ruma::signatures::required_server_signatures_to_verify_event(json, &rules.signatures)
            .map_err(|e| PduError::Malformed(e.to_string()))?;
    let signatures = match json.get("signatures") {
        Some(CanonicalJsonValue::Object(s)) => s,
        _ => return Err(PduError::Malformed("missing signatures".into())),
    };
    Ok(servers
        .into_iter()
        .map(|server| {
            let keys = match signatures.get(server.as_str()) {
                Some(CanonicalJsonValue::Object(keys)) => keys.keys().cloned().collect(),
                _ => Vec::new(),
            };
            (server, keys)
        })
        .collect())
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("bad signature: {0}")]
    BadSignature(String),
    #[error(transparent)]
    Pdu(#[from] PduError),
}

/// Checks signatures (with the keys of every server [`signing_servers`] named) and the
/// content hash.
pub fn verify(
    rules: &RoomVersionRules,
    event_id: OwnedEventId,
    json: CanonicalJsonObject,
    keys: &PublicKeyMap,
) -> Result<Received, VerifyError> {
    let verified = ruma::signatures::verify_event(keys, &json, rules)
        .map_err(|e| VerifyError::BadSignature(e.to_string()))?;
    let (json, redacted) = match verified {
        Verified::All => (json, false),
        Verified::Signatures => {
            let redacted = redact(json, &rules.redaction, None)
                .map_err(|e| PduError::Malformed(e.to_string()))?;
            (redacted, true)
        }
    };
    let pdu = Pdu::from_json(event_id, json)?;
    Ok(Received { pdu, redacted })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use ruma::{RoomVersionId, UserId, room_id};

    use super::*;
    use crate::pdu::{EventContent, Position, build};
    use crate::signing::ServerSigningKey;

    fn key(dir: &std::path::Path, name: &str) -> ServerSigningKey {
        let storage = citadel_storage::Storage::open(
            dir,
            &citadel_storage::EngineOptions {
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

    fn message(key: &ServerSigningKey, rules: &RoomVersionRules) -> Pdu {
        let mut content = CanonicalJsonObject::new();
        content.insert("body".into(), "hello".into());
        let sender = UserId::parse(format!("@a:{}", key.server_name())).unwrap();
        build(
            rules,
            key,
            &sender,
            EventContent {
                kind: "m.room.message".into(),
                state_key: None,
                content,
                redacts: None,
            },
            Position {
                room_id: Some(room_id!("!r:a.test")),
                prev_events: &[],
                auth_events: &[],
                depth: 1,
            },
            ruma::MilliSecondsSinceUnixEpoch(1u32.into()),
        )
        .unwrap()
    }

    fn raw(json: &CanonicalJsonObject) -> Box<serde_json::value::RawValue> {
        serde_json::value::to_raw_value(json).unwrap()
    }

    #[test]
    fn signed_events_verify_and_tampering_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        let a = key(dir.path(), "a.test");
        let rules = RoomVersionId::V10.rules().unwrap();
        let pdu = message(&a, &rules);

        let (id, json) = parse(&rules, &raw(&pdu.json)).unwrap();
        assert_eq!(id, pdu.event_id);
        let servers = signing_servers(&rules, &json).unwrap();
        assert_eq!(servers.len(), 1);
        assert_eq!(servers[0].0.as_str(), "a.test");
        assert_eq!(servers[0].1, vec![a.key_id()]);
        let received = verify(&rules, id, json, &keys_of(&a)).unwrap();
        assert!(!received.redacted);

        // Changed content: signatures (over the redacted form) hold, the hash does not, so
        // the event is kept redacted.
        let mut changed = pdu.json.clone();
        let mut content = CanonicalJsonObject::new();
        content.insert("body".into(), "forged".into());
        changed.insert("content".into(), CanonicalJsonValue::Object(content));
        let (id, json) = parse(&rules, &raw(&changed)).unwrap();
        let received = verify(&rules, id, json, &keys_of(&a)).unwrap();
        assert!(received.redacted);
        assert_eq!(received.pdu.content.get(), "{}");

        // Changed sender's server key: the signature does not verify.
        let dir_b = tempfile::tempdir().unwrap();
        let other = key(dir_b.path(), "a.test");
        let (id, json) = parse(&rules, &raw(&pdu.json)).unwrap();
        assert!(matches!(
            verify(&rules, id, json, &keys_of(&other)),
            Err(VerifyError::BadSignature(_))
        ));
        // A changed signed field (depth) changes the event ID and breaks the signature.
        let mut moved = pdu.json.clone();
        moved.insert("depth".into(), CanonicalJsonValue::Integer(7u32.into()));
        let (id, json) = parse(&rules, &raw(&moved)).unwrap();
        assert_ne!(id, pdu.event_id);
        assert!(verify(&rules, id, json, &keys_of(&a)).is_err());
    }

    #[test]
    fn malformed_and_oversized_events_are_refused() {
        let rules = RoomVersionId::V10.rules().unwrap();
        let bad = serde_json::value::to_raw_value(&serde_json::json!({"type": 1})).unwrap();
        assert!(matches!(parse(&rules, &bad), Err(PduError::Malformed(_))));
        let big = serde_json::value::to_raw_value(&serde_json::json!({
            "type": "m.room.message",
            "content": {"body": "x".repeat(70_000)},
        }))
        .unwrap();
        assert!(matches!(parse(&rules, &big), Err(PduError::TooLarge)));
    }
}
