//! Locked and suspended accounts, set through the spec's and Synapse's admin endpoints;
//! and admins acting for a user (joining them to a room, logging in as them).

use serde_json::json;

use crate::admin_api::admin;
use crate::common::*;

#[tokio::test]
async fn a_suspended_user_reads_and_leaves_but_cannot_act() {
    let server = TestServer::spawn();
    let root = admin(&server).await;
    let (alice, bob, room) = server.client().alice_and_bob_in_a_public_room().await;
    let own = bob.send_text(&room, "before").await;
    let path = format!("/_matrix/client/v1/admin/suspend/{}", enc(&bob.user_id));
    let (status, body) = root.client.put(&path, json!({"suspended": true})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"suspended": true}));
    assert_eq!(root.client.get(&path).await.1, json!({"suspended": true}));

    let suspended =
        |r: &(reqwest::StatusCode, serde_json::Value)| assert_error(r, 403, "M_USER_SUSPENDED");
    let c = &bob.client;
    suspended(
        &c.put(
            &format!(
                "/_matrix/client/v3/rooms/{}/send/m.room.message/s1",
                enc(&room)
            ),
            json!({"msgtype": "m.text", "body": "no"}),
        )
        .await,
    );
    suspended(&c.post("/_matrix/client/v3/createRoom", json!({})).await);
    suspended(
        &c.put(
            &format!(
                "/_matrix/client/v3/profile/{}/displayname",
                enc(&bob.user_id)
            ),
            json!({"displayname": "B"}),
        )
        .await,
    );
    suspended(
        &c.post(
            &format!("/_matrix/client/v3/rooms/{}/invite", enc(&room)),
            json!({"user_id": alice.user_id}),
        )
        .await,
    );
    // Reading, redacting his own message and leaving still work.
    assert_eq!(c.get("/_matrix/client/v3/sync").await.0, 200);
    let redact = format!(
        "/_matrix/client/v3/rooms/{}/redact/{}/r1",
        enc(&room),
        enc(&own)
    );
    assert_eq!(c.put(&redact, json!({})).await.0, 200);
    assert_eq!(
        c.post(
            &format!("/_matrix/client/v3/rooms/{}/leave", enc(&room)),
            json!({})
        )
        .await
        .0,
        200
    );
    suspended(&bob.join(&room).await);

    // Lifted through Synapse's endpoint.
    let (status, body) = root
        .client
        .put(
            &format!("/_synapse/admin/v1/suspend/{}", enc(&bob.user_id)),
            json!({"suspend": false}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body[format!("user_{}_suspended", bob.user_id)], false);
    assert_eq!(bob.join(&room).await.0, 200);
    let (_, info) = root
        .client
        .get(&format!("/_synapse/admin/v2/users/{}", enc(&bob.user_id)))
        .await;
    assert_eq!(info["suspended"], false);
}

