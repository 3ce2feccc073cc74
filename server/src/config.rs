//! The server configuration: one TOML file, one serde struct.
//!
//! Every field has a default equal to what `config.example.toml` documents, so the server
//! runs with no file at all (`cargo run --release`). Unknown keys are rejected so that a
//! typo is an error rather than a silently ignored setting. `CITADEL_SECTION__KEY=value`
//! environment variables override the file (the value is read as TOML, falling back to a
//! plain string). [`Config::validate`] reports every problem at once.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The domain in every user ID (`@alice:<server_name>`). Cannot change later.
    pub server_name: String,
    /// Public URL clients use to reach this server; derived from the first bind address
    /// when unset.
    pub public_baseurl: Option<String>,
    /// Where the database and other state live.
    pub data_dir: PathBuf,
    /// Log filter (`tracing` env-filter syntax); `RUST_LOG` wins when set.
    pub log: String,
    pub http: HttpConfig,
    pub tls: Option<TlsConfig>,
    pub database: DatabaseConfig,
    pub registration: RegistrationConfig,
    pub auth: AuthConfig,
    pub rate_limits: RateLimitsConfig,
    pub well_known: WellKnownConfig,
    pub e2ee: E2eeConfig,
    pub media: MediaConfig,
    pub federation: FederationConfig,
    pub metrics: MetricsConfig,
    pub server_notices: ServerNoticesConfig,
    pub audit: AuditConfig,
}

/// The audit trail.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// Entries older than this many days are removed at start-up (their leaf hashes stay,
    /// so the trail still verifies); 0 keeps everything.
    pub retention_days: u64,
}

/// The system user that sends server notices, and its notices rooms.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerNoticesConfig {
    pub localpart: String,
    pub display_name: String,
    pub room_name: String,
}

impl Default for ServerNoticesConfig {
    fn default() -> Self {
        Self {
            localpart: "server".into(),
            display_name: "Server Notices".into(),
            room_name: "Server Notices".into(),
        }
    }
}

