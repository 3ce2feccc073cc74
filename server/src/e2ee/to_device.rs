//! To-device messages: queued per local device, or handed to the user's server as an
//! `m.direct_to_device` EDU.

use std::collections::BTreeMap;

use citadel_storage::outbox::OutboxItem;
use serde_json::{Map, Value, json};

use crate::api::error::{Error, Result};
use crate::app::AppState;

/// The most messages one request may queue.
const MAX_TO_DEVICE_MESSAGES: usize = 10_000;

fn is_local(state: &AppState, user_id: &str) -> bool {
    ruma::UserId::parse(user_id).is_ok_and(|u| u.server_name().as_str() == state.server_name())
}

/// `PUT /sendToDevice`'s work: local devices get the messages queued, other servers an
/// EDU each (through the durable outbox).
pub async fn send(
    state: &AppState,
    sender: &str,
    event_type: &str,
    messages: &Map<String, Value>,
) -> Result<()> {
    let mut remote: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    for (user, devices) in messages {
        if let Ok(id) = ruma::UserId::parse(user)
            && id.server_name().as_str() != state.server_name()
        {
            remote
                .entry(id.server_name().to_string())
                .or_default()
                .insert(user.clone(), devices.clone());
        }
    }
    queue_local(state, sender, event_type, messages).await?;
    if remote.is_empty() || !state.config.federation.enabled {
        return Ok(());
    }
    let mut batch = state.storage.batch();
    for (server, messages) in &remote {
        let edu = json!({
            "edu_type": "m.direct_to_device",
            "content": {
                "sender": sender,
                "type": event_type,
                // Random: receivers drop a message ID they have seen from us, and a
                // counter would repeat after a restore or a reinstall.
                "message_id": crate::auth::token::generate("")[..24].to_owned(),
                "messages": messages,
            },
        });
        state
            .storage
            .outbox
            .push(&mut batch, server, &OutboxItem::Edu { edu })?;
    }
    state.storage.commit(batch).await?;
    for server in remote.keys() {
        state.wake_sender(server);
    }
    Ok(())
}

/// Queues messages for local devices (`*`: every device of the user); users of other
/// servers and unknown users are skipped.
pub async fn queue_local(
    state: &AppState,
    sender: &str,
    event_type: &str,
    messages: &Map<String, Value>,
) -> Result<()> {
    let mut batch = state.storage.batch();
    let mut woken = Vec::new();
    let reserved = state.stream.reserve(&state.storage)?;
    let mut queued = 0;
    for (user, devices) in messages {
        let Some(devices) = devices.as_object() else {
            return Err(Error::bad_json("messages must map users to devices"));
        };
        if !is_local(state, user) || !state.storage.users.exists(user)? {
            continue;
        }
        for (device, content) in devices {
            let targets: Vec<String> = if device == "*" {
                state
                    .storage
                    .devices
                    .list(user)?
                    .into_iter()
                    .map(|(id, _)| id)
                    .collect()
            } else {
                vec![device.clone()]
            };
            for target in targets {
                queued += 1;
                if queued > MAX_TO_DEVICE_MESSAGES {
                    return Err(Error::too_large(
                        "Too many to-device messages in one request",
                    ));
                }
                let event = json!({ "type": event_type, "sender": sender, "content": content });
                let raw = serde_json::value::RawValue::from_string(event.to_string())
                    .map_err(Error::internal)?;
                // Positions must be distinct per device; one reservation covers the request,
                // so later messages to the same device take fresh ones.
                let pos = if queued == 1 {
                    reserved.position
                } else {
                    state.storage.next_id()?
                };
                state
                    .storage
                    .to_device
                    .push(&mut batch, user, &target, pos, &raw);
            }
        }
        woken.push(user.clone());
    }
    state.storage.commit(batch).await?;
    let position = reserved.position;
    drop(reserved);
    state
        .notifier
        .notify(woken.iter().map(String::as_str), position);
    Ok(())
}
