//! Which servers may take part: the allow/deny lists for all federation (the
//! configuration's, or an admin's set at runtime), and a room's `m.room.server_acl` for
//! that room. Room ACLs are matched by ruma; the lists by the same `*` and `?` globs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use citadel_storage::settings::FEDERATION_RULES;
use ruma::ServerName;
use ruma::events::room::server_acl::RoomServerAclEventContent;
use serde::{Deserialize, Serialize};

use crate::api::error::{Error, Result};
use crate::app::AppState;
use crate::rooms::RoomCtx;
use crate::rooms::state::current_event;

/// Which servers may federate with this one: when `allowed_servers` is not empty, only
/// those; never the `denied_servers` (`*` and `?` wildcards).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FederationRules {
    #[serde(default)]
    pub allowed_servers: Vec<String>,
    #[serde(default)]
    pub denied_servers: Vec<String>,
}

/// The lists in force, and whether an admin set them at runtime (else they are the
/// configuration file's).
#[derive(Clone, Debug)]
pub struct ActiveRules {
    pub rules: FederationRules,
    pub runtime: bool,
}

/// How long a process trusts its copy of the runtime lists: another process sharing the
/// database sees an admin's change within this time (this one sees it at once).
const RELOAD_AFTER: Duration = Duration::from_secs(30);
/// A denied server's requests are audited once per this interval, not each one.
const DENIAL_AUDIT_INTERVAL_MS: u64 = 600_000;
const MAX_DENIALS_TRACKED: usize = 10_000;

/// The cached lists, and when each denied server was last audited.
#[derive(Default)]
pub struct RulesCache {
    active: Mutex<Option<(Instant, Arc<ActiveRules>)>>,
    denials: Mutex<HashMap<String, u64>>,
}

/// The lists in force now.
pub fn rules(state: &AppState) -> Arc<ActiveRules> {
    let mut cached = state
        .federation_rules
        .active
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some((at, active)) = &*cached
        && at.elapsed() < RELOAD_AFTER
    {
        return Arc::clone(active);
    }
    let runtime = state
        .storage
        .settings
        .get::<FederationRules>(FEDERATION_RULES)
        .inspect_err(|e| tracing::warn!(error = %e, "cannot read the federation rules"))
        .ok()
        .flatten();
    let active = Arc::new(match runtime {
        Some(rules) => ActiveRules {
            rules,
            runtime: true,
        },
        None => ActiveRules {
            rules: FederationRules {
                allowed_servers: state.config.federation.allowed_servers.clone(),
                denied_servers: state.config.federation.denied_servers.clone(),
            },
            runtime: false,
        },
    });
    *cached = Some((Instant::now(), Arc::clone(&active)));
    active
}

/// Replaces the lists (`None`: back to the configuration file's), in force at once.
pub async fn set_rules(state: &AppState, rules: Option<&FederationRules>) -> Result<()> {
    let mut batch = state.storage.batch();
    match rules {
        Some(rules) => state
            .storage
            .settings
            .put(&mut batch, FEDERATION_RULES, rules),
        None => state.storage.settings.remove(&mut batch, FEDERATION_RULES),
    }
    state.storage.commit(batch).await?;
    *state
        .federation_rules
        .active
        .lock()
        .unwrap_or_else(PoisonError::into_inner) = None;
    Ok(())
}

/// Whether the lists in force let `server` federate with this one. Unlike a room ACL, a
/// pattern may name a port (`matrix.example.org:8448`); without one it matches the host.
pub fn server_allowed(state: &AppState, server: &str) -> bool {
    let Ok(name) = <&ServerName>::try_from(server) else {
        return false;
    };
    let active = rules(state);
    let matches = |pattern: &String| glob(pattern, server) || glob(pattern, name.host());
    if active.rules.denied_servers.iter().any(matches) {
        return false;
    }
    active.rules.allowed_servers.is_empty() || active.rules.allowed_servers.iter().any(matches)
}

/// Records in the audit trail that a denied server knocked, at most once per interval
/// per server name (the name is as the request claimed it: it is refused before its
/// signature is checked, so this server never fetches a denied server's keys).
pub async fn audit_denial(state: &AppState, origin: &str, path: &str) -> Result<()> {
    let now = citadel_storage::now_ms();
    {
        let mut denials = state
            .federation_rules
            .denials
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if denials
            .get(origin)
            .is_some_and(|at| now.saturating_sub(*at) < DENIAL_AUDIT_INTERVAL_MS)
        {
            return Ok(());
        }
        if denials.len() >= MAX_DENIALS_TRACKED {
            denials.clear();
        }
        denials.insert(origin.to_owned(), now);
    }
    let event = crate::audit::Event::new(origin, "federation.denied", None)
        .details(serde_json::json!({ "path": path }));
    crate::audit::record(state, event).await.map(|_| ())
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
