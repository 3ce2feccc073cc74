//! Leaving and knocking on rooms this server is not in, through a server that is:
//! `make_leave`/`send_leave` (declining an invite, withdrawing a knock) and
//! `make_knock`/`send_knock`.

use actix_web::http::StatusCode;
use citadel_federation::pdu::Pdu;
use ruma::{CanonicalJsonObject, CanonicalJsonValue, RoomId, UserId};
use serde_json::{Value, json};

use crate::api::error::{Error, Result};
use crate::app::AppState;
use crate::rooms::RoomCtx;
use crate::rooms::fetch::enc;
use crate::rooms::remote_invite::record_membership;
use crate::rooms::remote_join::{VERSIONS, ephemeral_room, remote_error, sign_membership};

/// Leaves (or declines the invite to) a room this server is not in, through the server
/// that invited us or the room's own.
pub async fn leave_remote(
    state: &AppState,
    room_id: &RoomId,
    user: &UserId,
    reason: Option<&str>,
) -> Result<()> {
    let record = state
        .storage
        .rooms
        .membership
        .get(user.as_str(), room_id.as_str())?
        .ok_or_else(|| Error::forbidden("You are not a member of this room"))?;
    let mut candidates = Vec::new();
    if let Some(event) = crate::rooms::load_pdu(state, &record.event_id)? {
        candidates.push(event.sender.server_name().to_string());
    }
    if let Some(server) = room_id.server_name() {
        candidates.push(server.to_string());
    }
    match try_servers(state, candidates, room_id, user, reason, "leave").await {
        Err(e) if record.membership == "invite" => {
            tracing::info!(room_id = %room_id, user_id = %user, error = %e,
                "no server took the invite's rejection; rejecting it here");
            reject_locally(state, room_id, user, &record.event_id, reason).await
        }
        outcome => outcome,
    }
}

/// Declines an invite that no server of the room would take the rejection of (it is
/// unreachable, refuses, or the room is gone), as Synapse does: a leave event after the
/// invite, signed here and never sent, recorded so the user's `/sync` moves the room to
/// `leave`. The inviting side learns nothing, which is all a rejection could tell it.
async fn reject_locally(
    state: &AppState,
    room_id: &RoomId,
    user: &UserId,
    invite_id: &str,
    reason: Option<&str>,
) -> Result<()> {
    let invite = crate::rooms::load_pdu(state, invite_id)?
        .ok_or_else(|| Error::not_found("The invite is gone"))?;
    // The version the inviter showed with the invite's room state.
    let version = invite
        .json
        .get("unsigned")
        .and_then(|u| serde_json::to_value(u).ok())
        .and_then(|u| {
            u["invite_room_state"]
                .as_array()?
                .iter()
                .find(|e| e["type"] == "m.room.create")
                .and_then(|e| e["content"]["room_version"].as_str().map(str::to_owned))
        });
    let room = ephemeral_room(state, room_id, Some(version.as_deref().unwrap_or("1")))?;
    let template = json!({
        "type": "m.room.member",
        "state_key": user.as_str(),
        "sender": user.as_str(),
        "room_id": room_id.as_str(),
        "content": {},
        "prev_events": [invite.event_id.as_str()],
        "auth_events": [invite.event_id.as_str()],
        "depth": invite.depth + 1,
    });
    let event = sign_membership(state, &room, user, reason, &template, "leave")?;
    record_membership(state, room_id, user.as_str(), &event, "leave").await?;
    Ok(())
}

/// Knocks on a room this server is not in, through one of `via` or the room's server.
pub async fn knock_remote(
    state: &AppState,
    room_id: &RoomId,
    user: &UserId,
    reason: Option<&str>,
    via: &[String],
) -> Result<()> {
    let mut candidates = via.to_vec();
    if let Some(server) = room_id.server_name() {
        candidates.push(server.to_string());
    }
    try_servers(state, candidates, room_id, user, reason, "knock").await
}

async fn try_servers(
    state: &AppState,
    mut candidates: Vec<String>,
    room_id: &RoomId,
    user: &UserId,
    reason: Option<&str>,
    membership: &str,
) -> Result<()> {
    candidates.retain(|s| s != state.server_name() && crate::rooms::acl::server_allowed(state, s));
    candidates.dedup();
    let mut last = Error::not_found("No server to reach the room through: give one with `via`");
    for server in &candidates {
        match through(state, server, room_id, user, reason, membership).await {
            Ok(()) => return Ok(()),
            Err(e) => last = e,
        }
    }
    Err(last)
}

