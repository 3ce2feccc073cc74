//! Room state: `/rooms/{roomId}/state`, `/state/{type}/{stateKey}`.

use actix_web::web;
use ruma::api::client::state::{get_state_event_for_key, get_state_events, send_state_event};
use ruma::serde::Raw;
use serde_json::value::RawValue;

use crate::api::Routes;
use crate::api::error::{Error, Result};
use crate::api::extract::Ruma;
use crate::app::AppState;
use crate::rooms::create::state_event;
use crate::rooms::state::{after_event, current, event_in, events_of};
use crate::rooms::{RoomCtx, append_event};

pub fn routes(routes: &mut Routes<'_>) {
    routes
        .ruma(get_state_events)
        .ruma(get_state_event_for_key)
        .ruma(send_state_event);
}

/// The state a user may read: the current state while joined, the state when they left
/// otherwise; `403` if they never were in the room.
pub(crate) fn readable_state(
    state: &AppState,
    room: &RoomCtx,
    user_id: &str,
) -> Result<citadel_storage::rooms::state::StateMap> {
    match state
        .storage
        .rooms
        .membership
        .get(user_id, room.room_id.as_str())?
    {
        Some(record) if record.membership == "join" => {
            Ok(std::sync::Arc::unwrap_or_clone(current(state, room)?.1))
        }
        Some(record) if record.membership == "leave" || record.membership == "ban" => {
            Ok(after_event(state, &record.event_id)?.unwrap_or_default())
        }
        _ => {
            // Anyone may read the current state of a world-readable room.
            crate::api::client::message::readable_until(state, room, user_id)?;
            Ok(std::sync::Arc::unwrap_or_clone(current(state, room)?.1))
        }
    }
}

/// `GET /_matrix/client/v3/rooms/{roomId}/state`
async fn get_state_events(
    state: web::Data<AppState>,
    req: Ruma<get_state_events::v3::Request>,
) -> Result<get_state_events::v3::Response> {
    let user = req.sender()?.user_id.as_str();
    let room = RoomCtx::require(&state.storage, &req.body.room_id)?;
    let map = readable_state(&state, &room, user)?;
    let events = events_of(&state, &map)?
        .iter()
        .map(|pdu| to_raw(&pdu.to_client_event(true)))
        .collect::<Result<Vec<_>>>()?;
    Ok(get_state_events::v3::Response::new(events))
}

/// `GET /_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}`
async fn get_state_event_for_key(
    state: web::Data<AppState>,
    req: Ruma<get_state_event_for_key::v3::Request>,
) -> Result<get_state_event_for_key::v3::Response> {
    let user = req.sender()?.user_id.as_str();
    let room = RoomCtx::require(&state.storage, &req.body.room_id)?;
    let map = readable_state(&state, &room, user)?;
    let pdu = event_in(
        &state,
        &map,
        &req.body.event_type.to_string(),
        &req.body.state_key,
    )?
    .ok_or_else(|| Error::not_found("Event not found"))?;
    let body = match req.body.format {
        get_state_event_for_key::v3::StateEventFormat::Event => {
            pdu.to_client_event(true).to_string()
        }
        _ => pdu.content.get().to_owned(),
    };
    Ok(get_state_event_for_key::v3::Response::new(
        RawValue::from_string(body).map_err(Error::internal)?,
    ))
}

/// `PUT /_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}`
async fn send_state_event(
    state: web::Data<AppState>,
    req: Ruma<send_state_event::v3::Request>,
) -> Result<send_state_event::v3::Response> {
    let sender = req.sender()?.user_id.clone();
    let room = RoomCtx::require(&state.storage, &req.body.room_id)?;
    let content: serde_json::Value = serde_json::from_str(req.body.body.json().get())
        .map_err(|e| Error::bad_json(e.to_string()))?;
    if !content.is_object() {
        return Err(Error::bad_json("State event content must be a JSON object"));
    }
    let kind = req.body.event_type.to_string();
    if kind == "m.room.create" {
        return Err(Error::forbidden("The create event cannot be replaced"));
    }
    if req.sender()?.shadow_banned && kind != "m.room.member" {
        return Ok(send_state_event::v3::Response::new(
            crate::auth::restrictions::shadow_event_id(),
        ));
    }
    if kind == "m.room.canonical_alias" {
        check_canonical_aliases(&state, &room, &content)?;
    }
    // Setting what is already there changes nothing: the answer is the event in place
    // (as Synapse), not a new event for every repeat.
    if let Some(current) =
        crate::rooms::state::current_event(&state, &room, &kind, &req.body.state_key)?
        && current.sender == sender
        && serde_json::from_str::<serde_json::Value>(current.content.get()).ok()
            == Some(content.clone())
    {
        return Ok(send_state_event::v3::Response::new(
            current.event_id.clone(),
        ));
    }
    crate::policy::rate_limit::check_send(&state, req.sender()?)?;
    let event = state_event(&kind, &req.body.state_key, content)?;
    let (pdu, _) = append_event(&state, &room, &sender, event).await?;
    crate::rooms::guests::after_state_event(&state, &room, &pdu).await;
    Ok(send_state_event::v3::Response::new(pdu.event_id))
}

/// The spec's rule for `m.room.canonical_alias`: its `alias` and `alt_aliases` must be
/// valid aliases (`400 M_INVALID_PARAM`) that point to this room (`400 M_BAD_ALIAS`).
/// Aliases of other servers cannot be checked here and are taken as given.
fn check_canonical_aliases(
    state: &AppState,
    room: &RoomCtx,
    content: &serde_json::Value,
) -> Result<()> {
    let mut aliases = Vec::new();
    match &content["alias"] {
        serde_json::Value::Null => {}
        serde_json::Value::String(alias) => aliases.push(alias.as_str()),
        _ => return Err(Error::invalid_param("alias must be a string")),
    }
    match &content["alt_aliases"] {
        serde_json::Value::Null => {}
        serde_json::Value::Array(list) => {
            for alias in list {
                let alias = alias
                    .as_str()
                    .ok_or_else(|| Error::invalid_param("alt_aliases must be strings"))?;
                aliases.push(alias);
            }
        }
        _ => return Err(Error::invalid_param("alt_aliases must be a list")),
    }
    for alias in aliases {
        let parsed = ruma::RoomAliasId::parse(alias)
            .map_err(|_| Error::invalid_param(format!("Invalid room alias {alias:?}")))?;
        if parsed.server_name().as_str() != state.server_name() {
            continue;
        }
        let points_here = state
            .storage
            .rooms
            .aliases
            .get(alias)?
            .is_some_and(|record| record.room_id == room.room_id.as_str());
        if !points_here {
            return Err(Error::new(
                actix_web::http::StatusCode::BAD_REQUEST,
                "M_BAD_ALIAS",
                format!("Room alias {alias} does not point to this room"),
            ));
        }
    }
    Ok(())
}

pub fn to_raw<T>(value: &serde_json::Value) -> Result<Raw<T>> {
    let raw = RawValue::from_string(value.to_string()).map_err(Error::internal)?;
    Ok(Raw::from_json(raw))
}
