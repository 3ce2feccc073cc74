//! Device-list tracking: who must be told that a user's devices or keys changed (everyone
//! sharing a room with them), and who has stopped sharing rooms with whom.

use std::collections::BTreeSet;

use crate::api::error::Result;
use crate::app::AppState;

/// Users in a joined room with `user_id` (including the user).
pub fn sharing_a_room(state: &AppState, user_id: &str) -> Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    out.insert(user_id.to_owned());
    for (room, record) in state.storage.rooms.membership.rooms(user_id)? {
        if record.membership != "join" {
            continue;
        }
        for (member, m) in state.storage.rooms.membership.members(&room)? {
            if m.membership == "join" {
                out.insert(member);
            }
        }
    }
    Ok(out)
}

/// Wakes everyone who tracks `user_id`'s devices.
pub fn notify_interested(state: &AppState, user_id: &str, position: u64) -> Result<()> {
    let audience = sharing_a_room(state, user_id)?;
    state
        .notifier
        .notify(audience.iter().map(String::as_str), position);
    Ok(())
}

/// `(changed, left)` for `user_id` between stream positions `since` and `next`:
/// users sharing a room whose keys changed or who started sharing one (a join on either
/// side), and users who no longer share any room.
pub fn changes(
    state: &AppState,
    user_id: &str,
    since: u64,
    next: u64,
) -> Result<(Vec<String>, Vec<String>)> {
    let sharing = sharing_a_room(state, user_id)?;
    let mut changed = BTreeSet::new();
    let mut left = BTreeSet::new();
    for other in &sharing {
        if state
            .storage
            .e2ee_keys
            .last_change(other)?
            .is_some_and(|pos| pos >= since && pos < next)
        {
            changed.insert(other.clone());
        }
    }
    for (room, my_record) in state.storage.rooms.membership.rooms(user_id)? {
        let i_joined_recently =
            my_record.membership == "join" && my_record.count >= since && my_record.count < next;
        let i_left_recently =
            my_record.membership != "join" && my_record.count >= since && my_record.count < next;
        for (member, record) in state.storage.rooms.membership.members(&room)? {
            if member == user_id {
                continue;
            }
            let recent = record.count >= since && record.count < next;
            if record.membership == "join"
                && (recent || i_joined_recently)
                && my_record.membership == "join"
            {
                changed.insert(member.clone());
            }
            let they_left = record.membership != "join" && recent;
            if (they_left || (i_left_recently && record.membership == "join"))
                && !sharing.contains(&member)
            {
                left.insert(member);
            }
        }
    }
    Ok((changed.into_iter().collect(), left.into_iter().collect()))
}
