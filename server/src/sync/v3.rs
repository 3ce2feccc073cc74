//! `GET /_matrix/client/v3/sync`: initial and incremental sync with long-polling.
//!
//! Tokens are stream boundaries (`s<n>`: everything below `n` has been delivered). A
//! request subscribes to the notifier *before* looking for news, so an event committed
//! while the response is being built still wakes it.

use std::time::{Duration, Instant};

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::api::Routes;
use crate::api::client::message::parse_token;
use crate::api::error::{Error, Result};
use crate::api::extract::Authed;
use crate::app::AppState;
use crate::rooms::state::{after_event, before_count, events_of};
use crate::rooms::visibility::Visibility;
use crate::rooms::{RoomCtx, parse_stored};

pub fn routes(routes: &mut Routes<'_>) {
    routes
        .raw(Method::GET, "/_matrix/client/v3/sync", sync)
        .raw(Method::GET, "/_matrix/client/r0/sync", sync);
}

/// Timeline events per room when the filter does not say.
const DEFAULT_TIMELINE_LIMIT: usize = 10;
/// Longest long-poll honoured.
const MAX_TIMEOUT_MS: u64 = 60_000;

#[derive(Deserialize)]
struct SyncQuery {
    since: Option<String>,
    timeout: Option<u64>,
    #[serde(default)]
    full_state: bool,
    filter: Option<String>,
    set_presence: Option<String>,
}

struct Options {
    /// The requesting device, which gets its own events' transaction IDs.
    device_id: String,
    since: Option<u64>,
    full_state: bool,
    timeline_limit: usize,
    /// Send only the member events of the timeline's senders (and the user's own).
    lazy_load_members: bool,
    filter: crate::sync::filter::SyncFilter,
}

/// `GET /_matrix/client/v3/sync`
async fn sync(
    state: web::Data<AppState>,
    Authed(sender): Authed,
    req: HttpRequest,
) -> Result<HttpResponse> {
    let query: SyncQuery = serde_html_form_query(&req)?;
    let since = query.since.as_deref().map(parse_token).transpose()?;
    let filter = load_filter(&state, sender.user_id.as_str(), query.filter.as_deref())?;
    let options = Options {
        device_id: sender.device_id.to_string(),
        since,
        full_state: query.full_state,
        timeline_limit: filter["room"]["timeline"]["limit"]
            .as_u64()
            .map_or(DEFAULT_TIMELINE_LIMIT, |n| n.clamp(1, 500) as usize),
        lazy_load_members: filter["room"]["state"]["lazy_load_members"] == true,
        filter: crate::sync::filter::SyncFilter::from_value(&filter),
    };
    let timeout = Duration::from_millis(query.timeout.unwrap_or(0).min(MAX_TIMEOUT_MS));
    let deadline = Instant::now() + timeout;
    // Syncing marks the user online unless the client says otherwise.
    let presence = match query.set_presence.as_deref() {
        None | Some("online") => Some(ruma::presence::PresenceState::Online),
        Some("unavailable") => Some(ruma::presence::PresenceState::Unavailable),
        Some("offline") => None,
        Some(_) => {
            return Err(Error::invalid_param(
                "set_presence must be online, offline or unavailable",
            ));
        }
    };
    if let Some(presence) = presence {
        crate::api::client::presence::update(&state, sender.user_id.as_str(), presence, None)?;
    }
    let mut wake = state.notifier.subscribe(sender.user_id.as_str());
    loop {
        let next = state.stream.safe_upto(&state.storage)? + 1;
        let (body, has_news) = build(&state, sender.user_id.as_str(), &options, next)?;
        let now = Instant::now();
        if since.is_none() || has_news || options.full_state || now >= deadline {
            return Ok(HttpResponse::Ok().json(body));
        }
        // Nothing yet: wait for a commit that concerns this user, or the timeout.
        if tokio::time::timeout(deadline - now, wake.changed())
            .await
            .is_err()
        {
            let next = state.stream.safe_upto(&state.storage)? + 1;
            return Ok(
                HttpResponse::Ok().json(build(&state, sender.user_id.as_str(), &options, next)?.0)
            );
        }
    }
}

fn serde_html_form_query<T: serde::de::DeserializeOwned>(req: &HttpRequest) -> Result<T> {
    web::Query::<T>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .map_err(|e| Error::invalid_param(format!("Invalid query parameters: {e}")))
}

