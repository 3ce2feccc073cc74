//! Membership: join, leave, invite, kick, ban, unban, forget, and who is in a room.

use actix_web::http::StatusCode;
use actix_web::web;
use ruma::api::client::membership::{
    ban_user, forget_room, get_member_events, invite_user, join_room_by_id,
    join_room_by_id_or_alias, joined_rooms, kick_user, leave_room, unban_user,
};
use ruma::{OwnedRoomId, OwnedRoomOrAliasId};

use crate::api::Routes;
use crate::api::error::{Error, Result};
use crate::api::extract::Ruma;
use crate::app::AppState;
use crate::rooms::RoomCtx;
use crate::rooms::guests;
use crate::rooms::membership::{change_other, join, leave};

pub fn routes(routes: &mut Routes<'_>) {
    routes
        .ruma(join_room_by_id)
        .ruma(join_room_by_id_or_alias)
        .ruma(leave_room)
        .ruma(invite_user)
        .ruma(kick_user)
        .ruma(ban_user)
        .ruma(unban_user)
        .ruma(forget_room)
        .ruma(joined_rooms)
        .ruma(get_member_events)
        .ruma(knock_room);
    // Raw, not ruma's type: the spec's RoomMember keeps `display_name` and `avatar_url`
    // as keys even when unset (null), and clients and SyTest look for them.
    for version in ["v3", "r0"] {
        routes.raw(
            actix_web::http::Method::GET,
            &format!("/_matrix/client/{version}/rooms/{{room_id}}/joined_members"),
            joined_members,
        );
    }
}

/// `POST /_matrix/client/v3/rooms/{roomId}/join`
async fn join_room_by_id(
    state: web::Data<AppState>,
    req: Ruma<join_room_by_id::v3::Request>,
) -> Result<join_room_by_id::v3::Response> {
    let user = req.sender()?.user_id.clone();
    let guest = req.sender()?.guest;
    guests::check_join(&state, &req.body.room_id, guest)?;
    let room_id = join(
        &state,
        &req.body.room_id,
        &user,
        req.body.reason.as_deref(),
        &[],
        &extra_member_content(&req.raw_body),
    )
    .await?;
    guests::after_remote_join(&state, &room_id, &user, guest).await?;
    Ok(join_room_by_id::v3::Response::new(room_id))
}

/// `POST /_matrix/client/v3/join/{roomIdOrAlias}`
async fn join_room_by_id_or_alias(
    state: web::Data<AppState>,
    req: Ruma<join_room_by_id_or_alias::v3::Request>,
) -> Result<join_room_by_id_or_alias::v3::Response> {
    let user = req.sender()?.user_id.clone();
    let (room_id, via) =
        room_and_servers(&state, req.body.room_id_or_alias.clone(), &req.body.via).await?;
    let guest = req.sender()?.guest;
    guests::check_join(&state, &room_id, guest)?;
    let extra = extra_member_content(&req.raw_body);
    let room_id = join(
        &state,
        &room_id,
        &user,
        req.body.reason.as_deref(),
        &via,
        &extra,
    )
    .await?;
    guests::after_remote_join(&state, &room_id, &user, guest).await?;
    Ok(join_room_by_id_or_alias::v3::Response::new(room_id))
}

/// The keys of a join request's body beyond those the spec defines, which Synapse (and
/// so clients that rely on it) puts into the member event.
fn extra_member_content(raw_body: &[u8]) -> serde_json::Map<String, serde_json::Value> {
    let mut extra: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(raw_body).unwrap_or_default();
    for key in ["reason", "third_party_signed", "membership"] {
        extra.remove(key);
    }
    extra
}

/// The room an ID or alias names, and servers to reach it through: those given, plus
/// those the alias's server lists.
async fn room_and_servers(
    state: &AppState,
    id: OwnedRoomOrAliasId,
    via: &[ruma::OwnedServerName],
) -> Result<(OwnedRoomId, Vec<String>)> {
    let mut servers: Vec<String> = via.iter().map(|s| s.to_string()).collect();
    let room_id = match OwnedRoomId::try_from(id) {
        Ok(room_id) => room_id,
        Err(alias) => {
            let (room_id, more) =
                crate::api::client::directory::lookup_alias(state, &alias).await?;
            servers.extend(more);
            room_id
        }
    };
    Ok((room_id, servers))
}

