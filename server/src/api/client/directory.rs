//! Room aliases: `/directory/room/{roomAlias}` and `/rooms/{roomId}/aliases`.

use actix_web::http::StatusCode;
use actix_web::web;
use citadel_storage::rooms::aliases::AliasRecord;
use ruma::api::client::alias::{create_alias, delete_alias, get_alias};
use ruma::api::client::room::aliases;
use ruma::{OwnedRoomAliasId, OwnedRoomId, OwnedServerName, RoomAliasId};

use crate::api::Routes;
use crate::api::error::{Error, Result};
use crate::api::extract::Ruma;
use crate::app::AppState;
use crate::rooms::RoomCtx;
use crate::rooms::state::{current, power_levels};

pub fn routes(routes: &mut Routes<'_>) {
    routes
        .ruma(get_alias)
        .ruma(create_alias)
        .ruma(delete_alias)
        .ruma(aliases);
}

fn local(state: &AppState, alias: &RoomAliasId) -> Result<()> {
    if alias.server_name().as_str() != state.server_name() {
        return Err(Error::invalid_param(
            "Aliases of other servers cannot be managed here",
        ));
    }
    Ok(())
}

/// `GET /_matrix/client/v3/directory/room/{roomAlias}`
async fn get_alias(
    state: web::Data<AppState>,
    req: Ruma<get_alias::v3::Request>,
) -> Result<get_alias::v3::Response> {
    let (room_id, servers) = lookup_alias(&state, &req.body.room_alias).await?;
    let servers = servers
        .into_iter()
        .filter_map(|s| OwnedServerName::try_from(s).ok())
        .collect();
    Ok(get_alias::v3::Response::new(room_id, servers))
}

/// The room an alias names and servers to join it through: from this server's aliases,
/// or asked of the alias's server (`/_matrix/federation/v1/query/directory`).
pub(crate) async fn lookup_alias(
    state: &AppState,
    alias: &ruma::RoomAliasId,
) -> Result<(OwnedRoomId, Vec<String>)> {
    let not_found = || Error::not_found(format!("Room alias {alias} not found"));
    if alias.server_name().as_str() == state.server_name() {
        let record = state
            .storage
            .rooms
            .aliases
            .get(alias.as_str())?
            .ok_or_else(not_found)?;
        let room_id = OwnedRoomId::try_from(record.room_id).map_err(Error::internal)?;
        return Ok((room_id, vec![state.server_name().to_owned()]));
    }
    if !state.config.federation.enabled {
        return Err(not_found());
    }
    let path = format!(
        "/_matrix/federation/v1/query/directory?room_alias={}",
        percent_encoding::utf8_percent_encode(alias.as_str(), percent_encoding::NON_ALPHANUMERIC)
    );
    match state
        .federation
        .request(alias.server_name().as_str(), "GET", &path, None)
        .await
    {
        Ok((200, answer)) => {
            let room_id = answer["room_id"]
                .as_str()
                .and_then(|r| OwnedRoomId::try_from(r).ok())
                .ok_or_else(not_found)?;
            let servers = answer["servers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect();
            Ok((room_id, servers))
        }
        _ => Err(not_found()),
    }
}

/// `PUT /_matrix/client/v3/directory/room/{roomAlias}`: members of a room may add aliases
/// for it.
async fn create_alias(
    state: web::Data<AppState>,
    req: Ruma<create_alias::v3::Request>,
) -> Result<create_alias::v3::Response> {
    let user = req.sender()?.user_id.as_str();
    let alias = &req.body.room_alias;
    local(&state, alias)?;
    RoomCtx::require(&state.storage, &req.body.room_id)?;
    if state
        .storage
        .rooms
        .membership
        .get(user, req.body.room_id.as_str())?
        .is_none_or(|m| m.membership != "join")
    {
        return Err(Error::forbidden(
            "You must be in the room to give it an alias",
        ));
    }
    let record = AliasRecord {
        room_id: req.body.room_id.to_string(),
        creator: user.to_owned(),
    };
    if !state
        .storage
        .rooms
        .aliases
        .create(alias.as_str(), &record)?
    {
        return Err(Error::unknown(
            StatusCode::CONFLICT,
            format!("Room alias {alias} already exists"),
        ));
    }
    state.storage.flush().await?;
    Ok(create_alias::v3::Response::new())
}

/// `DELETE /_matrix/client/v3/directory/room/{roomAlias}`: by whoever created the alias,
/// or a member with the power to change the room's canonical alias.
async fn delete_alias(
    state: web::Data<AppState>,
    req: Ruma<delete_alias::v3::Request>,
) -> Result<delete_alias::v3::Response> {
    let user = req.sender()?.user_id.as_str();
    let alias = &req.body.room_alias;
    local(&state, alias)?;
    let record = state
        .storage
        .rooms
        .aliases
        .get(alias.as_str())?
        .ok_or_else(|| Error::not_found(format!("Room alias {alias} not found")))?;
    let allowed = record.creator == user || {
        let room_id = OwnedRoomId::try_from(record.room_id.as_str()).map_err(Error::internal)?;
        match RoomCtx::load(&state.storage, &room_id)? {
            Some(room) => {
                let (_, map) = current(&state, &room)?;
                let (level, needed) = power_levels(&state, &room, &map, user, "state_default")?;
                level >= needed.max(50)
            }
            None => false,
        }
    };
    if !allowed {
        return Err(Error::forbidden("You may not remove this alias"));
    }
    state.storage.rooms.aliases.remove(alias.as_str())?;
    state.storage.flush().await?;
    let room_id = OwnedRoomId::try_from(record.room_id.as_str()).map_err(Error::internal)?;
    if let Some(room) = RoomCtx::load(&state.storage, &room_id)? {
        crate::rooms::canonical_alias::forget(
            &state,
            &room,
            &req.sender()?.user_id,
            alias.as_str(),
        )
        .await;
    }
    Ok(delete_alias::v3::Response::new())
}

/// `GET /_matrix/client/v3/rooms/{roomId}/aliases`
async fn aliases(
    state: web::Data<AppState>,
    req: Ruma<aliases::v3::Request>,
) -> Result<aliases::v3::Response> {
    let user = req.sender()?.user_id.as_str();
    RoomCtx::require(&state.storage, &req.body.room_id)?;
    if state
        .storage
        .rooms
        .membership
        .get(user, req.body.room_id.as_str())?
        .is_none_or(|m| m.membership != "join")
    {
        return Err(Error::forbidden("You are not in this room"));
    }
    let aliases = state
        .storage
        .rooms
        .aliases
        .for_room(req.body.room_id.as_str())?
        .into_iter()
        .filter_map(|a| OwnedRoomAliasId::try_from(a).ok())
        .collect();
    Ok(aliases::v3::Response::new(aliases))
}
