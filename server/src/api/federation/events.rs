//! Reading a room's events and state over federation: `/event`, `/state`, `/state_ids`,
//! `/event_auth`, `/get_missing_events` and `/backfill`. Only servers with a joined member
//! in the room may read it.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use citadel_federation::pdu::Pdu;
use citadel_storage::rooms::state::StateMap;
use ruma::{OwnedEventId, RoomId};
use serde::Deserialize;
use serde_json::json;

use crate::api::error::{Error, Result, parse_json};
use crate::api::federation::auth::FederationRequest;
use crate::app::AppState;
use crate::rooms::{RoomCtx, load_pdu};

/// Most events one `/backfill` or `/get_missing_events` returns.
const MAX_EVENTS: usize = 100;

/// The room, if `origin` may read it.
fn readable_room(state: &AppState, room_id: &str, origin: &str) -> Result<RoomCtx> {
    let room_id = <&RoomId>::try_from(room_id).map_err(|_| Error::invalid_param("Bad room ID"))?;
    let room = RoomCtx::require(&state.storage, room_id)?;
    if !crate::rooms::servers::is_in_room(state, room_id, origin)? {
        return Err(Error::forbidden("Your server is not in this room"));
    }
    crate::rooms::acl::check_room(state, &room, origin)?;
    Ok(room)
}

