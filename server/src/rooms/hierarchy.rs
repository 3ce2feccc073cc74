//! The space tree below a room (client-server "Spaces", `GET /rooms/{roomId}/hierarchy`,
//! and Synapse's admin variant): a depth-first walk over `m.space.child` state, with
//! each room summarised as the directory shows it.
//!
//! Only rooms this server holds state for are summarised; rooms known only by their
//! `via` servers are left out (asking those servers over federation is not done yet).
//! Pages are stateless: the token says how many rooms earlier pages returned and the
//! parameters they were asked with, and the walk, being deterministic, skips that many.

use std::collections::HashSet;

use ruma::RoomId;
use serde_json::{Value, json};

use crate::api::error::{Error, Result};
use crate::app::AppState;
use crate::rooms::RoomCtx;
use crate::rooms::state::{content_str, current, event_in};
use citadel_federation::pdu::Pdu;

/// Rooms per page when the client names no limit, and the most it may ask for.
pub const MAX_LIMIT: usize = 50;
/// The most rooms one walk visits, so a huge or looping tree cannot exhaust the server.
const MAX_VISITED: usize = 10_000;
/// `order` values longer than this are ignored (the spec's limit).
const MAX_ORDER_LEN: usize = 50;

/// Who asks: a user sees the rooms they may see; an admin sees every known room.
#[derive(Clone, Copy)]
pub enum Viewer<'a> {
    User(&'a str),
    Admin,
}

/// One request's parameters.
pub struct Request<'a> {
    pub root: &'a RoomId,
    pub viewer: Viewer<'a>,
    pub suggested_only: bool,
    pub max_depth: Option<u64>,
    pub limit: usize,
    pub from: Option<&'a str>,
}

/// One page of the walk.
pub struct Page {
    pub rooms: Vec<Value>,
    pub next_batch: Option<String>,
}

/// Walks the tree below `request.root`, returning the page the token asks for.
pub fn walk(state: &AppState, request: &Request<'_>) -> Result<Page> {
    let skip = match request.from {
        Some(token) => parse_token(token, request)?,
        None => 0,
    };
    let root = RoomCtx::load(&state.storage, request.root)?;
    if let Viewer::User(user_id) = request.viewer {
        let visible = match &root {
            Some(room) => accessible(state, room, &current(state, room)?.1, user_id)?,
            None => false,
        };
        if !visible {
            return Err(Error::forbidden("You are not allowed to view this room."));
        }
    }

    // The stack's next room is last, as children are pushed in reverse order.
    let mut stack = vec![(request.root.to_owned(), 0u64)];
    let mut seen = HashSet::new();
    let mut shown = 0usize;
    let mut rooms = Vec::new();
    while rooms.len() < request.limit && seen.len() < MAX_VISITED {
        let Some((room_id, depth)) = stack.pop() else {
            break;
        };
        if !seen.insert(room_id.clone()) {
            continue;
        }
        let Some(room) = RoomCtx::load(&state.storage, &room_id)? else {
            continue;
        };
        // One read of the room's state serves both the check and the summary.
        let (_, map) = current(state, &room)?;
        if let Viewer::User(user_id) = request.viewer
            && !accessible(state, &room, &map, user_id)?
        {
            continue;
        }
        let (summary, children) = summarise(state, &room, &map, request.suggested_only)?;
        if request.max_depth.is_none_or(|max| depth < max) {
            for child in children.iter().rev() {
                if let Some(child_id) = child["state_key"]
                    .as_str()
                    .and_then(|id| RoomId::parse(id).ok())
                {
                    stack.push((child_id, depth + 1));
                }
            }
        }
        shown += 1;
        if shown > skip {
            rooms.push(summary);
        }
    }
    // More remains if an unvisited room is still stacked.
    let more = seen.len() < MAX_VISITED && stack.iter().any(|(id, _)| !seen.contains(id));
    let next_batch = more.then(|| token(skip + rooms.len(), request));
    Ok(Page { rooms, next_batch })
}

fn token(shown: usize, request: &Request<'_>) -> String {
    let depth = request
        .max_depth
        .map_or_else(|| "-".to_owned(), |d| d.to_string());
    format!("h{shown}.{}.{depth}", u8::from(request.suggested_only))
}

