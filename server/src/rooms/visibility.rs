//! History visibility (client-server API, "History visibility"): which events of a room a
//! user may see, decided from the room state at each event.
//!
//! An event is visible to a user if, at that event, the room's `history_visibility` was
//! `world_readable`; or the user was joined; or it was `shared` and the user is joined
//! now; or it was `invited` and the user was invited. Users always see their own
//! membership events.
//!
//! An erased user's events (deactivated with `erase`) are shown as a redaction would
//! leave them to anyone who was not joined when they were sent, as Synapse does: those
//! who were there keep what they saw, newcomers never get the content.

use std::borrow::Cow;
use std::collections::HashMap;

use citadel_federation::pdu::Pdu;

use crate::api::error::Result;
use crate::app::AppState;
use crate::rooms::RoomCtx;
use crate::rooms::state::{content_str, event_in, membership_in};

/// The senders a user ignores (`m.ignored_user_list` account data).
pub fn ignored_users(state: &AppState, user_id: &str) -> Result<std::collections::HashSet<String>> {
    let Some(raw) = state
        .storage
        .account_data
        .get(user_id, None, "m.ignored_user_list")?
    else {
        return Ok(Default::default());
    };
    Ok(serde_json::from_str::<serde_json::Value>(raw.get())
        .ok()
        .and_then(|v| {
            v.get("ignored_users")
                .and_then(|u| u.as_object())
                .map(|m| m.keys().cloned().collect())
        })
        .unwrap_or_default())
}

/// Decides visibility for one user in one room, caching per state snapshot.
pub struct Visibility<'a> {
    state: &'a AppState,
    user_id: &'a str,
    joined_now: bool,
    /// Senders the user ignores (`m.ignored_user_list`): their non-state events are hidden.
    ignored: std::collections::HashSet<String>,
    /// Per state snapshot: (visible, joined at it).
    cache: HashMap<u64, (bool, bool)>,
    /// Whether each local sender seen so far was erased.
    erased: HashMap<String, bool>,
    rules: ruma::room_version_rules::RoomVersionRules,
}

impl<'a> Visibility<'a> {
    pub fn new(state: &'a AppState, room: &RoomCtx, user_id: &'a str) -> Result<Self> {
        let joined_now = state
            .storage
            .rooms
            .membership
            .get(user_id, room.room_id.as_str())?
            .is_some_and(|r| r.membership == "join");
        let ignored = ignored_users(state, user_id)?;
        Ok(Self {
            state,
            user_id,
            joined_now,
            ignored,
            cache: HashMap::new(),
            erased: HashMap::new(),
            rules: room.rules.clone(),
        })
    }

    pub fn can_see(&mut self, pdu: &Pdu) -> Result<bool> {
        Ok(self.judge(pdu)?.0)
    }

    /// The event as the user may see it: `None` when hidden, pruned when its sender was
    /// erased and the user was not joined when it was sent.
    pub fn view<'p>(&mut self, pdu: &'p Pdu) -> Result<Option<Cow<'p, Pdu>>> {
        let (visible, joined_then) = self.judge(pdu)?;
        if !visible {
            return Ok(None);
        }
        if joined_then || pdu.sender.as_str() == self.user_id || !self.is_erased(pdu)? {
            return Ok(Some(Cow::Borrowed(pdu)));
        }
        let pruned = pdu
            .redacted(&self.rules, None)
            .map_err(crate::api::error::Error::internal)?;
        Ok(Some(Cow::Owned(pruned)))
    }

    fn is_erased(&mut self, pdu: &Pdu) -> Result<bool> {
        if pdu.sender.server_name().as_str() != self.state.server_name() {
            return Ok(false);
        }
        let sender = pdu.sender.as_str();
        if let Some(known) = self.erased.get(sender) {
            return Ok(*known);
        }
        let erased = self
            .state
            .storage
            .users
            .get(sender)?
            .is_some_and(|u| u.erased);
        self.erased.insert(sender.to_owned(), erased);
        Ok(erased)
    }

    /// Whether the user may see the event, and whether they were joined at it.
    fn judge(&mut self, pdu: &Pdu) -> Result<(bool, bool)> {
        if pdu.kind == ruma::events::TimelineEventType::RoomMember
            && pdu.state_key.as_deref() == Some(self.user_id)
        {
            return Ok((true, true));
        }
        if pdu.state_key.is_none() && self.ignored.contains(pdu.sender.as_str()) {
            return Ok((false, false));
        }
        let (visible, joined) = self.judge_after(pdu.event_id.as_str())?;
        // A change of history visibility is seen by whoever the setting before *or*
        // after it lets see it (the spec's example: a change from `world_readable` to
        // `joined` is visible to non-members).
        if !visible
            && pdu.kind == ruma::events::TimelineEventType::RoomHistoryVisibility
            && pdu.state_key.as_deref() == Some("")
        {
            for prev in &pdu.prev_events {
                if self.judge_after(prev.as_str())?.0 {
                    return Ok((true, joined));
                }
            }
        }
        Ok((visible, joined))
    }

    /// The rules applied to the room's state just after `event_id`.
    fn judge_after(&mut self, event_id: &str) -> Result<(bool, bool)> {
        let storage = &self.state.storage;
        let Some(short) = storage.rooms.short.event_if_known(event_id)? else {
            return Ok((false, false));
        };
        let Some(hash) = storage.rooms.state.after_event(short)? else {
            return Ok((false, false));
        };
        if let Some(known) = self.cache.get(&hash) {
            return Ok(*known);
        }
        let map = storage.rooms.state.load_shared(hash)?;
        let visibility = event_in(self.state, &map, "m.room.history_visibility", "")?
            .and_then(|e| content_str(&e, "history_visibility"))
            .unwrap_or_else(|| "shared".into());
        let membership = membership_in(self.state, &map, self.user_id)?;
        let joined = membership == "join";
        let visible = match visibility.as_str() {
            "world_readable" => true,
            _ if joined => true,
            "shared" => self.joined_now,
            "invited" => membership == "invite",
            _ => false,
        };
        self.cache.insert(hash, (visible, joined));
        Ok((visible, joined))
    }
}
