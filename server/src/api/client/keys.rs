//! End-to-end encryption keys: `/keys/upload`, `/keys/query`, `/keys/claim`,
//! `/keys/changes`, `/keys/device_signing/upload`, `/keys/signatures/upload`, and
//! `/sendToDevice`.

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};
use citadel_storage::txn_ids::TxnState;
use serde_json::{Map, Value, json};

use crate::api::Routes;
use crate::api::client::message::parse_token;
use crate::api::error::{Error, Result, parse_json};
use crate::api::extract::{Authed, read_body};
use crate::app::AppState;
use crate::e2ee::{device_lists, keys};

pub fn routes(routes: &mut Routes<'_>) {
    for version in ["v3", "r0"] {
        let path = |p: &str| format!("/_matrix/client/{version}/{p}");
        routes
            .raw(Method::POST, &path("keys/upload"), upload)
            .raw(Method::POST, &path("keys/query"), query)
            .raw(Method::POST, &path("keys/claim"), claim)
            .raw(Method::GET, &path("keys/changes"), changes)
            .raw(
                Method::POST,
                &path("keys/device_signing/upload"),
                crate::api::client::cross_signing::upload_signing_keys,
            )
            .raw(
                Method::POST,
                &path("keys/signatures/upload"),
                crate::api::client::cross_signing::upload_signatures,
            )
            .raw(
                Method::PUT,
                &path("sendToDevice/{event_type}/{txn_id}"),
                send_to_device,
            );
    }
}

/// Reads a JSON object body that holds canonical JSON.
pub async fn json_body(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<Map<String, Value>> {
    let bytes = read_body(
        req,
        payload.into_inner(),
        state.config.http.max_request_bytes,
    )
    .await?;
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        &bytes
    };
    match parse_json::<Value>(bytes)? {
        Value::Object(map) => {
            // Everything read here is stored and handed to other clients (keys, backups,
            // to-device messages): the same limits as events (no floats, no integers
            // beyond ±2^53).
            ruma::canonical_json::to_canonical_value(Value::Object(map.clone()))
                .map_err(|e| Error::bad_json(format!("Content is not canonical JSON: {e}")))?;
            Ok(map)
        }
        _ => Err(Error::bad_json("Expected a JSON object")),
    }
}

/// `POST /_matrix/client/v3/keys/upload`
async fn upload(
    state: web::Data<AppState>,
    Authed(sender): Authed,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse> {
    let body = Value::Object(json_body(&state, &req, payload).await?);
    for field in ["one_time_keys", "fallback_keys"] {
        if body
            .get(field)
            .is_some_and(|v| !v.is_object() && !v.is_null())
        {
            return Err(Error::bad_json(format!("{field} must be an object")));
        }
    }
    let (_, counts) = keys::upload(&state, &sender, &body).await?;
    Ok(HttpResponse::Ok().json(json!({ "one_time_key_counts": counts })))
}

/// `POST /_matrix/client/v3/keys/query`
async fn query(
    state: web::Data<AppState>,
    Authed(sender): Authed,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse> {
    let body = json_body(&state, &req, payload).await?;
    let requested = body
        .get("device_keys")
        .and_then(Value::as_object)
        .ok_or_else(|| Error::missing_param("device_keys is required"))?;
    let (local, remote) = crate::e2ee::federated::split_by_server(&state, requested);
    let mut response = keys::query(&state, sender.user_id.as_str(), &local)?;
    if state.config.federation.enabled {
        crate::e2ee::federated::query_remote(&state, remote, &mut response).await;
    }
    Ok(HttpResponse::Ok().json(response))
}

/// `POST /_matrix/client/v3/keys/claim`
async fn claim(
    state: web::Data<AppState>,
    Authed(_sender): Authed,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse> {
    let body = json_body(&state, &req, payload).await?;
    let requested = body
        .get("one_time_keys")
        .and_then(Value::as_object)
        .ok_or_else(|| Error::missing_param("one_time_keys is required"))?;
    let (local, remote) = crate::e2ee::federated::split_by_server(&state, requested);
    let mut response = keys::claim(&state, &local)?;
    if state.config.federation.enabled {
        crate::e2ee::federated::claim_remote(&state, remote, &mut response).await;
    }
    Ok(HttpResponse::Ok().json(response))
}

#[derive(serde::Deserialize)]
struct ChangesQuery {
    from: String,
    to: String,
}

/// `GET /_matrix/client/v3/keys/changes`
async fn changes(
    state: web::Data<AppState>,
    Authed(sender): Authed,
    req: HttpRequest,
) -> Result<HttpResponse> {
    let query = web::Query::<ChangesQuery>::from_query(req.query_string())
        .map_err(|e| Error::missing_param(format!("from and to are required: {e}")))?;
    let from = parse_token(&query.from)?;
    let to = parse_token(&query.to)?;
    let (changed, left) = device_lists::changes(&state, sender.user_id.as_str(), from, to)?;
    Ok(HttpResponse::Ok().json(json!({ "changed": changed, "left": left })))
}

/// `PUT /_matrix/client/v3/sendToDevice/{eventType}/{txnId}`: queues the messages for
/// each named device (`*` for all of a user's devices). Idempotent per transaction ID.
async fn send_to_device(
    state: web::Data<AppState>,
    Authed(sender): Authed,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse> {
    let decode = |name: &str| {
        percent_encoding::percent_decode_str(req.match_info().get(name).unwrap_or_default())
            .decode_utf8_lossy()
            .into_owned()
    };
    let (event_type, txn_id) = (decode("event_type"), decode("txn_id"));
    let body = json_body(&state, &req, payload).await?;
    let messages = body
        .get("messages")
        .and_then(Value::as_object)
        .ok_or_else(|| Error::missing_param("messages is required"))?;
    let user = sender.user_id.as_str();
    let device = sender.device_id.as_str();
    let txn_key = citadel_storage::txn_ids::scoped_txn("sendToDevice", &event_type, &txn_id);
    match state.storage.txn_ids.claim(user, device, &txn_key)? {
        TxnState::Claimed => {}
        // Already delivered (or being delivered) under this transaction ID.
        _ => return Ok(HttpResponse::Ok().json(json!({}))),
    }
    let result = crate::e2ee::to_device::send(&state, user, &event_type, messages).await;
    match result {
        Ok(()) => {
            let mut batch = state.storage.batch();
            state
                .storage
                .txn_ids
                .complete(&mut batch, user, device, &txn_key, "sent");
            state.storage.commit(batch).await?;
            Ok(HttpResponse::Ok().json(json!({})))
        }
        Err(e) => {
            state.storage.txn_ids.release(user, device, &txn_key)?;
            Err(e)
        }
    }
}