/// The filter of a request: inline JSON or the ID of a stored filter.
fn load_filter(state: &AppState, user_id: &str, filter: Option<&str>) -> Result<Value> {
    let Some(filter) = filter else {
        return Ok(Value::Null);
    };
    if filter.trim_start().starts_with('{') {
        return serde_json::from_str(filter)
            .map_err(|e| Error::bad_json(format!("Invalid filter: {e}")));
    }
    Ok(match state.storage.filters.get(user_id, filter)? {
        Some(raw) => serde_json::from_str(raw.get()).unwrap_or_default(),
        None => Value::Null,
    })
}

/// Builds the response for events below the boundary `next`; says whether it carries
/// anything new.
fn build(state: &AppState, user_id: &str, options: &Options, next: u64) -> Result<(Value, bool)> {
    let mut join = Map::new();
    let mut invite = Map::new();
    let mut leave = Map::new();
    let mut knock = Map::new();
    for (room_id, record) in state.storage.rooms.membership.rooms(user_id)? {
        if !options.filter.rooms.allows_room(&room_id) {
            continue;
        }
        let Ok(room_id) = ruma::OwnedRoomId::try_from(room_id) else {
            continue;
        };
        let Some(room) = RoomCtx::load(&state.storage, &room_id)? else {
            continue;
        };
        if record.count >= next {
            // A change committed after this response's boundary: the next sync has it.
            continue;
        }
        let changed_since = options.since.is_none_or(|since| record.count >= since);
        match record.membership.as_str() {
            "join" => {
                if let Some(body) =
                    joined_room(state, &room, user_id, options, next, changed_since)?
                {
                    join.insert(room_id.to_string(), body);
                }
            }
            "invite" if changed_since => {
                let events = stripped_state(state, &record.event_id)?;
                invite.insert(
                    room_id.to_string(),
                    json!({ "invite_state": { "events": events } }),
                );
            }
            "knock" if changed_since => {
                let events = stripped_state(state, &record.event_id)?;
                knock.insert(
                    room_id.to_string(),
                    json!({ "knock_state": { "events": events } }),
                );
            }
            "leave" | "ban"
                if changed_since && (options.since.is_some() || options.filter.include_leave) =>
            {
                leave.insert(
                    room_id.to_string(),
                    left_room(state, &room, user_id, options, record.count)?,
                );
            }
            _ => {}
        }
    }

    let presence = presence_events(state, user_id, options.since)?;
    let mut account_data = global_account_data(state, user_id, options.since)?;
    options.filter.account_data.retain(&mut account_data);
    let has_news = !join.is_empty()
        || !invite.is_empty()
        || !leave.is_empty()
        || !knock.is_empty()
        || !account_data.is_empty()
        || !presence.is_empty();
    let body = json!({
        "next_batch": format!("s{next}"),
        "rooms": { "join": join, "invite": invite, "leave": leave, "knock": knock },
        "account_data": { "events": account_data },
        "presence": { "events": presence },
        "to_device": { "events": [] },
        "device_lists": { "changed": [], "left": [] },
        "device_one_time_keys_count": {},
        "device_unused_fallback_key_types": [],
    });
    Ok((body, has_news))
}

