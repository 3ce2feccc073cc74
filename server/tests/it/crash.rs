//! The real binary under SIGKILL and SIGTERM: everything acknowledged survives.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::common::*;

/// A `citadel` command with the given config file.
pub fn citadel_command(config: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_citadel"));
    command
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "warn")
        .env_remove("CITADEL_CONFIG");
    command
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Writes a config file for a binary server in `dir` and returns its path.
pub fn write_config(dir: &Path, registration: &str) -> PathBuf {
    let path = dir.join("citadel.toml");
    let text = format!(
        "server_name = \"localhost\"\ndata_dir = {data:?}\n[http]\nbind = [\"127.0.0.1:{port}\"]\nworkers = 2\n\
         [registration]\nmode = \"{registration}\"\nshared_secret = \"{SHARED_SECRET}\"\n[rate_limits]\nenabled = false\n",
        data = dir.join("data").display().to_string(),
        port = free_port(),
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// A `citadel` process.
pub struct BinaryServer {
    child: Child,
    base: String,
}

impl BinaryServer {
    pub async fn start(config: &Path) -> Self {
        let text = std::fs::read_to_string(config).unwrap();
        let bind = text
            .split("bind = [\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_owned();
        let child = citadel_command(config)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let server = Self {
            child,
            base: format!("http://{bind}"),
        };
        let client = server.client();
        for _ in 0..300 {
            if let Ok(r) = client
                .http
                .get(format!("{}/_matrix/client/versions", server.base))
                .send()
                .await
                && r.status() == 200
            {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("citadel did not come up on {}", server.base);
    }

    pub fn client(&self) -> TestClient {
        citadel::init_crypto();
        TestClient {
            http: reqwest::Client::new(),
            base: self.base.clone(),
            token: None,
        }
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, and the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        for _ in 0..200 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.child.kill().ok();
        panic!("citadel did not stop on SIGTERM");
    }
}

/// A test that fails half-way must not leave its server running (it would hold the
/// test harness's output open).
impl Drop for BinaryServer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[tokio::test]
async fn acknowledged_accounts_devices_and_tokens_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "open");
    let server = BinaryServer::start(&config).await;
    let client = server.client();

    let mut sessions = Vec::new();
    for i in 0..5 {
        let user = client
            .register(&format!("user{i}"), &format!("pw-{i}-secret"))
            .await;
        let (_, second) = client.login(&user.user_id, &user.password).await;
        let second_device = second["device_id"].as_str().unwrap().to_owned();
        let path = format!("/_matrix/client/v3/devices/{second_device}");
        assert_eq!(
            user.client
                .put(&path, json!({"display_name": format!("device of {i}")}))
                .await
                .0,
            200
        );
        let put = user
            .client
            .put(
                &format!(
                    "/_matrix/client/v3/user/{}/account_data/org.example.n",
                    user.user_id
                ),
                json!({"n": i}),
            )
            .await;
        assert_eq!(put.0, 200);
        sessions.push((
            user,
            second_device,
            second["access_token"].as_str().unwrap().to_owned(),
        ));
    }
    // The last acknowledged write is the one right before the kill.
    server.kill();

    let server = BinaryServer::start(&config).await;
    let client = server.client();
    for (i, (user, second_device, second_token)) in sessions.iter().enumerate() {
        let (status, me) = user.client.get("/_matrix/client/v3/account/whoami").await;
        assert_eq!(status, 200, "{me}");
        assert_eq!(me["device_id"], user.device_id.as_str());
        let (_, me) = client
            .with_token(second_token)
            .get("/_matrix/client/v3/account/whoami")
            .await;
        assert_eq!(me["device_id"], second_device.as_str());
        let (_, devices) = user.client.get("/_matrix/client/v3/devices").await;
        let named = devices["devices"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["device_id"] == second_device.as_str())
            .unwrap();
        assert_eq!(named["display_name"], format!("device of {i}"));
        let (_, data) = user
            .client
            .get(&format!(
                "/_matrix/client/v3/user/{}/account_data/org.example.n",
                user.user_id
            ))
            .await;
        assert_eq!(data, json!({"n": i}));
        assert_eq!(client.login(&user.user_id, &user.password).await.0, 200);
    }
    assert_error(
        &client
            .post(
                "/_matrix/client/v3/register",
                json!({"username": "user0", "password": "x"}),
            )
            .await,
        400,
        "M_USER_IN_USE",
    );

    let status = server.terminate();
    assert!(
        status.success(),
        "graceful shutdown exits 0, got {status:?}"
    );
}

/// A send as the client made it: its token, path and body.
#[derive(Clone)]
struct Send {
    token: String,
    path: String,
    body: serde_json::Value,
}

impl Send {
    async fn put(&self, client: &TestClient) -> Result<(u16, serde_json::Value), reqwest::Error> {
        let response = client
            .http
            .put(format!("{}{}", client.base, self.path))
            .bearer_auth(&self.token)
            .json(&self.body)
            .send()
            .await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await.unwrap_or_default()))
    }
}

/// Ten senders write into one room as fast as they can; the server is killed while
/// requests are still in flight. After the restart every acknowledged event is there,
/// retrying an acknowledged transaction gives back the same event (the transaction's
/// record is as durable as the event), and retrying one that was cut off sends it.
#[tokio::test]
async fn events_acknowledged_under_load_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "open");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("[e2ee]\nenforce = \"off\"\n");
    std::fs::write(&config, text).unwrap();
    let server = BinaryServer::start(&config).await;
    let client = server.client();
    let owner = client.register("owner", "pw-owner-1").await;
    let room = owner.create_room(json!({"preset": "public_chat"})).await;
    let mut senders = vec![owner];
    for i in 0..9 {
        let user = client
            .register(&format!("sender{i}"), &format!("pw-sender-{i}"))
            .await;
        assert_eq!(user.join(&room).await.0, 200);
        senders.push(user);
    }

    type Shared<T> = std::sync::Arc<std::sync::Mutex<Vec<T>>>;
    let acknowledged: Shared<(Send, String)> = Default::default();
    let cut_off: Shared<Send> = Default::default();
    let mut tasks = Vec::new();
    for (i, sender) in senders.into_iter().enumerate() {
        let (acknowledged, cut_off) = (acknowledged.clone(), cut_off.clone());
        let room = room.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..1000 {
                let send = Send {
                    token: sender.client.token.clone().unwrap_or_default(),
                    path: format!(
                        "/_matrix/client/v3/rooms/{}/send/m.room.message/k{i}-{n}",
                        enc(&room)
                    ),
                    body: json!({"msgtype": "m.text", "body": format!("{i}/{n}")}),
                };
                match send.put(&sender.client).await {
                    Ok((200, body)) => acknowledged
                        .lock()
                        .unwrap()
                        .push((send, body["event_id"].as_str().unwrap().to_owned())),
                    // The server is gone mid-request: stop.
                    _ => {
                        cut_off.lock().unwrap().push(send);
                        return;
                    }
                }
            }
        }));
    }
    // Kill as soon as enough sends were acknowledged, with the others mid-flight.
    for _ in 0..600 {
        if acknowledged.lock().unwrap().len() >= 150 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.kill();
    for task in tasks {
        task.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    let cut_off = cut_off.lock().unwrap().clone();
    assert!(
        acknowledged.len() >= 150,
        "only {} sends",
        acknowledged.len()
    );

    let server = BinaryServer::start(&config).await;
    let client = server.client();
    for (send, event_id) in &acknowledged {
        let reader = client.with_token(&send.token);
        let (status, event) = reader
            .get(&format!(
                "/_matrix/client/v3/rooms/{}/event/{}",
                enc(&room),
                enc(event_id)
            ))
            .await;
        assert_eq!(status, 200, "acknowledged {event_id} is lost: {event}");
        let (status, again) = send.put(&client).await.unwrap();
        assert_eq!(status, 200, "{again}");
        assert_eq!(
            again["event_id"],
            event_id.as_str(),
            "a retry sent it twice"
        );
    }
    for send in &cut_off {
        let (status, body) = send.put(&client).await.unwrap();
        assert_eq!(
            status, 200,
            "a retry of a send cut off by the crash: {body}"
        );
    }
    server.terminate();
}

#[tokio::test]
async fn a_graceful_restart_keeps_sessions_and_the_signing_key() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::spawn_in(dir.path(), |_| {});
    let alice = server.client().register("alice", "pw-alice-1").await;
    let data_dir = server.data_dir.clone();
    server.stop();

    let server = TestServer::spawn_in(&data_dir, |_| {});
    let client = server
        .client()
        .with_token(alice.client.token.as_deref().unwrap());
    let (status, me) = client.get("/_matrix/client/v3/account/whoami").await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["user_id"], alice.user_id);
}

