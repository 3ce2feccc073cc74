//! The per-room sections of a `/sync` response: joined rooms (timeline, state,
//! ephemeral events, counts, summary), invites and knocks (stripped state), and rooms
//! left since the last sync.

use serde_json::{Map, Value, json};

use crate::api::error::Result;
use crate::app::AppState;
use crate::rooms::RoomCtx;
use crate::rooms::state::{after_event, before_count, events_of};
use crate::rooms::visibility::Visibility;
use crate::sync::account::room_account_data;
use crate::sync::v3::Options;

pub(crate) fn joined_room(
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

    // Incrementally, only what is new is read (most rooms have nothing new).
    let floor = if initial { 0 } else { since };
    let window = timeline_window(state, room, user_id, options, floor, next, limit)?;
    let (timeline, limited, timeline_start) = (window.events, window.limited, window.start);
    let mut account_data = room_account_data(state, user_id, room, options.since)?;
    options.filter.room_account_data.retain(&mut account_data);
    let mut ephemeral = ephemeral(
        state,
        room,
        user_id,
        if initial { None } else { options.since },
    )?;
    options.filter.ephemeral.retain(&mut ephemeral);
    // Nothing stored since the last sync: the room is left out before its state is read.
    if !initial && window.scanned == 0 && account_data.is_empty() && ephemeral.is_empty() {
        return Ok(None);
    }
    let mut state_events = state_up_to(state, room, options, initial, timeline_start, limited)?;
    // Nothing the user may see or asked for is new (only events from ignored users, or
    // of types the filter leaves out): the room is left out too.
    if !initial
        && timeline.is_empty()
        && state_events.is_empty()
        && account_data.is_empty()
        && ephemeral.is_empty()
    {
        return Ok(None);
    }
    if options.lazy_load_members {
        lazy_load_members(
            state,
            room,
            user_id,
            options,
            initial,
            &timeline,
            timeline_start,
            &mut state_events,
        )?;
    }
    let summary = summary(state, room, user_id)?;
    let (unread, thread_unread) =
        unread_counts(state, room, user_id, options.unread_thread_notifications)?;
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
        "unread_thread_notifications": thread_unread,
    })))
}

/// Narrows a joined room's state to the members a client needs (lazy-loading members,
/// spec "Lazy-loading room members"): the senders of the timeline as of its start, the
/// user themself in a whole-state answer, and in a gappy incremental one every
/// membership change of the gap; less those this device was already sent, unless the
/// filter asks for `include_redundant_members`.
#[allow(clippy::too_many_arguments)]
fn lazy_load_members(
    state: &AppState,
    room: &RoomCtx,
    user_id: &str,
    options: &Options,
    initial: bool,
    timeline: &[Value],
    timeline_start: u64,
    state_events: &mut Vec<std::sync::Arc<citadel_federation::pdu::Pdu>>,
) -> Result<()> {
    use ruma::events::TimelineEventType::RoomMember;
    let mut senders: std::collections::BTreeSet<&str> = timeline
        .iter()
        .filter_map(|e| e["sender"].as_str())
        .collect();
    if initial {
        senders.insert(user_id);
        // A whole-state answer holds every member: only the senders' stay.
        state_events.retain(|pdu| {
            pdu.kind != RoomMember
                || pdu
                    .state_key
                    .as_deref()
                    .is_some_and(|k| senders.contains(k))
        });
    }
    let in_timeline: std::collections::BTreeSet<&str> = timeline
        .iter()
        .filter(|e| e["type"] == "m.room.member")
        .filter_map(|e| e["event_id"].as_str())
        .collect();
    let at_start = before_count(state, room, timeline_start)?;
    for sender in &senders {
        let already = state_events
            .iter()
            .any(|p| p.kind == RoomMember && p.state_key.as_deref() == Some(*sender));
        if !already
            && let Some(member) =
                crate::rooms::state::event_in(state, &at_start, "m.room.member", sender)?
            && !in_timeline.contains(member.event_id.as_str())
        {
            state_events.push(member);
        }
    }
    if options.include_redundant_members || options.full_state {
        return Ok(());
    }
    let cache = &state.lazy_members_cache;
    let room_id = room.room_id.as_str();
    let device = options.device_id.as_str();
    state_events.retain(|pdu| {
        pdu.kind != RoomMember
            || !pdu.state_key.as_deref().is_some_and(|member| {
                cache.was_sent(user_id, device, room_id, member, pdu.event_id.as_str())
            })
    });
    let sent_in_state = state_events
        .iter()
        .filter(|pdu| pdu.kind == RoomMember)
        .filter_map(|pdu| Some((pdu.state_key.as_deref()?, pdu.event_id.as_str())));
    let sent_in_timeline = timeline
        .iter()
        .filter(|e| e["type"] == "m.room.member")
        .filter_map(|e| Some((e["state_key"].as_str()?, e["event_id"].as_str()?)));
    cache.record(
        user_id,
        device,
        room_id,
        sent_in_state.chain(sent_in_timeline),
    );
    Ok(())
}

