//! History from before this server joined a room: when `/messages` pages back to the
//! start of what is held, older events are asked of the other servers in the room
//! (`/backfill`), checked like any received event, and placed below the room's first
//! event (stream positions start at 2^32, so there is room below).
//!
//! Backfilled events are history only: they change neither the current state nor the
//! forward extremities. For history visibility they carry the state the room had where
//! this server's timeline begins.

use citadel_federation::pdu::Pdu;
use citadel_storage::rooms::timeline::PduId;
use ruma::events::TimelineEventType;
use serde_json::value::RawValue;

use crate::api::error::Result;
use crate::app::AppState;
use crate::rooms::fetch::{authorize_by_auth_events, enc, ensure_auth_events, stored, verify_all};
use crate::rooms::{RoomCtx, parse_stored};

/// Most events asked for at once.
const BACKFILL_LIMIT: usize = 50;

/// Fetches older history of `room` from another server. Returns how many events were
/// added (0 when the room's start is already held or no server could help).
pub async fn backfill(state: &AppState, room: &RoomCtx) -> Result<usize> {
    if !state.config.federation.enabled {
        return Ok(0);
    }
    let timeline = &state.storage.rooms.timeline;
    let Some((first_count, first)) = timeline.after(room.short, 0, 1)?.into_iter().next() else {
        return Ok(0);
    };
    let first = parse_stored(&first)?;
    if first.kind == TimelineEventType::RoomCreate || first_count <= 1 {
        return Ok(0);
    }
    let mut servers = crate::rooms::servers::in_room(state, &room.room_id)?;
    servers.remove(state.server_name());
    for server in servers {
        let path = format!(
            "/_matrix/federation/v1/backfill/{}?v={}&limit={BACKFILL_LIMIT}",
            enc(room.room_id.as_str()),
            enc(first.event_id.as_str()),
        );
        let body = match state.federation.request(&server, "GET", &path, None).await {
            Ok((200, body)) => body,
            Ok((status, _)) => {
                tracing::info!(%server, status, "backfill refused");
                continue;
            }
            Err(e) => {
                tracing::info!(%server, error = %e, "backfill failed");
                continue;
            }
        };
        let raws: Vec<Box<RawValue>> =
            serde_json::from_value(body["pdus"].clone()).unwrap_or_default();
        let pdus = verify_all(state, room, &raws).await;
        let added = place(state, room, &server, first_count, pdus).await?;
        if added > 0 {
            return Ok(added);
        }
    }
    Ok(0)
}

/// Checks the events (their auth chains fetched from `server`) and stores the ones that
/// pass below position `first_count`, newest first.
async fn place(
    state: &AppState,
    room: &RoomCtx,
    server: &str,
    first_count: u64,
    mut pdus: Vec<Pdu>,
) -> Result<usize> {
    pdus.sort_by_key(|p| std::cmp::Reverse(p.depth));
    let base_state = crate::rooms::state::before_count(state, room, first_count)?;
    let mut accepted = Vec::new();
    for pdu in pdus {
        if state
            .storage
            .rooms
            .timeline
            .pdu_id(pdu.event_id.as_str())?
            .is_some()
        {
            continue;
        }
        if let Err(reason) = ensure_auth_events(state, server, room, &pdu).await {
            tracing::info!(event_id = %pdu.event_id, %reason, "backfilled event refused");
            continue;
        }
        if let Err(reason) = authorize_by_auth_events(state, room, &pdu) {
            tracing::info!(event_id = %pdu.event_id, %reason, "backfilled event refused");
            continue;
        }
        accepted.push(pdu);
    }
    if accepted.is_empty() {
        return Ok(0);
    }
    let _guard = state.room_locks.lock(&room.room_id).await?;
    // The lowest position held may have moved while the events were checked.
    let mut next = state
        .storage
        .rooms
        .timeline
        .after(room.short, 0, 1)?
        .first()
        .map_or(first_count, |(count, _)| *count);
    let storage = &state.storage;
    let mut batch = storage.batch();
    let state_hash = storage.rooms.state.save(&mut batch, None, &base_state)?;
    for pdu in &accepted {
        next -= 1;
        storage.rooms.timeline.append(
            &mut batch,
            PduId {
                room: room.short,
                count: next,
            },
            &stored(pdu)?,
        );
        let short = storage.rooms.short.event(pdu.event_id.as_str())?;
        storage
            .rooms
            .state
            .set_after_event(&mut batch, short, state_hash);
        crate::rooms::relations::index(state, &mut batch, room.short, pdu, next);
    }
    storage.commit(batch).await?;
    Ok(accepted.len())
}
