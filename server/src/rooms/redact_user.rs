//! The admin API's "redact a user's events": in each room, the user's newest messages,
//! encrypted events and joins (their profile at the time) are redacted — by the user
//! themselves when they are local (anyone may redact their own events), else by the
//! admin, who then needs the room's redaction power level. Events already redacted are
//! skipped, so a resumed run picks up where it stopped.

use std::collections::BTreeMap;
use std::ops::ControlFlow;

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
    let mut out = Vec::new();
    let mut seen = 0;
    crate::rooms::walk::each_event_back(state, room.short, |_, pdu| {
        if pdu.sender.as_str() != params.user_id {
            return Ok(ControlFlow::Continue(()));
        }
        let ts = u64::from(pdu.origin_server_ts.get());
        if params.after_ts.is_some_and(|a| ts < a) {
            return Ok(ControlFlow::Break(()));
        }
        let wanted = match pdu.kind.to_string().as_str() {
            "m.room.message" | "m.room.encrypted" => true,
            "m.room.member" => content_str(pdu, "membership").as_deref() == Some("join"),
            _ => false,
        };
        if !wanted || params.before_ts.is_some_and(|b| ts > b) {
            return Ok(ControlFlow::Continue(()));
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
        Ok(if seen >= params.limit {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        })
    })?;
    Ok(out)
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
