use serde_json::Value;

use crate::common::*;

#[tokio::test]
async fn versions_lists_current_and_legacy_spec_versions() {
    let server = TestServer::spawn();
    let (status, body) = server.client().get("/_matrix/client/versions").await;
    assert_eq!(status, 200);
    let versions: Vec<&str> = body["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        versions.contains(&"v1.19") && versions.contains(&"r0.6.1"),
        "{versions:?}"
    );
    assert!(body["unstable_features"].is_object());
}

#[tokio::test]
async fn well_known_client_points_at_the_configured_base_url() {
    let server =
        TestServer::spawn_with(|c| c.public_baseurl = Some("https://matrix.example.org".into()));
    let (status, body) = server.client().get("/.well-known/matrix/client").await;
    assert_eq!(status, 200);
    assert_eq!(
        body["m.homeserver"]["base_url"],
        "https://matrix.example.org/"
    );
}

#[tokio::test]
async fn well_known_server_is_404_without_delegation_and_set_with_it() {
    let server = TestServer::spawn();
    assert_error(
        &server.client().get("/.well-known/matrix/server").await,
        404,
        "M_NOT_FOUND",
    );
    let server =
        TestServer::spawn_with(|c| c.well_known.server = Some("matrix.example.org:443".into()));
    let (status, body) = server.client().get("/.well-known/matrix/server").await;
    assert_eq!(status, 200);
    assert_eq!(body["m.server"], "matrix.example.org:443");
}

#[tokio::test]
async fn capabilities_need_auth_and_list_room_versions() {
    let server = TestServer::spawn();
    let client = server.client();
    assert_error(
        &client.get("/_matrix/client/v3/capabilities").await,
        401,
        "M_MISSING_TOKEN",
    );
    let alice = client.register("alice", "pw-alice-1").await;
    let (status, body) = alice.client.get("/_matrix/client/v3/capabilities").await;
    assert_eq!(status, 200, "{body}");
    let caps = &body["capabilities"];
    assert_eq!(caps["m.change_password"]["enabled"], true);
    assert_eq!(caps["m.room_versions"]["default"], "12");
    let available = caps["m.room_versions"]["available"].as_object().unwrap();
    for v in 1..=12 {
        assert_eq!(available[&v.to_string()], Value::from("stable"));
    }
    assert_eq!(caps["m.3pid_changes"]["enabled"], false);
    // The legacy r0 prefix serves the same endpoint.
    let (status, _) = alice.client.get("/_matrix/client/r0/capabilities").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn server_keys_are_published_signed_and_stable() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::spawn_in(dir.path(), |_| {});
    let (status, document) = server.client().get("/_matrix/key/v2/server").await;
    assert_eq!(status, 200);
    let verified = citadel_federation::server_keys::verify_keys(&document, "localhost").unwrap();
    assert!(verified.valid_until_ts > citadel_storage::now_ms());
    server.stop();
    let server = TestServer::spawn_in(dir.path(), |_| {});
    let (_, again) = server.client().get("/_matrix/key/v2/server").await;
    assert_eq!(
        again["verify_keys"], document["verify_keys"],
        "the key survives restarts"
    );
    let (_, version) = server.client().get("/_matrix/federation/v1/version").await;
    assert_eq!(version["server"]["name"], "Citadel");
}
