//! Creating and deactivating local accounts, for registration, the admin API, the CLI and
//! the server-notices system user alike.

use citadel_storage::now_ms;
use citadel_storage::users::UserRecord;

use crate::api::error::{Error, Result};
use crate::app::AppState;
use crate::auth::session;

/// Creates an account with the localpart as its initial display name (as Synapse does),
/// durably. Fails with `M_USER_IN_USE` if the ID was taken meanwhile.
pub async fn create_account(
    state: &AppState,
    user_id: &str,
    localpart: &str,
    password_hash: Option<String>,
    admin: bool,
) -> Result<()> {
    let record = UserRecord {
        password_hash,
        admin,
        deactivated: false,
        created_ts: now_ms(),
        user_type: None,
        locked: false,
        suspended: false,
        shadow_banned: false,
        ratelimit_override: None,
    };
    if !state.storage.users.create(user_id, &record)? {
        return Err(Error::user_in_use());
    }
    let event = crate::audit::Event::new(user_id, "register", Some(user_id))
        .details(serde_json::json!({ "admin": admin }));
    let _ = crate::audit::record(state, event).await;
    let mut batch = state.storage.batch();
    state
        .storage
        .users
        .set_profile_field(&mut batch, user_id, "displayname", &localpart.into());
    state.storage.commit(batch).await?;
    Ok(())
}

pub async fn deactivate_account(state: &AppState, user_id: &str) -> Result<()> {
    state.storage.users.update(user_id, |record| {
        record.deactivated = true;
    })?;
    let mut batch = state.storage.batch();
    for (device_id, _) in state.storage.devices.list(user_id)? {
        session::remove_device(state, &mut batch, user_id, &device_id)?;
    }
    for field in state.storage.users.profile(user_id)?.keys() {
        state
            .storage
            .users
            .remove_profile_field(&mut batch, user_id, field);
    }
    session::commit_device_removal(state, batch, user_id).await?;
    Ok(())
}
