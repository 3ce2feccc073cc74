//! Smaller read-only parts of Synapse's admin API that panels ask for: media statistics
//! per user, background updates (there are none), username availability, a user's
//! account data and pushers, and one event by ID.

use std::collections::BTreeMap;

use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value, json};

use crate::api::Routes;
use crate::api::admin::synapse::Admin;
use crate::api::admin::synapse::users::{existing, int_param, local_user, query};
use crate::api::error::{Error, Result};
use crate::app::AppState;

pub fn routes(routes: &mut Routes<'_>) {
    routes
        .raw(
            Method::GET,
            "/_synapse/admin/v1/statistics/users/media",
            media_statistics,
        )
        .raw(
            Method::GET,
            "/_synapse/admin/v1/background_updates/status",
            background_updates,
        )
        .raw(
            Method::GET,
            "/_synapse/admin/v1/username_available",
            username_available,
        )
        .raw(
            Method::GET,
            "/_synapse/admin/v1/users/{user_id}/accountdata",
            account_data,
        )
        .raw(
            Method::GET,
            "/_synapse/admin/v1/users/{user_id}/pushers",
            pushers,
        )
        .raw(
            Method::GET,
            "/_synapse/admin/v1/fetch_event/{event_id}",
            fetch_event,
        );
}

/// `GET /_synapse/admin/v1/statistics/users/media`: how much each local user stores.
async fn media_statistics(
    state: web::Data<AppState>,
    _admin: Admin,
    req: HttpRequest,
) -> Result<HttpResponse> {
    let q = query(&req);
    let from = int_param(&q, "from", 0)? as usize;
    let limit = int_param(&q, "limit", 100)? as usize;
    let since = int_param(&q, "from_ts", 0)?;
    let until = int_param(&q, "until_ts", u64::MAX)?;
    let order_by = q.get("order_by").map(String::as_str).unwrap_or("user_id");
    if !["user_id", "displayname", "media_length", "media_count"].contains(&order_by) {
        return Err(Error::invalid_param(format!(
            "Unknown value for order_by: {order_by:?}"
        )));
    }
    let search = q.get("search_term").map(|s| s.to_lowercase());
    let mut per_user: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for (server, _, record) in state.storage.media.all()? {
        if server != state.server_name() || record.created_ts < since || record.created_ts >= until
        {
            continue;
        }
        let entry = per_user.entry(record.uploader.clone()).or_default();
        entry.0 += 1;
        entry.1 += record.size;
    }
    let mut users = Vec::new();
    for (user_id, (count, length)) in per_user {
        let name = state
            .storage
            .users
            .profile_field(&user_id, "displayname")?
            .unwrap_or(Value::Null);
        let matches = search.as_deref().is_none_or(|term| {
            user_id.to_lowercase().contains(term)
                || name
                    .as_str()
                    .is_some_and(|n| n.to_lowercase().contains(term))
        });
        if matches {
            users.push(json!({
                "user_id": user_id, "displayname": name,
                "media_count": count, "media_length": length,
            }));
        }
    }
    let numeric = order_by.starts_with("media_");
    users.sort_by(|a, b| {
        let primary = if numeric {
            a[order_by].as_u64().cmp(&b[order_by].as_u64())
        } else {
            a[order_by].as_str().cmp(&b[order_by].as_str())
        };
        primary.then_with(|| a["user_id"].as_str().cmp(&b["user_id"].as_str()))
    });
    if q.get("dir").map(String::as_str) == Some("b") {
        users.reverse();
    }
    let total = users.len();
    let page: Vec<Value> = users.into_iter().skip(from).take(limit).collect();
    let mut body = json!({ "users": page, "total": total });
    if from + limit < total {
        body["next_token"] = json!(from + limit);
    }
    Ok(HttpResponse::Ok().json(body))
}

/// `GET /_synapse/admin/v1/background_updates/status`: schema migrations run at start-up,
/// so nothing ever runs in the background.
async fn background_updates(_admin: Admin) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "enabled": true, "current_updates": {} }))
}

/// `GET /_synapse/admin/v1/username_available?username=…`
async fn username_available(
    state: web::Data<AppState>,
    _admin: Admin,
    req: HttpRequest,
) -> Result<HttpResponse> {
    let q = query(&req);
    let name = q
        .get("username")
        .ok_or_else(|| Error::missing_param("Missing string query parameter 'username'"))?;
    let localpart = crate::auth::username::localpart_for(name, state.server_name())?;
    if state.storage.users.exists(&state.user_id(&localpart))? {
        return Err(Error::new(
            StatusCode::BAD_REQUEST,
            "M_USER_IN_USE",
            "User ID already taken.",
        ));
    }
    Ok(HttpResponse::Ok().json(json!({ "available": true })))
}

/// `GET /_synapse/admin/v1/users/{user_id}/accountdata`
async fn account_data(
    state: web::Data<AppState>,
    _admin: Admin,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    let user_id = local_user(&state, &path, "look up")?;
    existing(&state, &user_id)?;
    let mut global = Map::new();
    let mut rooms: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    for (room, kind) in state.storage.account_data.changed_since(&user_id, 0)? {
        let Some(raw) = state
            .storage
            .account_data
            .get(&user_id, room.as_deref(), &kind)?
        else {
            continue;
        };
        let content: Value = serde_json::from_str(raw.get()).unwrap_or_default();
        match room {
            Some(room) => {
                rooms.entry(room).or_default().insert(kind, content);
            }
            None => {
                global.insert(kind, content);
            }
        }
    }
    Ok(HttpResponse::Ok().json(json!({ "account_data": { "global": global, "rooms": rooms } })))
}

/// `GET /_synapse/admin/v1/users/{user_id}/pushers`
async fn pushers(
    state: web::Data<AppState>,
    _admin: Admin,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    let user_id = local_user(&state, &path, "look up")?;
    existing(&state, &user_id)?;
    let pushers: Vec<Value> = state
        .storage
        .notifications
        .pushers(Some(&user_id))?
        .iter()
        .map(|(_, raw)| serde_json::from_str(raw.get()).unwrap_or_default())
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "total": pushers.len(), "pushers": pushers })))
}

/// `GET /_synapse/admin/v1/fetch_event/{event_id}`: the event as stored.
async fn fetch_event(
    state: web::Data<AppState>,
    _admin: Admin,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    let pdu = crate::rooms::load_pdu(&state, &path)?
        .ok_or_else(|| Error::not_found("Event not found"))?;
    Ok(HttpResponse::Ok().json(json!({ "event": pdu.to_client_event(true) })))
}
