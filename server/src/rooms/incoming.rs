//! A PDU from another server, checked as the spec's "checks performed on receipt of a
//! PDU" require before it may change anything:
//!
//! 1. format, size, signatures and content hash ([`fetch::verify_pdu`]);
//! 2. authorization against its own auth events (fetched from the sender when missing);
//! 3. authorization against the state before it, resolved over its `prev_events` (gaps
//!    filled with `/get_missing_events`, or the state at a missing event from `/state`);
//! 4. authorization against the room's current state: an event that fails only this is
//!    soft-failed — kept as an outlier, never shown, never part of the current state.
//!
//! An accepted event is appended to the timeline; when it does not follow every forward
//! extremity, the room's new current state is resolved from the old one and the event's.

use std::future::Future;
use std::pin::Pin;

use citadel_federation::pdu::Pdu;
use citadel_storage::rooms::state::StateMap;
use serde_json::json;
use serde_json::value::RawValue;

use crate::api::error::Error;
use crate::app::AppState;
use crate::rooms::append::check_auth;
use crate::rooms::fetch::{
    Refusal, authorize_by_auth_events, enc, ensure_auth_events, store_outliers, stored, verify_all,
    verify_pdu,
};
use crate::rooms::state::{after_event, current, from_ids, resolve};
use crate::rooms::{Federate, Placement, RoomCtx, publish, write};

/// How many generations of missing events one received event may pull in.
const GAP_FILL_DEPTH: u32 = 3;
/// How many missing events one `/get_missing_events` asks for.
const MISSING_EVENTS_LIMIT: usize = 20;

/// What became of an accepted PDU.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Appended to the timeline.
    Accepted,
    /// Allowed by its own history but not by the room's current state.
    SoftFailed,
    /// Already held.
    Known,
}

/// Whether the event is already in the timeline. An event held only as an outlier (an
/// auth event, an invite, a soft-failed event) is checked again when it arrives as a
/// regular PDU: it may belong in the timeline now.
fn in_timeline(state: &AppState, pdu: &Pdu) -> bool {
    !matches!(
        state.storage.rooms.timeline.pdu_id(pdu.event_id.as_str()),
        Ok(None)
    )
}

/// Checks and applies one PDU that `origin` sent for `room`.
#[tracing::instrument(level = "debug", skip_all, fields(room_id = %room.room_id, origin = %origin))]
pub async fn receive_pdu(
    state: &AppState,
    origin: &str,
    room: &RoomCtx,
    raw: &RawValue,
) -> Result<(Pdu, Outcome), Refusal> {
    let pdu = verify_pdu(state, room, raw).await?;
    if in_timeline(state, &pdu) {
        return Ok((pdu, Outcome::Known));
    }
    let outcome = handle(
        state,
        origin,
        room,
        pdu.clone(),
        GAP_FILL_DEPTH,
        Federate::No,
    )
    .await?;
    Ok((pdu, outcome))
}

/// Applies a checked event that this server must then send to the rest of the room (a
/// join or leave it was handed with `send_join`/`send_leave`).
pub async fn accept_relayed(
    state: &AppState,
    origin: &str,
    room: &RoomCtx,
    pdu: Pdu,
) -> Result<Outcome, Refusal> {
    if in_timeline(state, &pdu) {
        return Ok(Outcome::Known);
    }
    let skip = Federate::AllExcept(Some(origin.to_owned()));
    handle(state, origin, room, pdu, GAP_FILL_DEPTH, skip).await
}

/// Steps 2–4 for an event whose signatures are checked.
fn handle<'a>(
    state: &'a AppState,
    origin: &'a str,
    room: &'a RoomCtx,
    pdu: Pdu,
    budget: u32,
    federate: Federate,
) -> Pin<Box<dyn Future<Output = Result<Outcome, Refusal>> + 'a>> {
    Box::pin(async move {
        ensure_auth_events(state, origin, room, &pdu).await?;
        authorize_by_auth_events(state, room, &pdu)?;
        fill_gaps(state, origin, room, &pdu, budget).await;
        for prev in &pdu.prev_events {
            if after_event(state, prev.as_str())
                .map_err(|e| e.to_string())?
                .is_none()
            {
                state_at_remote_event(state, origin, room, prev.as_str()).await?;
            }
        }
        apply(state, room, &pdu, federate)
            .await
            .map_err(|e| e.to_string())
    })
}

