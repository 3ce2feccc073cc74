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
    Ok(parsed.unwrap_or_else(|| Ruleset::server_default(user_id)))
}

pub async fn save(state: &AppState, user_id: &UserId, rules: &Ruleset) -> Result<()> {
    let content =
        RawValue::from_string(json!({ "global": rules }).to_string()).map_err(Error::internal)?;
    crate::account_data::store(state, user_id.as_str(), None, "m.push_rules", &content).await?;
    state.push_cache.forget_rules(user_id);
    Ok(())
}
