//! Synapse's admin API to read a room's timeline whatever the admin's membership:
//! messages (paginated like the client API), an event's context, and the event
//! closest to a timestamp. Admins see every event; history visibility does not apply.

use std::collections::HashMap;

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};
use citadel_federation::pdu::Pdu;
use citadel_storage::rooms::timeline::StoredPdu;
use serde_json::{Value, json};

use crate::api::Routes;
use crate::api::admin::synapse::Admin;
use crate::api::admin::synapse::rooms::room;
use crate::api::admin::synapse::users::{int_param, query};
use crate::api::client::message::parse_token;
use crate::api::error::{Error, Result};
use crate::app::AppState;
use crate::rooms::{RoomCtx, parse_stored};

pub fn routes(routes: &mut Routes<'_>) {
    routes
        .raw(
            Method::GET,
            "/_synapse/admin/v1/rooms/{room_id}/messages",
            messages,
        )
        .raw(
            Method::GET,
            "/_synapse/admin/v1/rooms/{room_id}/context/{event_id}",
            context,
        )
        .raw(
            Method::GET,
            "/_synapse/admin/v1/rooms/{room_id}/timestamp_to_event",
            timestamp_to_event,
        );
}

/// `dir`: `f` (the default) or `b`; anything else `400 M_INVALID_PARAM`.
fn backwards(query: &HashMap<String, String>, default: &str) -> Result<bool> {
    match query.get("dir").map_or(default, String::as_str) {
        "f" => Ok(false),
        "b" => Ok(true),
        other => Err(Error::invalid_param(format!(
            "Query parameter \"dir\" must be one of ['b', 'f'], not {other:?}"
        ))),
    }
}

/// The parts of a `RoomEventFilter` this endpoint applies.
struct EventFilter {
    types: Option<Vec<String>>,
    not_types: Vec<String>,
    senders: Option<Vec<String>>,
    not_senders: Vec<String>,
}

impl EventFilter {
    fn parse(query: &HashMap<String, String>) -> Result<Self> {
        let value: Value = match query.get("filter") {
            Some(text) => serde_json::from_str(text)
                .map_err(|_| Error::invalid_param("Query parameter \"filter\" is not JSON"))?,
            None => json!({}),
        };
        let list = |field: &str| -> Result<Option<Vec<String>>> {
            match &value[field] {
                Value::Null => Ok(None),
                v => serde_json::from_value(v.clone()).map(Some).map_err(|_| {
                    Error::invalid_param(format!("Filter field {field:?} must list strings"))
                }),
            }
        };
        Ok(Self {
            types: list("types")?,
            not_types: list("not_types")?.unwrap_or_default(),
            senders: list("senders")?,
            not_senders: list("not_senders")?.unwrap_or_default(),
        })
    }

    fn keeps(&self, pdu: &Pdu) -> bool {
        let kind = pdu.kind.to_string();
        let sender = pdu.sender.to_string();
        !self.not_types.contains(&kind)
            && self.types.as_ref().is_none_or(|t| t.contains(&kind))
            && !self.not_senders.contains(&sender)
            && self.senders.as_ref().is_none_or(|s| s.contains(&sender))
    }
}

fn client_events(events: &[(u64, StoredPdu)], filter: &EventFilter) -> Result<Vec<Value>> {
    let mut out = Vec::with_capacity(events.len());
    for (_, stored) in events {
        let pdu = parse_stored(stored)?;
        if filter.keeps(&pdu) {
            out.push(pdu.to_client_event(true));
        }
    }
    Ok(out)
}

