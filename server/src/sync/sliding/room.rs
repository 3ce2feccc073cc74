//! One room of a sliding-sync response: what changed since the connection last had it
//! (or everything, the first time), within the room's combined config.

use std::collections::BTreeSet;
use std::sync::Arc;

use citadel_federation::pdu::Pdu;
use citadel_storage::rooms::state::StateMap;
use ruma::events::TimelineEventType;
use serde_json::{Value, json};

use crate::api::error::Result;
use crate::app::AppState;
use crate::rooms::RoomCtx;
use crate::rooms::state::{before_count, events_of};
use crate::sync::sliding::connection::RoomSent;
use crate::sync::sliding::list::Entry;
use crate::sync::sliding::request::Combined;

/// A room's part of the response, before it is put in either wire form.
#[derive(Default)]
pub struct RoomResult {
    pub initial: bool,
    pub membership: String,
    pub lists: Vec<String>,
    /// `Some(None)`: the name was removed.
    pub name: Option<Option<String>>,
    pub avatar: Option<Option<String>>,
    pub heroes: Option<Vec<Value>>,
    pub is_dm: Option<bool>,
    pub expanded_timeline: bool,
    pub required_state: Vec<Value>,
    pub timeline: Vec<Value>,
    pub prev_batch: Option<String>,
    pub limited: bool,
    pub num_live: Option<usize>,
    pub joined_count: Option<usize>,
    pub invited_count: Option<usize>,
    pub bump_stamp: Option<u64>,
    pub stripped_state: Option<Vec<Value>>,
    /// Unread notifications and highlights (the unstable form carries them).
    pub unread: Option<(u64, u64)>,
}

/// Everything a room's result depends on besides the room itself.
pub struct RoomInput<'a> {
    pub user_id: &'a str,
    pub device_id: &'a str,
    pub config: &'a Combined,
    pub previous: Option<&'a RoomSent>,
    /// The boundary of the connection's previous response (0: none): newer events are live.
    pub live_from: u64,
    pub next: u64,
    pub is_dm: bool,
}

/// Events whose arrival is "proper" activity (the MSC's list).
const BUMP_TYPES: [&str; 7] = [
    "m.room.create",
    "m.room.message",
    "m.room.encrypted",
    "m.sticker",
    "m.call.invite",
    "m.poll.start",
    "m.beacon_info",
];

/// How far back a room's timeline is searched for its bump stamp.
const BUMP_SEARCH: usize = 100;

