//! `GET /rooms/{roomId}/initialSync`: a snapshot of one room, its state and latest
//! messages (deprecated for members, still how guests and peekers preview a room).

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use crate::api::Routes;
use crate::api::client::message::readable_until;
use crate::api::client::state::readable_state;
use crate::api::error::Result;
use crate::api::extract::Authed;
use crate::app::AppState;
use crate::rooms::state::events_of;
use crate::rooms::visibility::Visibility;
use crate::rooms::{RoomCtx, parse_stored};

/// Messages in the snapshot (as Synapse).
const MESSAGES: usize = 20;

pub fn routes(routes: &mut Routes<'_>) {
    routes
        .raw(
            Method::GET,
            "/_matrix/client/v3/rooms/{room_id}/initialSync",
            room_initial_sync,
        )
        .raw(
            Method::GET,
            "/_matrix/client/r0/rooms/{room_id}/initialSync",
            room_initial_sync,
        );
}

/// `GET /_matrix/client/v3/rooms/{roomId}/initialSync`
async fn room_initial_sync(
    state: web::Data<AppState>,
    Authed(sender): Authed,
    req: HttpRequest,
) -> Result<HttpResponse> {
    let raw = req.match_info().get("room_id").unwrap_or_default();
    let room_id = percent_encoding::percent_decode_str(raw).decode_utf8_lossy();
    let room_id = crate::api::extract::room_id_param(&room_id)?;
    let user = sender.user_id.as_str();
    let room = RoomCtx::require(&state.storage, &room_id)?;
    // Members up to their leave; others only in a world-readable room (403 otherwise).
    let until = readable_until(&state, &room, user)?;
    let map = readable_state(&state, &room, user)?;
    let membership = state
        .storage
        .rooms
        .membership
        .get(user, room_id.as_str())?
        .map(|record| record.membership);

    let now = state.stream.safe_upto(&state.storage)? + 1;
    let end = now.min(until);
    let mut events = state
        .storage
        .rooms
        .timeline
        .before(room.short, end, MESSAGES)?;
    events.reverse();
    let start = events.first().map_or(end, |(count, _)| *count);
    let mut visibility = Visibility::new(&state, &room, user)?;
    let mut chunk = Vec::with_capacity(events.len());
    for (_, stored) in &events {
        let pdu = parse_stored(stored)?;
        if let Some(pdu) = visibility.view(&pdu)? {
            chunk.push(crate::rooms::relations::client_event(
                &state, &pdu, user, true,
            )?);
        }
    }
    let state_events: Vec<Value> = events_of(&state, &map)?
        .iter()
        .map(|pdu| pdu.to_client_event(true))
        .collect();
    let account_data: Vec<Value> = state
        .storage
        .account_data
        .of_room(user, room_id.as_str())?
        .into_iter()
        .filter_map(|(kind, content)| {
            let content: Value = serde_json::from_str(content.get()).ok()?;
            Some(json!({ "type": kind, "content": content }))
        })
        .collect();
    let published = state
        .storage
        .rooms
        .directory
        .is_published(room_id.as_str())?;
    let mut body = json!({
        "room_id": room_id,
        "messages": {
            "chunk": chunk,
            "start": format!("t{start}"),
            "end": format!("s{end}"),
        },
        "state": state_events,
        "presence": [],
        "receipts": [],
        "account_data": account_data,
        "visibility": if published { "public" } else { "private" },
    });
    if let Some(membership) = membership {
        body["membership"] = json!(membership);
    }
    Ok(HttpResponse::Ok().json(body))
}
