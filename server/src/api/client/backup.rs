//! Server-side key backups: `/room_keys/version[/{version}]` and
//! `/room_keys/keys[/{roomId}[/{sessionId}]]`. The server stores what clients encrypted
//! for themselves; it chooses between two backups of one session by the spec's rules.

use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use crate::api::Routes;
use crate::api::client::keys::json_body;
use crate::api::error::{Error, Result};
use crate::api::extract::Authed;
use crate::app::AppState;

pub fn routes(routes: &mut Routes<'_>) {
    for v in ["v3", "r0"] {
        let p = |s: &str| format!("/_matrix/client/{v}/room_keys/{s}");
        routes
            .raw(Method::POST, &p("version"), create_version)
            .raw(Method::GET, &p("version"), get_latest_version)
            .raw(Method::GET, &p("version/{version}"), get_version)
            .raw(Method::PUT, &p("version/{version}"), update_version)
            .raw(Method::DELETE, &p("version/{version}"), delete_version)
            .raw(Method::GET, &p("keys"), get_keys)
            .raw(Method::PUT, &p("keys"), put_keys)
            .raw(Method::DELETE, &p("keys"), delete_keys)
            .raw(Method::GET, &p("keys/{room_id}"), get_keys)
            .raw(Method::PUT, &p("keys/{room_id}"), put_keys)
            .raw(Method::DELETE, &p("keys/{room_id}"), delete_keys)
            .raw(Method::GET, &p("keys/{room_id}/{session_id}"), get_keys)
            .raw(Method::PUT, &p("keys/{room_id}/{session_id}"), put_keys)
            .raw(
                Method::DELETE,
                &p("keys/{room_id}/{session_id}"),
                delete_keys,
            );
    }
}

fn unknown_version() -> Error {
    Error::not_found("Unknown backup version")
}

fn path_part(req: &HttpRequest, name: &str) -> Option<String> {
    req.match_info().get(name).map(|v| {
        percent_encoding::percent_decode_str(v)
            .decode_utf8_lossy()
            .into_owned()
    })
}

fn version_number(text: &str) -> Result<u64> {
    text.parse().map_err(|_| unknown_version())
}

fn describe(
    state: &AppState,
    user: &str,
    number: u64,
    record: &citadel_storage::key_backup::BackupVersion,
) -> Result<Value> {
    Ok(json!({
        "algorithm": record.algorithm,
        "auth_data": record.auth_data,
        "count": state.storage.key_backup.count(user, number)?,
        "etag": record.etag.to_string(),
        "version": number.to_string(),
    }))
}

/// `POST /_matrix/client/v3/room_keys/version`
async fn create_version(
    state: web::Data<AppState>,
    Authed(sender): Authed,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse> {
    let body = json_body(&state, &req, payload).await?;
    let algorithm = body
        .get("algorithm")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::missing_param("algorithm is required"))?;
    let auth_data = body
        .get("auth_data")
        .filter(|a| a.is_object() || (!state.config.e2ee.strict_key_uploads && !a.is_null()))
        .ok_or_else(|| Error::missing_param("auth_data is required"))?;
    let version =
        state
            .storage
            .key_backup
            .create(sender.user_id.as_str(), algorithm, auth_data.clone())?;
    state.storage.flush().await?;
    Ok(HttpResponse::Ok().json(json!({ "version": version.to_string() })))
}

/// `GET /_matrix/client/v3/room_keys/version`
async fn get_latest_version(
    state: web::Data<AppState>,
    Authed(sender): Authed,
) -> Result<HttpResponse> {
    let user = sender.user_id.as_str();
    let (number, record) = state
        .storage
        .key_backup
        .current(user)?
        .ok_or_else(|| Error::not_found("No current backup version"))?;
    Ok(HttpResponse::Ok().json(describe(&state, user, number, &record)?))
}

/// `GET /_matrix/client/v3/room_keys/version/{version}`
async fn get_version(
    state: web::Data<AppState>,
    Authed(sender): Authed,
    req: HttpRequest,
) -> Result<HttpResponse> {
    let user = sender.user_id.as_str();
    let number = version_number(&path_part(&req, "version").unwrap_or_default())?;
    let record = state
        .storage
        .key_backup
        .version(user, number)?
        .ok_or_else(unknown_version)?;
    Ok(HttpResponse::Ok().json(describe(&state, user, number, &record)?))
}

