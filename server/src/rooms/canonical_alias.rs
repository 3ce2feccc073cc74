//! Keeping `m.room.canonical_alias` true to the directory: an alias removed from the
//! directory is taken out of the room's canonical alias event too (as Synapse does), so
//! clients do not show a name that no longer leads anywhere.

use ruma::UserId;
use serde_json::Value;

use crate::app::AppState;
use crate::rooms::create::state_event;
use crate::rooms::state::{current, event_in};
use crate::rooms::{RoomCtx, append_event};

/// After `alias` left the directory: drop it from the room's canonical alias event,
/// sent as `user`. Best effort: a user without the power to change that event removes
/// the alias from the directory all the same.
pub async fn forget(state: &AppState, room: &RoomCtx, user: &UserId, alias: &str) {
    let content = match current(state, room)
        .and_then(|(_, map)| event_in(state, &map, "m.room.canonical_alias", ""))
    {
        Ok(Some(event)) => serde_json::from_str::<Value>(event.content.get()).unwrap_or_default(),
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(error = %e, room_id = %room.room_id, "cannot read the canonical alias");
            return;
        }
    };
    let Some(updated) = without_alias(&content, alias) else {
        return;
    };
    let sent = match state_event("m.room.canonical_alias", "", updated) {
        Ok(event) => append_event(state, room, user, event).await.map(|_| ()),
        Err(e) => Err(e),
    };
    if let Err(e) = sent {
        tracing::info!(error = %e, room_id = %room.room_id, %alias, "canonical alias left as it was");
    }
}

/// The canonical alias content without `alias`, or `None` when it does not name it.
fn without_alias(content: &Value, alias: &str) -> Option<Value> {
    let mut updated = content.clone();
    let object = updated.as_object_mut()?;
    let mut changed = false;
    if object.get("alias").and_then(Value::as_str) == Some(alias) {
        object.remove("alias");
        changed = true;
    }
    if let Some(Value::Array(alt)) = object.get_mut("alt_aliases") {
        let before = alt.len();
        alt.retain(|a| a.as_str() != Some(alias));
        changed |= alt.len() != before;
    }
    changed.then_some(updated)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_alias_goes_from_both_places_and_others_stay() {
        let content = json!({"alias": "#a:x", "alt_aliases": ["#a:x", "#b:x"]});
        assert_eq!(
            without_alias(&content, "#a:x"),
            Some(json!({"alt_aliases": ["#b:x"]}))
        );
        assert_eq!(without_alias(&content, "#c:x"), None);
    }
}
