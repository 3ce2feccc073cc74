//! User profiles: `/profile/{userId}` and its fields (`displayname`, `avatar_url` and the
//! extended fields of v1.16).

use actix_web::http::StatusCode;
use actix_web::web;
use ruma::UserId;
use ruma::api::client::profile::{
    delete_profile_field, get_profile, get_profile_field, set_profile_field,
};
use ruma::profile::ProfileFieldValue;
use serde_json::Value;

use crate::api::Routes;
use crate::api::error::{Error, Result};
use crate::api::extract::Ruma;
use crate::app::AppState;
use crate::rooms::membership::propagate_profile;

pub fn routes(routes: &mut Routes<'_>) {
    routes
        .ruma(get_profile)
        .ruma(get_profile_field)
        .ruma(set_profile_field)
        .ruma(delete_profile_field);
}

/// The spec's bound on a whole profile, serialised.
const MAX_PROFILE_BYTES: usize = 64 * 1024;
/// The spec's bound on a profile key.
const MAX_KEY_BYTES: usize = 255;
/// Longest display name accepted (Synapse's limit).
const MAX_DISPLAYNAME_CHARS: usize = 256;
/// The profile fields every joined room's member event carries.
const PROPAGATED: [&str; 2] = ["displayname", "avatar_url"];

fn no_profile() -> Error {
    Error::not_found("Profile was not found")
}

/// A user's whole profile: from storage for local users, over federation for others.
async fn profile_of(state: &AppState, user_id: &UserId) -> Result<serde_json::Map<String, Value>> {
    let server = user_id.server_name().as_str();
    if server == state.server_name() {
        // A deactivated account has no profile left to show.
        match state.storage.users.get(user_id.as_str())? {
            Some(record) if !record.deactivated => {}
            _ => return Err(no_profile()),
        }
        return Ok(state.storage.users.profile(user_id.as_str())?);
    }
    if !state.config.federation.enabled {
        return Err(no_profile());
    }
    let path = format!(
        "/_matrix/federation/v1/query/profile?user_id={}",
        percent_encoding::utf8_percent_encode(user_id.as_str(), percent_encoding::NON_ALPHANUMERIC)
    );
    match state.federation.request(server, "GET", &path, None).await {
        Ok((200, Value::Object(profile))) => {
            Ok(profile.into_iter().filter(|(_, v)| !v.is_null()).collect())
        }
        Ok(_) => Err(no_profile()),
        Err(e) => {
            tracing::warn!(%server, error = %e, "remote profile lookup failed");
            Err(no_profile())
        }
    }
}

/// `GET /_matrix/client/v3/profile/{userId}`
async fn get_profile(
    state: web::Data<AppState>,
    req: Ruma<get_profile::v3::Request>,
) -> Result<get_profile::v3::Response> {
    let mut response = get_profile::v3::Response::new();
    for (field, value) in profile_of(&state, &req.body.user_id).await? {
        response.data.set(field, value);
    }
    Ok(response)
}

/// `GET /_matrix/client/v3/profile/{userId}/{keyName}`
async fn get_profile_field(
    state: web::Data<AppState>,
    req: Ruma<get_profile_field::v3::Request>,
) -> Result<get_profile_field::v3::Response> {
    let field = req.body.field.as_str();
    let Some(value) = profile_of(&state, &req.body.user_id).await?.remove(field) else {
        // An existing user without a display name or avatar gets `{}`, as from Synapse;
        // an unset custom field is not found.
        if PROPAGATED.contains(&field) {
            let placeholder = ProfileFieldValue::new(field, Value::String(String::new()))
                .map_err(Error::internal)?;
            let mut response = get_profile_field::v3::Response::new(placeholder);
            response.value = None;
            return Ok(response);
        }
        return Err(no_profile());
    };
    let value = ProfileFieldValue::new(field, value).map_err(Error::internal)?;
    Ok(get_profile_field::v3::Response::new(value))
}

/// `PUT /_matrix/client/v3/profile/{userId}/{keyName}`
async fn set_profile_field(
    state: web::Data<AppState>,
    req: Ruma<set_profile_field::v3::Request>,
) -> Result<set_profile_field::v3::Response> {
    let user_id = req.sender()?.user_id.as_str();
    if req.body.user_id.as_str() != user_id {
        return Err(Error::forbidden("Cannot set another user's profile"));
    }
    let field = req.body.value.field_name();
    let field = field.as_str();
    if field.len() > MAX_KEY_BYTES {
        return Err(Error::new(
            StatusCode::BAD_REQUEST,
            "M_KEY_TOO_LARGE",
            "Profile keys are at most 255 bytes",
        ));
    }
    let value = req.body.value.value().into_owned();
    if field == "displayname"
        && value
            .as_str()
            .is_some_and(|n| n.chars().count() > MAX_DISPLAYNAME_CHARS)
    {
        return Err(Error::invalid_param(format!(
            "Display name is longer than {MAX_DISPLAYNAME_CHARS} characters"
        )));
    }
    let mut profile = state.storage.users.profile(user_id)?;
    profile.insert(field.to_owned(), value.clone());
    if serde_json::to_vec(&profile).map_or(0, |b| b.len()) > MAX_PROFILE_BYTES {
        return Err(Error::new(
            StatusCode::BAD_REQUEST,
            "M_PROFILE_TOO_LARGE",
            "Profiles are at most 64 KiB",
        ));
    }
    let mut batch = state.storage.batch();
    if value == Value::Null {
        state
            .storage
            .users
            .remove_profile_field(&mut batch, user_id, field);
    } else {
        state
            .storage
            .users
            .set_profile_field(&mut batch, user_id, field, &value);
    }
    state.storage.commit(batch).await?;
    if PROPAGATED.contains(&field) {
        propagate_profile(&state, &req.body.user_id).await?;
    }
    Ok(set_profile_field::v3::Response::new())
}

/// `DELETE /_matrix/client/v3/profile/{userId}/{keyName}`
async fn delete_profile_field(
    state: web::Data<AppState>,
    req: Ruma<delete_profile_field::v3::Request>,
) -> Result<delete_profile_field::v3::Response> {
    let user_id = req.sender()?.user_id.as_str();
    if req.body.user_id.as_str() != user_id {
        return Err(Error::forbidden("Cannot change another user's profile"));
    }
    let mut batch = state.storage.batch();
    state
        .storage
        .users
        .remove_profile_field(&mut batch, user_id, req.body.field.as_str());
    state.storage.commit(batch).await?;
    if PROPAGATED.contains(&req.body.field.as_str()) {
        propagate_profile(&state, &req.body.user_id).await?;
    }
    Ok(delete_profile_field::v3::Response::new())
}
