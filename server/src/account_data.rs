//! Writing account data (client-server API, "Client Config"): global or per room, at a
//! stream position that `/sync` cannot pass before it is committed, then waking the
//! user's long polls. Tags, push rules and the client's own types all go through here.

use serde_json::value::RawValue;

use crate::api::error::Result;
use crate::app::AppState;

pub async fn store(
    state: &AppState,
    user_id: &str,
    room_id: Option<&str>,
    kind: &str,
    content: &RawValue,
) -> Result<()> {
    let mut batch = state.storage.batch();
    // Reserved (not just allocated) until committed, so `/sync` cannot pass it first.
    let reserved = state.stream.reserve(&state.storage)?;
    let pos = reserved.position;
    state
        .storage
        .account_data
        .set(&mut batch, user_id, room_id, kind, content, pos)?;
    state.storage.commit(batch).await?;
    drop(reserved);
    state.notifier.notify([user_id], pos);
    Ok(())
}

/// The stored content as JSON (`Value::Null` when unset or unreadable).
pub fn load(
    state: &AppState,
    user_id: &str,
    room_id: Option<&str>,
    kind: &str,
) -> Result<serde_json::Value> {
    Ok(state
        .storage
        .account_data
        .get(user_id, room_id, kind)?
        .and_then(|raw| serde_json::from_str(raw.get()).ok())
        .unwrap_or_default())
}
