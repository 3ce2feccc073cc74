//! Running each local member's push rules over a new event (ruma evaluates the rules),
//! storing the resulting notifications and handing them to the user's pushers.

use std::collections::BTreeMap;

use citadel_federation::pdu::Pdu;
use citadel_storage::notifications::Notification;
use citadel_storage::now_ms;
use ruma::power_levels::NotificationPowerLevels;
use ruma::push::{PushConditionPowerLevelsCtx, PushConditionRoomCtx};
use ruma::room_version_rules::RoomPowerLevelsRules;
use ruma::serde::Raw;
use ruma::{Int, OwnedUserId, UInt};
use serde_json::Value;

use crate::api::error::{Error, Result};
use crate::app::AppState;
use crate::rooms::RoomCtx;
use crate::rooms::state::{content_str, current, event_in};

/// Notifications an event produced: stored with the event's own disk sync, handed to
/// pushers once the event is durable.
pub struct Pending {
    batch: citadel_storage::Batch,
    delivered: Vec<(String, Notification)>,
}

impl Pending {
    /// Applies the notifications to the database, without waiting for the disk: the
    /// caller's flush of the event makes them durable together. Each user's notification
    /// is a record of its own, so they need no atomic batch.
    pub fn apply(&mut self, state: &AppState) -> Result<()> {
        let batch = std::mem::replace(&mut self.batch, state.storage.batch());
        Ok(state.storage.apply_each(batch)?)
    }

    /// Hands the notifications to the users' pushers (after the event is durable).
    pub fn deliver(self, state: &AppState, room: &RoomCtx, pdu: &Pdu) -> Result<()> {
        for (user, notification) in self.delivered {
            crate::push::gateway::deliver(state, &user, room, pdu, &notification)?;
        }
        Ok(())
    }
}

/// Evaluates the event for every joined local member but its sender; the notifications
/// are not stored yet (see [`Pending`]).
pub async fn on_event(state: &AppState, room: &RoomCtx, pdu: &Pdu, count: u64) -> Result<Pending> {
    let mut pending = Pending {
        batch: state.storage.batch(),
        delivered: Vec::new(),
    };
    let members = crate::rooms::members::of(state, room.room_id.as_str())?;
    let suffix = format!(":{}", state.server_name());
    let mut local: Vec<&str> = members
        .iter()
        .filter(|(u, r)| {
            r.membership == "join" && u.ends_with(&suffix) && *u != pdu.sender.as_str()
        })
        .map(|(u, _)| u)
        .collect();
    // An invite is pushed to the invitee too (the default `.m.rule.invite_for_me`), who
    // is not joined yet.
    if pdu.kind == ruma::events::TimelineEventType::RoomMember
        && let Some(target) = pdu.state_key.as_deref()
        && target != pdu.sender.as_str()
        && target.ends_with(&suffix)
        && let Some((invitee, _)) = members
            .iter()
            .find(|(u, r)| *u == target && r.membership == "invite")
    {
        local.push(invitee);
    }
    if pdu.kind == ruma::events::TimelineEventType::RoomMember {
        // Membership events about someone else notify no one on the default rules: only
        // the users whose rules say otherwise, and the event's own target, are evaluated.
        let target = pdu.state_key.as_deref().unwrap_or_default();
        let (about, others): (Vec<&str>, Vec<&str>) = local.into_iter().partition(|u| *u == target);
        local = about;
        local.extend(
            state
                .push_cache
                .may_notify_of_member_events(state, others)?,
        );
    }
    if local.is_empty() {
        return Ok(pending);
    }
    let (snapshot, map) = current(state, room)?;
    let power = power_levels_ctx(state, room, &map)?;
    let event_json = pdu.to_client_event(true);
    let raw: Raw<ruma::events::AnySyncTimelineEvent> = Raw::from_json(
        serde_json::value::RawValue::from_string(event_json.to_string())
            .map_err(Error::internal)?,
    );
    let member_count = UInt::new(members.joined_count() as u64).unwrap_or_default();

    let thread_id = crate::rooms::relations::relation_of(pdu)
        .filter(|(rel, _)| rel == "m.thread")
        .map(|(_, root)| root);
    for user in local {
        let Ok(user_id) = OwnedUserId::try_from(user) else {
            continue;
        };
        let read_name = || {
            Ok(event_in(state, &map, "m.room.member", user)?
                .and_then(|m| content_str(&m, "displayname"))
                .unwrap_or_else(|| user_id.localpart().to_owned()))
        };
        let display_name = match snapshot {
            Some(snapshot) => {
                state
                    .push_cache
                    .display_name(room.room_id.as_str(), snapshot, user, read_name)?
            }
            None => read_name()?,
        };
        let mut ctx = PushConditionRoomCtx::new(
            room.room_id.clone(),
            member_count,
            user_id.clone(),
            display_name,
        );
        if let Some(power) = &power {
            ctx = ctx.with_power_levels(power.clone());
        }
        let rules = state.push_cache.rules(state, &user_id)?;
        let actions = rules.get_actions(&raw, &ctx).await;
        if !actions.iter().any(|a| a.should_notify()) {
            continue;
        }
        let notification = Notification {
            event_id: pdu.event_id.to_string(),
            highlight: actions.iter().any(|a| a.is_highlight()),
            actions: serde_json::to_value(actions).map_err(Error::internal)?,
            ts: now_ms(),
            thread_id: thread_id.clone(),
        };
        state.storage.notifications.add(
            &mut pending.batch,
            user,
            room.room_id.as_str(),
            count,
            &notification,
        );
        pending.delivered.push((user.to_owned(), notification));
    }
    Ok(pending)
}

