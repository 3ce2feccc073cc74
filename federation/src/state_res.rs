//! State resolution: a thin wrapper over ruma's implementation of state resolution v2
//! (room versions 2 and later). Events come in only through a closure.
//!
//! Room version 1 resolves with the v1 algorithm, which ruma does not implement (and
//! which we do not write ourselves). Its first step is exact and common: forks that do
//! not conflict resolve to their union. Forks of a version 1 room that do conflict are
//! refused ([`ResolveError::ConflictInVersion1`]).

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
    #[error(
        "conflicting state in a room version 1 room: state resolution v1 is not available \
         (ruma implements v2 only)"
    )]
    ConflictInVersion1,
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
    if forks.len() == 1 {
        return Ok(forks[0].clone());
    }
    let Some(v2) = rules.state_res.v2_rules() else {
        return unconflicted_union(forks);
    };
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

/// State resolution v1's starting point, "the union of the states to be resolved,
/// excluding any conflicting events" (rooms/v1, "State resolution"): when nothing
/// conflicts, that union is the resolved state.
fn unconflicted_union(forks: &[StateIds]) -> Result<StateIds, ResolveError> {
    let mut union = StateIds::new();
    for fork in forks {
        for (key, id) in fork {
            match union.get(key) {
                Some(existing) if existing != id => return Err(ResolveError::ConflictInVersion1),
                Some(_) => {}
                None => {
                    union.insert(key.clone(), id.clone());
                }
            }
        }
    }
    Ok(union)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn fork(entries: &[(&str, &str, &str)]) -> StateIds {
        entries
            .iter()
            .map(|(kind, key, id)| {
                (
                    (StateEventType::from(*kind), (*key).to_owned()),
                    OwnedEventId::try_from(*id).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn version_1_forks_without_conflicts_resolve_to_their_union() {
        let rules = ruma::RoomVersionId::V1.rules().unwrap();
        let a = fork(&[
            ("m.room.create", "", "$c:x"),
            ("m.room.member", "@a:x", "$a:x"),
        ]);
        let b = fork(&[
            ("m.room.create", "", "$c:x"),
            ("m.room.member", "@b:y", "$b:y"),
        ]);
        let resolved = resolve(&rules, &[a, b], |_| None).unwrap();
        assert_eq!(
            resolved,
            fork(&[
                ("m.room.create", "", "$c:x"),
                ("m.room.member", "@a:x", "$a:x"),
                ("m.room.member", "@b:y", "$b:y"),
            ])
        );
    }

    #[test]
    fn version_1_forks_that_conflict_are_refused() {
        let rules = ruma::RoomVersionId::V1.rules().unwrap();
        let a = fork(&[("m.room.name", "", "$one:x")]);
        let b = fork(&[("m.room.name", "", "$two:y")]);
        assert!(matches!(
            resolve(&rules, &[a, b], |_| None),
            Err(ResolveError::ConflictInVersion1)
        ));
    }
}
