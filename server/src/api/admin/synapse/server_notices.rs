//! `send_server_notice`: Synapse's admin API for server notices.

use actix_web::http::Method;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::Routes;
use crate::api::admin::synapse::Admin;
use crate::api::admin::synapse::users::{existing, local_user};
use crate::api::error::{Error, Result, parse_json};
use crate::app::AppState;

pub fn routes(routes: &mut Routes<'_>) {
    routes
        .raw(Method::POST, "/_synapse/admin/v1/send_server_notice", send)
        .raw(
            Method::PUT,
            "/_synapse/admin/v1/send_server_notice/{txn_id}",
            send_with_txn,
        );
}

#[derive(Deserialize)]
struct Notice {
    user_id: String,
    content: Value,
    #[serde(rename = "type", default = "message")]
    kind: String,
    state_key: Option<String>,
}

fn message() -> String {
    "m.room.message".into()
}

/// `POST /_synapse/admin/v1/send_server_notice`
async fn send(state: web::Data<AppState>, admin: Admin, body: web::Bytes) -> Result<HttpResponse> {
    let event_id = deliver(&state, &admin, &body).await?;
    Ok(HttpResponse::Ok().json(json!({ "event_id": event_id })))
}

/// `PUT /_synapse/admin/v1/send_server_notice/{txnId}`: a retransmission gets the
/// first answer.
async fn send_with_txn(
    state: web::Data<AppState>,
    admin: Admin,
    txn_id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    let who = admin.0.user_id.to_string();
    if let Some(event_id) = state.server_notices.sent_for(&who, &txn_id) {
        return Ok(HttpResponse::Ok().json(json!({ "event_id": event_id })));
    }
    let event_id = deliver(&state, &admin, &body).await?;
    state.server_notices.remember(&who, &txn_id, &event_id);
    Ok(HttpResponse::Ok().json(json!({ "event_id": event_id })))
}

async fn deliver(state: &AppState, admin: &Admin, body: &[u8]) -> Result<String> {
    let notice: Notice = parse_json(body)?;
    if !notice.content.is_object() {
        return Err(Error::bad_json("content must be a JSON object"));
    }
    let user_id = local_user(state, &notice.user_id, "send server notices to")?;
    existing(state, &user_id)?;
    let event_id = crate::server_notices::send(
        state,
        &user_id,
        &notice.kind,
        notice.state_key.as_deref(),
        notice.content,
    )
    .await?;
    super::audited(state, admin, "admin.server_notice.send", Some(&user_id)).await?;
    Ok(event_id)
}
