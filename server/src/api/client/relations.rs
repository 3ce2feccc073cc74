//! Relations and threads: `/relations/{eventId}[/{relType}[/{eventType}]]`, `/threads`.

use actix_web::web;
use citadel_storage::rooms::relations::Relation;
use ruma::api::Direction;
use ruma::api::client::relations::{
    get_relating_events, get_relating_events_with_rel_type,
    get_relating_events_with_rel_type_and_event_type,
};
use ruma::api::client::threads::get_threads;
use ruma::serde::Raw;
use ruma::{EventId, UInt};

use crate::api::Routes;
use crate::api::client::message::{parse_token, readable_until};
use crate::api::client::state::to_raw;
use crate::api::error::{Error, Result};
use crate::api::extract::Ruma;
use crate::app::AppState;
use crate::rooms::relations::client_event;
use crate::rooms::visibility::Visibility;
use crate::rooms::{RoomCtx, load_pdu};

pub fn routes(routes: &mut Routes<'_>) {
    routes
        .ruma(get_relating_events)
        .ruma(get_relating_events_with_rel_type)
        .ruma(get_relating_events_with_rel_type_and_event_type)
        .ruma(get_threads);
}

/// How deep `recurse=true` follows relations of relations.
const MAX_RECURSION: usize = 3;

struct Query<'a> {
    room: &'a ruma::RoomId,
    event_id: &'a EventId,
    rel_type: Option<String>,
    event_type: Option<String>,
    from: Option<&'a str>,
    to: Option<&'a str>,
    dir: Direction,
    limit: Option<UInt>,
    recurse: bool,
}

struct Page {
    chunk: Vec<Raw<ruma::events::AnyMessageLikeEvent>>,
    next_batch: Option<String>,
    prev_batch: Option<String>,
    recursion_depth: Option<UInt>,
}

fn relations(state: &AppState, user: &str, q: Query<'_>) -> Result<Page> {
    let room = RoomCtx::require(&state.storage, q.room)?;
    let until = readable_until(state, &room, user)?;
    let mut visibility = Visibility::new(state, &room, user)?;
    let parent =
        load_pdu(state, q.event_id.as_str())?.ok_or_else(|| Error::not_found("Event not found"))?;
    if parent.room_id != room.room_id || !visibility.can_see(&parent)? {
        return Err(Error::not_found("Event not found"));
    }
    let limit = q.limit.map_or(5, |l| u64::from(l).clamp(1, 100) as usize);
    let from = q.from.map(parse_token).transpose()?;
    let to = q.to.map(parse_token).transpose()?;

    // Collect the relations (and, when recursing, their relations) with positions.
    let mut found: Vec<(u64, Relation)> = Vec::new();
    let mut frontier = vec![q.event_id.to_string()];
    let depth = if q.recurse { MAX_RECURSION } else { 1 };
    for _ in 0..depth {
        let mut next = Vec::new();
        for target in &frontier {
            for (count, relation) in state.storage.rooms.relations.children(target, 0, until)? {
                next.push(relation.event_id.clone());
                found.push((count, relation));
            }
        }
        frontier = next;
        if frontier.is_empty() {
            break;
        }
    }
    found.retain(|(count, r)| {
        q.rel_type.as_ref().is_none_or(|t| *t == r.rel_type)
            && q.event_type.as_ref().is_none_or(|t| *t == r.kind)
            && match q.dir {
                Direction::Backward => {
                    from.is_none_or(|f| *count < f) && to.is_none_or(|t| *count >= t)
                }
                _ => from.is_none_or(|f| *count >= f) && to.is_none_or(|t| *count < t),
            }
    });
    found.sort_by_key(|(count, _)| *count);
    if q.dir == Direction::Backward {
        found.reverse();
    }
    let more = found.len() > limit;
    found.truncate(limit);
    let next_batch = match (more, found.last()) {
        (true, Some((count, _))) if q.dir == Direction::Backward => Some(format!("t{count}")),
        (true, Some((count, _))) => Some(format!("t{}", count + 1)),
        _ => None,
    };
    let mut chunk = Vec::with_capacity(found.len());
    for (_, relation) in &found {
        if let Some(pdu) = load_pdu(state, &relation.event_id)?
            && let Some(seen) = visibility.view(&pdu)?
        {
            chunk.push(to_raw(&client_event(state, &seen, user, true)?)?);
        }
    }
    Ok(Page {
        chunk,
        next_batch,
        prev_batch: q.from.map(str::to_owned),
        recursion_depth: q.recurse.then(|| UInt::from(depth as u32)),
    })
}

