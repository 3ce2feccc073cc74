//! Leaving and knocking on rooms this server is not in, through a server that is:
//! `make_leave`/`send_leave` (declining an invite, withdrawing a knock) and
//! `make_knock`/`send_knock`.

use actix_web::http::StatusCode;
use citadel_federation::pdu::Pdu;
use ruma::{CanonicalJsonObject, CanonicalJsonValue, RoomId, UserId};
use serde_json::Value;

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
    try_servers(state, candidates, room_id, user, reason, "leave").await
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
    record_membership(state, room_id, user.as_str(), &event, membership).await
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
    let (status, answer) = state
        .federation
        .request(server, "PUT", &path, Some(&json))
        .await
        .map_err(unreachable)?;
    if status != 200 {
        return Err(remote_error(server, status, &answer));
    }
    Ok((room, event, answer))
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
