//! Sliding-sync connections: what each connection has been sent, keyed by the `pos` of
//! the response that sent it.
//!
//! A connection is `(user, device, conn_id)`. Each response gets a new `pos` naming the
//! connection state after it; a request names the state its client holds. The state
//! behind the previous `pos` is kept until a request shows the client got the newer one,
//! so a retried request (a lost response) is answered again from the same state.
//!
//! Positions are `s<stream>_<prefix><n>`: the stream part makes a `pos` usable as a
//! `/messages` token, the random per-process prefix makes positions of an earlier run
//! unknown (`M_UNKNOWN_POS`, and the client starts over) rather than misread. State lives
//! in memory, bounded per device and in total; a restart ends every connection.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use ruma::OwnedRoomId;
use tokio::sync::watch;

use crate::sync::sliding::request::Combined;

/// Connections one device may hold; the least recently used goes first.
const MAX_PER_DEVICE: usize = 10;
/// Connections the server holds in all.
const MAX_TOTAL: usize = 4096;
/// A connection unused this long is forgotten.
const IDLE_SECS: u64 = 24 * 60 * 60;

/// What a connection has been sent.
#[derive(Clone, Debug, Default)]
pub struct ConnState {
    /// The stream boundary of the response: everything below it was considered.
    pub stream: u64,
    /// Rooms sent so far.
    pub rooms: HashMap<OwnedRoomId, RoomSent>,
    /// To-device messages below this position were delivered.
    pub to_device_upto: u64,
    /// Each list's room count in the last response.
    pub list_counts: std::collections::BTreeMap<String, usize>,
}

/// What the connection has of one room.
#[derive(Clone, Debug, Default)]
pub struct RoomSent {
    /// Events and state below this position are the client's.
    pub upto: u64,
    /// The config the room was last sent with.
    pub config: Combined,
    /// The user's membership when it was last sent.
    pub membership: String,
    /// Member events sent by lazy loading.
    pub lazy_members: BTreeSet<String>,
    /// How many of the room's latest events the client has (`usize::MAX`: all of them),
    /// to tell whether a larger `timeline_limit` needs older events sent.
    pub timeline_sent: usize,
    /// Whether the room was a direct chat when last sent.
    pub is_dm: bool,
}

pub struct Connections {
    prefix: String,
    next: AtomicU64,
    inner: Mutex<HashMap<Key, Connection>>,
    /// Shared by every connection: a room's bump stamp is the same for all its members.
    pub bump_stamps: crate::sync::sliding::room::BumpStamps,
}

type Key = (String, String, String);

struct Connection {
    /// States by the `pos` sequence that names them (at most the two newest).
    states: BTreeMap<u64, Arc<ConnState>>,
    last_used: Instant,
    /// Bumped by every request: a waiting request that sees it move was superseded.
    requests: watch::Sender<u64>,
}

/// A request's hold on its connection.
pub struct Turn {
    pub state: Arc<ConnState>,
    /// The sequence of the `pos` it started from.
    from: Option<u64>,
    /// Changes when a newer request for the same connection arrives.
    pub superseded: watch::Receiver<u64>,
}

pub enum Lookup {
    Found(Turn),
    Unknown,
}

impl Default for Connections {
    fn default() -> Self {
        Self::new()
    }
}

