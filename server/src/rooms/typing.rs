//! Typing notifications: in memory only (they are ephemeral by definition), each with a
//! timeout after which the user stops typing by themselves.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ruma::OwnedRoomId;

/// Longest typing timeout honoured.
const MAX_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Default)]
pub struct Typing {
    rooms: Mutex<HashMap<OwnedRoomId, RoomTyping>>,
}

#[derive(Default)]
struct RoomTyping {
    /// Who is typing, until when.
    users: HashMap<String, Instant>,
    /// Stream position of the last change.
    changed: u64,
}

impl Typing {
    /// Records a change; returns the expiry to schedule, if the user is now typing.
    pub fn set(
        &self,
        room_id: &OwnedRoomId,
        user_id: &str,
        timeout: Option<Duration>,
        position: u64,
    ) -> Option<Instant> {
        let mut rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        let room = rooms.entry(room_id.clone()).or_default();
        room.changed = position;
        match timeout {
            Some(timeout) => {
                let until = Instant::now() + timeout.min(MAX_TIMEOUT);
                room.users.insert(user_id.to_owned(), until);
                Some(until)
            }
            None => {
                room.users.remove(user_id);
                None
            }
        }
    }

    /// Ends a typing notification whose timeout passed (unless it was renewed).
    pub fn expire(
        &self,
        room_id: &OwnedRoomId,
        user_id: &str,
        until: Instant,
        position: u64,
    ) -> bool {
        let mut rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        let Some(room) = rooms.get_mut(room_id) else {
            return false;
        };
        if room.users.get(user_id) == Some(&until) {
            room.users.remove(user_id);
            room.changed = position;
            return true;
        }
        false
    }

    /// Who is typing, if that changed at or after `since` (always for an initial sync).
    pub fn changed_since(&self, room_id: &OwnedRoomId, since: Option<u64>) -> Option<Vec<String>> {
        let rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        let room = rooms.get(room_id)?;
        if since.is_some_and(|since| room.changed < since) {
            return None;
        }
        let mut users: Vec<String> = room.users.keys().cloned().collect();
        users.sort();
        Some(users)
    }
}
