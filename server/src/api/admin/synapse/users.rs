//! Synapse's user admin API: list, query, create or modify, deactivate, the admin flag,
//! and `whois` (also at the spec's `/_matrix/client/v3/admin/whois/{userId}`).

use std::collections::HashMap;

use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, web};
use citadel_storage::users::UserRecord;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::Routes;
use crate::api::admin::synapse::Admin;
use crate::api::error::{Error, Result, parse_json};
use crate::app::AppState;

pub fn routes(routes: &mut Routes<'_>) {
    routes
        .raw(Method::GET, "/_synapse/admin/v2/users", list_v2)
        .raw(Method::GET, "/_synapse/admin/v3/users", list_v3)
        .raw(Method::GET, "/_synapse/admin/v2/users/{user_id}", get_user)
        .raw(Method::PUT, "/_synapse/admin/v2/users/{user_id}", put_user)
        .raw(
            Method::POST,
            "/_synapse/admin/v1/deactivate/{user_id}",
            deactivate,
        )
        .raw(
            Method::POST,
            "/_synapse/admin/v1/reset_password/{user_id}",
            reset_password,
        )
        .raw(
            Method::GET,
            "/_synapse/admin/v1/users/{user_id}/admin",
            get_admin,
        )
        .raw(
            Method::PUT,
            "/_synapse/admin/v1/users/{user_id}/admin",
            put_admin,
        );
}

/// A user ID from the path that must be one of this server's.
pub(crate) fn local_user(state: &AppState, raw: &str, what: &str) -> Result<String> {
    let user_id = ruma::UserId::parse(raw)
        .map_err(|_| Error::invalid_param(format!("Invalid user ID {raw:?}")))?;
    if user_id.server_name().as_str() != state.server_name() {
        return Err(Error::unknown(
            StatusCode::BAD_REQUEST,
            format!("Can only {what} local users"),
        ));
    }
    Ok(user_id.to_string())
}

pub(crate) fn existing(state: &AppState, user_id: &str) -> Result<UserRecord> {
    state
        .storage
        .users
        .get(user_id)?
        .ok_or_else(|| Error::not_found("User not found"))
}

/// The user as Synapse describes them (`GET /v2/users/{id}` and list entries).
fn user_info(state: &AppState, user_id: &str, record: &UserRecord) -> Result<Value> {
    let profile = state.storage.users.profile(user_id)?;
    let last_seen = state
        .storage
        .devices
        .list(user_id)?
        .iter()
        .filter_map(|(_, d)| d.last_seen_ts)
        .max();
    Ok(json!({
        "name": user_id,
        "displayname": profile.get("displayname").cloned().unwrap_or(Value::Null),
        "avatar_url": profile.get("avatar_url").cloned().unwrap_or(Value::Null),
        "threepids": state.storage.threepids.of(user_id)?,
        "external_ids": [],
        "is_guest": false,
        "admin": record.admin,
        "deactivated": record.deactivated,
        "erased": record.erased,
        "shadow_banned": record.shadow_banned,
        "creation_ts": record.created_ts,
        "last_seen_ts": last_seen,
        "appservice_id": null,
        "consent_server_notice_sent": null,
        "consent_version": null,
        "consent_ts": null,
        "user_type": record.user_type,
        "locked": record.locked,
        "suspended": record.suspended,
        "approved": true,
    }))
}

/// One user, as `GET` and `PUT /v2/users/{id}` answer: Synapse gives `creation_ts` in
/// seconds here (its lists give milliseconds), and panels convert accordingly.
fn one_user_info(state: &AppState, user_id: &str, record: &UserRecord) -> Result<Value> {
    let mut info = user_info(state, user_id, record)?;
    info["creation_ts"] = json!(record.created_ts / 1000);
    Ok(info)
}

pub(crate) fn query(req: &HttpRequest) -> HashMap<String, String> {
    web::Query::<HashMap<String, String>>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .unwrap_or_default()
}

/// A boolean query parameter as Synapse reads it: `true` or `false`, anything else 400.
pub(crate) fn bool_param(query: &HashMap<String, String>, name: &str) -> Result<Option<bool>> {
    match query.get(name).map(String::as_str) {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(other) => Err(Error::invalid_param(format!(
            "Boolean query parameter {name:?} must be one of ['true', 'false'], not {other:?}"
        ))),
    }
}

