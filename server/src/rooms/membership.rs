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
    set_membership_with(
        state,
        room,
        sender,
        target,
        json!({ "membership": membership }),
        reason,
    )
    .await
}

async fn set_membership_with(
    state: &AppState,
    room: &RoomCtx,
    sender: &UserId,
    target: &UserId,
    mut content: Value,
    reason: Option<&str>,
) -> Result<()> {
    let membership = content["membership"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
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

/// Carries a profile change into the rooms: a new `m.room.member` join event with the
/// user's current `displayname` and `avatar_url` in every room the user has joined (the
/// spec's "Events on Change of Profile Information"). A room where the event cannot be
/// sent (the user lacks the power, say) is skipped, not an error for the profile change.
pub async fn propagate_profile(state: &AppState, user: &UserId) -> Result<()> {
    for (room_id, record) in state.storage.rooms.membership.rooms(user.as_str())? {
        if record.membership != "join" {
            continue;
        }
        let Ok(room_id) = OwnedRoomId::try_from(room_id) else {
            continue;
        };
        let Some(room) = RoomCtx::load(&state.storage, &room_id)? else {
            continue;
        };
        let Some(member) = current_event(state, &room, "m.room.member", user.as_str())? else {
            continue;
        };
        let old: Value = serde_json::from_str(member.content.get()).unwrap_or_default();
        if old["membership"] != "join" {
            continue;
        }
        let mut content = old.clone();
        if let Some(fields) = content.as_object_mut() {
            // The profile's fields replace the old ones (a removed field goes), and what
            // described the original join does not describe this one.
            for field in [
                "displayname",
                "avatar_url",
                "reason",
                "join_authorised_via_users_server",
            ] {
                fields.remove(field);
            }
        }
        add_profile(state, user, &mut content)?;
        if content == old {
            continue;
        }
        let event = state_event("m.room.member", user.as_str(), content)?;
        if let Err(e) = append_event(state, &room, user, event).await {
            tracing::warn!(room = %room_id, error = %e, "profile change not sent to room");
        }
    }
    Ok(())
}

/// The target's current membership in the room.
pub fn membership_of(state: &AppState, room: &RoomCtx, user_id: &str) -> Result<Option<String>> {
    Ok(current_event(state, room, "m.room.member", user_id)?
        .and_then(|pdu| content_str(&pdu, "membership")))
}

/// Joins a room: locally when this server is in it, else through one of `via` (or the
/// server of the room ID or of the invite) over federation.
pub async fn join(
    state: &AppState,
    room_id: &RoomId,
    user: &UserId,
    reason: Option<&str>,
    via: &[String],
    extra: &serde_json::Map<String, Value>,
) -> Result<OwnedRoomId> {
    crate::rooms::shutdown::ensure_not_blocked(state, room_id)?;
    let known = RoomCtx::load(&state.storage, room_id)?;
    let resident =
        known.is_some() && crate::rooms::servers::is_in_room(state, room_id, state.server_name())?;
    let room = match known {
        Some(room) if resident => room,
        // A room only this server ever hosted, now empty: no one else could let us in.
        Some(room)
            if room_id.server_name().map(|s| s.as_str()) == Some(state.server_name())
                && via.iter().all(|s| s == state.server_name()) =>
        {
            room
        }
        _ => {
            crate::rooms::remote_join::join_remote(state, room_id, user, reason, via).await?;
            if let Some(room) = RoomCtx::load(&state.storage, room_id)? {
                crate::rooms::upgrade_carry::after_join(state, user, &room).await;
            }
            return Ok(room_id.to_owned());
        }
    };
    // Joining again is a no-op that succeeds, as in Synapse.
    let current = membership_of(state, &room, user.as_str())?;
    if current.as_deref() == Some("join") {
        return Ok(room.room_id);
    }
    // Other keys of the request body go into the member event, as in Synapse; the ones
    // the server decides are set below and win.
    let mut content = Value::Object(extra.clone());
    content["membership"] = json!("join");
    if let Some(object) = content.as_object_mut() {
        object.remove("join_authorised_via_users_server");
    }
    if current.as_deref() != Some("invite")
        && let Some(authoriser) = restricted_join_authoriser(state, &room, user)?
    {
        content["join_authorised_via_users_server"] = json!(authoriser);
    }
    set_membership_with(state, &room, user, user, content, reason).await?;
    crate::rooms::upgrade_carry::after_join(state, user, &room).await;
    Ok(room.room_id)
}

/// For a `restricted` (or `knock_restricted`) room that the user may enter through
/// membership of an allowed room: a local member with the power to invite, who vouches
/// for the join as the authorization rules require.
pub(crate) fn restricted_join_authoriser(
    state: &AppState,
    room: &RoomCtx,
    user: &UserId,
) -> Result<Option<String>> {
    let (_, map) = crate::rooms::state::current(state, room)?;
    let Some(rules) = crate::rooms::state::event_in(state, &map, "m.room.join_rules", "")? else {
        return Ok(None);
    };
    let content: Value = serde_json::from_str(rules.content.get()).unwrap_or_default();
    if !matches!(
        content["join_rule"].as_str(),
        Some("restricted" | "knock_restricted")
    ) {
        return Ok(None);
    }
    let allowed = content["allow"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|rule| {
            rule["type"] == "m.room_membership"
                && rule["room_id"].as_str().is_some_and(|room_id| {
                    state
                        .storage
                        .rooms
                        .membership
                        .get(user.as_str(), room_id)
                        .ok()
                        .flatten()
                        .is_some_and(|r| r.membership == "join")
                })
        });
    if !allowed {
        return Ok(None);
    }
    let suffix = format!(":{}", state.server_name());
    for (member, record) in state
        .storage
        .rooms
        .membership
        .members(room.room_id.as_str())?
    {
        if record.membership != "join" || !member.ends_with(&suffix) {
            continue;
        }
        let (level, needed) =
            crate::rooms::state::power_levels(state, room, &map, &member, "invite")?;
        if level >= needed {
            return Ok(Some(member));
        }
    }
    Ok(None)
}

/// Asks to join a room whose join rule allows knocking.
pub async fn knock(
    state: &AppState,
    room_id: &RoomId,
    user: &UserId,
    reason: Option<&str>,
    via: &[String],
) -> Result<OwnedRoomId> {
    let resident = RoomCtx::load(&state.storage, room_id)?.is_some()
        && crate::rooms::servers::is_in_room(state, room_id, state.server_name())?;
    if !resident {
        crate::rooms::remote_membership::knock_remote(state, room_id, user, reason, via).await?;
        return Ok(room_id.to_owned());
    }
    let room = RoomCtx::require(&state.storage, room_id)?;
    match membership_of(state, &room, user.as_str())?.as_deref() {
        Some("join") => return Err(Error::forbidden("You are already in the room")),
        Some("ban") => return Err(Error::forbidden("You are banned from the room")),
        _ => {}
    }
    set_membership(state, &room, user, user, "knock", reason).await?;
    Ok(room.room_id)
}

pub async fn leave(
    state: &AppState,
    room_id: &RoomId,
    user: &UserId,
    reason: Option<&str>,
) -> Result<()> {
    // The room's state here is current when this server is in the room, or when no
    // server is (everyone left a room created here): then the leave is appended here.
    let resident = RoomCtx::load(&state.storage, room_id)?.is_some() && {
        let servers = crate::rooms::servers::in_room(state, room_id)?;
        servers.is_empty() || servers.contains(state.server_name())
    };
    let recorded = state
        .storage
        .rooms
        .membership
        .get(user.as_str(), room_id.as_str())?
        .map(|r| r.membership);
    if !resident && matches!(recorded.as_deref(), Some("invite" | "knock")) {
        // Declining an invite (or withdrawing a knock) for a room this server is not in.
        return crate::rooms::remote_membership::leave_remote(state, room_id, user, reason).await;
    }
    if !resident && recorded.as_deref() == Some("leave") {
        // Already out of a room this server is not in: nothing to do, as below.
        return Ok(());
    }
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
    if membership == "invite" {
        crate::rooms::shutdown::ensure_not_blocked(state, room_id)?;
    }
    let room = RoomCtx::require(&state.storage, room_id)?;
    let current = membership_of(state, &room, target.as_str())?;
    // A kick is a `leave` by someone else, which the auth rules also allow on a banned
    // user (that is how an unban is written): kicking must never lift a ban.
    let membership = match membership {
        "kick" if current.as_deref() == Some("ban") => {
            return Err(Error::forbidden(
                "The user is banned from this room; unban them instead",
            ));
        }
        "kick" => "leave",
        other => other,
    };
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
    if membership == "invite" && target.server_name().as_str() != state.server_name() {
        let mut content = json!({ "membership": "invite" });
        if let Some(reason) = reason {
            content["reason"] = Value::from(reason);
        }
        return crate::rooms::remote_invite::invite_remote(state, &room, sender, target, content)
            .await;
    }
    set_membership(state, &room, sender, target, membership, reason).await
}