/// Joined and invited counts and, for rooms without a name or canonical alias, up to
/// five other members (the spec requires heroes only then; Synapse leaves them out
/// otherwise, and SyTest checks that).
pub(crate) fn summary(state: &AppState, room: &RoomCtx, user_id: &str) -> Result<Value> {
    let members = crate::rooms::members::of(state, room.room_id.as_str())?;
    let joined = members.joined_count();
    let invited = members.invited_count();
    let mut summary = json!({
        "m.joined_member_count": joined,
        "m.invited_member_count": invited,
    });
    let (_, map) = crate::rooms::state::current(state, room)?;
    for (kind, field) in [("m.room.name", "name"), ("m.room.canonical_alias", "alias")] {
        if let Some(event) = crate::rooms::state::event_in(state, &map, kind, "")?
            && crate::rooms::state::content_str(&event, field).is_some_and(|v| !v.is_empty())
        {
            return Ok(summary);
        }
    }
    let heroes: Vec<&str> = members
        .iter()
        .filter(|(u, r)| *u != user_id && (r.membership == "join" || r.membership == "invite"))
        .map(|(u, _)| u)
        .take(5)
        .collect();
    summary["m.heroes"] = json!(heroes);
    Ok(summary)
}

/// Stripped state for an invite or knock: the events a client needs to show the room,
/// and the membership event itself. For a room this server is not in, the state the
/// inviting (or knocked-on) server sent along, kept in the event's `unsigned`.
pub(crate) fn stripped_state(state: &AppState, invite_event_id: &str) -> Result<Vec<Value>> {
    let Some(invite) = crate::rooms::load_pdu(state, invite_event_id)? else {
        return Ok(Vec::new());
    };
    let own = json!({
        "type": invite.kind.to_string(),
        "state_key": invite.state_key,
        "sender": invite.sender,
        "content": serde_json::from_str::<Value>(invite.content.get()).unwrap_or_default(),
    });
    let mut stripped = match after_event(state, invite_event_id)? {
        Some(map) => crate::rooms::remote_invite::stripped(&events_of(state, &map)?),
        None => {
            let unsigned = serde_json::to_value(invite.json.get("unsigned")).unwrap_or_default();
            let kept = unsigned["invite_room_state"]
                .as_array()
                .or_else(|| unsigned["knock_room_state"].as_array())
                .cloned()
                .unwrap_or_default();
            kept.into_iter()
                .filter(|e| e["type"] != "m.room.member" || e["state_key"] != own["state_key"])
                .collect()
        }
    };
    stripped.push(own);
    Ok(stripped)
}

/// A room on another server the user left without this server being in it (a declined
/// invite, a withdrawn knock): the leave event alone, as Synapse sends it.
pub(crate) fn left_remote_room(state: &AppState, leave_event_id: &str) -> Result<Value> {
    let events: Vec<Value> = crate::rooms::load_pdu(state, leave_event_id)?
        .map(|leave| leave.to_client_event(false))
        .into_iter()
        .collect();
    Ok(json!({
        "timeline": { "events": events, "limited": false },
        "state": { "events": [] },
        "account_data": { "events": [] },
    }))
}

/// A room the user left (or was removed from) since the last sync: the timeline up to
/// and including their leave.
pub(crate) fn left_room(
    state: &AppState,
    room: &RoomCtx,
    user_id: &str,
    options: &Options,
    left_at: u64,
) -> Result<Value> {
    let since = options.since.unwrap_or(0);
    let window = timeline_window(
        state,
        room,
        user_id,
        options,
        since,
        left_at + 1,
        options.timeline_limit,
    )?;
    let (timeline, limited) = (window.events, window.limited);
    let timeline_start = if window.events_found {
        window.start
    } else {
        left_at
    };
    // The room's state at the start of that timeline, as for a joined room: all of it
    // the first time the room is sent (also when the user joined and left since the last
    // sync, which never sent the room as joined), what changed in a gap otherwise.
    let whole = match options.since {
        None => true,
        _ if options.full_state => true,
        Some(since) => {
            let at_since = before_count(state, room, since)?;
            crate::rooms::state::membership_in(state, &at_since, user_id)? != "join"
        }
    };
    let state_events = state_up_to(state, room, options, whole, timeline_start, limited)?;
    Ok(json!({
        "timeline": { "events": timeline, "limited": limited, "prev_batch": format!("t{timeline_start}") },
        "state": { "events": state_events
            .iter()
            .filter(|p| options.filter.state.allows(&p.kind.to_string(), Some(p.sender.as_str())))
            .map(|p| p.to_client_event(false))
            .collect::<Vec<_>>() },
        "account_data": { "events": [] },
    }))
}

