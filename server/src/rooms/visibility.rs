//! History visibility (client-server API, "History visibility"): which events of a room a
//! user may see, decided from the room state at each event.
//!
//! An event is visible to a user if, at that event, the room's `history_visibility` was
//! `world_readable`; or the user was joined; or it was `shared` and the user is joined
//! now; or it was `invited` and the user was invited. Users always see their own
//! membership events.

use std::collections::HashMap;

use citadel_federation::pdu::Pdu;

use crate::api::error::Result;
use crate::app::AppState;
use crate::rooms::RoomCtx;
use crate::rooms::state::{content_str, event_in, membership_in};

/// Decides visibility for one user in one room, caching per state snapshot.
pub struct Visibility<'a> {
    state: &'a AppState,
    user_id: &'a str,
    joined_now: bool,
    /// Senders the user ignores (`m.ignored_user_list`): their non-state events are hidden.
    ignored: std::collections::HashSet<String>,
    cache: HashMap<u64, bool>,
}

impl<'a> Visibility<'a> {
    pub fn new(state: &'a AppState, room: &RoomCtx, user_id: &'a str) -> Result<Self> {
        let joined_now = state
            .storage
            .rooms
            .membership
            .get(user_id, room.room_id.as_str())?
            .is_some_and(|r| r.membership == "join");
        let ignored = match state
            .storage
            .account_data
            .get(user_id, None, "m.ignored_user_list")?
        {
            Some(raw) => serde_json::from_str::<serde_json::Value>(raw.get())
                .ok()
                .and_then(|v| {
                    v.get("ignored_users")
                        .and_then(|u| u.as_object())
                        .map(|m| m.keys().cloned().collect())
                })
                .unwrap_or_default(),
            None => Default::default(),
        };
        Ok(Self {
            state,
            user_id,
            joined_now,
            ignored,
            cache: HashMap::new(),
        })
    }

    pub fn can_see(&mut self, pdu: &Pdu) -> Result<bool> {
        if pdu.kind == ruma::events::TimelineEventType::RoomMember
            && pdu.state_key.as_deref() == Some(self.user_id)
        {
            return Ok(true);
        }
        if pdu.state_key.is_none() && self.ignored.contains(pdu.sender.as_str()) {
            return Ok(false);
        }
        let storage = &self.state.storage;
        let Some(short) = storage.rooms.short.event_if_known(pdu.event_id.as_str())? else {
            return Ok(false);
        };
        let Some(hash) = storage.rooms.state.after_event(short)? else {
            return Ok(false);
        };
        if let Some(known) = self.cache.get(&hash) {
            return Ok(*known);
        }
        let map = storage.rooms.state.load_shared(hash)?;
        let visibility = event_in(self.state, &map, "m.room.history_visibility", "")?
            .and_then(|e| content_str(&e, "history_visibility"))
            .unwrap_or_else(|| "shared".into());
        let membership = membership_in(self.state, &map, self.user_id)?;
        let visible = match visibility.as_str() {
            "world_readable" => true,
            _ if membership == "join" => true,
            "shared" => self.joined_now,
            "invited" => membership == "invite",
            _ => false,
        };
        self.cache.insert(hash, visible);
        Ok(visible)
    }
}
