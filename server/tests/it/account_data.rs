use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn global_and_room_account_data_round_trip() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let global = "/_matrix/client/v3/user/@alice:localhost/account_data/org.example.settings";
    let room = "/_matrix/client/v3/user/@alice:localhost/rooms/!room:localhost/account_data/org.example.settings";

    assert_error(&alice.client.get(global).await, 404, "M_NOT_FOUND");
    assert_eq!(
        alice.client.put(global, json!({"theme": "dark"})).await.0,
        200
    );
    assert_eq!(alice.client.put(room, json!({"pinned": true})).await.0, 200);
    assert_eq!(alice.client.get(global).await.1, json!({"theme": "dark"}));
    assert_eq!(alice.client.get(room).await.1, json!({"pinned": true}));
    assert_eq!(
        alice.client.put(global, json!({"theme": "light"})).await.0,
        200
    );
    assert_eq!(alice.client.get(global).await.1, json!({"theme": "light"}));
    assert_eq!(
        alice.client.get(&global.replace("/v3/", "/r0/")).await.1,
        json!({"theme": "light"})
    );
}

#[tokio::test]
async fn account_data_errors() {
    let server = TestServer::spawn();
    let client = server.client();
    let alice = client.register("alice", "pw-alice-1").await;
    let bob = client.register("bob", "pw-bob-1").await;
    let global = "/_matrix/client/v3/user/@alice:localhost/account_data/org.example.x";

    assert_error(
        &bob.client.put(global, json!({"a": 1})).await,
        403,
        "M_FORBIDDEN",
    );
    assert_error(&bob.client.get(global).await, 403, "M_FORBIDDEN");
    assert_error(&client.get(global).await, 401, "M_MISSING_TOKEN");
    assert_error(
        &alice.client.put(global, json!([1, 2])).await,
        400,
        "M_BAD_JSON",
    );
    assert_error(
        &alice
            .client
            .raw(reqwest::Method::PUT, global, b"{oops")
            .await,
        400,
        "M_NOT_JSON",
    );
    assert_error(
        &alice
            .client
            .put(
                "/_matrix/client/v3/user/@alice:localhost/account_data/m.push_rules",
                json!({}),
            )
            .await,
        405,
        "M_BAD_JSON",
    );
    assert_error(
        &alice
            .client
            .put("/_matrix/client/v3/user/@alice:localhost/rooms/!r:localhost/account_data/m.fully_read", json!({"event_id": "$e"}))
            .await,
        405,
        "M_BAD_JSON",
    );
    assert_error(
        &alice
            .client
            .put(
                "/_matrix/client/v3/user/@alice:localhost/rooms/not-a-room/account_data/x",
                json!({}),
            )
            .await,
        400,
        "M_INVALID_PARAM",
    );
}

/// Values canonical JSON cannot carry are refused as `/send` refuses them, and nothing is
/// stored: they used to be accepted and then came back as `"content": null` in `/sync`.
#[tokio::test]
async fn account_data_must_be_canonical_json() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let global = "/_matrix/client/v3/user/@alice:localhost/account_data/org.example.x";
    let room =
        "/_matrix/client/v3/user/@alice:localhost/rooms/!room:localhost/account_data/org.example.x";
    assert_eq!(alice.client.put(global, json!({"kept": 1})).await.0, 200);
    let deep: &'static [u8] = Box::leak(
        format!("{{\"a\":{}1{}}}", "[".repeat(10_000), "]".repeat(10_000))
            .into_bytes()
            .into_boxed_slice(),
    );
    let bodies: [&'static [u8]; 5] = [
        br#"{"big": 1e400}"#,
        br#"{"float": 1.5}"#,
        br#"{"beyond": 18446744073709551616}"#,
        br#"{"lone": "\ud800"}"#,
        deep,
    ];
    for path in [global, room] {
        for body in bodies {
            let (status, answer) = alice.client.raw(reqwest::Method::PUT, path, body).await;
            assert_eq!(
                status,
                400,
                "{}: {answer}",
                String::from_utf8_lossy(&body[..body.len().min(40)])
            );
            assert!(
                ["M_BAD_JSON", "M_NOT_JSON"].contains(&answer["errcode"].as_str().unwrap()),
                "{answer}"
            );
        }
    }
    assert_eq!(alice.client.get(global).await.1, json!({"kept": 1}));
    assert_error(&alice.client.get(room).await, 404, "M_NOT_FOUND");
    let (_, sync) = alice.client.get("/_matrix/client/v3/sync").await;
    let events = sync["account_data"]["events"].as_array().unwrap();
    let ours: Vec<_> = events
        .iter()
        .filter(|e| e["type"] == "org.example.x")
        .collect();
    assert_eq!(ours.len(), 1, "{sync}");
    assert_eq!(ours[0]["content"], json!({"kept": 1}));
}

/// The same limits hold for the other JSON a client stores for others to read: to-device
/// messages and key-backup sessions.
#[tokio::test]
async fn to_device_and_backup_bodies_must_be_canonical_json() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let to_device = "/_matrix/client/v3/sendToDevice/org.example.x/t1";
    for body in [
        json!({"messages": {"@alice:localhost": {"*": {"n": 1.5}}}}),
        json!({"messages": {"@alice:localhost": {"*": {"n": 9007199254740993u64}}}}),
    ] {
        assert_error(&alice.client.put(to_device, body).await, 400, "M_BAD_JSON");
    }
    let fine = json!({"messages": {"@alice:localhost": {"*": {"n": 1}}}});
    assert_eq!(alice.client.put(to_device, fine).await.0, 200);
    let (status, version) = alice
        .client
        .post(
            "/_matrix/client/v3/room_keys/version",
            json!({"algorithm": "m.megolm_backup.v1.curve25519-aes-sha2", "auth_data": {"public_key": "abc"}}),
        )
        .await;
    assert_eq!(status, 200, "{version}");
    let version = version["version"].as_str().unwrap();
    let session = format!("/_matrix/client/v3/room_keys/keys/!r:localhost/s1?version={version}");
    let body = json!({"first_message_index": 0.5, "forwarded_count": 0, "is_verified": false, "session_data": {}});
    assert_error(&alice.client.put(&session, body).await, 400, "M_BAD_JSON");
}