#[tokio::test]
async fn a_locked_user_can_only_log_out() {
    let server = TestServer::spawn();
    let root = admin(&server).await;
    let alice = server.client().register("alice", "pw-alice-1").await;
    let path = format!("/_matrix/client/v1/admin/lock/{}", enc(&alice.user_id));
    assert_eq!(
        root.client.put(&path, json!({"locked": true})).await.1,
        json!({"locked": true})
    );
    let response = alice.client.get("/_matrix/client/v3/account/whoami").await;
    assert_error(&response, 401, "M_USER_LOCKED");
    assert_eq!(response.1["soft_logout"], true);
    assert_error(
        &alice.client.get("/_matrix/client/v3/sync").await,
        401,
        "M_USER_LOCKED",
    );
    // Nor can the account get a new token: a right password still ends in the lock.
    let (status, login) = server.client().login("alice", "pw-alice-1").await;
    assert_error(&(status, login.clone()), 401, "M_USER_LOCKED");
    assert_eq!(login["soft_logout"], true);
    let (status, _) = server.client().login("alice", "wrong-password").await;
    assert_eq!(status, 403, "a wrong password must not reveal the lock");
    // The session survives the lock: unlocked, the same token works again.
    let (_, info) = root
        .client
        .get(&format!("/_synapse/admin/v2/users/{}", enc(&alice.user_id)))
        .await;
    assert_eq!(info["locked"], true);
    root.client
        .put(
            &format!("/_synapse/admin/v2/users/{}", enc(&alice.user_id)),
            json!({"locked": false}),
        )
        .await;
    assert_eq!(
        alice
            .client
            .get("/_matrix/client/v3/account/whoami")
            .await
            .0,
        200
    );
    // Locked again, logging out still works.
    root.client.put(&path, json!({"locked": true})).await;
    assert_eq!(
        alice
            .client
            .post("/_matrix/client/v3/logout", json!({}))
            .await
            .0,
        200
    );
    // Admins cannot lock themselves out; bad bodies are refused.
    let own = format!("/_matrix/client/v1/admin/lock/{}", enc(&root.user_id));
    assert_error(
        &root.client.put(&own, json!({"locked": true})).await,
        400,
        "M_UNKNOWN",
    );
    assert_error(
        &root.client.put(&path, json!({"locked": "yes"})).await,
        400,
        "M_BAD_JSON",
    );
    assert_error(
        &root.client.put(&path, json!({})).await,
        400,
        "M_MISSING_PARAM",
    );
}

#[tokio::test]
async fn admins_join_users_to_rooms_and_log_in_as_them() {
    let server = TestServer::spawn();
    let root = admin(&server).await;
    let client = server.client();
    let alice = client.register("alice", "pw-alice-1").await;
    let bob = client.register("bob", "pw-bob-1").await;
    let public = bob
        .create_room(json!({"preset": "public_chat", "room_alias_name": "lobby"}))
        .await;
    let private = root.create_room(json!({"preset": "private_chat"})).await;
    let closed = bob.create_room(json!({"preset": "private_chat"})).await;
    let c = &root.client;
    let joined = |room: &str| format!("/_synapse/admin/v1/join/{}", enc(room));
    let body = json!({"user_id": alice.user_id});
    let (status, answer) = c.post(&joined("#lobby:localhost"), body.clone()).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["room_id"], public);
    let (status, _) = c.post(&joined(&private), body.clone()).await;
    assert_eq!(status, 200);
    let (_, rooms) = alice.client.get("/_matrix/client/v3/joined_rooms").await;
    let rooms: Vec<&str> = rooms["joined_rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(
        rooms.contains(&public.as_str()) && rooms.contains(&private.as_str()),
        "{rooms:?}"
    );
    // A private room the admin is not in: no way to let the user in.
    assert_error(
        &c.post(&joined(&closed), body.clone()).await,
        403,
        "M_FORBIDDEN",
    );
    assert_error(
        &c.post(&joined("#nowhere:localhost"), body.clone()).await,
        404,
        "M_NOT_FOUND",
    );
    assert_error(
        &c.post(&joined(&public), json!({"user_id": "@nobody:localhost"}))
            .await,
        404,
        "M_NOT_FOUND",
    );

    // Logging in as alice: a token of hers, on a device she can see, in the audit trail.
    let login = format!("/_synapse/admin/v1/users/{}/login", enc(&alice.user_id));
    let (status, token) = c.post(&login, json!({})).await;
    assert_eq!(status, 200, "{token}");
    let as_alice = client.with_token(token["access_token"].as_str().unwrap());
    let (_, me) = as_alice.get("/_matrix/client/v3/account/whoami").await;
    assert_eq!(me["user_id"], alice.user_id);
    let (_, devices) = alice.client.get("/_matrix/client/v3/devices").await;
    assert!(
        devices["devices"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["display_name"]
                .as_str()
                .is_some_and(|n| n.contains("admin"))),
        "{devices}"
    );
    let (_, audit) = c
        .get("/_citadel/admin/v1/audit?action=admin.user.login_as")
        .await;
    assert_eq!(audit["entries"][0]["target"], alice.user_id);
    assert_eq!(audit["entries"][0]["actor"], root.user_id);
    assert_error(
        &c.post(
            &format!("/_synapse/admin/v1/users/{}/login", enc(&root.user_id)),
            json!({}),
        )
        .await,
        400,
        "M_UNKNOWN",
    );
    assert_error(
        &c.post(
            &format!(
                "/_synapse/admin/v1/users/{}/login",
                enc("@nobody:localhost")
            ),
            json!({}),
        )
        .await,
        404,
        "M_NOT_FOUND",
    );
}

