//! How far a user has read a room: the newest of their public and private read
//! receipts, as a stream position (notification counts start after it).

use ruma::UserId;

use crate::api::error::Result;
use crate::app::AppState;

/// The stream position of the newest event the user has an unthreaded read receipt
/// (public or private) for in the room; notifications up to it are read.
pub fn read_upto(state: &AppState, user: &UserId, room_id: &str) -> Result<u64> {
    read_upto_in(state, user, room_id, None)
}

/// Like [`read_upto`], for the receipts of one thread (`main` or a thread root).
pub fn read_upto_in(
    state: &AppState,
    user: &UserId,
    room_id: &str,
    thread: Option<&str>,
) -> Result<u64> {
    let mut upto = 0;
    for kind in ["m.read", "m.read.private"] {
        if let Some(receipt) =
            state
                .storage
                .receipts
                .latest(room_id, kind, thread, user.as_str())?
            && let Some(at) = state.storage.rooms.timeline.pdu_id(&receipt.event_id)?
        {
            upto = upto.max(at.count);
        }
    }
    Ok(upto)
}

/// Whether the user has notifications in the room past their read receipts.
pub fn room_unread(state: &AppState, user: &UserId, room_id: &str) -> Result<bool> {
    let upto = read_upto(state, user, room_id)?;
    let (notifications, _) = state
        .storage
        .notifications
        .unread(user.as_str(), room_id, upto)?;
    Ok(notifications > 0)
}

/// The badge a push gateway shows: how many of the user's rooms have unread
/// notifications (Synapse's default, counting rooms rather than messages).
pub fn badge_count(state: &AppState, user: &UserId) -> Result<u64> {
    let mut rooms = 0;
    for (room_id, record) in state.storage.rooms.membership.rooms(user.as_str())? {
        if record.membership != "join" {
            continue;
        }
        if room_unread(state, user, &room_id)? {
            rooms += 1;
        }
    }
    Ok(rooms)
}
