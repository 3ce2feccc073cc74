//! `GET`/`POST /_synapse/admin/v1/register`: Synapse's shared-secret registration, which
//! admin tools and test suites use to create accounts (admins included) without opening
//! registration. The client fetches a single-use nonce and proves knowledge of
//! `registration.shared_secret` with an HMAC-SHA1 over the request.

use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, web};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::json;
use sha1::Sha1;

use crate::api::Routes;
use crate::api::error::{Error, Result, parse_json};
use crate::api::extract::{client_ip, read_body};
use crate::app::AppState;
use crate::auth::{session, token, username};

pub fn routes(routes: &mut Routes<'_>) {
    routes
        .raw(Method::GET, "/_synapse/admin/v1/register", get_nonce)
        .raw(Method::POST, "/_synapse/admin/v1/register", register);
}

/// How long a nonce stays usable.
const NONCE_LIFETIME_MS: u64 = 60_000;

fn secret(state: &AppState) -> Result<&str> {
    state
        .config
        .registration
        .shared_secret
        .as_deref()
        .ok_or_else(|| {
            Error::unknown(
                StatusCode::BAD_REQUEST,
                "Shared secret registration is not enabled",
            )
        })
}

/// Issues a fresh single-use nonce.
pub fn issue_nonce(state: &AppState) -> Result<String> {
    let nonce = token::generate("");
    let now = citadel_storage::now_ms();
    let mut nonces = state
        .shared_secret_nonces
        .lock()
        .map_err(|_| Error::internal("nonce lock poisoned"))?;
    nonces.retain(|_, issued| now.saturating_sub(*issued) < NONCE_LIFETIME_MS);
    nonces.insert(nonce.clone(), now);
    Ok(nonce)
}

/// Consumes a nonce; false if it is unknown, used or expired.
pub fn take_nonce(state: &AppState, nonce: &str) -> Result<bool> {
    let mut nonces = state
        .shared_secret_nonces
        .lock()
        .map_err(|_| Error::internal("nonce lock poisoned"))?;
    Ok(nonces
        .remove(nonce)
        .is_some_and(|issued| citadel_storage::now_ms().saturating_sub(issued) < NONCE_LIFETIME_MS))
}

/// `GET /_synapse/admin/v1/register`
async fn get_nonce(state: web::Data<AppState>) -> Result<HttpResponse> {
    secret(&state)?;
    Ok(HttpResponse::Ok().json(json!({ "nonce": issue_nonce(&state)? })))
}

#[derive(Deserialize)]
struct RegisterBody {
    nonce: String,
    username: String,
    password: String,
    #[serde(default)]
    admin: bool,
    #[serde(default)]
    displayname: Option<String>,
    #[serde(default)]
    user_type: Option<String>,
    mac: String,
}

/// `POST /_synapse/admin/v1/register`
async fn register(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse> {
    let secret = secret(&state)?.to_owned();
    state
        .registration_limiter
        .check(&client_ip(&req).to_string())?;
    let bytes = read_body(
        &req,
        payload.into_inner(),
        state.config.http.max_request_bytes,
    )
    .await?;
    let body: RegisterBody = parse_json(&bytes)?;
    if !take_nonce(&state, &body.nonce)? {
        return Err(Error::unknown(
            StatusCode::BAD_REQUEST,
            "unrecognised nonce",
        ));
    }

    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).map_err(Error::internal)?;
    mac.update(body.nonce.as_bytes());
    mac.update(b"\x00");
    mac.update(body.username.as_bytes());
    mac.update(b"\x00");
    mac.update(body.password.as_bytes());
    mac.update(b"\x00");
    mac.update(if body.admin { b"admin" } else { b"notadmin" });
    if let Some(user_type) = &body.user_type {
        mac.update(b"\x00");
        mac.update(user_type.as_bytes());
    }
    let given = hex::decode(&body.mac).map_err(|_| Error::forbidden("HMAC incorrect"))?;
    // verify_slice compares in constant time.
    mac.verify_slice(&given)
        .map_err(|_| Error::forbidden("HMAC incorrect"))?;

    let localpart = username::localpart_for(&body.username, state.server_name())?;
    let user_id = state.user_id(&localpart);
    let hash = state.hasher.hash(body.password).await?;
    crate::auth::account::create_account(&state, &user_id, &localpart, Some(hash), body.admin)
        .await?;
    if let Some(name) = body.displayname {
        let mut batch = state.storage.batch();
        state
            .storage
            .users
            .set_profile_field(&mut batch, &user_id, "displayname", &name.into());
        state.storage.commit(batch).await?;
    }
    tracing::info!(%user_id, admin = body.admin, "registered with the shared secret");
    let new = session::start(&state, &user_id, None, None, false, client_ip(&req)).await?;
    Ok(HttpResponse::Ok().json(json!({
        "access_token": new.access_token,
        "user_id": user_id,
        "home_server": state.server_name(),
        "device_id": new.device_id,
    })))
}
