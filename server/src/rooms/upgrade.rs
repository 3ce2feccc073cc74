//! Room upgrades (client-server API, "Room upgrades"): a new room of the requested
//! version that carries the old room's settings, the local aliases moved over, and the
//! old room tombstoned and closed to ordinary members.

use ruma::{OwnedRoomId, OwnedUserId, RoomId, RoomVersionId, UserId};
use serde_json::{Value, json};

use crate::api::error::{Error, Result};
use crate::app::AppState;
use crate::rooms::create::{CreateRoom, Preset, create_room, random_room_id, state_event};
use crate::rooms::state::{current, event_in, power_levels};
use crate::rooms::{RoomCtx, append_event};

/// State carried over to the new room, as the spec lists it.
const COPIED_STATE: &[&str] = &[
    "m.room.server_acl",
    "m.room.encryption",
    "m.room.name",
    "m.room.avatar",
    "m.room.topic",
    "m.room.guest_access",
    "m.room.history_visibility",
    "m.room.join_rules",
];

pub async fn upgrade(
    state: &AppState,
    old_room_id: &RoomId,
    sender: &UserId,
    new_version: RoomVersionId,
    additional_creators: Vec<OwnedUserId>,
) -> Result<OwnedRoomId> {
    let old = RoomCtx::require(&state.storage, old_room_id)?;
    let new_rules = new_version.rules().ok_or_else(|| {
        Error::new(
            actix_web::http::StatusCode::BAD_REQUEST,
            "M_UNSUPPORTED_ROOM_VERSION",
            "Unsupported room version",
        )
    })?;
    let (_, map) = current(state, &old)?;
    let joined = state
        .storage
        .rooms
        .membership
        .get(sender.as_str(), old_room_id.as_str())?
        .is_some_and(|r| r.membership == "join");
    let (level, _) = power_levels(state, &old, &map, sender.as_str(), "state_default")?;
    let old_levels: Value = event_in(state, &map, "m.room.power_levels", "")?
        .map(|e| serde_json::from_str(e.content.get()).unwrap_or_default())
        .unwrap_or_default();
    let tombstone_level = old_levels["events"]["m.room.tombstone"]
        .as_i64()
        .or_else(|| old_levels["state_default"].as_i64())
        .unwrap_or(50);
    if !joined || level < tombstone_level {
        return Err(Error::forbidden("You may not upgrade this room"));
    }

    let old_create: Value = event_in(state, &map, "m.room.create", "")?
        .map(|e| serde_json::from_str(e.content.get()).unwrap_or_default())
        .unwrap_or_default();
    let mut creation_content = serde_json::Map::new();
    // Where the new room's ID can be chosen beforehand, the tombstone goes first so the
    // new room's `predecessor.event_id` names it (what clients follow back, and Synapse
    // does). In room version 12 the new room's ID is its create event's hash, which would
    // have to contain the tombstone's ID that contains it: there the new room comes
    // first and `event_id` (deprecated since v1.16) names the old room's last event.
    let chosen_id = if new_rules.authorization.room_create_event_id_as_room_id {
        None
    } else {
        Some(random_room_id(state)?)
    };
    let mut predecessor = json!({ "room_id": old_room_id });
    if let Some(new_room_id) = &chosen_id {
        let (tombstone, _) = append_event(
            state,
            &old,
            sender,
            state_event("m.room.tombstone", "", tombstone_content(new_room_id))?,
        )
        .await?;
        predecessor["event_id"] = json!(tombstone.event_id);
    } else if let Some((_, pdu)) = state
        .storage
        .rooms
        .timeline
        .before(old.short, u64::MAX, 1)?
        .into_iter()
        .next()
    {
        predecessor["event_id"] = json!(pdu.event_id);
    }
    creation_content.insert("predecessor".into(), predecessor);
    for key in ["type", "m.federate"] {
        if let Some(value) = old_create.get(key) {
            creation_content.insert(key.into(), value.clone());
        }
    }
    if new_rules.authorization.additional_room_creators && !additional_creators.is_empty() {
        creation_content.insert("additional_creators".into(), json!(additional_creators));
    }

    let mut initial_state = Vec::new();
    for kind in COPIED_STATE {
        if let Some(event) = event_in(state, &map, kind, "")? {
            initial_state.push((
                (*kind).to_owned(),
                String::new(),
                serde_json::from_str(event.content.get()).unwrap_or_default(),
            ));
        }
    }
    // The old power levels, with the upgrading user able to finish setting up the room.
    let mut levels = old_levels.as_object().cloned().unwrap_or_default();
    if let Some(Value::Object(users)) = levels.get_mut("users") {
        if new_rules.authorization.explicitly_privilege_room_creators {
            users.remove(sender.as_str());
            for creator in &additional_creators {
                users.remove(creator.as_str());
            }
        } else {
            let current = users
                .get(sender.as_str())
                .and_then(Value::as_i64)
                .unwrap_or(0);
            users.insert(sender.to_string(), json!(current.max(100)));
        }
    }

    let new_room_id = create_room(
        state,
        sender,
        CreateRoom {
            version: new_version,
            publish: state
                .storage
                .rooms
                .directory
                .is_published(old_room_id.as_str())?,
            preset: Preset::PrivateChat,
            alias_localpart: None,
            name: None,
            topic: None,
            invite: Vec::new(),
            is_direct: false,
            initial_state,
            power_level_override: Some(levels),
            creation_content: Some(creation_content),
            room_id: chosen_id.clone(),
        },
    )
    .await?;
    let new = RoomCtx::require(&state.storage, &new_room_id)?;

    // Move the local aliases, and the canonical alias with them.
    let aliases = state.storage.rooms.aliases.for_room(old_room_id.as_str())?;
    for alias in &aliases {
        if let Some(mut record) = state.storage.rooms.aliases.remove(alias)? {
            record.room_id = new_room_id.to_string();
            state.storage.rooms.aliases.create(alias, &record)?;
        }
    }
    if let Some(canonical) = event_in(state, &map, "m.room.canonical_alias", "")? {
        let content: Value = serde_json::from_str(canonical.content.get()).unwrap_or_default();
        append_event(
            state,
            &new,
            sender,
            state_event("m.room.canonical_alias", "", content)?,
        )
        .await?;
        append_event(
            state,
            &old,
            sender,
            state_event("m.room.canonical_alias", "", json!({}))?,
        )
        .await?;
    }
    if state
        .storage
        .rooms
        .directory
        .is_published(old_room_id.as_str())?
    {
        state
            .storage
            .rooms
            .directory
            .set_published(old_room_id.as_str(), false)?;
    }

    if chosen_id.is_none() {
        append_event(
            state,
            &old,
            sender,
            state_event("m.room.tombstone", "", tombstone_content(&new_room_id))?,
        )
        .await?;
    }

    // The banned stay banned in the new room (as Synapse does).
    for (banned, record) in state
        .storage
        .rooms
        .membership
        .members(old_room_id.as_str())?
    {
        if record.membership != "ban" {
            continue;
        }
        let mut ban = json!({ "membership": "ban" });
        if let Some(event) = event_in(state, &map, "m.room.member", &banned)? {
            let content: Value = serde_json::from_str(event.content.get()).unwrap_or_default();
            if let Some(reason) = content.get("reason") {
                ban["reason"] = reason.clone();
            }
        }
        append_event(
            state,
            &new,
            sender,
            state_event("m.room.member", &banned, ban)?,
        )
        .await?;
    }
    crate::rooms::upgrade_carry::carry_over(state, sender, old_room_id, &new_room_id).await?;

    // Ordinary members can no longer talk or invite in the old room.
    let users_default = old_levels["users_default"].as_i64().unwrap_or(0);
    let restricted = 50.max(users_default + 1);
    let mut closed = old_levels.as_object().cloned().unwrap_or_default();
    closed.insert(
        "events_default".into(),
        json!(restricted.max(old_levels["events_default"].as_i64().unwrap_or(0))),
    );
    closed.insert(
        "invite".into(),
        json!(restricted.max(old_levels["invite"].as_i64().unwrap_or(0))),
    );
    append_event(
        state,
        &old,
        sender,
        state_event("m.room.power_levels", "", Value::Object(closed))?,
    )
    .await?;
    Ok(new_room_id)
}

fn tombstone_content(new_room_id: &RoomId) -> Value {
    json!({ "body": "This room has been replaced", "replacement_room": new_room_id })
}