/// Builds the room's result and what the connection then has of it; `None` when there
/// is nothing new to send.
pub fn build(
    state: &AppState,
    entry: &Entry<'_>,
    input: &RoomInput<'_>,
) -> Result<Option<(RoomResult, RoomSent)>> {
    let membership = entry.record.membership.as_str();
    let room = match (entry.room(state)?, membership) {
        (_, "invite" | "knock") | (None, _) => return invite(state, entry, input),
        (Some(room), _) => room,
    };
    let room = &room;
    // After a leave, nothing past the leave is the user's to see.
    let end = if membership == "join" {
        input.next
    } else {
        entry.record.count + 1
    };
    let previous = input
        .previous
        .filter(|p| p.membership == "join" || p.membership == membership);
    let initial = previous.is_none();
    let since = previous.map_or(0, |p| p.upto);
    let limit = input.config.timeline_limit;
    // Only a config that asks for more state than before needs state resent.
    let config_changed = previous.is_some_and(|p| {
        input
            .config
            .required_state
            .iter()
            .any(|r| r.asks_for_anything() && !p.config.required_state.contains(r))
    });
    let expanded =
        previous.is_some_and(|p| limit > p.config.timeline_limit && p.timeline_sent < limit);
    let membership_changed = previous.is_some_and(|p| p.membership != membership);
    if !initial && since >= end && !config_changed && !expanded && !membership_changed {
        return Ok(None);
    }

    let timeline = &state.storage.rooms.timeline;
    let mut events = if initial || expanded {
        timeline.before(room.short, end, limit + 1)?
    } else {
        timeline.between(room.short, since, end, limit + 1)?
    };
    let limited = events.len() > limit;
    events.truncate(limit);
    events.reverse();
    let new_events = events.iter().filter(|(count, _)| *count >= since).count();
    if !initial && new_events == 0 && !config_changed && !expanded && !membership_changed {
        return Ok(None);
    }
    let timeline_start = events.first().map_or(end, |(count, _)| *count);
    let at_end = before_count(state, room, end)?;

    // State: all the config asks for, the first time or after the config changed;
    // otherwise what changed since the connection last had the room.
    let full = initial || config_changed;
    let changed: Vec<(u64, Option<u64>)> = if full {
        at_end.iter().map(|(k, v)| (*k, Some(*v))).collect()
    } else {
        let at_since = before_count(state, room, since)?;
        state_diff(&at_since, &at_end)
    };
    let me = input.user_id;
    let mut required_state = Vec::new();
    let mut sent_members: BTreeSet<String> = previous
        .filter(|_| !full)
        .map(|p| p.lazy_members.clone())
        .unwrap_or_default();
    let mut name = None;
    let mut avatar = None;
    let mut members_changed = full;
    for (short_key, short_event) in &changed {
        let Some((kind, key)) = state.storage.rooms.short.state_key_pair(*short_key)? else {
            continue;
        };
        if kind == "m.room.member" {
            members_changed = true;
        }
        // Lazy loading sends every membership change of a gapless update.
        let lazy_change =
            input.config.lazy_members() && kind == "m.room.member" && !full && !limited;
        let wanted = input.config.wants(&kind, &key, me) || lazy_change;
        let names_room = key.is_empty() && (kind == "m.room.name" || kind == "m.room.avatar");
        if !wanted && (full || !names_room) {
            continue;
        }
        let event = match short_event {
            Some(short) => load_short(state, *short)?,
            None => None,
        };
        if kind == "m.room.name" && key.is_empty() {
            name = Some(event.as_ref().and_then(|e| content_string(e, "name")));
        }
        if kind == "m.room.avatar" && key.is_empty() {
            avatar = Some(event.as_ref().and_then(|e| content_string(e, "url")));
        }
        if !wanted {
            continue;
        }
        match event {
            Some(pdu) => {
                if kind == "m.room.member" {
                    sent_members.insert(key.clone());
                }
                required_state.push(pdu.to_client_event(false));
            }
            None => required_state.push(json!({ "type": kind, "state_key": key })),
        }
    }

    let timeline_events =
        crate::sync::room::visible_events(state, room, me, input.device_id, &events)?;
    if input.config.lazy_members() {
        // Members for whoever appears in the timeline, unless the connection has them.
        let mut wanted: BTreeSet<String> = BTreeSet::new();
        for event in &timeline_events {
            if let Some(sender) = event["sender"].as_str() {
                wanted.insert(sender.to_owned());
            }
            if event["type"] == "m.room.member"
                && let Some(target) = event["state_key"].as_str()
            {
                wanted.insert(target.to_owned());
            }
        }
        for user in wanted {
            if sent_members.contains(&user) || input.config.wants("m.room.member", &user, me) {
                continue;
            }
            if let Some(pdu) =
                crate::rooms::state::event_in(state, &at_end, "m.room.member", &user)?
            {
                required_state.push(pdu.to_client_event(false));
                sent_members.insert(user);
            }
        }
    }

    let mut result = RoomResult {
        initial,
        membership: membership.to_owned(),
        expanded_timeline: expanded && !initial,
        limited,
        prev_batch: (!events.is_empty()).then(|| format!("t{timeline_start}")),
        num_live: Some(
            events
                .iter()
                .filter(|(count, _)| input.live_from > 0 && *count >= input.live_from)
                .count(),
        ),
        timeline: timeline_events,
        required_state,
        bump_stamp: Some(bump_stamp(
            state,
            room,
            end,
            membership,
            entry.record.count,
        )?),
        ..Default::default()
    };
    if initial {
        let current_name = crate::rooms::state::event_in(state, &at_end, "m.room.name", "")?
            .and_then(|e| content_string(&e, "name"))
            .filter(|n| !n.is_empty());
        result.name = current_name.clone().map(Some);
        result.avatar = crate::rooms::state::event_in(state, &at_end, "m.room.avatar", "")?
            .and_then(|e| content_string(&e, "url"))
            .map(Some);
        if current_name.is_none() {
            result.heroes = Some(heroes(state, &at_end, me)?);
        }
    } else {
        result.name = name;
        result.avatar = avatar;
        if members_changed
            && crate::rooms::state::event_in(state, &at_end, "m.room.name", "")?.is_none()
        {
            result.heroes = Some(heroes(state, &at_end, me)?);
        }
    }
    if members_changed {
        let (joined, invited) = if membership == "join" {
            current_counts(state, room)?
        } else {
            counts(state, &at_end)?
        };
        result.joined_count = Some(joined);
        result.invited_count = Some(invited);
    }
    if initial || previous.is_some_and(|p| p.is_dm != input.is_dm) {
        result.is_dm = Some(input.is_dm);
    }
    if membership == "join" {
        result.unread = Some(unread(state, room, me)?);
    }
    let sent = RoomSent {
        upto: end,
        config: input.config.clone(),
        membership: membership.to_owned(),
        lazy_members: sent_members,
        timeline_sent: if initial || expanded {
            events.len().max(if limited { limit } else { usize::MAX })
        } else {
            previous.map_or(0, |p| p.timeline_sent)
        },
        is_dm: input.is_dm,
    };
    Ok(Some((result, sent)))
}

