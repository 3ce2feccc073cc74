//! Synapse's admin API on users in rooms: memberships, invite and join counts,
//! password resets, and making a user a room's admin.

use serde_json::json;

use crate::admin_api::admin;
use crate::common::*;

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[tokio::test]
async fn memberships_and_the_invite_and_join_counts_since_a_moment() {
    let server = TestServer::spawn();
    let root = admin(&server).await;
    let client = server.client();
    let (alice, bob, public) = client.alice_and_bob_in_a_public_room().await;
    let carol = client.register("carol", "pw-carol-1").await;
    let private = alice.create_room(json!({})).await;
    let invite = |room: &str, user: &str| {
        let path = format!("/_matrix/client/v3/rooms/{}/invite", enc(room));
        let body = json!({"user_id": user});
        let alice = alice.clone();
        async move { alice.client.post(&path, body).await }
    };
    assert_eq!(invite(&private, &carol.user_id).await.0, 200);
    let cutoff = now_ms() + 1;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    assert_eq!(invite(&private, &bob.user_id).await.0, 200);
    let later = alice.create_room(json!({"preset": "public_chat"})).await;
    assert_eq!(bob.join(&later).await.0, 200);
    let (status, _) = bob
        .client
        .post(
            &format!("/_matrix/client/v3/rooms/{}/leave", enc(&later)),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);

    let base = |user: &str, what: &str| format!("/_synapse/admin/v1/users/{}/{what}", enc(user));
    let (status, body) = root.client.get(&base(&bob.user_id, "memberships")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"memberships": {public.as_str(): "join", private.as_str(): "invite", later.as_str(): "leave"}})
    );

    // Alice's two invites: only the one after the cutoff counts.
    let count = |user: &str, what: &str, from: u64| {
        let path = format!("{}?from_ts={from}", base(user, what));
        let c = root.client.clone();
        async move { c.get(&path).await }
    };
    assert_eq!(
        count(&alice.user_id, "sent_invite_count", 0).await.1,
        json!({"invite_count": 2})
    );
    assert_eq!(
        count(&alice.user_id, "sent_invite_count", cutoff).await.1,
        json!({"invite_count": 1})
    );
    // Bob joined two rooms, one after the cutoff (and left it: it still counts).
    assert_eq!(
        count(&bob.user_id, "cumulative_joined_room_count", 0)
            .await
            .1,
        json!({"cumulative_joined_room_count": 2})
    );
    assert_eq!(
        count(&bob.user_id, "cumulative_joined_room_count", cutoff)
            .await
            .1,
        json!({"cumulative_joined_room_count": 1})
    );

    assert_error(
        &root
            .client
            .get(&base(&bob.user_id, "sent_invite_count"))
            .await,
        400,
        "M_MISSING_PARAM",
    );
    assert_error(
        &root
            .client
            .get(&format!(
                "{}?from_ts=soon",
                base(&bob.user_id, "sent_invite_count")
            ))
            .await,
        400,
        "M_INVALID_PARAM",
    );
    assert_error(
        &root
            .client
            .get(&base("@nobody:localhost", "memberships"))
            .await,
        404,
        "M_NOT_FOUND",
    );
    assert_error(
        &root
            .client
            .get(&base("@someone:elsewhere.example", "memberships"))
            .await,
        400,
        "M_UNKNOWN",
    );
}

#[tokio::test]
async fn an_admin_resets_a_password_and_logs_the_devices_out() {
    let server = TestServer::spawn();
    let root = admin(&server).await;
    let client = server.client();
    let alice = client.register("alice", "pw-alice-1").await;
    let path = format!("/_synapse/admin/v1/reset_password/{}", enc(&alice.user_id));

    let (status, body) = root
        .client
        .post(
            &path,
            json!({"new_password": "pw-alice-2", "logout_devices": false}),
        )
        .await;
    assert_eq!((status.as_u16(), &body), (200, &json!({})));
    assert_eq!(
        alice
            .client
            .get("/_matrix/client/v3/account/whoami")
            .await
            .0,
        200
    );
    assert_error(
        &client.login("alice", "pw-alice-1").await,
        403,
        "M_FORBIDDEN",
    );
    assert_eq!(client.login("alice", "pw-alice-2").await.0, 200);

    let (status, _) = root
        .client
        .post(&path, json!({"new_password": "pw-alice-3"}))
        .await;
    assert_eq!(status, 200);
    assert_error(
        &alice.client.get("/_matrix/client/v3/account/whoami").await,
        401,
        "M_UNKNOWN_TOKEN",
    );
    assert_eq!(client.login("alice", "pw-alice-3").await.0, 200);
    let (_, audit) = root
        .client
        .get("/_citadel/admin/v1/audit?action=admin.user.reset_password")
        .await;
    assert_eq!(audit["entries"].as_array().unwrap().len(), 2, "{audit}");

    assert_error(
        &root.client.post(&path, json!({})).await,
        400,
        "M_MISSING_PARAM",
    );
    assert_error(
        &root.client.post(&path, json!({"new_password": 5})).await,
        400,
        "M_BAD_JSON",
    );
    assert_error(
        &root
            .client
            .post(
                &format!(
                    "/_synapse/admin/v1/reset_password/{}",
                    enc("@nobody:localhost")
                ),
                json!({"new_password": "x-long-enough"}),
            )
            .await,
        404,
        "M_NOT_FOUND",
    );
    assert_eq!(client.login("alice", "pw-alice-3").await.0, 200);
}