impl Connections {
    pub fn new() -> Self {
        Self {
            prefix: crate::auth::token::generate("")[..6].to_owned(),
            next: AtomicU64::new(1),
            inner: Mutex::default(),
            bump_stamps: Default::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Connection>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts a request on a connection: with no `pos`, from nothing (forgetting what the
    /// connection had); with one, from the state it names, if this server issued it to
    /// this user and device on this connection.
    pub fn begin(&self, user: &str, device: &str, conn_id: &str, pos: Option<&str>) -> Lookup {
        let key = (user.to_owned(), device.to_owned(), conn_id.to_owned());
        let mut all = self.lock();
        let now = Instant::now();
        all.retain(|_, c| now.duration_since(c.last_used).as_secs() < IDLE_SECS);
        let Some(pos) = pos else {
            let connection = all.entry(key.clone()).or_insert_with(|| Connection {
                states: BTreeMap::new(),
                last_used: now,
                requests: watch::channel(0).0,
            });
            connection.states.clear();
            connection.last_used = now;
            connection.requests.send_modify(|n| *n += 1);
            let superseded = connection.requests.subscribe();
            Self::bound(&mut all, &key);
            return Lookup::Found(Turn {
                state: Arc::default(),
                from: None,
                superseded,
            });
        };
        let Some(seq) = self.seq_of(pos) else {
            return Lookup::Unknown;
        };
        let Some(connection) = all.get_mut(&key) else {
            return Lookup::Unknown;
        };
        let Some(state) = connection.states.get(&seq).cloned() else {
            return Lookup::Unknown;
        };
        // The client has the state of `pos`: older ones are done with.
        connection.states.retain(|s, _| *s >= seq);
        connection.last_used = now;
        connection.requests.send_modify(|n| *n += 1);
        Lookup::Found(Turn {
            state,
            from: Some(seq),
            superseded: connection.requests.subscribe(),
        })
    }

    /// Records the state after a response to `turn` and returns its `pos`.
    pub fn save(
        &self,
        user: &str,
        device: &str,
        conn_id: &str,
        turn: &Turn,
        state: ConnState,
    ) -> String {
        let seq = self.next.fetch_add(1, Ordering::Relaxed);
        let pos = format!("s{}_{}{seq}", state.stream, self.prefix);
        let key = (user.to_owned(), device.to_owned(), conn_id.to_owned());
        let mut all = self.lock();
        if let Some(connection) = all.get_mut(&key) {
            // The state the request started from (for a retry, should this response be
            // lost) and this one; anything else belongs to responses nobody processed.
            connection.states.retain(|s, _| Some(*s) == turn.from);
            connection.states.insert(seq, Arc::new(state));
        }
        pos
    }

    /// The sequence of a `pos` this process issued.
    fn seq_of(&self, pos: &str) -> Option<u64> {
        let (_, tail) = pos.strip_prefix('s')?.split_once('_')?;
        tail.strip_prefix(&self.prefix)?.parse().ok()
    }

    /// Keeps the device's connections and all connections within their caps.
    fn bound(all: &mut HashMap<Key, Connection>, key: &Key) {
        let mut of_device: Vec<(Instant, Key)> = all
            .iter()
            .filter(|(k, _)| k.0 == key.0 && k.1 == key.1)
            .map(|(k, c)| (c.last_used, k.clone()))
            .collect();
        if of_device.len() > MAX_PER_DEVICE {
            of_device.sort();
            for (_, old) in &of_device[..of_device.len() - MAX_PER_DEVICE] {
                all.remove(old);
            }
        }
        if all.len() > MAX_TOTAL {
            let mut every: Vec<(Instant, Key)> =
                all.iter().map(|(k, c)| (c.last_used, k.clone())).collect();
            every.sort();
            for (_, old) in &every[..every.len() - MAX_TOTAL] {
                all.remove(old);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(lookup: Lookup) -> Turn {
        match lookup {
            Lookup::Found(turn) => turn,
            Lookup::Unknown => panic!("unknown pos"),
        }
    }

    #[test]
    fn positions_belong_to_their_connection_and_survive_one_retry() {
        let c = Connections::new();
        let turn = found(c.begin("@a:x", "D", "main", None));
        let state = ConnState {
            stream: 7,
            ..Default::default()
        };
        let pos = c.save("@a:x", "D", "main", &turn, state);
        assert!(pos.starts_with("s7_"));
        // Another device, user or connection cannot use it.
        for (user, device, conn) in [
            ("@b:x", "D", "main"),
            ("@a:x", "E", "main"),
            ("@a:x", "D", "other"),
        ] {
            assert!(matches!(
                c.begin(user, device, conn, Some(&pos)),
                Lookup::Unknown
            ));
        }
        assert!(matches!(
            c.begin("@a:x", "D", "main", Some("s7_zzz1")),
            Lookup::Unknown
        ));
        assert!(matches!(
            c.begin("@a:x", "D", "main", Some("garbage")),
            Lookup::Unknown
        ));
        // The same pos twice (a retry), then the next one; then the old one is gone.
        assert_eq!(
            found(c.begin("@a:x", "D", "main", Some(&pos))).state.stream,
            7
        );
        let turn = found(c.begin("@a:x", "D", "main", Some(&pos)));
        let next = c.save(
            "@a:x",
            "D",
            "main",
            &turn,
            ConnState {
                stream: 9,
                ..(*turn.state).clone()
            },
        );
        // The response to the retry may be lost too: the first pos still works.
        assert_eq!(
            found(c.begin("@a:x", "D", "main", Some(&pos))).state.stream,
            7
        );
        let turn = found(c.begin("@a:x", "D", "main", Some(&next)));
        assert_eq!(turn.state.stream, 9);
        assert!(matches!(
            c.begin("@a:x", "D", "main", Some(&pos)),
            Lookup::Unknown
        ));
        drop(turn);
    }

    #[test]
    fn a_newer_request_supersedes_a_waiting_one() {
        let c = Connections::new();
        let first = found(c.begin("@a:x", "D", "", None));
        let pos = c.save("@a:x", "D", "", &first, ConnState::default());
        let mut waiting = found(c.begin("@a:x", "D", "", Some(&pos))).superseded;
        waiting.mark_unchanged();
        found(c.begin("@a:x", "D", "", Some(&pos)));
        assert!(waiting.has_changed().unwrap());
        drop(first);
    }

    #[test]
    fn a_device_holds_a_bounded_number_of_connections() {
        let c = Connections::new();
        for i in 0..(MAX_PER_DEVICE + 5) {
            found(c.begin("@a:x", "D", &i.to_string(), None));
        }
        assert_eq!(c.lock().len(), MAX_PER_DEVICE);
    }
}