pub(crate) fn int_param(query: &HashMap<String, String>, name: &str, default: u64) -> Result<u64> {
    match query.get(name) {
        None => Ok(default),
        Some(text) => text.parse().map_err(|_| {
            Error::invalid_param(format!(
                "Query parameter {name:?} must be a non-negative integer"
            ))
        }),
    }
}

/// `GET /_synapse/admin/v2/users`
async fn list_v2(
    state: web::Data<AppState>,
    _admin: Admin,
    req: HttpRequest,
) -> Result<HttpResponse> {
    let q = query(&req);
    // v2: deactivated users only when asked for.
    let deactivated = if bool_param(&q, "deactivated")? == Some(true) {
        None
    } else {
        Some(false)
    };
    list(&state, &q, deactivated)
}

/// `GET /_synapse/admin/v3/users`
async fn list_v3(
    state: web::Data<AppState>,
    _admin: Admin,
    req: HttpRequest,
) -> Result<HttpResponse> {
    let q = query(&req);
    let deactivated = bool_param(&q, "deactivated")?;
    list(&state, &q, deactivated)
}

fn list(
    state: &AppState,
    q: &HashMap<String, String>,
    deactivated: Option<bool>,
) -> Result<HttpResponse> {
    let from = int_param(q, "from", 0)? as usize;
    let limit = int_param(q, "limit", 100)? as usize;
    let admins = bool_param(q, "admins")?;
    bool_param(q, "guests")?;
    let dir = q.get("dir").map(String::as_str).unwrap_or("f");
    if dir != "f" && dir != "b" {
        return Err(Error::invalid_param("dir must be f or b"));
    }
    let order_by = q.get("order_by").map(String::as_str).unwrap_or("name");
    // Citadel's own filter (the admin panel's): only accounts in one state.
    let only = q.get("only").map(String::as_str);
    if only.is_some_and(|o| !["locked", "suspended", "shadow_banned"].contains(&o)) {
        return Err(Error::invalid_param(
            "only must be locked, suspended or shadow_banned",
        ));
    }
    let name_filter = q.get("name").map(|s| s.to_lowercase());
    let id_filter = q.get("user_id").map(|s| s.to_lowercase());
    let mut users = Vec::new();
    for (user_id, record) in state.storage.users.list()? {
        if deactivated.is_some_and(|d| d != record.deactivated) {
            continue;
        }
        if admins.is_some_and(|a| a != record.admin) {
            continue;
        }
        let wanted = match only {
            None => true,
            Some("locked") => record.locked,
            Some("suspended") => record.suspended,
            Some("shadow_banned") => record.shadow_banned,
            Some(_) => false,
        };
        if !wanted {
            continue;
        }
        let info = user_info(state, &user_id, &record)?;
        let matches = match (&name_filter, &id_filter) {
            (Some(name), _) => {
                let localpart = user_id[1..].split(':').next().unwrap_or_default();
                localpart.to_lowercase().contains(name.as_str())
                    || info["displayname"]
                        .as_str()
                        .is_some_and(|d| d.to_lowercase().contains(name.as_str()))
            }
            (None, Some(id)) => user_id.to_lowercase().contains(id.as_str()),
            (None, None) => true,
        };
        if matches {
            users.push(info);
        }
    }
    let key = |v: &Value| -> (String, String) {
        let field = match order_by {
            "name" => Value::Null,
            other => v[other].clone(),
        };
        let sortable = match field {
            Value::Null => String::new(),
            Value::Bool(b) => u8::from(b).to_string(),
            Value::Number(n) => format!("{:020}", n.as_u64().unwrap_or(0)),
            Value::String(s) => s,
            other => other.to_string(),
        };
        (sortable, v["name"].as_str().unwrap_or_default().to_owned())
    };
    const ORDERS: [&str; 10] = [
        "name",
        "is_guest",
        "admin",
        "user_type",
        "deactivated",
        "shadow_banned",
        "displayname",
        "avatar_url",
        "creation_ts",
        "last_seen_ts",
    ];
    if !ORDERS.contains(&order_by) && order_by != "locked" {
        return Err(Error::invalid_param(format!(
            "Unknown value for order_by: {order_by:?}"
        )));
    }
    users.sort_by_key(key);
    if dir == "b" {
        users.reverse();
    }
    let total = users.len();
    let page: Vec<Value> = users.into_iter().skip(from).take(limit).collect();
    let mut body = json!({ "users": page, "total": total });
    if from + limit < total {
        body["next_token"] = json!((from + limit).to_string());
    }
    Ok(HttpResponse::Ok().json(body))
}