fn query_values(req: &HttpRequest, name: &str) -> Vec<String> {
    let prefix = format!("{name}=");
    req.query_string()
        .split('&')
        .filter_map(|pair| pair.strip_prefix(&prefix))
        .map(|v| {
            percent_encoding::percent_decode_str(v)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect()
}

fn event_of_room(state: &AppState, room: &RoomCtx, event_id: &str) -> Result<Arc<Pdu>> {
    match load_pdu(state, event_id)? {
        Some(pdu) if pdu.room_id == room.room_id => Ok(pdu),
        _ => Err(Error::not_found("Unknown event")),
    }
}

/// `GET /_matrix/federation/v1/event/{eventId}`
pub async fn event(
    state: web::Data<AppState>,
    from: FederationRequest,
    event_id: web::Path<String>,
) -> Result<HttpResponse> {
    let pdu = load_pdu(&state, &event_id)?.ok_or_else(|| Error::not_found("Unknown event"))?;
    readable_room(&state, pdu.room_id.as_str(), &from.origin)?;
    Ok(HttpResponse::Ok().json(json!({
        "origin": state.server_name(),
        "origin_server_ts": citadel_storage::now_ms(),
        "pdus": [pdu.json],
    })))
}

/// The state just before an event.
fn state_at(state: &AppState, room: &RoomCtx, pdu: &Pdu) -> Result<StateMap> {
    if let Ok(before) = crate::rooms::incoming::state_before(state, room, pdu) {
        return Ok(before);
    }
    // The prev events are not held (the first event after joining): the state after the
    // event, without the event itself.
    let mut map = crate::rooms::state::after_event(state, pdu.event_id.as_str())?
        .ok_or_else(|| Error::not_found("The state at that event is unknown"))?;
    crate::rooms::state::remove_own_entry(state, &mut map, pdu)?;
    Ok(map)
}

type Events = Vec<Arc<Pdu>>;

/// The state at the `event_id` the query names, and its auth chain.
fn state_and_chain(
    state: &AppState,
    req: &HttpRequest,
    room: &RoomCtx,
) -> Result<(Events, Events)> {
    let event_id = query_values(req, "event_id")
        .pop()
        .ok_or_else(|| Error::missing_param("event_id is required"))?;
    let pdu = event_of_room(state, room, &event_id)?;
    let map = state_at(state, room, &pdu)?;
    let events = crate::rooms::state::events_of(state, &map)?;
    let chain = crate::rooms::state::auth_chain_of(state, events.iter().map(|p| &p.event_id))?;
    Ok((events, chain))
}

fn json_of(pdus: Vec<Arc<Pdu>>) -> Vec<ruma::CanonicalJsonObject> {
    pdus.into_iter().map(|p| p.json.clone()).collect()
}

/// `GET /_matrix/federation/v1/state_ids/{roomId}?event_id=…`
pub async fn state_ids(
    state: web::Data<AppState>,
    from: FederationRequest,
    room_id: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse> {
    let room = readable_room(&state, &room_id, &from.origin)?;
    let (events, chain) = state_and_chain(&state, &req, &room)?;
    Ok(HttpResponse::Ok().json(json!({
        "pdu_ids": events.iter().map(|p| p.event_id.as_str()).collect::<Vec<_>>(),
        "auth_chain_ids": chain.iter().map(|p| p.event_id.as_str()).collect::<Vec<_>>(),
    })))
}

/// `GET /_matrix/federation/v1/state/{roomId}?event_id=…`
pub async fn room_state(
    state: web::Data<AppState>,
    from: FederationRequest,
    room_id: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse> {
    let room = readable_room(&state, &room_id, &from.origin)?;
    let (events, chain) = state_and_chain(&state, &req, &room)?;
    Ok(HttpResponse::Ok().json(json!({
        "pdus": json_of(events),
        "auth_chain": json_of(chain),
    })))
}

/// `GET /_matrix/federation/v1/event_auth/{roomId}/{eventId}`
pub async fn event_auth(
    state: web::Data<AppState>,
    from: FederationRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    let (room_id, event_id) = path.into_inner();
    let room = readable_room(&state, &room_id, &from.origin)?;
    let pdu = event_of_room(&state, &room, &event_id)?;
    let chain = crate::rooms::state::auth_chain_of(&state, std::iter::once(&pdu.event_id))?;
    Ok(HttpResponse::Ok().json(json!({ "auth_chain": json_of(chain) })))
}

#[derive(Deserialize)]
struct MissingEventsRequest {
    #[serde(default)]
    earliest_events: Vec<OwnedEventId>,
    latest_events: Vec<OwnedEventId>,
    #[serde(default = "default_missing_limit")]
    limit: usize,
    #[serde(default)]
    min_depth: u64,
}

fn default_missing_limit() -> usize {
    10
}

/// Walks back from `start` through `prev_events`, breadth first, skipping `stop` and
/// events below `min_depth`; returns up to `limit` events, oldest first.
fn walk_back(
    state: &AppState,
    room: &RoomCtx,
    start: Vec<OwnedEventId>,
    stop: &HashSet<OwnedEventId>,
    include_start: bool,
    limit: usize,
    min_depth: u64,
) -> Result<Vec<Arc<Pdu>>> {
    let mut seen: HashSet<OwnedEventId> = stop.clone();
    let mut queue: VecDeque<(OwnedEventId, bool)> =
        start.into_iter().map(|id| (id, include_start)).collect();
    let mut found = BTreeMap::new();
    while let Some((id, include)) = queue.pop_front() {
        if found.len() >= limit {
            break;
        }
        if !seen.insert(id.clone()) {
            continue;
        }
        let Some(pdu) = load_pdu(state, id.as_str())? else {
            continue;
        };
        if pdu.room_id != room.room_id || pdu.depth < min_depth {
            continue;
        }
        for prev in &pdu.prev_events {
            if !seen.contains(prev) {
                queue.push_back((prev.clone(), true));
            }
        }
        if include {
            found.insert((pdu.depth, pdu.event_id.clone()), pdu);
        }
    }
    Ok(found.into_values().collect())
}

/// `POST /_matrix/federation/v1/get_missing_events/{roomId}`
pub async fn get_missing_events(
    state: web::Data<AppState>,
    from: FederationRequest,
    room_id: web::Path<String>,
) -> Result<HttpResponse> {
    let room = readable_room(&state, &room_id, &from.origin)?;
    let body: MissingEventsRequest = parse_json(&from.body)?;
    let stop: HashSet<OwnedEventId> = body.earliest_events.into_iter().collect();
    let events = walk_back(
        &state,
        &room,
        body.latest_events,
        &stop,
        false,
        body.limit.min(MAX_EVENTS),
        body.min_depth,
    )?;
    Ok(HttpResponse::Ok().json(json!({
        "events": json_of(events),
    })))
}

/// `GET /_matrix/federation/v1/backfill/{roomId}?v=…&limit=…`
pub async fn backfill(
    state: web::Data<AppState>,
    from: FederationRequest,
    room_id: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse> {
    let room = readable_room(&state, &room_id, &from.origin)?;
    let start: Vec<OwnedEventId> = query_values(&req, "v")
        .into_iter()
        .filter_map(|v| OwnedEventId::try_from(v).ok())
        .collect();
    if start.is_empty() {
        return Err(Error::missing_param("v is required"));
    }
    let limit = query_values(&req, "limit")
        .pop()
        .ok_or_else(|| Error::missing_param("limit is required"))?
        .parse::<usize>()
        .map_err(|_| Error::invalid_param("limit must be a number"))?;
    let mut events = walk_back(
        &state,
        &room,
        start,
        &HashSet::new(),
        true,
        limit.min(MAX_EVENTS),
        0,
    )?;
    // Newest first, as servers page backwards.
    events.reverse();
    Ok(HttpResponse::Ok().json(json!({
        "origin": state.server_name(),
        "origin_server_ts": citadel_storage::now_ms(),
        "pdus": json_of(events),
    })))
}
