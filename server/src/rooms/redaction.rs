//! Applying a redaction: the redacted event's content is stripped by the room version's
//! algorithm and the stripped form replaces the stored one, so the content is gone from
//! the database, not just hidden.

use citadel_storage::rooms::timeline::StoredPdu;
use serde_json::value::RawValue;

use crate::api::error::{Error, Result};
use crate::app::AppState;
use crate::rooms::{RoomCtx, load_pdu, parse_stored};

pub async fn apply(state: &AppState, room: &RoomCtx, redaction_id: &ruma::EventId) -> Result<()> {
    let Some(redaction) = load_pdu(state, redaction_id.as_str())? else {
        return Ok(());
    };
    let Some(target_id) = &redaction.redacts else {
        return Ok(());
    };
    let Some((at, stored)) = state.storage.rooms.timeline.get(target_id.as_str())? else {
        return Ok(());
    };
    if at.room != room.short {
        return Ok(());
    }
    let target = parse_stored(&stored)?;
    let redacted = target
        .redacted(&room.rules, Some(&redaction))
        .map_err(Error::internal)?;
    let replacement = StoredPdu {
        event_id: redacted.event_id.to_string(),
        pdu: RawValue::from_string(serde_json::to_string(&redacted.json).map_err(Error::internal)?)
            .map_err(Error::internal)?,
    };
    let mut batch = state.storage.batch();
    state
        .storage
        .rooms
        .timeline
        .replace(&mut batch, at, &replacement);
    state.storage.commit(batch).await?;
    Ok(())
}