/// An invite or knock: only the stripped state the invite carried.
fn invite(
    state: &AppState,
    entry: &Entry<'_>,
    input: &RoomInput<'_>,
) -> Result<Option<(RoomResult, RoomSent)>> {
    let membership = entry.record.membership.as_str();
    if input
        .previous
        .is_some_and(|p| p.membership == membership && p.upto > entry.record.count)
    {
        return Ok(None);
    }
    let result = RoomResult {
        initial: true,
        membership: membership.to_owned(),
        stripped_state: Some(crate::sync::room::stripped_state(
            state,
            &entry.record.event_id,
        )?),
        bump_stamp: Some(entry.record.count),
        is_dm: input.is_dm.then_some(true),
        ..Default::default()
    };
    let sent = RoomSent {
        upto: entry.record.count + 1,
        config: input.config.clone(),
        membership: membership.to_owned(),
        ..Default::default()
    };
    Ok(Some((result, sent)))
}

/// `(key, event)` entries that differ between two state maps; `None`: removed.
fn state_diff(before: &StateMap, after: &StateMap) -> Vec<(u64, Option<u64>)> {
    let mut out: Vec<(u64, Option<u64>)> = after
        .iter()
        .filter(|(k, v)| before.get(k) != Some(*v))
        .map(|(k, v)| (*k, Some(*v)))
        .collect();
    out.extend(
        before
            .keys()
            .filter(|k| !after.contains_key(k))
            .map(|k| (*k, None)),
    );
    out
}

fn load_short(state: &AppState, short_event: u64) -> Result<Option<Arc<Pdu>>> {
    match state.storage.rooms.short.event_id(short_event)? {
        Some(event_id) => crate::rooms::load_pdu(state, &event_id),
        None => Ok(None),
    }
}

fn content_string(pdu: &Pdu, field: &str) -> Option<String> {
    crate::rooms::state::content_str(pdu, field)
}

