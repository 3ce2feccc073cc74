//! A sliding-sync request (MSC4186) in one shape, parsed from either wire form: the
//! unstable `org.matrix.simplified_msc3575` body Synapse serves and matrix-rust-sdk sends
//! (`ranges`, `[type, state_key]` pairs, `is_invite`, `pos`/`timeout` in the query), or the
//! stable `v4` body (`range`, `include`/`exclude`/`lazy_members`, `is_invited`, every
//! parameter in the body).

use std::collections::BTreeMap;

use ruma::OwnedRoomId;
use serde::Deserialize;

use crate::api::error::{Error, Result};

/// At most this many lists, and this many room subscriptions, per request (the MSC's).
pub const MAX_LISTS: usize = 100;
pub const MAX_SUBSCRIPTIONS: usize = 100;
/// Timeline events per room are capped here (the MSC lets the server cap them).
pub const MAX_TIMELINE_LIMIT: u64 = 100;
/// Longest long-poll honoured.
pub const MAX_TIMEOUT_MS: u64 = 60_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// `/_matrix/client/unstable/org.matrix.simplified_msc3575/sync`
    Unstable,
    /// `/_matrix/client/v4/sync`
    Stable,
}

#[derive(Debug)]
pub struct SlidingRequest {
    pub conn_id: String,
    pub pos: Option<String>,
    pub timeout_ms: u64,
    /// `None`: do not mark the user online (`set_presence: offline`).
    pub set_presence: Option<ruma::presence::PresenceState>,
    pub txn_id: Option<String>,
    pub lists: BTreeMap<String, ListConfig>,
    pub subscriptions: BTreeMap<OwnedRoomId, RoomConfig>,
    pub extensions: Extensions,
}

#[derive(Clone, Debug)]
pub struct ListConfig {
    /// Inclusive index ranges into the filtered list; `None`: every room.
    pub ranges: Option<Vec<(u64, u64)>>,
    pub config: RoomConfig,
    pub filters: Filters,
}

/// What to send of a room: how many timeline events and which state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomConfig {
    pub timeline_limit: usize,
    pub required_state: RequiredState,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequiredState {
    pub include: Vec<StateMatch>,
    pub exclude: Vec<StateMatch>,
    pub lazy_members: bool,
}

/// Matches state events by type and state key; `None` matches any. The state key `$ME`
/// stands for the requesting user.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StateMatch {
    pub kind: Option<String>,
    pub state_key: Option<String>,
}

impl StateMatch {
    pub fn matches(&self, kind: &str, state_key: &str, me: &str) -> bool {
        self.kind.as_deref().is_none_or(|k| k == kind)
            && self
                .state_key
                .as_deref()
                .is_none_or(|k| k == state_key || (k == "$ME" && state_key == me))
    }

    /// Matches every member event (wildcard key), which makes lazy loading moot.
    fn all_members(&self) -> bool {
        self.state_key.is_none() && self.kind.as_deref().is_none_or(|k| k == "m.room.member")
    }
}

impl RequiredState {
    pub fn wants(&self, kind: &str, state_key: &str, me: &str) -> bool {
        self.include.iter().any(|m| m.matches(kind, state_key, me))
            && !self.exclude.iter().any(|m| m.matches(kind, state_key, me))
    }

    fn all_members(&self) -> bool {
        !self.lazy_members && self.include.iter().any(StateMatch::all_members)
    }

    pub fn asks_for_anything(&self) -> bool {
        self.lazy_members || !self.include.is_empty()
    }
}

#[derive(Clone, Debug, Default)]
pub struct Filters {
    pub is_dm: Option<bool>,
    pub is_encrypted: Option<bool>,
    pub is_invited: Option<bool>,
    pub spaces: Option<Vec<String>>,
    /// `None` inside: rooms without a type.
    pub room_types: Option<Vec<Option<String>>>,
    pub not_room_types: Option<Vec<Option<String>>>,
    pub tags: Option<Vec<String>>,
    pub not_tags: Option<Vec<String>>,
}

#[derive(Clone, Debug, Default)]
pub struct Extensions {
    pub to_device: Option<ToDevice>,
    pub e2ee: bool,
    pub account_data: Option<Scope>,
    pub receipts: Option<Scope>,
    pub typing: Option<Scope>,
}

#[derive(Clone, Debug, Default)]
pub struct ToDevice {
    pub since: Option<String>,
    pub limit: usize,
}

/// Which of the response's rooms an extension covers: rooms of these lists and these
/// subscriptions (`*`: all); `None` for both means all of them.
#[derive(Clone, Debug, Default)]
pub struct Scope {
    pub lists: Option<Vec<String>>,
    pub rooms: Option<Vec<String>>,
}