/// `GET /metrics` in Prometheus text format.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    pub enabled: bool,
    /// A plain-HTTP listener (keep it off the public internet) on which `/metrics`
    /// answers without a token.
    pub bind: Option<String>,
    /// A bearer token that lets a scraper read `/metrics` on any listener.
    pub bearer_token: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Plain-HTTP listen addresses (put a TLS-terminating proxy in front, or use `[tls]`).
    pub bind: Vec<String>,
    /// Largest request body accepted, in bytes; larger ones get `M_TOO_LARGE`.
    pub max_request_bytes: usize,
    /// Worker threads; 0 means one per CPU core.
    pub workers: usize,
    /// When set, the admin APIs answer only on these listeners (bound besides `bind`),
    /// so they can be kept off the public port; empty serves them everywhere.
    pub admin_bind: Vec<String>,
    /// Reverse proxies (addresses or networks) whose `X-Forwarded-For` is believed; the
    /// client is the right-most hop not in this list.
    pub trusted_proxies: Vec<String>,
    /// Requests with a body but no credentials (logins, registrations) in progress at
    /// once; more get `429 M_LIMIT_EXCEEDED`, so slow clients cannot tie up the server
    /// before authenticating.
    pub max_unauthenticated_requests: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub bind: String,
    /// PEM certificate chain.
    pub certificate: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub private_key: PathBuf,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// Upper bound of the database page cache, in MiB.
    pub cache_mb: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RegistrationMode {
    /// Only admins create accounts (CLI or admin API).
    Closed,
    /// Anyone holding a registration token may register.
    Token,
    /// Anyone may register.
    Open,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistrationConfig {
    pub mode: RegistrationMode,
    /// Secret for the Synapse-compatible shared-secret registration API and for the
    /// `citadel admin` CLI while the server runs. Unset disables both.
    pub shared_secret: Option<String>,
    /// Whether anyone may create a guest account (`POST /register?kind=guest`): no
    /// password, read access to rooms that allow it, joins only where guests may join.
    pub allow_guests: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Lifetime of access tokens issued together with a refresh token.
    pub refreshable_access_token_lifetime_ms: u64,
    /// Lifetime of `m.login.token` login tokens.
    pub login_token_lifetime_ms: u64,
    /// How long a user-interactive-auth session stays usable.
    pub uiaa_session_lifetime_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitsConfig {
    pub enabled: bool,
    /// Login attempts per client IP address.
    pub login: RateLimit,
    /// Registration attempts per client IP address.
    pub registration: RateLimit,
    /// Failed password attempts per account, from any address: slows down guessing a
    /// password from many machines at once.
    pub failed_login: RateLimit,
    /// Events a user sends (messages, state, redactions); an admin can override it per
    /// user with Synapse's `override_ratelimit`.
    pub messages: RateLimit,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Sustained requests per second.
    pub per_second: f64,
    /// Requests allowed in a burst before the sustained rate applies.
    pub burst: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FederationConfig {
    /// Talk to other servers at all.
    pub enabled: bool,
    /// Check other servers' TLS certificates. Turning this off is for development only.
    pub verify_tls: bool,
    /// Extra certificate authorities (PEM files) to trust for other servers' certificates.
    pub extra_ca_certificates: Vec<PathBuf>,
    /// Longest wait, in seconds, between delivery attempts to a server that is down.
    pub max_retry_interval_secs: u64,
    /// When not empty, only these servers may federate with this one (`*` and `?` are
    /// wildcards, as in `m.room.server_acl`).
    pub allowed_servers: Vec<String>,
    /// Servers that may never federate with this one (wildcards allowed).
    pub denied_servers: Vec<String>,
    /// Notary servers asked for another server's keys when it cannot be reached itself.
    pub trusted_key_servers: Vec<String>,
}

impl Default for FederationConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            verify_tls: true,
            extra_ca_certificates: Vec::new(),
            max_retry_interval_secs: 600,
            allowed_servers: Vec::new(),
            denied_servers: Vec::new(),
            trusted_key_servers: Vec::new(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaConfig {
    /// Largest upload, in bytes; larger ones get `M_TOO_LARGE`.
    pub max_upload_bytes: u64,
    /// Total bytes each user may store.
    pub quota_bytes_per_user: u64,
    /// Media IDs a user may hold reserved (`/create`) without uploading to them.
    pub max_pending_uploads: usize,
    /// How long a reserved media ID stays open for its upload.
    pub pending_upload_lifetime_ms: u64,
    /// Uploads per user: sustained rate and burst.
    pub uploads: RateLimit,
    /// Media uploaded before this time (ms since the epoch) stays downloadable through the
    /// legacy unauthenticated `/_matrix/media/v3/download` paths; unset serves nothing there.
    pub legacy_unauthenticated_before_ms: Option<u64>,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            max_upload_bytes: 50 * 1024 * 1024,
            quota_bytes_per_user: 1024 * 1024 * 1024,
            max_pending_uploads: 10,
            pending_upload_lifetime_ms: 24 * 60 * 60 * 1000,
            uploads: RateLimit {
                per_second: 1.0,
                burst: 30,
            },
            legacy_unauthenticated_before_ms: None,
        }
    }
}

/// Which rooms must be end-to-end encrypted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EncryptionEnforcement {
    /// Every room is created encrypted; plaintext messages are refused in encrypted rooms.
    All,
    /// Like `all`, except for rooms created public (published or `public_chat`).
    Private,
    /// Rooms are encrypted only when their creators ask.
    Off,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct E2eeConfig {
    pub enforce: EncryptionEnforcement,
    /// Event types local users may still send unencrypted in encrypted rooms (clients
    /// send these in the clear).
    pub plaintext_allowed: Vec<String>,
    /// Device keys must be signed by the device's own ed25519 key, and a key backup's
    /// `auth_data` must be an object (the spec's shapes). Off, both are taken as given,
    /// as Synapse does.
    pub strict_key_uploads: bool,
}

impl Default for E2eeConfig {
    fn default() -> Self {
        Self {
            enforce: EncryptionEnforcement::All,
            plaintext_allowed: vec!["m.room.redaction".into(), "m.reaction".into()],
            strict_key_uploads: true,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WellKnownConfig {
    /// `m.server` in `/.well-known/matrix/server` (`host:port` of the federation
    /// endpoint); `<server_name>:443` is assumed when unset and TLS is configured.
    pub server: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            server_name: "localhost".into(),
            public_baseurl: None,
            data_dir: PathBuf::from("./data"),
            log: "info".into(),
            http: HttpConfig::default(),
            tls: None,
            database: DatabaseConfig::default(),
            registration: RegistrationConfig::default(),
            auth: AuthConfig::default(),
            rate_limits: RateLimitsConfig::default(),
            well_known: WellKnownConfig::default(),
            e2ee: E2eeConfig::default(),
            media: MediaConfig::default(),
            federation: FederationConfig::default(),
            metrics: MetricsConfig::default(),
            server_notices: ServerNoticesConfig::default(),
            audit: AuditConfig::default(),
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            bind: vec!["127.0.0.1:8008".into()],
            max_request_bytes: 10 * 1024 * 1024,
            workers: 0,
            admin_bind: Vec::new(),
            trusted_proxies: vec!["127.0.0.1".into(), "::1".into()],
            max_unauthenticated_requests: 256,
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self { cache_mb: 64 }
    }
}

impl Default for RegistrationConfig {
    fn default() -> Self {
        Self {
            mode: RegistrationMode::Closed,
            shared_secret: None,
            allow_guests: false,
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            refreshable_access_token_lifetime_ms: 5 * 60 * 1000,
            login_token_lifetime_ms: 2 * 60 * 1000,
            uiaa_session_lifetime_ms: 15 * 60 * 1000,
        }
    }
}

impl Default for RateLimitsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            login: RateLimit {
                per_second: 0.5,
                burst: 10,
            },
            registration: RateLimit {
                per_second: 0.2,
                burst: 5,
            },
            failed_login: RateLimit {
                per_second: 0.1,
                burst: 5,
            },
            messages: RateLimit {
                per_second: 10.0,
                burst: 200,
            },
        }
    }
}

/// Why a configuration could not be loaded: every problem found, one per entry.
#[derive(Debug)]
pub struct ConfigErrors(pub Vec<String>);

impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "invalid configuration:")?;
        for problem in &self.0 {
            writeln!(f, "  - {problem}")?;
        }
        Ok(())
    }
}