#[tokio::test]
async fn make_room_admin_raises_a_user_to_the_top_local_power_and_invites_them() {
    let server = TestServer::spawn();
    let root = admin(&server).await;
    let client = server.client();
    let alice = client.register("alice", "pw-alice-1").await;
    let room = alice
        .create_room(json!({"room_alias_name": "secret", "room_version": "11"}))
        .await;
    let path = format!(
        "/_synapse/admin/v1/rooms/{}/make_room_admin",
        enc("#secret:localhost")
    );

    // The admin, by default: raised to alice's 100 and invited (the room is private).
    let (status, body) = root.client.post(&path, json!({})).await;
    assert_eq!((status.as_u16(), &body), (200, &json!({})));
    let (_, levels) = alice
        .client
        .get(&format!(
            "/_matrix/client/v3/rooms/{}/state/m.room.power_levels/",
            enc(&room)
        ))
        .await;
    assert_eq!(levels["users"][&root.user_id], 100, "{levels}");
    let (_, member) = alice
        .client
        .get(&format!(
            "/_matrix/client/v3/rooms/{}/state/m.room.member/{}",
            enc(&room),
            enc(&root.user_id)
        ))
        .await;
    assert_eq!(member["membership"], "invite");
    assert_eq!(root.join(&room).await.0, 200);

    // A room where no local member may change power levels: alice gave hers up.
    let bob = client.register("bob", "pw-bob-1").await;
    let room = alice.create_room(json!({"room_version": "11"})).await;
    let (status, _) = alice
        .client
        .put(
            &format!(
                "/_matrix/client/v3/rooms/{}/state/m.room.power_levels/",
                enc(&room)
            ),
            {
                let mut levels = levels.clone();
                levels["users"] = json!({});
                levels["users_default"] = json!(0);
                levels
            },
        )
        .await;
    assert_eq!(status, 200);
    let by_id = format!("/_synapse/admin/v1/rooms/{}/make_room_admin", enc(&room));
    assert_error(
        &root
            .client
            .post(&by_id, json!({"user_id": bob.user_id}))
            .await,
        400,
        "M_UNKNOWN",
    );

    assert_error(
        &root
            .client
            .post(
                &format!(
                    "/_synapse/admin/v1/rooms/{}/make_room_admin",
                    enc("!unknown:localhost")
                ),
                json!({}),
            )
            .await,
        404,
        "M_NOT_FOUND",
    );
    assert_error(
        &root
            .client
            .post(&by_id, json!({"user_id": "@x:elsewhere.example"}))
            .await,
        400,
        "M_UNKNOWN",
    );
    assert_error(
        &root.client.post(&by_id, json!({"user_id": 3})).await,
        400,
        "M_BAD_JSON",
    );
}

/// Polls a redaction task until it is over (bounded: 20 s).
async fn redaction_done(root: &User, redact_id: &str) -> serde_json::Value {
    let path = format!("/_synapse/admin/v1/user/redact_status/{redact_id}");
    for _ in 0..200 {
        let (status, body) = root.client.get(&path).await;
        assert_eq!(status, 200, "{body}");
        if body["status"] == "complete" || body["status"] == "failed" {
            return body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("redaction {redact_id} did not finish");
}

#[tokio::test]
async fn an_admin_redacts_a_spammers_events_in_the_background() {
    let server = TestServer::spawn();
    let root = admin(&server).await;
    let (alice, bob, room) = server.client().alice_and_bob_in_a_public_room().await;
    let spam: Vec<String> = [
        bob.send_text(&room, "buy now").await,
        bob.send_text(&room, "cheap").await,
    ]
    .into();
    let kept = alice.send_text(&room, "hello").await;
    let event = |id: &str| format!("/_matrix/client/v3/rooms/{}/event/{}", enc(&room), enc(id));

    // As the admin, who is not in the room: every redaction fails, and says why.
    let path = format!("/_synapse/admin/v1/user/{}/redact", enc(&bob.user_id));
    let (status, started) = root
        .client
        .post(&path, json!({"rooms": [room], "use_admin": true}))
        .await;
    assert_eq!(status, 200, "{started}");
    let done = redaction_done(&root, started["redact_id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "complete");
    let failed = done["failed_redactions"].as_object().unwrap();
    for id in &spam {
        assert!(failed.contains_key(id), "{done}");
    }
    assert_eq!(
        alice.client.get(&event(&spam[0])).await.1["content"]["body"],
        "buy now"
    );

    // Puppeting bob, in all his rooms.
    let (status, started) = root
        .client
        .post(&path, json!({"rooms": [], "reason": "spam"}))
        .await;
    assert_eq!(status, 200, "{started}");
    let done = redaction_done(&root, started["redact_id"].as_str().unwrap()).await;
    assert_eq!(done, json!({"status": "complete", "failed_redactions": {}}));
    for id in &spam {
        let (_, redacted) = alice.client.get(&event(id)).await;
        assert_eq!(redacted["content"], json!({}), "{redacted}");
        assert_eq!(
            redacted["unsigned"]["redacted_because"]["content"]["reason"],
            "spam"
        );
    }
    assert_eq!(
        alice.client.get(&event(&kept)).await.1["content"]["body"],
        "hello"
    );
    let (_, audit) = root
        .client
        .get("/_citadel/admin/v1/audit?action=admin.user.redact")
        .await;
    assert_eq!(audit["entries"].as_array().unwrap().len(), 2, "{audit}");

    assert_error(
        &root.client.post(&path, json!({})).await,
        400,
        "M_MISSING_PARAM",
    );
    assert_error(
        &root.client.post(&path, json!({"rooms": "all"})).await,
        400,
        "M_BAD_JSON",
    );
    assert_error(
        &root.client.post(&path, json!({"rooms": ["nope"]})).await,
        400,
        "M_INVALID_PARAM",
    );
    assert_error(
        &root
            .client
            .get("/_synapse/admin/v1/user/redact_status/nope")
            .await,
        404,
        "M_NOT_FOUND",
    );
}
