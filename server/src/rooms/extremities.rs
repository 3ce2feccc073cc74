//! A room's forward extremities: the events no other event follows yet, which the next
//! local event cites as `prev_events`. Many of them (after netsplits) make every new event
//! resolve state across all of them; the admin API lists them and can drop all but the
//! newest.

use crate::api::error::Result;
use crate::app::AppState;
use crate::rooms::{RoomCtx, load_pdu};

/// One forward extremity as the admin API describes it.
pub struct Extremity {
    pub event_id: String,
    /// Its position in this server's timeline (0 when it is not in the timeline).
    pub stream: u64,
    pub depth: u64,
    /// The snapshot of the room state after the event, if one is stored.
    pub state_after: Option<u64>,
    pub origin_server_ts: u64,
}

/// The room's forward extremities, newest first.
pub fn list(state: &AppState, room: &RoomCtx) -> Result<Vec<Extremity>> {
    let timeline = &state.storage.rooms.timeline;
    let mut found = Vec::new();
    for event_id in timeline.extremities(room.short)? {
        let stream = timeline.pdu_id(&event_id)?.map_or(0, |at| at.count);
        let pdu = load_pdu(state, &event_id)?;
        let state_after = match state.storage.rooms.short.event_if_known(&event_id)? {
            Some(short) => state.storage.rooms.state.after_event(short)?,
            None => None,
        };
        found.push(Extremity {
            stream,
            depth: pdu.as_ref().map_or(0, |p| p.depth),
            state_after,
            origin_server_ts: pdu.as_ref().map_or(0, |p| p.origin_server_ts.get().into()),
            event_id,
        });
    }
    found.sort_by_key(|e| std::cmp::Reverse(e.stream));
    Ok(found)
}

/// Drops every forward extremity but the newest one in the timeline, under the room lock
/// so no event being appended cites one that is going away. Returns how many went.
pub async fn keep_newest(state: &AppState, room: &RoomCtx) -> Result<usize> {
    let _guard = state.room_locks.lock(&room.room_id).await?;
    let found = list(state, room)?;
    let dropped: Vec<String> = found.into_iter().skip(1).map(|e| e.event_id).collect();
    if dropped.is_empty() {
        return Ok(0);
    }
    let mut batch = state.storage.batch();
    state
        .storage
        .rooms
        .timeline
        .drop_extremities(&mut batch, room.short, &dropped);
    state.storage.apply(batch)?;
    Ok(dropped.len())
}
