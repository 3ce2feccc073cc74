//! Locked and suspended accounts (the spec's "Account locking" and "Account
//! suspension"): a locked account may only log out; a suspended one may read, leave,
//! redact, manage its devices and keys, and log out, but not join, invite, knock, send
//! messages, change its profile, create rooms or upload media.

use actix_web::http::{Method, StatusCode};

use crate::api::error::{Error, Result};
use crate::auth::session::Sender;

/// `401 M_USER_LOCKED` with `soft_logout`: the answer to everything a locked account
/// asks but logging out, including a login or token refresh (the spec: it "cannot obtain
/// a new access token until the account has been unlocked").
pub fn locked() -> Error {
    Error::new(
        StatusCode::UNAUTHORIZED,
        "M_USER_LOCKED",
        "This account has been locked",
    )
    .with("soft_logout", true)
}

/// Refuses a request the account's lock or suspension, or its being a guest, does not
/// allow.
pub fn check(sender: &Sender, method: &Method, path: &str) -> Result<()> {
    if sender.locked && !is_logout(path) {
        return Err(locked());
    }
    if sender.guest && !allowed_for_guests(method, path) {
        return Err(Error::new(
            StatusCode::FORBIDDEN,
            "M_GUEST_ACCESS_FORBIDDEN",
            "Guest access is not allowed for this endpoint",
        ));
    }
    if sender.suspended && forbidden_while_suspended(method, path) {
        return Err(Error::new(
            StatusCode::FORBIDDEN,
            "M_USER_SUSPENDED",
            "You cannot perform this action while suspended.",
        ));
    }
    Ok(())
}

/// An event ID like a real one, for what a shadow-banned user sends: they are told it
/// was sent, and nothing is stored or delivered.
pub fn shadow_event_id() -> ruma::OwnedEventId {
    let random = crate::auth::token::generate("")[..43].replace(['+', '/'], "_");
    ruma::OwnedEventId::try_from(format!("${random}")).unwrap_or_else(|_| {
        ruma::OwnedEventId::try_from("$shadow").unwrap_or_else(|_| unreachable!())
    })
}

/// The endpoints guests may call: the spec's list ("Guest access", client behaviour),
/// plus what Synapse also opens to guests and clients call on their way (filters,
/// typing, receipts, presence, the room directory, capabilities, push rules, logout and
/// the upgrade to a full account).
fn allowed_for_guests(method: &Method, path: &str) -> bool {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let rest: &[&str] = match segments.as_slice() {
        ["", "_matrix", "client", _version, rest @ ..] => rest,
        // Legacy media downloads and thumbnails.
        [
            "",
            "_matrix",
            "media",
            _version,
            "download" | "thumbnail",
            ..,
        ] => {
            return *method == Method::GET;
        }
        _ => return false,
    };
    match (method.as_str(), rest) {
        // Reading rooms and the event streams.
        (
            "GET",
            [
                "rooms",
                _,
                "state" | "messages" | "members" | "initialSync",
                ..,
            ],
        ) => true,
        ("GET", ["rooms", _, "context" | "event", _]) => true,
        ("GET", ["rooms", _, "joined_members" | "aliases"]) => true,
        ("GET", ["sync"] | ["events"] | ["initialSync"]) => true,
        ("GET", ["media", "download" | "thumbnail" | "config", ..]) => true,
        // Taking part.
        ("POST", ["rooms", _, "join" | "leave"]) | ("POST", ["join", _]) => true,
        ("PUT", ["rooms", _, "send" | "state" | "typing", ..]) => true,
        ("POST", ["rooms", _, "receipt" | "read_markers", ..]) => true,
        ("PUT", ["sendToDevice", ..]) => true,
        // Their own account.
        ("PUT" | "DELETE", ["profile", _, "displayname"]) | ("GET", ["profile", ..]) => true,
        ("GET", ["devices"] | ["devices", _]) | ("PUT", ["devices", _]) => true,
        ("GET", ["account", "whoami"]) => true,
        ("POST", ["logout"] | ["logout", "all"] | ["register"]) => true,
        ("GET" | "POST", ["user", _, "filter", ..]) => true,
        ("GET" | "PUT", ["presence", _, "status"]) => true,
        ("GET", ["pushrules", ..] | ["capabilities"] | ["voip", "turnServer"]) => true,
        ("GET" | "POST", ["publicRooms"]) | ("GET", ["directory", "room", _]) => true,
        // End-to-end encryption.
        ("POST", ["keys", "upload" | "query" | "claim"]) => true,
        ("GET", ["keys", "changes"]) => true,
        _ => false,
    }
}

fn is_logout(path: &str) -> bool {
    path.ends_with("/logout") || path.ends_with("/logout/all")
}

