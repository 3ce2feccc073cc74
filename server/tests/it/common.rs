//! Test harness: real servers on loopback ports with temporary databases, and a client
//! that speaks the HTTP API.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;

use citadel::config::{Config, RegistrationMode};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

pub const SHARED_SECRET: &str = "test-shared-secret-0123456789";

/// The configuration tests start from: open registration, no rate limits, port 0.
pub fn test_config(data_dir: &Path) -> Config {
    let mut config = Config {
        data_dir: data_dir.to_path_buf(),
        ..Config::default()
    };
    config.http.bind = vec!["127.0.0.1:0".into()];
    config.http.workers = 2;
    config.registration.mode = RegistrationMode::Open;
    config.registration.shared_secret = Some(SHARED_SECRET.into());
    config.rate_limits.enabled = false;
    config.database.cache_mb = 8;
    // Most tests exercise rooms with plain messages; the E2EE tests turn the policy on.
    config.e2ee.enforce = citadel::config::EncryptionEnforcement::Off;
    // No test talks to the outside world; the federation tests turn it on among themselves.
    config.federation.enabled = false;
    config
}

/// A Citadel running in this process on a loopback port.
pub struct TestServer {
    pub base: String,
    /// Every listening address (plain HTTP first, then TLS).
    pub addrs: Vec<std::net::SocketAddr>,
    pub data_dir: PathBuf,
    handle: actix_web::dev::ServerHandle,
    thread: Option<JoinHandle<()>>,
    _temp: Option<tempfile::TempDir>,
}

impl TestServer {
    pub fn spawn() -> Self {
        Self::spawn_with(|_| {})
    }

    pub fn spawn_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let temp = tempfile::tempdir().expect("temp dir");
        let mut server = Self::spawn_in(temp.path(), adjust);
        server._temp = Some(temp);
        server
    }

    /// Starts a server on an existing data directory (for restart tests).
    pub fn spawn_in(data_dir: &Path, adjust: impl FnOnce(&mut Config)) -> Self {
        let mut config = test_config(data_dir);
        adjust(&mut config);
        assert!(config.validate().is_empty(), "{:?}", config.validate());
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                match citadel::start(config) {
                    Ok(running) => {
                        tx.send(Ok((running.addrs.clone(), running.handle.clone())))
                            .ok();
                        running.wait().await.ok();
                    }
                    Err(e) => {
                        tx.send(Err(e)).ok();
                    }
                }
            })
        });
        let (addrs, handle) = rx.recv().expect("server thread").expect("server start");
        Self {
            base: format!("http://{}", addrs[0]),
            addrs,
            data_dir: data_dir.to_path_buf(),
            handle,
            thread: Some(thread),
            _temp: None,
        }
    }

    pub fn client(&self) -> TestClient {
        citadel::init_crypto();
        TestClient {
            http: reqwest::Client::new(),
            base: self.base.clone(),
            token: None,
        }
    }

    /// Stops the server gracefully and waits until it has flushed.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(thread) = self.thread.take() {
            // `stop` sends the command right away; the returned future only waits for it.
            drop(self.handle.stop(true));
            thread.join().ok();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Opens the database of a stopped server in `data_dir`, to read or shape what it stored.
pub fn open_storage(data_dir: &Path) -> citadel_storage::Storage {
    citadel_storage::Storage::open(
        &data_dir.join("db"),
        &citadel_storage::EngineOptions {
            cache_bytes: 1 << 20,
        },
    )
    .unwrap()
}

/// A client of the HTTP API, optionally logged in.
#[derive(Clone)]
pub struct TestClient {
    pub http: reqwest::Client,
    pub base: String,
    pub token: Option<String>,
}

/// A registered, logged-in user.
#[derive(Clone)]
pub struct User {
    pub user_id: String,
    pub device_id: String,
    pub password: String,
    pub client: TestClient,
}

impl TestClient {
    pub fn with_token(&self, token: &str) -> TestClient {
        TestClient {
            token: Some(token.to_owned()),
            ..self.clone()
        }
    }

    /// Sends a request with an optional JSON body; returns the status and the JSON body
    /// (`Value::Null` when the body is not JSON).
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let response = req.send().await.expect("request sent");
        let status = response.status();
        let bytes = response.bytes().await.expect("body");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// Sends raw bytes as the body.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        body: &'static [u8],
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .body(body);
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        let response = req.send().await.expect("request sent");
        let status = response.status();
        let bytes = response.bytes().await.expect("body");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.request(Method::GET, path, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.request(Method::POST, path, Some(body)).await
    }
    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.request(Method::PUT, path, Some(body)).await
    }
    pub async fn delete(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.request(Method::DELETE, path, Some(body)).await
    }

    /// The most common cast: alice (pw-alice-1) creates a public room and bob
    /// (pw-bob-1) joins it.
    pub async fn alice_and_bob_in_a_public_room(&self) -> (User, User, String) {
        let alice = self.register("alice", "pw-alice-1").await;
        let bob = self.register("bob", "pw-bob-1").await;
        let room = alice.create_room(json!({"preset": "public_chat"})).await;
        let (status, body) = bob.join(&room).await;
        assert_eq!(status, StatusCode::OK, "bob joins: {body}");
        (alice, bob, room)
    }

    /// Registers through the dummy UIAA flow and returns the logged-in user.
    pub async fn register(&self, username: &str, password: &str) -> User {
        let (status, body) = self
            .post(
                "/_matrix/client/v3/register",
                json!({"username": username, "password": password, "auth": {"type": "m.login.dummy"}}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "register {username}: {body}");
        User {
            user_id: body["user_id"].as_str().unwrap().to_owned(),
            device_id: body["device_id"].as_str().unwrap().to_owned(),
            password: password.to_owned(),
            client: self.with_token(body["access_token"].as_str().unwrap()),
        }
    }

    /// Logs in with a password and returns the raw login response.
    pub async fn login(&self, user: &str, password: &str) -> (StatusCode, Value) {
        self.post(
            "/_matrix/client/v3/login",
            json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": user}, "password": password}),
        )
        .await
    }
}

