//! Event authorization: a thin wrapper over ruma's implementation of the spec's
//! authorization rules. Storage comes in only through the closures.

use ruma::EventId;
use ruma::events::StateEventType;
use ruma::room_version_rules::RoomVersionRules;
use ruma::state_res::{check_state_dependent_auth_rules, check_state_independent_auth_rules};

use crate::pdu::Pdu;

/// Why an event is not allowed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NotAuthorized(pub String);

/// Checks `pdu` against its own `auth_events` (fetched with `fetch_event`) and against the
/// room state it is to be applied to (`fetch_state`).
pub fn authorize(
    rules: &RoomVersionRules,
    pdu: &Pdu,
    fetch_event: impl Fn(&EventId) -> Option<std::sync::Arc<Pdu>>,
    fetch_state: impl Fn(&StateEventType, &str) -> Option<std::sync::Arc<Pdu>>,
) -> Result<(), NotAuthorized> {
    check_state_independent_auth_rules(&rules.authorization, pdu, &fetch_event)
        .map_err(NotAuthorized)?;
    check_state_dependent_auth_rules(&rules.authorization, pdu, &fetch_state).map_err(NotAuthorized)
}

/// The `(type, state_key)` pairs whose current events a new event must cite as its
/// `auth_events`.
pub fn auth_types(
    rules: &RoomVersionRules,
    kind: &ruma::events::TimelineEventType,
    sender: &ruma::UserId,
    state_key: Option<&str>,
    content: &serde_json::value::RawValue,
) -> Result<Vec<(StateEventType, String)>, NotAuthorized> {
    ruma::state_res::auth_types_for_event(kind, sender, state_key, content, &rules.authorization)
        .map_err(NotAuthorized)
}
