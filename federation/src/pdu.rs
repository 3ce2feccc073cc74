//! PDUs: room events as servers sign, store and exchange them.
//!
//! A [`Pdu`] keeps the signed canonical JSON exactly as it was hashed (so signatures and
//! reference hashes stay verifiable) next to the parsed fields the room engine reads.
//! Hashing, signing, event IDs and redaction are ruma's; this module only assembles the
//! event in the format of its room version.

use ruma::canonical_json::{CanonicalJsonObject, CanonicalJsonValue, RedactedBecause, redact};
use ruma::events::TimelineEventType;
use ruma::room_version_rules::{
    EventIdFormatVersion, EventsReferenceFormatVersion, RoomIdFormatVersion, RoomVersionRules,
};
use ruma::{
    EventId, MilliSecondsSinceUnixEpoch, OwnedEventId, OwnedRoomId, OwnedUserId, RoomId, UInt,
    UserId,
};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::signing::ServerSigningKey;

/// The largest PDU, in bytes of canonical JSON, that servers accept.
pub const MAX_PDU_BYTES: usize = 65_536;

/// The longest event type, state key, sender, room ID or event ID, in bytes: other
/// servers refuse an event with a longer one.
pub const MAX_ID_BYTES: usize = 255;

#[derive(Debug, thiserror::Error)]
pub enum PduError {
    #[error("event is larger than {MAX_PDU_BYTES} bytes")]
    TooLarge,
    /// One of the event's fields is longer than [`MAX_ID_BYTES`].
    #[error("{0} is longer than {MAX_ID_BYTES} bytes")]
    FieldTooLong(&'static str),
    #[error("malformed event: {0}")]
    Malformed(String),
}

#[derive(Clone, Debug)]
pub struct Pdu {
    pub event_id: OwnedEventId,
    pub room_id: OwnedRoomId,
    pub sender: OwnedUserId,
    pub origin_server_ts: MilliSecondsSinceUnixEpoch,
    pub kind: TimelineEventType,
    pub content: Box<RawValue>,
    pub state_key: Option<String>,
    pub prev_events: Vec<OwnedEventId>,
    pub auth_events: Vec<OwnedEventId>,
    pub redacts: Option<OwnedEventId>,
    pub depth: u64,
    /// Whether the event names its room (v12 create events do not: the room ID is derived
    /// from their hash).
    room_id_in_event: bool,
    /// The signed event, byte for byte what was hashed.
    pub json: CanonicalJsonObject,
}

/// The fields of a PDU the engine reads, in either reference format.
#[derive(Deserialize)]
struct Fields {
    room_id: Option<OwnedRoomId>,
    sender: OwnedUserId,
    origin_server_ts: MilliSecondsSinceUnixEpoch,
    #[serde(rename = "type")]
    kind: TimelineEventType,
    content: Box<RawValue>,
    state_key: Option<String>,
    #[serde(default)]
    prev_events: Vec<EventRef>,
    #[serde(default)]
    auth_events: Vec<EventRef>,
    redacts: Option<OwnedEventId>,
    #[serde(default)]
    depth: UInt,
}

/// `"$id"` (v3+) or `["$id:server", {"sha256": …}]` (v1, v2).
#[derive(Deserialize)]
#[serde(untagged)]
enum EventRef {
    Id(OwnedEventId),
    WithHash(OwnedEventId, serde::de::IgnoredAny),
}

impl EventRef {
    fn into_id(self) -> OwnedEventId {
        match self {
            EventRef::Id(id) | EventRef::WithHash(id, _) => id,
        }
    }
}

impl Pdu {
    /// Reads a stored or received event. `event_id` is needed because events of room
    /// version 3 and later do not contain their own ID.
    pub fn from_json(event_id: OwnedEventId, json: CanonicalJsonObject) -> Result<Self, PduError> {
        let value = serde_json::to_value(&json).map_err(|e| PduError::Malformed(e.to_string()))?;
        let fields: Fields =
            serde_json::from_value(value).map_err(|e| PduError::Malformed(e.to_string()))?;
        Self::from_parts(event_id, json, fields)
    }

