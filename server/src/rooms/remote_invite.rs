//! Invites across servers. Inviting a user of another server needs that server's
//! countersignature before the invite is appended (`PUT /v2/invite`); an invite for one of
//! our users is countersigned here and, when this server is not in the room, kept with
//! the stripped room state the inviter sent so that `/sync` can show it.

use citadel_federation::pdu::Pdu;
use citadel_storage::rooms::membership::MemberRecord;
use ruma::canonical_json::{CanonicalJsonValue, redact};
use ruma::{RoomId, RoomVersionId, UserId};
use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::api::error::{Error, Result};
use crate::app::AppState;
use crate::rooms::append::{Graph, build, check_auth};
use crate::rooms::create::state_event;
use crate::rooms::fetch::{enc, stored, verify_pdu};
use crate::rooms::state::{current, events_of};
use crate::rooms::{Placement, RoomCtx, publish, write};

/// The state events an invitee sees before joining (the spec's stripped state).
pub fn stripped(pdus: &[std::sync::Arc<Pdu>]) -> Vec<Value> {
    pdus.iter()
        .filter(|p| {
            matches!(
                p.kind.to_string().as_str(),
                "m.room.create"
                    | "m.room.join_rules"
                    | "m.room.name"
                    | "m.room.avatar"
                    | "m.room.canonical_alias"
                    | "m.room.encryption"
                    | "m.room.topic"
            )
        })
        .map(|p| {
            json!({
                "type": p.kind.to_string(),
                "state_key": p.state_key,
                "sender": p.sender,
                "content": serde_json::from_str::<Value>(p.content.get()).unwrap_or_default(),
            })
        })
        .collect()
}

/// Invites `target`, a user of another server, into a room this server is in, with the
/// given member event content (`membership: invite` and any `reason`, `is_direct`).
pub async fn invite_remote(
    state: &AppState,
    room: &RoomCtx,
    sender: &UserId,
    target: &UserId,
    content: Value,
) -> Result<()> {
    let event = state_event("m.room.member", target.as_str(), content)?;
    // The room stays locked while the invitee's server answers: the invite is placed
    // after the current extremities, and nothing else may move them meanwhile.
    let guard = state.room_locks.lock(&room.room_id).await?;
    let (hash, map) = current(state, room)?;
    let graph = Graph::at_end(state, room, &map, sender, &event)?;
    let pdu = build(state, room, sender, event, graph.position(room))?;
    check_auth(state, room, &pdu, &map)?;

    let server = target.server_name().as_str();
    let body = json!({
        "room_version": room.version.to_string(),
        "event": pdu.json,
        "invite_room_state": stripped(&events_of(state, &map)?),
    });
    let path = format!(
        "/_matrix/federation/v2/invite/{}/{}",
        enc(room.room_id.as_str()),
        enc(pdu.event_id.as_str())
    );
    let unreachable = |e: citadel_federation::client::ClientError| {
        Error::new(
            actix_web::http::StatusCode::BAD_GATEWAY,
            "M_UNKNOWN",
            e.to_string(),
        )
    };
    let (mut status, mut answer) = state
        .federation
        .request(server, "PUT", &path, Some(&body))
        .await
        .map_err(unreachable)?;
    if crate::rooms::remote_membership::unrecognized(status, &answer) {
        // A server with only the deprecated v1 endpoint: the event is the body, the
        // stripped state rides in its `unsigned`.
        let mut event = body["event"].clone();
        event["unsigned"]["invite_room_state"] = body["invite_room_state"].clone();
        let v1 = path.replacen("/v2/", "/v1/", 1);
        (status, answer) = state
            .federation
            .request(server, "PUT", &v1, Some(&event))
            .await
            .map_err(unreachable)?;
        answer = crate::rooms::remote_membership::v1_answer(answer);
    }
    if status != 200 {
        let message = answer["error"].as_str().unwrap_or("the invite was refused");
        return Err(Error::forbidden(format!("{server}: {message}")));
    }
    let raw = RawValue::from_string(answer["event"].to_string()).map_err(Error::internal)?;
    let signed = verify_pdu(state, room, &raw)
        .await
        .map_err(Error::bad_json)?;
    if signed.event_id != pdu.event_id {
        return Err(Error::bad_json("The invitee's server changed the invite"));
    }
    check_countersignature(state, room, &signed, server).await?;
    let written = write(
        state,
        room,
        &signed,
        Placement::local(&graph.prev_ids, hash, &map),
    )?;
    drop(guard);
    publish(state, room, &signed, written).await?;
    Ok(())
}

/// The invitee's server must have signed the invite it returns.
async fn check_countersignature(
    state: &AppState,
    room: &RoomCtx,
    pdu: &Pdu,
    server: &str,
) -> Result<()> {
    let key_id = match pdu.json.get("signatures") {
        Some(CanonicalJsonValue::Object(all)) => match all.get(server) {
            Some(CanonicalJsonValue::Object(keys)) => keys.keys().next().cloned(),
            _ => None,
        },
        _ => None,
    }
    .ok_or_else(|| Error::forbidden("The invitee's server did not sign the invite"))?;
    let keys = citadel_federation::server_keys::remote_keys(
        &state.federation,
        &state.storage,
        server,
        &key_id,
        citadel_storage::now_ms(),
    )
    .await
    .map_err(|e| Error::forbidden(e.to_string()))?;
    let mut redacted = redact(pdu.json.clone(), &room.rules.redaction, None)
        .map_err(|e| Error::bad_json(e.to_string()))?;
    // Only the invitee's server's signature is checked here (ours is ours).
    if let Some(CanonicalJsonValue::Object(signatures)) = redacted.get_mut("signatures") {
        signatures.retain(|signer, _| signer == server);
    }
    ruma::signatures::verify_json(&keys.public_key_map(), &redacted)
        .map_err(|_| Error::forbidden("The invitee's server signature does not verify"))
}

