//! Room creation and state.

use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn create_room_sends_the_spec_events_in_order_for_every_room_version() {
    let server = TestServer::spawn();
    let client = server.client();
    let alice = client.register("alice", "pw-alice-1").await;
    let bob = client.register("bob", "pw-bob-1").await;
    for version in 1..=12 {
        let room_id = alice
            .create_room(json!({
                "room_version": version.to_string(), "name": "Room", "topic": "Topic",
                "invite": [bob.user_id], "room_alias_name": format!("room{version}"),
            }))
            .await;
        let (status, body) = alice
            .client
            .get(&format!(
                "/_matrix/client/v3/rooms/{}/messages?dir=f&limit=50",
                enc(&room_id)
            ))
            .await;
        assert_eq!(status, 200, "v{version}: {body}");
        assert_eq!(
            types(&body["chunk"]),
            [
                "m.room.create",
                "m.room.member",
                "m.room.power_levels",
                "m.room.canonical_alias",
                "m.room.join_rules",
                "m.room.history_visibility",
                "m.room.guest_access",
                "m.room.name",
                "m.room.topic",
                "m.room.member",
            ],
            "v{version}"
        );
        let create = &body["chunk"][0];
        assert_eq!(create["content"]["room_version"], version.to_string());
        if version <= 10 {
            assert_eq!(create["content"]["creator"], alice.user_id, "v{version}");
        }
        if version == 12 {
            // The room ID is the create event's hash.
            assert_eq!(
                room_id.trim_start_matches('!'),
                create["event_id"].as_str().unwrap().trim_start_matches('$')
            );
            assert!(
                body["chunk"][2]["content"]["users"]
                    .get(&alice.user_id)
                    .is_none()
            );
        } else {
            assert!(room_id.ends_with(":localhost"));
            assert_eq!(body["chunk"][2]["content"]["users"][&alice.user_id], 100);
        }
        assert_eq!(body["chunk"][9]["content"]["membership"], "invite");
        assert_eq!(body["chunk"][9]["state_key"], bob.user_id);
        // Everyone can send and the invitee can join, in every version.
        alice.send_text(&room_id, "hi").await;
        assert_eq!(bob.join(&room_id).await.0, 200, "v{version}");
        bob.send_text(&room_id, "hello").await;
    }
}

#[tokio::test]
async fn presets_set_join_rules_and_visibility() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let carol = server.client().register("carol", "pw-carol-1").await;
    let public = alice.create_room(json!({"preset": "public_chat"})).await;
    let private = alice.create_room(json!({})).await;
    let state = |room: &str| {
        format!(
            "/_matrix/client/v3/rooms/{}/state/m.room.join_rules/",
            enc(room)
        )
    };
    assert_eq!(
        alice.client.get(&state(&public)).await.1,
        json!({"join_rule": "public"})
    );
    assert_eq!(
        alice.client.get(&state(&private)).await.1,
        json!({"join_rule": "invite"})
    );
    // Without the trailing slash too.
    let no_slash = format!(
        "/_matrix/client/v3/rooms/{}/state/m.room.join_rules",
        enc(&public)
    );
    assert_eq!(
        alice.client.get(&no_slash).await.1,
        json!({"join_rule": "public"})
    );
    // A public room has no guest_access event (absent means forbidden), as in Synapse.
    let guest_access = format!(
        "/_matrix/client/v3/rooms/{}/state/m.room.guest_access",
        enc(&public)
    );
    assert_error(&alice.client.get(&guest_access).await, 404, "M_NOT_FOUND");

    assert_eq!(carol.join(&public).await.0, 200);
    assert_error(&carol.join(&private).await, 403, "M_FORBIDDEN");
}

#[tokio::test]
async fn create_room_errors() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let create = "/_matrix/client/v3/createRoom";
    assert_error(
        &server.client().post(create, json!({})).await,
        401,
        "M_MISSING_TOKEN",
    );
    assert_error(
        &alice
            .client
            .post(create, json!({"room_version": "99"}))
            .await,
        400,
        "M_UNSUPPORTED_ROOM_VERSION",
    );
    alice.create_room(json!({"room_alias_name": "taken"})).await;
    assert_error(
        &alice
            .client
            .post(create, json!({"room_alias_name": "taken"}))
            .await,
        400,
        "M_ROOM_IN_USE",
    );
    assert_error(
        &alice
            .client
            .post(create, json!({"room_alias_name": "bad:alias"}))
            .await,
        400,
        "M_INVALID_PARAM",
    );
    assert_error(
        &alice.client.post(create, json!({"name": 5})).await,
        400,
        "M_BAD_JSON",
    );
    assert_error(
        &alice
            .client
            .post(create, json!({"preset": "nonsense"}))
            .await,
        400,
        "M_BAD_JSON",
    );
}

#[tokio::test]
async fn initial_state_and_power_level_overrides_apply() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let room = alice
        .create_room(json!({
            "initial_state": [
                {"type": "m.room.join_rules", "content": {"join_rule": "public"}},
                {"type": "org.example.custom", "state_key": "k", "content": {"v": 1}},
            ],
            "power_level_content_override": {"events_default": 50},
        }))
        .await;
    let base = format!("/_matrix/client/v3/rooms/{}/state", enc(&room));
    assert_eq!(
        alice
            .client
            .get(&format!("{base}/m.room.join_rules/"))
            .await
            .1["join_rule"],
        "public"
    );
    assert_eq!(
        alice
            .client
            .get(&format!("{base}/org.example.custom/k"))
            .await
            .1,
        json!({"v": 1})
    );
    assert_eq!(
        alice
            .client
            .get(&format!("{base}/m.room.power_levels/"))
            .await
            .1["events_default"],
        50
    );
    let (_, all) = alice.client.get(&base).await;
    let kinds = types(&all);
    assert_eq!(
        kinds.iter().filter(|k| *k == "m.room.join_rules").count(),
        1,
        "{kinds:?}"
    );
    assert!(
        all.as_array()
            .unwrap()
            .iter()
            .all(|e| e["room_id"] == room.as_str())
    );
}

#[tokio::test]
async fn state_changes_need_power() {
    let server = TestServer::spawn();
    let client = server.client();
    let (alice, bob, room) = client.alice_and_bob_in_a_public_room().await;
    let name = format!("/_matrix/client/v3/rooms/{}/state/m.room.name/", enc(&room));
    assert_error(
        &bob.client.put(&name, json!({"name": "mine"})).await,
        403,
        "M_FORBIDDEN",
    );
    let power = format!(
        "/_matrix/client/v3/rooms/{}/state/m.room.power_levels/",
        enc(&room)
    );
    let (_, mut levels) = alice.client.get(&power).await;
    levels["users"][&bob.user_id] = json!(50);
    assert_error(
        &bob.client.put(&power, levels.clone()).await,
        403,
        "M_FORBIDDEN",
    );
    let (status, body) = alice.client.put(&power, levels).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = bob.client.put(&name, json!({"name": "mine"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        client
            .with_token(alice.client.token.as_deref().unwrap())
            .get(&name)
            .await
            .1,
        json!({"name": "mine"})
    );

    assert_error(
        &alice.client.put(&name, json!("not an object")).await,
        400,
        "M_BAD_JSON",
    );
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
    assert_error(
        &alice
            .client
            .get("/_matrix/client/v3/rooms/!nope:localhost/state")
            .await,
        404,
        "M_NOT_FOUND",
    );
    let carol = client.register("carol", "pw-carol-1").await;
    assert_error(&carol.client.get(&name).await, 403, "M_FORBIDDEN");
}
