//! Administrative operations shared by the `citadel admin` CLI (directly on the database
//! when the server is stopped) and the CLI endpoint (when it runs).

use citadel_storage::now_ms;
use citadel_storage::registration_tokens::RegistrationToken;
use serde::{Deserialize, Serialize};

use crate::api::error::{Error, Result};
use crate::app::AppState;
use crate::auth::{session, username};

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    CreateUser {
        username: String,
        password: String,
        admin: bool,
    },
    ResetPassword {
        username: String,
        password: String,
    },
    SetAdmin {
        username: String,
        admin: bool,
    },
    CreateRegistrationToken {
        token: Option<String>,
        uses_allowed: Option<u64>,
        expiry_time: Option<u64>,
    },
    PurgeRemoteMedia {
        older_than_ms: u64,
    },
    /// Recompute the audit trail and check every signed tree head.
    AuditVerify,
    /// Every audit entry as JSON lines.
    AuditExport,
}

/// Carries out an action and returns a human-readable result line; what it changes is
/// recorded in the audit trail with `cli` as the actor.
pub async fn run(state: &AppState, action: Action) -> Result<String> {
    let (kind, target) = match &action {
        Action::CreateUser { username, .. } => ("cli.user.create", Some(username.clone())),
        Action::ResetPassword { username, .. } => {
            ("cli.user.reset_password", Some(username.clone()))
        }
        Action::SetAdmin { username, .. } => ("cli.user.admin_flag", Some(username.clone())),
        Action::CreateRegistrationToken { .. } => ("cli.registration_token.create", None),
        Action::PurgeRemoteMedia { .. } => ("cli.media.purge_remote", None),
        Action::AuditVerify | Action::AuditExport => ("", None),
    };
    let result = run_action(state, action).await;
    if !kind.is_empty() && result.is_ok() {
        let event = crate::audit::Event::new("cli", kind, target.as_deref());
        crate::audit::record(state, event).await?;
    }
    result
}

async fn run_action(state: &AppState, action: Action) -> Result<String> {
    match action {
        Action::AuditVerify => {
            let report = crate::audit::verify(state)?;
            let summary = crate::audit::verification_summary(&report);
            if report.problems.is_empty() {
                Ok(summary)
            } else {
                Err(Error::unknown(
                    actix_web::http::StatusCode::CONFLICT,
                    summary,
                ))
            }
        }
        Action::AuditExport => crate::audit::export(state),
        Action::CreateUser {
            username: name,
            password: pw,
            admin,
        } => {
            let localpart = username::localpart_for(&name, state.server_name())?;
            let user_id = state.user_id(&localpart);
            let hash = state.hasher.hash(pw).await?;
            crate::auth::account::create_account(state, &user_id, &localpart, Some(hash), admin)
                .await?;
            tracing::info!(%user_id, admin, "user created by an admin");
            Ok(format!(
                "created {user_id}{}",
                if admin { " (admin)" } else { "" }
            ))
        }
        Action::ResetPassword {
            username: name,
            password: pw,
        } => {
            let user_id = if name.starts_with('@') {
                name.to_ascii_lowercase()
            } else {
                state.user_id(&name.to_ascii_lowercase())
            };
            let hash = state.hasher.hash(pw).await?;
            let updated = state
                .storage
                .users
                .update(&user_id, |r| r.password_hash = Some(hash.clone()))?;
            if updated.is_none() {
                return Err(Error::not_found(format!("no such user {user_id}")));
            }
            // A reset password means the old sessions are not to be trusted.
            let mut batch = state.storage.batch();
            for (device_id, _) in state.storage.devices.list(&user_id)? {
                session::remove_device(state, &mut batch, &user_id, &device_id)?;
            }
            session::commit_device_removal(state, batch, &user_id).await?;
            tracing::info!(%user_id, "password reset by an admin");
            Ok(format!(
                "password of {user_id} reset; all its devices were logged out"
            ))
        }
        Action::SetAdmin {
            username: name,
            admin,
        } => {
            let user_id = if name.starts_with('@') {
                name.to_ascii_lowercase()
            } else {
                state.user_id(&name.to_ascii_lowercase())
            };
            set_admin(state, &user_id, admin).await?;
            Ok(format!(
                "{user_id} is {}a server admin",
                if admin { "now " } else { "no longer " }
            ))
        }
        Action::PurgeRemoteMedia { older_than_ms } => {
            let purged = purge_remote_media(state, now_ms().saturating_sub(older_than_ms)).await?;
            Ok(format!("purged {purged} cached remote media items"))
        }
        Action::CreateRegistrationToken {
            token: wanted,
            uses_allowed,
            expiry_time,
        } => create_registration_token(state, wanted, 16, uses_allowed, expiry_time).await,
    }
}

/// Registration tokens are 1-64 characters of `[A-Za-z0-9._~-]` (the spec's grammar).
pub fn check_registration_token(token: &str) -> Result<()> {
    let valid = !token.is_empty()
        && token.len() <= 64
        && token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c));
    if valid {
        Ok(())
    } else {
        Err(Error::invalid_param(
            "Registration tokens are 1-64 characters of [A-Za-z0-9._~-]",
        ))
    }
}