/// `PUT /v2/invite` for one of our users: checks the invite, countersigns it and, when
/// this server is not in the room, records it for the invitee.
pub async fn receive_invite(
    state: &AppState,
    origin: &str,
    room_id: &RoomId,
    event_id: &str,
    body: &Value,
) -> Result<Value> {
    crate::rooms::shutdown::ensure_not_blocked(state, room_id)?;
    let version = body["room_version"].as_str().unwrap_or("1");
    let version =
        RoomVersionId::try_from(version).map_err(|_| Error::bad_json("Bad room version"))?;
    let rules = version
        .rules()
        .filter(|_| crate::rooms::remote_join::VERSIONS.contains(&version.as_str()))
        .ok_or_else(|| {
            Error::new(
                actix_web::http::StatusCode::BAD_REQUEST,
                "M_INCOMPATIBLE_ROOM_VERSION",
                "This server does not support the room's version",
            )
            .with("room_version", version.to_string())
        })?;
    let room = RoomCtx {
        room_id: room_id.to_owned(),
        short: state.storage.rooms.short.room(room_id.as_str())?,
        version,
        rules,
    };
    let raw = RawValue::from_string(body["event"].to_string()).map_err(Error::internal)?;
    let mut pdu = verify_pdu(state, &room, &raw)
        .await
        .map_err(Error::bad_json)?;
    let content: Value = serde_json::from_str(pdu.content.get()).unwrap_or_default();
    let target = pdu.state_key.clone().unwrap_or_default();
    if pdu.event_id.as_str() != event_id
        || pdu.kind.to_string() != "m.room.member"
        || content["membership"] != "invite"
    {
        return Err(Error::bad_json("Not the invite event named in the path"));
    }
    if pdu.sender.server_name().as_str() != origin {
        return Err(Error::forbidden(
            "The inviter does not belong to the requesting server",
        ));
    }
    let target_id =
        <&UserId>::try_from(target.as_str()).map_err(|_| Error::bad_json("Bad invitee"))?;
    if target_id.server_name().as_str() != state.server_name()
        || !state.storage.users.exists(&target)?
    {
        return Err(Error::not_found("No such user on this server"));
    }
    state
        .signing_key
        .hash_and_sign_event(&mut pdu.json, &room.rules)
        .map_err(|_| Error::internal("cannot countersign the invite"))?;
    let signed = pdu.json.clone();

    let resident = RoomCtx::load(&state.storage, room_id)?.is_some()
        && crate::rooms::servers::is_in_room(state, room_id, state.server_name())?;
    if !resident {
        // Kept with the room state the inviter showed, as Synapse keeps it.
        let mut kept = pdu.clone();
        let mut unsigned = ruma::CanonicalJsonObject::new();
        let room_state: CanonicalJsonValue =
            serde_json::from_value(body["invite_room_state"].clone())
                .unwrap_or(CanonicalJsonValue::Array(Vec::new()));
        unsigned.insert("invite_room_state".into(), room_state);
        kept.json
            .insert("unsigned".into(), CanonicalJsonValue::Object(unsigned));
        let count = record_membership(state, room_id, &target, &kept, "invite").await?;
        if let Err(e) = crate::push::evaluate::on_remote_invite(
            state,
            room_id,
            &kept,
            count,
            &body["invite_room_state"],
        )
        .await
        {
            // The invite stands; only its push notification is lost.
            tracing::warn!(error = %e, %room_id, "could not push a remote invite");
        }
    }
    Ok(json!({ "event": signed }))
}

/// Records a membership this server learnt of without being in the room (an invite for,
/// or a remote leave or knock by, one of our users) and wakes the user's `/sync`.
pub async fn record_membership(
    state: &AppState,
    room_id: &RoomId,
    user_id: &str,
    pdu: &Pdu,
    membership: &str,
) -> Result<u64> {
    let reserved = state.stream.reserve(&state.storage)?;
    let mut batch = state.storage.batch();
    state.storage.rooms.outliers.put(&mut batch, &stored(pdu)?);
    let record = MemberRecord {
        membership: membership.to_owned(),
        event_id: pdu.event_id.to_string(),
        count: reserved.position,
    };
    state
        .storage
        .rooms
        .membership
        .set(&mut batch, room_id.as_str(), user_id, &record);
    state.storage.commit(batch).await?;
    // A membership outside the room's state: cached member lists of it are stale.
    state.members_cache.forget(room_id.as_str());
    let position = reserved.position;
    drop(reserved);
    state.notifier.notify(std::iter::once(user_id), position);
    Ok(position)
}