fn joined_room(
    state: &AppState,
    room: &RoomCtx,
    user_id: &str,
    options: &Options,
    next: u64,
    joined_since: bool,
) -> Result<Option<Value>> {
    // A room the user joined after `since` is sent whole, as in an initial sync.
    let initial = options.since.is_none() || joined_since || options.full_state;
    let since = options.since.unwrap_or(0);
    let limit = options.timeline_limit;

    let mut events = state
        .storage
        .rooms
        .timeline
        .before(room.short, next, limit + 1)?;
    if !initial {
        events.retain(|(count, _)| *count >= since);
    }
    let limited = events.len() > limit;
    events.truncate(limit);
    events.reverse();
    let mut account_data = room_account_data(state, user_id, room, options.since)?;
    options.filter.room_account_data.retain(&mut account_data);
    let mut ephemeral = ephemeral(
        state,
        room,
        user_id,
        if initial { None } else { options.since },
    )?;
    options.filter.ephemeral.retain(&mut ephemeral);
    if !initial && events.is_empty() && account_data.is_empty() && ephemeral.is_empty() {
        return Ok(None);
    }
    let timeline_start = events.first().map_or(next, |(count, _)| *count);

    // State up to the start of the timeline: all of it for an initial sync, what changed
    // since `since` for a gappy incremental one, nothing otherwise.
    let mut state_events = if initial {
        events_of(state, &before_count(state, room, timeline_start)?)?
    } else if limited {
        let at_start = before_count(state, room, timeline_start)?;
        let at_since = before_count(state, room, since)?;
        let changed: citadel_storage::rooms::state::StateMap = at_start
            .into_iter()
            .filter(|(k, v)| at_since.get(k) != Some(v))
            .collect();
        events_of(state, &changed)?
    } else {
        Vec::new()
    };

    let mut timeline = visible_events(state, room, user_id, &options.device_id, &events)?;
    options.filter.timeline.retain(&mut timeline);
    if options.lazy_load_members {
        // Members only for who speaks in this timeline (and the user), current as of its
        // start; everything else about the room as usual.
        let mut senders: std::collections::BTreeSet<&str> = timeline
            .iter()
            .filter_map(|e| e["sender"].as_str())
            .collect();
        senders.insert(user_id);
        state_events.retain(|pdu| {
            pdu.kind != ruma::events::TimelineEventType::RoomMember
                || pdu
                    .state_key
                    .as_deref()
                    .is_some_and(|k| senders.contains(k))
        });
        let at_start = before_count(state, room, timeline_start)?;
        for sender in senders {
            let already = state_events.iter().any(|p| {
                p.kind == ruma::events::TimelineEventType::RoomMember
                    && p.state_key.as_deref() == Some(sender)
            });
            if !already
                && let Some(member) =
                    crate::rooms::state::event_in(state, &at_start, "m.room.member", sender)?
            {
                state_events.push(member);
            }
        }
    }
    let summary = summary(state, room, user_id)?;
    let unread = match ruma::UserId::parse(user_id) {
        Ok(user) => {
            let upto = crate::api::client::push::read_upto(state, &user, room.room_id.as_str())?;
            state
                .storage
                .notifications
                .unread(user_id, room.room_id.as_str(), upto)?
        }
        Err(_) => (0, 0),
    };
    Ok(Some(json!({
        "timeline": { "events": timeline, "limited": limited, "prev_batch": format!("t{timeline_start}") },
        "state": { "events": state_events
            .iter()
            .filter(|p| options.filter.state.allows(&p.kind.to_string(), Some(p.sender.as_str())))
            .map(|p| p.to_client_event(false))
            .collect::<Vec<_>>() },
        "ephemeral": { "events": ephemeral },
        "account_data": { "events": account_data },
        "unread_notifications": { "notification_count": unread.0, "highlight_count": unread.1 },
        "summary": summary,
    })))
}

/// Joined and invited counts and, for unnamed rooms, up to five other members.
fn summary(state: &AppState, room: &RoomCtx, user_id: &str) -> Result<Value> {
    let members = state
        .storage
        .rooms
        .membership
        .members(room.room_id.as_str())?;
    let joined = members
        .iter()
        .filter(|(_, r)| r.membership == "join")
        .count();
    let invited = members
        .iter()
        .filter(|(_, r)| r.membership == "invite")
        .count();
    let heroes: Vec<&str> = members
        .iter()
        .filter(|(u, r)| u != user_id && (r.membership == "join" || r.membership == "invite"))
        .map(|(u, _)| u.as_str())
        .take(5)
        .collect();
    Ok(json!({
        "m.heroes": heroes,
        "m.joined_member_count": joined,
        "m.invited_member_count": invited,
    }))
}

/// Stripped state for an invite or knock: the events a client needs to show the room,
/// and the membership event itself.
fn stripped_state(state: &AppState, invite_event_id: &str) -> Result<Vec<Value>> {
    let map = after_event(state, invite_event_id)?.unwrap_or_default();
    let mut stripped = Vec::new();
    for pdu in events_of(state, &map)? {
        let kind = pdu.kind.to_string();
        let wanted = matches!(
            kind.as_str(),
            "m.room.create"
                | "m.room.join_rules"
                | "m.room.name"
                | "m.room.avatar"
                | "m.room.canonical_alias"
                | "m.room.encryption"
                | "m.room.topic"
        ) || pdu.event_id.as_str() == invite_event_id;
        if wanted {
            stripped.push(json!({
                "type": kind,
                "state_key": pdu.state_key,
                "sender": pdu.sender,
                "content": serde_json::from_str::<Value>(pdu.content.get()).unwrap_or_default(),
            }));
        }
    }
    Ok(stripped)
}

/// A room the user left (or was removed from) since the last sync: the timeline up to
/// and including their leave.
fn left_room(
    state: &AppState,
    room: &RoomCtx,
    user_id: &str,
    options: &Options,
    left_at: u64,
) -> Result<Value> {
    let since = options.since.unwrap_or(0);
    let limit = options.timeline_limit;
    let mut events = state
        .storage
        .rooms
        .timeline
        .before(room.short, left_at + 1, limit + 1)?;
    events.retain(|(count, _)| *count >= since);
    let limited = events.len() > limit;
    events.truncate(limit);
    events.reverse();
    let timeline_start = events.first().map_or(left_at, |(count, _)| *count);
    let timeline = visible_events(state, room, user_id, &options.device_id, &events)?;
    Ok(json!({
        "timeline": { "events": timeline, "limited": limited, "prev_batch": format!("t{timeline_start}") },
        "state": { "events": [] },
        "account_data": { "events": [] },
    }))
}

