//! Room tags, kept as the room's `m.tag` account data so that changes reach the user's
//! other devices through sync like any account data.

use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::api::error::{Error, Result};
use crate::app::AppState;

/// The user's tags on a room.
pub fn load(
    state: &AppState,
    user_id: &str,
    room_id: &str,
) -> Result<serde_json::Map<String, Value>> {
    let stored = state
        .storage
        .account_data
        .get(user_id, Some(room_id), "m.tag")?;
    let value: Value = stored
        .map(|raw| serde_json::from_str(raw.get()).unwrap_or_default())
        .unwrap_or_default();
    Ok(value["tags"].as_object().cloned().unwrap_or_default())
}

pub async fn save(
    state: &AppState,
    user_id: &str,
    room_id: &str,
    tags: serde_json::Map<String, Value>,
) -> Result<()> {
    let content =
        RawValue::from_string(json!({ "tags": tags }).to_string()).map_err(Error::internal)?;
    crate::account_data::store(state, user_id, Some(room_id), "m.tag", &content).await
}