macro_rules! respond {
    ($module:ident, $page:expr) => {{
        let page = $page;
        let mut response = $module::v1::Response::new(page.chunk);
        response.next_batch = page.next_batch;
        response.prev_batch = page.prev_batch;
        response.recursion_depth = page.recursion_depth;
        Ok(response)
    }};
}

/// `GET /_matrix/client/v1/rooms/{roomId}/relations/{eventId}`
async fn get_relating_events(
    state: web::Data<AppState>,
    req: Ruma<get_relating_events::v1::Request>,
) -> Result<get_relating_events::v1::Response> {
    let b = &req.body;
    let query = Query {
        room: &b.room_id,
        event_id: &b.event_id,
        rel_type: None,
        event_type: None,
        from: b.from.as_deref(),
        to: b.to.as_deref(),
        dir: b.dir,
        limit: b.limit,
        recurse: b.recurse,
    };
    respond!(
        get_relating_events,
        relations(&state, req.sender()?.user_id.as_str(), query)?
    )
}

/// `GET /_matrix/client/v1/rooms/{roomId}/relations/{eventId}/{relType}`
async fn get_relating_events_with_rel_type(
    state: web::Data<AppState>,
    req: Ruma<get_relating_events_with_rel_type::v1::Request>,
) -> Result<get_relating_events_with_rel_type::v1::Response> {
    let b = &req.body;
    let query = Query {
        room: &b.room_id,
        event_id: &b.event_id,
        rel_type: Some(b.rel_type.to_string()),
        event_type: None,
        from: b.from.as_deref(),
        to: b.to.as_deref(),
        dir: b.dir,
        limit: b.limit,
        recurse: b.recurse,
    };
    respond!(
        get_relating_events_with_rel_type,
        relations(&state, req.sender()?.user_id.as_str(), query)?
    )
}

/// `GET /_matrix/client/v1/rooms/{roomId}/relations/{eventId}/{relType}/{eventType}`
async fn get_relating_events_with_rel_type_and_event_type(
    state: web::Data<AppState>,
    req: Ruma<get_relating_events_with_rel_type_and_event_type::v1::Request>,
) -> Result<get_relating_events_with_rel_type_and_event_type::v1::Response> {
    let b = &req.body;
    let query = Query {
        room: &b.room_id,
        event_id: &b.event_id,
        rel_type: Some(b.rel_type.to_string()),
        event_type: Some(b.event_type.to_string()),
        from: b.from.as_deref(),
        to: b.to.as_deref(),
        dir: b.dir,
        limit: b.limit,
        recurse: b.recurse,
    };
    respond!(
        get_relating_events_with_rel_type_and_event_type,
        relations(&state, req.sender()?.user_id.as_str(), query)?
    )
}

/// `GET /_matrix/client/v1/rooms/{roomId}/threads`: thread roots, most recently active
/// first, each with its thread summary bundled.
async fn get_threads(
    state: web::Data<AppState>,
    req: Ruma<get_threads::v1::Request>,
) -> Result<get_threads::v1::Response> {
    let user = req.sender()?.user_id.as_str();
    let room = RoomCtx::require(&state.storage, &req.body.room_id)?;
    let until = readable_until(&state, &room, user)?;
    let from = req
        .body
        .from
        .as_deref()
        .map(parse_token)
        .transpose()?
        .unwrap_or(u64::MAX);
    let limit = req
        .body
        .limit
        .map_or(5, |l| u64::from(l).clamp(1, 100) as usize);
    let participated_only = req.body.include == get_threads::v1::IncludeThreads::Participated;

    let mut roots = state.storage.rooms.relations.threads(room.short)?;
    roots.retain(|(_, latest)| *latest < from && *latest < until);
    roots.sort_by_key(|(_, latest)| std::cmp::Reverse(*latest));
    let mut visibility = Visibility::new(&state, &room, user)?;
    let mut chunk = Vec::new();
    let mut next_batch = None;
    for (root, latest) in roots {
        if chunk.len() == limit {
            next_batch = Some(format!("t{}", latest + 1));
            break;
        }
        let Some(pdu) = load_pdu(&state, &root)? else {
            continue;
        };
        let Some(seen) = visibility.view(&pdu)? else {
            continue;
        };
        let event = client_event(&state, &seen, user, true)?;
        if participated_only
            && event["unsigned"]["m.relations"]["m.thread"]["current_user_participated"] != true
        {
            continue;
        }
        chunk.push(to_raw(&event)?);
    }
    let mut response = get_threads::v1::Response::new(chunk);
    response.next_batch = next_batch;
    Ok(response)
}
