//! Relations: indexing `m.relates_to` when events are stored, and the bundled
//! aggregations (`unsigned.m.relations`) clients get with the related-to event.

use citadel_federation::pdu::Pdu;
use citadel_storage::Batch;
use citadel_storage::rooms::relations::Relation;
use serde_json::{Map, Value, json};

use crate::api::error::Result;
use crate::app::AppState;
use crate::rooms::load_pdu;

/// `(rel_type, target event ID)` of an event's `m.relates_to`, if it has one.
pub fn relation_of(pdu: &Pdu) -> Option<(String, String)> {
    let content: Value = serde_json::from_str(pdu.content.get()).ok()?;
    let relates_to = content.get("m.relates_to")?;
    let rel_type = relates_to.get("rel_type")?.as_str()?;
    let target = relates_to.get("event_id")?.as_str()?;
    Some((rel_type.to_owned(), target.to_owned()))
}

/// Adds the event's relation to the indices, in the batch that stores the event.
pub fn index(state: &AppState, batch: &mut Batch, room_short: u64, pdu: &Pdu, count: u64) {
    let Some((rel_type, target)) = relation_of(pdu) else {
        return;
    };
    let relation = Relation {
        event_id: pdu.event_id.to_string(),
        rel_type: rel_type.clone(),
        kind: pdu.kind.to_string(),
        sender: pdu.sender.to_string(),
    };
    state
        .storage
        .rooms
        .relations
        .add(batch, &target, count, &relation);
    if rel_type == "m.thread" {
        state
            .storage
            .rooms
            .relations
            .touch_thread(batch, room_short, &target, count);
    }
}

/// The event in client format with its bundled aggregations.
pub fn client_event(
    state: &AppState,
    pdu: &Pdu,
    user_id: &str,
    with_room_id: bool,
) -> Result<Value> {
    let mut event = pdu.to_client_event(with_room_id);
    let bundle = bundle(state, pdu, user_id)?;
    if !bundle.is_empty() {
        event["unsigned"]["m.relations"] = Value::Object(bundle);
    }
    Ok(event)
}

/// The `m.relations` aggregations of an event: its latest edit, its thread summary and
/// the events that reference it.
pub fn bundle(state: &AppState, pdu: &Pdu, user_id: &str) -> Result<Map<String, Value>> {
    let children = state
        .storage
        .rooms
        .relations
        .children(pdu.event_id.as_str(), 0, u64::MAX)?;
    let mut out = Map::new();
    if children.is_empty() {
        return Ok(out);
    }
    let redacted = pdu.json.get("unsigned").is_some_and(
        |u| matches!(u, ruma::CanonicalJsonValue::Object(o) if o.contains_key("redacted_because")),
    );

    // Edits: only the original sender's count, newest by timestamp then event ID; none
    // for a redacted original.
    if !redacted {
        let mut latest: Option<std::sync::Arc<Pdu>> = None;
        for (_, relation) in children
            .iter()
            .filter(|(_, r)| r.rel_type == "m.replace" && r.sender == pdu.sender.as_str())
        {
            if let Some(edit) = load_pdu(state, &relation.event_id)? {
                let newer = latest.as_ref().is_none_or(|l| {
                    (edit.origin_server_ts, edit.event_id.as_str())
                        > (l.origin_server_ts, l.event_id.as_str())
                });
                if newer {
                    latest = Some(edit);
                }
            }
        }
        if let Some(edit) = latest {
            out.insert("m.replace".into(), edit.to_client_event(true));
        }
    }

    let thread: Vec<&Relation> = children
        .iter()
        .filter(|(_, r)| r.rel_type == "m.thread")
        .map(|(_, r)| r)
        .collect();
    if let Some(last) = thread.last()
        && let Some(latest) = load_pdu(state, &last.event_id)?
    {
        let participated =
            pdu.sender.as_str() == user_id || thread.iter().any(|r| r.sender == user_id);
        out.insert(
            "m.thread".into(),
            json!({
                "latest_event": client_event(state, &latest, user_id, true)?,
                "count": thread.len(),
                "current_user_participated": participated,
            }),
        );
    }

    let references: Vec<Value> = children
        .iter()
        .filter(|(_, r)| r.rel_type == "m.reference")
        .map(|(_, r)| json!({ "event_id": r.event_id }))
        .collect();
    if !references.is_empty() {
        out.insert("m.reference".into(), json!({ "chunk": references }));
    }
    Ok(out)
}

/// Adds `unsigned.transaction_id` when the event is shown to the device that sent it, so
/// the client can match the echo to its local copy.
pub fn add_transaction_id(
    state: &AppState,
    event: &mut Value,
    pdu: &Pdu,
    user_id: &str,
    device_id: &str,
) -> Result<()> {
    if pdu.sender.as_str() != user_id {
        return Ok(());
    }
    if let Some(txn_id) = state
        .storage
        .txn_ids
        .origin_txn(pdu.event_id.as_str(), device_id)?
    {
        event["unsigned"]["transaction_id"] = Value::from(txn_id);
    }
    Ok(())
}