/// Asks `origin` for the events between what this server holds and `pdu`, and handles
/// them oldest first. Failures only leave the gap for [`state_at_remote_event`].
async fn fill_gaps(state: &AppState, origin: &str, room: &RoomCtx, pdu: &Pdu, budget: u32) {
    let missing = pdu.prev_events.iter().any(|id| {
        !matches!(
            state.storage.rooms.timeline.pdu_id(id.as_str()),
            Ok(Some(_))
        )
    });
    if !missing || budget == 0 {
        return;
    }
    let earliest = state
        .storage
        .rooms
        .timeline
        .extremities(room.short)
        .unwrap_or_default();
    // Nothing older than where this server's timeline of the room starts (its join):
    // history before that is backfill's business, not a gap.
    let min_depth = state
        .storage
        .rooms
        .timeline
        .after(room.short, 0, 1)
        .ok()
        .and_then(|first| first.into_iter().next())
        .and_then(|(_, first)| crate::rooms::parse_stored(&first).ok())
        .map_or(0, |first| first.depth);
    let body = json!({
        "earliest_events": earliest,
        "latest_events": [pdu.event_id],
        "limit": MISSING_EVENTS_LIMIT,
        "min_depth": min_depth,
    });
    let path = format!(
        "/_matrix/federation/v1/get_missing_events/{}",
        enc(room.room_id.as_str())
    );
    let events = match state
        .federation
        .request(origin, "POST", &path, Some(&body))
        .await
    {
        Ok((200, body)) => {
            serde_json::from_value::<Vec<Box<RawValue>>>(body["events"].clone()).unwrap_or_default()
        }
        Ok((status, _)) => {
            tracing::info!(%origin, status, "get_missing_events refused");
            return;
        }
        Err(e) => {
            tracing::info!(%origin, error = %e, "get_missing_events failed");
            return;
        }
    };
    let mut events = verify_all(state, room, &events).await;
    events.sort_by_key(|p| p.depth);
    for event in events {
        if in_timeline(state, &event) {
            continue;
        }
        let id = event.event_id.clone();
        if let Err(reason) = handle(state, origin, room, event, budget - 1, Federate::No).await {
            tracing::info!(event_id = %id, %reason, "a missing event was refused");
        }
    }
}

/// Learns the state after an event this server does not hold in its timeline, from
/// `origin`'s `/state` at it plus the event itself, and keeps both as outliers.
async fn state_at_remote_event(
    state: &AppState,
    origin: &str,
    room: &RoomCtx,
    event_id: &str,
) -> Result<(), Refusal> {
    let path = format!(
        "/_matrix/federation/v1/state/{}?event_id={}",
        enc(room.room_id.as_str()),
        enc(event_id)
    );
    let (status, body) = state
        .federation
        .request(origin, "GET", &path, None)
        .await
        .map_err(|e| e.to_string())?;
    if status != 200 {
        return Err(format!(
            "{origin} did not give the state at {event_id}: {status}"
        ));
    }
    let list = |field: &str| -> Vec<Box<RawValue>> {
        serde_json::from_value(body[field].clone()).unwrap_or_default()
    };
    let mut pdus = verify_all(state, room, &list("auth_chain")).await;
    let state_pdus = verify_all(state, room, &list("pdus")).await;
    pdus.extend(state_pdus.iter().cloned());
    let event = match crate::rooms::load_pdu(state, event_id).map_err(|e| e.to_string())? {
        Some(event) => std::sync::Arc::unwrap_or_clone(event),
        None => crate::rooms::fetch::fetch_event(state, origin, room, event_id).await?,
    };
    pdus.push(event.clone());
    let kept = store_outliers(state, room, pdus)
        .await
        .map_err(|e| e.to_string())?;
    let mut ids = citadel_federation::state_res::StateIds::new();
    for pdu in state_pdus.iter().chain(std::iter::once(&event)) {
        if let Some(key) = &pdu.state_key
            && kept.contains(&pdu.event_id)
        {
            ids.insert(
                (pdu.kind.to_string().into(), key.clone()),
                pdu.event_id.clone(),
            );
        }
    }
    if !kept.contains(&event.event_id) {
        return Err(format!("event {event_id} was refused"));
    }
    let map = from_ids(state, &ids).map_err(|e| e.to_string())?;
    let storage = &state.storage;
    let short = storage
        .rooms
        .short
        .event(event_id)
        .map_err(|e| e.to_string())?;
    let mut batch = storage.batch();
    let hash = storage
        .rooms
        .state
        .save(&mut batch, None, &map)
        .map_err(|e| e.to_string())?;
    storage.rooms.state.set_after_event(&mut batch, short, hash);
    storage.commit(batch).await.map_err(|e| e.to_string())
}

