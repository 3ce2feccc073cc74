//! Account registration: `/register`, `/register/available` and registration-token
//! validity.

use crate::auth::account::{create_account, create_guest_account, upgrade_guest};
use actix_web::http::StatusCode;
use actix_web::web;
use citadel_storage::now_ms;
use ruma::api::client::account::{
    check_registration_token_validity, get_username_availability, register,
};
use std::time::Duration;

use serde_json::json;

use crate::api::Routes;
use crate::api::error::{Error, Result};
use crate::api::extract::Ruma;
use crate::app::AppState;
use crate::auth::uiaa::{self, Requirement};
use crate::auth::{session, username};
use crate::config::RegistrationMode;

pub fn routes(routes: &mut Routes<'_>) {
    // Raw around ruma's types: ruma writes `"device_id": null` under inhibit_login, and
    // the spec (and SyTest) want the key absent then.
    for version in ["v3", "r0"] {
        routes.raw(
            actix_web::http::Method::POST,
            &format!("/_matrix/client/{version}/register"),
            register_without_nulls,
        );
    }
    routes
        .ruma(get_username_availability)
        .ruma(check_registration_token_validity);
}

/// `POST /_matrix/client/v3/register`, its answer written without unset keys.
async fn register_without_nulls(
    state: web::Data<AppState>,
    req: Ruma<register::v3::Request>,
) -> Result<actix_web::HttpResponse> {
    let response = register(state, req).await?;
    let mut body = json!({ "user_id": response.user_id });
    if let Some(token) = response.access_token {
        body["access_token"] = json!(token);
    }
    if let Some(device_id) = response.device_id {
        body["device_id"] = json!(device_id);
    }
    if let Some(token) = response.refresh_token {
        body["refresh_token"] = json!(token);
    }
    if let Some(expires_in) = response.expires_in {
        body["expires_in_ms"] = json!(expires_in.as_millis() as u64);
    }
    Ok(actix_web::HttpResponse::Ok().json(body))
}

