//! Storing a user's push rules: the `m.push_rules` global account data (so `/sync`
//! carries changes to the user's other devices), the spec's defaults until changed.

use ruma::UserId;
use ruma::push::Ruleset;
use serde_json::json;
use serde_json::value::RawValue;

use crate::api::error::{Error, Result};
use crate::app::AppState;

pub fn load(state: &AppState, user_id: &UserId) -> Result<Ruleset> {
    let stored = state
        .storage
        .account_data
        .get(user_id.as_str(), None, "m.push_rules")?;
    let parsed = stored.and_then(|raw| {
        let value: serde_json::Value = serde_json::from_str(raw.get()).ok()?;
        serde_json::from_value::<Ruleset>(value.get("global")?.clone()).ok()
    });
    Ok(parsed.unwrap_or_else(|| server_default(user_id)))
}

/// The server-default rules: the spec's, and the three mention rules it dropped in
/// v1.17 (`.m.rule.contains_display_name`, `.m.rule.roomnotif`,
/// `.m.rule.contains_user_name`), which Synapse still has. Homeservers may have rules of
/// their own, and these keep mentions highlighting for clients that do not send
/// `m.mentions`; ruma skips them for any event that carries `m.mentions` (MSC3952), so
/// clients that do get exactly the spec's behaviour.
pub fn server_default(user_id: &UserId) -> Ruleset {
    let spec = Ruleset::server_default(user_id);
    let Ok(mut value) = serde_json::to_value(&spec) else {
        return spec;
    };
    let highlight_sound =
        json!(["notify", {"set_tweak": "sound", "value": "default"}, {"set_tweak": "highlight"}]);
    let display_name = json!({
        "rule_id": ".m.rule.contains_display_name", "default": true, "enabled": true,
        "conditions": [{"kind": "contains_display_name"}],
        "actions": highlight_sound,
    });
    let room_notif = json!({
        "rule_id": ".m.rule.roomnotif", "default": true, "enabled": true,
        "conditions": [
            {"kind": "event_match", "key": "content.body", "pattern": "@room"},
            {"kind": "sender_notification_permission", "key": "room"},
        ],
        "actions": ["notify", {"set_tweak": "highlight"}],
    });
    if let Some(rules) = value["override"].as_array_mut() {
        // Each right after the intentional-mention rule it stands in for, as in Synapse.
        let after = |rules: &Vec<serde_json::Value>, id: &str| {
            rules
                .iter()
                .position(|r| r["rule_id"] == id)
                .map_or(rules.len(), |i| i + 1)
        };
        let at = after(rules, ".m.rule.is_user_mention");
        rules.insert(at, display_name);
        let at = after(rules, ".m.rule.is_room_mention");
        rules.insert(at, room_notif);
    }
    value["content"] = json!([{
        "rule_id": ".m.rule.contains_user_name", "default": true, "enabled": true,
        "pattern": user_id.localpart(),
        "actions": highlight_sound,
    }]);
    serde_json::from_value(value).unwrap_or(spec)
}

pub async fn save(state: &AppState, user_id: &UserId, rules: &Ruleset) -> Result<()> {
    let content =
        RawValue::from_string(json!({ "global": rules }).to_string()).map_err(Error::internal)?;
    crate::account_data::store(state, user_id.as_str(), None, "m.push_rules", &content).await?;
    state.push_cache.forget_rules(user_id);
    Ok(())
}