/// The room's power levels as the push conditions need them.
fn power_levels_ctx(
    state: &AppState,
    room: &RoomCtx,
    map: &citadel_storage::rooms::state::StateMap,
) -> Result<Option<PushConditionPowerLevelsCtx>> {
    let Some(levels) = event_in(state, map, "m.room.power_levels", "")? else {
        return Ok(None);
    };
    let content: Value = serde_json::from_str(levels.content.get()).unwrap_or_default();
    let int = |v: &Value| v.as_i64().and_then(Int::new).unwrap_or_default();
    let users: BTreeMap<OwnedUserId, Int> = content["users"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(u, l)| Some((OwnedUserId::try_from(u.as_str()).ok()?, int(l))))
                .collect()
        })
        .unwrap_or_default();
    let mut notifications = NotificationPowerLevels::new();
    if let Some(level) = content["notifications"]["room"].as_i64().and_then(Int::new) {
        notifications.room = level;
    }
    let creators: Vec<OwnedUserId> = event_in(state, map, "m.room.create", "")?
        .map(|create| {
            let content: Value = serde_json::from_str(create.content.get()).unwrap_or_default();
            let mut creators = vec![create.sender.clone()];
            creators.extend(
                content["additional_creators"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|u| u.as_str().and_then(|u| OwnedUserId::try_from(u).ok())),
            );
            creators
        })
        .unwrap_or_default();
    let rules = RoomPowerLevelsRules::new(&room.rules.authorization, creators);
    let users_default = content.get("users_default").map(int).unwrap_or_default();
    Ok(Some(PushConditionPowerLevelsCtx::new(
        users,
        users_default,
        notifications,
        rules,
    )))
}

/// An invite to a room this server is not in (received over federation `invite`): the
/// invitee's push rules run over it alone, the room as the inviting server showed it
/// (`invite_room_state`), and a notification goes to the invitee's pushers.
pub async fn on_remote_invite(
    state: &AppState,
    room_id: &ruma::RoomId,
    pdu: &Pdu,
    count: u64,
    room_state: &Value,
) -> Result<()> {
    let Some(user_id) = pdu
        .state_key
        .as_deref()
        .and_then(|k| OwnedUserId::try_from(k).ok())
    else {
        return Ok(());
    };
    let stripped: Vec<&Value> = room_state.as_array().into_iter().flatten().collect();
    let shown = |kind: &str, key: &str| {
        stripped
            .iter()
            .find(|e| e["type"] == kind && e["state_key"] == key)
            .map(|e| &e["content"])
    };
    let display_name = state
        .storage
        .users
        .profile_field(user_id.as_str(), "displayname")?
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| user_id.localpart().to_owned());
    let joined = stripped
        .iter()
        .filter(|e| e["type"] == "m.room.member" && e["content"]["membership"] == "join")
        .count()
        .max(1);
    let ctx = PushConditionRoomCtx::new(
        room_id.to_owned(),
        UInt::new(joined as u64).unwrap_or_default(),
        user_id.clone(),
        display_name,
    );
    let raw: Raw<ruma::events::AnySyncTimelineEvent> = Raw::from_json(
        serde_json::value::RawValue::from_string(pdu.to_client_event(true).to_string())
            .map_err(Error::internal)?,
    );
    let rules = state.push_cache.rules(state, &user_id)?;
    let actions = rules.get_actions(&raw, &ctx).await;
    if !actions.iter().any(|a| a.should_notify()) {
        return Ok(());
    }
    let notification = Notification {
        event_id: pdu.event_id.to_string(),
        highlight: actions.iter().any(|a| a.is_highlight()),
        actions: serde_json::to_value(actions).map_err(Error::internal)?,
        ts: now_ms(),
        thread_id: None,
    };
    let mut batch = state.storage.batch();
    state.storage.notifications.add(
        &mut batch,
        user_id.as_str(),
        room_id.as_str(),
        count,
        &notification,
    );
    state.storage.commit(batch).await?;

    let mut details = serde_json::Map::new();
    let alias = shown("m.room.canonical_alias", "").and_then(|c| c["alias"].as_str());
    if let Some(name) = shown("m.room.name", "")
        .and_then(|c| c["name"].as_str())
        .filter(|n| !n.is_empty())
        .or(alias)
    {
        details.insert("room_name".into(), name.into());
    }
    if let Some(alias) = alias {
        details.insert("room_alias".into(), alias.into());
    }
    if let Some(name) =
        shown("m.room.member", pdu.sender.as_str()).and_then(|c| c["displayname"].as_str())
    {
        details.insert("sender_display_name".into(), name.into());
    }
    details.insert("user_is_target".into(), true.into());
    details.insert("membership".into(), "invite".into());
    crate::push::gateway::send(
        state,
        user_id.as_str(),
        room_id,
        pdu,
        &notification,
        &details,
    )
}