/// `GET /_synapse/admin/v2/users/{user_id}`
async fn get_user(
    state: web::Data<AppState>,
    _admin: Admin,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    let user_id = local_user(&state, &path, "look up")?;
    let record = existing(&state, &user_id)?;
    Ok(HttpResponse::Ok().json(one_user_info(&state, &user_id, &record)?))
}

#[derive(Deserialize)]
struct PutUser {
    password: Option<String>,
    #[serde(default = "yes")]
    logout_devices: bool,
    displayname: Option<String>,
    avatar_url: Option<String>,
    admin: Option<bool>,
    deactivated: Option<bool>,
    #[serde(default)]
    user_type: Option<String>,
    locked: Option<bool>,
    /// Replaces the user's identifiers: `[{"medium", "address"}]`.
    threepids: Option<Vec<Value>>,
}

fn yes() -> bool {
    true
}

/// `PUT /_synapse/admin/v2/users/{user_id}`: creates the user (201) or changes them (200).
async fn put_user(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    let user_id = local_user(&state, &path, "modify")?;
    let change: PutUser = parse_json(&body)?;
    if let Some(kind) = &change.user_type
        && kind != "bot"
        && kind != "support"
    {
        return Err(Error::unknown(StatusCode::BAD_REQUEST, "Invalid user type"));
    }
    if change.password.as_ref().is_some_and(|p| p.len() > 512) {
        return Err(Error::unknown(StatusCode::BAD_REQUEST, "Invalid password"));
    }
    let hash = match &change.password {
        Some(password) => Some(state.hasher.hash(password.clone()).await?),
        None => None,
    };
    let threepids = match &change.threepids {
        Some(list) => Some(super::threepids::wanted(&state, &user_id, list)?),
        None => None,
    };
    let existing_record = state.storage.users.get(&user_id)?;
    // Coming back needs a new password (as in Synapse, where deactivation clears it).
    if let Some(record) = &existing_record
        && record.deactivated
        && change.deactivated == Some(false)
        && hash.is_none()
    {
        return Err(Error::unknown(
            StatusCode::BAD_REQUEST,
            "Must provide a password to re-activate an account.",
        ));
    }
    let created = match existing_record {
        Some(_) => false,
        None => {
            let localpart = crate::auth::username::localpart_for(
                user_id[1..].split(':').next().unwrap_or_default(),
                state.server_name(),
            )?;
            crate::auth::account::create_account(
                &state,
                &user_id,
                &localpart,
                hash.clone(),
                change.admin.unwrap_or(false),
            )
            .await?;
            true
        }
    };
    if !created && change.admin == Some(false) && admin.0.user_id.as_str() == user_id {
        return Err(Error::unknown(
            StatusCode::BAD_REQUEST,
            "You may not demote yourself.",
        ));
    }
    state.storage.users.update(&user_id, |record| {
        if let Some(hash) = &hash {
            record.password_hash = Some(hash.clone());
        }
        if let Some(flag) = change.admin {
            record.admin = flag;
        }
        if change.user_type.is_some() {
            record.user_type = change.user_type.clone();
        }
        if let Some(locked) = change.locked {
            record.locked = locked;
        }
    })?;
    let mut batch = state.storage.batch();
    for (field, value) in [
        ("displayname", &change.displayname),
        ("avatar_url", &change.avatar_url),
    ] {
        match value.as_deref() {
            None => {}
            Some("") => state
                .storage
                .users
                .remove_profile_field(&mut batch, &user_id, field),
            Some(v) => {
                state
                    .storage
                    .users
                    .set_profile_field(&mut batch, &user_id, field, &json!(v))
            }
        }
    }
    state.storage.commit(batch).await?;
    if !created && hash.is_some() && change.logout_devices {
        let mut batch = state.storage.batch();
        for (device_id, _) in state.storage.devices.list(&user_id)? {
            crate::auth::session::remove_device(&state, &mut batch, &user_id, &device_id)?;
        }
        crate::auth::session::commit_device_removal(&state, batch, &user_id).await?;
    }
    if let Some(wanted) = threepids {
        super::threepids::set(&state, &user_id, wanted)?;
    }
    if change.deactivated == Some(true) {
        crate::auth::account::deactivate_account(&state, &user_id, false).await?;
    } else if change.deactivated == Some(false) {
        state.storage.users.update(&user_id, |record| {
            record.deactivated = false;
            record.erased = false;
        })?;
    }
    tracing::info!(admin = %admin.0.user_id, %user_id, created, "user changed by an admin");
    let action = if created {
        "admin.user.create"
    } else {
        "admin.user.modify"
    };
    let details = json!({
        "password_changed": change.password.is_some(),
        "admin": change.admin,
        "deactivated": change.deactivated,
        "locked": change.locked,
    });
    crate::audit::record(
        &state,
        crate::audit::Event::new(admin.0.user_id.as_str(), action, Some(&user_id)).details(details),
    )
    .await?;
    let record = existing(&state, &user_id)?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(HttpResponse::build(status).json(one_user_info(&state, &user_id, &record)?))
}

