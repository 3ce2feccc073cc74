//! The admin API's "redact a user's events": in each room, the user's newest messages,
//! encrypted events and joins (their profile at the time) are redacted — by the user
//! themselves when they are local (anyone may redact their own events), else by the
//! admin, who then needs the room's redaction power level. Events already redacted are
//! skipped, so a resumed run picks up where it stopped.

use std::collections::BTreeMap;

use ruma::{OwnedEventId, OwnedRoomId, OwnedUserId};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::api::error::{Error, Result};
use crate::app::AppState;
use crate::rooms::RoomCtx;
use crate::rooms::state::content_str;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RedactParams {
    pub user_id: String,
    /// The admin who asked.
    pub admin: String,
    pub rooms: Vec<String>,
    pub reason: Option<String>,
    /// How many of the user's events to look at per room, newest first.
    pub limit: usize,
    pub use_admin: bool,
    pub after_ts: Option<u64>,
    pub before_ts: Option<u64>,
}

/// Events read per page while walking a room back in time.
const PAGE: usize = 200;

/// Redacts what `params` asks; `failed` collects the events that could not be, with
/// why. `progress` is called after each failure, to persist it.
pub async fn redact_user_events(
    state: &AppState,
    params: &RedactParams,
    failed: &mut BTreeMap<String, String>,
    progress: &mut dyn FnMut(&BTreeMap<String, String>) -> Result<()>,
) -> Result<()> {
    let local = params
        .user_id
        .ends_with(&format!(":{}", state.server_name()));
    let sender = if params.use_admin || !local {
        &params.admin
    } else {
        &params.user_id
    };
    let sender = OwnedUserId::try_from(sender.as_str()).map_err(Error::internal)?;
    for room_id in &params.rooms {
        let Ok(room_id) = OwnedRoomId::try_from(room_id.as_str()) else {
            continue;
        };
        let Some(room) = RoomCtx::load(&state.storage, &room_id)? else {
            continue;
        };
        for event_id in targets(state, &room, params)? {
            if let Err(e) = redact(state, &room, &sender, &event_id, params).await {
                tracing::info!(%event_id, error = %e, "admin redaction failed");
                failed.insert(event_id.to_string(), e.message().to_owned());
                progress(failed)?;
            }
        }
    }
    Ok(())
}

/// The user's events in the room to redact, newest first.
fn targets(state: &AppState, room: &RoomCtx, params: &RedactParams) -> Result<Vec<OwnedEventId>> {
    let timeline = &state.storage.rooms.timeline;
    let mut out = Vec::new();
    let mut seen = 0;
    let mut before = u64::MAX;
    loop {
        let page = timeline.before(room.short, before, PAGE)?;
        for (count, stored) in &page {
            before = *count;
            let pdu = state.pdu_cache.parse(stored)?;
            if pdu.sender.as_str() != params.user_id {
                continue;
            }
            let ts = u64::from(pdu.origin_server_ts.get());
            if params.before_ts.is_some_and(|b| ts > b) {
                continue;
            }
            if params.after_ts.is_some_and(|a| ts < a) {
                return Ok(out);
            }
            let kind = pdu.kind.to_string();
            let wanted = match kind.as_str() {
                "m.room.message" | "m.room.encrypted" => true,
                "m.room.member" => content_str(&pdu, "membership").as_deref() == Some("join"),
                _ => false,
            };
            if !wanted {
                continue;
            }
            seen += 1;
            let redacted = pdu
                .json
                .get("unsigned")
                .and_then(|u| u.as_object())
                .is_some_and(|u| u.contains_key("redacted_because"));
            if !redacted {
                out.push(pdu.event_id.clone());
            }
            if seen >= params.limit {
                return Ok(out);
            }
        }
        if page.len() < PAGE {
            return Ok(out);
        }
    }
}

async fn redact(
    state: &AppState,
    room: &RoomCtx,
    sender: &OwnedUserId,
    event_id: &OwnedEventId,
    params: &RedactParams,
) -> Result<()> {
    if sender.as_str() != params.user_id {
        let (_, map) = crate::rooms::state::current(state, room)?;
        let (level, needed) =
            crate::rooms::state::power_levels(state, room, &map, sender.as_str(), "redact")?;
        if level < needed {
            return Err(Error::forbidden(
                "The admin lacks the power to redact others' events in this room",
            ));
        }
    }
    let mut content = json!({});
    if let Some(reason) = &params.reason {
        content["reason"] = json!(reason);
    }
    let event = citadel_federation::pdu::EventContent {
        kind: "m.room.redaction".into(),
        state_key: None,
        content: crate::rooms::create::to_canonical(content)?,
        redacts: Some(event_id.clone()),
    };
    let (redaction, _) = crate::rooms::append_event(state, room, sender, event).await?;
    crate::rooms::redaction::apply(state, room, &redaction.event_id).await
}