/// Creates a registration token (random, of `length` characters, unless one is given);
/// the CLI and the admin API both come here.
pub async fn create_registration_token(
    state: &AppState,
    wanted: Option<String>,
    length: usize,
    uses_allowed: Option<u64>,
    expiry_time: Option<u64>,
) -> Result<String> {
    if !(1..=64).contains(&length) {
        return Err(Error::invalid_param("length must be between 1 and 64"));
    }
    let token = match wanted {
        Some(token) => token,
        None => {
            use rand::Rng;
            const CHARS: &[u8] =
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~-";
            let mut rng = rand::thread_rng();
            (0..length)
                .map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char)
                .collect()
        }
    };
    check_registration_token(&token)?;
    let record = RegistrationToken {
        uses_allowed,
        completed: 0,
        expiry_time,
        created_ts: now_ms(),
    };
    if !state.storage.registration_tokens.create(&token, &record)? {
        return Err(Error::invalid_param(format!(
            "registration token {token} already exists"
        )));
    }
    state.storage.flush().await?;
    Ok(token)
}

/// Gives or takes away a user's admin flag (the CLI and the admin API both come here).
pub async fn set_admin(state: &AppState, user_id: &str, admin: bool) -> Result<()> {
    if state
        .storage
        .users
        .update(user_id, |record| record.admin = admin)?
        .is_none()
    {
        return Err(Error::not_found("User not found"));
    }
    state.storage.flush().await?;
    tracing::info!(%user_id, admin, "admin flag changed");
    Ok(())
}

/// Quarantines a media item (it is served to no one from now on) or releases it;
/// `false` when there is no such item.
pub async fn set_media_quarantine(
    state: &AppState,
    server_name: &str,
    media_id: &str,
    quarantined: bool,
) -> Result<bool> {
    let Some(mut record) = state.storage.media.get(server_name, media_id)? else {
        return Ok(false);
    };
    let changed = record.quarantined != quarantined;
    record.quarantined = quarantined;
    // A change is logged at a stream position, held until it is on disk, so
    // `quarantine_changes` readers (who stop below positions in flight) see every one.
    let reserved = state.stream.reserve(&state.storage)?;
    let mut batch = state.storage.batch();
    let media = &state.storage.media;
    media.put(&mut batch, server_name, media_id, &record);
    if changed {
        let change = citadel_storage::media::QuarantineChange {
            origin: server_name.to_owned(),
            media_id: media_id.to_owned(),
            quarantined,
        };
        media.log_quarantine_change(&mut batch, reserved.position, &change);
    }
    state.storage.commit(batch).await?;
    drop(reserved);
    tracing::info!(%server_name, %media_id, quarantined, "media quarantine changed");
    Ok(true)
}

/// Deletes one media item: its record, its uploader's quota use and, when no other
/// item shares the content, its file.
pub async fn delete_media(state: &AppState, server_name: &str, media_id: &str) -> Result<bool> {
    let Some(record) = state.storage.media.get(server_name, media_id)? else {
        return Ok(false);
    };
    let mut batch = state.storage.batch();
    state
        .storage
        .media
        .remove(&mut batch, server_name, media_id, &record.uploader);
    state.storage.commit(batch).await?;
    if server_name == state.server_name() {
        state
            .storage
            .media
            .release_usage(&record.uploader, record.size)?;
    }
    if let Some(sha256) = &record.sha256 {
        let shared = state
            .storage
            .media
            .all()?
            .iter()
            .any(|(_, _, other)| other.sha256.as_deref() == Some(sha256));
        if !shared {
            let _ = tokio::fs::remove_file(state.media_store.path(sha256)).await;
        }
    }
    Ok(true)
}

/// Media IDs a user uploaded.
pub fn list_user_media(state: &AppState, user_id: &str) -> Result<Vec<String>> {
    Ok(state.storage.media.by_user(user_id)?)
}

/// Deletes every media item a user uploaded (files shared with other uploads stay).
pub async fn delete_user_media(state: &AppState, user_id: &str) -> Result<usize> {
    let ids = state.storage.media.by_user(user_id)?;
    let mut batch = state.storage.batch();
    let mut freed = 0;
    for media_id in &ids {
        if let Some(record) = state.storage.media.get(state.server_name(), media_id)? {
            freed += record.size;
            state
                .storage
                .media
                .remove(&mut batch, state.server_name(), media_id, user_id);
        }
    }
    state.storage.commit(batch).await?;
    state.storage.media.release_usage(user_id, freed)?;
    Ok(ids.len())
}

/// Forgets remote media last served before `cutoff_ms` (quarantined items stay),
/// deleting files nothing else uses.
pub async fn purge_remote_media(state: &AppState, cutoff_ms: u64) -> Result<usize> {
    let all = state.storage.media.all()?;
    let media = &state.storage.media;
    let mut batch = state.storage.batch();
    let mut purged = std::collections::HashSet::new();
    for (server, media_id, record) in &all {
        // Quarantined items stay, so they are not fetched again from their origin.
        if server == state.server_name() || record.quarantined {
            continue;
        }
        let last_served = media
            .last_access(server, media_id)?
            .unwrap_or(record.created_ts);
        if last_served < cutoff_ms {
            media.remove(&mut batch, server, media_id, &record.uploader);
            purged.insert((server.as_str(), media_id.as_str()));
        }
    }
    state.storage.commit(batch).await?;
    // Content-addressed files may be shared with media that stays.
    let (mut gone, mut kept) = (
        std::collections::HashSet::new(),
        std::collections::HashSet::new(),
    );
    for (server, media_id, record) in &all {
        if let Some(sha256) = record.sha256.as_deref() {
            if purged.contains(&(server.as_str(), media_id.as_str())) {
                gone.insert(sha256);
            } else {
                kept.insert(sha256);
            }
        }
    }
    for sha256 in gone.difference(&kept) {
        let _ = tokio::fs::remove_file(state.media_store.path(sha256)).await;
    }
    Ok(purged.len())
}
