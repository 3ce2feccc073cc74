//! Membership changes by local users: join, leave, invite, kick, ban, unban.

use ruma::{OwnedRoomId, RoomId, UserId};
use serde_json::{Value, json};

use crate::api::error::{Error, Result};
use crate::app::AppState;
use crate::rooms::create::{add_profile, state_event};
use crate::rooms::state::{content_str, current_event};
use crate::rooms::{RoomCtx, append_event};

/// Sends an `m.room.member` event for `target`, sent by `sender`.
async fn set_membership(
    state: &AppState,
    room: &RoomCtx,
    sender: &UserId,
    target: &UserId,
    membership: &str,
    reason: Option<&str>,
) -> Result<()> {
    let mut content = json!({ "membership": membership });
    if membership == "join" || membership == "invite" {
        add_profile(state, target, &mut content)?;
    }
    if let Some(reason) = reason {
        content["reason"] = Value::from(reason);
    }
    append_event(
        state,
        room,
        sender,
        state_event("m.room.member", target.as_str(), content)?,
    )
    .await?;
    Ok(())
}

/// The target's current membership in the room.
pub fn membership_of(state: &AppState, room: &RoomCtx, user_id: &str) -> Result<Option<String>> {
    Ok(current_event(state, room, "m.room.member", user_id)?
        .and_then(|pdu| content_str(&pdu, "membership")))
}

/// Joins a room this server knows. Joining one it does not know needs federation.
pub async fn join(
    state: &AppState,
    room_id: &RoomId,
    user: &UserId,
    reason: Option<&str>,
) -> Result<OwnedRoomId> {
    let room = RoomCtx::load(&state.storage, room_id)?.ok_or_else(|| {
        Error::not_found(
            "This server does not know the room, and cannot join it over federation yet",
        )
    })?;
    // Joining again is a no-op that succeeds, as in Synapse.
    if membership_of(state, &room, user.as_str())?.as_deref() == Some("join") {
        return Ok(room.room_id);
    }
    set_membership(state, &room, user, user, "join", reason).await?;
    Ok(room.room_id)
}

pub async fn leave(
    state: &AppState,
    room_id: &RoomId,
    user: &UserId,
    reason: Option<&str>,
) -> Result<()> {
    let room = RoomCtx::require(&state.storage, room_id)?;
    match membership_of(state, &room, user.as_str())?.as_deref() {
        Some("join" | "invite" | "knock") => {
            set_membership(state, &room, user, user, "leave", reason).await
        }
        // Leaving a room one has already left is harmless.
        Some("leave") => Ok(()),
        _ => Err(Error::forbidden("You are not a member of this room")),
    }
}

pub async fn change_other(
    state: &AppState,
    room_id: &RoomId,
    sender: &UserId,
    target: &UserId,
    membership: &str,
    reason: Option<&str>,
) -> Result<()> {
    let room = RoomCtx::require(&state.storage, room_id)?;
    let current = membership_of(state, &room, target.as_str())?;
    match membership {
        "leave" if current.as_deref() == Some("ban") => {}
        "leave" if !matches!(current.as_deref(), Some("join" | "invite" | "knock")) => {
            return Err(Error::forbidden("The user is not a member of this room"));
        }
        "invite" if current.as_deref() == Some("join") => {
            return Err(Error::forbidden("The user is already in the room"));
        }
        _ => {}
    }
    set_membership(state, &room, sender, target, membership, reason).await
}