fn global_account_data(state: &AppState, user_id: &str, since: Option<u64>) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for (room, kind) in state
        .storage
        .account_data
        .changed_since(user_id, since.unwrap_or(0).saturating_sub(1))?
    {
        if room.is_some() {
            continue;
        }
        if let Some(content) = state.storage.account_data.get(user_id, None, &kind)? {
            out.push(json!({ "type": kind, "content": serde_json::from_str::<Value>(content.get()).unwrap_or_default() }));
        }
    }
    Ok(out)
}

fn room_account_data(
    state: &AppState,
    user_id: &str,
    room: &RoomCtx,
    since: Option<u64>,
) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for (room_id, kind) in state
        .storage
        .account_data
        .changed_since(user_id, since.unwrap_or(0).saturating_sub(1))?
    {
        if room_id.as_deref() != Some(room.room_id.as_str()) {
            continue;
        }
        if let Some(content) =
            state
                .storage
                .account_data
                .get(user_id, Some(room.room_id.as_str()), &kind)?
        {
            out.push(json!({ "type": kind, "content": serde_json::from_str::<Value>(content.get()).unwrap_or_default() }));
        }
    }
    Ok(out)
}

/// Typing and read receipts that changed since `since` (all current ones initially).
/// Private receipts go to their owner only.
fn ephemeral(
    state: &AppState,
    room: &RoomCtx,
    user_id: &str,
    since: Option<u64>,
) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    if let Some(typing) = state.typing.changed_since(&room.room_id, since) {
        out.push(json!({ "type": "m.typing", "content": { "user_ids": typing } }));
    }
    let mut content = Map::new();
    for receipt in state
        .storage
        .receipts
        .since(room.room_id.as_str(), since.unwrap_or(0))?
    {
        if receipt.receipt_type == "m.read.private" && receipt.user_id != user_id {
            continue;
        }
        let mut entry = json!({ "ts": receipt.ts });
        if let Some(thread) = &receipt.thread_id {
            entry["thread_id"] = json!(thread);
        }
        let by_type = content
            .entry(receipt.event_id.clone())
            .or_insert_with(|| json!({}));
        by_type[&receipt.receipt_type][&receipt.user_id] = entry;
    }
    if !content.is_empty() {
        out.push(json!({ "type": "m.receipt", "content": content }));
    }
    Ok(out)
}

/// The events the user may see, in client format.
fn visible_events(
    state: &AppState,
    room: &RoomCtx,
    user_id: &str,
    device_id: &str,
    events: &[(u64, citadel_storage::rooms::timeline::StoredPdu)],
) -> Result<Vec<Value>> {
    let mut visibility = Visibility::new(state, room, user_id)?;
    let mut out = Vec::with_capacity(events.len());
    for (_, stored) in events {
        let pdu = parse_stored(stored)?;
        if visibility.can_see(&pdu)? {
            let mut event = crate::rooms::relations::client_event(state, &pdu, user_id, false)?;
            crate::rooms::relations::add_transaction_id(
                state, &mut event, &pdu, user_id, device_id,
            )?;
            out.push(event);
        }
    }
    Ok(out)
}

/// Presence of the user and of everyone sharing a room with them, changed since `since`.
fn presence_events(state: &AppState, user_id: &str, since: Option<u64>) -> Result<Vec<Value>> {
    let mut people = std::collections::BTreeSet::new();
    people.insert(user_id.to_owned());
    for (room, record) in state.storage.rooms.membership.rooms(user_id)? {
        if record.membership == "join" {
            for (member, m) in state.storage.rooms.membership.members(&room)? {
                if m.membership == "join" {
                    people.insert(member);
                }
            }
        }
    }
    let all = state
        .presence
        .lock()
        .map_err(|_| Error::internal("presence lock poisoned"))?;
    let now = citadel_storage::now_ms();
    let mut out = Vec::new();
    for person in people {
        let Some(record) = all.get(&person) else {
            continue;
        };
        if since.is_some_and(|since| record.changed < since) {
            continue;
        }
        let mut content = json!({
            "presence": record.presence.as_str(),
            "last_active_ago": now.saturating_sub(record.last_active_ms),
            "currently_active": record.presence == ruma::presence::PresenceState::Online,
        });
        if let Some(message) = &record.status_msg {
            content["status_msg"] = json!(message);
        }
        out.push(json!({ "type": "m.presence", "sender": person, "content": content }));
    }
    Ok(out)
}