/// Asserts a Matrix error response.
#[track_caller]
pub fn assert_error(response: &(StatusCode, Value), status: u16, errcode: &str) {
    assert_eq!(
        response.0.as_u16(),
        status,
        "unexpected status, body: {}",
        response.1
    );
    assert_eq!(response.1["errcode"], errcode, "body: {}", response.1);
    assert!(
        response.1["error"].is_string(),
        "error message missing: {}",
        response.1
    );
}

/// The UIAA auth dict for a password stage.
pub fn password_auth(user_id: &str, password: &str, session: Option<&str>) -> Value {
    let mut auth = json!({
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": user_id},
        "password": password,
    });
    if let Some(session) = session {
        auth["session"] = json!(session);
    }
    auth
}

/// Runs an admin action through the running server's CLI endpoint, as `citadel admin`
/// does while the server runs.
pub async fn admin_action(
    server: &TestServer,
    action: citadel::admin::Action,
) -> (StatusCode, Value) {
    admin_action_via(&server.client(), action).await
}

/// [`admin_action`] through a given client (an admin listener's).
pub async fn admin_action_via(
    client: &TestClient,
    action: citadel::admin::Action,
) -> (StatusCode, Value) {
    use hmac::Mac;
    let (_, nonce) = client.get("/_citadel/admin/v1/cli").await;
    let nonce = nonce["nonce"].as_str().unwrap().to_owned();
    let mac = citadel::api::admin::cli::mac(SHARED_SECRET, &nonce, &action)
        .unwrap()
        .finalize()
        .into_bytes();
    let body = serde_json::to_value(citadel::api::admin::cli::SignedAction {
        nonce,
        action,
        mac: hex::encode(mac),
    })
    .unwrap();
    client.post("/_citadel/admin/v1/cli", body).await
}

/// Percent-encodes a path segment (room IDs, event IDs, user IDs).
pub fn enc(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl User {
    pub async fn create_room(&self, body: Value) -> String {
        let (status, response) = self
            .client
            .post("/_matrix/client/v3/createRoom", body)
            .await;
        assert_eq!(status, StatusCode::OK, "createRoom: {response}");
        response["room_id"].as_str().unwrap().to_owned()
    }

    pub async fn send_text(&self, room_id: &str, text: &str) -> String {
        let txn = format!("t{}", rand_suffix());
        let path = format!(
            "/_matrix/client/v3/rooms/{}/send/m.room.message/{txn}",
            enc(room_id)
        );
        let (status, response) = self
            .client
            .put(&path, json!({"msgtype": "m.text", "body": text}))
            .await;
        assert_eq!(status, StatusCode::OK, "send: {response}");
        response["event_id"].as_str().unwrap().to_owned()
    }

    pub async fn join(&self, room_id: &str) -> (StatusCode, Value) {
        self.client
            .post(
                &format!("/_matrix/client/v3/join/{}", enc(room_id)),
                json!({}),
            )
            .await
    }

    /// `/sync` with an optional `since` and timeout (ms).
    pub async fn sync(&self, since: Option<&str>, timeout_ms: u64) -> Value {
        let mut path = format!("/_matrix/client/v3/sync?timeout={timeout_ms}");
        if let Some(since) = since {
            path.push_str(&format!("&since={since}"));
        }
        let (status, body) = self.client.get(&path).await;
        assert_eq!(status, StatusCode::OK, "sync: {body}");
        body
    }
}

pub fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The `type`s of a list of events.
pub fn types(events: &Value) -> Vec<String> {
    events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect()
}

/// The repository root (for scripts and pinned requirement files).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Runs a command to success, with its output in the failure message.
pub fn run(command: &mut std::process::Command, what: &str) {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `dir/node_modules` installed from the committed lock file, unless `package` (one of
/// its dependencies) is there already.
pub fn npm_ci(dir: &Path, package: &str) {
    if !dir.join("node_modules").join(package).exists() {
        run(
            std::process::Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--silent"])
                .current_dir(dir),
            &format!("npm ci in {}", dir.display()),
        );
    }
}

/// A virtualenv in the build directory with the pinned `requirements` (relative to the
/// repository root), created on first use; returns its python.
pub fn python_venv(name: &str, requirements: &str) -> PathBuf {
    // Tests run in parallel: without this, a second test would install into the venv while
    // the first one's Python maps the same shared objects, and die of SIGBUS.
    static INSTALLING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = INSTALLING.lock().unwrap_or_else(|e| e.into_inner());
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let python = venv.join("bin/python");
    let marker = venv.join("installed");
    if !marker.exists() {
        run(
            std::process::Command::new("python3")
                .args(["-m", "venv"])
                .arg(&venv),
            "python3 -m venv",
        );
        run(
            std::process::Command::new(&python)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "-r",
                ])
                .arg(repo_root().join(requirements)),
            &format!("pip install -r {requirements}"),
        );
        std::fs::write(&marker, b"").unwrap();
    }
    python
}
