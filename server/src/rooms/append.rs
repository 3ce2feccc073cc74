//! Appending a local event: fill in its place in the graph, sign it, authorize it against
//! the room's current state, and store everything it changes in one atomic batch.

use citadel_federation::auth::{auth_types, authorize};
use citadel_federation::pdu::{self, EventContent, Pdu, PduError, Position};
use citadel_storage::outbox::OutboxItem;
use citadel_storage::rooms::state::StateMap;
use citadel_storage::rooms::timeline::{PduId, StoredPdu};
use citadel_storage::{Batch, now_ms};
use ruma::events::TimelineEventType;
use ruma::{MilliSecondsSinceUnixEpoch, UInt, UserId};
use serde_json::value::RawValue;

use crate::api::error::{Error, Result};
use crate::app::AppState;
use crate::rooms::state::{current, event_in};
use crate::rooms::{RoomCtx, load_pdu};

/// At most this many forward extremities become `prev_events` of one event.
const MAX_PREV_EVENTS: usize = 20;

/// Builds, authorizes and appends a local event to an existing room. Returns the event
/// and its stream position.
pub async fn append_event(
    state: &AppState,
    room: &RoomCtx,
    sender: &UserId,
    event: EventContent,
) -> Result<(Pdu, u64)> {
    append_sent_event(state, room, sender, event, None).await
}

/// A client's transaction an event completes: recorded in the event's own batch.
pub(crate) struct ClientTxn<'a> {
    pub device_id: &'a str,
    /// The key the transaction was claimed under.
    pub key: &'a str,
    /// The transaction ID as the client sent it.
    pub txn_id: &'a str,
}

/// [`append_event`] for a client's `PUT …/send/…/{txnId}`: the transaction's completion
/// becomes durable together with the event.
#[tracing::instrument(level = "debug", skip_all, fields(room_id = %room.room_id, sender = %sender, kind = %event.kind))]
pub async fn append_sent_event(
    state: &AppState,
    room: &RoomCtx,
    sender: &UserId,
    event: EventContent,
    txn: Option<ClientTxn<'_>>,
) -> Result<(Pdu, u64)> {
    let guard = state.room_locks.lock(&room.room_id).await?;
    let (state_hash, map) = current(state, room)?;

    let graph = Graph::at_end(state, room, &map, sender, &event)?;
    let position = graph.position(room);
    let pdu = build(state, room, sender, event, position)?;
    check_auth(state, room, &pdu, &map)?;
    let mut placement = Placement::local(&graph.prev_ids, state_hash, &map);
    placement.txn = txn;
    let written = write(state, room, &pdu, placement)?;
    drop(guard);
    let count = publish(state, room, &pdu, written).await?;
    Ok((pdu, count))
}

/// Where a new event goes in the room graph: after the forward extremities, citing the
/// current state events the authorization rules need.
pub(crate) struct Graph {
    pub prev_ids: Vec<String>,
    prev_events: Vec<std::sync::Arc<Pdu>>,
    auth_events: Vec<std::sync::Arc<Pdu>>,
    depth: u64,
}

impl Graph {
    pub fn at_end(
        state: &AppState,
        room: &RoomCtx,
        map: &StateMap,
        sender: &UserId,
        event: &EventContent,
    ) -> Result<Self> {
        let mut prev_ids = state.storage.rooms.timeline.extremities(room.short)?;
        prev_ids.truncate(MAX_PREV_EVENTS);
        let mut prev_events = Vec::with_capacity(prev_ids.len());
        for id in &prev_ids {
            prev_events.push(
                load_pdu(state, id)?.ok_or_else(|| Error::internal("extremity is not stored"))?,
            );
        }
        let depth = prev_events.iter().map(|p| p.depth).max().unwrap_or(0) + 1;
        let kind = TimelineEventType::from(event.kind.as_str());
        let content_json = serde_json::to_string(&event.content).map_err(Error::internal)?;
        let content_raw = RawValue::from_string(content_json).map_err(Error::internal)?;
        let needed = auth_types(
            &room.rules,
            &kind,
            sender,
            event.state_key.as_deref(),
            &content_raw,
        )
        .map_err(|e| Error::bad_json(format!("Invalid event content: {e}")))?;
        let mut auth_events = Vec::new();
        for (auth_kind, auth_key) in needed {
            if let Some(pdu) = event_in(state, map, &auth_kind.to_string(), &auth_key)? {
                auth_events.push(pdu);
            }
        }
        Ok(Self {
            prev_ids,
            prev_events,
            auth_events,
            depth,
        })
    }

    pub fn position<'a>(&'a self, room: &'a RoomCtx) -> Position<'a> {
        Position {
            room_id: Some(&room.room_id),
            prev_events: &self.prev_events,
            auth_events: &self.auth_events,
            depth: self.depth,
        }
    }
}

pub(crate) fn build(
    state: &AppState,
    room: &RoomCtx,
    sender: &UserId,
    event: EventContent,
    position: Position<'_>,
) -> Result<Pdu> {
    build_at(state, room, sender, event, position, now_ms())
}

