//! Shared-secret registration and the admin CLI, in process and as the real binary.

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha1::Sha1;

use crate::common::*;
use crate::crash::{BinaryServer, citadel_command, write_config};

fn synapse_mac(secret: &str, nonce: &str, user: &str, password: &str, admin: bool) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(nonce.as_bytes());
    mac.update(b"\x00");
    mac.update(user.as_bytes());
    mac.update(b"\x00");
    mac.update(password.as_bytes());
    mac.update(b"\x00");
    mac.update(if admin { b"admin" } else { b"notadmin" });
    hex::encode(mac.finalize().into_bytes())
}

async fn nonce(client: &TestClient) -> String {
    let (status, body) = client.get("/_synapse/admin/v1/register").await;
    assert_eq!(status, 200, "{body}");
    body["nonce"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn synapse_shared_secret_registration() {
    let server =
        TestServer::spawn_with(|c| c.registration.mode = citadel::config::RegistrationMode::Closed);
    let client = server.client();
    let path = "/_synapse/admin/v1/register";

    let n = nonce(&client).await;
    let mac = synapse_mac(SHARED_SECRET, &n, "root", "pw-root-1", true);
    let body =
        json!({"nonce": n, "username": "root", "password": "pw-root-1", "admin": true, "mac": mac});
    let (status, registered) = client.post(path, body.clone()).await;
    assert_eq!(status, 200, "{registered}");
    assert_eq!(registered["user_id"], "@root:localhost");
    assert_eq!(registered["home_server"], "localhost");
    let root = client.with_token(registered["access_token"].as_str().unwrap());
    assert_eq!(
        root.get("/_matrix/client/v3/account/whoami").await.1["user_id"],
        "@root:localhost"
    );

    // Nonces are single use.
    assert_error(&client.post(path, body).await, 400, "M_UNKNOWN");
    // A wrong MAC (here: signed as non-admin but asking for admin) is refused.
    let n = nonce(&client).await;
    let mac = synapse_mac(SHARED_SECRET, &n, "sneaky", "pw", false);
    let forged = client
        .post(
            path,
            json!({"nonce": n, "username": "sneaky", "password": "pw", "admin": true, "mac": mac}),
        )
        .await;
    assert_error(&forged, 403, "M_FORBIDDEN");
    let n = nonce(&client).await;
    let garbage = client
        .post(
            path,
            json!({"nonce": n, "username": "x", "password": "pw", "mac": "zz"}),
        )
        .await;
    assert_error(&garbage, 403, "M_FORBIDDEN");
    assert_error(
        &client.post(path, json!({"username": "x"})).await,
        400,
        "M_MISSING_PARAM",
    );
    // Taken and invalid names.
    let n = nonce(&client).await;
    let mac = synapse_mac(SHARED_SECRET, &n, "root", "pw", false);
    let taken = client
        .post(
            path,
            json!({"nonce": n, "username": "root", "password": "pw", "mac": mac}),
        )
        .await;
    assert_error(&taken, 400, "M_USER_IN_USE");
}

#[tokio::test]
async fn shared_secret_apis_are_off_without_a_secret() {
    let server = TestServer::spawn_with(|c| c.registration.shared_secret = None);
    let client = server.client();
    assert_error(
        &client.get("/_synapse/admin/v1/register").await,
        400,
        "M_UNKNOWN",
    );
    assert_error(
        &client.post("/_synapse/admin/v1/register", json!({})).await,
        400,
        "M_UNKNOWN",
    );
    assert_error(
        &client.get("/_citadel/admin/v1/cli").await,
        403,
        "M_FORBIDDEN",
    );
}

#[tokio::test]
async fn cli_endpoint_refuses_bad_macs() {
    let server = TestServer::spawn();
    let client = server.client();
    let (_, n) = client.get("/_citadel/admin/v1/cli").await;
    let body = json!({
        "nonce": n["nonce"],
        "action": {"action": "create_user", "username": "evil", "password": "pw", "admin": true},
        "mac": "00".repeat(32),
    });
    assert_error(
        &client.post("/_citadel/admin/v1/cli", body).await,
        403,
        "M_FORBIDDEN",
    );
    assert_error(&client.login("evil", "pw").await, 403, "M_FORBIDDEN");
}

/// The real binary: `admin create-user` on a stopped server, then `reset-password` and
/// `create-registration-token` through the running one.
#[tokio::test]
async fn admin_cli_works_with_the_server_stopped_and_running() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "closed");
    let password_file = dir.path().join("pw");
    std::fs::write(&password_file, "pw-carol-1\n").unwrap();

    let out = citadel_command(&config)
        .args([
            "admin",
            "create-user",
            "carol",
            "--admin",
            "--password-file",
        ])
        .arg(&password_file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "created @carol:localhost (admin)"
    );

    let server = BinaryServer::start(&config).await;
    let client = server.client();
    assert_eq!(client.login("carol", "pw-carol-1").await.0, 200);

    // The database is locked by the server now: the CLI goes through it.
    std::fs::write(&password_file, "pw-carol-2\n").unwrap();
    let out = citadel_command(&config)
        .args(["admin", "reset-password", "carol", "--password-file"])
        .arg(&password_file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_error(
        &client.login("carol", "pw-carol-1").await,
        403,
        "M_FORBIDDEN",
    );
    assert_eq!(client.login("carol", "pw-carol-2").await.0, 200);

    let out = citadel_command(&config)
        .args([
            "admin",
            "create-registration-token",
            "--token",
            "invite-42",
            "--uses",
            "3",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "invite-42");

    let out = citadel_command(&config)
        .args(["admin", "create-user", "carol", "--password-file"])
        .arg(&password_file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("M_USER_IN_USE"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    server.kill();
}

#[test]
fn check_config_lists_every_problem_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "server_name = \"no spaces allowed\"\n[http]\nbind = [\"nowhere\"]\n[database]\ncache_mb = 0\n").unwrap();
    let out = citadel_command(&bad).arg("check-config").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("server_name")
            && stderr.contains("http.bind")
            && stderr.contains("cache_mb"),
        "{stderr}"
    );

    let good = citadel_command(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../config.example.toml"
    )))
    .arg("check-config")
    .output()
    .unwrap();
    assert!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );
    let _ = Value::Null;
}
