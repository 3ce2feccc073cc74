//! The account itself: `/account/whoami`, `/account/password`, `/account/deactivate`,
//! `/account/3pid`.

use actix_web::http::Method;
use actix_web::{HttpResponse, web};
use ruma::api::client::account::{ThirdPartyIdRemovalStatus, change_password, deactivate, whoami};
use serde_json::json;

use crate::api::Routes;
use crate::api::error::{Error, Result};
use crate::api::extract::{Authed, Ruma};
use crate::app::AppState;
use crate::auth::account::deactivate_account;
use crate::auth::session;
use crate::auth::uiaa::{self, Requirement};

pub fn routes(routes: &mut Routes<'_>) {
    routes
        .ruma(whoami)
        .ruma(change_password)
        .ruma(deactivate)
        .raw(Method::GET, "/_matrix/client/v3/account/3pid", get_3pids)
        .raw(Method::GET, "/_matrix/client/r0/account/3pid", get_3pids);
}

/// `GET /_matrix/client/v3/account/whoami`
async fn whoami(
    _state: web::Data<AppState>,
    req: Ruma<whoami::v3::Request>,
) -> Result<whoami::v3::Response> {
    let sender = req.sender()?;
    let mut response = whoami::v3::Response::new(sender.user_id.clone(), false);
    response.device_id = Some(sender.device_id.clone());
    Ok(response)
}

/// `POST /_matrix/client/v3/account/password`
///
/// By default every other device is logged out (`logout_devices`), so a stolen session
/// does not survive a password change.
async fn change_password(
    state: web::Data<AppState>,
    req: Ruma<change_password::v3::Request>,
) -> Result<change_password::v3::Response> {
    let sender = req.sender()?;
    let user_id = sender.user_id.as_str();
    let need = Requirement {
        operation: "change_password",
        target: String::new(),
        user_id: Some(user_id),
        flows: vec![vec![uiaa::PASSWORD]],
        remember: None,
    };
    uiaa::authorize(&state, &need, req.body.auth.as_ref()).await?;

    let hash = state.hasher.hash(req.body.new_password.clone()).await?;
    state
        .storage
        .users
        .update(user_id, |record| record.password_hash = Some(hash.clone()))?
        .ok_or_else(|| Error::internal("authenticated user has no account record"))?;
    let mut batch = state.storage.batch();
    if req.body.logout_devices {
        for (device_id, _) in state.storage.devices.list(user_id)? {
            if device_id != sender.device_id.as_str() {
                session::remove_device(&state, &mut batch, user_id, &device_id)?;
            }
        }
    }
    session::commit_device_removal(&state, batch, user_id).await?;
    tracing::info!(%user_id, "password changed");
    crate::audit::user_action(&state, user_id, "password_change", Some(user_id)).await;
    Ok(change_password::v3::Response::new())
}

/// `POST /_matrix/client/v3/account/deactivate`
///
/// The account can never log in again and its ID is never reissued; its devices, tokens
/// and profile are removed.
async fn deactivate(
    state: web::Data<AppState>,
    req: Ruma<deactivate::v3::Request>,
) -> Result<deactivate::v3::Response> {
    let sender = req.sender()?;
    let user_id = sender.user_id.as_str();
    let need = Requirement {
        operation: "deactivate",
        target: String::new(),
        user_id: Some(user_id),
        flows: vec![vec![uiaa::PASSWORD]],
        remember: None,
    };
    uiaa::authorize(&state, &need, req.body.auth.as_ref()).await?;
    deactivate_account(&state, user_id, req.body.erase).await?;
    tracing::info!(%user_id, "account deactivated");
    crate::audit::user_action(&state, user_id, "deactivate", Some(user_id)).await;
    Ok(deactivate::v3::Response::new(
        ThirdPartyIdRemovalStatus::NoSupport,
    ))
}

/// `GET /_matrix/client/v3/account/3pid`: the identifiers an admin attached (Citadel
/// binds none itself); the list is spelled out even when empty, as Synapse does, where
/// ruma's type would omit it.
async fn get_3pids(
    state: web::Data<AppState>,
    Authed(sender): Authed,
) -> crate::api::error::Result<HttpResponse> {
    let threepids = state.storage.threepids.of(sender.user_id.as_str())?;
    Ok(HttpResponse::Ok().json(json!({ "threepids": threepids })))
}
