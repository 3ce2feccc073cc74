//! The legacy event stream (`GET /events`, deprecated but still in the spec): the
//! events a `/sync` from the same token would carry, as one flat list. Room events and
//! ephemeral events get their `room_id`; presence comes last.

use serde_json::Value;

use crate::api::error::{Error, Result};
use crate::app::AppState;
use crate::sync::filter::SyncFilter;
use crate::sync::v3::{Options, build};

/// Room events per room in one answer: enough that a client polling the stream does
/// not lose events to a gappy timeline.
const EVENTS_PER_ROOM: usize = 500;

/// What the stream needs to know of a request.
pub(crate) struct StreamRequest<'a> {
    pub(crate) user_id: &'a str,
    pub(crate) device_id: &'a str,
    /// Events at or after this position.
    pub(crate) from: u64,
    /// Only this room's events (and no presence).
    pub(crate) room_id: Option<&'a str>,
}

/// The events from `from` up to the boundary `next`.
pub(crate) fn events_between(
    state: &AppState,
    request: &StreamRequest<'_>,
    next: u64,
) -> Result<Vec<Value>> {
    let filter = match request.room_id {
        Some(room) => serde_json::json!({ "room": { "rooms": [room] } }),
        None => Value::Null,
    };
    let options = Options {
        device_id: request.device_id.to_owned(),
        to_device_since: None,
        since: Some(request.from),
        full_state: false,
        timeline_limit: EVENTS_PER_ROOM,
        lazy_load_members: false,
        include_redundant_members: false,
        unread_thread_notifications: false,
        filter: SyncFilter::from_value(&filter),
        federation_format: false,
        cache_key: None,
    };
    let (body, _) = build(state, request.user_id, &options, next)?;
    let body = serde_json::to_value(&body).map_err(Error::internal)?;
    Ok(flatten(&body, request.room_id.is_none()))
}

/// The events of a `/sync` body in stream order per room: timeline, then ephemeral.
fn flatten(body: &Value, with_presence: bool) -> Vec<Value> {
    let mut chunk = Vec::new();
    if let Some(rooms) = body["rooms"]["join"].as_object() {
        for (room_id, room) in rooms {
            for section in [&room["timeline"]["events"], &room["ephemeral"]["events"]] {
                for event in section.as_array().into_iter().flatten() {
                    let mut event = event.clone();
                    if let Some(fields) = event.as_object_mut() {
                        fields.insert("room_id".into(), Value::String(room_id.clone()));
                    }
                    chunk.push(event);
                }
            }
        }
    }
    if with_presence {
        chunk.extend(
            body["presence"]["events"]
                .as_array()
                .into_iter()
                .flatten()
                .cloned(),
        );
    }
    chunk
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn room_events_get_their_room_and_presence_comes_last() {
        let body = json!({
            "rooms": { "join": { "!a:x": {
                "timeline": { "events": [{ "type": "m.room.message", "event_id": "$1" }] },
                "ephemeral": { "events": [{ "type": "m.typing", "content": {} }] },
            } } },
            "presence": { "events": [{ "type": "m.presence", "sender": "@u:x" }] },
        });
        let chunk = flatten(&body, true);
        assert_eq!(chunk.len(), 3);
        assert_eq!(chunk[0]["room_id"], "!a:x");
        assert_eq!(chunk[0]["event_id"], "$1");
        assert_eq!(chunk[1]["type"], "m.typing");
        assert_eq!(chunk[1]["room_id"], "!a:x");
        assert_eq!(chunk[2]["type"], "m.presence");
        assert_eq!(flatten(&body, false).len(), 2);
    }
}
