//! Restricting an account: the spec's lock and suspension endpoints, Synapse's
//! `suspend`, and shadow-banning (enforced in `auth::restrictions` and the send paths).

use actix_web::http::{Method, StatusCode};
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::Routes;
use crate::api::admin::synapse::Admin;
use crate::api::admin::synapse::users::{existing, local_user};
use crate::api::error::{Error, Result, parse_json};
use crate::app::AppState;

pub fn routes(routes: &mut Routes<'_>) {
    routes
        .raw(
            Method::PUT,
            "/_synapse/admin/v1/suspend/{user_id}",
            synapse_suspend,
        )
        .raw(
            Method::GET,
            "/_matrix/client/v1/admin/suspend/{user_id}",
            get_suspended,
        )
        .raw(
            Method::PUT,
            "/_matrix/client/v1/admin/suspend/{user_id}",
            put_suspended,
        )
        .raw(
            Method::GET,
            "/_matrix/client/v1/admin/lock/{user_id}",
            get_locked,
        )
        .raw(
            Method::PUT,
            "/_matrix/client/v1/admin/lock/{user_id}",
            put_locked,
        )
        .raw(
            Method::POST,
            "/_synapse/admin/v1/users/{user_id}/shadow_ban",
            shadow_ban,
        )
        .raw(
            Method::DELETE,
            "/_synapse/admin/v1/users/{user_id}/shadow_ban",
            lift_shadow_ban,
        );
}

/// Sets a user's lock or suspension, for the admin endpoints below.
async fn restrict(
    state: &AppState,
    admin: &Admin,
    raw_user: &str,
    lock: bool,
    on: bool,
) -> Result<()> {
    let user_id = local_user(state, raw_user, "restrict")?;
    existing(state, &user_id)?;
    if on && admin.0.user_id.as_str() == user_id {
        return Err(Error::unknown(
            StatusCode::BAD_REQUEST,
            "You may not lock or suspend yourself.",
        ));
    }
    state.storage.users.update(&user_id, |r| {
        if lock {
            r.locked = on;
        } else {
            r.suspended = on;
        }
    })?;
    state.storage.flush().await?;
    let action = match (lock, on) {
        (true, true) => "admin.user.lock",
        (true, false) => "admin.user.unlock",
        (false, true) => "admin.user.suspend",
        (false, false) => "admin.user.unsuspend",
    };
    super::audited(state, admin, action, Some(&user_id)).await
}

#[derive(Deserialize)]
struct SynapseSuspend {
    suspend: bool,
}

/// `PUT /_synapse/admin/v1/suspend/{user_id}`
async fn synapse_suspend(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    let change: SynapseSuspend = parse_json(&body)?;
    restrict(&state, &admin, &path, false, change.suspend).await?;
    let user_id = path.into_inner();
    Ok(HttpResponse::Ok().json(json!({ format!("user_{user_id}_suspended"): change.suspend })))
}

/// `{"suspended": …}` or `{"locked": …}`, the spec's bodies and answers.
fn restriction_field(lock: bool) -> &'static str {
    if lock { "locked" } else { "suspended" }
}

fn read_restriction(state: &AppState, raw: &str, lock: bool) -> Result<HttpResponse> {
    let user_id = local_user(state, raw, "look up")?;
    let record = existing(state, &user_id)?;
    let on = if lock {
        record.locked
    } else {
        record.suspended
    };
    Ok(HttpResponse::Ok().json(json!({ restriction_field(lock): on })))
}

async fn write_restriction(
    state: &AppState,
    admin: &Admin,
    raw: &str,
    body: &[u8],
    lock: bool,
) -> Result<HttpResponse> {
    let field = restriction_field(lock);
    let value: Value = parse_json(body)?;
    let on = match value.get(field) {
        Some(Value::Bool(on)) => *on,
        Some(_) => return Err(Error::bad_json(format!("{field} must be a boolean"))),
        None => return Err(Error::missing_param(format!("missing field `{field}`"))),
    };
    restrict(state, admin, raw, lock, on).await?;
    Ok(HttpResponse::Ok().json(json!({ field: on })))
}

/// `GET /_matrix/client/v1/admin/suspend/{userId}`
async fn get_suspended(
    state: web::Data<AppState>,
    _admin: Admin,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    read_restriction(&state, &path, false)
}

/// `PUT /_matrix/client/v1/admin/suspend/{userId}`
async fn put_suspended(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    write_restriction(&state, &admin, &path, &body, false).await
}

/// `GET /_matrix/client/v1/admin/lock/{userId}`
async fn get_locked(
    state: web::Data<AppState>,
    _admin: Admin,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    read_restriction(&state, &path, true)
}

/// `PUT /_matrix/client/v1/admin/lock/{userId}`
async fn put_locked(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    write_restriction(&state, &admin, &path, &body, true).await
}

async fn set_shadow_ban(
    state: &AppState,
    admin: &Admin,
    raw: &str,
    on: bool,
) -> Result<HttpResponse> {
    let user_id = local_user(state, raw, "shadow-ban")?;
    existing(state, &user_id)?;
    state
        .storage
        .users
        .update(&user_id, |r| r.shadow_banned = on)?;
    state.storage.flush().await?;
    let action = if on {
        "admin.user.shadow_ban"
    } else {
        "admin.user.shadow_unban"
    };
    super::audited(state, admin, action, Some(&user_id)).await?;
    Ok(HttpResponse::Ok().json(json!({})))
}

/// `POST /_synapse/admin/v1/users/{user_id}/shadow_ban`: what they send (messages, state,
/// invites) is acknowledged but reaches no one.
async fn shadow_ban(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    set_shadow_ban(&state, &admin, &path, true).await
}

/// `DELETE /_synapse/admin/v1/users/{user_id}/shadow_ban`
async fn lift_shadow_ban(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    set_shadow_ban(&state, &admin, &path, false).await
}
