//! Synapse's `POST /rooms/{roomId}/send/{eventType}` and
//! `POST /rooms/{roomId}/redact/{eventId}`: the spec's `PUT`s without a transaction ID,
//! which older clients, bots and test suites still use. Each request sends a new event
//! (there is nothing to recognise a retry by).

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use crate::api::Routes;
use crate::api::client::keys::json_body;
use crate::api::error::{Error, Result};
use crate::api::extract::Authed;
use crate::app::AppState;

pub fn routes(routes: &mut Routes<'_>) {
    for version in ["v3", "r0"] {
        routes
            .raw(
                Method::POST,
                &format!("/_matrix/client/{version}/rooms/{{room_id}}/send/{{event_type}}"),
                send,
            )
            .raw(
                Method::POST,
                &format!("/_matrix/client/{version}/rooms/{{room_id}}/redact/{{event_id}}"),
                redact,
            );
    }
}

/// A transaction ID of our own: random, so no client's ID can ever equal it.
fn fresh_txn() -> String {
    format!("citadel-post-{}", crate::auth::token::generate(""))
}

/// A path segment as sent (actix leaves `%2F` and friends encoded).
fn decoded(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8_lossy()
        .into_owned()
}

fn room_id(raw: &str) -> Result<ruma::OwnedRoomId> {
    ruma::OwnedRoomId::try_from(decoded(raw))
        .map_err(|_| Error::invalid_param(format!("{raw:?} is not a room ID")))
}

/// `POST /_matrix/client/v3/rooms/{roomId}/send/{eventType}` (Synapse's form)
async fn send(
    state: web::Data<AppState>,
    Authed(sender): Authed,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse> {
    let (room, kind) = path.into_inner();
    let (room, kind) = (room_id(&room)?, decoded(&kind));
    let content = Value::Object(json_body(&state, &req, payload).await?);
    let event_id = crate::api::client::message::send_message(
        &state,
        &sender,
        &room,
        &kind,
        content,
        &fresh_txn(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(json!({ "event_id": event_id })))
}

/// `POST /_matrix/client/v3/rooms/{roomId}/redact/{eventId}` (Synapse's form)
async fn redact(
    state: web::Data<AppState>,
    Authed(sender): Authed,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse> {
    let (room, target) = path.into_inner();
    let room = room_id(&room)?;
    let target = ruma::OwnedEventId::try_from(decoded(&target))
        .map_err(|_| Error::invalid_param(format!("{target:?} is not an event ID")))?;
    let body = json_body(&state, &req, payload).await?;
    let reason = match body.get("reason") {
        None | Some(Value::Null) => None,
        Some(Value::String(reason)) => Some(reason.as_str()),
        Some(_) => return Err(Error::bad_json("reason must be a string")),
    };
    let event_id =
        crate::api::client::message::redact(&state, &sender, &room, &target, reason, &fresh_txn())
            .await?;
    Ok(HttpResponse::Ok().json(json!({ "event_id": event_id })))
}