impl Config {
    /// Loads the file (or the built-in defaults when `path` is `None`), applies
    /// `CITADEL_…` environment overrides and validates the result.
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigErrors> {
        let text = match path {
            Some(p) => std::fs::read_to_string(p)
                .map_err(|e| ConfigErrors(vec![format!("cannot read {}: {e}", p.display())]))?,
            None => String::new(),
        };
        let mut table: toml::Table = toml::from_str(&text)
            .map_err(|e| ConfigErrors(vec![format!("not valid TOML: {e}")]))?;
        let mut problems = Vec::new();
        apply_env_overrides(&mut table, env, &mut problems);
        let config = match Config::deserialize(toml::Value::Table(table)) {
            Ok(c) => Some(c),
            Err(e) => {
                problems.push(e.to_string().trim().to_owned());
                None
            }
        };
        if let Some(config) = &config {
            problems.extend(config.validate());
        }
        match config {
            Some(c) if problems.is_empty() => Ok(c),
            _ => Err(ConfigErrors(problems)),
        }
    }

    /// The base URL clients should use, for `/.well-known/matrix/client`.
    pub fn client_base_url(&self) -> String {
        match &self.public_baseurl {
            Some(url) => url.trim_end_matches('/').to_owned() + "/",
            None => match (&self.tls, self.http.bind.first()) {
                (Some(_), _) => format!("https://{}/", self.server_name),
                (None, Some(bind)) => {
                    let port = bind.rsplit(':').next().unwrap_or("8008");
                    format!("http://{}:{port}/", self.server_name)
                }
                (None, None) => format!("https://{}/", self.server_name),
            },
        }
    }

    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("db")
    }
}

/// Applies `CITADEL_A__B=value` as `a.b = value`. `CITADEL_CONFIG` names the file and is
/// not a setting.
fn apply_env_overrides(
    table: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
    problems: &mut Vec<String>,
) {
    for (name, raw) in env {
        let Some(path) = name.strip_prefix("CITADEL_") else {
            continue;
        };
        if path == "CONFIG" || path.is_empty() {
            continue;
        }
        let keys: Vec<String> = path.split("__").map(|k| k.to_ascii_lowercase()).collect();
        let value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| toml::Value::String(raw.clone()));
        if let Err(key) = set_path(table, &keys, value) {
            problems.push(format!("{name}: {key} is not a section"));
        }
    }
}

/// Sets `keys[0].keys[1]…` in the table, creating sections on the way; fails with the
/// key that already holds a non-table value.
fn set_path(table: &mut toml::Table, keys: &[String], value: toml::Value) -> Result<(), String> {
    match keys {
        [] => Ok(()),
        [last] => {
            table.insert(last.clone(), value);
            Ok(())
        }
        [first, rest @ ..] => {
            let entry = table
                .entry(first.clone())
                .or_insert_with(|| toml::Value::Table(Default::default()));
            match entry {
                toml::Value::Table(section) => set_path(section, rest, value),
                _ => Err(first.clone()),
            }
        }
    }
}

#[path = "config_validate.rs"]
mod validate;

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
