//! Which servers may take part: the configured allow/deny lists for all federation, and
//! a room's `m.room.server_acl` for that room. Matching is ruma's (`*` and `?` globs).

use ruma::ServerName;
use ruma::events::room::server_acl::RoomServerAclEventContent;

use crate::api::error::{Error, Result};
use crate::app::AppState;
use crate::rooms::RoomCtx;
use crate::rooms::state::current_event;

/// Whether the configuration lets `server` federate with this one. Unlike a room ACL, a
/// pattern may name a port (`matrix.example.org:8448`); without one it matches the host.
pub fn server_allowed(state: &AppState, server: &str) -> bool {
    let Ok(name) = <&ServerName>::try_from(server) else {
        return false;
    };
    let config = &state.config.federation;
    let matches = |pattern: &String| glob(pattern, server) || glob(pattern, name.host());
    if config.denied_servers.iter().any(matches) {
        return false;
    }
    config.allowed_servers.is_empty() || config.allowed_servers.iter().any(matches)
}

/// `*` (any run of characters) and `?` (one character) matching, as server ACLs use.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    // Classic two-pointer match with backtracking to the last `*`.
    let (mut i, mut j, mut star, mut mark) = (0, 0, None, 0);
    while j < t.len() {
        if i < p.len() && (p[i] == '?' || p[i] == t[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some(i);
            mark = j;
            i += 1;
        } else if let Some(s) = star {
            i = s + 1;
            mark += 1;
            j = mark;
        } else {
            return false;
        }
    }
    while i < p.len() && p[i] == '*' {
        i += 1;
    }
    i == p.len()
}

/// `403 M_FORBIDDEN` unless the room's server ACL lets `server` in.
pub fn check_room(state: &AppState, room: &RoomCtx, server: &str) -> Result<()> {
    let Some(acl) = current_event(state, room, "m.room.server_acl", "")? else {
        return Ok(());
    };
    let Ok(content) = serde_json::from_str::<RoomServerAclEventContent>(acl.content.get()) else {
        return Ok(());
    };
    let allowed = <&ServerName>::try_from(server).is_ok_and(|name| content.is_allowed(name));
    if allowed {
        Ok(())
    } else {
        Err(Error::forbidden(
            "Your server is denied by the room's server ACL",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn globs_match_like_server_acls() {
        assert!(glob("*", "example.org"));
        assert!(glob("*.example.org", "matrix.example.org"));
        assert!(!glob("*.example.org", "example.org"));
        assert!(glob("ex?mple.org", "example.org"));
        assert!(!glob("ex?mple.org", "exaample.org"));
        assert!(glob("127.0.0.1:8448", "127.0.0.1:8448"));
        assert!(!glob("127.0.0.1:8448", "127.0.0.1:8449"));
        assert!(glob("a*b*c", "aXXbYYc"));
        assert!(!glob("a*b*c", "aXXbYY"));
    }
}
