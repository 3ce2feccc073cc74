//! Ephemeral events (EDUs) other servers send in transactions. Each may only speak for
//! the sending server's own users; anything else is ignored, as are unknown types.

use serde_json::Value;

use crate::app::AppState;

/// Applies one EDU from `origin`. Failures are logged: an EDU is never worth refusing a
/// transaction (which would make the origin resend its PDUs).
pub async fn receive(state: &AppState, origin: &str, edu: &Value) {
    let kind = edu["edu_type"].as_str().unwrap_or_default();
    let content = &edu["content"];
    let result = match kind {
        "m.typing" => typing(state, origin, content),
        "m.direct_to_device" => to_device(state, origin, content).await,
        "m.receipt" => receipts(state, origin, content).await,
        "m.presence" => presence(state, origin, content),
        "m.device_list_update" | "m.signing_key_update" => {
            device_list(state, origin, content).await
        }
        other => {
            tracing::debug!(edu_type = other, %origin, "ignored an EDU");
            Ok(())
        }
    };
    if let Err(e) = result {
        tracing::info!(edu_type = kind, %origin, error = %e, "could not apply an EDU");
    }
}

/// Whether the room's server ACL lets `origin` speak in it.
fn acl_allows(state: &AppState, room_id: &ruma::RoomId, origin: &str) -> bool {
    match crate::rooms::RoomCtx::load(&state.storage, room_id) {
        Ok(Some(room)) => crate::rooms::acl::check_room(state, &room, origin).is_ok(),
        _ => false,
    }
}

/// Whether `user_id` is a user of `origin`.
fn belongs_to(user_id: &str, origin: &str) -> bool {
    ruma::UserId::parse(user_id).is_ok_and(|u| u.server_name().as_str() == origin)
}

fn typing(state: &AppState, origin: &str, content: &Value) -> crate::api::error::Result<()> {
    let (Some(room_id), Some(user_id)) = (content["room_id"].as_str(), content["user_id"].as_str())
    else {
        return Ok(());
    };
    let Ok(room_id) = ruma::OwnedRoomId::try_from(room_id) else {
        return Ok(());
    };
    let joined = state
        .storage
        .rooms
        .membership
        .get(user_id, room_id.as_str())?
        .is_some_and(|r| r.membership == "join");
    if !belongs_to(user_id, origin) || !joined || !acl_allows(state, &room_id, origin) {
        return Ok(());
    }
    let timeout = (content["typing"] == true).then(|| std::time::Duration::from_secs(30));
    let reserved = state.stream.reserve(&state.storage)?;
    let position = reserved.position;
    state.typing.set(&room_id, user_id, timeout, position);
    drop(reserved);
    crate::api::client::receipt::notify_room(state, &room_id, position)
}

async fn to_device(
    state: &AppState,
    origin: &str,
    content: &Value,
) -> crate::api::error::Result<()> {
    let (Some(sender), Some(kind), Some(messages)) = (
        content["sender"].as_str(),
        content["type"].as_str(),
        content["messages"].as_object(),
    ) else {
        return Ok(());
    };
    if !belongs_to(sender, origin) {
        return Ok(());
    }
    crate::e2ee::to_device::queue_local(state, sender, kind, messages).await
}

/// A remote user's devices or cross-signing keys changed: local users sharing a room with
/// them see the user in `device_lists.changed` and fetch the keys again (through
/// `/keys/query`, which asks the user's server).
async fn device_list(
    state: &AppState,
    origin: &str,
    content: &Value,
) -> crate::api::error::Result<()> {
    let Some(user_id) = content["user_id"].as_str() else {
        return Ok(());
    };
    if !belongs_to(user_id, origin) {
        return Ok(());
    }
    // The cached list is stale: the next query asks the user's server again.
    state.storage.remote_devices.invalidate(user_id)?;
    let reserved = state.stream.reserve(&state.storage)?;
    let mut batch = state.storage.batch();
    state
        .storage
        .e2ee_keys
        .mark_changed(&mut batch, user_id, reserved.position)?;
    state.storage.commit(batch).await?;
    let position = reserved.position;
    drop(reserved);
    let audience = crate::e2ee::device_lists::sharing_a_room(state, user_id)?;
    state
        .notifier
        .notify(audience.iter().map(String::as_str), position);
    Ok(())
}

/// `m.receipt`: `{room_id: {"m.read": {user_id: {event_ids, data}}}}`. Receipts for events
/// this server does not hold are dropped.
async fn receipts(
    state: &AppState,
    origin: &str,
    content: &Value,
) -> crate::api::error::Result<()> {
    for (room_id, kinds) in content.as_object().into_iter().flatten() {
        let Ok(room_id) = ruma::OwnedRoomId::try_from(room_id.as_str()) else {
            continue;
        };
        for (user_id, receipt) in kinds["m.read"].as_object().into_iter().flatten() {
            let joined = state
                .storage
                .rooms
                .membership
                .get(user_id, room_id.as_str())?
                .is_some_and(|r| r.membership == "join");
            if !belongs_to(user_id, origin) || !joined || !acl_allows(state, &room_id, origin) {
                continue;
            }
            let Some(event_id) = receipt["event_ids"].as_array().and_then(|ids| ids.last()) else {
                continue;
            };
            let record = citadel_storage::receipts::Receipt {
                receipt_type: "m.read".into(),
                user_id: user_id.clone(),
                event_id: event_id.as_str().unwrap_or_default().to_owned(),
                ts: receipt["data"]["ts"].as_u64().unwrap_or(0),
                thread_id: receipt["data"]["thread_id"].as_str().map(str::to_owned),
            };
            if let Err(e) =
                crate::api::client::receipt::apply_receipt(state, &room_id, &record).await
            {
                tracing::debug!(error = %e, "dropped a receipt");
            }
        }
    }
    Ok(())
}

/// `m.presence`: `{"push": [{user_id, presence, status_msg?, …}]}` for the origin's users.
fn presence(state: &AppState, origin: &str, content: &Value) -> crate::api::error::Result<()> {
    for entry in content["push"].as_array().into_iter().flatten() {
        let (Some(user_id), Some(presence)) =
            (entry["user_id"].as_str(), entry["presence"].as_str())
        else {
            continue;
        };
        if !belongs_to(user_id, origin) {
            continue;
        }
        let status = entry["status_msg"].as_str().map(str::to_owned);
        crate::presence::update(
            state,
            user_id,
            ruma::presence::PresenceState::from(presence),
            Some(status),
        )?;
    }
    Ok(())
}
