//! Restricting an account: the spec's lock and suspension endpoints, Synapse's
//! `suspend`, shadow-banning (enforced in `auth::restrictions` and the send paths) and
//! per-user message rate overrides (`policy::rate_limit::check_send`).

use actix_web::http::{Method, StatusCode};
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::Routes;
use crate::api::admin::synapse::Admin;
use crate::api::admin::synapse::users::{existing, local_user};
use crate::api::error::{Error, Result, parse_json};
use crate::app::AppState;
use citadel_storage::users::RatelimitOverride;

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
        )
        .raw(
            Method::GET,
            "/_synapse/admin/v1/users/{user_id}/override_ratelimit",
            get_ratelimit,
        )
        .raw(
            Method::POST,
            "/_synapse/admin/v1/users/{user_id}/override_ratelimit",
            set_ratelimit,
        )
        .raw(
            Method::DELETE,
            "/_synapse/admin/v1/users/{user_id}/override_ratelimit",
            delete_ratelimit,
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

fn ratelimit_json(rate: Option<RatelimitOverride>) -> Value {
    match rate {
        Some(o) => json!({
            "messages_per_second": o.messages_per_second,
            "burst_count": o.burst_count,
        }),
        None => json!({}),
    }
}

/// `GET /_synapse/admin/v1/users/{user_id}/override_ratelimit`: the override, or `{}`.
async fn get_ratelimit(
    state: web::Data<AppState>,
    _admin: Admin,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    let user_id = local_user(&state, &path, "look up")?;
    let record = existing(&state, &user_id)?;
    Ok(HttpResponse::Ok().json(ratelimit_json(record.ratelimit_override)))
}

/// A body field that must be a non-negative integer when present (Synapse's wording).
fn rate_field(body: &Value, name: &str) -> Result<u64> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(0),
        Some(v) => v.as_u64().ok_or_else(|| {
            Error::invalid_param(format!("{name:?} parameter must be a positive int"))
        }),
    }
}

/// `POST /_synapse/admin/v1/users/{user_id}/override_ratelimit`: both zero (the
/// defaults) lifts the limit for the user.
async fn set_ratelimit(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    let user_id = local_user(&state, &path, "change")?;
    existing(&state, &user_id)?;
    let body: Value = if body.is_empty() {
        json!({})
    } else {
        parse_json(&body)?
    };
    if !body.is_object() {
        return Err(Error::bad_json("The body must be a JSON object"));
    }
    let rate = RatelimitOverride {
        messages_per_second: rate_field(&body, "messages_per_second")?,
        burst_count: rate_field(&body, "burst_count")?,
    };
    state
        .storage
        .users
        .update(&user_id, |r| r.ratelimit_override = Some(rate))?;
    state.storage.flush().await?;
    crate::audit::record(
        &state,
        crate::audit::Event::new(
            admin.0.user_id.as_str(),
            "admin.user.override_ratelimit",
            Some(&user_id),
        )
        .details(ratelimit_json(Some(rate))),
    )
    .await?;
    Ok(HttpResponse::Ok().json(ratelimit_json(Some(rate))))
}

/// `DELETE /_synapse/admin/v1/users/{user_id}/override_ratelimit`: back to the
/// configured rate.
async fn delete_ratelimit(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    let user_id = local_user(&state, &path, "change")?;
    existing(&state, &user_id)?;
    state
        .storage
        .users
        .update(&user_id, |r| r.ratelimit_override = None)?;
    state.storage.flush().await?;
    super::audited(
        &state,
        &admin,
        "admin.user.delete_ratelimit_override",
        Some(&user_id),
    )
    .await?;
    Ok(HttpResponse::Ok().json(json!({})))
}
