//! State resolution: a thin wrapper over ruma's implementation of state resolution v2
//! (room versions 2 and later). Events come in only through a closure.

use std::collections::{HashMap, HashSet};

use ruma::events::StateEventType;
use ruma::room_version_rules::RoomVersionRules;
use ruma::state_res::utils::event_id_set::EventIdSet;
use ruma::{EventId, OwnedEventId};

use crate::pdu::Pdu;

/// `(type, state_key) → event ID`: one fork's view of a room's state.
pub type StateIds = HashMap<(StateEventType, String), OwnedEventId>;

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("room version {0} uses state resolution v1, which Citadel does not federate")]
    UnsupportedVersion(String),
    #[error("state resolution failed: {0}")]
    Failed(String),
}

/// Resolves several forks of a room's state into one.
///
/// `fetch` must return every event of the forks and of their auth chains; the auth chains
/// themselves are walked here.
pub fn resolve(
    rules: &RoomVersionRules,
    forks: &[StateIds],
    fetch: impl Fn(&EventId) -> Option<std::sync::Arc<Pdu>>,
) -> Result<StateIds, ResolveError> {
    let Some(v2) = rules.state_res.v2_rules() else {
        return Err(ResolveError::UnsupportedVersion(format!(
            "{:?}",
            rules.event_id_format
        )));
    };
    if forks.len() == 1 {
        return Ok(forks[0].clone());
    }
    let auth_chains = forks
        .iter()
        .map(|fork| {
            let mut set = EventIdSet::new();
            for id in auth_chain(fork.values(), &fetch) {
                set.insert(id);
            }
            set
        })
        .collect();
    ruma::state_res::resolve(
        &rules.authorization,
        v2,
        forks.iter(),
        auth_chains,
        &fetch,
        |conflicted| Some(conflicted_subgraph(conflicted, &fetch)),
    )
    .map_err(|e| ResolveError::Failed(e.to_string()))
}

/// Every event reachable from `start` through `auth_events` (not including `start`
/// itself unless another start event cites it).
pub fn auth_chain<'a>(
    start: impl IntoIterator<Item = &'a OwnedEventId>,
    fetch: &impl Fn(&EventId) -> Option<std::sync::Arc<Pdu>>,
) -> HashSet<OwnedEventId> {
    let mut seen = HashSet::new();
    let mut todo: Vec<OwnedEventId> = Vec::new();
    for id in start {
        if let Some(pdu) = fetch(id) {
            todo.extend(pdu.auth_events.iter().cloned());
        }
    }
    while let Some(id) = todo.pop() {
        if !seen.insert(id.clone()) {
            continue;
        }
        if let Some(pdu) = fetch(&id) {
            todo.extend(
                pdu.auth_events
                    .iter()
                    .filter(|a| !seen.contains(*a))
                    .cloned(),
            );
        }
    }
    seen
}

/// The conflicted state subgraph of room version 12: every event on an `auth_events` path
/// from one conflicted event to another (the conflicted events included).
fn conflicted_subgraph(
    conflicted: &ruma::state_res::StateMap<Vec<OwnedEventId>>,
    fetch: &impl Fn(&EventId) -> Option<std::sync::Arc<Pdu>>,
) -> EventIdSet<OwnedEventId> {
    let targets: HashSet<OwnedEventId> = conflicted.values().flatten().cloned().collect();
    // reaches[x]: whether x is a conflicted event or leads to one through auth events.
    let mut reaches: HashMap<OwnedEventId, bool> = HashMap::new();
    for start in &targets {
        // Iterative post-order walk, so deep auth chains cannot overflow the stack.
        let mut stack = vec![(start.clone(), false)];
        while let Some((id, expanded)) = stack.pop() {
            if reaches.contains_key(&id) && !expanded {
                continue;
            }
            let parents = fetch(&id)
                .map(|p| p.auth_events.clone())
                .unwrap_or_default();
            if expanded {
                let leads = targets.contains(&id)
                    || parents
                        .iter()
                        .any(|p| reaches.get(p).copied() == Some(true));
                reaches.insert(id, leads);
            } else {
                // Mark as in progress (false) so cycles, which a valid DAG has not, end.
                reaches.insert(id.clone(), false);
                stack.push((id, true));
                for parent in parents {
                    if !reaches.contains_key(&parent) {
                        stack.push((parent, false));
                    }
                }
            }
        }
    }
    let mut set = EventIdSet::new();
    for (id, leads) in reaches {
        if leads {
            set.insert(id);
        }
    }
    set
}
