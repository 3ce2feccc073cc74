//! Reading a whole room's timeline a page at a time, oldest or newest first (admin
//! scans: media in a room, the event nearest a time, history purges, a user's recent
//! activity and redactions).

use std::ops::ControlFlow;
use std::sync::Arc;

use citadel_federation::pdu::Pdu;

use crate::api::error::Result;
use crate::app::AppState;

/// Events read per page.
const PAGE: usize = 500;

/// Calls `each` with every event of the room (by short ID) and its position, oldest
/// first, until it answers `Break`.
pub fn each_event(
    state: &AppState,
    room: u64,
    mut each: impl FnMut(u64, &Arc<Pdu>) -> Result<ControlFlow<()>>,
) -> Result<()> {
    let mut cursor = 0;
    loop {
        let page = state.storage.rooms.timeline.after(room, cursor, PAGE)?;
        for (count, stored) in &page {
            cursor = *count;
            let pdu = state.pdu_cache.parse(stored)?;
            if each(*count, &pdu)?.is_break() {
                return Ok(());
            }
        }
        if page.len() < PAGE {
            return Ok(());
        }
    }
}

/// [`each_event`], newest first.
pub fn each_event_back(
    state: &AppState,
    room: u64,
    mut each: impl FnMut(u64, &Arc<Pdu>) -> Result<ControlFlow<()>>,
) -> Result<()> {
    let mut before = u64::MAX;
    loop {
        let page = state.storage.rooms.timeline.before(room, before, PAGE)?;
        for (count, stored) in &page {
            before = *count;
            let pdu = state.pdu_cache.parse(stored)?;
            if each(*count, &pdu)?.is_break() {
                return Ok(());
            }
        }
        if page.len() < PAGE {
            return Ok(());
        }
    }
}
