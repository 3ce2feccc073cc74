//! The admin API's history purge: a room's old messages are deleted from the
//! database, up to a point. State events stay (the room's state and the authorization
//! of later events rest on them), and so do events sent by local users unless the
//! admin asks, and the room's newest event (a room is never left empty).
//!
//! Deletion runs in atomic steps of whole events; a purge interrupted between steps is
//! finished by running it again.

use serde::{Deserialize, Serialize};

use crate::api::error::{Error, Result};
use crate::app::AppState;
use crate::rooms::RoomCtx;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PurgeHistoryParams {
    /// Events at stream positions below this go.
    pub before_count: u64,
    pub delete_local_events: bool,
}

/// Events examined, and deleted, per step.
const STEP: usize = 256;

/// Purges the room's history; returns how many events it deleted.
pub async fn purge_history(
    state: &AppState,
    room: &RoomCtx,
    params: &PurgeHistoryParams,
) -> Result<usize> {
    let storage = &state.storage;
    let _lock = state.room_locks.lock(&room.room_id).await?;
    let newest = storage
        .rooms
        .timeline
        .latest_count(room.short)?
        .unwrap_or(0);
    let before = params.before_count.min(newest);
    let local_suffix = format!(":{}", state.server_name());
    let mut deleted = 0;
    let mut cursor = 0u64;
    loop {
        let page = storage.rooms.timeline.after(room.short, cursor, STEP)?;
        let mut doomed = Vec::new();
        let mut done = page.len() < STEP;
        for (count, stored) in &page {
            if *count >= before {
                done = true;
                break;
            }
            cursor = *count;
            let pdu = state.pdu_cache.parse(stored)?;
            let local = pdu.sender.as_str().ends_with(&local_suffix);
            if pdu.state_key.is_none() && (params.delete_local_events || !local) {
                doomed.push((*count, stored.event_id.clone()));
            }
        }
        if !doomed.is_empty() {
            deleted += doomed.len();
            let step = storage.clone();
            let short = room.short;
            tokio::task::spawn_blocking(move || step.purge_history_events(short, &doomed))
                .await
                .map_err(Error::internal)??;
        }
        if done {
            break;
        }
    }
    storage.flush().await?;
    tracing::info!(room_id = %room.room_id, deleted, "room history purged");
    Ok(deleted)
}
