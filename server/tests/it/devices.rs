use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn devices_can_be_listed_read_and_renamed() {
    let server = TestServer::spawn();
    let client = server.client();
    let alice = client.register("alice", "pw-alice-1").await;
    let (status, body) = alice.client.get("/_matrix/client/v3/devices").await;
    assert_eq!(status, 200);
    let devices = body["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0]["device_id"], alice.device_id);
    assert_eq!(devices[0]["last_seen_ip"], "127.0.0.1");
    assert!(devices[0]["last_seen_ts"].as_u64().unwrap() > 1_600_000_000_000);

    let path = format!("/_matrix/client/v3/devices/{}", alice.device_id);
    let (status, body) = alice
        .client
        .put(&path, json!({"display_name": "Laptop"}))
        .await;
    assert_eq!((status.as_u16(), body), (200, json!({})));
    let (status, device) = alice.client.get(&path).await;
    assert_eq!(status, 200);
    assert_eq!(device["display_name"], "Laptop");
    assert_eq!(device["device_id"], alice.device_id);
    // r0 too.
    assert_eq!(
        alice
            .client
            .get(&format!("/_matrix/client/r0/devices/{}", alice.device_id))
            .await
            .1["display_name"],
        "Laptop"
    );

    assert_error(
        &alice.client.get("/_matrix/client/v3/devices/NOSUCH").await,
        404,
        "M_NOT_FOUND",
    );
    assert_error(
        &alice
            .client
            .put(
                "/_matrix/client/v3/devices/NOSUCH",
                json!({"display_name": "x"}),
            )
            .await,
        404,
        "M_NOT_FOUND",
    );
    assert_error(
        &alice
            .client
            .put(&path, json!({"display_name": "x".repeat(101)}))
            .await,
        400,
        "M_INVALID_PARAM",
    );

    // Another user's device is not found, not leaked.
    let bob = client.register("bob", "pw-bob-1").await;
    assert_error(&bob.client.get(&path).await, 404, "M_NOT_FOUND");
    assert_error(
        &client.get("/_matrix/client/v3/devices").await,
        401,
        "M_MISSING_TOKEN",
    );
}

#[tokio::test]
async fn deleting_a_device_needs_the_password_and_revokes_its_token() {
    let server = TestServer::spawn();
    let client = server.client();
    let alice = client.register("alice", "pw-alice-1").await;
    let (_, other) = client.login("alice", "pw-alice-1").await;
    let other_device = other["device_id"].as_str().unwrap();
    let other_client = client.with_token(other["access_token"].as_str().unwrap());
    let path = format!("/_matrix/client/v3/devices/{other_device}");

    let (status, challenge) = alice.client.delete(&path, json!({})).await;
    assert_eq!(status, 401, "{challenge}");
    assert_eq!(
        challenge["flows"],
        json!([{"stages": ["m.login.password"]}])
    );
    let session = challenge["session"].as_str().unwrap();

    // Bob's valid password does not authorise Alice's operation.
    let bob = client.register("bob", "pw-bob-1").await;
    let wrong_user = alice
        .client
        .delete(
            &path,
            json!({"auth": password_auth(&bob.user_id, "pw-bob-1", Some(session))}),
        )
        .await;
    // A refusal, not a stage to retry: a plain 403 without the UIAA flows.
    assert_error(&wrong_user, 403, "M_FORBIDDEN");
    assert!(wrong_user.1.get("flows").is_none(), "{}", wrong_user.1);
    // Alice's session cannot be used by Bob either.
    let hijack = bob
        .client
        .post(
            "/_matrix/client/v3/delete_devices",
            json!({"devices": [], "auth": password_auth(&bob.user_id, "pw-bob-1", Some(session))}),
        )
        .await;
    assert_error(&hijack, 403, "M_FORBIDDEN");

    let wrong_password = alice
        .client
        .delete(
            &path,
            json!({"auth": password_auth(&alice.user_id, "nope", Some(session))}),
        )
        .await;
    assert_eq!(wrong_password.0, 401);
    assert_eq!(wrong_password.1["errcode"], "M_FORBIDDEN");
    assert_eq!(wrong_password.1["session"], session);

    // The legacy "user" field in the auth dict works too.
    let (status, body) = alice
        .client
        .delete(&path, json!({"auth": {"type": "m.login.password", "user": "alice", "password": "pw-alice-1", "session": session}}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_error(
        &other_client.get("/_matrix/client/v3/account/whoami").await,
        401,
        "M_UNKNOWN_TOKEN",
    );
    assert_error(
        &alice.client.delete(&path, json!({})).await,
        404,
        "M_NOT_FOUND",
    );
}

#[tokio::test]
async fn delete_devices_removes_many_and_skips_unknown_ids() {
    let server = TestServer::spawn();
    let client = server.client();
    let alice = client.register("alice", "pw-alice-1").await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let (_, body) = client.login("alice", "pw-alice-1").await;
        ids.push(body["device_id"].as_str().unwrap().to_owned());
    }
    ids.push("UNKNOWNDEV".into());
    let (status, body) = alice
        .client
        .post(
            "/_matrix/client/v3/delete_devices",
            json!({"devices": ids, "auth": password_auth("alice", "pw-alice-1", None)}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, devices) = alice.client.get("/_matrix/client/v3/devices").await;
    let remaining: Vec<_> = devices["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["device_id"].clone())
        .collect();
    assert_eq!(remaining, vec![json!(alice.device_id)]);
}

/// A user-interactive auth session is bound to the devices it was started for: one
/// started to delete one device cannot delete another.
#[tokio::test]
async fn an_auth_session_cannot_move_to_other_devices() {
    let server = TestServer::spawn();
    let client = server.client();
    let alice = client.register("alice", "pw-alice-1").await;
    let (_, first) = client.login("alice", "pw-alice-1").await;
    let (_, second) = client.login("alice", "pw-alice-1").await;
    let (first, second) = (
        first["device_id"].as_str().unwrap().to_owned(),
        second["device_id"].as_str().unwrap().to_owned(),
    );
    let (status, challenge) = alice
        .client
        .delete(&format!("/_matrix/client/v3/devices/{first}"), json!({}))
        .await;
    assert_eq!(status, 401);
    let session = challenge["session"].as_str().unwrap();
    let auth = password_auth(&alice.user_id, "pw-alice-1", Some(session));
    assert_error(
        &alice
            .client
            .delete(
                &format!("/_matrix/client/v3/devices/{second}"),
                json!({ "auth": auth }),
            )
            .await,
        403,
        "M_FORBIDDEN",
    );
    assert_error(
        &alice
            .client
            .post(
                "/_matrix/client/v3/delete_devices",
                json!({"devices": [first, second], "auth": auth}),
            )
            .await,
        403,
        "M_FORBIDDEN",
    );
    let (_, devices) = alice.client.get("/_matrix/client/v3/devices").await;
    assert_eq!(devices["devices"].as_array().unwrap().len(), 3, "{devices}");
    // For the device it was started for, the session works.
    let (status, body) = alice
        .client
        .delete(
            &format!("/_matrix/client/v3/devices/{first}"),
            json!({ "auth": auth }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}