/// Up to five other members, joined first, then invited, then those who left, with
/// their names and avatars, for naming an unnamed room.
fn heroes(state: &AppState, map: &StateMap, user_id: &str) -> Result<Vec<Value>> {
    let members: Vec<Arc<Pdu>> = events_of(state, map)?
        .into_iter()
        .filter(|p| p.kind == TimelineEventType::RoomMember)
        .filter(|p| p.state_key.as_deref() != Some(user_id))
        .collect();
    let mut out = Vec::new();
    for wanted in [&["join"][..], &["invite"][..], &["leave", "ban"][..]] {
        for pdu in &members {
            if out.len() == 5 {
                return Ok(out);
            }
            let membership = content_string(pdu, "membership").unwrap_or_default();
            if !wanted.contains(&membership.as_str()) {
                continue;
            }
            let mut hero = json!({ "user_id": pdu.state_key });
            if let Some(name) = content_string(pdu, "displayname") {
                hero["displayname"] = json!(name);
            }
            if let Some(url) = content_string(pdu, "avatar_url") {
                hero["avatar_url"] = json!(url);
            }
            out.push(hero);
        }
    }
    Ok(out)
}

/// Joined and invited members now, from the members cache.
fn current_counts(state: &AppState, room: &RoomCtx) -> Result<(usize, usize)> {
    let members = crate::rooms::members::of(state, room.room_id.as_str())?;
    let count = |m: &str| members.iter().filter(|(_, r)| r.membership == m).count();
    Ok((count("join"), count("invite")))
}

/// Joined and invited members in a state map.
fn counts(state: &AppState, map: &StateMap) -> Result<(usize, usize)> {
    let (mut joined, mut invited) = (0, 0);
    for pdu in events_of(state, map)? {
        if pdu.kind != TimelineEventType::RoomMember {
            continue;
        }
        match content_string(&pdu, "membership").as_deref() {
            Some("join") => joined += 1,
            Some("invite") => invited += 1,
            _ => {}
        }
    }
    Ok((joined, invited))
}

/// The position of the room's newest "proper" activity below `end`; for a room the user
/// is not in, their membership change.
fn bump_stamp(
    state: &AppState,
    room: &RoomCtx,
    end: u64,
    membership: &str,
    membership_count: u64,
) -> Result<u64> {
    if membership != "join" {
        return Ok(membership_count);
    }
    let timeline = &state.storage.rooms.timeline;
    let Some(tip) = timeline.last_count_before(room.short, end)? else {
        return Ok(membership_count);
    };
    if let Some(bump) = state.sliding_sync.bump_stamps.get(room.short, tip) {
        return Ok(bump);
    }
    let recent = timeline.before(room.short, tip + 1, BUMP_SEARCH)?;
    let oldest = recent.last().map_or(membership_count, |(count, _)| *count);
    let mut bump = oldest;
    for (count, stored) in &recent {
        let pdu = state.pdu_cache.parse(stored)?;
        if BUMP_TYPES.contains(&pdu.kind.to_string().as_str()) {
            bump = *count;
            break;
        }
    }
    state.sliding_sync.bump_stamps.put(room.short, tip, bump);
    Ok(bump)
}

/// Rooms' bump stamps by the newest event they were computed at: valid while that is
/// still the room's newest event, so nothing needs to forget them.
#[derive(Default)]
pub struct BumpStamps(std::sync::Mutex<std::collections::HashMap<u64, (u64, u64)>>);

impl BumpStamps {
    const CAPACITY: usize = 100_000;

    fn get(&self, room: u64, tip: u64) -> Option<u64> {
        let map = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(&room)
            .filter(|(at, _)| *at == tip)
            .map(|(_, bump)| *bump)
    }

    fn put(&self, room: u64, tip: u64, bump: u64) {
        let mut map = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= Self::CAPACITY {
            map.clear();
        }
        map.insert(room, (tip, bump));
    }
}

fn unread(state: &AppState, room: &RoomCtx, user_id: &str) -> Result<(u64, u64)> {
    let Ok(user) = ruma::UserId::parse(user_id) else {
        return Ok((0, 0));
    };
    let read = crate::push::read::read_upto(state, &user, room.room_id.as_str())?;
    state
        .storage
        .notifications
        .unread(user_id, room.room_id.as_str(), read)
        .map_err(Into::into)
}
