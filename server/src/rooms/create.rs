//! Creating a room: the create event, then the events `createRoom` implies, in the order
//! the spec lists them.

use citadel_federation::pdu::{EventContent, Position};
use citadel_storage::now_ms;
use citadel_storage::rooms::RoomMeta;
use citadel_storage::rooms::aliases::AliasRecord;
use rand::Rng;
use ruma::{
    CanonicalJsonObject, CanonicalJsonValue, OwnedRoomId, OwnedUserId, RoomVersionId, UserId,
};
use serde_json::{Value, json};

use crate::api::error::{Error, Result};
use crate::app::AppState;
use crate::rooms::append::{Placement, build_at, check_auth, publish, write};
use crate::rooms::{RoomCtx, append_event};

/// The room version of rooms created without one.
pub const DEFAULT_ROOM_VERSION: &str = "12";

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    PrivateChat,
    TrustedPrivateChat,
    PublicChat,
}

/// A state event to send: `(type, state_key, content)`.
pub type StateTemplate = (String, String, Value);

pub struct CreateRoom {
    pub version: RoomVersionId,
    /// List the room in the published room directory.
    pub publish: bool,
    pub preset: Preset,
    pub alias_localpart: Option<String>,
    pub name: Option<String>,
    pub topic: Option<String>,
    pub invite: Vec<OwnedUserId>,
    pub is_direct: bool,
    pub initial_state: Vec<StateTemplate>,
    pub power_level_override: Option<serde_json::Map<String, Value>>,
    pub creation_content: Option<serde_json::Map<String, Value>>,
    /// The room ID to take, chosen beforehand (an upgrade names it in the old room's
    /// tombstone); only for room versions whose room ID is not the create event's hash.
    pub room_id: Option<OwnedRoomId>,
}

/// Turns a JSON object into the canonical form events are built from.
pub fn to_canonical(value: Value) -> Result<CanonicalJsonObject> {
    match ruma::canonical_json::to_canonical_value(value) {
        Ok(CanonicalJsonValue::Object(object)) => Ok(object),
        Ok(_) => Err(Error::bad_json("Event content must be a JSON object")),
        Err(e) => Err(Error::bad_json(format!(
            "Event content is not canonical JSON: {e}"
        ))),
    }
}

pub fn state_event(kind: &str, state_key: &str, content: Value) -> Result<EventContent> {
    Ok(EventContent {
        kind: kind.to_owned(),
        state_key: Some(state_key.to_owned()),
        content: to_canonical(content)?,
        redacts: None,
    })
}

