//! Joining a room this server is not in yet, through a server that is: `make_join` for a
//! template, sign it, `send_join` it, then check the room state and auth chain that come
//! back (signatures, hashes, each event's authorization) before the room exists here.

use actix_web::http::StatusCode;
use citadel_federation::pdu::{Pdu, sign_template};
use citadel_federation::state_res::StateIds;
use citadel_storage::now_ms;
use citadel_storage::rooms::RoomMeta;
use citadel_storage::rooms::state::StateMap;
use ruma::{CanonicalJsonObject, CanonicalJsonValue, RoomId, RoomVersionId, UserId};
use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::api::error::{Error, Result};
use crate::app::AppState;
use crate::rooms::append::check_auth;
use crate::rooms::fetch::{store_outliers, verify_all, verify_pdu};
use crate::rooms::state::from_ids;
use crate::rooms::{Federate, Placement, RoomCtx, publish, write};

/// Room versions this server can take part in, as `ver` query parameters (version 1
/// while its forks do not conflict: see `citadel_federation::state_res`).
pub(crate) const VERSIONS: [&str; 12] = [
    "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12",
];

/// Joins (or, with `membership` "knock", knocks on) a room hosted elsewhere, trying each
/// candidate server in turn.
pub async fn join_remote(
    state: &AppState,
    room_id: &RoomId,
    user: &UserId,
    reason: Option<&str>,
    via: &[String],
) -> Result<()> {
    if !state.config.federation.enabled {
        return Err(Error::not_found(
            "This server does not know the room and federation is disabled",
        ));
    }
    let mut candidates: Vec<String> = via.to_vec();
    if let Some(server) = room_id.server_name() {
        candidates.push(server.to_string());
    }
    // An invite names the server that can let us in.
    if let Some(record) = state
        .storage
        .rooms
        .membership
        .get(user.as_str(), room_id.as_str())?
        && let Some(invite) = crate::rooms::load_pdu(state, &record.event_id)?
    {
        candidates.insert(0, invite.sender.server_name().to_string());
    }
    candidates.retain(|s| s != state.server_name() && crate::rooms::acl::server_allowed(state, s));
    candidates.dedup();
    if candidates.is_empty() {
        return Err(Error::not_found(
            "No server to join this room through: give one with `via`",
        ));
    }
    let mut last = Error::not_found("No server could let us into the room");
    for server in &candidates {
        match join_through(state, server, room_id, user, reason).await {
            Ok(()) => return Ok(()),
            Err(e) => {
                tracing::info!(%server, room_id = %room_id, error = %e, "remote join failed");
                last = e;
            }
        }
    }
    Err(last)
}

/// The context of a room this server has no record of yet, in the version another
/// server named.
pub(crate) fn ephemeral_room(
    state: &AppState,
    room_id: &RoomId,
    version: Option<&str>,
) -> Result<RoomCtx> {
    let version = RoomVersionId::try_from(version.unwrap_or("1"))
        .map_err(|_| Error::bad_json("bad room version"))?;
    let rules = version
        .rules()
        .filter(|_| VERSIONS.contains(&version.as_str()))
        .ok_or_else(|| {
            Error::new(
                StatusCode::BAD_REQUEST,
                "M_UNSUPPORTED_ROOM_VERSION",
                "This server does not support the room's version",
            )
        })?;
    Ok(RoomCtx {
        room_id: room_id.to_owned(),
        short: state.storage.rooms.short.room(room_id.as_str())?,
        version,
        rules,
    })
}

/// An error another server answered with, passed on to the client: a client error keeps
/// its status, errcode and (for an incompatible room version) `room_version`; anything
/// else is a 502.
pub(crate) fn remote_error(server: &str, status: u16, body: &Value) -> Error {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    let status = if status.is_client_error() {
        status
    } else {
        StatusCode::BAD_GATEWAY
    };
    let message = body["error"].as_str().unwrap_or("no reason given");
    let errcode = body["errcode"]
        .as_str()
        .filter(|_| status != StatusCode::BAD_GATEWAY);
    let error = Error::passed_on(status, errcode, format!("{server}: {message}"));
    match body["room_version"].as_str() {
        Some(version) if errcode == Some("M_INCOMPATIBLE_ROOM_VERSION") => {
            error.with("room_version", version)
        }
        _ => error,
    }
}

