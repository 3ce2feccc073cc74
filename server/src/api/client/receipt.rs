//! Typing notifications, read receipts and read markers.

use actix_web::web;
use citadel_storage::now_ms;
use citadel_storage::receipts::Receipt;
use ruma::api::client::read_marker::set_read_marker;
use ruma::api::client::receipt::create_receipt;
use ruma::api::client::typing::create_typing_event;
use ruma::events::receipt::ReceiptThread;
use ruma::{OwnedEventId, OwnedRoomId, UserId};
use serde_json::json;
use serde_json::value::RawValue;

use crate::api::Routes;
use crate::api::error::{Error, Result};
use crate::api::extract::Ruma;
use crate::app::AppState;

pub fn routes(routes: &mut Routes<'_>) {
    routes
        .ruma(create_typing_event)
        .ruma(create_receipt)
        .ruma(set_read_marker);
}

fn require_joined(state: &AppState, user: &UserId, room_id: &OwnedRoomId) -> Result<()> {
    crate::rooms::RoomCtx::require(&state.storage, room_id)?;
    match state
        .storage
        .rooms
        .membership
        .get(user.as_str(), room_id.as_str())?
    {
        Some(record) if record.membership == "join" => Ok(()),
        _ => Err(Error::forbidden("You are not in this room")),
    }
}

/// Wakes the room's joined members (ephemeral events are for them only).
pub(crate) fn notify_room(state: &AppState, room_id: &OwnedRoomId, position: u64) -> Result<()> {
    let members = crate::rooms::members::of(state, room_id.as_str())?;
    let joined = members
        .iter()
        .filter(|(_, r)| r.membership == "join")
        .map(|(u, _)| u);
    state.notifier.notify(joined, position);
    Ok(())
}

/// `PUT /_matrix/client/v3/rooms/{roomId}/typing/{userId}`
async fn create_typing_event(
    state: web::Data<AppState>,
    req: Ruma<create_typing_event::v3::Request>,
) -> Result<create_typing_event::v3::Response> {
    let user = req.sender()?.user_id.clone();
    if user != req.body.user_id {
        return Err(Error::forbidden("Cannot set typing for another user"));
    }
    let room_id = req.body.room_id.clone();
    require_joined(&state, &user, &room_id)?;
    let timeout = match req.body.state {
        create_typing_event::v3::Typing::Yes(info) => Some(info.timeout),
        _ => None,
    };
    // The reservation is held until the change is made, so no `/sync` can look past its
    // position before the change is there to see.
    let reserved = state.stream.reserve(&state.storage)?;
    let position = reserved.position;
    let expiry = state.typing.set(&room_id, user.as_str(), timeout, position);
    drop(reserved);
    notify_room(&state, &room_id, position)?;
    crate::federation::edu_out::typing(&state, &room_id, user.as_str(), timeout.is_some())?;
    if let Some(until) = expiry {
        let state = state.clone();
        actix_web::rt::spawn(async move {
            tokio::time::sleep_until(until.into()).await;
            let Ok(reserved) = state.stream.reserve(&state.storage) else {
                return;
            };
            let position = reserved.position;
            let expired = state
                .typing
                .expire(&room_id, user.as_str(), until, position);
            drop(reserved);
            if expired {
                let _ = notify_room(&state, &room_id, position);
            }
        });
    }
    Ok(create_typing_event::v3::Response::new())
}

async fn store_receipt(
    state: &AppState,
    user: &UserId,
    room_id: &OwnedRoomId,
    kind: &str,
    event_id: &OwnedEventId,
    thread: &ReceiptThread,
) -> Result<()> {
    let receipt = Receipt {
        receipt_type: kind.to_owned(),
        user_id: user.to_string(),
        event_id: event_id.to_string(),
        ts: now_ms(),
        thread_id: thread.as_str().map(str::to_owned),
    };
    // A read receipt that clears the room's notifications lowers the user's badge;
    // their push gateways hear the new count (only then, as Synapse sends it on change).
    let is_read = kind == "m.read" || kind == "m.read.private";
    let had_unread = is_read
        && !state
            .storage
            .notifications
            .pushers(Some(user.as_str()))?
            .is_empty()
        && crate::push::read::room_unread(state, user, room_id.as_str())?;
    apply_receipt(state, room_id, &receipt).await?;
    if had_unread && !crate::push::read::room_unread(state, user, room_id.as_str())? {
        crate::push::gateway::badge_update(state, user)?;
    }
    if kind == "m.read" {
        crate::federation::edu_out::receipt(
            state,
            room_id,
            user.as_str(),
            event_id.as_str(),
            receipt.ts,
            receipt.thread_id.as_deref(),
        )?;
    }
    Ok(())
}

