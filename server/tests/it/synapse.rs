//! Interoperability with Synapse, the reference homeserver: a real Synapse (pinned, from
//! PyPI, installed on first use into the build directory) on loopback with SQLite, and a
//! Citadel, federating over TLS with a shared test certificate authority.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use serde_json::json;

use crate::e2ee::Device;
use crate::federation::{TestCa, federating_server, free_port};
use crate::federation_rooms::{join_via, name_of, wait_for_text};

/// A virtualenv with the pinned Synapse, created once per build directory.
fn python_with_synapse() -> PathBuf {
    python_venv("synapse-venv", "tests/synapse/requirements.txt")
}

/// A Synapse process: federation over TLS on `127.0.0.1:<port>` (its server name), the
/// client API over plain HTTP on another port.
pub struct Synapse {
    pub server_name: String,
    pub client_base: String,
    child: Child,
    dir: tempfile::TempDir,
}

impl Drop for Synapse {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Synapse {
    pub async fn start(ca: &TestCa) -> Self {
        citadel::init_crypto();
        let python = python_with_synapse();
        let dir = tempfile::tempdir().unwrap();
        let (tls_port, client_port) = (free_port(), free_port());
        let server_name = format!("127.0.0.1:{tls_port}");
        let (cert, key) = ca.leaf("synapse");
        let d = dir.path().display();
        let config = format!(
            r#"
server_name: "{server_name}"
pid_file: "{d}/homeserver.pid"
listeners:
  - port: {tls_port}
    bind_addresses: ["127.0.0.1"]
    type: http
    tls: true
    resources: [{{names: [client, federation], compress: false}}]
  - port: {client_port}
    bind_addresses: ["127.0.0.1"]
    type: http
    tls: false
    resources: [{{names: [client], compress: false}}]
tls_certificate_path: "{cert}"
tls_private_key_path: "{key}"
database:
  name: sqlite3
  args: {{database: "{d}/homeserver.db"}}
log_config: "{d}/log.yaml"
media_store_path: "{d}/media"
signing_key_path: "{d}/signing.key"
report_stats: false
enable_registration: true
enable_registration_without_verification: true
trusted_key_servers: []
suppress_key_server_warning: true
federation_verify_certificates: true
federation_custom_ca_list: ["{ca}"]
ip_range_blacklist: []
ip_range_whitelist: ["127.0.0.1"]
federation_ip_range_blacklist: []
rc_message: {{per_second: 1000, burst_count: 1000}}
rc_registration: {{per_second: 1000, burst_count: 1000}}
rc_login: {{address: {{per_second: 1000, burst_count: 1000}}, account: {{per_second: 1000, burst_count: 1000}}, failed_attempts: {{per_second: 1000, burst_count: 1000}}}}
rc_joins: {{local: {{per_second: 1000, burst_count: 1000}}, remote: {{per_second: 1000, burst_count: 1000}}}}
rc_room_creation: {{per_second: 1000, burst_count: 1000}}
rc_invites: {{per_room: {{per_second: 1000, burst_count: 1000}}, per_user: {{per_second: 1000, burst_count: 1000}}}}
rc_federation: {{window_size: 1000, sleep_limit: 1000, sleep_delay: 1, reject_limit: 1000, concurrent: 100}}
"#,
            cert = cert.display(),
            key = key.display(),
            ca = ca.ca_path().display(),
        );
        std::fs::write(dir.path().join("homeserver.yaml"), config).unwrap();
        let log = format!(
            "version: 1\nformatters:\n  f: {{format: '%(asctime)s %(name)s %(levelname)s %(message)s'}}\nhandlers:\n  file: {{class: logging.FileHandler, formatter: f, filename: '{d}/homeserver.log'}}\nroot: {{level: INFO, handlers: [file]}}\ndisable_existing_loggers: false\n"
        );
        std::fs::write(dir.path().join("log.yaml"), log).unwrap();
        let config_path = dir.path().join("homeserver.yaml");
        run(
            Command::new(&python)
                .args(["-m", "synapse.app.homeserver", "--generate-keys", "-c"])
                .arg(&config_path),
            "synapse --generate-keys",
        );
        let child = Command::new(&python)
            .args(["-m", "synapse.app.homeserver", "-c"])
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start synapse");
        let synapse = Synapse {
            server_name,
            client_base: format!("http://127.0.0.1:{client_port}"),
            child,
            dir,
        };
        synapse.wait_until_up().await;
        synapse
    }

