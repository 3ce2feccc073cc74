//! Account data: `/user/{userId}/account_data/{type}` and the per-room variant.

use actix_web::http::StatusCode;
use actix_web::web;
use ruma::UserId;
use ruma::api::client::config::{
    get_global_account_data, get_room_account_data, set_global_account_data, set_room_account_data,
};
use ruma::serde::Raw;
use serde_json::value::RawValue;

use crate::api::Routes;
use crate::api::error::{Error, Result};
use crate::api::extract::Ruma;
use crate::app::AppState;

pub fn routes(routes: &mut Routes<'_>) {
    routes
        .ruma(get_global_account_data)
        .ruma(set_global_account_data)
        .ruma(get_room_account_data)
        .ruma(set_room_account_data);
}

fn own_data(sender: &UserId, target: &UserId, verb: &str) -> Result<()> {
    if sender != target {
        return Err(Error::forbidden(format!(
            "Cannot {verb} account data for other users."
        )));
    }
    Ok(())
}

fn not_found() -> Error {
    Error::not_found("Account data not found")
}

/// Content must be a JSON object, and types the server manages itself are refused.
fn check_settable(kind: &str, content: &RawValue, server_managed: &[&str]) -> Result<()> {
    if server_managed.contains(&kind) {
        return Err(Error::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "M_BAD_JSON",
            format!("Cannot set {kind} through this API."),
        ));
    }
    if !content.get().trim_start().starts_with('{') {
        return Err(Error::bad_json(
            "Account data content must be a JSON object",
        ));
    }
    Ok(())
}

async fn store(
    state: &AppState,
    user_id: &str,
    room_id: Option<&str>,
    kind: &str,
    content: &RawValue,
) -> Result<()> {
    crate::api::error::ensure_canonical(content)?;
    crate::account_data::store(state, user_id, room_id, kind, content).await
}

/// `GET /_matrix/client/v3/user/{userId}/account_data/{type}`
async fn get_global_account_data(
    state: web::Data<AppState>,
    req: Ruma<get_global_account_data::v3::Request>,
) -> Result<get_global_account_data::v3::Response> {
    own_data(&req.sender()?.user_id, &req.body.user_id, "get")?;
    let kind = req.body.event_type.to_string();
    let content = state
        .storage
        .account_data
        .get(req.body.user_id.as_str(), None, &kind)?
        .ok_or_else(not_found)?;
    Ok(get_global_account_data::v3::Response::new(Raw::from_json(
        content,
    )))
}

/// `PUT /_matrix/client/v3/user/{userId}/account_data/{type}`
async fn set_global_account_data(
    state: web::Data<AppState>,
    req: Ruma<set_global_account_data::v3::Request>,
) -> Result<set_global_account_data::v3::Response> {
    own_data(&req.sender()?.user_id, &req.body.user_id, "add")?;
    let kind = req.body.event_type.to_string();
    check_settable(&kind, req.body.data.json(), &["m.push_rules"])?;
    store(
        &state,
        req.body.user_id.as_str(),
        None,
        &kind,
        req.body.data.json(),
    )
    .await?;
    Ok(set_global_account_data::v3::Response::new())
}

/// `GET /_matrix/client/v3/user/{userId}/rooms/{roomId}/account_data/{type}`
async fn get_room_account_data(
    state: web::Data<AppState>,
    req: Ruma<get_room_account_data::v3::Request>,
) -> Result<get_room_account_data::v3::Response> {
    own_data(&req.sender()?.user_id, &req.body.user_id, "get")?;
    let kind = req.body.event_type.to_string();
    let content = state
        .storage
        .account_data
        .get(
            req.body.user_id.as_str(),
            Some(req.body.room_id.as_str()),
            &kind,
        )?
        .ok_or_else(not_found)?;
    Ok(get_room_account_data::v3::Response::new(Raw::from_json(
        content,
    )))
}

/// `PUT /_matrix/client/v3/user/{userId}/rooms/{roomId}/account_data/{type}`
async fn set_room_account_data(
    state: web::Data<AppState>,
    req: Ruma<set_room_account_data::v3::Request>,
) -> Result<set_room_account_data::v3::Response> {
    own_data(&req.sender()?.user_id, &req.body.user_id, "add")?;
    let kind = req.body.event_type.to_string();
    check_settable(&kind, req.body.data.json(), &["m.fully_read"])?;
    store(
        &state,
        req.body.user_id.as_str(),
        Some(req.body.room_id.as_str()),
        &kind,
        req.body.data.json(),
    )
    .await?;
    Ok(set_room_account_data::v3::Response::new())
}