/// `POST /_synapse/admin/v1/deactivate/{user_id}`
async fn deactivate(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    // The body is optional; `erase` must be a boolean when given.
    let erase = if body.iter().all(u8::is_ascii_whitespace) {
        false
    } else {
        let request: Value = parse_json(&body)?;
        match request.get("erase") {
            None => false,
            Some(Value::Bool(erase)) => *erase,
            Some(_) => return Err(Error::bad_json("Param 'erase' must be a boolean, if given")),
        }
    };
    let user_id = local_user(&state, &path, "deactivate")?;
    existing(&state, &user_id)?;
    crate::auth::account::deactivate_account(&state, &user_id, erase).await?;
    tracing::info!(admin = %admin.0.user_id, %user_id, "user deactivated by an admin");
    crate::audit::record(
        &state,
        crate::audit::Event::new(
            admin.0.user_id.as_str(),
            "admin.user.deactivate",
            Some(&user_id),
        )
        .details(json!({ "erase": erase })),
    )
    .await?;
    Ok(HttpResponse::Ok().json(json!({ "id_server_unbind_result": "success" })))
}

#[derive(Deserialize)]
struct ResetPassword {
    new_password: String,
    #[serde(default = "yes")]
    logout_devices: bool,
}

/// `POST /_synapse/admin/v1/reset_password/{user_id}`: a new password, and (unless
/// `logout_devices` is false) every device of the user logged out.
async fn reset_password(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    let request: ResetPassword = parse_json(&body)?;
    let user_id = local_user(&state, &path, "reset the password of")?;
    existing(&state, &user_id)?;
    if request.new_password.is_empty() || request.new_password.len() > 512 {
        return Err(Error::unknown(StatusCode::BAD_REQUEST, "Invalid password"));
    }
    let hash = state.hasher.hash(request.new_password).await?;
    state
        .storage
        .users
        .update(&user_id, |record| record.password_hash = Some(hash.clone()))?;
    state.storage.flush().await?;
    if request.logout_devices {
        let mut batch = state.storage.batch();
        for (device_id, _) in state.storage.devices.list(&user_id)? {
            crate::auth::session::remove_device(&state, &mut batch, &user_id, &device_id)?;
        }
        crate::auth::session::commit_device_removal(&state, batch, &user_id).await?;
    }
    let event = crate::audit::Event::new(
        admin.0.user_id.as_str(),
        "admin.user.reset_password",
        Some(&user_id),
    )
    .details(json!({ "logout_devices": request.logout_devices }));
    crate::audit::record(&state, event).await?;
    Ok(HttpResponse::Ok().json(json!({})))
}

/// `GET /_synapse/admin/v1/users/{user_id}/admin`
async fn get_admin(
    state: web::Data<AppState>,
    _admin: Admin,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    let user_id = local_user(&state, &path, "look up")?;
    let record = existing(&state, &user_id)?;
    Ok(HttpResponse::Ok().json(json!({ "admin": record.admin })))
}

#[derive(Deserialize)]
struct PutAdmin {
    admin: bool,
}

/// `PUT /_synapse/admin/v1/users/{user_id}/admin`
async fn put_admin(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    let user_id = local_user(&state, &path, "modify")?;
    let change: PutAdmin = parse_json(&body)?;
    existing(&state, &user_id)?;
    if !change.admin && admin.0.user_id.as_str() == user_id {
        return Err(Error::unknown(
            StatusCode::BAD_REQUEST,
            "You may not demote yourself.",
        ));
    }
    crate::admin::set_admin(&state, &user_id, change.admin).await?;
    tracing::info!(admin = %admin.0.user_id, %user_id, "admin flag changed through the admin API");
    crate::audit::record(
        &state,
        crate::audit::Event::new(
            admin.0.user_id.as_str(),
            "admin.user.admin_flag",
            Some(&user_id),
        )
        .details(json!({ "admin": change.admin })),
    )
    .await?;
    Ok(HttpResponse::Ok().json(json!({})))
}
