//! What a user had on an upgraded room follows them to its replacement (as Synapse
//! does): the room's tags, its place in `m.direct`, and the push rules made for it.
//! Done for the upgrading user at the upgrade, and for any other local user of the old
//! room when they join the new one.

use ruma::{RoomId, UserId};
use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::api::error::{Error, Result};
use crate::app::AppState;
use crate::rooms::RoomCtx;

/// After `user_id` joined `room_id`: if the room replaces one the user was in, carry
/// their state over. Failures are logged, never fail the join.
pub async fn after_join(state: &AppState, user_id: &UserId, room: &RoomCtx) {
    let predecessor = match predecessor_of(state, room) {
        Ok(Some(old)) => old,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(error = %e, room_id = %room.room_id, "cannot read the room's predecessor");
            return;
        }
    };
    let was_member = state
        .storage
        .rooms
        .membership
        .get(user_id.as_str(), predecessor.as_str())
        .ok()
        .flatten()
        .is_some_and(|r| matches!(r.membership.as_str(), "join" | "invite"));
    if !was_member {
        return;
    }
    if let Err(e) = carry_over(state, user_id, &predecessor, &room.room_id).await {
        tracing::warn!(error = %e, %user_id, room_id = %room.room_id, "cannot carry user state over an upgrade");
    }
}

fn predecessor_of(state: &AppState, room: &RoomCtx) -> Result<Option<ruma::OwnedRoomId>> {
    let (_, map) = crate::rooms::state::current(state, room)?;
    let Some(create) = crate::rooms::state::event_in(state, &map, "m.room.create", "")? else {
        return Ok(None);
    };
    let content: Value = serde_json::from_str(create.content.get()).unwrap_or_default();
    Ok(content["predecessor"]["room_id"]
        .as_str()
        .and_then(|id| ruma::OwnedRoomId::try_from(id).ok()))
}

/// Copies `user_id`'s tags, `m.direct` entry and room push rules from `old` to `new`,
/// leaving alone whatever the user already set on `new`.
pub async fn carry_over(
    state: &AppState,
    user_id: &UserId,
    old: &RoomId,
    new: &RoomId,
) -> Result<()> {
    let user = user_id.as_str();
    let tags = crate::account_data::load(state, user, Some(old.as_str()), "m.tag")?;
    let existing = crate::account_data::load(state, user, Some(new.as_str()), "m.tag")?;
    if tags["tags"].as_object().is_some_and(|t| !t.is_empty()) && existing.is_null() {
        crate::account_data::store(state, user, Some(new.as_str()), "m.tag", &raw(&tags)?).await?;
    }

    let mut direct = crate::account_data::load(state, user, None, "m.direct")?;
    if let Some(Value::Object(by_user)) = Some(&mut direct) {
        let mut changed = false;
        for rooms in by_user.values_mut() {
            if let Value::Array(rooms) = rooms
                && rooms.iter().any(|r| r == old.as_str())
                && !rooms.iter().any(|r| r == new.as_str())
            {
                rooms.push(json!(new));
                changed = true;
            }
        }
        if changed {
            crate::account_data::store(state, user, None, "m.direct", &raw(&direct)?).await?;
        }
    }

    let rules = crate::push::rules::load(state, user_id)?;
    let mut value = serde_json::to_value(&rules).map_err(Error::internal)?;
    if copy_room_rules(&mut value, old.as_str(), new.as_str()) {
        let rules = serde_json::from_value(value).map_err(Error::internal)?;
        crate::push::rules::save(state, user_id, &rules).await?;
    }
    Ok(())
}

fn raw(value: &Value) -> Result<Box<RawValue>> {
    RawValue::from_string(value.to_string()).map_err(Error::internal)
}

/// In a serialised ruleset, a copy for `new` of each rule named after `old` (a room
/// rule, or an override/underride rule such as a client's mute), placed right after it.
/// Whether anything was copied.
fn copy_room_rules(ruleset: &mut Value, old: &str, new: &str) -> bool {
    let mut copied = false;
    for kind in ["override", "room", "underride"] {
        let Some(Value::Array(rules)) = ruleset.get_mut(kind) else {
            continue;
        };
        if rules.iter().any(|r| r["rule_id"] == new) {
            continue;
        }
        let Some(at) = rules.iter().position(|r| r["rule_id"] == old) else {
            continue;
        };
        let mut copy = rules[at].clone();
        copy["rule_id"] = json!(new);
        if let Some(Value::Array(conditions)) = copy.get_mut("conditions") {
            for condition in conditions {
                if condition["key"] == "room_id" && condition["pattern"] == old {
                    condition["pattern"] = json!(new);
                }
            }
        }
        rules.insert(at + 1, copy);
        copied = true;
    }
    copied
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_rules_and_mutes_are_copied_to_the_new_room() {
        let mut rules = json!({
            "override": [{"rule_id": "!old:x", "default": false, "enabled": true, "actions": [],
                "conditions": [{"kind": "event_match", "key": "room_id", "pattern": "!old:x"}]}],
            "room": [{"rule_id": "!other:x", "actions": []}, {"rule_id": "!old:x", "actions": ["notify"]}],
            "underride": [],
        });
        assert!(copy_room_rules(&mut rules, "!old:x", "!new:x"));
        assert_eq!(rules["override"][1]["rule_id"], "!new:x");
        assert_eq!(rules["override"][1]["conditions"][0]["pattern"], "!new:x");
        assert_eq!(
            rules["room"][2],
            json!({"rule_id": "!new:x", "actions": ["notify"]})
        );
        // Once copied, not again.
        assert!(!copy_room_rules(&mut rules, "!old:x", "!new:x"));
    }
}