    async fn wait_until_up(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let url = format!("{}/_matrix/client/versions", self.client_base);
        loop {
            if reqwest::get(&url)
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "Synapse did not start; log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The end of Synapse's log, for failure messages.
    pub fn log(&self) -> String {
        let text =
            std::fs::read_to_string(self.dir.path().join("homeserver.log")).unwrap_or_default();
        let start = text.len().saturating_sub(6000);
        text[text
            .char_indices()
            .map(|(i, _)| i)
            .find(|i| *i >= start)
            .unwrap_or(0)..]
            .to_owned()
    }

    pub fn client(&self) -> TestClient {
        TestClient {
            http: reqwest::Client::new(),
            base: self.client_base.clone(),
            token: None,
        }
    }
}

#[tokio::test]
async fn citadel_and_synapse_share_rooms() {
    let ca = TestCa::new();
    let synapse = Synapse::start(&ca).await;
    let citadel = federating_server(&ca, "citadel");
    let alice = citadel.client().register("alice", "pw-alice-1").await;
    let sam = synapse.client().register("sam", "pw-sam-long-1").await;
    assert!(
        sam.user_id.ends_with(&synapse.server_name),
        "{}",
        sam.user_id
    );

    // A room hosted on Citadel, joined from Synapse.
    let room = alice
        .create_room(json!({"preset": "public_chat", "name": "On Citadel"}))
        .await;
    let (status, body) = join_via(&sam, &room, &name_of(&citadel)).await;
    assert_eq!(status, 200, "{body}\n{}", synapse.log());
    alice.send_text(&room, "hello from citadel").await;
    wait_for_text(&sam, &room, "hello from citadel").await;
    sam.send_text(&room, "hello from synapse").await;
    let seen = wait_for_text(&alice, &room, "hello from synapse").await;
    assert_eq!(seen["sender"], sam.user_id.as_str());

    // A room hosted on Synapse, joined from Citadel.
    let room = sam
        .create_room(json!({"preset": "public_chat", "name": "On Synapse"}))
        .await;
    let (status, body) = join_via(&alice, &room, &synapse.server_name).await;
    assert_eq!(status, 200, "{body}\n{}", synapse.log());
    let (status, name) = alice
        .client
        .get(&format!(
            "/_matrix/client/v3/rooms/{}/state/m.room.name",
            enc(&room)
        ))
        .await;
    assert_eq!(status, 200, "{name}");
    assert_eq!(name["name"], "On Synapse");
    sam.send_text(&room, "synapse speaking").await;
    wait_for_text(&alice, &room, "synapse speaking").await;
    alice.send_text(&room, "citadel answering").await;
    wait_for_text(&sam, &room, "citadel answering").await;

    // Membership both ways: each server lists both users as joined.
    for (user, server) in [(&alice, "Citadel"), (&sam, "Synapse")] {
        let (status, members) = user
            .client
            .get(&format!(
                "/_matrix/client/v3/rooms/{}/joined_members",
                enc(&room)
            ))
            .await;
        assert_eq!(status, 200, "{server}: {members}");
        for id in [&alice.user_id, &sam.user_id] {
            assert!(
                members["joined"].get(id).is_some(),
                "{server} misses {id}: {members}"
            );
        }
    }

    // Device keys, fetched across: each server asks the other for its user's keys.
    let mut alice_device = Device {
        user: alice.clone(),
        account: vodozemac::olm::Account::new(),
    };
    let mut sam_device = Device {
        user: sam.clone(),
        account: vodozemac::olm::Account::new(),
    };
    alice_device.upload(2).await;
    sam_device.upload(2).await;
    for (asker, owner, expected) in [
        (&alice, &sam, sam_device.device_keys()),
        (&sam, &alice, alice_device.device_keys()),
    ] {
        let (status, query) = asker
            .client
            .post(
                "/_matrix/client/v3/keys/query",
                json!({"device_keys": {owner.user_id.clone(): []}}),
            )
            .await;
        assert_eq!(status, 200, "{query}");
        let keys = &query["device_keys"][&owner.user_id][&owner.device_id];
        assert_eq!(keys["keys"], expected["keys"], "{query}\n{}", synapse.log());
        assert_eq!(keys["signatures"], expected["signatures"]);
    }

    // Alice adds a device: Synapse hears of it (m.device_list_update) and shows it to Sam.
    let since = sam.sync(None, 0).await["next_batch"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut second = Device::new(&citadel, &alice, true).await;
    second.upload(1).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut since = since;
    loop {
        let body = sam.sync(Some(&since), 1000).await;
        let changed = body["device_lists"]["changed"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if changed.iter().any(|u| u == alice.user_id.as_str()) {
            break;
        }
        since = body["next_batch"].as_str().unwrap().to_owned();
        assert!(
            std::time::Instant::now() < deadline,
            "Synapse never announced Alice's new device\n{}",
            synapse.log()
        );
    }
    let (_, query) = sam
        .client
        .post(
            "/_matrix/client/v3/keys/query",
            json!({"device_keys": {alice.user_id.clone(): []}}),
        )
        .await;
    let devices = query["device_keys"][&alice.user_id].as_object().unwrap();
    assert!(devices.contains_key(&second.user.device_id), "{query}");
    assert_eq!(devices.len(), 2, "{query}");
}

/// New rooms start as Synapse starts them: the same power levels, join rules, history
/// visibility and guest access for each preset and room version, read from a real
/// Synapse.
#[tokio::test]
async fn new_rooms_start_with_the_state_synapse_gives_them() {
    use crate::room_presets::preset_state;
    let ca = TestCa::new();
    let synapse = Synapse::start(&ca).await;
    let citadel = TestServer::spawn();
    let sam = synapse.client().register("sam", "pw-sam-long-1").await;
    let alice = citadel.client().register("alice", "pw-alice-1").await;
    for version in ["10", "11", "12"] {
        for preset in [
            None,
            Some("private_chat"),
            Some("trusted_private_chat"),
            Some("public_chat"),
        ] {
            let mut body = json!({"room_version": version});
            if let Some(preset) = preset {
                body["preset"] = json!(preset);
            }
            let on_synapse = sam.create_room(body.clone()).await;
            let on_citadel = alice.create_room(body).await;
            let mut want = preset_state(&sam, &on_synapse).await;
            let got = preset_state(&alice, &on_citadel).await;
            for (kind, content) in &mut want {
                if kind == "m.room.power_levels"
                    && let Some(users) = content["users"].as_object_mut()
                    && let Some(level) = users.remove(&sam.user_id)
                {
                    users.insert(alice.user_id.clone(), level);
                }
            }
            assert_eq!(got, want, "room version {version}, preset {preset:?}");
        }
    }
}

/// A Citadel whose data directory is reset (keeping its name and signing key) keeps
/// reaching Synapse, which silently drops transactions whose IDs it has seen before.
#[tokio::test]
async fn synapse_gets_what_citadel_sends_after_a_reset() {
    let ca = TestCa::new();
    let synapse = Synapse::start(&ca).await;
    let sam = synapse.client().register("sam", "pw-sam-long-1").await;
    crate::federation_reset::messages_arrive_after_a_reset(&ca, &sam, &synapse.server_name).await;
}