/// The state before `timeline_start` that a sync sends for a room: all of it when the
/// room is sent `whole` (initial sync, `full_state`, newly joined), what changed since
/// `since` when the timeline has a gap, nothing otherwise.
fn state_up_to(
    state: &AppState,
    room: &RoomCtx,
    options: &Options,
    whole: bool,
    timeline_start: u64,
    limited: bool,
) -> Result<Vec<std::sync::Arc<citadel_federation::pdu::Pdu>>> {
    match options.since {
        _ if whole => events_of(state, &*before_count(state, room, timeline_start)?),
        None => events_of(state, &*before_count(state, room, timeline_start)?),
        Some(since) if limited => {
            let at_start = before_count(state, room, timeline_start)?;
            let at_since = before_count(state, room, since)?;
            let changed: citadel_storage::rooms::state::StateMap = at_start
                .iter()
                .filter(|(k, v)| at_since.get(k) != Some(*v))
                .map(|(k, v)| (*k, *v))
                .collect();
            events_of(state, &changed)
        }
        Some(_) => Ok(Vec::new()),
    }
}

/// A sync timeline: the newest events the user may see and the timeline filter lets
/// through, oldest first.
pub(crate) struct Window {
    pub events: Vec<Value>,
    /// More such events lie before `start` (or the scan stopped before finding out).
    pub limited: bool,
    /// The stream position of the earliest event sent (`before` when none was).
    pub start: u64,
    /// Whether any event was sent.
    pub events_found: bool,
    /// How many stored events were read, whether or not they were sent.
    pub scanned: usize,
}

/// How many stored events one timeline reads at most looking for `limit` that pass a
/// filter: a filter matching nothing recent costs a bounded scan, then a gap.
const TIMELINE_SCAN_LIMIT: usize = 1_000;

/// Reads the room's timeline back from `before` to `floor` until `limit` events pass
/// the filter and the user's visibility: the filter picks which events fill the limit,
/// as the spec's filter `limit` means, not which of the last `limit` are kept.
pub(crate) fn timeline_window(
    state: &AppState,
    room: &RoomCtx,
    user_id: &str,
    options: &Options,
    floor: u64,
    before: u64,
    limit: usize,
) -> Result<Window> {
    let timeline = &state.storage.rooms.timeline;
    let filter = &options.filter.timeline;
    let mut visibility = Visibility::new(state, room, user_id)?;
    let mut kept = Vec::new();
    let (mut upper, mut start, mut scanned, mut limited) = (before, before, 0, false);
    let page_size = (limit + 1).clamp(1, 100);
    'scan: loop {
        let page = if floor == 0 {
            timeline.before(room.short, upper, page_size)?
        } else {
            timeline.between(room.short, floor, upper, page_size)?
        };
        let exhausted = page.len() < page_size;
        for (count, stored) in page {
            upper = count;
            let pdu = state.pdu_cache.parse(&stored)?;
            if !filter.allows(&pdu.kind.to_string(), Some(pdu.sender.as_str())) {
                scanned += 1;
                continue;
            }
            let pdu = match visibility.view(&pdu)? {
                Some(pdu) => pdu,
                // Current state is sent even when history visibility hides the moment it
                // was set (as Synapse does): clients build the room's state from the
                // timeline too.
                None if is_current_state(state, room, &pdu)? => std::borrow::Cow::Borrowed(&*pdu),
                None => {
                    scanned += 1;
                    continue;
                }
            };
            if kept.len() == limit {
                limited = true;
                break 'scan;
            }
            scanned += 1;
            let mut event = crate::rooms::relations::client_event(state, &pdu, user_id, false)?;
            crate::rooms::relations::add_transaction_id(
                state,
                &mut event,
                &pdu,
                user_id,
                &options.device_id,
            )?;
            if options.federation_format {
                event = federation_format(&pdu, event)?;
            }
            start = count;
            kept.push(event);
        }
        if exhausted {
            break;
        }
        if scanned >= TIMELINE_SCAN_LIMIT {
            limited = true;
            break;
        }
    }
    let events_found = !kept.is_empty();
    kept.reverse();
    Ok(Window {
        events: kept,
        limited,
        start,
        events_found,
        scanned,
    })
}

