//! Guest access, the server's side (the spec's "Guest access", server behaviour): guests
//! join only rooms whose `m.room.guest_access` is `can_join`, and leave every room whose
//! guest access is withdrawn. Whether an account is a guest never leaves this server.

use ruma::{RoomId, UserId};
use serde_json::Value;

use crate::api::error::{Error, Result};
use crate::app::AppState;
use crate::rooms::RoomCtx;
use citadel_federation::pdu::Pdu;

const GUEST_ACCESS: &str = "m.room.guest_access";

fn refused() -> Error {
    Error::forbidden("Guest access is not allowed in this room")
}

/// Whether the room's current state lets guests join.
pub fn room_allows_guests(state: &AppState, room: &RoomCtx) -> Result<bool> {
    let Some(event) = crate::rooms::state::current_event(state, room, GUEST_ACCESS, "")? else {
        return Ok(false);
    };
    Ok(allows(&event))
}

fn allows(event: &Pdu) -> bool {
    serde_json::from_str::<Value>(event.content.get())
        .is_ok_and(|content| content["guest_access"] == "can_join")
}

/// Refuses a guest's join of a room this server is in and that does not allow guests.
/// A room known only elsewhere is checked once joined ([`after_remote_join`]).
pub fn check_join(state: &AppState, room_id: &RoomId, guest: bool) -> Result<()> {
    if !guest {
        return Ok(());
    }
    match RoomCtx::load(&state.storage, room_id)? {
        Some(room) if crate::rooms::servers::is_in_room(state, room_id, state.server_name())? => {
            if room_allows_guests(state, &room)? {
                Ok(())
            } else {
                Err(refused())
            }
        }
        _ => Ok(()),
    }
}

/// After a guest joined a room over federation: out again, and refused, if the room
/// turns out not to allow guests.
pub async fn after_remote_join(
    state: &AppState,
    room_id: &RoomId,
    user: &UserId,
    guest: bool,
) -> Result<()> {
    if !guest {
        return Ok(());
    }
    let Some(room) = RoomCtx::load(&state.storage, room_id)? else {
        return Ok(());
    };
    if room_allows_guests(state, &room)? {
        return Ok(());
    }
    crate::rooms::membership::leave(state, room_id, user, None).await?;
    Err(refused())
}

/// After a state event is stored: when it withdraws guest access, every local guest
/// in the room leaves (the spec's "MUST set those users' m.room.member state to leave").
pub async fn after_state_event(state: &AppState, room: &RoomCtx, pdu: &Pdu) {
    if pdu.kind.to_string() != GUEST_ACCESS || pdu.state_key.as_deref() != Some("") || allows(pdu) {
        return;
    }
    let guests = match local_guests_joined(state, room) {
        Ok(guests) => guests,
        Err(e) => {
            tracing::warn!(error = %e, room_id = %room.room_id, "cannot list the room's guests");
            return;
        }
    };
    for guest in guests {
        if let Err(e) = crate::rooms::membership::leave(state, &room.room_id, &guest, None).await {
            tracing::warn!(error = %e, user_id = %guest, room_id = %room.room_id,
                "a guest could not be removed from a room that no longer allows guests");
        }
    }
}

fn local_guests_joined(state: &AppState, room: &RoomCtx) -> Result<Vec<ruma::OwnedUserId>> {
    let suffix = format!(":{}", state.server_name());
    let members = crate::rooms::members::of(state, room.room_id.as_str())?;
    let mut guests = Vec::new();
    for (user_id, record) in members.iter() {
        if record.membership != "join" || !user_id.ends_with(&suffix) {
            continue;
        }
        if state
            .storage
            .users
            .get(user_id)?
            .is_some_and(|user| user.guest)
            && let Ok(user_id) = ruma::OwnedUserId::try_from(user_id)
        {
            guests.push(user_id);
        }
    }
    Ok(guests)
}
