//! Login sessions: the device and tokens a successful login or registration creates,
//! authenticating requests by access token, refreshing, and logging out.

use std::net::IpAddr;

use citadel_storage::devices::Device;
use citadel_storage::now_ms;
use citadel_storage::tokens::{AccessToken, RefreshToken};
use ruma::{OwnedDeviceId, OwnedUserId};

use crate::api::error::{Error, Result};
use crate::app::AppState;
use crate::auth::token::{self, TokenHash};

/// The authenticated user and device behind a request.
#[derive(Clone, Debug)]
pub struct Sender {
    pub user_id: OwnedUserId,
    pub device_id: OwnedDeviceId,
    pub token_hash: TokenHash,
    /// The account is locked or suspended (see `auth::restrictions`).
    pub locked: bool,
    pub suspended: bool,
    /// What the user sends is acknowledged but dropped (see `auth::restrictions`).
    pub shadow_banned: bool,
    /// An admin's override of the message rate limit for this user.
    pub ratelimit_override: Option<citadel_storage::users::RatelimitOverride>,
    /// A guest account (see `auth::restrictions` and `rooms::guests`).
    pub guest: bool,
}

/// What a login, registration or refresh hands back to the client.
pub struct NewSession {
    pub device_id: String,
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_in_ms: Option<u64>,
}

/// Resolves an access token to its user and device.
///
/// An expired refreshable token is `M_UNKNOWN_TOKEN` with `soft_logout: true`, telling the
/// client to refresh (or log in again on the same device) rather than wipe its state.
pub async fn authenticate(state: &AppState, access_token: &str, ip: IpAddr) -> Result<Sender> {
    let hash = token::hash(access_token);
    let record = state
        .storage
        .tokens
        .access(&hash)?
        .ok_or_else(|| Error::unknown_token(false))?;
    if record.expires_at.is_some_and(|at| now_ms() >= at) {
        return Err(Error::unknown_token(true));
    }
    let user = match state.storage.users.get(&record.user_id)? {
        Some(user) if !user.deactivated => user,
        _ => return Err(Error::unknown_token(false)),
    };
    if let Some(old_refresh) = record.revoke_on_use {
        // First use of a refreshed access token: the refresh token it replaced is done.
        let mut batch = state.storage.batch();
        state
            .storage
            .tokens
            .revoke_refresh(&mut batch, &old_refresh)?;
        let cleared = AccessToken {
            revoke_on_use: None,
            ..record.clone()
        };
        state.storage.tokens.put_access(&mut batch, &hash, &cleared);
        state.storage.commit(batch).await?;
    }
    state.note_device_seen(&record.user_id, &record.device_id, ip);
    Ok(Sender {
        user_id: OwnedUserId::try_from(record.user_id).map_err(Error::internal)?,
        device_id: OwnedDeviceId::from(record.device_id),
        token_hash: hash,
        locked: user.locked,
        suspended: user.suspended,
        shadow_banned: user.shadow_banned,
        ratelimit_override: user.ratelimit_override,
        guest: user.guest,
    })
}

/// Creates (or reuses) a device for `user_id` and issues its tokens. Reusing a device ID
/// revokes the tokens it had, as the spec requires.
pub async fn start(
    state: &AppState,
    user_id: &str,
    device_id: Option<String>,
    display_name: Option<String>,
    refreshable: bool,
    ip: IpAddr,
) -> Result<NewSession> {
    let device_id = device_id.unwrap_or_else(token::device_id);
    let now = now_ms();
    let mut batch = state.storage.batch();
    match state.storage.devices.get(user_id, &device_id)? {
        Some(_) => state
            .storage
            .tokens
            .remove_device_tokens(&mut batch, user_id, &device_id)?,
        None => {
            let device = Device {
                display_name,
                last_seen_ip: Some(ip.to_string()),
                last_seen_ts: Some(now),
                created_ts: now,
            };
            state
                .storage
                .devices
                .put(&mut batch, user_id, &device_id, &device);
        }
    }
    let session = issue_tokens(state, &mut batch, user_id, &device_id, refreshable, None);
    state.storage.commit(batch).await?;
    Ok(session)
}