async fn join_through(
    state: &AppState,
    server: &str,
    room_id: &RoomId,
    user: &UserId,
    reason: Option<&str>,
) -> Result<()> {
    let (room, join, answer) =
        crate::rooms::remote_membership::handshake(state, server, room_id, user, reason, "join")
            .await?;
    // A restricted room's resident server countersigns the join and hands it back.
    let join = match answer.get("event") {
        Some(event) if event.is_object() => {
            let raw = RawValue::from_string(event.to_string()).map_err(Error::internal)?;
            let signed = verify_pdu(state, &room, &raw)
                .await
                .map_err(Error::bad_json)?;
            if signed.event_id != join.event_id {
                return Err(Error::bad_json(
                    "The resident server changed the join event",
                ));
            }
            signed
        }
        _ => join,
    };
    let list = |field: &str| -> Vec<Box<RawValue>> {
        serde_json::from_value(answer[field].clone()).unwrap_or_default()
    };
    let mut events = verify_all(state, &room, &list("auth_chain")).await;
    let state_events = verify_all(state, &room, &list("state")).await;
    events.extend(state_events.iter().cloned());
    let kept = store_outliers(state, &room, events).await?;
    let mut ids = StateIds::new();
    for pdu in &state_events {
        if let Some(key) = &pdu.state_key
            && kept.contains(&pdu.event_id)
        {
            ids.insert(
                (pdu.kind.to_string().into(), key.clone()),
                pdu.event_id.clone(),
            );
        }
    }
    let map = from_ids(state, &ids)?;
    establish(state, &room, &join, &map).await
}

/// Fills in the template `make_join`/`make_leave` returned: our profile (for a join), the
/// reason, the time, and our hashes and signature.
pub(crate) fn sign_membership(
    state: &AppState,
    room: &RoomCtx,
    user: &UserId,
    reason: Option<&str>,
    template: &Value,
    membership: &str,
) -> Result<Pdu> {
    let mut object: CanonicalJsonObject = serde_json::from_value(template.clone())
        .map_err(|_| Error::bad_json("The template is not an event"))?;
    let is_join = object.get("type") == Some(&CanonicalJsonValue::String("m.room.member".into()))
        && object.get("state_key") == Some(&CanonicalJsonValue::String(user.to_string()))
        && object.get("sender") == Some(&CanonicalJsonValue::String(user.to_string()));
    if !is_join {
        return Err(Error::bad_json("The template is not our user's membership"));
    }
    for field in ["hashes", "signatures", "event_id", "unsigned"] {
        object.remove(field);
    }
    object.insert("origin".into(), state.server_name().into());
    object.insert(
        "origin_server_ts".into(),
        CanonicalJsonValue::Integer(ruma::Int::new(now_ms() as i64).unwrap_or_default()),
    );
    let mut content = match object.remove("content") {
        Some(CanonicalJsonValue::Object(c)) => serde_json::to_value(c).map_err(Error::internal)?,
        _ => json!({}),
    };
    content["membership"] = json!(membership);
    if membership == "join" {
        crate::rooms::create::add_profile(state, user, &mut content)?;
    }
    if let Some(reason) = reason {
        content["reason"] = json!(reason);
    }
    let content: CanonicalJsonObject =
        serde_json::from_value(content).map_err(|e| Error::bad_json(e.to_string()))?;
    object.insert("content".into(), CanonicalJsonValue::Object(content));
    sign_template(&room.rules, &state.signing_key, object)
        .map_err(|e| Error::bad_json(e.to_string()))
}

/// Creates the room here from the state it was joined with, and appends the join.
async fn establish(state: &AppState, room: &RoomCtx, join: &Pdu, map: &StateMap) -> Result<()> {
    let create = crate::rooms::state::event_in(state, map, "m.room.create", "")?
        .ok_or_else(|| Error::bad_json("The room state has no create event"))?;
    if create.room_id != room.room_id {
        return Err(Error::bad_json("The room state belongs to another room"));
    }
    check_auth(state, room, join, map)
        .map_err(|e| Error::forbidden(format!("The join is not allowed: {e}")))?;
    let guard = state.room_locks.lock(&room.room_id).await?;
    let (old_hash, old_map) = crate::rooms::state::current(state, room)?;
    let mut batch = state.storage.batch();
    let meta = RoomMeta {
        version: room.version.to_string(),
        short_id: room.short,
        created_ts: now_ms(),
    };
    state
        .storage
        .rooms
        .put_meta(&mut batch, room.room_id.as_str(), &meta);
    state.storage.apply(batch)?;
    let written = write(
        state,
        room,
        join,
        Placement {
            referenced: &[],
            before: (None, map),
            old_current: (old_hash, &old_map),
            new_current: None,
            // The resident server sends the join to everyone else.
            federate: Federate::No,
            txn: None,
        },
    )?;
    drop(guard);
    publish(state, room, join, written).await?;
    Ok(())
}
