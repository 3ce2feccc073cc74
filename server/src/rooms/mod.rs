//! The room engine: building local events, authorizing them against the room's state and
//! appending them (event, indices, extremities, state snapshot and membership in one
//! atomic batch) under a per-room lock.

pub mod acl;
pub mod activity;
pub(crate) mod append;
pub mod backfill;
pub mod canonical_alias;
pub mod create;
pub mod extremities;
pub mod fetch;
pub mod guests;
pub mod hierarchy;
pub mod incoming;
pub mod make_admin;
pub mod members;
pub mod membership;
pub mod purge_history;
pub mod redact_user;
pub mod redaction;
pub mod relations;
pub mod remote_invite;
pub mod remote_join;
pub mod remote_membership;
pub mod servers;
pub mod shutdown;
pub mod state;
pub mod stream;
pub mod tags;
pub mod typing;
pub mod upgrade;
pub mod upgrade_carry;
pub mod visibility;
pub mod walk;

pub use append::append_event;
pub(crate) use append::{Federate, Placement, publish, write};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use citadel_federation::pdu::Pdu;
use citadel_storage::Storage;
use citadel_storage::rooms::timeline::StoredPdu;
use ruma::room_version_rules::RoomVersionRules;
use ruma::{OwnedEventId, OwnedRoomId, RoomId, RoomVersionId};

use crate::api::error::{Error, Result};
use crate::app::AppState;

/// A room this server knows, with its version's rules.
#[derive(Clone)]
pub struct RoomCtx {
    pub room_id: OwnedRoomId,
    pub short: u64,
    pub version: RoomVersionId,
    pub rules: RoomVersionRules,
}

impl RoomCtx {
    /// Loads a known room; `None` when this server has never seen it.
    pub fn load(storage: &Storage, room_id: &RoomId) -> Result<Option<Self>> {
        let Some(meta) = storage.rooms.meta(room_id.as_str())? else {
            return Ok(None);
        };
        let version = RoomVersionId::try_from(meta.version.as_str()).map_err(Error::internal)?;
        let rules = version
            .rules()
            .ok_or_else(|| Error::internal("stored room has an unknown version"))?;
        Ok(Some(Self {
            room_id: room_id.to_owned(),
            short: meta.short_id,
            version,
            rules,
        }))
    }

    /// Like [`load`](Self::load), with `404 M_NOT_FOUND` for unknown rooms.
    pub fn require(storage: &Storage, room_id: &RoomId) -> Result<Self> {
        Self::load(storage, room_id)?.ok_or_else(|| Error::not_found("Unknown room"))
    }
}

/// One async mutex per room: events of a room are built and appended one at a time, so
/// each sees the state and extremities its predecessor left.
#[derive(Default)]
pub struct RoomLocks {
    locks: Mutex<HashMap<OwnedRoomId, Arc<tokio::sync::Mutex<()>>>>,
}

impl RoomLocks {
    pub async fn lock(&self, room_id: &RoomId) -> Result<tokio::sync::OwnedMutexGuard<()>> {
        let lock = {
            let mut locks = self
                .locks
                .lock()
                .map_err(|_| Error::internal("room locks poisoned"))?;
            Arc::clone(locks.entry(room_id.to_owned()).or_default())
        };
        Ok(lock.lock_owned().await)
    }
}

/// Parses a stored event.
pub fn parse_stored(stored: &StoredPdu) -> Result<Pdu> {
    let event_id = OwnedEventId::try_from(stored.event_id.as_str()).map_err(Error::internal)?;
    Pdu::from_text(event_id, stored.pdu.get()).map_err(Error::internal)
}

/// Loads an event by ID, from the timeline or the outliers.
pub fn load_pdu(state: &AppState, event_id: &str) -> Result<Option<Arc<Pdu>>> {
    // Read before loading: an entry cached under it is as new as the stored text.
    let rewrites = state.storage.rooms.timeline.rewrites();
    if let Some(pdu) = state.pdu_cache.by_id(event_id, rewrites) {
        return Ok(Some(pdu));
    }
    if let Some((_, stored)) = state.storage.rooms.timeline.get(event_id)? {
        return state
            .pdu_cache
            .parse_loaded(&stored, Some(rewrites))
            .map(Some);
    }
    match state.storage.rooms.outliers.get(event_id)? {
        Some(stored) => state
            .pdu_cache
            .parse_loaded(&stored, Some(rewrites))
            .map(Some),
        None => Ok(None),
    }
}

/// Recently parsed events, shared. Parsing an event's JSON is most of the cost of
/// reading rooms (sync, authorization); an entry is used only while the stored text is
/// the one it was parsed from (a digest is compared), so a redaction that rewrites an
/// event can never be answered from the cache.
///
/// Two generations approximate least-recently-used eviction at the cost of two maps:
/// when the current one fills up it becomes the previous one (dropping the older), and
/// an entry found in the previous one moves back into the current one.
#[derive(Default)]
pub struct PduCache {
    generations: Mutex<Generations>,
    pub stats: crate::metrics::CacheStats,
}

