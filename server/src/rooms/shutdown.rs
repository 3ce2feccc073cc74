//! Shutting a room down and purging it (the admin API's room delete): local members
//! leave (moved to a replacement room if asked), local aliases move with them, the room
//! can be blocked so nobody here joins it again, and the purge removes it from the
//! database.
//!
//! Every step is idempotent — a member who already left is skipped, a replacement room
//! already created is reused, a purge finds what is left — so a delete interrupted by a
//! crash is finished by running it again (see `crate::tasks`).

use ruma::{OwnedRoomId, OwnedUserId, RoomId, RoomVersionId};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::api::error::{Error, Result};
use crate::app::AppState;
use crate::rooms::RoomCtx;
use crate::rooms::create::{CreateRoom, Preset};

pub const DEFAULT_MESSAGE: &str = "Sharing illegal content on this server is not permitted and rooms in violation will be blocked.";
pub const DEFAULT_ROOM_NAME: &str = "Content Violation Notification";

/// What the admin asked for.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DeleteParams {
    pub requester_user_id: String,
    pub new_room_user_id: Option<String>,
    pub room_name: Option<String>,
    pub message: Option<String>,
    pub block: bool,
    pub purge: bool,
    pub force_purge: bool,
}

/// What the shutdown did, in Synapse's `shutdown_room` shape.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ShutdownResult {
    pub kicked_users: Vec<String>,
    pub failed_to_kick_users: Vec<String>,
    pub local_aliases: Vec<String>,
    pub new_room_id: Option<String>,
    /// Whether the replacement room got its message (not part of Synapse's shape: the
    /// status endpoints leave it out).
    #[serde(default)]
    pub message_sent: bool,
    /// The member being moved, with their membership before: a server stopped mid-move
    /// finishes it on resuming (their leave may have landed without the progress).
    #[serde(default)]
    pub moving: Option<(String, String)>,
}

/// `403 M_FORBIDDEN` when an admin blocked the room.
pub fn ensure_not_blocked(state: &AppState, room_id: &RoomId) -> Result<()> {
    if state.storage.rooms.blocked.get(room_id.as_str())?.is_some() {
        return Err(Error::forbidden(
            "This room has been blocked on this server",
        ));
    }
    Ok(())
}

/// Blocks the room (if asked) and moves its local members out. `progress` is called
/// after every change to `result`, to persist it. Does nothing more for a room this
/// server does not know.
pub async fn shutdown(
    state: &AppState,
    room_id: &RoomId,
    params: &DeleteParams,
    result: &mut ShutdownResult,
    progress: &mut dyn FnMut(&ShutdownResult) -> Result<()>,
) -> Result<()> {
    if params.block {
        state.storage.rooms.blocked.block(
            room_id.as_str(),
            &citadel_storage::rooms::blocked::Block {
                user_id: params.requester_user_id.clone(),
                ts: citadel_storage::now_ms(),
            },
        )?;
    }
    if RoomCtx::load(&state.storage, room_id)?.is_none() {
        return Ok(());
    }
    let new_room = match (&params.new_room_user_id, &result.new_room_id) {
        (Some(_), Some(existing)) => {
            Some(OwnedRoomId::try_from(existing.as_str()).map_err(Error::internal)?)
        }
        (Some(creator), None) => {
            let created = replacement_room(state, creator, params).await?;
            result.new_room_id = Some(created.to_string());
            progress(result)?;
            Some(created)
        }
        (None, _) => None,
    };
    let local_suffix = format!(":{}", state.server_name());
    let mut members = state.storage.rooms.membership.members(room_id.as_str())?;
    // Invites and knocks first: they are withdrawn locally only while this server is
    // still in the room, that is while a local member is still joined.
    members.sort_by_key(|(_, record)| record.membership == "join");
    let interrupted = result.moving.clone();
    let pending = members
        .into_iter()
        .filter(|(user_id, record)| {
            user_id.ends_with(&local_suffix)
                && matches!(record.membership.as_str(), "join" | "invite" | "knock")
                && interrupted
                    .as_ref()
                    .is_none_or(|(moving, _)| moving != user_id)
        })
        .map(|(user_id, record)| (user_id, record.membership))
        .collect::<Vec<_>>();
    for (user_id, membership) in interrupted.into_iter().chain(pending) {
        result.moving = Some((user_id.clone(), membership.clone()));
        progress(result)?;
        state.storage.flush().await?;
        let moved = move_member(state, room_id, &user_id, &membership, new_room.as_deref()).await;
        result.moving = None;
        match moved {
            Ok(()) => result.kicked_users.push(user_id),
            Err(e) => {
                tracing::warn!(%room_id, %user_id, error = %e, "cannot move a member out of a room being shut down");
                result.failed_to_kick_users.push(user_id);
            }
        }
        progress(result)?;
    }
    state
        .storage
        .rooms
        .directory
        .set_published(room_id.as_str(), false)?;
    if let (Some(new_room), Some(creator)) = (&new_room, &params.new_room_user_id) {
        let creator = OwnedUserId::try_from(creator.as_str()).map_err(Error::internal)?;
        let message = params.message.as_deref().unwrap_or(DEFAULT_MESSAGE);
        if !result.message_sent {
            let room = RoomCtx::require(&state.storage, new_room)?;
            let event = citadel_federation::pdu::EventContent {
                kind: "m.room.message".into(),
                state_key: None,
                content: crate::rooms::create::to_canonical(
                    json!({ "msgtype": "m.text", "body": message }),
                )?,
                redacts: None,
            };
            crate::rooms::append_event(state, &room, &creator, event).await?;
            result.message_sent = true;
            progress(result)?;
        }
        let aliases = &state.storage.rooms.aliases;
        for alias in aliases.for_room(room_id.as_str())? {
            aliases.remove(&alias)?;
            aliases.create(
                &alias,
                &citadel_storage::rooms::aliases::AliasRecord {
                    room_id: new_room.to_string(),
                    creator: params.requester_user_id.clone(),
                },
            )?;
            if !result.local_aliases.contains(&alias) {
                result.local_aliases.push(alias);
            }
            progress(result)?;
        }
    }
    Ok(())
}