async fn through(
    state: &AppState,
    server: &str,
    room_id: &RoomId,
    user: &UserId,
    reason: Option<&str>,
    membership: &str,
) -> Result<()> {
    let (_, mut event, answer) =
        handshake(state, server, room_id, user, reason, membership).await?;
    if membership == "knock" {
        keep_room_state(&mut event, &answer["knock_room_state"]);
    }
    record_membership(state, room_id, user.as_str(), &event, membership).await?;
    Ok(())
}

/// The membership handshake with a resident server: `make_<membership>` for a template,
/// signed here, then `send_<membership>`. Returns the room (in the version the server
/// named), the signed event and the server's answer.
pub(crate) async fn handshake(
    state: &AppState,
    server: &str,
    room_id: &RoomId,
    user: &UserId,
    reason: Option<&str>,
    membership: &str,
) -> Result<(RoomCtx, Pdu, Value)> {
    let unreachable = |e: citadel_federation::client::ClientError| {
        Error::new(StatusCode::BAD_GATEWAY, "M_UNKNOWN", e.to_string())
    };
    let (make, send, send_query) = match membership {
        "join" => ("v1/make_join", "v2/send_join", "?omit_members=false"),
        "knock" => ("v1/make_knock", "v1/send_knock", ""),
        _ => ("v1/make_leave", "v2/send_leave", ""),
    };
    let mut path = format!(
        "/_matrix/federation/{make}/{}/{}",
        enc(room_id.as_str()),
        enc(user.as_str())
    );
    if membership != "leave" {
        let versions: Vec<String> = VERSIONS.iter().map(|v| format!("ver={v}")).collect();
        path.push('?');
        path.push_str(&versions.join("&"));
    }
    let (status, body) = state
        .federation
        .request(server, "GET", &path, None)
        .await
        .map_err(unreachable)?;
    if status != 200 {
        return Err(remote_error(server, status, &body));
    }
    let room = ephemeral_room(state, room_id, body["room_version"].as_str())?;
    let event = sign_membership(state, &room, user, reason, &body["event"], membership)?;
    let path = format!(
        "/_matrix/federation/{send}/{}/{}{send_query}",
        enc(room_id.as_str()),
        enc(event.event_id.as_str())
    );
    let json = serde_json::to_value(&event.json).map_err(Error::internal)?;
    let (mut status, mut answer) = state
        .federation
        .request(server, "PUT", &path, Some(&json))
        .await
        .map_err(unreachable)?;
    if unrecognized(status, &answer) && send.starts_with("v2/") {
        // A server without the v2 endpoint: the deprecated v1 one, whose answer is
        // `[200, {…}]` (server-server API, "Joining Rooms" / "Leaving Rooms").
        let v1 = path.replacen("/v2/", "/v1/", 1);
        let v1 = v1.split('?').next().unwrap_or(&v1).to_owned();
        (status, answer) = state
            .federation
            .request(server, "PUT", &v1, Some(&json))
            .await
            .map_err(unreachable)?;
        answer = v1_answer(answer);
    }
    if status != 200 {
        return Err(remote_error(server, status, &answer));
    }
    Ok((room, event, answer))
}

/// Whether another server does not know an endpoint (a 404 or 405, or a 400
/// `M_UNRECOGNIZED`): the cue to fall back to an older version of it.
pub(crate) fn unrecognized(status: u16, body: &Value) -> bool {
    matches!(status, 404 | 405) || (status == 400 && body["errcode"] == "M_UNRECOGNIZED")
}

/// The body of a v1 federation answer, `[200, {…}]`.
pub(crate) fn v1_answer(answer: Value) -> Value {
    match answer {
        Value::Array(mut parts) if parts.len() == 2 => parts.swap_remove(1),
        other => other,
    }
}

/// Keeps the stripped state the room's server sent with a knock, for `/sync`.
fn keep_room_state(event: &mut Pdu, room_state: &Value) {
    let mut unsigned = CanonicalJsonObject::new();
    let room_state: CanonicalJsonValue =
        serde_json::from_value(room_state.clone()).unwrap_or(CanonicalJsonValue::Array(Vec::new()));
    unsigned.insert("knock_room_state".into(), room_state);
    event
        .json
        .insert("unsigned".into(), CanonicalJsonValue::Object(unsigned));
}