#[tokio::test]
async fn a_shadow_banned_user_is_told_yes_and_reaches_no_one() {
    let server = TestServer::spawn();
    let root = admin(&server).await;
    let client = server.client();
    let (alice, bob, room) = client.alice_and_bob_in_a_public_room().await;
    let carol = client.register("carol", "pw-carol-1").await;
    let ban = format!("/_synapse/admin/v1/users/{}/shadow_ban", enc(&bob.user_id));
    assert_eq!(
        root.client.post(&ban, json!({})).await,
        (reqwest::StatusCode::OK, json!({}))
    );
    let (_, info) = root
        .client
        .get(&format!("/_synapse/admin/v2/users/{}", enc(&bob.user_id)))
        .await;
    assert_eq!(info["shadow_banned"], true);

    let (status, sent) = bob
        .client
        .put(
            &format!(
                "/_matrix/client/v3/rooms/{}/send/m.room.message/sb1",
                enc(&room)
            ),
            json!({"msgtype": "m.text", "body": "spam"}),
        )
        .await;
    assert_eq!(status, 200, "{sent}");
    assert!(sent["event_id"].as_str().unwrap().starts_with('$'));
    let (status, _) = bob
        .client
        .put(
            &format!(
                "/_matrix/client/v3/rooms/{}/state/m.room.topic/",
                enc(&room)
            ),
            json!({"topic": "spam"}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = bob
        .client
        .post(
            &format!("/_matrix/client/v3/rooms/{}/invite", enc(&room)),
            json!({"user_id": carol.user_id}),
        )
        .await;
    assert_eq!(status, 200);
    // Nobody sees any of it.
    let (_, messages) = alice
        .client
        .get(&format!(
            "/_matrix/client/v3/rooms/{}/messages?dir=b&limit=20",
            enc(&room)
        ))
        .await;
    let bodies: Vec<&str> = messages["chunk"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["content"]["body"].as_str())
        .collect();
    assert!(!bodies.contains(&"spam"), "{bodies:?}");
    assert_error(
        &alice
            .client
            .get(&format!(
                "/_matrix/client/v3/rooms/{}/state/m.room.topic/",
                enc(&room)
            ))
            .await,
        404,
        "M_NOT_FOUND",
    );
    assert_eq!(carol.sync(None, 0).await["rooms"]["invite"], json!({}));
    // Lifted: his messages go through again.
    assert_eq!(root.client.delete(&ban, json!({})).await.0, 200);
    bob.send_text(&room, "back to normal").await;
    let (_, messages) = alice
        .client
        .get(&format!(
            "/_matrix/client/v3/rooms/{}/messages?dir=b&limit=5",
            enc(&room)
        ))
        .await;
    assert_eq!(messages["chunk"][0]["content"]["body"], "back to normal");
}

/// Sends one text message with a fresh transaction ID; returns the status and body.
async fn try_send(user: &User, room: &str, txn: &str) -> (reqwest::StatusCode, serde_json::Value) {
    user.client
        .put(
            &format!(
                "/_matrix/client/v3/rooms/{}/send/m.room.message/{txn}",
                enc(room)
            ),
            json!({"msgtype": "m.text", "body": txn}),
        )
        .await
}

#[tokio::test]
async fn override_ratelimit_lifts_or_sets_a_users_message_rate() {
    let server = TestServer::spawn_with(|c| {
        c.rate_limits.enabled = true;
        // Registration and login are limited too: room enough for the test's accounts.
        c.rate_limits.registration.burst = 20;
        c.rate_limits.login.burst = 20;
        c.rate_limits.messages.per_second = 0.001;
        c.rate_limits.messages.burst = 3;
    });
    let root = admin(&server).await;
    let (_alice, bob, room) = server.client().alice_and_bob_in_a_public_room().await;
    let path = format!(
        "/_synapse/admin/v1/users/{}/override_ratelimit",
        enc(&bob.user_id)
    );

    // The configured rate: three, then 429 with a hint; a retried transaction is free.
    for n in 0..3 {
        assert_eq!(try_send(&bob, &room, &format!("a{n}")).await.0, 200);
    }
    assert_eq!(try_send(&bob, &room, "a0").await.0, 200);
    let limited = try_send(&bob, &room, "a3").await;
    assert_error(&limited, 429, "M_LIMIT_EXCEEDED");
    assert!(limited.1["retry_after_ms"].as_u64().unwrap() > 0);

    // No override yet: `{}`.
    let (status, body) = root.client.get(&path).await;
    assert_eq!((status.as_u16(), body), (200, json!({})));

    // Zeros (the defaults of an empty body) lift the limit.
    let (status, body) = root.client.post(&path, json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"messages_per_second": 0, "burst_count": 0}));
    assert_eq!(root.client.get(&path).await.1, body);
    for n in 0..10 {
        assert_eq!(try_send(&bob, &room, &format!("b{n}")).await.0, 200);
    }

    // A rate of his own: a burst of five.
    let (status, body) = root
        .client
        .post(&path, json!({"messages_per_second": 1, "burst_count": 5}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"messages_per_second": 1, "burst_count": 5}));
    let mut sent = 0;
    while try_send(&bob, &room, &format!("c{sent}")).await.0 == 200 {
        sent += 1;
        assert!(sent < 20, "the override's burst was not applied");
    }
    assert!((5..=6).contains(&sent), "{sent}");

    // Deleted: back to the configured rate (his bucket is still empty).
    let (status, body) = root.client.delete(&path, json!({})).await;
    assert_eq!((status.as_u16(), body), (200, json!({})));
    assert_eq!(root.client.get(&path).await.1, json!({}));
    assert_error(&try_send(&bob, &room, "d0").await, 429, "M_LIMIT_EXCEEDED");

    // Each change is in the audit trail.
    for action in [
        "admin.user.override_ratelimit",
        "admin.user.delete_ratelimit_override",
    ] {
        let (_, audit) = root
            .client
            .get(&format!("/_citadel/admin/v1/audit?action={action}"))
            .await;
        assert_eq!(audit["entries"][0]["target"], bob.user_id, "{action}");
        assert_eq!(audit["entries"][0]["actor"], root.user_id, "{action}");
    }

    // Bad input.
    for bad in [
        json!({"messages_per_second": -1}),
        json!({"burst_count": "5"}),
        json!({"messages_per_second": 1.5}),
    ] {
        assert_error(&root.client.post(&path, bad).await, 400, "M_INVALID_PARAM");
    }
    assert_error(
        &root
            .client
            .raw(reqwest::Method::POST, &path, b"{not json")
            .await,
        400,
        "M_NOT_JSON",
    );
    assert_error(
        &root
            .client
            .get("/_synapse/admin/v1/users/%40nobody%3Alocalhost/override_ratelimit")
            .await,
        404,
        "M_NOT_FOUND",
    );
    assert_error(
        &root
            .client
            .get("/_synapse/admin/v1/users/%40someone%3Aelsewhere.org/override_ratelimit")
            .await,
        400,
        "M_UNKNOWN",
    );
    assert_error(&bob.client.get(&path).await, 403, "M_FORBIDDEN");
}