/// A room ID, or the room a local alias points to.
pub fn resolve(state: &AppState, id: OwnedRoomOrAliasId) -> Result<OwnedRoomId> {
    match OwnedRoomId::try_from(id.clone()) {
        Ok(room_id) => Ok(room_id),
        Err(alias) => {
            let record = state
                .storage
                .rooms
                .aliases
                .get(alias.as_str())?
                .ok_or_else(|| Error::not_found(format!("Room alias {alias} not found")))?;
            OwnedRoomId::try_from(record.room_id).map_err(Error::internal)
        }
    }
}

/// `POST /_matrix/client/v3/rooms/{roomId}/leave`
async fn leave_room(
    state: web::Data<AppState>,
    req: Ruma<leave_room::v3::Request>,
) -> Result<leave_room::v3::Response> {
    let user = req.sender()?.user_id.clone();
    leave(&state, &req.body.room_id, &user, req.body.reason.as_deref()).await?;
    Ok(leave_room::v3::Response::new())
}

/// `POST /_matrix/client/v3/rooms/{roomId}/invite`
async fn invite_user(
    state: web::Data<AppState>,
    req: Ruma<invite_user::v3::Request>,
) -> Result<invite_user::v3::Response> {
    let sender = req.sender()?.user_id.clone();
    let invite_user::v3::InvitationRecipient::UserId(invitee) = &req.body.recipient else {
        return Err(Error::new(
            StatusCode::FORBIDDEN,
            "M_FORBIDDEN",
            "Third-party invites are not supported",
        ));
    };
    if req.sender()?.shadow_banned {
        // Told it worked; the invitee never hears of it.
        return Ok(invite_user::v3::Response::new());
    }
    let reason = invitee.reason.as_deref();
    change_other(
        &state,
        &req.body.room_id,
        &sender,
        &invitee.user_id,
        "invite",
        reason,
    )
    .await?;
    Ok(invite_user::v3::Response::new())
}

/// `POST /_matrix/client/v3/rooms/{roomId}/kick`
async fn kick_user(
    state: web::Data<AppState>,
    req: Ruma<kick_user::v3::Request>,
) -> Result<kick_user::v3::Response> {
    let sender = req.sender()?.user_id.clone();
    change_other(
        &state,
        &req.body.room_id,
        &sender,
        &req.body.user_id,
        "kick",
        req.body.reason.as_deref(),
    )
    .await?;
    Ok(kick_user::v3::Response::new())
}

/// `POST /_matrix/client/v3/rooms/{roomId}/ban`
async fn ban_user(
    state: web::Data<AppState>,
    req: Ruma<ban_user::v3::Request>,
) -> Result<ban_user::v3::Response> {
    let sender = req.sender()?.user_id.clone();
    change_other(
        &state,
        &req.body.room_id,
        &sender,
        &req.body.user_id,
        "ban",
        req.body.reason.as_deref(),
    )
    .await?;
    Ok(ban_user::v3::Response::new())
}

/// `POST /_matrix/client/v3/rooms/{roomId}/unban`
async fn unban_user(
    state: web::Data<AppState>,
    req: Ruma<unban_user::v3::Request>,
) -> Result<unban_user::v3::Response> {
    let sender = req.sender()?.user_id.clone();
    let room = RoomCtx::require(&state.storage, &req.body.room_id)?;
    if crate::rooms::membership::membership_of(&state, &room, req.body.user_id.as_str())?.as_deref()
        != Some("ban")
    {
        return Err(Error::forbidden("The user is not banned"));
    }
    change_other(
        &state,
        &req.body.room_id,
        &sender,
        &req.body.user_id,
        "leave",
        req.body.reason.as_deref(),
    )
    .await?;
    Ok(unban_user::v3::Response::new())
}

/// `POST /_matrix/client/v3/rooms/{roomId}/forget`
async fn forget_room(
    state: web::Data<AppState>,
    req: Ruma<forget_room::v3::Request>,
) -> Result<forget_room::v3::Response> {
    let user = req.sender()?.user_id.as_str().to_owned();
    let room_id = req.body.room_id.as_str();
    match state.storage.rooms.membership.get(&user, room_id)? {
        Some(record) if record.membership == "join" || record.membership == "invite" => {
            return Err(Error::unknown(
                StatusCode::BAD_REQUEST,
                "You must leave the room before forgetting it",
            ));
        }
        Some(_) => {
            let mut batch = state.storage.batch();
            state
                .storage
                .rooms
                .membership
                .forget(&mut batch, room_id, &user);
            state.storage.commit(batch).await?;
        }
        None => {}
    }
    Ok(forget_room::v3::Response::new())
}