/// [`build`] with a given `origin_server_ts`.
pub(crate) fn build_at(
    state: &AppState,
    room: &RoomCtx,
    sender: &UserId,
    event: EventContent,
    position: Position<'_>,
    origin_server_ts: u64,
) -> Result<Pdu> {
    let now = MilliSecondsSinceUnixEpoch(UInt::new(origin_server_ts).unwrap_or_default());
    pdu::build(
        &room.rules,
        &state.signing_key,
        sender,
        event,
        position,
        now,
    )
    .map_err(|e| match e {
        PduError::TooLarge => Error::too_large("Event is larger than 65536 bytes"),
        // As Synapse answers (its EventSizeError): the event could never be sent on.
        e @ PduError::FieldTooLong(_) => Error::too_large(e.to_string()),
        PduError::Malformed(m) => Error::bad_json(m),
    })
}

/// Authorizes an event against a state map, with `403 M_FORBIDDEN` and ruma's reason.
pub(crate) fn check_auth(
    state: &AppState,
    room: &RoomCtx,
    pdu: &Pdu,
    map: &StateMap,
) -> Result<()> {
    authorize(
        &room.rules,
        pdu,
        |id| load_pdu(state, id.as_str()).ok().flatten(),
        |kind, key| event_in(state, map, &kind.to_string(), key).ok().flatten(),
    )
    .map_err(|e| Error::forbidden(e.to_string()))
}

