//! This server as a notary: `GET|POST /_matrix/key/v2/query`. Other servers' key
//! documents are handed out as fetched (and checked) from them, countersigned by us.

use actix_web::{HttpResponse, web};
use serde_json::{Value, json};

use crate::api::error::{Error, Result, parse_json};
use crate::app::AppState;

/// The key document of `server`, countersigned; `None` when it cannot be had.
async fn document(state: &AppState, server: &str) -> Option<Value> {
    let now = citadel_storage::now_ms();
    if server == state.server_name() {
        return citadel_federation::server_keys::own_keys(&state.signing_key, now).ok();
    }
    // A fresh copy when the server gives one; when it does not, the last copy we had,
    // even expired: the asker judges its validity (the spec's "Querying keys through
    // another server").
    if let Err(e) = citadel_federation::server_keys::remote_keys(
        &state.federation,
        &state.storage,
        server,
        "",
        now,
    )
    .await
    {
        tracing::info!(%server, error = %e, "notary: no fresh keys, answering from the cache");
    }
    let document = citadel_federation::server_keys::cached_document(&state.storage, server)?;
    let mut object: ruma::CanonicalJsonObject = serde_json::from_value(document).ok()?;
    state.signing_key.sign_json(&mut object).ok()?;
    serde_json::to_value(object).ok()
}

/// `GET /_matrix/key/v2/query/{serverName}` (also under the older
/// `…/{serverName}/{keyId}`: every key of the server comes back either way, as the spec
/// allows).
pub async fn query_one(
    state: web::Data<AppState>,
    path: web::Path<Vec<String>>,
) -> Result<HttpResponse> {
    let server = path.first().map(String::as_str).unwrap_or_default();
    let keys: Vec<Value> = document(&state, server).await.into_iter().collect();
    Ok(HttpResponse::Ok().json(json!({ "server_keys": keys })))
}

/// Most servers one query may ask about.
const MAX_SERVERS: usize = 100;

/// `POST /_matrix/key/v2/query`
pub async fn query(state: web::Data<AppState>, body: web::Bytes) -> Result<HttpResponse> {
    let body: Value = parse_json(&body)?;
    let servers = body["server_keys"]
        .as_object()
        .ok_or_else(|| Error::bad_json("server_keys must be an object"))?;
    if servers.len() > MAX_SERVERS {
        return Err(Error::too_large("Too many servers in one query"));
    }
    let mut keys = Vec::new();
    for server in servers.keys() {
        if let Some(document) = document(&state, server).await {
            keys.push(document);
        }
    }
    Ok(HttpResponse::Ok().json(json!({ "server_keys": keys })))
}
