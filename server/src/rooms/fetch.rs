//! Events from other servers: checking their signatures and hashes, fetching the ones a
//! received event depends on, and keeping them as outliers once each passes the
//! authorization rules against its own auth events.

use std::collections::{BTreeMap, HashMap};

use citadel_federation::auth::authorize;
use citadel_federation::pdu::Pdu;
use citadel_federation::receive;
use citadel_storage::rooms::timeline::StoredPdu;
use ruma::events::StateEventType;
use ruma::signatures::PublicKeyMap;
use ruma::{CanonicalJsonObject, EventId, OwnedEventId};
use serde_json::value::RawValue;

use crate::app::AppState;
use crate::rooms::{RoomCtx, is_known, load_pdu};

/// Why a received event was not accepted; said back to the sender.
pub type Refusal = String;

/// The public keys of every server that must have signed `json`.
async fn signing_keys(
    state: &AppState,
    room: &RoomCtx,
    json: &CanonicalJsonObject,
) -> Result<PublicKeyMap, Refusal> {
    let mut map = PublicKeyMap::new();
    let servers = receive::signing_servers(&room.rules, json).map_err(|e| e.to_string())?;
    for (server, key_ids) in servers {
        if server.as_str() == state.server_name() {
            let mut own = BTreeMap::new();
            let public = ruma::serde::Base64::parse(state.signing_key.public_key_base64())
                .map_err(|e| e.to_string())?;
            own.insert(state.signing_key.key_id(), public);
            map.insert(server.to_string(), own);
            continue;
        }
        let Some(key_id) = key_ids.first() else {
            return Err(format!("the event is not signed by {server}"));
        };
        let keys = citadel_federation::server_keys::remote_keys(
            &state.federation,
            &state.storage,
            server.as_str(),
            key_id,
            citadel_storage::now_ms(),
        )
        .await
        .map_err(|e| format!("cannot get the keys of {server}: {e}"))?;
        map.extend(keys.public_key_map());
    }
    Ok(map)
}

/// Parses a received event of `room` and checks its format, signatures and content hash
/// (an event whose hash does not match comes back redacted).
pub async fn verify_pdu(state: &AppState, room: &RoomCtx, raw: &RawValue) -> Result<Pdu, Refusal> {
    let (event_id, json) = receive::parse(&room.rules, raw).map_err(|e| e.to_string())?;
    let keys = signing_keys(state, room, &json).await?;
    let received =
        receive::verify(&room.rules, event_id, json, &keys).map_err(|e| e.to_string())?;
    if received.pdu.room_id != room.room_id {
        return Err(format!(
            "event {} belongs to another room",
            received.pdu.event_id
        ));
    }
    if received.redacted {
        tracing::info!(event_id = %received.pdu.event_id, "content hash mismatch: keeping the event redacted");
    }
    Ok(received.pdu)
}

/// Checks an event against the state its own `auth_events` describe.
pub fn authorize_by_auth_events(
    state: &AppState,
    room: &RoomCtx,
    pdu: &Pdu,
) -> Result<(), Refusal> {
    let mut auth: HashMap<(StateEventType, String), std::sync::Arc<Pdu>> = HashMap::new();
    let mut ids: Vec<OwnedEventId> = pdu.auth_events.clone();
    // From room version 12 the create event is not cited: the room ID names it.
    if room.rules.authorization.room_create_event_id_as_room_id
        && pdu.kind != ruma::events::TimelineEventType::RoomCreate
    {
        let create = format!("${}", room.room_id.as_str().trim_start_matches('!'));
        ids.push(OwnedEventId::try_from(create).map_err(|e| e.to_string())?);
    }
    for id in &ids {
        let Some(event) = load_pdu(state, id.as_str()).ok().flatten() else {
            return Err(format!("auth event {id} is unknown"));
        };
        if let Some(key) = &event.state_key {
            auth.insert((event.kind.to_string().into(), key.clone()), event);
        }
    }
    authorize(
        &room.rules,
        pdu,
        |id| load_pdu(state, id.as_str()).ok().flatten(),
        |kind, key| auth.get(&(kind.clone(), key.to_owned())).cloned(),
    )
    .map_err(|e| format!("event {} is not authorized: {e}", pdu.event_id))
}

