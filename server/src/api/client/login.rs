//! Sessions: `/login` (password and single-use login tokens), `/refresh`, `/logout`,
//! `/logout/all` and `/login/get_token`.

use std::time::Duration;

use actix_web::http::{Method, StatusCode};
use actix_web::{HttpResponse, web};
use citadel_storage::now_ms;
use citadel_storage::tokens::LoginToken;
use ruma::api::client::session::{get_login_token, login, logout, logout_all, refresh_token};
use ruma::api::client::uiaa::UserIdentifier;
use serde_json::json;

use crate::api::Routes;
use crate::api::error::{Error, Result};
use crate::api::extract::Ruma;
use crate::app::AppState;
use crate::auth::uiaa::{self, Requirement};
use crate::auth::{session, token};

pub fn routes(routes: &mut Routes<'_>) {
    routes
        .raw(Method::GET, "/_matrix/client/v3/login", get_login_types)
        .raw(Method::GET, "/_matrix/client/r0/login", get_login_types)
        .ruma(login)
        .ruma(refresh_token)
        .ruma(logout)
        .ruma(logout_all)
        .ruma(get_login_token);
}

/// `GET /_matrix/client/v3/login`
async fn get_login_types() -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "flows": [
            { "type": "m.login.password" },
            { "type": "m.login.token", "get_login_token": true },
        ]
    }))
}

fn invalid_credentials() -> Error {
    Error::forbidden("Invalid username or password")
}

fn deactivated() -> Error {
    Error::new(
        StatusCode::FORBIDDEN,
        "M_USER_DEACTIVATED",
        "This account has been deactivated",
    )
}

/// `POST /_matrix/client/v3/login`
async fn login(
    state: web::Data<AppState>,
    req: Ruma<login::v3::Request>,
) -> Result<login::v3::Response> {
    state.login_limiter.check(&req.ip.to_string())?;
    let body = &req.body;
    let user_id = match &body.login_info {
        login::v3::LoginInfo::Password(p) => {
            // `user` is the pre-r0.4 form that older clients still send.
            #[allow(deprecated)]
            let claimed = match (&p.identifier, &p.user) {
                (Some(UserIdentifier::Matrix(id)), _) => id.user.clone(),
                (Some(_), _) => {
                    return Err(Error::new(
                        StatusCode::BAD_REQUEST,
                        "M_UNKNOWN",
                        "Only m.id.user identifiers are supported",
                    ));
                }
                (None, Some(user)) => user.clone(),
                (None, None) => return Err(Error::missing_param("Missing identifier")),
            };
            match check_password(&state, &claimed, &p.password).await {
                Ok(user_id) => user_id,
                Err(e) => {
                    state.metrics.login_failed();
                    let target = if claimed.starts_with('@') {
                        claimed.to_ascii_lowercase()
                    } else {
                        state.user_id(&claimed.to_ascii_lowercase())
                    };
                    let event = crate::audit::Event::new(&target, "login_failed", Some(&target))
                        .from_address(Some(req.ip.to_string()), None);
                    let _ = crate::audit::record(&state, event).await;
                    return Err(e);
                }
            }
        }
        login::v3::LoginInfo::Token(t) => {
            let record = state.storage.tokens.take_login(&token::hash(&t.token))?;
            let record = record
                .filter(|r| now_ms() < r.expires_at)
                .ok_or_else(|| Error::forbidden("Invalid or expired login token"))?;
            match state.storage.users.get(&record.user_id)? {
                Some(user) if user.deactivated => return Err(deactivated()),
                Some(user) if user.locked => return Err(crate::auth::restrictions::locked()),
                Some(_) => record.user_id,
                None => return Err(Error::forbidden("Invalid or expired login token")),
            }
        }
        _ => {
            return Err(Error::new(
                StatusCode::BAD_REQUEST,
                "M_UNKNOWN",
                "Unknown login type",
            ));
        }
    };

    let new = session::start(
        &state,
        &user_id,
        body.device_id.as_ref().map(|d| d.to_string()),
        body.initial_device_display_name.clone(),
        body.refresh_token,
        req.ip,
    )
    .await?;
    tracing::info!(%user_id, device_id = %new.device_id, "logged in");
    let event = crate::audit::Event::new(&user_id, "login", Some(&user_id))
        .from_address(Some(req.ip.to_string()), None)
        .details(serde_json::json!({ "device_id": new.device_id }));
    let _ = crate::audit::record(&state, event).await;
    let user_id = ruma::OwnedUserId::try_from(user_id).map_err(Error::internal)?;
    let mut response = login::v3::Response::new(user_id, new.access_token, new.device_id.into());
    #[allow(deprecated)]
    {
        response.home_server = ruma::OwnedServerName::try_from(state.server_name()).ok();
    }
    response.refresh_token = new.refresh_token;
    response.expires_in = new.expires_in_ms.map(Duration::from_millis);
    Ok(response)
}

