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
    create(state, user_id, password_hash, admin, false).await?;
    let mut batch = state.storage.batch();
    state
        .storage
        .users
        .set_profile_field(&mut batch, user_id, "displayname", &localpart.into());
    state.storage.commit(batch).await?;
    Ok(())
}

/// Creates a guest account: no password, no display name (as Synapse).
pub async fn create_guest_account(state: &AppState, user_id: &str) -> Result<()> {
    create(state, user_id, None, false, true).await
}

async fn create(
    state: &AppState,
    user_id: &str,
    password_hash: Option<String>,
    admin: bool,
    guest: bool,
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
        erased: false,
        guest,
    };
    if !state.storage.users.create(user_id, &record)? {
        return Err(Error::user_in_use());
    }
    let event = crate::audit::Event::new(user_id, "register", Some(user_id))
        .details(serde_json::json!({ "admin": admin, "guest": guest }));
    let _ = crate::audit::record(state, event).await;
    Ok(())
}

/// Turns a guest account into a full one with a password, keeping its user ID, rooms
/// and devices (the guest "upgrade"), with the localpart as its display name unless the
/// guest chose one. Fails with `M_USER_IN_USE` if the account is not (or no longer) a guest.
pub async fn upgrade_guest(
    state: &AppState,
    user_id: &str,
    localpart: &str,
    password_hash: String,
) -> Result<()> {
    let mut was_guest = false;
    state.storage.users.update(user_id, |record| {
        // Set on every attempt: the update may run again on a newer record.
        was_guest = record.guest && !record.deactivated;
        if was_guest {
            record.guest = false;
            record.password_hash = Some(password_hash.clone());
        }
    })?;
    if !was_guest {
        return Err(Error::user_in_use());
    }
    let event = crate::audit::Event::new(user_id, "upgrade_guest", Some(user_id));
    let _ = crate::audit::record(state, event).await;
    if !state
        .storage
        .users
        .profile(user_id)?
        .contains_key("displayname")
    {
        let mut batch = state.storage.batch();
        state.storage.users.set_profile_field(
            &mut batch,
            user_id,
            "displayname",
            &localpart.into(),
        );
        state.storage.commit(batch).await?;
    }
    Ok(())
}

/// Deactivates an account as Synapse does: no devices, no profile, no third-party
/// identifiers, out of every room it
/// was in or invited to; with `erase`, marked as erased too. The password hash stays, so
/// only someone who knows the password learns (at login) that the account is
/// deactivated rather than unknown; reactivating it requires a new password.
pub async fn deactivate_account(state: &AppState, user_id: &str, erase: bool) -> Result<()> {
    state.storage.users.update(user_id, |record| {
        record.deactivated = true;
        record.erased |= erase;
    })?;
    leave_every_room(state, user_id).await;
    for threepid in state.storage.threepids.of(user_id)? {
        state
            .storage
            .threepids
            .remove(user_id, &threepid.medium, &threepid.address)?;
    }
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

/// Leaves (or declines) every room the user is in, invited to or knocking on. A room
/// that cannot be left now (its only other server unreachable, say) is logged and
/// skipped: the account is deactivated regardless.
async fn leave_every_room(state: &AppState, user_id: &str) {
    let Ok(user) = ruma::UserId::parse(user_id) else {
        return;
    };
    let rooms = match state.storage.rooms.membership.rooms(user_id) {
        Ok(rooms) => rooms,
        Err(e) => {
            tracing::warn!(error = %e, %user_id, "cannot list the rooms of a deactivated user");
            return;
        }
    };
    for (room_id, record) in rooms {
        if !matches!(record.membership.as_str(), "join" | "invite" | "knock") {
            continue;
        }
        let Ok(room_id) = ruma::RoomId::parse(&room_id) else {
            continue;
        };
        if let Err(e) = crate::rooms::membership::leave(state, &room_id, &user, None).await {
            tracing::warn!(error = %e, %user_id, %room_id, "a deactivated user could not leave");
        }
    }
}
