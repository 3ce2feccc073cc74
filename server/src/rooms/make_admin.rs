//! The admin API's `make_room_admin`: the most powerful local member of a room raises
//! another local user to their own level (invited first when the room is not public),
//! so an admin can take over a room whose moderators are gone.

use ruma::{OwnedUserId, UserId};
use serde_json::{Value, json};

use crate::api::error::{Error, Result};
use crate::app::AppState;
use crate::rooms::RoomCtx;
use crate::rooms::state::{content_str, current, event_in, power_levels};

fn bad_request(message: &str) -> Error {
    Error::unknown(actix_web::http::StatusCode::BAD_REQUEST, message)
}

pub async fn make_room_admin(state: &AppState, room: &RoomCtx, target: &UserId) -> Result<()> {
    let (_, map) = current(state, room)?;
    if map.is_empty() {
        return Err(bad_request("Server not in room"));
    }
    let local_suffix = format!(":{}", state.server_name());
    let members = crate::rooms::members::of(state, room.room_id.as_str())?;
    let mut best: Option<(i64, String)> = None;
    for (user_id, record) in members.iter() {
        if record.membership != "join" || !user_id.ends_with(&local_suffix) {
            continue;
        }
        let (level, _) = power_levels(state, room, &map, user_id, "state_default")?;
        if best.as_ref().is_none_or(|(top, _)| level > *top) {
            best = Some((level, user_id.to_owned()));
        }
    }
    let Some((_, admin)) = best else {
        return Err(bad_request("No local admin user in room"));
    };
    let admin = OwnedUserId::try_from(admin).map_err(Error::internal)?;
    let mut content: Value = match event_in(state, &map, "m.room.power_levels", "")? {
        Some(levels) => serde_json::from_str(levels.content.get()).unwrap_or_else(|_| json!({})),
        None => json!({}),
    };
    if !content["users"].is_object() {
        content["users"] = json!({});
    }
    // The admin's own entry, or 100 (room creators of version 12 have none).
    let level = content["users"]
        .get(admin.as_str())
        .cloned()
        .unwrap_or(json!(100));
    content["users"][target.as_str()] = level;
    let event = crate::rooms::create::state_event("m.room.power_levels", "", content)?;
    crate::rooms::append_event(state, room, &admin, event)
        .await
        .map_err(|e| match e.errcode() {
            "M_FORBIDDEN" => {
                bad_request("No local admin user in room with power to update power levels.")
            }
            _ => e,
        })?;
    let membership = event_in(state, &map, "m.room.member", target.as_str())?
        .and_then(|pdu| content_str(&pdu, "membership"));
    if matches!(membership.as_deref(), Some("join" | "invite")) {
        return Ok(());
    }
    let public = event_in(state, &map, "m.room.join_rules", "")?
        .and_then(|pdu| content_str(&pdu, "join_rule"))
        .is_some_and(|rule| rule == "public");
    if !public {
        crate::rooms::membership::change_other(
            state,
            &room.room_id,
            &admin,
            target,
            "invite",
            None,
        )
        .await?;
    }
    Ok(())
}