/// Stores checked events as outliers: in depth order, each only if its auth events are
/// held and authorize it. Returns the IDs kept (already held ones included).
pub async fn store_outliers(
    state: &AppState,
    room: &RoomCtx,
    mut pdus: Vec<Pdu>,
) -> crate::api::error::Result<Vec<OwnedEventId>> {
    pdus.sort_by_key(|p| p.depth);
    let mut kept = Vec::new();
    for pdu in pdus {
        if is_known(state, pdu.event_id.as_str())? {
            kept.push(pdu.event_id);
            continue;
        }
        if let Err(reason) = authorize_by_auth_events(state, room, &pdu) {
            tracing::info!(%reason, "rejected an outlier");
            continue;
        }
        // Each is written at once: the next may name it as an auth event.
        let mut batch = state.storage.batch();
        state.storage.rooms.outliers.put(&mut batch, &stored(&pdu)?);
        state.storage.apply(batch)?;
        kept.push(pdu.event_id);
    }
    state.storage.flush().await?;
    Ok(kept)
}

pub fn stored(pdu: &Pdu) -> crate::api::error::Result<StoredPdu> {
    let json = serde_json::to_string(&pdu.json).map_err(crate::api::error::Error::internal)?;
    Ok(StoredPdu {
        event_id: pdu.event_id.to_string(),
        pdu: RawValue::from_string(json).map_err(crate::api::error::Error::internal)?,
    })
}

/// Verifies a list of events another server sent (skipping those that fail).
pub async fn verify_all(state: &AppState, room: &RoomCtx, raws: &[Box<RawValue>]) -> Vec<Pdu> {
    let mut out = Vec::with_capacity(raws.len());
    for raw in raws {
        match verify_pdu(state, room, raw).await {
            Ok(pdu) => out.push(pdu),
            Err(reason) => tracing::info!(%reason, "dropped an event from another server"),
        }
    }
    out
}

/// Makes sure every auth event of `pdu` is held, fetching the auth chain from `origin`.
pub async fn ensure_auth_events(
    state: &AppState,
    origin: &str,
    room: &RoomCtx,
    pdu: &Pdu,
) -> Result<(), Refusal> {
    let missing = |state: &AppState| -> Vec<&EventId> {
        pdu.auth_events
            .iter()
            .filter(|id| !is_known(state, id.as_str()).unwrap_or(false))
            .map(|id| &**id)
            .collect()
    };
    if missing(state).is_empty() {
        return Ok(());
    }
    let path = format!(
        "/_matrix/federation/v1/event_auth/{}/{}",
        enc(room.room_id.as_str()),
        enc(pdu.event_id.as_str())
    );
    let (status, body) = state
        .federation
        .request(origin, "GET", &path, None)
        .await
        .map_err(|e| e.to_string())?;
    if status != 200 {
        return Err(format!("{origin} did not give the auth chain: {status}"));
    }
    let raws: Vec<Box<RawValue>> =
        serde_json::from_value(body["auth_chain"].clone()).unwrap_or_default();
    let pdus = verify_all(state, room, &raws).await;
    store_outliers(state, room, pdus)
        .await
        .map_err(|e| e.to_string())?;
    let still = missing(state);
    if still.is_empty() {
        Ok(())
    } else {
        Err(format!("auth events {still:?} are unavailable"))
    }
}

/// `GET /_matrix/federation/v1/event/{eventId}` from `server`, checked.
pub async fn fetch_event(
    state: &AppState,
    server: &str,
    room: &RoomCtx,
    event_id: &str,
) -> Result<Pdu, Refusal> {
    let path = format!("/_matrix/federation/v1/event/{}", enc(event_id));
    let (status, body) = state
        .federation
        .request(server, "GET", &path, None)
        .await
        .map_err(|e| e.to_string())?;
    if status != 200 {
        return Err(format!("{server} did not give event {event_id}: {status}"));
    }
    let raw: Box<RawValue> = serde_json::from_value(body["pdus"][0].clone())
        .map_err(|_| format!("{server} sent no event"))?;
    let pdu = verify_pdu(state, room, &raw).await?;
    if pdu.event_id.as_str() != event_id {
        return Err(format!("{server} sent another event than {event_id}"));
    }
    Ok(pdu)
}

/// Percent-encodes a path segment.
pub fn enc(segment: &str) -> String {
    percent_encoding::utf8_percent_encode(segment, percent_encoding::NON_ALPHANUMERIC).to_string()
}