    /// Reads an event from its JSON text: the fields straight from the text, without the
    /// round trip through a JSON value that [`from_json`](Self::from_json) makes.
    pub fn from_text(event_id: OwnedEventId, text: &str) -> Result<Self, PduError> {
        let json: CanonicalJsonObject =
            serde_json::from_str(text).map_err(|e| PduError::Malformed(e.to_string()))?;
        let fields: Fields =
            serde_json::from_str(text).map_err(|e| PduError::Malformed(e.to_string()))?;
        Self::from_parts(event_id, json, fields)
    }

    fn from_parts(
        event_id: OwnedEventId,
        json: CanonicalJsonObject,
        fields: Fields,
    ) -> Result<Self, PduError> {
        let room_id_in_event = fields.room_id.is_some();
        let room_id = match fields.room_id {
            Some(id) => id,
            // Room version 12: the create event's reference hash is the room ID.
            None if fields.kind == TimelineEventType::RoomCreate => {
                OwnedRoomId::try_from(format!("!{}", event_id.as_str().trim_start_matches('$')))
                    .map_err(|e| PduError::Malformed(e.to_string()))?
            }
            None => return Err(PduError::Malformed("missing room_id".into())),
        };
        // Redactions name their target at the top level before v11 and in the content after.
        let redacts = fields.redacts.or_else(|| {
            (fields.kind == TimelineEventType::RoomRedaction)
                .then(|| serde_json::from_str::<RedactsInContent>(fields.content.get()).ok())
                .flatten()
                .and_then(|c| c.redacts)
        });
        Ok(Self {
            event_id,
            room_id,
            sender: fields.sender,
            origin_server_ts: fields.origin_server_ts,
            kind: fields.kind,
            content: fields.content,
            state_key: fields.state_key,
            prev_events: fields
                .prev_events
                .into_iter()
                .map(EventRef::into_id)
                .collect(),
            auth_events: fields
                .auth_events
                .into_iter()
                .map(EventRef::into_id)
                .collect(),
            redacts,
            depth: fields.depth.into(),
            room_id_in_event,
            json,
        })
    }

    pub fn is_state(&self) -> bool {
        self.state_key.is_some()
    }

    /// The event as clients see it: the spec's `ClientEvent` (with `room_id`) or
    /// `ClientEventWithoutRoomID` (inside a room's section of `/sync`).
    pub fn to_client_event(&self, with_room_id: bool) -> serde_json::Value {
        let mut out = serde_json::Map::new();
        out.insert("event_id".into(), self.event_id.as_str().into());
        out.insert("type".into(), self.kind.to_string().into());
        out.insert("sender".into(), self.sender.as_str().into());
        out.insert(
            "origin_server_ts".into(),
            u64::from(self.origin_server_ts.0).into(),
        );
        out.insert(
            "content".into(),
            serde_json::from_str(self.content.get()).unwrap_or_default(),
        );
        if with_room_id {
            out.insert("room_id".into(), self.room_id.as_str().into());
        }
        if let Some(state_key) = &self.state_key {
            out.insert("state_key".into(), state_key.clone().into());
        }
        if let Some(redacts) = &self.redacts {
            out.insert("redacts".into(), redacts.as_str().into());
        }
        if let Some(CanonicalJsonValue::Object(unsigned)) = self.json.get("unsigned") {
            let mut unsigned = serde_json::to_value(unsigned).unwrap_or_default();
            // Synapse's `redacted_by` beside `redacted_because`, which clients and test
            // suites read.
            if let Some(by) = unsigned["redacted_because"]["event_id"].as_str() {
                unsigned["redacted_by"] = by.to_owned().into();
            }
            out.insert("unsigned".into(), unsigned);
        }
        serde_json::Value::Object(out)
    }

