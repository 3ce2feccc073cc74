//! Synapse's registration tokens admin API: list (optionally by validity), create,
//! read, update and delete.

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};
use citadel_storage::now_ms;
use citadel_storage::registration_tokens::RegistrationToken;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::Routes;
use crate::api::admin::synapse::Admin;
use crate::api::admin::synapse::users::{bool_param, int_param, query};
use crate::api::error::{Error, Result, parse_json};
use crate::app::AppState;

pub fn routes(routes: &mut Routes<'_>) {
    routes
        .raw(Method::GET, "/_synapse/admin/v1/registration_tokens", list)
        .raw(
            Method::POST,
            "/_synapse/admin/v1/registration_tokens/new",
            create,
        )
        .raw(
            Method::GET,
            "/_synapse/admin/v1/registration_tokens/{token}",
            get,
        )
        .raw(
            Method::PUT,
            "/_synapse/admin/v1/registration_tokens/{token}",
            update,
        )
        .raw(
            Method::DELETE,
            "/_synapse/admin/v1/registration_tokens/{token}",
            delete,
        );
}

fn describe(token: &str, record: &RegistrationToken) -> Value {
    json!({
        "token": token,
        "uses_allowed": record.uses_allowed,
        // Registrations in progress are not held against a token here: a use counts
        // when the account is created.
        "pending": 0,
        "completed": record.completed,
        "expiry_time": record.expiry_time,
    })
}

fn not_found() -> Error {
    Error::not_found("No such registration token")
}

/// `GET /_synapse/admin/v1/registration_tokens`
async fn list(state: web::Data<AppState>, _admin: Admin, req: HttpRequest) -> Result<HttpResponse> {
    let q = query(&req);
    let valid = bool_param(&q, "valid")?;
    // Citadel's additions for the admin panel: a search and pages. Without them the
    // answer is Synapse's, every token at once.
    let search = q.get("search_term").map(|s| s.to_lowercase());
    let now = now_ms();
    let tokens: Vec<Value> = state
        .storage
        .registration_tokens
        .list()?
        .iter()
        .filter(|(_, r)| valid.is_none_or(|v| v == r.is_valid(now)))
        .filter(|(t, _)| search.as_ref().is_none_or(|s| t.to_lowercase().contains(s)))
        .map(|(t, r)| describe(t, r))
        .collect();
    if !q.contains_key("from") && !q.contains_key("limit") {
        return Ok(HttpResponse::Ok().json(json!({ "registration_tokens": tokens })));
    }
    let from = int_param(&q, "from", 0)? as usize;
    let limit = int_param(&q, "limit", 100)? as usize;
    let total = tokens.len();
    let page: Vec<Value> = tokens.into_iter().skip(from).take(limit).collect();
    let mut body = json!({ "registration_tokens": page, "total": total });
    if from + limit < total {
        body["next_token"] = json!((from + limit).to_string());
    }
    Ok(HttpResponse::Ok().json(body))
}

/// A JSON field that may be absent (keep), `null` (clear) or a non-negative integer.
fn optional_count(body: &Value, field: &str) -> Result<Option<Option<u64>>> {
    match body.get(field) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(v) => v.as_u64().map(|n| Some(Some(n))).ok_or_else(|| {
            Error::invalid_param(format!("{field} must be a non-negative integer or null"))
        }),
    }
}

#[derive(Deserialize)]
struct New {
    token: Option<String>,
    length: Option<u64>,
}

/// `POST /_synapse/admin/v1/registration_tokens/new`
async fn create(
    state: web::Data<AppState>,
    admin: Admin,
    body: web::Bytes,
) -> Result<HttpResponse> {
    let value: Value = parse_json(&body)?;
    if !value.is_object() {
        return Err(Error::bad_json("The body must be a JSON object"));
    }
    let new: New = serde_json::from_value(value.clone())
        .map_err(|e| crate::api::error::from_json_error(&e))?;
    let uses_allowed = optional_count(&value, "uses_allowed")?.flatten();
    let expiry_time = optional_count(&value, "expiry_time")?.flatten();
    if expiry_time.is_some_and(|t| t < now_ms()) {
        return Err(Error::invalid_param("expiry_time must not be in the past"));
    }
    let length = new.length.unwrap_or(16) as usize;
    let token = crate::admin::create_registration_token(
        &state,
        new.token,
        length,
        uses_allowed,
        expiry_time,
    )
    .await?;
    tracing::info!(admin = %admin.0.user_id, "registration token created");
    super::audited(
        &state,
        &admin,
        "admin.registration_token.create",
        Some(&token),
    )
    .await?;
    let record = state
        .storage
        .registration_tokens
        .get(&token)?
        .ok_or_else(not_found)?;
    Ok(HttpResponse::Ok().json(describe(&token, &record)))
}

/// `GET /_synapse/admin/v1/registration_tokens/{token}`
async fn get(
    state: web::Data<AppState>,
    _admin: Admin,
    token: web::Path<String>,
) -> Result<HttpResponse> {
    let record = state
        .storage
        .registration_tokens
        .get(&token)?
        .ok_or_else(not_found)?;
    Ok(HttpResponse::Ok().json(describe(&token, &record)))
}

/// `PUT /_synapse/admin/v1/registration_tokens/{token}`
async fn update(
    state: web::Data<AppState>,
    _admin: Admin,
    token: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    let value: Value = parse_json(&body)?;
    if !value.is_object() {
        return Err(Error::bad_json("The body must be a JSON object"));
    }
    let uses_allowed = optional_count(&value, "uses_allowed")?;
    let expiry_time = optional_count(&value, "expiry_time")?;
    let record = state
        .storage
        .registration_tokens
        .update(&token, |record| {
            if let Some(uses) = uses_allowed {
                record.uses_allowed = uses;
            }
            if let Some(expiry) = expiry_time {
                record.expiry_time = expiry;
            }
        })?
        .ok_or_else(not_found)?;
    state.storage.flush().await?;
    Ok(HttpResponse::Ok().json(describe(&token, &record)))
}

/// `DELETE /_synapse/admin/v1/registration_tokens/{token}`
async fn delete(
    state: web::Data<AppState>,
    admin: Admin,
    token: web::Path<String>,
) -> Result<HttpResponse> {
    if !state.storage.registration_tokens.delete(&token)? {
        return Err(not_found());
    }
    state.storage.flush().await?;
    super::audited(
        &state,
        &admin,
        "admin.registration_token.delete",
        Some(&token),
    )
    .await?;
    Ok(HttpResponse::Ok().json(json!({})))
}