/// The state before an event: the resolved states after its `prev_events`, which must
/// all be known.
pub fn state_before(
    state: &AppState,
    room: &RoomCtx,
    pdu: &Pdu,
) -> crate::api::error::Result<StateMap> {
    let mut forks = Vec::with_capacity(pdu.prev_events.len());
    for prev in &pdu.prev_events {
        forks.push(
            after_event(state, prev.as_str())?
                .ok_or_else(|| Error::internal("state after a prev event is unknown"))?,
        );
    }
    if forks.is_empty() {
        return Ok(StateMap::new());
    }
    resolve(state, room, &forks)
}

/// Steps 3 and 4 and the write, under the room lock.
async fn apply(
    state: &AppState,
    room: &RoomCtx,
    pdu: &Pdu,
    federate: Federate,
) -> crate::api::error::Result<Outcome> {
    let guard = state.room_locks.lock(&room.room_id).await?;
    if in_timeline(state, pdu) {
        return Ok(Outcome::Known);
    }
    let before = state_before(state, room, pdu)?;
    check_auth(state, room, pdu, &before)
        .map_err(|e| Error::forbidden(format!("not allowed by the state before it: {e}")))?;

    let (current_hash, current_map) = current(state, room)?;
    if let Err(e) = check_auth(state, room, pdu, &current_map) {
        tracing::info!(event_id = %pdu.event_id, reason = %e, "soft-failed an event");
        let mut batch = state.storage.batch();
        state.storage.rooms.outliers.put(&mut batch, &stored(pdu)?);
        state.storage.commit(batch).await?;
        return Ok(Outcome::SoftFailed);
    }

    let extremities = state.storage.rooms.timeline.extremities(room.short)?;
    let follows_all = extremities
        .iter()
        .all(|e| pdu.prev_events.iter().any(|p| p.as_str() == e));
    let new_current = if follows_all {
        None
    } else {
        let mut after = before.clone();
        if let Some(key) = &pdu.state_key {
            after.insert(
                state
                    .storage
                    .rooms
                    .short
                    .state_key(&pdu.kind.to_string(), key)?,
                state.storage.rooms.short.event(pdu.event_id.as_str())?,
            );
        }
        Some(resolve(
            state,
            room,
            &[StateMap::clone(&current_map), after],
        )?)
    };
    let referenced: Vec<String> = pdu
        .prev_events
        .iter()
        .map(|p| p.to_string())
        .filter(|p| extremities.contains(p))
        .collect();
    let single_prev_hash = match pdu.prev_events.as_slice() {
        [only] => {
            let short = state.storage.rooms.short.event(only.as_str())?;
            state.storage.rooms.state.after_event(short)?
        }
        _ => None,
    };
    let written = write(
        state,
        room,
        pdu,
        Placement {
            referenced: &referenced,
            before: (single_prev_hash, &before),
            old_current: (current_hash, &current_map),
            new_current,
            federate,
            txn: None,
        },
    )?;
    drop(guard);
    publish(state, room, pdu, written).await?;
    crate::rooms::guests::after_state_event(state, room, pdu).await;
    if pdu.kind == ruma::events::TimelineEventType::RoomRedaction
        && redaction_permitted(state, room, pdu)?
    {
        crate::rooms::redaction::apply(state, room, &pdu.event_id).await?;
    }
    Ok(Outcome::Accepted)
}

/// Whether a received redaction may strip its target: the spec lets any redaction event
/// into the room, but it takes effect only when its sender's server sent the target too,
/// or its sender has the power to redact others' events.
fn redaction_permitted(
    state: &AppState,
    room: &RoomCtx,
    redaction: &Pdu,
) -> crate::api::error::Result<bool> {
    let Some(target_id) = &redaction.redacts else {
        return Ok(false);
    };
    let Some(target) = crate::rooms::load_pdu(state, target_id.as_str())? else {
        return Ok(false);
    };
    if target.sender.server_name() == redaction.sender.server_name() {
        return Ok(true);
    }
    let (_, map) = current(state, room)?;
    let (level, needed) =
        crate::rooms::state::power_levels(state, room, &map, redaction.sender.as_str(), "redact")?;
    Ok(level >= needed)
}
