//! What a user did in their rooms since a moment (the admin API's invite and join
//! counts, which moderators use to spot spam accounts). Reads each of the user's rooms
//! newest first and stops at the moment, so a recent window costs little.

use std::ops::ControlFlow;
use std::sync::Arc;

use citadel_federation::pdu::Pdu;

use crate::api::error::Result;
use crate::app::AppState;
use crate::rooms::state::content_str;

/// Calls `each` with every event of the user's rooms sent at or after `from_ts`.
fn each_event_since(
    state: &AppState,
    user_id: &str,
    from_ts: u64,
    mut each: impl FnMut(&Arc<Pdu>),
) -> Result<()> {
    let storage = &state.storage;
    for room in storage.rooms.membership.rooms_shared(user_id)?.iter() {
        let Some(short) = room.short else { continue };
        crate::rooms::walk::each_event_back(state, short, |_, pdu| {
            if u64::from(pdu.origin_server_ts.get()) < from_ts {
                return Ok(ControlFlow::Break(()));
            }
            each(pdu);
            Ok(ControlFlow::Continue(()))
        })?;
    }
    Ok(())
}

/// Invites the user sent at or after `from_ts`.
pub fn invites_sent_since(state: &AppState, user_id: &str, from_ts: u64) -> Result<usize> {
    let mut count = 0;
    each_event_since(state, user_id, from_ts, |pdu| {
        if pdu.sender.as_str() == user_id
            && pdu.kind.to_string() == "m.room.member"
            && pdu.state_key.as_deref() != Some(user_id)
            && content_str(pdu, "membership").as_deref() == Some("invite")
        {
            count += 1;
        }
    })?;
    Ok(count)
}

/// Rooms the user joined at or after `from_ts`, whether or not they are still in them.
pub fn rooms_joined_since(state: &AppState, user_id: &str, from_ts: u64) -> Result<usize> {
    let mut rooms = std::collections::HashSet::new();
    each_event_since(state, user_id, from_ts, |pdu| {
        if pdu.kind.to_string() == "m.room.member"
            && pdu.state_key.as_deref() == Some(user_id)
            && content_str(pdu, "membership").as_deref() == Some("join")
        {
            rooms.insert(pdu.room_id.clone());
        }
    })?;
    Ok(rooms.len())
}