/// Stores a receipt (a local user's or one another server sent) for an event of the room
/// and wakes whoever may see it.
pub(crate) async fn apply_receipt(
    state: &AppState,
    room_id: &OwnedRoomId,
    receipt: &Receipt,
) -> Result<()> {
    match state.storage.rooms.timeline.get(&receipt.event_id)? {
        Some((at, _))
            if Some(at.room) == state.storage.rooms.short.room_if_known(room_id.as_str())? => {}
        _ => return Err(Error::not_found("Event not found in this room")),
    }
    let kind = receipt.receipt_type.as_str();
    let user = receipt.user_id.as_str();
    let reserved = state.stream.reserve(&state.storage)?;
    let mut batch = state.storage.batch();
    state
        .storage
        .receipts
        .set(&mut batch, room_id.as_str(), receipt, reserved.position)?;
    state.storage.commit(batch).await?;
    let position = reserved.position;
    drop(reserved);
    if kind == "m.read.private" {
        state.notifier.notify([user], position);
        Ok(())
    } else {
        notify_room(state, room_id, position)
    }
}

async fn store_fully_read(
    state: &AppState,
    user: &UserId,
    room_id: &OwnedRoomId,
    event_id: &OwnedEventId,
) -> Result<()> {
    let content = RawValue::from_string(json!({ "event_id": event_id }).to_string())
        .map_err(Error::internal)?;
    let mut batch = state.storage.batch();
    // Reserved (not just allocated) until committed, so `/sync` cannot pass it first.
    let reserved = state.stream.reserve(&state.storage)?;
    let pos = reserved.position;
    state.storage.account_data.set(
        &mut batch,
        user.as_str(),
        Some(room_id.as_str()),
        "m.fully_read",
        &content,
        pos,
    )?;
    state.storage.commit(batch).await?;
    drop(reserved);
    state.notifier.notify([user.as_str()], pos);
    Ok(())
}

/// `POST /_matrix/client/v3/rooms/{roomId}/receipt/{receiptType}/{eventId}`
async fn create_receipt(
    state: web::Data<AppState>,
    req: Ruma<create_receipt::v3::Request>,
) -> Result<create_receipt::v3::Response> {
    let user = req.sender()?.user_id.clone();
    let room_id = &req.body.room_id;
    require_joined(&state, &user, room_id)?;
    let kind = req.body.receipt_type.to_string();
    match kind.as_str() {
        "m.fully_read" => store_fully_read(&state, &user, room_id, &req.body.event_id).await?,
        "m.read" | "m.read.private" => {
            store_receipt(
                &state,
                &user,
                room_id,
                &kind,
                &req.body.event_id,
                &req.body.thread,
            )
            .await?
        }
        _ => return Err(Error::invalid_param("Unknown receipt type")),
    }
    Ok(create_receipt::v3::Response::new())
}

/// `POST /_matrix/client/v3/rooms/{roomId}/read_markers`
async fn set_read_marker(
    state: web::Data<AppState>,
    req: Ruma<set_read_marker::v3::Request>,
) -> Result<set_read_marker::v3::Response> {
    let user = req.sender()?.user_id.clone();
    let room_id = &req.body.room_id;
    require_joined(&state, &user, room_id)?;
    if let Some(event_id) = &req.body.fully_read {
        store_fully_read(&state, &user, room_id, event_id).await?;
    }
    if let Some(event_id) = &req.body.read_receipt {
        store_receipt(
            &state,
            &user,
            room_id,
            "m.read",
            event_id,
            &ReceiptThread::Unthreaded,
        )
        .await?;
    }
    if let Some(event_id) = &req.body.private_read_receipt {
        store_receipt(
            &state,
            &user,
            room_id,
            "m.read.private",
            event_id,
            &ReceiptThread::Unthreaded,
        )
        .await?;
    }
    Ok(set_read_marker::v3::Response::new())
}