/// A room's configs from every rule it matches, combined as the MSC says: the largest
/// timeline limit, and state any of them asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Combined {
    pub timeline_limit: usize,
    pub required_state: Vec<RequiredState>,
}

impl Combined {
    pub fn add(&mut self, config: &RoomConfig) {
        self.timeline_limit = self.timeline_limit.max(config.timeline_limit);
        if !self.required_state.contains(&config.required_state) {
            self.required_state.push(config.required_state.clone());
        }
    }

    pub fn wants(&self, kind: &str, state_key: &str, me: &str) -> bool {
        self.required_state
            .iter()
            .any(|r| r.wants(kind, state_key, me))
    }

    /// Lazy members apply when a config asks for them and none asks for all members.
    pub fn lazy_members(&self) -> bool {
        self.required_state.iter().any(|r| r.lazy_members)
            && !self.required_state.iter().any(RequiredState::all_members)
    }
}

// --- Wire forms ---

#[derive(Deserialize)]
struct Body {
    conn_id: Option<String>,
    txn_id: Option<String>,
    // Stable: in the body. Unstable: in the query (also accepted here).
    pos: Option<String>,
    timeout: Option<u64>,
    set_presence: Option<String>,
    #[serde(default)]
    lists: BTreeMap<String, WireList>,
    #[serde(default)]
    room_subscriptions: BTreeMap<String, WireRoomConfig>,
    #[serde(default)]
    extensions: WireExtensions,
}

#[derive(Deserialize)]
struct WireList {
    ranges: Option<Vec<(u64, u64)>>,
    range: Option<(u64, u64)>,
    #[serde(flatten)]
    config: WireRoomConfig,
    #[serde(default)]
    filters: WireFilters,
}

#[derive(Deserialize)]
struct WireRoomConfig {
    timeline_limit: u64,
    #[serde(default)]
    required_state: Option<serde_json::Value>,
}

