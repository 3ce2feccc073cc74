//! Sync filters (client-server API, "Filtering"): which rooms and events a `/sync`
//! response carries. Type patterns may end in `*` as a wildcard.

use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct EventFilter {
    pub types: Option<Vec<String>>,
    pub not_types: Vec<String>,
    pub senders: Option<Vec<String>>,
    pub not_senders: Vec<String>,
    pub rooms: Option<Vec<String>>,
    pub not_rooms: Vec<String>,
}

fn type_matches(pattern: &str, kind: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => kind.starts_with(prefix),
        None => pattern == kind,
    }
}

impl EventFilter {
    pub fn from_value(value: &Value) -> Self {
        serde_json::from_value(value.clone()).unwrap_or_default()
    }

    /// Whether an event of this type and sender passes.
    pub fn allows(&self, kind: &str, sender: Option<&str>) -> bool {
        if self.not_types.iter().any(|p| type_matches(p, kind)) {
            return false;
        }
        if self
            .types
            .as_ref()
            .is_some_and(|types| !types.iter().any(|p| type_matches(p, kind)))
        {
            return false;
        }
        if let Some(sender) = sender {
            if self.not_senders.iter().any(|s| s == sender) {
                return false;
            }
            if self
                .senders
                .as_ref()
                .is_some_and(|senders| !senders.iter().any(|s| s == sender))
            {
                return false;
            }
        }
        true
    }

    pub fn allows_room(&self, room_id: &str) -> bool {
        !self.not_rooms.iter().any(|r| r == room_id)
            && self
                .rooms
                .as_ref()
                .is_none_or(|rooms| rooms.iter().any(|r| r == room_id))
    }

    /// Keeps the JSON events that pass.
    pub fn retain(&self, events: &mut Vec<Value>) {
        events
            .retain(|e| self.allows(e["type"].as_str().unwrap_or_default(), e["sender"].as_str()));
    }
}

/// The parts of a sync filter the response builder uses.
#[derive(Debug, Default)]
pub struct SyncFilter {
    pub rooms: EventFilter,
    pub timeline: EventFilter,
    pub state: EventFilter,
    pub ephemeral: EventFilter,
    pub room_account_data: EventFilter,
    pub account_data: EventFilter,
    pub include_leave: bool,
}

impl SyncFilter {
    pub fn from_value(filter: &Value) -> Self {
        let room = &filter["room"];
        Self {
            rooms: EventFilter::from_value(room),
            timeline: EventFilter::from_value(&room["timeline"]),
            state: EventFilter::from_value(&room["state"]),
            ephemeral: EventFilter::from_value(&room["ephemeral"]),
            room_account_data: EventFilter::from_value(&room["account_data"]),
            account_data: EventFilter::from_value(&filter["account_data"]),
            include_leave: room["include_leave"] == true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn types_senders_and_wildcards() {
        let filter = EventFilter::from_value(
            &json!({"types": ["m.room.*"], "not_types": ["m.room.member"], "not_senders": ["@spam:x"]}),
        );
        assert!(filter.allows("m.room.message", Some("@a:x")));
        assert!(!filter.allows("m.room.member", Some("@a:x")));
        assert!(!filter.allows("m.reaction", Some("@a:x")));
        assert!(!filter.allows("m.room.message", Some("@spam:x")));
        let rooms = EventFilter::from_value(&json!({"not_rooms": ["!b:x"]}));
        assert!(rooms.allows_room("!a:x") && !rooms.allows_room("!b:x"));
        let none = EventFilter::from_value(&json!({"types": []}));
        assert!(!none.allows("m.room.message", None));
    }
}