/// Where a new event goes: what it replaces, the state around it, and who must hear of it.
pub(crate) struct Placement<'a> {
    /// Forward extremities the event now follows.
    pub referenced: &'a [String],
    /// The state before the event, with its snapshot hash when it is a stored snapshot.
    pub before: (Option<u64>, &'a StateMap),
    /// The room's current state before this write, with its hash.
    pub old_current: (Option<u64>, &'a StateMap),
    /// The room's current state after the write; `None`: the state after the event.
    pub new_current: Option<StateMap>,
    /// Whether other servers in the room must be sent the event (and which to skip: the
    /// server it came from).
    pub federate: Federate,
    /// The client transaction that sent it, if any.
    pub txn: Option<ClientTxn<'a>>,
}

pub(crate) enum Federate {
    /// Received from another server, which sends it everywhere itself.
    No,
    /// Ours to deliver to every other server in the room, except this one.
    AllExcept(Option<String>),
}

impl<'a> Placement<'a> {
    /// A local event appended at the end of the room.
    pub fn local(referenced: &'a [String], hash: Option<u64>, map: &'a StateMap) -> Self {
        Placement {
            referenced,
            before: (hash, map),
            old_current: (hash, map),
            new_current: None,
            federate: Federate::AllExcept(None),
            txn: None,
        }
    }
}

/// Writes the event with everything it changes, atomically, but not yet durably.
#[tracing::instrument(level = "debug", skip_all, fields(room_id = %room.room_id, event_id = %pdu.event_id))]
pub(crate) fn write(
    state: &AppState,
    room: &RoomCtx,
    pdu: &Pdu,
    placement: Placement<'_>,
) -> Result<Written> {
    let storage = &state.storage;
    let reserved = state.stream.reserve(storage)?;
    let count = reserved.position;
    let short_event = storage.rooms.short.event(pdu.event_id.as_str())?;
    let mut batch = Batch::new();
    let stored = StoredPdu {
        event_id: pdu.event_id.to_string(),
        pdu: RawValue::from_string(serde_json::to_string(&pdu.json).map_err(Error::internal)?)
            .map_err(Error::internal)?,
    };
    storage.rooms.timeline.append(
        &mut batch,
        PduId {
            room: room.short,
            count,
        },
        &stored,
    );
    storage.rooms.timeline.advance_extremities(
        &mut batch,
        room.short,
        placement.referenced,
        pdu.event_id.as_str(),
    );

    let (before_hash, before) = placement.before;
    let mut after = before.clone();
    if let Some(state_key) = &pdu.state_key {
        let short_key = storage
            .rooms
            .short
            .state_key(&pdu.kind.to_string(), state_key)?;
        after.insert(short_key, short_event);
    }
    let parent = before_hash.map(|hash| (hash, before));
    let after_hash = storage.rooms.state.save(&mut batch, parent, &after)?;
    storage
        .rooms
        .state
        .set_after_event(&mut batch, short_event, after_hash);
    let (old_hash, old_current) = placement.old_current;
    let (new_hash, new_current) = match placement.new_current {
        None => (after_hash, after),
        Some(map) => {
            let parent = old_hash.map(|hash| (hash, old_current));
            (storage.rooms.state.save(&mut batch, parent, &map)?, map)
        }
    };
    storage
        .rooms
        .state
        .set_current(&mut batch, room.short, new_hash);

    let local = matches!(placement.federate, Federate::AllExcept(_));
    let destinations = match placement.federate {
        // Without federation there is no one to tell (and no member scan to pay for).
        Federate::No => Vec::new(),
        Federate::AllExcept(_) if !state.config.federation.enabled => Vec::new(),
        Federate::AllExcept(skip) => {
            let mut servers = crate::rooms::servers::in_room(state, &room.room_id)?;
            if pdu.kind == TimelineEventType::RoomMember
                && let Some(target) = pdu.state_key.as_deref()
                && let Ok(target) = <&UserId>::try_from(target)
                && matches!(
                    crate::rooms::state::content_str(pdu, "membership").as_deref(),
                    Some("leave" | "ban")
                )
            {
                // A kicked, banned or uninvited user's server hears of it too. (An invite
                // reached the invitee's server through `/invite`; in a transaction it
                // would be a PDU of a room that server is not in.)
                servers.insert(target.server_name().to_string());
            }
            servers.remove(state.server_name());
            if let Some(skip) = skip {
                servers.remove(&skip);
            }
            servers.retain(|s| crate::rooms::acl::server_allowed(state, s));
            let item = OutboxItem::Pdu {
                event_id: pdu.event_id.to_string(),
            };
            for server in &servers {
                storage.outbox.push(&mut batch, server, &item)?;
            }
            servers.into_iter().collect()
        }
    };

    // A message appended after the current state changes no membership.
    let member_changes = if old_hash == Some(new_hash) {
        Vec::new()
    } else {
        crate::rooms::servers::update_memberships(
            state,
            &mut batch,
            room,
            pdu,
            old_current,
            &new_current,
            count,
        )?
    };
    crate::rooms::relations::index(state, &mut batch, room.short, pdu, count);
    if let Some(txn) = &placement.txn {
        let event_id = pdu.event_id.as_str();
        let sender = pdu.sender.as_str();
        storage
            .txn_ids
            .complete(&mut batch, sender, txn.device_id, txn.key, event_id);
        storage
            .txn_ids
            .record_origin(&mut batch, event_id, txn.device_id, txn.txn_id);
    }
    storage.apply(batch)?;
    let woken = member_changes
        .iter()
        .map(|(user, _)| user.clone())
        .collect();
    if old_hash != Some(new_hash) {
        state
            .members_cache
            .advance(room.room_id.as_str(), old_hash, new_hash, member_changes);
        storage
            .rooms
            .state
            .remember(new_hash, std::sync::Arc::new(new_current));
    }
    state.metrics.event_persisted(local);
    // For the dashboard's "events today"; a failure here must not fail a stored event.
    let today = citadel_storage::daily_counts::day_of(citadel_storage::now_ms());
    if let Err(e) = storage
        .daily_counts
        .add(today, citadel_storage::daily_counts::EVENTS, 1)
    {
        tracing::warn!("could not count today's events: {e}");
    }
    Ok(Written {
        reserved,
        woken,
        destinations,
    })
}

/// An event applied to the database but not yet durable nor announced.
pub(crate) struct Written {
    reserved: crate::rooms::stream::Reserved,
    woken: Vec<String>,
    destinations: Vec<String>,
}

/// Makes a written event durable, then lets readers see it and wakes them. Runs outside
/// the room lock, so the next event of the room is built while this one's disk sync is
/// in flight, and concurrent writers share disk syncs.
#[tracing::instrument(level = "debug", skip_all, fields(room_id = %room.room_id, event_id = %pdu.event_id))]
pub(crate) async fn publish(
    state: &AppState,
    room: &RoomCtx,
    pdu: &Pdu,
    written: Written,
) -> Result<u64> {
    let Written {
        reserved,
        mut woken,
        destinations,
    } = written;
    let count = reserved.position;
    // The event's notifications go to disk with it, in the same sync.
    let pushes = match crate::push::evaluate::on_event(state, room, pdu, count).await {
        Ok(mut pending) => pending.apply(state).map(|()| pending),
        Err(e) => Err(e),
    };
    let pushes = pushes
        .inspect_err(|e| {
            // The event is stored; a failed notification must not fail the send.
            tracing::warn!(error = %e, event_id = %pdu.event_id, "push evaluation failed");
        })
        .ok();
    state.storage.flush().await?;
    // Only now may readers pass this position: nobody sees an event that is not on disk.
    drop(reserved);
    // Everyone joined or invited may see the event, and the users whose membership it
    // changed see that change.
    let members = crate::rooms::members::of(state, room.room_id.as_str())?;
    if let Some(pushes) = pushes
        && let Err(e) = pushes.deliver(state, room, pdu)
    {
        tracing::warn!(error = %e, event_id = %pdu.event_id, "push delivery failed");
    }
    // Waiting readers are woken from a task of their own, which runs once this request
    // has yielded, normally with its response already written: clients match an event's
    // remote echo against the response to their send, and some (matrix-js-sdk with
    // threads) mishandle an echo that comes first. The event is already readable; only
    // the wake-up waits.
    let sees = |user: &str| {
        members
            .get(user)
            .is_some_and(|r| r.membership == "join" || r.membership == "invite")
    };
    let listed = members.iter().map(|(user, _)| user);
    woken.extend(state.notifier.listening_among(listed, members.len(), sees));
    drop(members);
    let notifier = state.notifier.clone();
    tokio::spawn(async move { notifier.notify(woken.iter().map(String::as_str), count) });
    for destination in &destinations {
        state.wake_sender(destination);
    }
    Ok(count)
}