#[derive(Default)]
struct Generations {
    current: HashMap<String, Entry>,
    previous: HashMap<String, Entry>,
}

struct Entry {
    /// Of the stored text it was parsed from.
    digest: u64,
    /// The rewrite count read before that text was loaded by ID, if it was: only such
    /// entries may answer a lookup by ID without the stored text.
    loaded_at: Option<u64>,
    pdu: Arc<Pdu>,
}

/// How many parsed events one generation of the cache keeps: two generations hold what
/// an initial sync of a thousand rooms reads (about 13 events a room: its state and the
/// last of its timeline), a few tens of MiB at most. With 2,048 such a sync re-parsed
/// every event from the database, and took 24 times as long as one of 100 rooms.
const PDU_CACHE_GENERATION: usize = 16_384;

impl PduCache {
    pub fn parse(&self, stored: &StoredPdu) -> Result<Arc<Pdu>> {
        self.parse_loaded(stored, None)
    }

    /// [`PduCache::parse`] of text [`load_pdu`] loaded after reading `rewrites`.
    fn parse_loaded(&self, stored: &StoredPdu, rewrites: Option<u64>) -> Result<Arc<Pdu>> {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        stored.pdu.get().hash(&mut hasher);
        let digest = hasher.finish();
        if let Ok(mut generations) = self.generations.lock()
            && let Some(mut entry) = generations.take(&stored.event_id)
            // A different text (a redaction) drops the taken entry and parses anew.
            && entry.digest == digest
        {
            if rewrites.is_some() {
                entry.loaded_at = rewrites;
            }
            let pdu = Arc::clone(&entry.pdu);
            generations.insert(stored.event_id.clone(), entry);
            self.stats.hit();
            return Ok(pdu);
        }
        self.stats.miss();
        let pdu = Arc::new(parse_stored(stored)?);
        if let Ok(mut generations) = self.generations.lock() {
            let entry = Entry {
                digest,
                loaded_at: rewrites,
                pdu: Arc::clone(&pdu),
            };
            generations.insert(stored.event_id.clone(), entry);
        }
        Ok(pdu)
    }

    /// The event, if it was loaded by ID and no stored event was rewritten since.
    fn by_id(&self, event_id: &str, rewrites: u64) -> Option<Arc<Pdu>> {
        let generations = self.generations.lock().ok()?;
        let entry = generations
            .current
            .get(event_id)
            .or_else(|| generations.previous.get(event_id))?;
        if entry.loaded_at != Some(rewrites) {
            return None;
        }
        self.stats.hit();
        Some(Arc::clone(&entry.pdu))
    }
}

impl Generations {
    /// Removes the entry (to be put back into the current generation).
    fn take(&mut self, event_id: &str) -> Option<Entry> {
        self.current
            .remove(event_id)
            .or_else(|| self.previous.remove(event_id))
    }

    fn insert(&mut self, event_id: String, entry: Entry) {
        if self.current.len() >= PDU_CACHE_GENERATION {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.insert(event_id, entry);
    }
}

/// Whether this server holds the event at all.
pub fn is_known(state: &AppState, event_id: &str) -> Result<bool> {
    Ok(state.storage.rooms.timeline.pdu_id(event_id)?.is_some()
        || state.storage.rooms.outliers.contains(event_id)?)
}

/// The stream position of an event.
pub fn count_of(state: &AppState, event_id: &str) -> Result<Option<u64>> {
    Ok(state
        .storage
        .rooms
        .timeline
        .pdu_id(event_id)?
        .map(|id| id.count))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(body: &str) -> StoredPdu {
        let text = serde_json::json!({
            "room_id": "!r:a.test", "sender": "@a:a.test", "origin_server_ts": 1,
            "type": "m.room.message", "content": {"body": body}, "depth": 1,
            "prev_events": [], "auth_events": [],
        })
        .to_string();
        StoredPdu {
            event_id: "$e".into(),
            pdu: serde_json::value::RawValue::from_string(text).unwrap(),
        }
    }

    #[test]
    fn the_pdu_cache_never_answers_for_rewritten_text() {
        let cache = PduCache::default();
        let original = cache.parse(&stored("secret")).unwrap();
        assert_eq!(original.content.get(), r#"{"body":"secret"}"#);
        // The same event rewritten (as a redaction does): parsed anew.
        let redacted = cache.parse(&stored("")).unwrap();
        assert_eq!(redacted.content.get(), r#"{"body":""}"#);
        assert_eq!(
            cache.parse(&stored("")).unwrap().content.get(),
            r#"{"body":""}"#
        );
    }
}