#[derive(Deserialize, Default)]
struct WireFilters {
    is_dm: Option<bool>,
    is_encrypted: Option<bool>,
    is_invite: Option<bool>,
    is_invited: Option<bool>,
    spaces: Option<Vec<String>>,
    room_types: Option<Vec<Option<String>>>,
    not_room_types: Option<Vec<Option<String>>>,
    tags: Option<Vec<String>>,
    not_tags: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
struct WireExtensions {
    to_device: Option<WireToDevice>,
    e2ee: Option<WireEnabled>,
    account_data: Option<WireScope>,
    receipts: Option<WireScope>,
    typing: Option<WireScope>,
}

#[derive(Deserialize)]
struct WireEnabled {
    enabled: Option<bool>,
}

#[derive(Deserialize)]
struct WireToDevice {
    enabled: Option<bool>,
    since: Option<String>,
    limit: Option<u64>,
}

#[derive(Deserialize)]
struct WireScope {
    enabled: Option<bool>,
    lists: Option<Vec<String>>,
    rooms: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct WireStableRequiredState {
    #[serde(default)]
    include: Vec<WireStateMatch>,
    #[serde(default)]
    exclude: Vec<WireStateMatch>,
    #[serde(default)]
    lazy_members: bool,
}

#[derive(Deserialize)]
struct WireStateMatch {
    #[serde(rename = "type")]
    kind: Option<String>,
    state_key: Option<String>,
}

/// Query parameters of the unstable endpoint.
#[derive(Deserialize, Default)]
pub struct Query {
    pos: Option<String>,
    timeout: Option<u64>,
    set_presence: Option<String>,
}

/// Parses and checks a request body (and, for the unstable endpoint, its query).
pub fn parse(flavor: Flavor, body: &[u8], query: Query) -> Result<SlidingRequest> {
    // Syntax first (`M_NOT_JSON`), then shape (`M_BAD_JSON`, `M_MISSING_PARAM`).
    let value: serde_json::Value = if body.iter().all(u8::is_ascii_whitespace) {
        serde_json::Value::Object(Default::default())
    } else {
        crate::api::error::parse_json(body)?
    };
    let body: Body =
        serde_json::from_value(value).map_err(|e| crate::api::error::from_json_error(&e))?;
    if body.lists.len() > MAX_LISTS {
        return Err(Error::invalid_param(format!(
            "At most {MAX_LISTS} lists per request"
        )));
    }
    if body.room_subscriptions.len() > MAX_SUBSCRIPTIONS {
        return Err(Error::invalid_param(format!(
            "At most {MAX_SUBSCRIPTIONS} room subscriptions per request"
        )));
    }
    let set_presence = match query.set_presence.or(body.set_presence).as_deref() {
        None | Some("online") => Some(ruma::presence::PresenceState::Online),
        Some("unavailable") => Some(ruma::presence::PresenceState::Unavailable),
        Some("offline") => None,
        Some(other) => {
            return Err(Error::invalid_param(format!(
                "set_presence must be online, offline or unavailable, not {other:?}"
            )));
        }
    };
    let mut lists = BTreeMap::new();
    for (name, list) in body.lists {
        let ranges = match (list.range, list.ranges) {
            (Some(range), _) => Some(vec![range]),
            (None, ranges) => ranges,
        };
        for (start, end) in ranges.iter().flatten() {
            if start > end {
                return Err(Error::invalid_param(format!(
                    "List {name:?}: range [{start}, {end}] ends before it starts"
                )));
            }
        }
        let config = room_config(flavor, list.config)?;
        let f = list.filters;
        lists.insert(
            name,
            ListConfig {
                ranges,
                config,
                filters: Filters {
                    is_dm: f.is_dm,
                    is_encrypted: f.is_encrypted,
                    is_invited: f.is_invited.or(f.is_invite),
                    spaces: f.spaces,
                    room_types: f.room_types,
                    not_room_types: f.not_room_types,
                    tags: f.tags,
                    not_tags: f.not_tags,
                },
            },
        );
    }
    let mut subscriptions = BTreeMap::new();
    for (room_id, config) in body.room_subscriptions {
        let room_id = OwnedRoomId::try_from(room_id.as_str())
            .map_err(|_| Error::invalid_param(format!("Invalid room ID {room_id:?}")))?;
        subscriptions.insert(room_id, room_config(flavor, config)?);
    }
    let e = body.extensions;
    let scope = |s: Option<WireScope>| {
        s.filter(|s| s.enabled == Some(true)).map(|s| Scope {
            lists: s.lists,
            rooms: s.rooms,
        })
    };
    let extensions = Extensions {
        to_device: e
            .to_device
            .filter(|t| t.enabled == Some(true))
            .map(|t| ToDevice {
                since: t.since,
                limit: t.limit.unwrap_or(100).clamp(1, 1000) as usize,
            }),
        e2ee: e.e2ee.is_some_and(|x| x.enabled == Some(true)),
        account_data: scope(e.account_data),
        receipts: scope(e.receipts),
        typing: scope(e.typing),
    };
    Ok(SlidingRequest {
        conn_id: body.conn_id.unwrap_or_default(),
        pos: query.pos.or(body.pos),
        timeout_ms: query
            .timeout
            .or(body.timeout)
            .unwrap_or(0)
            .min(MAX_TIMEOUT_MS),
        set_presence,
        txn_id: body.txn_id,
        lists,
        subscriptions,
        extensions,
    })
}

fn room_config(flavor: Flavor, wire: WireRoomConfig) -> Result<RoomConfig> {
    let required_state = match wire.required_state {
        None | Some(serde_json::Value::Null) => RequiredState::default(),
        Some(value) => match (flavor, value) {
            // The unstable form is a list of pairs; accept it on either endpoint, and the
            // stable object form too.
            (_, serde_json::Value::Array(pairs)) => unstable_required_state(pairs)?,
            (_, object) => stable_required_state(object)?,
        },
    };
    Ok(RoomConfig {
        timeline_limit: wire.timeline_limit.min(MAX_TIMELINE_LIMIT) as usize,
        required_state,
    })
}

/// `[["m.room.create", ""], ["*", "*"], ["m.room.member", "$LAZY"], …]`
fn unstable_required_state(pairs: Vec<serde_json::Value>) -> Result<RequiredState> {
    let mut out = RequiredState::default();
    for pair in pairs {
        let (kind, key): (String, String) = serde_json::from_value(pair).map_err(|e| {
            Error::bad_json(format!(
                "required_state entries are [type, state_key] pairs: {e}"
            ))
        })?;
        let wildcard = |s: &str| (s != "*").then(|| s.to_owned());
        if kind == "m.room.member" && key == "$LAZY" {
            out.lazy_members = true;
            continue;
        }
        out.include.push(StateMatch {
            kind: wildcard(&kind),
            state_key: wildcard(&key),
        });
    }
    Ok(out)
}

/// `{"include": [{"type": …, "state_key": …}], "exclude": […], "lazy_members": true}`
fn stable_required_state(value: serde_json::Value) -> Result<RequiredState> {
    let wire: WireStableRequiredState = serde_json::from_value(value)
        .map_err(|e| Error::bad_json(format!("Invalid required_state: {e}")))?;
    let convert = |m: WireStateMatch| StateMatch {
        kind: m.kind,
        state_key: m.state_key,
    };
    Ok(RequiredState {
        include: wire.include.into_iter().map(convert).collect(),
        exclude: wire.exclude.into_iter().map(convert).collect(),
        lazy_members: wire.lazy_members,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_body(flavor: Flavor, body: &str) -> Result<SlidingRequest> {
        parse(flavor, body.as_bytes(), Query::default())
    }

    #[test]
    fn both_forms_parse_to_the_same_model() {
        let unstable = parse_body(
            Flavor::Unstable,
            r#"{"lists": {"all": {"ranges": [[0, 19]], "timeline_limit": 1,
                "required_state": [["m.room.create", ""], ["m.room.member", "$LAZY"], ["m.room.member", "$ME"]],
                "filters": {"is_invite": false}}}}"#,
        )
        .unwrap();
        let stable = parse_body(
            Flavor::Stable,
            r#"{"lists": {"all": {"range": [0, 19], "timeline_limit": 1,
                "required_state": {"include": [{"type": "m.room.create", "state_key": ""},
                    {"type": "m.room.member", "state_key": "$ME"}], "lazy_members": true},
                "filters": {"is_invited": false}}}}"#,
        )
        .unwrap();
        for request in [&unstable, &stable] {
            let list = &request.lists["all"];
            assert_eq!(list.ranges, Some(vec![(0, 19)]));
            assert_eq!(list.filters.is_invited, Some(false));
            let rs = &list.config.required_state;
            assert!(rs.lazy_members);
            assert!(rs.wants("m.room.create", "", "@me:x"));
            assert!(rs.wants("m.room.member", "@me:x", "@me:x"));
            assert!(!rs.wants("m.room.member", "@other:x", "@me:x"));
        }
    }

    #[test]
    fn wildcards_and_exclusions() {
        let request = parse_body(
            Flavor::Stable,
            r#"{"room_subscriptions": {"!a:x": {"timeline_limit": 500,
                "required_state": {"include": [{}], "exclude": [{"type": "m.room.create"}]}}}}"#,
        )
        .unwrap();
        let config = &request.subscriptions.values().next().unwrap();
        assert_eq!(config.timeline_limit, MAX_TIMELINE_LIMIT as usize);
        let rs = &config.required_state;
        assert!(rs.wants("m.room.name", "", "@me:x"));
        assert!(!rs.wants("m.room.create", "", "@me:x"));
        let mut combined = Combined::default();
        combined.add(config);
        combined.add(&RoomConfig {
            timeline_limit: 1,
            required_state: RequiredState {
                lazy_members: true,
                ..Default::default()
            },
        });
        // One config sends every member: lazy loading does not apply.
        assert!(!combined.lazy_members());
        assert_eq!(combined.timeline_limit, MAX_TIMELINE_LIMIT as usize);
    }

    #[test]
    fn bad_input_gets_the_right_errors() {
        let errcode = |flavor, body: &str| match parse_body(flavor, body) {
            Err(Error::Matrix { errcode, .. }) => errcode,
            other => panic!("{body}: {other:?}"),
        };
        assert_eq!(
            errcode(
                Flavor::Stable,
                r#"{"lists": {"a": {"range": [5, 2], "timeline_limit": 1}}}"#
            ),
            "M_INVALID_PARAM"
        );
        assert_eq!(
            errcode(
                Flavor::Unstable,
                r#"{"lists": {"a": {"ranges": [[-1, 2]], "timeline_limit": 1}}}"#
            ),
            "M_BAD_JSON"
        );
        assert_eq!(
            errcode(Flavor::Stable, r#"{"lists": {"a": {"range": [0, 1]}}}"#),
            "M_MISSING_PARAM"
        );
        assert_eq!(
            errcode(Flavor::Stable, r#"{"set_presence": "away"}"#),
            "M_INVALID_PARAM"
        );
        assert_eq!(errcode(Flavor::Stable, r#"[1]"#), "M_BAD_JSON");
        let many: serde_json::Map<String, serde_json::Value> = (0..=MAX_SUBSCRIPTIONS)
            .map(|i| (format!("!r{i}:x"), serde_json::json!({"timeline_limit": 1})))
            .collect();
        let body = serde_json::json!({ "room_subscriptions": many }).to_string();
        assert_eq!(errcode(Flavor::Stable, &body), "M_INVALID_PARAM");
        // A huge range end is clamped later to the list's length, not refused; unknown
        // filter fields are ignored, as unknown fields are everywhere in Matrix.
        let ok = parse_body(
            Flavor::Stable,
            r#"{"lists": {"a": {"range": [0, 18446744073709551615], "timeline_limit": 1,
                "filters": {"some_future_filter": true}}}}"#,
        );
        assert!(ok.is_ok());
    }
}