/// `GET /_synapse/admin/v1/rooms/{room_id}/messages`: `from`, `to`, `limit` (10),
/// `dir` (`f`) and `filter`, as the client API's `/messages`.
async fn messages(
    state: web::Data<AppState>,
    _admin: Admin,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse> {
    let query = query(&req);
    let room = room(&state, &path)?;
    let backwards = backwards(&query, "f")?;
    let limit = int_param(&query, "limit", 10)?.clamp(1, 1000) as usize;
    let filter = EventFilter::parse(&query)?;
    let to = query.get("to").map(|t| parse_token(t)).transpose()?;
    let timeline = &state.storage.rooms.timeline;
    let (from, events) = if backwards {
        let from = match query.get("from") {
            Some(token) => parse_token(token)?,
            None => state.stream.safe_upto(&state.storage)? + 1,
        };
        let mut events = timeline.before(room.short, from, limit)?;
        if let Some(to) = to {
            events.retain(|(count, _)| *count >= to);
        }
        (from, events)
    } else {
        let from = query
            .get("from")
            .map(|t| parse_token(t))
            .transpose()?
            .unwrap_or(0);
        let mut events = timeline.after(room.short, from.saturating_sub(1), limit)?;
        if let Some(to) = to {
            events.retain(|(count, _)| *count < to);
        }
        (from, events)
    };
    let mut body = json!({
        "chunk": client_events(&events, &filter)?,
        "start": format!("t{from}"),
    });
    if events.len() == limit
        && let Some((count, _)) = events.last()
    {
        let end = if backwards { *count } else { count + 1 };
        body["end"] = json!(format!("t{end}"));
    }
    Ok(HttpResponse::Ok().json(body))
}

/// `GET /_synapse/admin/v1/rooms/{room_id}/context/{event_id}`: the event, `limit`
/// (10) events around it split before and after, and the room's state at it.
async fn context(
    state: web::Data<AppState>,
    _admin: Admin,
    path: web::Path<(String, String)>,
    req: HttpRequest,
) -> Result<HttpResponse> {
    let query = query(&req);
    let (raw_room, event_id) = path.into_inner();
    let room = room(&state, &raw_room)?;
    let limit = int_param(&query, "limit", 10)?.min(1000) as usize;
    let filter = EventFilter::parse(&query)?;
    let timeline = &state.storage.rooms.timeline;
    let (at, stored) = timeline
        .get(&event_id)?
        .filter(|(at, _)| at.room == room.short)
        .ok_or_else(|| Error::not_found("Event not found"))?;
    let event = parse_stored(&stored)?;
    let before_count = limit / 2;
    let before = timeline.before(room.short, at.count, before_count)?;
    let after = timeline.after(room.short, at.count, limit - before_count)?;
    let state_events = state_at(&state, &room, &event_id)?;
    let start = before.last().map_or(at.count, |(count, _)| *count);
    let end = after.last().map_or(at.count + 1, |(count, _)| count + 1);
    Ok(HttpResponse::Ok().json(json!({
        "event": event.to_client_event(true),
        "events_before": client_events(&before, &filter)?,
        "events_after": client_events(&after, &filter)?,
        "state": state_events,
        "start": format!("t{start}"),
        "end": format!("t{end}"),
    })))
}

/// The room's state after the event, as client events.
fn state_at(state: &AppState, room: &RoomCtx, event_id: &str) -> Result<Vec<Value>> {
    let Some(map) = crate::rooms::state::after_event(state, event_id)? else {
        let (_, map) = crate::rooms::state::current(state, room)?;
        return events_of(state, &map);
    };
    events_of(state, &map)
}

fn events_of(
    state: &AppState,
    map: &citadel_storage::rooms::state::StateMap,
) -> Result<Vec<Value>> {
    Ok(crate::rooms::state::events_of(state, map)?
        .iter()
        .map(|pdu| pdu.to_client_event(true))
        .collect())
}

/// `GET /_synapse/admin/v1/rooms/{room_id}/timestamp_to_event?ts=&dir=`: the event
/// closest to `ts` at or after it (`dir=f`, the default) or at or before it (`b`).
async fn timestamp_to_event(
    state: web::Data<AppState>,
    _admin: Admin,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse> {
    let query = query(&req);
    let room = room(&state, &path)?;
    let ts = query
        .get("ts")
        .ok_or_else(|| Error::missing_param("Missing integer query parameter 'ts'"))?
        .parse::<u64>()
        .map_err(|_| Error::invalid_param("Query parameter 'ts' must be an integer"))?;
    let backwards = backwards(&query, "f")?;
    let mut best: Option<(u64, String)> = None;
    crate::rooms::walk::each_event(&state, room.short, |_, pdu| {
        let at = u64::from(pdu.origin_server_ts.get());
        let better = if backwards {
            at <= ts && best.as_ref().is_none_or(|(b, _)| at >= *b)
        } else {
            at >= ts && best.as_ref().is_none_or(|(b, _)| at < *b)
        };
        if better {
            best = Some((at, pdu.event_id.to_string()));
        }
        Ok(std::ops::ControlFlow::Continue(()))
    })?;
    let (origin_server_ts, event_id) = best.ok_or_else(|| {
        Error::not_found(format!(
            "Unable to find event from {ts} in direction {}",
            if backwards { "b" } else { "f" }
        ))
    })?;
    Ok(HttpResponse::Ok().json(json!({
        "event_id": event_id,
        "origin_server_ts": origin_server_ts,
    })))
}