fn issue_tokens(
    state: &AppState,
    batch: &mut citadel_storage::Batch,
    user_id: &str,
    device_id: &str,
    refreshable: bool,
    replaces_refresh: Option<TokenHash>,
) -> NewSession {
    let access_token = token::generate(token::ACCESS_PREFIX);
    let access_hash = token::hash(&access_token);
    let lifetime = state.config.auth.refreshable_access_token_lifetime_ms;
    let mut session = NewSession {
        device_id: device_id.to_owned(),
        access_token,
        refresh_token: None,
        expires_in_ms: None,
    };
    let mut access = AccessToken {
        user_id: user_id.to_owned(),
        device_id: device_id.to_owned(),
        expires_at: None,
        refresh: None,
        revoke_on_use: replaces_refresh,
    };
    if refreshable {
        let refresh_token = token::generate(token::REFRESH_PREFIX);
        let refresh_hash = token::hash(&refresh_token);
        access.expires_at = Some(now_ms() + lifetime);
        access.refresh = Some(refresh_hash);
        let refresh = RefreshToken {
            user_id: user_id.to_owned(),
            device_id: device_id.to_owned(),
            access: access_hash,
            predecessor: replaces_refresh,
            successor: None,
        };
        state
            .storage
            .tokens
            .put_refresh(batch, &refresh_hash, &refresh);
        session.refresh_token = Some(refresh_token);
        session.expires_in_ms = Some(lifetime);
    }
    state
        .storage
        .tokens
        .put_access(batch, &access_hash, &access);
    session
}

/// Exchanges a refresh token for a new access and refresh token on the same device.
///
/// The old refresh token stays valid until the new pair is first used (the spec's rule
/// for clients that lose the response); presenting it again revokes the unused pair it
/// was exchanged for before issuing another.
pub async fn refresh(state: &AppState, refresh_token: &str) -> Result<NewSession> {
    let hash = token::hash(refresh_token);
    let unknown = || {
        Error::new(
            actix_web::http::StatusCode::UNAUTHORIZED,
            "M_UNKNOWN_TOKEN",
            "Unknown refresh token",
        )
        .with("soft_logout", true)
    };
    let mut record = state.storage.tokens.refresh(&hash)?.ok_or_else(unknown)?;
    match state.storage.users.get(&record.user_id)? {
        Some(user) if user.locked => return Err(crate::auth::restrictions::locked()),
        Some(user) if !user.deactivated => {}
        _ => return Err(unknown()),
    }
    let mut batch = state.storage.batch();
    if let Some(predecessor) = record.predecessor.take() {
        // Using this token proves the client has it: the one it replaced is finished.
        state
            .storage
            .tokens
            .revoke_refresh(&mut batch, &predecessor)?;
    }
    if let Some(unused) = record.successor.take() {
        state.storage.tokens.revoke_refresh(&mut batch, &unused)?;
    }
    let session = issue_tokens(
        state,
        &mut batch,
        &record.user_id,
        &record.device_id,
        true,
        Some(hash),
    );
    if let Some(new_refresh) = session.refresh_token.as_deref() {
        record.successor = Some(token::hash(new_refresh));
    }
    state.storage.tokens.put_refresh(&mut batch, &hash, &record);
    state.storage.commit(batch).await?;
    Ok(session)
}

/// Deletes a device with every token, key and queued to-device message it holds (in the
/// caller's batch; commit it with [`commit_device_removal`]).
pub fn remove_device(
    state: &AppState,
    batch: &mut citadel_storage::Batch,
    user_id: &str,
    device_id: &str,
) -> Result<()> {
    state.storage.devices.remove(batch, user_id, device_id);
    state
        .storage
        .tokens
        .remove_device_tokens(batch, user_id, device_id)?;
    state
        .storage
        .e2ee_keys
        .remove_device(batch, user_id, device_id)?;
    state
        .storage
        .to_device
        .remove_device(batch, user_id, device_id)?;
    state
        .storage
        .notifications
        .remove_device_pushers(batch, user_id, device_id)?;
    Ok(())
}

/// Commits device removals and tells everyone tracking the user's devices.
pub async fn commit_device_removal(
    state: &AppState,
    mut batch: citadel_storage::Batch,
    user_id: &str,
) -> Result<()> {
    let reserved = state.stream.reserve(&state.storage)?;
    state
        .storage
        .e2ee_keys
        .mark_changed(&mut batch, user_id, reserved.position)?;
    state.storage.commit(batch).await?;
    let position = reserved.position;
    drop(reserved);
    crate::e2ee::device_lists::notify_interested(state, user_id, position)?;
    crate::e2ee::device_lists::announce_resync(state, user_id, position)
}
