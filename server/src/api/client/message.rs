//! Room events: sending (`/send`, `/redact`), reading one (`/event`) and paging through
//! the timeline (`/messages`).

use std::time::Duration;

use actix_web::web;
use citadel_federation::pdu::{EventContent, Pdu};
use citadel_storage::txn_ids::TxnState;
use ruma::OwnedEventId;
use ruma::api::Direction;
use ruma::api::client::message::{get_message_events, send_message_event};
use ruma::api::client::redact::redact_event;
use ruma::api::client::room::get_room_event;
use serde_json::{Value, json};

use crate::api::Routes;
use crate::api::client::state::to_raw;
use crate::api::error::{Error, Result};
use crate::api::extract::Ruma;
use crate::app::AppState;
use crate::auth::session::Sender;
use crate::rooms::create::to_canonical;
use crate::rooms::visibility::Visibility;
use crate::rooms::{RoomCtx, parse_stored};

pub fn routes(routes: &mut Routes<'_>) {
    routes
        .ruma(send_message_event)
        .ruma(redact_event)
        .ruma(get_room_event)
        .ruma(get_message_events);
}

/// Sends an event once per transaction ID of the device: a retried request gets the
/// first one's event ID back.
async fn send_once(
    state: &AppState,
    sender: &Sender,
    txn_id: &str,
    room: &RoomCtx,
    event: EventContent,
) -> Result<OwnedEventId> {
    let (user, device) = (sender.user_id.as_str(), sender.device_id.as_str());
    // Scoped to the room and type too, so one ID reused across endpoints cannot collide.
    let txn_key = citadel_storage::txn_ids::scoped_txn(room.room_id.as_str(), &event.kind, txn_id);
    for _ in 0..100 {
        match state.storage.txn_ids.claim(user, device, &txn_key)? {
            TxnState::Done(event_id) => {
                return OwnedEventId::try_from(event_id).map_err(Error::internal);
            }
            TxnState::Pending => tokio::time::sleep(Duration::from_millis(50)).await,
            TxnState::Claimed => {
                // Only a new event counts against the rate: a retried transaction is free.
                if let Err(e) = crate::policy::rate_limit::check_send(state, sender) {
                    state.storage.txn_ids.release(user, device, &txn_key)?;
                    return Err(e);
                }
                let txn = crate::rooms::append::ClientTxn {
                    device_id: device,
                    key: &txn_key,
                    txn_id,
                };
                return match crate::rooms::append::append_sent_event(
                    state,
                    room,
                    &sender.user_id,
                    event,
                    Some(txn),
                )
                .await
                {
                    Ok((pdu, _)) => Ok(pdu.event_id),
                    Err(e) => {
                        state.storage.txn_ids.release(user, device, &txn_key)?;
                        Err(e)
                    }
                };
            }
        }
    }
    Err(Error::unknown(
        actix_web::http::StatusCode::CONFLICT,
        "The same transaction is still being sent",
    ))
}

/// `PUT /_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}`
async fn send_message_event(
    state: web::Data<AppState>,
    req: Ruma<send_message_event::v3::Request>,
) -> Result<send_message_event::v3::Response> {
    let content: Value = serde_json::from_str(req.body.body.json().get())
        .map_err(|e| Error::bad_json(e.to_string()))?;
    let event_id = send_message(
        &state,
        req.sender()?,
        &req.body.room_id,
        &req.body.event_type.to_string(),
        content,
        req.body.txn_id.as_str(),
    )
    .await?;
    Ok(send_message_event::v3::Response::new(event_id))
}

/// Sends a message event (not state) as `sender` under a transaction ID.
pub(crate) async fn send_message(
    state: &AppState,
    sender: &Sender,
    room_id: &ruma::RoomId,
    kind: &str,
    content: Value,
    txn_id: &str,
) -> Result<OwnedEventId> {
    let room = RoomCtx::require(&state.storage, room_id)?;
    if sender.shadow_banned {
        return Ok(crate::auth::restrictions::shadow_event_id());
    }
    crate::e2ee::policy::check_message(state, &room, kind, &content)?;
    let event = EventContent {
        kind: kind.to_owned(),
        state_key: None,
        content: to_canonical(content)?,
        redacts: None,
    };
    send_once(state, sender, txn_id, &room, event).await
}

/// `PUT /_matrix/client/v3/rooms/{roomId}/redact/{eventId}/{txnId}`
async fn redact_event(
    state: web::Data<AppState>,
    req: Ruma<redact_event::v3::Request>,
) -> Result<redact_event::v3::Response> {
    let event_id = redact(
        &state,
        req.sender()?,
        &req.body.room_id,
        &req.body.event_id,
        req.body.reason.as_deref(),
        req.body.txn_id.as_str(),
    )
    .await?;
    Ok(redact_event::v3::Response::new(event_id))
}