async fn register(
    state: web::Data<AppState>,
    req: Ruma<register::v3::Request>,
) -> Result<register::v3::Response> {
    state.registration_limiter.check(&req.ip.to_string())?;
    let body = &req.body;
    if body.kind == register::RegistrationKind::Guest {
        return register_guest(&state, &req).await;
    }
    let flows = match state.config.registration.mode {
        RegistrationMode::Closed => return Err(Error::forbidden("Registration has been disabled")),
        RegistrationMode::Token => vec![vec![uiaa::REGISTRATION_TOKEN]],
        RegistrationMode::Open => vec![vec![uiaa::DUMMY]],
    };
    let upgrading = upgrading_guest(&state, &req).await?;

    // A later step of a session started earlier: the parameters given then stand in for
    // those left out now, and a session that already registered its account answers
    // with that account again (a retried last step whose response was lost).
    let session_id = body
        .auth
        .as_ref()
        .and_then(|a| a.session())
        .map(str::to_owned);
    let earlier = match &session_id {
        Some(id) if upgrading.is_none() => uiaa::registration_session(&state, id)?,
        _ => None,
    };
    if let Some(user_id) = earlier.as_ref().and_then(|s| s.registered_user.clone()) {
        let remembered = earlier.and_then(|s| s.remembered).unwrap_or_default();
        return logged_in(&state, &req, &user_id, &remembered).await;
    }
    let remembered = earlier.and_then(|s| s.remembered).unwrap_or_default();
    let username = body
        .username
        .clone()
        .or_else(|| remembered["username"].as_str().map(str::to_owned));

    // Check the name before authentication, so nobody completes the auth stages only to
    // learn that the name was never available.
    let localpart = match (&username, &upgrading) {
        (Some(name), Some(guest)) => {
            // A guest keeps its user ID: the name, if given, must be the guest's own.
            let localpart = username::localpart_for(name, state.server_name())?;
            if state.user_id(&localpart) != guest.as_str() {
                return Err(Error::invalid_param(
                    "A guest can only register under its own user ID",
                ));
            }
            Some(localpart)
        }
        (None, Some(guest)) => Some(guest.localpart().to_owned()),
        (Some(name), None) => {
            let localpart = username::localpart_for(name, state.server_name())?;
            if state.storage.users.exists(&state.user_id(&localpart))? {
                return Err(Error::user_in_use());
            }
            Some(localpart)
        }
        (None, None) => None,
    };
    let password_hash = match &body.password {
        Some(p) => Some(state.hasher.hash(p.clone()).await?),
        None => remembered["password_hash"].as_str().map(str::to_owned),
    };
    if body.auth.is_some() && password_hash.is_none() {
        return Err(Error::missing_param("Missing password"));
    }
    let mut params = json!({
        "inhibit_login": body.inhibit_login || remembered["inhibit_login"] == true,
        "refresh_token": body.refresh_token || remembered["refresh_token"] == true,
    });
    if let Some(name) = &username {
        params["username"] = json!(name);
    }
    if let Some(hash) = &password_hash {
        params["password_hash"] = json!(hash);
    }
    match (&body.device_id, remembered["device_id"].as_str()) {
        (Some(device), _) => params["device_id"] = json!(device),
        (None, Some(device)) => params["device_id"] = json!(device),
        _ => {}
    }
    match (
        &body.initial_device_display_name,
        remembered["initial_device_display_name"].as_str(),
    ) {
        (Some(name), _) => params["initial_device_display_name"] = json!(name),
        (None, Some(name)) => params["initial_device_display_name"] = json!(name),
        _ => {}
    }

    let need = Requirement {
        operation: "register",
        target: String::new(),
        user_id: None,
        flows,
        remember: Some(params.clone()),
    };
    let mut finished = uiaa::authorize(&state, &need, body.auth.as_ref()).await?;

    let Some(password_hash) = password_hash else {
        return Err(Error::missing_param("Missing password"));
    };
    if let Some(token) = &finished.registration_token
        && !state.storage.registration_tokens.consume(token, now_ms())?
    {
        return Err(Error::new(
            StatusCode::UNAUTHORIZED,
            "M_UNAUTHORIZED",
            "Registration token is no longer valid",
        ));
    }
    let localpart = match localpart {
        Some(l) => l,
        None => generated_localpart(&state)?,
    };
    let user_id = state.user_id(&localpart);
    match upgrading {
        Some(_) => {
            upgrade_guest(&state, &user_id, &localpart, password_hash).await?;
            tracing::info!(%user_id, "guest registered");
        }
        None => {
            create_account(&state, &user_id, &localpart, Some(password_hash), false).await?;
            tracing::info!(%user_id, "registered");
        }
    }
    if let Some(id) = &session_id {
        finished.registered_user = Some(user_id.clone());
        finished.remembered = Some(params.clone());
        state.storage.uiaa.put(id, &finished)?;
    }
    logged_in(&state, &req, &user_id, &params).await
}

/// The registration response for `user_id`: logged in on a new device unless the
/// request (or the session's first request) asked for `inhibit_login`.
async fn logged_in(
    state: &AppState,
    req: &Ruma<register::v3::Request>,
    user_id: &str,
    params: &serde_json::Value,
) -> Result<register::v3::Response> {
    let user_id_parsed = ruma::OwnedUserId::try_from(user_id).map_err(Error::internal)?;
    if params["inhibit_login"] == true {
        return Ok(register::v3::Response::new(user_id_parsed));
    }
    let new = session::start(
        state,
        user_id,
        params["device_id"].as_str().map(str::to_owned),
        params["initial_device_display_name"]
            .as_str()
            .map(str::to_owned),
        params["refresh_token"] == true,
        req.ip,
    )
    .await?;
    let mut response = register::v3::Response::new(user_id_parsed);
    response.access_token = Some(new.access_token);
    response.device_id = Some(new.device_id.into());
    response.refresh_token = new.refresh_token;
    response.expires_in = new.expires_in_ms.map(Duration::from_millis);
    Ok(response)
}

