//! `/context/{eventId}` and `/timestamp_to_event`.

use actix_web::web;
use ruma::api::Direction;
use ruma::api::client::context::get_context;
use ruma::api::client::room::get_event_by_timestamp;
use ruma::{MilliSecondsSinceUnixEpoch, OwnedEventId};

use crate::api::Routes;
use crate::api::client::message::{readable_until, visible_event};
use crate::api::client::state::to_raw;
use crate::api::error::{Error, Result};
use crate::api::extract::Ruma;
use crate::app::AppState;
use crate::rooms::relations::client_event;
use crate::rooms::state::{after_event, events_of};
use crate::rooms::visibility::Visibility;
use crate::rooms::{RoomCtx, parse_stored};

pub fn routes(routes: &mut Routes<'_>) {
    routes.ruma(get_context).ruma(get_event_by_timestamp);
}

/// `GET /_matrix/client/v3/rooms/{roomId}/context/{eventId}`
async fn get_context(
    state: web::Data<AppState>,
    req: Ruma<get_context::v3::Request>,
) -> Result<get_context::v3::Response> {
    let user = req.sender()?.user_id.as_str();
    let room = RoomCtx::require(&state.storage, &req.body.room_id)?;
    let until = readable_until(&state, &room, user)?;
    let mut visibility = Visibility::new(&state, &room, user)?;
    let (at, pdu) = visible_event(
        &state,
        &room,
        until,
        &mut visibility,
        req.body.event_id.as_str(),
    )?;
    let limit = u64::from(req.body.limit).min(100) as usize;
    let before_n = limit / 2;
    let after_n = limit - before_n;
    let filter = &req.body.filter;
    let keep = |p: &citadel_federation::pdu::Pdu| {
        let kind = p.kind.to_string();
        !filter.not_types.contains(&kind)
            && filter.types.as_ref().is_none_or(|t| t.contains(&kind))
            && !filter.not_senders.contains(&p.sender)
            && filter
                .senders
                .as_ref()
                .is_none_or(|s| s.contains(&p.sender))
    };

    let before = state
        .storage
        .rooms
        .timeline
        .before(room.short, at, before_n)?;
    let mut after = state
        .storage
        .rooms
        .timeline
        .after(room.short, at, after_n)?;
    after.retain(|(count, _)| *count < until);
    let start = before.last().map_or(at, |(c, _)| *c);
    let end = after.last().map_or(at + 1, |(c, _)| c + 1);

    // With lazy-loaded members, the state holds only the member events of the senders
    // of what is returned.
    let mut senders = std::collections::BTreeSet::from([pdu.sender.to_string()]);
    let mut events_before = Vec::new();
    for (_, stored) in &before {
        let p = parse_stored(stored)?;
        if keep(&p)
            && let Some(seen) = visibility.view(&p)?
        {
            senders.insert(seen.sender.to_string());
            events_before.push(to_raw(&client_event(&state, &seen, user, true)?)?);
        }
    }
    let mut events_after = Vec::new();
    let mut last_event_id = pdu.event_id.to_string();
    for (_, stored) in &after {
        let p = parse_stored(stored)?;
        last_event_id = p.event_id.to_string();
        if keep(&p)
            && let Some(seen) = visibility.view(&p)?
        {
            senders.insert(seen.sender.to_string());
            events_after.push(to_raw(&client_event(&state, &seen, user, true)?)?);
        }
    }
    // The room state at the last event returned.
    let state_map = after_event(&state, &last_event_id)?.unwrap_or_default();
    let lazy = !filter.lazy_load_options.is_disabled();
    let state_events = events_of(&state, &state_map)?
        .iter()
        .filter(|p| {
            !lazy
                || p.kind != ruma::events::TimelineEventType::RoomMember
                || p.state_key.as_deref().is_some_and(|k| senders.contains(k))
        })
        .map(|p| to_raw(&p.to_client_event(true)))
        .collect::<Result<Vec<_>>>()?;

    let mut response = get_context::v3::Response::new();
    response.start = Some(format!("t{start}"));
    response.end = Some(format!("t{end}"));
    response.event = Some(to_raw(&client_event(&state, &pdu, user, true)?)?);
    response.events_before = events_before;
    response.events_after = events_after;
    response.state = state_events;
    Ok(response)
}

/// `GET /_matrix/client/v1/rooms/{roomId}/timestamp_to_event`: the closest visible
/// event at or after (`dir=f`) or at or before (`dir=b`) the timestamp.
async fn get_event_by_timestamp(
    state: web::Data<AppState>,
    req: Ruma<get_event_by_timestamp::v1::Request>,
) -> Result<get_event_by_timestamp::v1::Response> {
    let user = req.sender()?.user_id.as_str();
    let room = RoomCtx::require(&state.storage, &req.body.room_id)?;
    let until = readable_until(&state, &room, user)?;
    let ts = req.body.ts;
    let mut visibility = Visibility::new(&state, &room, user)?;
    let mut best: Option<(MilliSecondsSinceUnixEpoch, OwnedEventId)> = None;
    let mut cursor = 0u64;
    loop {
        let page = state
            .storage
            .rooms
            .timeline
            .after(room.short, cursor, 500)?;
        let Some((last, _)) = page.last() else { break };
        cursor = *last;
        for (count, stored) in &page {
            if *count >= until {
                break;
            }
            let p = parse_stored(stored)?;
            let candidate = match req.body.dir {
                Direction::Forward => {
                    p.origin_server_ts >= ts
                        && best.as_ref().is_none_or(|(b, _)| p.origin_server_ts < *b)
                }
                _ => {
                    p.origin_server_ts <= ts
                        && best.as_ref().is_none_or(|(b, _)| p.origin_server_ts >= *b)
                }
            };
            if candidate && visibility.can_see(&p)? {
                best = Some((p.origin_server_ts, p.event_id.clone()));
            }
        }
    }
    let (origin_server_ts, event_id) =
        best.ok_or_else(|| Error::not_found("No event found in that direction"))?;
    Ok(get_event_by_timestamp::v1::Response::new(
        event_id,
        origin_server_ts,
    ))
}