pub async fn create_room(
    state: &AppState,
    sender: &UserId,
    request: CreateRoom,
) -> Result<OwnedRoomId> {
    let rules = request.version.rules().ok_or_else(|| {
        Error::new(
            actix_web::http::StatusCode::BAD_REQUEST,
            "M_UNSUPPORTED_ROOM_VERSION",
            "Unsupported room version",
        )
    })?;
    let v12 = rules.authorization.explicitly_privilege_room_creators;

    let alias = match &request.alias_localpart {
        Some(localpart) => {
            let alias = format!("#{localpart}:{}", state.server_name());
            if localpart.is_empty()
                || localpart.contains([':', '#', ' '])
                || ruma::OwnedRoomAliasId::try_from(alias.as_str()).is_err()
            {
                return Err(Error::invalid_param("Invalid room alias name"));
            }
            if state.storage.rooms.aliases.get(&alias)?.is_some() {
                return Err(Error::new(
                    actix_web::http::StatusCode::BAD_REQUEST,
                    "M_ROOM_IN_USE",
                    "Room alias already taken",
                ));
            }
            Some(alias)
        }
        None => None,
    };

    // 1. The create event.
    let mut create = request.creation_content.clone().unwrap_or_default();
    create.insert("room_version".into(), json!(request.version.as_str()));
    if !rules.authorization.use_room_create_sender {
        create.insert("creator".into(), json!(sender.as_str()));
    }
    if v12 && request.preset == Preset::TrustedPrivateChat && !request.invite.is_empty() {
        let mut creators: Vec<Value> = create
            .get("additional_creators")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        creators.extend(request.invite.iter().map(|u| json!(u.as_str())));
        create.insert("additional_creators".into(), Value::Array(creators));
    }
    let (create_pdu, room) = claim_room(state, sender, &request, create, rules).await?;
    let room_id = room.room_id.clone();
    {
        let guard = state.room_locks.lock(&room_id).await?;
        let empty = Default::default();
        let written = write(
            state,
            &room,
            &create_pdu,
            Placement::local(&[], None, &empty),
        )?;
        drop(guard);
        publish(state, &room, &create_pdu, written).await?;
    }

    // 2. The creator joins.
    let mut member = json!({"membership": "join"});
    add_profile(state, sender, &mut member)?;
    send(
        state,
        &room,
        sender,
        state_event("m.room.member", sender.as_str(), member)?,
    )
    .await?;

    // 3. Power levels.
    let power_levels = default_power_levels(sender, &request, v12);
    send(
        state,
        &room,
        sender,
        state_event("m.room.power_levels", "", power_levels)?,
    )
    .await?;

    // 4. The canonical alias.
    if let Some(alias) = &alias {
        let record = AliasRecord {
            room_id: room_id.to_string(),
            creator: sender.to_string(),
        };
        if !state.storage.rooms.aliases.create(alias, &record)? {
            return Err(Error::new(
                actix_web::http::StatusCode::BAD_REQUEST,
                "M_ROOM_IN_USE",
                "Room alias already taken",
            ));
        }
        send(
            state,
            &room,
            sender,
            state_event("m.room.canonical_alias", "", json!({"alias": alias}))?,
        )
        .await?;
    }

    // 5. Preset events, unless initial_state sets them itself.
    // A public room gets no guest_access event: absent means `forbidden`, and Synapse
    // sends none (clients and SyTest compare a new room's state with Synapse's).
    let (join_rule, guest_access) = match request.preset {
        Preset::PublicChat => ("public", None),
        _ => ("invite", Some("can_join")),
    };
    let preset_events = [
        Some(("m.room.join_rules", json!({"join_rule": join_rule}))),
        Some((
            "m.room.history_visibility",
            json!({"history_visibility": "shared"}),
        )),
        guest_access.map(|g| ("m.room.guest_access", json!({"guest_access": g}))),
    ];
    for (kind, content) in preset_events.into_iter().flatten() {
        if !request
            .initial_state
            .iter()
            .any(|(k, key, _)| k == kind && key.is_empty())
        {
            send(state, &room, sender, state_event(kind, "", content)?).await?;
        }
    }
    if request.publish {
        state
            .storage
            .rooms
            .directory
            .set_published(room_id.as_str(), true)?;
    }

    // 6. initial_state, in order.
    for (kind, state_key, content) in &request.initial_state {
        send(
            state,
            &room,
            sender,
            state_event(kind, state_key, content.clone())?,
        )
        .await?;
    }

    // 7. Name and topic.
    if let Some(name) = &request.name {
        send(
            state,
            &room,
            sender,
            state_event("m.room.name", "", json!({"name": name}))?,
        )
        .await?;
    }
    if let Some(topic) = &request.topic {
        let content = json!({"topic": topic, "m.topic": {"m.text": [{"body": topic, "mimetype": "text/plain"}]}});
        send(
            state,
            &room,
            sender,
            state_event("m.room.topic", "", content)?,
        )
        .await?;
    }

    // 8. Invites.
    for invitee in &request.invite {
        let mut content = json!({"membership": "invite"});
        if request.is_direct {
            content["is_direct"] = json!(true);
        }
        if invitee.server_name().as_str() != state.server_name() {
            crate::rooms::remote_invite::invite_remote(state, &room, sender, invitee, content)
                .await?;
            continue;
        }
        add_profile(state, invitee, &mut content)?;
        send(
            state,
            &room,
            sender,
            state_event("m.room.member", invitee.as_str(), content)?,
        )
        .await?;
    }
    Ok(room_id)
}

/// How many room IDs a `createRoom` tries before giving up: only another process
/// creating an identical room in the same millisecond, or a clock set back onto a room
/// already made, makes a first choice taken.
const ROOM_ID_ATTEMPTS: usize = 8;