    /// This event with its content stripped by the room version's redaction algorithm.
    pub fn redacted(
        &self,
        rules: &RoomVersionRules,
        because: Option<&Pdu>,
    ) -> Result<Pdu, PduError> {
        // `unsigned.redacted_because` is read by clients: the redaction in client form,
        // with its event ID (which the federation form lacks from room version 3).
        let because = because.map(|b| {
            let client = serde_json::from_value::<CanonicalJsonObject>(b.to_client_event(true));
            RedactedBecause::from_json(client.unwrap_or_else(|_| b.json.clone()))
        });
        let json = redact(self.json.clone(), &rules.redaction, because)
            .map_err(|e| PduError::Malformed(e.to_string()))?;
        Pdu::from_json(self.event_id.clone(), json)
    }
}

#[derive(Deserialize)]
struct RedactsInContent {
    redacts: Option<OwnedEventId>,
}

impl ruma::state_res::Event for Pdu {
    type Id = OwnedEventId;

    fn event_id(&self) -> &Self::Id {
        &self.event_id
    }
    fn room_id(&self) -> Option<&RoomId> {
        self.room_id_in_event.then_some(&*self.room_id)
    }
    fn sender(&self) -> &UserId {
        &self.sender
    }
    fn origin_server_ts(&self) -> MilliSecondsSinceUnixEpoch {
        self.origin_server_ts
    }
    fn event_type(&self) -> &TimelineEventType {
        &self.kind
    }
    fn content(&self) -> &RawValue {
        &self.content
    }
    fn state_key(&self) -> Option<&str> {
        self.state_key.as_deref()
    }
    fn prev_events(&self) -> Box<dyn DoubleEndedIterator<Item = &Self::Id> + '_> {
        Box::new(self.prev_events.iter())
    }
    fn auth_events(&self) -> Box<dyn DoubleEndedIterator<Item = &Self::Id> + '_> {
        Box::new(self.auth_events.iter())
    }
    fn redacts(&self) -> Option<&Self::Id> {
        self.redacts.as_ref()
    }
    fn rejected(&self) -> bool {
        false
    }
}

/// What a local user asks for; the room engine fills in the graph position.
#[derive(Clone)]
pub struct EventContent {
    pub kind: String,
    pub state_key: Option<String>,
    /// A JSON object.
    pub content: CanonicalJsonObject,
    pub redacts: Option<OwnedEventId>,
}

/// Where a new event goes in its room.
pub struct Position<'a> {
    /// `None` only for the create event of a room version whose room ID is the create
    /// event's hash.
    pub room_id: Option<&'a RoomId>,
    pub prev_events: &'a [std::sync::Arc<Pdu>],
    pub auth_events: &'a [std::sync::Arc<Pdu>],
    pub depth: u64,
}

/// Assembles a new event in the format of its room version, unsigned and without
/// hashes: what `make_join`/`make_leave`/`make_knock` hand to the joining server, and the
/// first step of [`build`].
pub fn template(
    rules: &RoomVersionRules,
    sender: &UserId,
    event: EventContent,
    position: Position<'_>,
    now: MilliSecondsSinceUnixEpoch,
) -> Result<CanonicalJsonObject, PduError> {
    let mut object = CanonicalJsonObject::new();
    let mut content = event.content;
    object.insert("type".into(), event.kind.clone().into());
    object.insert("sender".into(), sender.as_str().into());
    object.insert(
        "origin_server_ts".into(),
        CanonicalJsonValue::Integer(now.0.into()),
    );
    let depth =
        UInt::try_from(position.depth).map_err(|_| PduError::Malformed("depth overflow".into()))?;
    object.insert("depth".into(), CanonicalJsonValue::Integer(depth.into()));
    if let Some(room_id) = position.room_id {
        object.insert("room_id".into(), room_id.as_str().into());
    } else if rules.room_id_format != RoomIdFormatVersion::V2 || event.kind != "m.room.create" {
        return Err(PduError::Malformed(
            "only a v12 create event may omit room_id".into(),
        ));
    }
    if let Some(state_key) = event.state_key {
        object.insert("state_key".into(), state_key.into());
    }
    if let Some(redacts) = &event.redacts {
        if rules.redaction.content_field_redacts {
            content.insert("redacts".into(), redacts.as_str().into());
        } else {
            object.insert("redacts".into(), redacts.as_str().into());
        }
    }
    object.insert("content".into(), CanonicalJsonValue::Object(content));
    object.insert(
        "prev_events".into(),
        references(rules, position.prev_events)?,
    );
    object.insert(
        "auth_events".into(),
        references(rules, position.auth_events)?,
    );
    Ok(object)
}