/// `GET /_matrix/client/v3/joined_rooms`
async fn joined_rooms(
    state: web::Data<AppState>,
    req: Ruma<joined_rooms::v3::Request>,
) -> Result<joined_rooms::v3::Response> {
    let user = req.sender()?.user_id.as_str();
    let rooms = state
        .storage
        .rooms
        .membership
        .rooms(user)?
        .into_iter()
        .filter(|(_, record)| record.membership == "join")
        .filter_map(|(room_id, _)| OwnedRoomId::try_from(room_id).ok())
        .collect();
    Ok(joined_rooms::v3::Response::new(rooms))
}

/// `GET /_matrix/client/v3/rooms/{roomId}/joined_members`
async fn joined_members(
    state: web::Data<AppState>,
    authed: crate::api::extract::Authed,
    path: web::Path<String>,
) -> Result<actix_web::HttpResponse> {
    let user = authed.0.user_id.as_str();
    let room_id = crate::api::extract::room_id_param(&path)?;
    let room = RoomCtx::require(&state.storage, &room_id)?;
    if state
        .storage
        .rooms
        .membership
        .get(user, room_id.as_str())?
        .is_none_or(|r| r.membership != "join")
    {
        return Err(Error::forbidden("You are not a member of this room"));
    }
    let mut joined = serde_json::Map::new();
    for (member, record) in state.storage.rooms.membership.members(room_id.as_str())? {
        if record.membership != "join" {
            continue;
        }
        let pdu = crate::rooms::state::current_event(&state, &room, "m.room.member", &member)?;
        let field = |key: &str| {
            pdu.as_ref()
                .and_then(|pdu| crate::rooms::state::content_str(pdu, key))
        };
        joined.insert(
            member.clone(),
            serde_json::json!({
                "display_name": field("displayname"),
                "avatar_url": field("avatar_url"),
            }),
        );
    }
    Ok(actix_web::HttpResponse::Ok().json(serde_json::json!({ "joined": joined })))
}

/// `GET /_matrix/client/v3/rooms/{roomId}/members`: member events of the current state
/// (or of the state at the `at` token, or when the user left), filtered by membership.
async fn get_member_events(
    state: web::Data<AppState>,
    req: Ruma<get_member_events::v3::Request>,
) -> Result<get_member_events::v3::Response> {
    let user = req.sender()?.user_id.as_str();
    let room = RoomCtx::require(&state.storage, &req.body.room_id)?;
    let until = crate::api::client::message::readable_until(&state, &room, user)?;
    let at = match req.body.at.as_deref() {
        Some(token) => crate::api::client::message::parse_token(token)?.min(until),
        None => until,
    };
    let map = if at == u64::MAX {
        crate::rooms::state::current(&state, &room)?.1
    } else {
        crate::rooms::state::before_count(&state, &room, at)?
    };
    let wanted = req.body.membership.as_ref().map(|m| m.to_string());
    let unwanted = req.body.not_membership.as_ref().map(|m| m.to_string());
    let mut chunk = Vec::new();
    for pdu in crate::rooms::state::events_of(&state, &map)? {
        if pdu.kind != ruma::events::TimelineEventType::RoomMember {
            continue;
        }
        let membership = crate::rooms::state::content_str(&pdu, "membership").unwrap_or_default();
        if wanted.as_ref().is_some_and(|w| *w != membership)
            || unwanted.as_ref().is_some_and(|u| *u == membership)
        {
            continue;
        }
        chunk.push(crate::api::client::state::to_raw(
            &pdu.to_client_event(true),
        )?);
    }
    Ok(get_member_events::v3::Response::new(chunk))
}

/// `POST /_matrix/client/v3/knock/{roomIdOrAlias}`
async fn knock_room(
    state: web::Data<AppState>,
    req: Ruma<ruma::api::client::knock::knock_room::v3::Request>,
) -> Result<ruma::api::client::knock::knock_room::v3::Response> {
    let user = req.sender()?.user_id.clone();
    let (room_id, via) =
        room_and_servers(&state, req.body.room_id_or_alias.clone(), &req.body.via).await?;
    let room_id =
        crate::rooms::membership::knock(&state, &room_id, &user, req.body.reason.as_deref(), &via)
            .await?;
    Ok(ruma::api::client::knock::knock_room::v3::Response::new(
        room_id,
    ))
}