/// Redacts `target` in the room as `sender` under a transaction ID.
pub(crate) async fn redact(
    state: &AppState,
    sender: &Sender,
    room_id: &ruma::RoomId,
    target: &ruma::EventId,
    reason: Option<&str>,
    txn_id: &str,
) -> Result<OwnedEventId> {
    let room = RoomCtx::require(&state.storage, room_id)?;
    // From room version 3 the authorization rules accept any redaction and leave it to
    // servers to apply only permitted ones; refuse the others up front, as Synapse does.
    let target_pdu = crate::rooms::load_pdu(state, target.as_str())?;
    if target_pdu
        .as_ref()
        .is_some_and(|pdu| pdu.room_id != room.room_id)
    {
        // A redaction names its room; one that names another room's event would never
        // apply (as Synapse, a 400).
        return Err(Error::invalid_param(
            "The event to redact is in a different room",
        ));
    }
    if let Some(pdu) = target_pdu
        && pdu.sender != sender.user_id
    {
        let (_, map) = crate::rooms::state::current(state, &room)?;
        let (level, needed) = crate::rooms::state::power_levels(
            state,
            &room,
            &map,
            sender.user_id.as_str(),
            "redact",
        )?;
        if level < needed {
            return Err(Error::forbidden("You may only redact your own events"));
        }
    }
    let mut content = json!({});
    if let Some(reason) = reason {
        content["reason"] = json!(reason);
    }
    let event = EventContent {
        kind: "m.room.redaction".into(),
        state_key: None,
        content: to_canonical(content)?,
        redacts: Some(target.to_owned()),
    };
    let event_id = send_once(state, sender, txn_id, &room, event).await?;
    crate::rooms::redaction::apply(state, &room, &event_id).await?;
    Ok(event_id)
}

/// The highest stream position (exclusive) of the room the user may read: everything
/// while joined, up to their leave otherwise.
pub fn readable_until(state: &AppState, room: &RoomCtx, user_id: &str) -> Result<u64> {
    match state
        .storage
        .rooms
        .membership
        .get(user_id, room.room_id.as_str())?
    {
        Some(record) if record.membership == "join" => Ok(u64::MAX),
        Some(record) if record.membership == "leave" || record.membership == "ban" => {
            Ok(record.count + 1)
        }
        // Anyone may read a world-readable room (event by event, visibility decides).
        _ if crate::rooms::state::current_event(state, room, "m.room.history_visibility", "")?
            .and_then(|e| crate::rooms::state::content_str(&e, "history_visibility"))
            .as_deref()
            == Some("world_readable") =>
        {
            Ok(u64::MAX)
        }
        _ => Err(Error::forbidden("You are not a member of this room")),
    }
}

/// `GET /_matrix/client/v3/rooms/{roomId}/event/{eventId}`
async fn get_room_event(
    state: web::Data<AppState>,
    req: Ruma<get_room_event::v3::Request>,
) -> Result<get_room_event::v3::Response> {
    let user = req.sender()?.user_id.as_str();
    let room = RoomCtx::require(&state.storage, &req.body.room_id)?;
    // The spec answers 404 also when the user may not read the event, so an outsider
    // cannot tell an event ID in a room they are not in from one that does not exist.
    let until = readable_until(&state, &room, user).map_err(|e| match e {
        Error::Matrix { status, .. } if status == actix_web::http::StatusCode::FORBIDDEN => {
            Error::not_found("Event not found")
        }
        other => other,
    })?;
    let mut visibility = Visibility::new(&state, &room, user)?;
    let (_, pdu) = visible_event(
        &state,
        &room,
        until,
        &mut visibility,
        req.body.event_id.as_str(),
    )?;
    Ok(get_room_event::v3::Response::new(to_raw(
        &crate::rooms::relations::client_event(&state, &pdu, user, true)?,
    )?))
}

/// The event `event_id` of `room` with its stream position, if the reader may see it:
/// it is before their `until` (see [`readable_until`]) and history visibility allows it.
/// Anything else is `M_NOT_FOUND`, so a client cannot tell a hidden event from a missing one.
pub fn visible_event(
    state: &AppState,
    room: &RoomCtx,
    until: u64,
    visibility: &mut Visibility<'_>,
    event_id: &str,
) -> Result<(u64, Pdu)> {
    let not_found = || Error::not_found("Event not found");
    let (at, stored) = state
        .storage
        .rooms
        .timeline
        .get(event_id)?
        .ok_or_else(not_found)?;
    if at.room != room.short || at.count >= until {
        return Err(not_found());
    }
    let pdu = parse_stored(&stored)?;
    let seen = visibility.view(&pdu)?.ok_or_else(not_found)?.into_owned();
    Ok((at.count, seen))
}

