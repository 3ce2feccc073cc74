//! A sliding-sync response in either wire form. The unstable form is Synapse's
//! (`invite_state`, `unstable_expanded_timeline`, notification counts per room, no `null`
//! names); the stable form is the MSC's (`stripped_state`, `expanded_timeline`, `null` for
//! a removed name or avatar, deleted state as `{type, state_key}` stubs).

use serde_json::{Map, Value, json};

use crate::sync::sliding::request::Flavor;
use crate::sync::sliding::room::RoomResult;

pub fn room(flavor: Flavor, result: RoomResult) -> Value {
    let stable = flavor == Flavor::Stable;
    let mut out = Map::new();
    let mut put = |key: &str, value: Value| {
        out.insert(key.to_owned(), value);
    };
    put("membership", json!(result.membership));
    if !result.lists.is_empty() {
        put("lists", json!(result.lists));
    }
    if result.initial {
        put("initial", json!(true));
    }
    match result.name {
        Some(Some(name)) => put("name", json!(name)),
        Some(None) if stable => put("name", Value::Null),
        _ => {}
    }
    match result.avatar {
        Some(Some(url)) => put("avatar", json!(url)),
        // matrix-rust-sdk reads `null` as "avatar removed" in the unstable form too.
        Some(None) if !result.initial => put("avatar", Value::Null),
        _ => {}
    }
    if let Some(heroes) = result.heroes.filter(|h| !h.is_empty()) {
        put("heroes", json!(heroes));
    }
    if result.is_dm == Some(true) || (stable && result.is_dm.is_some()) {
        put("is_dm", json!(result.is_dm));
    }
    if let Some(stripped) = result.stripped_state {
        put(
            if stable {
                "stripped_state"
            } else {
                "invite_state"
            },
            json!(stripped),
        );
    }
    if result.expanded_timeline {
        put(
            if stable {
                "expanded_timeline"
            } else {
                "unstable_expanded_timeline"
            },
            json!(true),
        );
    }
    let required_state: Vec<Value> = if stable {
        result.required_state
    } else {
        // Synapse's form has no stubs for deleted state.
        result
            .required_state
            .into_iter()
            .filter(|e| e.get("content").is_some())
            .collect()
    };
    if !required_state.is_empty() {
        put("required_state", json!(required_state));
    }
    if !result.timeline.is_empty() {
        put("timeline", json!(result.timeline));
    }
    if let Some(prev_batch) = result.prev_batch {
        put("prev_batch", json!(prev_batch));
    }
    // Rooms with a timeline section (not invites) say whether it is complete.
    if result.num_live.is_some() {
        put("limited", json!(result.limited));
    }
    if let Some(n) = result.num_live {
        put("num_live", json!(n));
    }
    if let Some(n) = result.joined_count {
        put("joined_count", json!(n));
    }
    if let Some(n) = result.invited_count {
        put("invited_count", json!(n));
    }
    if let Some(stamp) = result.bump_stamp {
        put("bump_stamp", json!(stamp));
    }
    if !stable && let Some((notifications, highlights)) = result.unread {
        put("notification_count", json!(notifications));
        put("highlight_count", json!(highlights));
    }
    Value::Object(out)
}
