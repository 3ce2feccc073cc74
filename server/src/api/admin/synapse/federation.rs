//! Synapse's federation admin API: the servers this one talks to, how delivery to each
//! is going, the rooms shared with each, and a reset of a destination's backoff.

use std::collections::{BTreeMap, BTreeSet};

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use crate::api::Routes;
use crate::api::admin::synapse::Admin;
use crate::api::admin::synapse::users::{int_param, query};
use crate::api::error::{Error, Result};
use crate::app::AppState;

pub fn routes(routes: &mut Routes<'_>) {
    let one = "/_synapse/admin/v1/federation/destinations/{destination}";
    routes
        .raw(
            Method::GET,
            "/_synapse/admin/v1/federation/destinations",
            list,
        )
        .raw(Method::GET, one, get)
        .raw(
            Method::GET,
            "/_synapse/admin/v1/federation/destinations/{destination}/rooms",
            rooms,
        )
        .raw(
            Method::POST,
            "/_synapse/admin/v1/federation/destinations/{destination}/reset_connection",
            reset,
        );
}

/// Every other server sharing a room with this one or owed something, with the rooms.
fn destinations(state: &AppState) -> Result<BTreeMap<String, BTreeSet<String>>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (room_id, _) in state.storage.rooms.all()? {
        let Ok(room) = ruma::OwnedRoomId::try_from(room_id.as_str()) else {
            continue;
        };
        for server in crate::rooms::servers::in_room(state, &room)? {
            if server != state.server_name() {
                out.entry(server).or_default().insert(room_id.clone());
            }
        }
    }
    for destination in state.storage.outbox.destinations()? {
        out.entry(destination).or_default();
    }
    Ok(out)
}

fn describe(state: &AppState, destination: &str) -> Value {
    let health = state
        .sender
        .get()
        .and_then(|s| s.health().into_iter().find(|(d, _)| d == destination))
        .map(|(_, h)| h)
        .unwrap_or_default();
    let failing = health.failing_since_ts.is_some();
    let queued = state.storage.outbox.depth(destination).unwrap_or(0);
    // Synapse's fields, then Citadel's own for the admin panel's health view.
    json!({
        "destination": destination,
        "retry_last_ts": if failing { health.last_attempt_ts.unwrap_or(0) } else { 0 },
        "retry_interval": health.retry_interval_ms,
        "failure_ts": health.failing_since_ts,
        "last_successful_stream_ordering": health.last_success_ts,
        "last_success_ts": health.last_success_ts,
        "failures": health.failures,
        "queue_depth": queued,
    })
}

/// `GET /_synapse/admin/v1/federation/destinations`
async fn list(state: web::Data<AppState>, _admin: Admin, req: HttpRequest) -> Result<HttpResponse> {
    let q = query(&req);
    let from = int_param(&q, "from", 0)? as usize;
    let limit = int_param(&q, "limit", 100)? as usize;
    let backwards = match q.get("dir").map(String::as_str) {
        None | Some("f") => false,
        Some("b") => true,
        Some(_) => return Err(Error::invalid_param("dir must be f or b")),
    };
    let order_by = q
        .get("order_by")
        .map(String::as_str)
        .unwrap_or("destination");
    if ![
        "destination",
        "retry_last_ts",
        "retry_interval",
        "failure_ts",
        "last_successful_stream_ordering",
    ]
    .contains(&order_by)
    {
        return Err(Error::invalid_param(format!(
            "Unknown value for order_by: {order_by:?}"
        )));
    }
    let filter = q.get("destination");
    let mut all: Vec<Value> = destinations(&state)?
        .keys()
        .filter(|d| filter.is_none_or(|f| d.contains(f.as_str())))
        .map(|d| describe(&state, d))
        .collect();
    all.sort_by(|a, b| {
        let key = |v: &Value| match &v[order_by] {
            Value::Number(n) => format!("{:020}", n.as_u64().unwrap_or(0)),
            Value::String(s) => s.clone(),
            _ => String::new(),
        };
        key(a)
            .cmp(&key(b))
            .then_with(|| a["destination"].as_str().cmp(&b["destination"].as_str()))
    });
    if backwards {
        all.reverse();
    }
    let total = all.len();
    let page: Vec<Value> = all.into_iter().skip(from).take(limit).collect();
    let mut body = json!({ "destinations": page, "total": total });
    if from + limit < total {
        body["next_token"] = json!((from + limit).to_string());
    }
    Ok(HttpResponse::Ok().json(body))
}

fn known(state: &AppState, destination: &str) -> Result<BTreeSet<String>> {
    destinations(state)?
        .remove(destination)
        .ok_or_else(|| Error::not_found("Unknown destination"))
}

/// `GET /_synapse/admin/v1/federation/destinations/{destination}`
async fn get(
    state: web::Data<AppState>,
    _admin: Admin,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    known(&state, &path)?;
    Ok(HttpResponse::Ok().json(describe(&state, &path)))
}

/// `GET /_synapse/admin/v1/federation/destinations/{destination}/rooms`
async fn rooms(
    state: web::Data<AppState>,
    _admin: Admin,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    let rooms: Vec<Value> = known(&state, &path)?
        .into_iter()
        .map(|room_id| json!({ "room_id": room_id, "stream_ordering": 0 }))
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "total": rooms.len(), "rooms": rooms })))
}

/// `POST /_synapse/admin/v1/federation/destinations/{destination}/reset_connection`:
/// retry now instead of waiting out the backoff.
async fn reset(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    known(&state, &path)?;
    if let Some(sender) = state.sender.get() {
        sender.heard_from(&path);
    }
    super::audited(
        &state,
        &admin,
        "admin.federation.reset_connection",
        Some(&path),
    )
    .await?;
    Ok(HttpResponse::Ok().json(json!({})))
}