/// A pagination token: the boundary between stream positions `< n` and `>= n`. Sync
/// tokens (`s…`) and timeline tokens (`t…`) mean the same thing here.
pub fn parse_token(token: &str) -> Result<u64> {
    token
        .strip_prefix('s')
        .or_else(|| token.strip_prefix('t'))
        // Sync tokens may carry a `_<to-device position>` suffix, irrelevant here.
        .map(|n| n.split('_').next().unwrap_or(n))
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| Error::invalid_param(format!("Invalid pagination token {token:?}")))
}

/// `GET /_matrix/client/v3/rooms/{roomId}/messages`
async fn get_message_events(
    state: web::Data<AppState>,
    req: Ruma<get_message_events::v3::Request>,
) -> Result<get_message_events::v3::Response> {
    let user = req.sender()?.user_id.as_str();
    let device = req.sender()?.device_id.as_str();
    let body = &req.body;
    let room = RoomCtx::require(&state.storage, &body.room_id)?;
    let until = readable_until(&state, &room, user)?;
    let limit = usize::try_from(u64::from(body.limit))
        .unwrap_or(usize::MAX)
        .clamp(1, 1000);
    let to = body.to.as_deref().map(parse_token).transpose()?;
    let filter = &body.filter;

    let (start, events) = match body.dir {
        Direction::Backward => {
            let from = match body.from.as_deref() {
                Some(token) => parse_token(token)?,
                None => state.stream.safe_upto(&state.storage)? + 1,
            }
            .min(until);
            let mut events = state
                .storage
                .rooms
                .timeline
                .before(room.short, from, limit)?;
            // The start of what this server holds: ask the room's other servers for more.
            if events.len() < limit && to.is_none() {
                let added = crate::rooms::backfill::backfill(&state, &room)
                    .await
                    .unwrap_or_else(|e| {
                        tracing::info!(error = %e, "backfill failed");
                        0
                    });
                if added > 0 {
                    events = state
                        .storage
                        .rooms
                        .timeline
                        .before(room.short, from, limit)?;
                }
            }
            if let Some(to) = to {
                events.retain(|(count, _)| *count >= to);
            }
            (from, events)
        }
        _ => {
            let from = body
                .from
                .as_deref()
                .map(parse_token)
                .transpose()?
                .unwrap_or(0);
            let mut events =
                state
                    .storage
                    .rooms
                    .timeline
                    .after(room.short, from.saturating_sub(1), limit)?;
            events.retain(|(count, _)| *count < until && to.is_none_or(|to| *count < to));
            (from, events)
        }
    };
    // As Synapse: `end` comes with every non-empty page, and only the empty page past
    // the last event goes without (the spec's "no further events").
    let end = match (body.dir, events.last()) {
        (_, None) => None,
        (Direction::Backward, Some((count, _))) => Some(format!("t{count}")),
        (_, Some((count, _))) => Some(format!("t{}", count + 1)),
    };
    let mut chunk = Vec::with_capacity(events.len());
    let mut visibility = Visibility::new(&state, &room, user)?;
    for (_, stored) in &events {
        let stored_pdu = parse_stored(stored)?;
        let Some(pdu) = visibility.view(&stored_pdu)? else {
            continue;
        };
        let kind = pdu.kind.to_string();
        if filter.not_types.contains(&kind)
            || filter
                .types
                .as_ref()
                .is_some_and(|types| !types.contains(&kind))
            || filter.not_senders.contains(&pdu.sender)
            || filter
                .senders
                .as_ref()
                .is_some_and(|senders| !senders.contains(&pdu.sender))
        {
            continue;
        }
        let mut event = crate::rooms::relations::client_event(&state, &pdu, user, true)?;
        crate::rooms::relations::add_transaction_id(&state, &mut event, &pdu, user, device)?;
        chunk.push(to_raw(&event)?);
    }
    // With lazy-loaded members, the member events of the senders on this page.
    let mut member_state = Vec::new();
    if !filter.lazy_load_options.is_disabled() {
        let senders: std::collections::BTreeSet<String> = chunk
            .iter()
            .filter_map(|e| {
                serde_json::from_str::<Value>(e.json().get()).ok()?["sender"]
                    .as_str()
                    .map(str::to_owned)
            })
            .collect();
        let (_, map) = crate::rooms::state::current(&state, &room)?;
        for sender in senders {
            if let Some(member) =
                crate::rooms::state::event_in(&state, &map, "m.room.member", &sender)?
            {
                member_state.push(to_raw(&member.to_client_event(true))?);
            }
        }
    }
    let mut response = get_message_events::v3::Response::new();
    response.state = member_state;
    response.start = format!("t{start}");
    response.end = end;
    response.chunk = chunk;
    Ok(response)
}
