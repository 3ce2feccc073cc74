//! `POST /_citadel/admin/v1/cli`: how `citadel admin …` reaches a running server (sled
//! lets only one process open the database). Each call carries a single-use nonce and
//! an HMAC-SHA256, keyed with `registration.shared_secret`, over the nonce and the
//! canonical JSON of the action.

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::Sha256;

use crate::admin::Action;
use crate::api::Routes;
use crate::api::admin::shared_secret::{issue_nonce, take_nonce};
use crate::api::error::{Error, Result, parse_json};
use crate::api::extract::read_body;
use crate::app::AppState;

pub const PATH: &str = "/_citadel/admin/v1/cli";

pub fn routes(routes: &mut Routes<'_>) {
    routes
        .raw(Method::GET, PATH, get_nonce)
        .raw(Method::POST, PATH, run);
}

#[derive(Serialize, Deserialize)]
pub struct SignedAction {
    pub nonce: String,
    pub action: Action,
    pub mac: String,
}

/// The MAC of `nonce` and `action`: HMAC-SHA256 over `nonce \0 canonical-json(action)`.
pub fn mac(secret: &str, nonce: &str, action: &Action) -> Result<Hmac<Sha256>> {
    let value = serde_json::to_value(action).map_err(Error::internal)?;
    let canonical = ruma::canonical_json::to_canonical_value(value).map_err(Error::internal)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).map_err(Error::internal)?;
    mac.update(nonce.as_bytes());
    mac.update(b"\x00");
    mac.update(canonical.to_string().as_bytes());
    Ok(mac)
}

fn secret(state: &AppState) -> Result<&str> {
    state
        .config
        .registration
        .shared_secret
        .as_deref()
        .ok_or_else(|| Error::forbidden("registration.shared_secret is not configured"))
}

/// `GET /_citadel/admin/v1/cli`: a fresh nonce.
async fn get_nonce(state: web::Data<AppState>) -> Result<HttpResponse> {
    secret(&state)?;
    Ok(HttpResponse::Ok().json(json!({ "nonce": issue_nonce(&state)? })))
}

/// `POST /_citadel/admin/v1/cli`
async fn run(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse> {
    let secret = secret(&state)?.to_owned();
    let bytes = read_body(
        &req,
        payload.into_inner(),
        state.config.http.max_request_bytes,
    )
    .await?;
    let signed: SignedAction = parse_json(&bytes)?;
    if !take_nonce(&state, &signed.nonce)? {
        return Err(Error::forbidden("unrecognised nonce"));
    }
    let given = hex::decode(&signed.mac).map_err(|_| Error::forbidden("HMAC incorrect"))?;
    mac(&secret, &signed.nonce, &signed.action)?
        .verify_slice(&given)
        .map_err(|_| Error::forbidden("HMAC incorrect"))?;
    let message = crate::admin::run(&state, signed.action).await?;
    Ok(HttpResponse::Ok().json(json!({ "result": message })))
}