/// `POST /register?kind=guest`: a guest account, when the server allows them. All the
/// body but `initial_device_display_name` is ignored, as the spec requires; the server
/// picks the user and device IDs.
async fn register_guest(
    state: &AppState,
    req: &Ruma<register::v3::Request>,
) -> Result<register::v3::Response> {
    if !state.config.registration.allow_guests {
        return Err(Error::new(
            StatusCode::FORBIDDEN,
            "M_GUEST_ACCESS_FORBIDDEN",
            "Guest access is disabled",
        ));
    }
    let localpart = generated_localpart(state)?;
    let user_id = state.user_id(&localpart);
    create_guest_account(state, &user_id).await?;
    tracing::info!(%user_id, "guest registered");
    let new = session::start(
        state,
        &user_id,
        None,
        req.body.initial_device_display_name.clone(),
        false,
        req.ip,
    )
    .await?;
    let user_id = ruma::OwnedUserId::try_from(user_id).map_err(Error::internal)?;
    let mut response = register::v3::Response::new(user_id);
    response.access_token = Some(new.access_token);
    response.device_id = Some(new.device_id.into());
    Ok(response)
}

/// The guest a registration upgrades to a full account: named by the guest's access
/// token in the `guest_access_token` body field (the spec's "Guest access"; ruma's
/// request type does not carry it). A token that is not a guest's is refused.
async fn upgrading_guest(
    state: &AppState,
    req: &Ruma<register::v3::Request>,
) -> Result<Option<ruma::OwnedUserId>> {
    let from_body = serde_json::from_slice::<serde_json::Value>(&req.raw_body)
        .ok()
        .and_then(|body| body["guest_access_token"].as_str().map(str::to_owned));
    let Some(token) = from_body else {
        return Ok(None);
    };
    let sender = session::authenticate(state, &token, req.ip).await?;
    if !sender.guest {
        return Err(Error::forbidden("Only a guest account can be upgraded"));
    }
    Ok(Some(sender.user_id))
}

/// A free numeric localpart for registrations that did not ask for a name.
fn generated_localpart(state: &AppState) -> Result<String> {
    loop {
        let candidate = state.storage.next_id()?.to_string();
        if !state.storage.users.exists(&state.user_id(&candidate))? {
            return Ok(candidate);
        }
    }
}

/// `GET /_matrix/client/v3/register/available`
async fn get_username_availability(
    state: web::Data<AppState>,
    req: Ruma<get_username_availability::v3::Request>,
) -> Result<get_username_availability::v3::Response> {
    state.registration_limiter.check(&req.ip.to_string())?;
    if state.config.registration.mode == RegistrationMode::Closed {
        return Err(Error::forbidden("Registration has been disabled"));
    }
    let localpart = username::localpart_for(&req.body.username, state.server_name())?;
    if state.storage.users.exists(&state.user_id(&localpart))? {
        return Err(Error::user_in_use());
    }
    Ok(get_username_availability::v3::Response::new(true))
}

/// `GET /_matrix/client/v1/register/m.login.registration_token/validity`
async fn check_registration_token_validity(
    state: web::Data<AppState>,
    req: Ruma<check_registration_token_validity::v1::Request>,
) -> Result<check_registration_token_validity::v1::Response> {
    state.registration_limiter.check(&req.ip.to_string())?;
    if state.config.registration.mode != RegistrationMode::Token {
        return Err(Error::forbidden(
            "Registration tokens are not in use on this server",
        ));
    }
    let token = &req.body.token;
    crate::admin::check_registration_token(token)?;
    let valid = state
        .storage
        .registration_tokens
        .get(token)?
        .is_some_and(|t| t.is_valid(now_ms()));
    Ok(check_registration_token_validity::v1::Response::new(valid))
}