/// Assembles, hashes and signs a new event in the format of its room version and
/// computes its event ID.
pub fn build(
    rules: &RoomVersionRules,
    key: &ServerSigningKey,
    sender: &UserId,
    event: EventContent,
    position: Position<'_>,
    now: MilliSecondsSinceUnixEpoch,
) -> Result<Pdu, PduError> {
    let too_long = |field: &'static str, len: usize| {
        if len > MAX_ID_BYTES {
            Err(PduError::FieldTooLong(field))
        } else {
            Ok(())
        }
    };
    too_long("type", event.kind.len())?;
    too_long("state_key", event.state_key.as_ref().map_or(0, String::len))?;
    too_long("sender", sender.as_str().len())?;
    let object = template(rules, sender, event, position, now)?;
    if let Some(CanonicalJsonValue::String(room_id)) = object.get("room_id") {
        too_long("room_id", room_id.len())?;
    }
    sign_template(rules, key, object)
}

/// Completes an event template (ours or one another server made): adds the event ID of
/// room versions 1 and 2, hashes and signs it, and computes its event ID.
pub fn sign_template(
    rules: &RoomVersionRules,
    key: &ServerSigningKey,
    mut object: CanonicalJsonObject,
) -> Result<Pdu, PduError> {
    // Room versions 1 and 2 carry their event ID inside the event.
    let v1_event_id = match rules.event_id_format {
        EventIdFormatVersion::V1 => {
            use rand::Rng;
            let local: String = rand::thread_rng()
                .sample_iter(rand::distributions::Alphanumeric)
                .take(18)
                .map(char::from)
                .collect();
            let id = format!("${local}:{}", key.server_name());
            object.insert("event_id".into(), id.clone().into());
            Some(id)
        }
        _ => None,
    };
    key.hash_and_sign_event(&mut object, rules)
        .map_err(|e| match e {
            SignError::TooLarge => PduError::TooLarge,
            SignError::Other(m) => PduError::Malformed(m),
        })?;
    let size = serde_json::to_vec(&object)
        .map(|b| b.len())
        .unwrap_or(usize::MAX);
    if size > MAX_PDU_BYTES {
        return Err(PduError::TooLarge);
    }
    let event_id = match v1_event_id {
        Some(id) => id,
        None => {
            let hash = ruma::signatures::reference_hash(&object, rules).map_err(|e| match e {
                ruma::signatures::JsonError::PduTooLarge => PduError::TooLarge,
                other => PduError::Malformed(other.to_string()),
            })?;
            format!("${hash}")
        }
    };
    let event_id =
        OwnedEventId::try_from(event_id).map_err(|e| PduError::Malformed(e.to_string()))?;
    Pdu::from_json(event_id, object)
}

/// `prev_events`/`auth_events` in the room version's reference format.
fn references(
    rules: &RoomVersionRules,
    events: &[std::sync::Arc<Pdu>],
) -> Result<CanonicalJsonValue, PduError> {
    let refs = events
        .iter()
        .map(|pdu| match rules.events_reference_format {
            EventsReferenceFormatVersion::V1 => {
                let hash = ruma::signatures::reference_hash(&pdu.json, rules)
                    .map_err(|e| PduError::Malformed(e.to_string()))?;
                let mut hashes = CanonicalJsonObject::new();
                hashes.insert("sha256".into(), hash.into());
                Ok(CanonicalJsonValue::Array(vec![
                    pdu.event_id.as_str().into(),
                    CanonicalJsonValue::Object(hashes),
                ]))
            }
            _ => Ok(pdu.event_id.as_str().into()),
        })
        .collect::<Result<Vec<_>, PduError>>()?;
    Ok(CanonicalJsonValue::Array(refs))
}

/// Why signing an event failed.
pub enum SignError {
    TooLarge,
    Other(String),
}

/// The event IDs of `pdus`.
pub fn ids(pdus: &[Pdu]) -> Vec<&EventId> {
    pdus.iter().map(|p| &*p.event_id).collect()
}
