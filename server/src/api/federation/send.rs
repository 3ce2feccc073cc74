//! `PUT /_matrix/federation/v1/send/{txnId}`: transactions of PDUs and EDUs.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use crate::api::error::{Error, Result, parse_json};
use crate::api::federation::auth::FederationRequest;
use crate::app::AppState;
use crate::rooms::RoomCtx;
use crate::rooms::incoming::receive_pdu;

#[derive(Deserialize)]
struct Transaction {
    origin: String,
    #[allow(dead_code)]
    origin_server_ts: u64,
    #[serde(default)]
    pdus: Vec<Box<RawValue>>,
    #[serde(default)]
    edus: Vec<Value>,
}

/// Just enough of a PDU to know its room.
#[derive(Deserialize)]
struct RoomOf {
    room_id: Option<String>,
}

/// `PUT /_matrix/federation/v1/send/{txnId}`
pub async fn send_transaction(
    state: web::Data<AppState>,
    from: FederationRequest,
    txn_id: web::Path<String>,
) -> Result<HttpResponse> {
    if let Some(sender) = state.sender.get() {
        sender.heard_from(&from.origin);
    }
    if let Some(answer) = state.storage.inbox.response(&from.origin, &txn_id)? {
        return Ok(HttpResponse::Ok().json(answer));
    }
    let txn: Transaction = parse_json(&from.body)?;
    if txn.origin != from.origin {
        return Err(Error::forbidden(
            "The transaction's origin is not the server that signed the request",
        ));
    }
    if txn.pdus.len() > citadel_federation::sender::MAX_PDUS
        || txn.edus.len() > citadel_federation::sender::MAX_EDUS
    {
        return Err(Error::new(
            StatusCode::BAD_REQUEST,
            "M_TOO_LARGE",
            "A transaction carries at most 50 PDUs and 100 EDUs",
        ));
    }

    let mut results = Map::new();
    for raw in &txn.pdus {
        let (event_id, result) = handle_pdu(&state, &from.origin, raw).await;
        if let Some(event_id) = event_id {
            let entry = match result {
                Ok(()) => json!({}),
                Err(reason) => json!({ "error": reason }),
            };
            results.insert(event_id, entry);
        }
    }
    for edu in &txn.edus {
        crate::federation::edu::receive(&state, &from.origin, edu).await;
    }
    let answer = json!({ "pdus": results });
    state
        .storage
        .inbox
        .put_response(&from.origin, &txn_id, &answer)?;
    Ok(HttpResponse::Ok().json(answer))
}

/// Handles one PDU; returns its event ID (when it has one) and what became of it.
async fn handle_pdu(
    state: &AppState,
    origin: &str,
    raw: &RawValue,
) -> (Option<String>, std::result::Result<(), String>) {
    let Ok(RoomOf {
        room_id: Some(room_id),
    }) = serde_json::from_str::<RoomOf>(raw.get())
    else {
        return (None, Err("no room_id".into()));
    };
    let room = match ruma::RoomId::parse(&room_id)
        .ok()
        .and_then(|id| RoomCtx::load(&state.storage, &id).ok().flatten())
    {
        Some(room) => room,
        None => return (None, Err(format!("this server is not in {room_id}"))),
    };
    let event_id = citadel_federation::receive::parse(&room.rules, raw)
        .ok()
        .map(|(id, _)| id.to_string());
    if let Err(e) = crate::rooms::acl::check_room(state, &room, origin) {
        return (event_id, Err(e.to_string()));
    }
    // Any server may relay another's event (a resident server relays the joins it was
    // handed): what makes it genuine is the signature of the sender's own server.
    match receive_pdu(state, origin, &room, raw).await {
        Ok(_) => (event_id, Ok(())),
        Err(reason) => {
            tracing::info!(?event_id, %origin, %reason, "refused a PDU");
            (event_id, Err(reason))
        }
    }
}