/// Resolves a login identifier and checks the password; every failure looks the same to
/// the client (and takes about as long), so logins cannot probe which accounts exist.
async fn check_password(state: &AppState, claimed: &str, given: &str) -> Result<String> {
    let user_id = if claimed.starts_with('@') {
        claimed.to_ascii_lowercase()
    } else {
        state.user_id(&claimed.to_ascii_lowercase())
    };
    state.failed_login_limiter.peek(&user_id)?;
    let record = state.storage.users.get(&user_id)?;
    let Some(hash) = record.as_ref().and_then(|r| r.password_hash.clone()) else {
        state.hasher.burn_equivalent_time().await;
        state.failed_login_limiter.record(&user_id);
        return Err(invalid_credentials());
    };
    if !state.hasher.verify(hash, given.to_owned()).await? {
        state.failed_login_limiter.record(&user_id);
        return Err(invalid_credentials());
    }
    if record.as_ref().is_some_and(|r| r.deactivated) {
        return Err(deactivated());
    }
    if record.is_some_and(|r| r.locked) {
        return Err(crate::auth::restrictions::locked());
    }
    Ok(user_id)
}

/// `POST /_matrix/client/v3/refresh`
async fn refresh_token(
    state: web::Data<AppState>,
    req: Ruma<refresh_token::v3::Request>,
) -> Result<refresh_token::v3::Response> {
    let new = session::refresh(&state, &req.body.refresh_token).await?;
    let mut response = refresh_token::v3::Response::new(new.access_token);
    response.refresh_token = new.refresh_token;
    response.expires_in_ms = new.expires_in_ms.map(Duration::from_millis);
    Ok(response)
}

/// `POST /_matrix/client/v3/logout`: deletes the calling device and its tokens.
async fn logout(
    state: web::Data<AppState>,
    req: Ruma<logout::v3::Request>,
) -> Result<logout::v3::Response> {
    let sender = req.sender()?;
    let mut batch = state.storage.batch();
    session::remove_device(
        &state,
        &mut batch,
        sender.user_id.as_str(),
        sender.device_id.as_str(),
    )?;
    session::commit_device_removal(&state, batch, sender.user_id.as_str()).await?;
    let (user_id, device_id) = (sender.user_id.as_str(), sender.device_id.as_str());
    crate::audit::user_action(&state, user_id, "logout", Some(device_id)).await;
    Ok(logout::v3::Response::new())
}

/// `POST /_matrix/client/v3/logout/all`: deletes every device of the user.
async fn logout_all(
    state: web::Data<AppState>,
    req: Ruma<logout_all::v3::Request>,
) -> Result<logout_all::v3::Response> {
    let user_id = req.sender()?.user_id.as_str();
    let mut batch = state.storage.batch();
    for (device_id, _) in state.storage.devices.list(user_id)? {
        session::remove_device(&state, &mut batch, user_id, &device_id)?;
    }
    session::commit_device_removal(&state, batch, user_id).await?;
    crate::audit::user_action(&state, user_id, "logout_all", Some(user_id)).await;
    Ok(logout_all::v3::Response::new())
}

/// `POST /_matrix/client/v1/login/get_token`: a short-lived single-use `m.login.token`
/// for signing in another device, after re-entering the password.
async fn get_login_token(
    state: web::Data<AppState>,
    req: Ruma<get_login_token::v1::Request>,
) -> Result<get_login_token::v1::Response> {
    let sender = req.sender()?;
    state.login_limiter.check(&req.ip.to_string())?;
    let need = Requirement {
        operation: "get_login_token",
        target: String::new(),
        user_id: Some(sender.user_id.as_str()),
        flows: vec![vec![uiaa::PASSWORD]],
        remember: None,
    };
    uiaa::authorize(&state, &need, req.body.auth.as_ref()).await?;
    let lifetime = state.config.auth.login_token_lifetime_ms;
    let login_token = token::generate(token::LOGIN_PREFIX);
    let record = LoginToken {
        user_id: sender.user_id.to_string(),
        expires_at: now_ms() + lifetime,
    };
    state
        .storage
        .tokens
        .put_login(&token::hash(&login_token), &record)?;
    state.storage.flush().await?;
    Ok(get_login_token::v1::Response::new(
        Duration::from_millis(lifetime),
        login_token,
    ))
}
