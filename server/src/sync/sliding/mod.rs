//! Simplified sliding sync (MSC4186): the room list, room subscriptions and extensions
//! of a connection, sent as what changed since the connection's last response.
//!
//! A request names its connection state by `pos` ([`connection`]); the response is
//! built for a stream boundary, as `/sync` v3's is, from the user's rooms ordered by
//! activity ([`list`]), each room's changes within its combined config ([`room`]) and the
//! extensions ([`extensions`]); then put in the wire form of the endpoint asked
//! ([`wire`]). With nothing new the request waits on the same notifier as `/sync` v3.

pub mod connection;
pub mod extensions;
pub mod list;
pub mod request;
pub mod room;
pub mod wire;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use ruma::{OwnedRoomId, RoomId};
use serde_json::{Map, Value, json};

use crate::api::error::{Error, Result};
use crate::app::AppState;
use connection::{ConnState, Lookup, Turn};
use request::{Combined, Flavor, SlidingRequest};

/// `400 M_UNKNOWN_POS`: the client must start the connection again.
pub fn unknown_pos() -> Error {
    Error::new(
        actix_web::http::StatusCode::BAD_REQUEST,
        "M_UNKNOWN_POS",
        "Unknown or expired pos: start the connection again without one",
    )
}

/// Answers one sliding-sync request, waiting up to its timeout for news.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = %user_id, conn_id = %request.conn_id))]
pub async fn sync(
    state: &AppState,
    user_id: &str,
    device_id: &str,
    flavor: Flavor,
    request: SlidingRequest,
) -> Result<Value> {
    let turn =
        match state
            .sliding_sync
            .begin(user_id, device_id, &request.conn_id, request.pos.as_deref())
        {
            Lookup::Found(turn) => turn,
            Lookup::Unknown => return Err(unknown_pos()),
        };
    if let Some(presence) = request.set_presence.clone() {
        crate::presence::update(state, user_id, presence, None)?;
    }
    let deadline = Instant::now() + Duration::from_millis(request.timeout_ms);
    let mut wake = state.notifier.subscribe(user_id);
    let mut superseded = turn.superseded.clone();
    superseded.mark_unchanged();
    loop {
        let next = state.stream.safe_upto(&state.storage)? + 1;
        let built = build(state, user_id, device_id, flavor, &request, &turn, next).await?;
        let now = Instant::now();
        if request.pos.is_none() || built.news || now >= deadline || state.notifier.is_closing() {
            return Ok(finish(state, user_id, device_id, &request, &turn, built));
        }
        let _waiting = state.metrics.waiting("sliding");
        tokio::select! {
            _ = tokio::time::sleep(deadline - now) => {}
            _ = wake.changed() => {}
            _ = superseded.changed() => {
                // A newer request took over the connection: its client will not read
                // this answer, which must not move the connection on.
                return Ok(json!({ "pos": request.pos }));
            }
        }
    }
}

struct Built {
    body: Map<String, Value>,
    state: ConnState,
    news: bool,
}

fn finish(
    state: &AppState,
    user_id: &str,
    device_id: &str,
    request: &SlidingRequest,
    turn: &Turn,
    built: Built,
) -> Value {
    let pos = state
        .sliding_sync
        .save(user_id, device_id, &request.conn_id, turn, built.state);
    let mut body = built.body;
    body.insert("pos".into(), json!(pos));
    if let Some(txn_id) = &request.txn_id {
        body.insert("txn_id".into(), json!(txn_id));
    }
    Value::Object(body)
}

async fn build(
    state: &AppState,
    user_id: &str,
    device_id: &str,
    flavor: Flavor,
    request: &SlidingRequest,
    turn: &Turn,
    next: u64,
) -> Result<Built> {
    let previous = &*turn.state;
    let user_rooms = state.storage.rooms.membership.rooms_shared(user_id)?;
    let rooms = list::rooms(state, &user_rooms, next, previous)?;
    let windows = list::windows(state, user_id, &rooms, &request.lists)?;

    // Every room a rule matches, with the lists that matched it and its combined config.
    let mut matched: BTreeMap<usize, (Vec<String>, Combined)> = BTreeMap::new();
    for (name, window) in &windows {
        let config = &request.lists[name].config;
        for index in &window.selected {
            let (lists, combined) = matched.entry(*index).or_default();
            lists.push(name.clone());
            combined.add(config);
        }
    }
    let index_of: HashMap<&RoomId, usize> = if request.subscriptions.is_empty() {
        HashMap::new()
    } else {
        rooms
            .iter()
            .enumerate()
            .map(|(i, e)| (e.room_id, i))
            .collect()
    };
    let mut subscribed = Vec::new();
    for (room_id, config) in &request.subscriptions {
        // Rooms the user was never in, or that do not exist, are ignored; a room they
        // left is shown up to the leave.
        if let Some(index) = index_of.get(&&**room_id) {
            matched.entry(*index).or_default().1.add(config);
            subscribed.push(room_id.clone());
        }
    }

    let direct = if matched.is_empty() {
        Default::default()
    } else {
        list::direct_rooms(state, user_id)?
    };
    let live_from = if request.pos.is_some() {
        previous.stream
    } else {
        0
    };
    let mut next_state = ConnState {
        stream: next,
        rooms: previous.rooms.clone(),
        to_device_upto: previous.to_device_upto,
        list_counts: BTreeMap::new(),
    };
    let mut room_bodies = Map::new();
    let mut initial_rooms = Vec::new();
    let mut by_list: BTreeMap<OwnedRoomId, Vec<String>> = BTreeMap::new();
    for (index, (lists, combined)) in &matched {
        let entry = &rooms[*index];
        if !lists.is_empty() {
            by_list.insert(entry.room_id.to_owned(), lists.clone());
        }
        let input = room::RoomInput {
            user_id,
            device_id,
            config: combined,
            previous: previous.rooms.get(entry.room_id),
            live_from,
            next,
            is_dm: direct.contains(entry.room_id.as_str()),
        };
        if let Some((mut result, sent)) = room::build(state, entry, &input)? {
            result.lists = lists.clone();
            if result.initial {
                initial_rooms.push(entry.room_id.to_owned());
            }
            room_bodies.insert(entry.room_id.to_string(), wire::room(flavor, result));
            next_state.rooms.insert(entry.room_id.to_owned(), sent);
        }
    }

    let mut lists_body = Map::new();
    let mut counts_changed = false;
    for (name, window) in &windows {
        lists_body.insert(name.clone(), json!({ "count": window.count }));
        counts_changed |= previous.list_counts.get(name) != Some(&window.count);
        next_state.list_counts.insert(name.clone(), window.count);
    }

    let view = extensions::RoomsInView {
        by_list,
        subscribed,
    };
    let ext_input = extensions::ExtensionInput {
        user_id,
        device_id,
        since: request.pos.as_ref().map(|_| previous.stream),
        next,
        to_device_upto: previous.to_device_upto,
        initial_rooms: &initial_rooms,
    };
    let ext = extensions::build(state, &request.extensions, &ext_input, &view).await?;
    if let Some(upto) = ext.to_device_upto {
        next_state.to_device_upto = upto;
    }

    let news = !room_bodies.is_empty() || ext.news || counts_changed;
    let mut body = Map::new();
    if !lists_body.is_empty() {
        body.insert("lists".into(), Value::Object(lists_body));
    }
    body.insert("rooms".into(), Value::Object(room_bodies));
    body.insert("extensions".into(), Value::Object(ext.body));
    Ok(Built {
        body,
        state: next_state,
        news,
    })
}