/// How many rooms earlier pages showed; the parameters must be the ones they had.
fn parse_token(token: &str, request: &Request<'_>) -> Result<usize> {
    let unknown = || Error::invalid_param("Unknown pagination token");
    let mut parts = token.strip_prefix('h').ok_or_else(unknown)?.split('.');
    let shown: usize = parts
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or_else(unknown)?;
    let (suggested, depth) = (parts.next(), parts.next());
    if parts.next().is_some() || suggested.is_none() || depth.is_none() {
        return Err(unknown());
    }
    if token != self::token(shown, request) {
        return Err(Error::invalid_param(
            "suggested_only and max_depth cannot change on paginated requests",
        ));
    }
    Ok(shown)
}

/// Whether a user may see a room's summary: they are in it or invited, it is public,
/// knockable or world-readable, or it is restricted to a room they are in.
fn accessible(
    state: &AppState,
    room: &RoomCtx,
    map: &citadel_storage::rooms::state::StateMap,
    user_id: &str,
) -> Result<bool> {
    let membership = state
        .storage
        .rooms
        .membership
        .get(user_id, room.room_id.as_str())?;
    if membership.is_some_and(|m| m.membership == "join" || m.membership == "invite") {
        return Ok(true);
    }
    if let Some(pdu) = event_in(state, map, "m.room.history_visibility", "")?
        && content_str(&pdu, "history_visibility").as_deref() == Some("world_readable")
    {
        return Ok(true);
    }
    let Some(rules) = event_in(state, map, "m.room.join_rules", "")? else {
        return Ok(false);
    };
    let content: Value = serde_json::from_str(rules.content.get()).unwrap_or_default();
    match content["join_rule"].as_str() {
        Some("public" | "knock" | "knock_restricted") => Ok(true),
        Some("restricted") => {
            for allowed in allowed_rooms(&content) {
                let joined = state.storage.rooms.membership.get(user_id, &allowed)?;
                if joined.is_some_and(|m| m.membership == "join") {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        _ => Ok(false),
    }
}

/// The rooms whose members a restricted join rule lets in.
fn allowed_rooms(join_rules: &Value) -> Vec<String> {
    join_rules["allow"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|rule| rule["type"] == "m.room_membership")
        .filter_map(|rule| rule["room_id"].as_str().map(str::to_owned))
        .collect()
}

/// A room as the public directory shows it (`PublicRoomsChunk`).
pub fn directory_entry(state: &AppState, room: &RoomCtx) -> Result<Value> {
    directory_entry_in(state, room, &current(state, room)?.1)
}

/// [`directory_entry`] from a state map already read.
fn directory_entry_in(
    state: &AppState,
    room: &RoomCtx,
    map: &citadel_storage::rooms::state::StateMap,
) -> Result<Value> {
    let field = |kind: &str, key: &str| -> Result<Option<String>> {
        Ok(event_in(state, map, kind, "")?.and_then(|e| content_str(&e, key)))
    };
    let joined = state
        .storage
        .rooms
        .membership
        .members(room.room_id.as_str())?
        .iter()
        .filter(|(_, r)| r.membership == "join")
        .count();
    let mut out = json!({
        "room_id": room.room_id,
        "num_joined_members": joined,
        "world_readable": field("m.room.history_visibility", "history_visibility")?.as_deref() == Some("world_readable"),
        "guest_can_join": field("m.room.guest_access", "guest_access")?.as_deref() == Some("can_join"),
        "join_rule": field("m.room.join_rules", "join_rule")?.unwrap_or_else(|| "invite".into()),
    });
    for (key, kind, content_key) in [
        ("name", "m.room.name", "name"),
        ("topic", "m.room.topic", "topic"),
        ("canonical_alias", "m.room.canonical_alias", "alias"),
        ("avatar_url", "m.room.avatar", "url"),
        ("room_type", "m.room.create", "type"),
    ] {
        if let Some(value) = field(kind, content_key)? {
            out[key] = json!(value);
        }
    }
    Ok(out)
}

/// A room's hierarchy entry (`RoomSummary` with `children_state`), and its children in
/// the spec's order.
fn summarise(
    state: &AppState,
    room: &RoomCtx,
    map: &citadel_storage::rooms::state::StateMap,
    suggested_only: bool,
) -> Result<(Value, Vec<Value>)> {
    let mut out = directory_entry_in(state, room, map)?;
    out["room_version"] = json!(room.version.as_str());
    if let Some(pdu) = event_in(state, map, "m.room.encryption", "")?
        && let Some(algorithm) = content_str(&pdu, "algorithm")
    {
        out["encryption"] = json!(algorithm);
    }
    if let Some(rules) = event_in(state, map, "m.room.join_rules", "")? {
        let content: Value = serde_json::from_str(rules.content.get()).unwrap_or_default();
        if matches!(
            content["join_rule"].as_str(),
            Some("restricted" | "knock_restricted")
        ) {
            let allowed = allowed_rooms(&content);
            if !allowed.is_empty() {
                out["allowed_room_ids"] = json!(allowed);
            }
        }
    }
    // Only a space lists children.
    let children = if out["room_type"] == "m.space" {
        children(state, map, suggested_only)?
    } else {
        Vec::new()
    };
    out["children_state"] = json!(children);
    Ok((out, children))
}

/// The space's `m.space.child` events with a valid `via`, as stripped state with
/// `origin_server_ts`, ordered by `order`, then timestamp, then room ID.
fn children(
    state: &AppState,
    map: &citadel_storage::rooms::state::StateMap,
    suggested_only: bool,
) -> Result<Vec<Value>> {
    let mut found: Vec<(Option<String>, u64, String, Value)> = Vec::new();
    for pdu in events_of_type(state, map, "m.space.child")? {
        let content: Value = serde_json::from_str(pdu.content.get()).unwrap_or_default();
        if !valid_via(&content) || (suggested_only && content["suggested"] != true) {
            continue;
        }
        let state_key = pdu.state_key.clone().unwrap_or_default();
        let order = content["order"]
            .as_str()
            .filter(|o| valid_order(o))
            .map(str::to_owned);
        let ts = u64::from(pdu.origin_server_ts.get());
        found.push((order, ts, state_key, stripped(&pdu, content)));
    }
    // Children with an order come first.
    found.sort_by(|a, b| (a.0.is_none(), &a.0, a.1, &a.2).cmp(&(b.0.is_none(), &b.0, b.1, &b.2)));
    Ok(found.into_iter().map(|(_, _, _, event)| event).collect())
}

/// The state events of one type, without loading the rest (a room's members).
fn events_of_type(
    state: &AppState,
    map: &citadel_storage::rooms::state::StateMap,
    kind: &str,
) -> Result<Vec<std::sync::Arc<Pdu>>> {
    let short = &state.storage.rooms.short;
    let mut out = Vec::new();
    for (short_key, short_event) in map {
        let Some((event_kind, _)) = short.state_key_pair(*short_key)? else {
            continue;
        };
        if event_kind != kind {
            continue;
        }
        if let Some(event_id) = short.event_id(*short_event)?
            && let Some(pdu) = crate::rooms::load_pdu(state, &event_id)?
        {
            out.push(pdu);
        }
    }
    Ok(out)
}

fn stripped(pdu: &Pdu, content: Value) -> Value {
    json!({
        "type": pdu.kind.to_string(),
        "state_key": pdu.state_key,
        "content": content,
        "sender": pdu.sender,
        "origin_server_ts": pdu.origin_server_ts,
    })
}

/// A child without a non-empty `via` of strings has been removed from the space.
fn valid_via(content: &Value) -> bool {
    content["via"]
        .as_array()
        .is_some_and(|via| !via.is_empty() && via.iter().all(Value::is_string))
}

fn valid_order(order: &str) -> bool {
    order.len() <= MAX_ORDER_LEN && order.bytes().all(|b| (0x20..=0x7e).contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_and_via_follow_the_spec() {
        assert!(valid_order("a ~"));
        assert!(!valid_order("caf\u{e9}"));
        assert!(!valid_order(&"x".repeat(51)));
        assert!(valid_via(&json!({"via": ["example.org"]})));
        assert!(!valid_via(&json!({"via": []})));
        assert!(!valid_via(&json!({"via": [1]})));
        assert!(!valid_via(&json!({})));
    }
}