/// Builds the create event and claims the room ID it names (room version 12: its hash;
/// earlier versions: a random ID), with a fresh timestamp per attempt, so that every
/// request gets a room of its own however many arrive at once.
async fn claim_room(
    state: &AppState,
    sender: &UserId,
    request: &CreateRoom,
    content: serde_json::Map<String, Value>,
    rules: ruma::room_version_rules::RoomVersionRules,
) -> Result<(citadel_federation::pdu::Pdu, RoomCtx)> {
    let content = state_event("m.room.create", "", Value::Object(content))?;
    for _ in 0..ROOM_ID_ATTEMPTS {
        let provisional_id = if rules.authorization.room_create_event_id_as_room_id {
            None
        } else if let Some(chosen) = &request.room_id {
            Some(chosen.clone())
        } else {
            Some(random_room_id(state)?)
        };
        let placeholder = RoomCtx {
            room_id: provisional_id
                .clone()
                .unwrap_or_else(|| OwnedRoomId::try_from("!pending:localhost").expect("valid")),
            short: 0,
            version: request.version.clone(),
            rules: rules.clone(),
        };
        let position = Position {
            room_id: provisional_id.as_deref(),
            prev_events: &[],
            auth_events: &[],
            depth: 1,
        };
        let create_pdu = build_at(
            state,
            &placeholder,
            sender,
            content.clone(),
            position,
            state.create_clock.next(),
        )?;
        let room_id = create_pdu.room_id.clone();
        let short = state.storage.rooms.short.room(room_id.as_str())?;
        let room = RoomCtx {
            room_id: room_id.clone(),
            short,
            version: request.version.clone(),
            rules: rules.clone(),
        };
        check_auth(state, &room, &create_pdu, &Default::default())?;
        let meta = RoomMeta {
            version: request.version.to_string(),
            short_id: short,
            created_ts: now_ms(),
        };
        if state.storage.rooms.claim(room_id.as_str(), &meta)? {
            state.storage.flush().await?;
            return Ok((create_pdu, room));
        }
        if request.room_id.is_some() {
            return Err(Error::new(
                actix_web::http::StatusCode::BAD_REQUEST,
                "M_ROOM_IN_USE",
                "The chosen room ID is already taken",
            ));
        }
        tracing::debug!(%room_id, "room ID taken; building the create event again");
    }
    Err(Error::internal("could not find a free room ID"))
}

/// A fresh room ID on this server, for room versions whose IDs are not event hashes.
pub fn random_room_id(state: &AppState) -> Result<OwnedRoomId> {
    let local: String = rand::thread_rng()
        .sample_iter(rand::distributions::Alphanumeric)
        .take(18)
        .map(char::from)
        .collect();
    OwnedRoomId::try_from(format!("!{local}:{}", state.server_name())).map_err(Error::internal)
}

/// Timestamps for create events that strictly increase within the process: two rooms
/// created by one user in the same millisecond with the same settings would otherwise
/// have identical create events, and in room version 12 the same room ID.
#[derive(Default)]
pub struct CreateClock {
    last: std::sync::atomic::AtomicU64,
}

impl CreateClock {
    pub fn next(&self) -> u64 {
        use std::sync::atomic::Ordering;
        let now = now_ms();
        let previous = self
            .last
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| {
                Some(now.max(last + 1))
            })
            .unwrap_or(now);
        now.max(previous + 1)
    }
}

async fn send(
    state: &AppState,
    room: &RoomCtx,
    sender: &UserId,
    event: EventContent,
) -> Result<()> {
    append_event(state, room, sender, event).await.map(|_| ())
}

/// Adds `displayname` and `avatar_url` of a local user to a member event's content.
pub fn add_profile(state: &AppState, user_id: &UserId, content: &mut Value) -> Result<()> {
    if user_id.server_name().as_str() != state.server_name() {
        return Ok(());
    }
    for field in ["displayname", "avatar_url"] {
        if let Some(value) = state.storage.users.profile_field(user_id.as_str(), field)? {
            content[field] = value;
        }
    }
    Ok(())
}

/// The power levels `createRoom` starts a room with, as Synapse sets them (clients and
/// users expect its behaviour): in private rooms any member may invite (`invite: 0`), in
/// public rooms only moderators may, and only they may start a call. The request's `power_level_content_override` is applied last.
fn default_power_levels(sender: &UserId, request: &CreateRoom, v12: bool) -> Value {
    let mut users = serde_json::Map::new();
    if !v12 {
        users.insert(sender.to_string(), json!(100));
        if request.preset == Preset::TrustedPrivateChat {
            for invitee in &request.invite {
                users.insert(invitee.to_string(), json!(100));
            }
        }
    }
    // Room version 12 requires tombstones to need more than state_default's 100.
    let tombstone = if v12 { 150 } else { 100 };
    let mut content = json!({
        "users": users,
        "users_default": 0,
        "events": {
            "m.room.name": 50,
            "m.room.power_levels": 100,
            "m.room.history_visibility": 100,
            "m.room.canonical_alias": 50,
            "m.room.avatar": 50,
            "m.room.tombstone": tombstone,
            "m.room.server_acl": 100,
            "m.room.encryption": 100,
        },
        "events_default": 0,
        "state_default": 50,
        "ban": 50,
        "kick": 50,
        "redact": 50,
        "invite": 50,
        "historical": 100,
    });
    match request.preset {
        Preset::PrivateChat | Preset::TrustedPrivateChat => content["invite"] = json!(0),
        Preset::PublicChat => content["events"]["m.call.invite"] = json!(50),
    }
    if let (Some(overrides), Some(object)) =
        (&request.power_level_override, content.as_object_mut())
    {
        for (key, value) in overrides {
            object.insert(key.clone(), value.clone());
        }
    }
    content
}
