//! The state every handler receives explicitly (no global singletons).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use citadel_federation::signing::ServerSigningKey;
use citadel_storage::{EngineOptions, Storage, StorageError, now_ms};

use crate::config::Config;
use crate::policy::rate_limit::RateLimiter;

pub struct AppState {
    pub config: Arc<Config>,
    pub storage: Storage,
    pub signing_key: Arc<ServerSigningKey>,
    /// Signed requests to other servers.
    pub federation: Arc<citadel_federation::client::FederationClient>,
    /// Delivers the federation outbox; started with the HTTP server (not for CLI use).
    pub sender: std::sync::OnceLock<citadel_federation::sender::Sender>,
    pub login_limiter: RateLimiter,
    pub registration_limiter: RateLimiter,
    /// Wrong passwords per account (login and user-interactive auth).
    pub failed_login_limiter: RateLimiter,
    /// Hashes and verifies passwords on a small dedicated pool.
    pub hasher: crate::auth::password::Hasher,
    /// Media uploads per user.
    pub media_upload_limiter: RateLimiter,
    /// Events sent per user (see [`crate::policy::rate_limit::check_send`]).
    pub message_limiter: RateLimiter,
    /// The federation allow/deny lists in force.
    pub federation_rules: crate::rooms::acl::RulesCache,
    /// Uploaded files.
    pub media_store: crate::media::MediaStore,
    /// Single-use nonces of the shared-secret admin APIs, with their issue time.
    pub shared_secret_nonces: Mutex<HashMap<String, u64>>,
    /// One lock per room: its events are appended one at a time.
    pub room_locks: crate::rooms::RoomLocks,
    /// Strictly increasing timestamps for create events (see `rooms::create`).
    pub create_clock: crate::rooms::create::CreateClock,
    /// Recently parsed events.
    pub pdu_cache: crate::rooms::PduCache,
    /// Recently built `rooms` sections of initial syncs.
    pub initial_sync_cache: crate::sync::cache::InitialSyncCache,
    /// Which lazy-loaded member events each device was sent.
    pub lazy_members_cache: crate::sync::lazy_members::LazyMembersCache,
    /// Who is in which room, per state snapshot.
    pub members_cache: crate::rooms::members::MembersCache,
    pub push_cache: crate::push::cache::PushCache,
    /// Stream positions in flight, so readers never skip an uncommitted one.
    pub stream: Arc<crate::rooms::stream::StreamPositions>,
    /// Who is typing where.
    pub typing: crate::rooms::typing::Typing,
    /// Presence of local users, in memory.
    pub presence: Mutex<HashMap<String, crate::presence::PresenceRecord>>,
    /// Wakes long-polling `/sync` requests.
    pub notifier: std::sync::Arc<crate::sync::notifier::Notifier>,
    pub metrics: crate::metrics::Metrics,
    /// When this process opened the state, for the admin summary's uptime.
    pub started: std::time::Instant,
    pub server_notices: crate::server_notices::ServerNotices,
    /// Sliding-sync connections and what each has been sent.
    pub sliding_sync: crate::sync::sliding::connection::Connections,
    /// `http.trusted_proxies`, parsed once (the configuration was validated at start-up).
    pub trusted_proxies: Vec<crate::api::forwarded::Network>,
    /// Permits for requests with a body and no credentials (`http.max_unauthenticated_requests`).
    pub unauthenticated: Arc<tokio::sync::Semaphore>,
    /// When each device's "last seen" was last written, to write it at most once a minute.
    last_seen_written: Mutex<HashMap<(String, String), u64>>,
}

/// How often a device's last-seen time and address are written back.
const LAST_SEEN_WRITE_INTERVAL_MS: u64 = 60_000;