/// Whether `pdu` is a state event still in the room's current state.
fn is_current_state(
    state: &AppState,
    room: &RoomCtx,
    pdu: &citadel_federation::pdu::Pdu,
) -> Result<bool> {
    let Some(key) = pdu.state_key.as_deref() else {
        return Ok(false);
    };
    Ok(
        crate::rooms::state::current_event(state, room, &pdu.kind.to_string(), key)?
            .is_some_and(|current| current.event_id == pdu.event_id),
    )
}

/// The PDU itself, as `event_format: federation` asks, with its event ID and the
/// client event's `unsigned` (age, transaction ID, relations).
fn federation_format(pdu: &citadel_federation::pdu::Pdu, client: Value) -> Result<Value> {
    let mut event = serde_json::to_value(&pdu.json).map_err(crate::api::error::Error::internal)?;
    event["event_id"] = json!(pdu.event_id);
    if let Some(unsigned) = client.get("unsigned") {
        event["unsigned"] = unsigned.clone();
    }
    Ok(event)
}

/// The events the user may see, in client format.
pub(crate) fn visible_events(
    state: &AppState,
    room: &RoomCtx,
    user_id: &str,
    device_id: &str,
    events: &[(u64, citadel_storage::rooms::timeline::StoredPdu)],
) -> Result<Vec<Value>> {
    let mut visibility = Visibility::new(state, room, user_id)?;
    let mut out = Vec::with_capacity(events.len());
    for (_, stored) in events {
        let pdu = state.pdu_cache.parse(stored)?;
        if let Some(pdu) = visibility.view(&pdu)? {
            let mut event = crate::rooms::relations::client_event(state, &pdu, user_id, false)?;
            crate::rooms::relations::add_transaction_id(
                state, &mut event, &pdu, user_id, device_id,
            )?;
            out.push(event);
        }
    }
    Ok(out)
}

/// Typing and read receipts that changed since `since` (all current ones initially).
/// Private receipts go to their owner only.
pub(crate) fn ephemeral(
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

/// Unread notification and highlight counts. With `by_thread`, the room's counts cover
/// the main timeline and each thread is counted after its own (threaded) receipt, as the
/// spec's threaded read receipts require.
fn unread_counts(
    state: &AppState,
    room: &RoomCtx,
    user_id: &str,
    by_thread: bool,
) -> Result<((u64, u64), Map<String, Value>)> {
    let Ok(user) = ruma::UserId::parse(user_id) else {
        return Ok(((0, 0), Map::new()));
    };
    let room_id = room.room_id.as_str();
    let unthreaded = crate::push::read::read_upto(state, &user, room_id)?;
    if !by_thread {
        return Ok((
            state
                .storage
                .notifications
                .unread(user_id, room_id, unthreaded)?,
            Map::new(),
        ));
    }
    let main = unthreaded.max(crate::push::read::read_upto_in(
        state,
        &user,
        room_id,
        Some("main"),
    )?);
    let mut room_counts = (0, 0);
    let mut threads: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
    let mut thread_upto: std::collections::HashMap<String, u64> = Default::default();
    for (count, notification) in state
        .storage
        .notifications
        .in_room_after(user_id, room_id, unthreaded)?
    {
        let highlight = u64::from(notification.highlight);
        match &notification.thread_id {
            None => {
                if count > main {
                    room_counts.0 += 1;
                    room_counts.1 += highlight;
                }
            }
            Some(root) => {
                let upto = match thread_upto.get(root) {
                    Some(upto) => *upto,
                    None => {
                        let upto = unthreaded.max(crate::push::read::read_upto_in(
                            state,
                            &user,
                            room_id,
                            Some(root),
                        )?);
                        thread_upto.insert(root.clone(), upto);
                        upto
                    }
                };
                if count > upto {
                    let entry = threads.entry(root.clone()).or_default();
                    entry.0 += 1;
                    entry.1 += highlight;
                }
            }
        }
    }
    let threads = threads
        .into_iter()
        .map(|(root, (n, h))| {
            (
                root,
                json!({ "notification_count": n, "highlight_count": h }),
            )
        })
        .collect();
    Ok((room_counts, threads))
}