/// `PUT /_matrix/client/v3/room_keys/version/{version}`: only `auth_data` may change.
async fn update_version(
    state: web::Data<AppState>,
    Authed(sender): Authed,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse> {
    let user = sender.user_id.as_str();
    let number_text = path_part(&req, "version").unwrap_or_default();
    let number = version_number(&number_text)?;
    let body = json_body(&state, &req, payload).await?;
    let mut record = state
        .storage
        .key_backup
        .version(user, number)?
        .ok_or_else(unknown_version)?;
    if body
        .get("version")
        .and_then(Value::as_str)
        .is_some_and(|v| v != number_text)
    {
        return Err(Error::invalid_param(
            "The version in the body does not match the path",
        ));
    }
    if body.get("algorithm").and_then(Value::as_str) != Some(record.algorithm.as_str()) {
        return Err(Error::invalid_param(
            "The algorithm of a backup version cannot change",
        ));
    }
    record.auth_data = body
        .get("auth_data")
        .filter(|a| a.is_object() || (!state.config.e2ee.strict_key_uploads && !a.is_null()))
        .cloned()
        .ok_or_else(|| Error::missing_param("auth_data is required"))?;
    let mut batch = state.storage.batch();
    state
        .storage
        .key_backup
        .put_version(&mut batch, user, number, &record);
    state.storage.commit(batch).await?;
    Ok(HttpResponse::Ok().json(json!({})))
}

/// `DELETE /_matrix/client/v3/room_keys/version/{version}`
async fn delete_version(
    state: web::Data<AppState>,
    Authed(sender): Authed,
    req: HttpRequest,
) -> Result<HttpResponse> {
    let user = sender.user_id.as_str();
    let number = version_number(&path_part(&req, "version").unwrap_or_default())?;
    state
        .storage
        .key_backup
        .version(user, number)?
        .ok_or_else(unknown_version)?;
    let mut batch = state.storage.batch();
    state
        .storage
        .key_backup
        .delete_version(&mut batch, user, number)?;
    state.storage.commit(batch).await?;
    Ok(HttpResponse::Ok().json(json!({})))
}

/// The `version` query parameter, which the keys endpoints require.
fn query_version(req: &HttpRequest) -> Result<u64> {
    let version = req
        .query_string()
        .split('&')
        .find_map(|pair| pair.strip_prefix("version="))
        .ok_or_else(|| Error::missing_param("The version query parameter is required"))?;
    version_number(version)
}

/// Whether backup `new` of a session should replace `old` (spec: verified beats
/// unverified, then the lower first message index, then the lower forwarded count).
fn better(new: &Value, old: &Value) -> bool {
    let verified = |v: &Value| v["is_verified"] == true;
    if verified(new) != verified(old) {
        return verified(new);
    }
    let index = |v: &Value| v["first_message_index"].as_u64().unwrap_or(u64::MAX);
    if index(new) != index(old) {
        return index(new) < index(old);
    }
    new["forwarded_count"].as_u64().unwrap_or(u64::MAX)
        < old["forwarded_count"].as_u64().unwrap_or(u64::MAX)
}

/// `PUT /_matrix/client/v3/room_keys/keys[/{roomId}[/{sessionId}]]`
async fn put_keys(
    state: web::Data<AppState>,
    Authed(sender): Authed,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse> {
    let user = sender.user_id.as_str();
    let number = query_version(&req)?;
    let body = json_body(&state, &req, payload).await?;
    let (current, record) = state
        .storage
        .key_backup
        .current(user)?
        .ok_or_else(unknown_version)?;
    if current != number {
        if state.storage.key_backup.version(user, number)?.is_none() {
            return Err(unknown_version());
        }
        return Err(Error::new(
            StatusCode::FORBIDDEN,
            "M_WRONG_ROOM_KEYS_VERSION",
            "Wrong backup version",
        )
        .with("current_version", current.to_string()));
    }
    // Normalise the three shapes to (room, session, data).
    let mut sessions: Vec<(String, String, Value)> = Vec::new();
    match (path_part(&req, "room_id"), path_part(&req, "session_id")) {
        (Some(room), Some(session)) => sessions.push((room, session, Value::Object(body))),
        (Some(room), None) => collect_sessions(&room, &body, &mut sessions)?,
        _ => {
            let rooms = body
                .get("rooms")
                .and_then(Value::as_object)
                .ok_or_else(|| Error::missing_param("rooms is required"))?;
            for (room, data) in rooms {
                collect_sessions(
                    room,
                    data.as_object()
                        .ok_or_else(|| Error::bad_json("rooms values must be objects"))?,
                    &mut sessions,
                )?;
            }
        }
    }
    let mut batch = state.storage.batch();
    let mut changed = false;
    for (room, session, data) in sessions {
        for field in ["first_message_index", "forwarded_count"] {
            if !data[field].is_u64() {
                return Err(Error::bad_json(format!(
                    "{field} must be a non-negative integer"
                )));
            }
        }
        if !data["is_verified"].is_boolean() || !data["session_data"].is_object() {
            return Err(Error::bad_json(
                "is_verified must be a boolean and session_data an object",
            ));
        }
        let replace = match state
            .storage
            .key_backup
            .get_key(user, number, &room, &session)?
        {
            Some(old) => better(
                &data,
                &serde_json::from_str(old.get()).unwrap_or(Value::Null),
            ),
            None => true,
        };
        if replace {
            let raw = RawValue::from_string(data.to_string()).map_err(Error::internal)?;
            state
                .storage
                .key_backup
                .put_key(&mut batch, user, number, &room, &session, &raw);
            changed = true;
        }
    }
    commit_keys(&state, batch, user, number, record, changed).await
}

fn collect_sessions(
    room: &str,
    body: &Map<String, Value>,
    out: &mut Vec<(String, String, Value)>,
) -> Result<()> {
    let sessions = body
        .get("sessions")
        .and_then(Value::as_object)
        .ok_or_else(|| Error::missing_param("sessions is required"))?;
    for (session, data) in sessions {
        out.push((room.to_owned(), session.clone(), data.clone()));
    }
    Ok(())
}

/// `GET /_matrix/client/v3/room_keys/keys[/{roomId}[/{sessionId}]]`
async fn get_keys(
    state: web::Data<AppState>,
    Authed(sender): Authed,
    req: HttpRequest,
) -> Result<HttpResponse> {
    let user = sender.user_id.as_str();
    let number = query_version(&req)?;
    state
        .storage
        .key_backup
        .version(user, number)?
        .ok_or_else(unknown_version)?;
    let room = path_part(&req, "room_id");
    if let (Some(room), Some(session)) = (&room, path_part(&req, "session_id")) {
        let data = state
            .storage
            .key_backup
            .get_key(user, number, room, &session)?
            .ok_or_else(|| Error::not_found("No backup of that session"))?;
        return Ok(HttpResponse::Ok()
            .content_type("application/json")
            .body(data.get().to_owned()));
    }
    let mut rooms: Map<String, Value> = Map::new();
    for (room_id, session, data) in state
        .storage
        .key_backup
        .keys(user, number, room.as_deref())?
    {
        let data: Value = serde_json::from_str(data.get()).unwrap_or_default();
        rooms
            .entry(room_id)
            .or_insert_with(|| json!({ "sessions": {} }))["sessions"][session] = data;
    }
    match room {
        Some(room) => Ok(HttpResponse::Ok().json(
            rooms
                .remove(&room)
                .unwrap_or_else(|| json!({ "sessions": {} })),
        )),
        None => Ok(HttpResponse::Ok().json(json!({ "rooms": rooms }))),
    }
}

/// `DELETE /_matrix/client/v3/room_keys/keys[/{roomId}[/{sessionId}]]`
async fn delete_keys(
    state: web::Data<AppState>,
    Authed(sender): Authed,
    req: HttpRequest,
) -> Result<HttpResponse> {
    let user = sender.user_id.as_str();
    let number = query_version(&req)?;
    let record = state
        .storage
        .key_backup
        .version(user, number)?
        .ok_or_else(unknown_version)?;
    let room = path_part(&req, "room_id");
    let session = path_part(&req, "session_id");
    let mut batch = state.storage.batch();
    let mut removed = false;
    for (room_id, session_id, _) in state
        .storage
        .key_backup
        .keys(user, number, room.as_deref())?
    {
        if session.as_ref().is_none_or(|s| *s == session_id) {
            state
                .storage
                .key_backup
                .remove_key(&mut batch, user, number, &room_id, &session_id);
            removed = true;
        }
    }
    commit_keys(&state, batch, user, number, record, removed).await
}

/// Commits a change to a backup's keys and answers with the `etag` and `count` the spec's
/// `RoomKeysUpdateResponse` carries. The etag moves only when a key actually changed, so a
/// client that re-uploads the same keys sees the same etag and knows nothing is new.
async fn commit_keys(
    state: &AppState,
    mut batch: citadel_storage::Batch,
    user: &str,
    number: u64,
    mut record: citadel_storage::key_backup::BackupVersion,
    changed: bool,
) -> Result<HttpResponse> {
    if changed {
        record.etag += 1;
        state
            .storage
            .key_backup
            .put_version(&mut batch, user, number, &record);
    }
    state.storage.commit(batch).await?;
    let count = state.storage.key_backup.count(user, number)?;
    Ok(HttpResponse::Ok().json(json!({ "etag": record.etag.to_string(), "count": count })))
}