/// A waiting `/sync` must not hold up a stop: Docker sends SIGKILL 10 s after SIGTERM,
/// and actix alone would wait out its grace period for the long poll.
#[tokio::test]
async fn sigterm_answers_waiting_syncs_and_exits_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "open");
    let server = BinaryServer::start(&config).await;
    let alice = server.client().register("alice", "pw-alice-1").await;
    let (status, first) = alice.client.get("/_matrix/client/v3/sync").await;
    assert_eq!(status, 200, "{first}");
    let since = first["next_batch"].as_str().unwrap().to_owned();
    let waiting = tokio::spawn(async move {
        alice
            .client
            .get(&format!(
                "/_matrix/client/v3/sync?since={since}&timeout=30000"
            ))
            .await
    });
    // The long poll is parked on the server before the signal goes.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!waiting.is_finished());
    let started = std::time::Instant::now();
    let status = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .unwrap();
    let took = started.elapsed();
    assert!(status.success(), "{status}");
    // Well inside Docker's 10 s, with room for a loaded CI machine (it took 10.4 s).
    assert!(took < Duration::from_secs(5), "stopping took {took:?}");
    let (status, answer) = waiting.await.unwrap();
    assert_eq!(status, 200, "the waiting sync was answered: {answer}");
    assert!(answer["next_batch"].is_string(), "{answer}");
}
