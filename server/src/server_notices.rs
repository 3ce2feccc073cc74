//! Server notices (the spec's "Server Notices" module): messages from the server to a
//! user, in a room of their own with the system user, tagged `m.server_notice`, where
//! the user cannot write (everyone but the system user is at level -10, as in Synapse).

use std::collections::HashMap;

use ruma::{OwnedRoomId, OwnedUserId, RoomVersionId};
use serde_json::{Value, json};

use crate::api::error::{Error, Result};
use crate::app::AppState;
use crate::rooms::RoomCtx;
use crate::rooms::create::{CreateRoom, Preset};

/// Account data of the system user that maps each user to their notices room.
const ROOMS_KEY: &str = "io.citadel.server_notice_rooms";
/// Retransmitted admin requests are recognised by transaction ID for this many.
const TXNS_KEPT: usize = 1024;

#[derive(Default)]
pub struct ServerNotices {
    /// One notice at a time: the room of a first notice is created only once.
    lock: tokio::sync::Mutex<()>,
    /// `(admin, txn_id)` → the event sent.
    txns: std::sync::Mutex<HashMap<(String, String), String>>,
}

impl ServerNotices {
    pub fn sent_for(&self, admin: &str, txn_id: &str) -> Option<String> {
        self.txns
            .lock()
            .ok()?
            .get(&(admin.to_owned(), txn_id.to_owned()))
            .cloned()
    }

    pub fn remember(&self, admin: &str, txn_id: &str, event_id: &str) {
        if let Ok(mut txns) = self.txns.lock() {
            if txns.len() >= TXNS_KEPT {
                txns.clear();
            }
            txns.insert((admin.to_owned(), txn_id.to_owned()), event_id.to_owned());
        }
    }
}

/// Sends a notice to a local user; returns the event ID.
pub async fn send(
    state: &AppState,
    user_id: &str,
    kind: &str,
    state_key: Option<&str>,
    content: Value,
) -> Result<String> {
    let system = system_user(state).await?;
    if user_id == system.as_str() {
        return Err(Error::invalid_param(
            "The system user cannot be sent notices",
        ));
    }
    let _one_at_a_time = state.server_notices.lock.lock().await;
    let room = room_for(state, &system, user_id).await?;
    let event = citadel_federation::pdu::EventContent {
        kind: kind.to_owned(),
        state_key: state_key.map(str::to_owned),
        content: crate::rooms::create::to_canonical(content)?,
        redacts: None,
    };
    let (pdu, _) = crate::rooms::append_event(state, &room, &system, event).await?;
    Ok(pdu.event_id.to_string())
}

/// The account type that marks the system user.
const SYSTEM_TYPE: &str = "support";

/// The system user, created (without a password) the first time it is needed; a
/// regular account that happens to have its name is never used for it.
async fn system_user(state: &AppState) -> Result<OwnedUserId> {
    let config = &state.config.server_notices;
    let user_id = state.user_id(&config.localpart);
    if let Some(existing) = state.storage.users.get(&user_id)? {
        if existing.user_type.as_deref() != Some(SYSTEM_TYPE) {
            return Err(Error::unknown(
                actix_web::http::StatusCode::CONFLICT,
                format!(
                    "{user_id} is a regular account; set server_notices.localpart to a free name"
                ),
            ));
        }
    } else {
        match crate::auth::account::create_account(state, &user_id, &config.localpart, None, false)
            .await
        {
            Ok(()) => {}
            // Created meanwhile.
            Err(_) if state.storage.users.get(&user_id)?.is_some() => {}
            Err(e) => return Err(e),
        }
        state
            .storage
            .users
            .update(&user_id, |r| r.user_type = Some(SYSTEM_TYPE.into()))?;
        let mut batch = state.storage.batch();
        state.storage.users.set_profile_field(
            &mut batch,
            &user_id,
            "displayname",
            &json!(config.display_name),
        );
        state.storage.commit(batch).await?;
    }
    OwnedUserId::try_from(user_id).map_err(Error::internal)
}

/// The user's notices room: the one made before, if the user has not left it for good,
/// or a new one they are invited to.
async fn room_for(state: &AppState, system: &OwnedUserId, user_id: &str) -> Result<RoomCtx> {
    let rooms = state
        .storage
        .account_data
        .get(system.as_str(), None, ROOMS_KEY)?
        .map(|raw| serde_json::from_str::<Value>(raw.get()).unwrap_or_default())
        .unwrap_or_else(|| json!({}));
    if let Some(room_id) = rooms[user_id].as_str()
        && let Ok(room_id) = OwnedRoomId::try_from(room_id)
        && let Some(room) = RoomCtx::load(&state.storage, &room_id)?
    {
        let membership = state
            .storage
            .rooms
            .membership
            .get(user_id, room_id.as_str())?
            .map(|m| m.membership);
        match membership.as_deref() {
            Some("join" | "invite") => return Ok(room),
            // Left: invite them back into the same room.
            _ => {
                invite(state, &room, system, user_id).await?;
                return Ok(room);
            }
        }
    }
    let invitee =
        OwnedUserId::try_from(user_id).map_err(|_| Error::invalid_param("Invalid user ID"))?;
    let mut overrides = serde_json::Map::new();
    overrides.insert("users_default".into(), json!(-10));
    let request = CreateRoom {
        version: RoomVersionId::try_from(crate::rooms::create::DEFAULT_ROOM_VERSION)
            .map_err(Error::internal)?,
        publish: false,
        preset: Preset::PrivateChat,
        alias_localpart: None,
        name: Some(state.config.server_notices.room_name.clone()),
        topic: None,
        invite: vec![invitee],
        is_direct: false,
        initial_state: Vec::new(),
        power_level_override: Some(overrides),
        creation_content: None,
        room_id: None,
    };
    let room_id = crate::rooms::create::create_room(state, system, request).await?;
    let mut rooms = rooms;
    rooms[user_id] = json!(room_id);
    save_rooms(state, system.as_str(), &rooms).await?;
    let mut tags = crate::rooms::tags::load(state, user_id, room_id.as_str())?;
    tags.insert("m.server_notice".into(), json!({}));
    crate::rooms::tags::save(state, user_id, room_id.as_str(), tags).await?;
    RoomCtx::require(&state.storage, &room_id)
}

async fn invite(
    state: &AppState,
    room: &RoomCtx,
    system: &OwnedUserId,
    user_id: &str,
) -> Result<()> {
    let mut content = json!({ "membership": "invite" });
    crate::rooms::create::add_profile(
        state,
        &OwnedUserId::try_from(user_id).map_err(Error::internal)?,
        &mut content,
    )?;
    let event = crate::rooms::create::state_event("m.room.member", user_id, content)?;
    crate::rooms::append_event(state, room, system, event).await?;
    Ok(())
}

async fn save_rooms(state: &AppState, system: &str, rooms: &Value) -> Result<()> {
    let raw =
        serde_json::value::RawValue::from_string(rooms.to_string()).map_err(Error::internal)?;
    let mut batch = state.storage.batch();
    let reserved = state.stream.reserve(&state.storage)?;
    state
        .storage
        .account_data
        .set(&mut batch, system, None, ROOMS_KEY, &raw, reserved.position)?;
    state.storage.commit(batch).await?;
    Ok(())
}
