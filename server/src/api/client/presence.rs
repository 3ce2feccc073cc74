//! Presence: `/presence/{userId}/status`. Kept in memory: presence is a hint that goes
//! stale within minutes, not data worth a disk write.

use std::time::Duration;

use actix_web::web;
use citadel_storage::now_ms;
use ruma::api::client::presence::{get_presence, set_presence};
use ruma::presence::PresenceState;

use crate::api::Routes;
use crate::api::error::{Error, Result};
use crate::api::extract::Ruma;
use crate::app::AppState;

pub fn routes(routes: &mut Routes<'_>) {
    routes.ruma(get_presence).ruma(set_presence);
}

/// `PUT /_matrix/client/v3/presence/{userId}/status`
async fn set_presence(
    state: web::Data<AppState>,
    req: Ruma<set_presence::v3::Request>,
) -> Result<set_presence::v3::Response> {
    if req.sender()?.user_id != req.body.user_id {
        return Err(Error::forbidden("Cannot set another user's presence"));
    }
    crate::presence::update(
        &state,
        req.body.user_id.as_str(),
        req.body.presence.clone(),
        Some(req.body.status_msg.clone()),
    )?;
    Ok(set_presence::v3::Response::new())
}

/// `GET /_matrix/client/v3/presence/{userId}/status`
async fn get_presence(
    state: web::Data<AppState>,
    req: Ruma<get_presence::v3::Request>,
) -> Result<get_presence::v3::Response> {
    req.sender()?;
    let user = req.body.user_id.as_str();
    let local = req.body.user_id.server_name().as_str() == state.server_name();
    if local && !state.storage.users.exists(user)? {
        return Err(Error::not_found("Unknown user"));
    }
    let record = state
        .presence
        .lock()
        .map_err(|_| Error::internal("presence lock poisoned"))?
        .get(user)
        .cloned();
    let Some(record) = record else {
        return Ok(get_presence::v3::Response::new(PresenceState::Offline));
    };
    let mut response = get_presence::v3::Response::new(record.presence.clone());
    response.status_msg = record.status_msg;
    response.last_active_ago = Some(Duration::from_millis(
        now_ms().saturating_sub(record.last_active_ms),
    ));
    response.currently_active = Some(record.presence == PresenceState::Online);
    Ok(response)
}