impl AppState {
    /// Opens the database and loads (or creates) the signing key.
    pub fn open(config: Config) -> Result<Self, OpenError> {
        std::fs::create_dir_all(&config.data_dir).map_err(|e| {
            OpenError::Other(format!(
                "cannot create data_dir {}: {e}",
                config.data_dir.display()
            ))
        })?;
        let options = EngineOptions {
            cache_bytes: config.database.cache_mb * 1024 * 1024,
        };
        let storage = Storage::open(&config.database_path(), &options).map_err(|e| match e {
            StorageError::Locked(path) => OpenError::Locked(path),
            other => OpenError::Other(other.to_string()),
        })?;
        let signing_key = ServerSigningKey::load_or_generate(&storage, &config.server_name)
            .map_err(|e| OpenError::Other(e.to_string()))?;
        let signing_key = Arc::new(signing_key);
        let mut extra_roots = Vec::new();
        for path in &config.federation.extra_ca_certificates {
            extra_roots.push(
                std::fs::read(path).map_err(|e| {
                    OpenError::Other(format!("cannot read {}: {e}", path.display()))
                })?,
            );
        }
        let tls = citadel_federation::client::TlsOptions {
            accept_invalid_certificates: !config.federation.verify_tls,
            extra_roots,
        };
        let federation =
            citadel_federation::client::FederationClient::new(Arc::clone(&signing_key), &tls)
                .map_err(|e| OpenError::Other(e.to_string()))?
                .with_notaries(config.federation.trusted_key_servers.clone());
        let enabled = config.rate_limits.enabled;
        Ok(Self {
            login_limiter: RateLimiter::new(enabled, &config.rate_limits.login),
            registration_limiter: RateLimiter::new(enabled, &config.rate_limits.registration),
            failed_login_limiter: RateLimiter::new(enabled, &config.rate_limits.failed_login),
            media_upload_limiter: RateLimiter::new(enabled, &config.media.uploads),
            message_limiter: RateLimiter::new(enabled, &config.rate_limits.messages),
            federation_rules: Default::default(),
            hasher: crate::auth::password::Hasher::new(
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(2),
            ),
            media_store: crate::media::MediaStore::new(&config.data_dir).map_err(|e| {
                OpenError::Other(format!("cannot prepare the media directory: {e}"))
            })?,
            trusted_proxies: config
                .http
                .trusted_proxies
                .iter()
                .filter_map(|p| p.parse().ok())
                .collect(),
            unauthenticated: Arc::new(tokio::sync::Semaphore::new(
                config.http.max_unauthenticated_requests.max(1),
            )),
            config: Arc::new(config),
            storage,
            signing_key,
            federation: Arc::new(federation),
            sender: std::sync::OnceLock::new(),
            shared_secret_nonces: Mutex::new(HashMap::new()),
            room_locks: Default::default(),
            create_clock: Default::default(),
            pdu_cache: Default::default(),
            initial_sync_cache: Default::default(),
            lazy_members_cache: Default::default(),
            members_cache: Default::default(),
            push_cache: Default::default(),
            stream: Default::default(),
            notifier: Default::default(),
            sliding_sync: crate::sync::sliding::connection::Connections::new(),
            metrics: crate::metrics::Metrics::new(),
            started: std::time::Instant::now(),
            server_notices: Default::default(),
            typing: Default::default(),
            presence: Mutex::new(HashMap::new()),
            last_seen_written: Mutex::new(HashMap::new()),
        })
    }

    /// Tells the delivery task of `destination` that something was queued for it.
    pub fn wake_sender(&self, destination: &str) {
        if let Some(sender) = self.sender.get() {
            sender.wake(destination);
        }
    }

    pub fn server_name(&self) -> &str {
        &self.config.server_name
    }

    /// `@localpart:server_name`.
    pub fn user_id(&self, localpart: &str) -> String {
        format!("@{localpart}:{}", self.config.server_name)
    }

    /// Records that a device made a request, writing it through at most once a minute.
    pub fn note_device_seen(&self, user_id: &str, device_id: &str, ip: IpAddr) {
        let now = now_ms();
        {
            let Ok(mut written) = self.last_seen_written.lock() else {
                return;
            };
            let key = (user_id.to_owned(), device_id.to_owned());
            if written
                .get(&key)
                .is_some_and(|t| now.saturating_sub(*t) < LAST_SEEN_WRITE_INTERVAL_MS)
            {
                return;
            }
            if written.len() > 100_000 {
                written.clear();
            }
            written.insert(key, now);
        }
        if let Err(e) = self
            .storage
            .devices
            .touch(user_id, device_id, &ip.to_string(), now)
        {
            tracing::warn!(error = %e, "could not record device last-seen");
        }
    }
}

/// Why the server state could not be opened.
#[derive(Debug)]
pub enum OpenError {
    /// Another process (a running server) holds the database.
    Locked(String),
    Other(String),
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::Locked(path) => {
                write!(f, "the database at {path} is in use by another process")
            }
            OpenError::Other(message) => f.write_str(message),
        }
    }
}