fn forbidden_while_suspended(method: &Method, path: &str) -> bool {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    // `/_matrix/client/{version}/…`
    let rest: &[&str] = match segments.as_slice() {
        ["", "_matrix", "client", _version, rest @ ..] => rest,
        ["", "_matrix", "media", _version, rest @ ..] => {
            return *method == Method::POST && rest.first() == Some(&"upload")
                || *method == Method::PUT && rest.first() == Some(&"upload");
        }
        _ => return false,
    };
    match (method.as_str(), rest) {
        ("POST", ["createRoom"]) => true,
        ("POST", ["join", ..]) | ("POST", ["knock", ..]) => true,
        ("POST", ["rooms", _, "join" | "invite"]) => true,
        ("PUT", ["rooms", _, "send", kind, ..]) => *kind != "m.room.redaction",
        ("PUT", ["rooms", _, "state", ..]) => true,
        ("PUT" | "DELETE", ["profile", ..]) => true,
        ("POST", ["media", "upload"]) | ("POST" | "PUT", ["upload", ..]) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suspension_stops_acting_not_reading_or_leaving() {
        let blocked = [
            (Method::POST, "/_matrix/client/v3/createRoom"),
            (Method::POST, "/_matrix/client/v3/join/%21r%3Ax"),
            (Method::POST, "/_matrix/client/v3/rooms/!r:x/invite"),
            (
                Method::PUT,
                "/_matrix/client/v3/rooms/!r:x/send/m.room.message/t1",
            ),
            (
                Method::PUT,
                "/_matrix/client/v3/rooms/!r:x/state/m.room.name/",
            ),
            (Method::PUT, "/_matrix/client/v3/profile/@a:x/displayname"),
            (Method::POST, "/_matrix/media/v3/upload"),
        ];
        for (method, path) in &blocked {
            assert!(forbidden_while_suspended(method, path), "{method} {path}");
        }
        let allowed = [
            (Method::GET, "/_matrix/client/v3/sync"),
            (Method::GET, "/_matrix/client/v3/rooms/!r:x/messages"),
            (Method::POST, "/_matrix/client/v3/rooms/!r:x/leave"),
            (
                Method::PUT,
                "/_matrix/client/v3/rooms/!r:x/send/m.room.redaction/t1",
            ),
            (Method::PUT, "/_matrix/client/v3/rooms/!r:x/redact/$e/t1"),
            (Method::POST, "/_matrix/client/v3/keys/upload"),
            (Method::POST, "/_matrix/client/v3/logout"),
            (Method::DELETE, "/_matrix/client/v3/devices/ABC"),
        ];
        for (method, path) in &allowed {
            assert!(!forbidden_while_suspended(method, path), "{method} {path}");
        }
    }

    #[test]
    fn guests_get_the_spec_list_and_no_more() {
        let allowed = [
            (Method::GET, "/_matrix/client/v3/sync"),
            (Method::GET, "/_matrix/client/r0/events"),
            (
                Method::GET,
                "/_matrix/client/v3/rooms/!r:x/state/m.room.name/",
            ),
            (Method::GET, "/_matrix/client/v3/rooms/!r:x/context/$e"),
            (Method::POST, "/_matrix/client/v3/rooms/!r:x/join"),
            (Method::POST, "/_matrix/client/v3/join/%23a%3Ax"),
            (
                Method::PUT,
                "/_matrix/client/v3/rooms/!r:x/send/m.room.message/t1",
            ),
            (Method::PUT, "/_matrix/client/v3/profile/@g:x/displayname"),
            (Method::POST, "/_matrix/client/v3/keys/upload"),
            (Method::GET, "/_matrix/client/v1/media/download/x/abc"),
            (Method::POST, "/_matrix/client/v3/register"),
        ];
        for (method, path) in &allowed {
            assert!(allowed_for_guests(method, path), "{method} {path}");
        }
        let refused = [
            (Method::POST, "/_matrix/client/v3/createRoom"),
            (Method::POST, "/_matrix/client/v3/rooms/!r:x/invite"),
            (Method::PUT, "/_matrix/client/v3/profile/@g:x/avatar_url"),
            (Method::PUT, "/_matrix/client/v3/user/@g:x/account_data/m.x"),
            (Method::POST, "/_matrix/client/v1/media/upload"),
            (Method::POST, "/_matrix/media/v3/upload"),
            (Method::DELETE, "/_matrix/client/v3/devices/ABC"),
            (Method::POST, "/_matrix/client/v3/account/password"),
            (Method::GET, "/_synapse/admin/v1/users"),
        ];
        for (method, path) in &refused {
            assert!(!allowed_for_guests(method, path), "{method} {path}");
        }
    }
}