/// The room members are moved to: public, named as asked, where they cannot speak.
async fn replacement_room(
    state: &AppState,
    creator: &str,
    params: &DeleteParams,
) -> Result<OwnedRoomId> {
    let creator = OwnedUserId::try_from(creator)
        .map_err(|_| Error::invalid_param(format!("Invalid user ID {creator:?}")))?;
    let mut overrides = serde_json::Map::new();
    overrides.insert("users_default".into(), json!(-10));
    let request = CreateRoom {
        version: RoomVersionId::try_from(crate::rooms::create::DEFAULT_ROOM_VERSION)
            .map_err(Error::internal)?,
        publish: false,
        preset: Preset::PublicChat,
        alias_localpart: None,
        name: Some(
            params
                .room_name
                .clone()
                .unwrap_or_else(|| DEFAULT_ROOM_NAME.to_owned()),
        ),
        topic: None,
        invite: Vec::new(),
        is_direct: false,
        initial_state: Vec::new(),
        power_level_override: Some(overrides),
        creation_content: None,
        room_id: None,
    };
    crate::rooms::create::create_room(state, &creator, request).await
}

/// The member leaves the room, forgets it, and (if they had joined) joins its
/// replacement.
async fn move_member(
    state: &AppState,
    room_id: &RoomId,
    user_id: &str,
    membership: &str,
    new_room: Option<&RoomId>,
) -> Result<()> {
    let user = OwnedUserId::try_from(user_id).map_err(Error::internal)?;
    let still_in = state
        .storage
        .rooms
        .membership
        .members(room_id.as_str())?
        .into_iter()
        .any(|(u, r)| u == user_id && matches!(r.membership.as_str(), "join" | "invite" | "knock"));
    if still_in {
        crate::rooms::membership::leave(state, room_id, &user, None).await?;
    }
    let mut batch = state.storage.batch();
    state
        .storage
        .rooms
        .membership
        .forget(&mut batch, room_id.as_str(), user_id);
    state.storage.commit(batch).await?;
    if let Some(new_room) = new_room
        && membership == "join"
    {
        crate::rooms::membership::join(state, new_room, &user, None, &[], &Default::default())
            .await?;
    }
    Ok(())
}

/// Removes the room from the database. Refused while local users are still joined,
/// unless `force`; `404 M_NOT_FOUND` for a room this server does not hold.
pub async fn purge(state: &AppState, room_id: &RoomId, force: bool) -> Result<()> {
    let storage = &state.storage;
    if storage
        .rooms
        .short
        .room_if_known(room_id.as_str())?
        .is_none()
    {
        return Err(Error::not_found(format!("Unknown room {room_id}")));
    }
    let local_suffix = format!(":{}", state.server_name());
    let joined_here = storage
        .rooms
        .membership
        .members(room_id.as_str())?
        .into_iter()
        .any(|(user, record)| user.ends_with(&local_suffix) && record.membership == "join");
    if joined_here && !force {
        return Err(Error::unknown(
            actix_web::http::StatusCode::BAD_REQUEST,
            "Users are still joined to this room",
        ));
    }
    // Nothing else writes to the room meanwhile: appends take the same lock, and find
    // the room gone once it is released.
    let _lock = state.room_locks.lock(room_id).await?;
    let Some(short) = storage.rooms.short.room_if_known(room_id.as_str())? else {
        return Ok(());
    };
    loop {
        let step = storage.clone();
        let deleted = tokio::task::spawn_blocking(move || {
            step.purge_room_events(short, citadel_storage::room_purge::EVENTS_PER_STEP)
        })
        .await
        .map_err(Error::internal)??;
        if deleted < citadel_storage::room_purge::EVENTS_PER_STEP {
            break;
        }
    }
    let step = storage.clone();
    let id = room_id.to_string();
    tokio::task::spawn_blocking(move || step.purge_room_rest(&id, short))
        .await
        .map_err(Error::internal)??;
    storage.flush().await?;
    state.members_cache.forget(room_id.as_str());
    tracing::info!(%room_id, "room purged");
    Ok(())
}
