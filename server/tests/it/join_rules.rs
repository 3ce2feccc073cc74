//! Knocking, restricted joins and room upgrades.

use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn knocking_and_letting_in() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let bob = server.client().register("bob", "pw-bob-1").await;
    let room = alice
        .create_room(json!({"room_version": "10", "initial_state": [{"type": "m.room.join_rules", "content": {"join_rule": "knock"}}]}))
        .await;
    assert_error(&bob.join(&room).await, 403, "M_FORBIDDEN");
    let since = bob.sync(None, 0).await["next_batch"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = bob
        .client
        .post(
            &format!("/_matrix/client/v3/knock/{}", enc(&room)),
            json!({"reason": "let me in"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["room_id"], room);
    let synced = bob.sync(Some(&since), 0).await;
    let knock_state = &synced["rooms"]["knock"][&room]["knock_state"]["events"];
    assert!(
        types(knock_state).contains(&"m.room.join_rules".to_owned()),
        "{synced}"
    );

    let member = format!(
        "/_matrix/client/v3/rooms/{}/state/m.room.member/{}",
        enc(&room),
        enc(&bob.user_id)
    );
    assert_eq!(alice.client.get(&member).await.1["membership"], "knock");
    alice
        .client
        .post(
            &format!("/_matrix/client/v3/rooms/{}/invite", enc(&room)),
            json!({"user_id": bob.user_id}),
        )
        .await;
    assert_eq!(bob.join(&room).await.0, 200);

    // Rooms that do not allow knocking refuse it.
    let closed = alice.create_room(json!({})).await;
    assert_error(
        &bob.client
            .post(
                &format!("/_matrix/client/v3/knock/{}", enc(&closed)),
                json!({}),
            )
            .await,
        403,
        "M_FORBIDDEN",
    );
}

#[tokio::test]
async fn restricted_rooms_admit_members_of_allowed_rooms() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let bob = server.client().register("bob", "pw-bob-1").await;
    let carol = server.client().register("carol", "pw-carol-1").await;
    let space = alice.create_room(json!({"preset": "public_chat"})).await;
    bob.join(&space).await;
    let restricted = alice
        .create_room(json!({"room_version": "10", "initial_state": [{"type": "m.room.join_rules", "content": {
            "join_rule": "restricted", "allow": [{"type": "m.room_membership", "room_id": space}]}}]}))
        .await;
    let (status, body) = bob.join(&restricted).await;
    assert_eq!(status, 200, "{body}");
    let member = format!(
        "/_matrix/client/v3/rooms/{}/state/m.room.member/{}",
        enc(&restricted),
        enc(&bob.user_id)
    );
    assert_eq!(
        alice.client.get(&member).await.1["join_authorised_via_users_server"],
        alice.user_id
    );
    assert_error(&carol.join(&restricted).await, 403, "M_FORBIDDEN");
}

#[tokio::test]
async fn upgrading_a_room_moves_everything_over() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let bob = server.client().register("bob", "pw-bob-1").await;
    let old = alice
        .create_room(json!({"room_version": "10", "preset": "public_chat", "name": "Old name", "topic": "Old topic", "room_alias_name": "up"}))
        .await;
    bob.join(&old).await;
    let last_before_upgrade = bob.send_text(&old, "last words").await;
    let upgrade = format!("/_matrix/client/v3/rooms/{}/upgrade", enc(&old));
    assert_error(
        &bob.client
            .post(&upgrade, json!({"new_version": "12"}))
            .await,
        403,
        "M_FORBIDDEN",
    );
    assert_error(
        &alice
            .client
            .post(&upgrade, json!({"new_version": "99"}))
            .await,
        400,
        "M_UNSUPPORTED_ROOM_VERSION",
    );
    let (status, body) = alice
        .client
        .post(&upgrade, json!({"new_version": "12"}))
        .await;
    assert_eq!(status, 200, "{body}");
    let new = body["replacement_room"].as_str().unwrap().to_owned();

    let state =
        |room: &str, kind: &str| format!("/_matrix/client/v3/rooms/{}/state/{kind}/", enc(room));
    assert_eq!(
        alice.client.get(&state(&old, "m.room.tombstone")).await.1["replacement_room"],
        new
    );
    let (_, create) = alice.client.get(&state(&new, "m.room.create")).await;
    assert_eq!(create["predecessor"]["room_id"], old);
    // The last event of the old room before the upgrade began.
    assert_eq!(create["predecessor"]["event_id"], last_before_upgrade);
    assert_eq!(create["room_version"], "12");
    assert_eq!(
        alice.client.get(&state(&new, "m.room.name")).await.1["name"],
        "Old name"
    );
    assert_eq!(
        alice.client.get(&state(&new, "m.room.join_rules")).await.1["join_rule"],
        "public"
    );
    assert_eq!(
        server
            .client()
            .get("/_matrix/client/v3/directory/room/%23up%3Alocalhost")
            .await
            .1["room_id"],
        new
    );
    assert_eq!(
        alice
            .client
            .get(&state(&new, "m.room.canonical_alias"))
            .await
            .1["alias"],
        "#up:localhost"
    );

    // The old room is closed to ordinary members; the new one takes them in.
    let send = format!(
        "/_matrix/client/v3/rooms/{}/send/m.room.message/late",
        enc(&old)
    );
    assert_error(
        &bob.client
            .put(&send, json!({"msgtype": "m.text", "body": "hi"}))
            .await,
        403,
        "M_FORBIDDEN",
    );
    assert_eq!(bob.join(&new).await.0, 200);
    bob.send_text(&new, "moved in").await;
}

/// Upgrading to a version before 12 tombstones the old room first, and the new room's
/// predecessor names that tombstone (as Synapse does; SyTest checks it).
#[tokio::test]
async fn an_upgrade_to_an_older_version_points_at_the_tombstone() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let old = alice.create_room(json!({"room_version": "10"})).await;
    let (status, body) = alice
        .client
        .post(
            &format!("/_matrix/client/v3/rooms/{}/upgrade", enc(&old)),
            json!({"new_version": "11"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let new = body["replacement_room"].as_str().unwrap();
    let state = |room: &str, kind: &str| {
        format!(
            "/_matrix/client/v3/rooms/{}/state/{kind}/?format=event",
            enc(room)
        )
    };
    let (_, tombstone) = alice.client.get(&state(&old, "m.room.tombstone")).await;
    assert_eq!(tombstone["content"]["replacement_room"], new, "{tombstone}");
    let (_, create) = alice.client.get(&state(new, "m.room.create")).await;
    assert_eq!(create["content"]["predecessor"]["room_id"], old);
    assert_eq!(
        create["content"]["predecessor"]["event_id"],
        tombstone["event_id"]
    );
    assert_eq!(create["content"]["room_version"], "11");
}

/// What users had on the old room follows them: bans, tags, the `m.direct` entry and a
/// room push rule (for the upgrader at once, for others when they join the new room).
#[tokio::test]
async fn an_upgrade_carries_bans_and_each_users_room_settings() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let bob = server.client().register("bob", "pw-bob-1").await;
    let mallory = server.client().register("mallory", "pw-mallory-1").await;
    let old = alice.create_room(json!({"preset": "public_chat"})).await;
    bob.join(&old).await;
    let (status, _) = alice
        .client
        .post(
            &format!("/_matrix/client/v3/rooms/{}/ban", enc(&old)),
            json!({"user_id": mallory.user_id, "reason": "spam"}),
        )
        .await;
    assert_eq!(status, 200);
    let tag = |user: &User, room: &str| {
        format!(
            "/_matrix/client/v3/user/{}/rooms/{}/tags",
            enc(&user.user_id),
            enc(room)
        )
    };
    for user in [&alice, &bob] {
        let (status, _) = user
            .client
            .put(
                &format!("{}/u.work", tag(user, &old)),
                json!({"order": 0.5}),
            )
            .await;
        assert_eq!(status, 200);
    }
    let direct = format!(
        "/_matrix/client/v3/user/{}/account_data/m.direct",
        enc(&alice.user_id)
    );
    alice
        .client
        .put(&direct, json!({(bob.user_id.clone()): [old]}))
        .await;
    let rule = |room: &str| format!("/_matrix/client/v3/pushrules/global/room/{}", enc(room));
    let (status, _) = alice
        .client
        .put(&rule(&old), json!({"actions": ["dont_notify"]}))
        .await;
    assert_eq!(status, 200);

    let (status, body) = alice
        .client
        .post(
            &format!("/_matrix/client/v3/rooms/{}/upgrade", enc(&old)),
            json!({"new_version": "11"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let new = body["replacement_room"].as_str().unwrap().to_owned();

    let (_, ban) = alice
        .client
        .get(&format!(
            "/_matrix/client/v3/rooms/{}/state/m.room.member/{}",
            enc(&new),
            enc(&mallory.user_id)
        ))
        .await;
    assert_eq!(ban, json!({"membership": "ban", "reason": "spam"}));
    assert_error(&mallory.join(&new).await, 403, "M_FORBIDDEN");

    let (_, tags) = alice.client.get(&tag(&alice, &new)).await;
    assert_eq!(tags["tags"], json!({"u.work": {"order": 0.5}}));
    let (_, direct) = alice.client.get(&direct).await;
    assert_eq!(direct[&bob.user_id], json!([old, new]));
    let (status, copied) = alice.client.get(&rule(&new)).await;
    assert_eq!(status, 200, "{copied}");
    assert_eq!(copied["actions"], json!(["dont_notify"]));

    // Bob's tags wait until he joins the new room.
    let (_, tags) = bob.client.get(&tag(&bob, &new)).await;
    assert_eq!(tags["tags"], json!({}));
    assert_eq!(bob.join(&new).await.0, 200);
    let (_, tags) = bob.client.get(&tag(&bob, &new)).await;
    assert_eq!(tags["tags"], json!({"u.work": {"order": 0.5}}));
}

/// Any version the server does not support, even one that is no valid version string,
/// gets M_UNSUPPORTED_ROOM_VERSION; a missing or mistyped one is a malformed body.
#[tokio::test]
async fn upgrade_requests_are_checked() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let room = alice.create_room(json!({})).await;
    let upgrade = format!("/_matrix/client/v3/rooms/{}/upgrade", enc(&room));
    for version in ["my_bad_version", "99", ""] {
        assert_error(
            &alice
                .client
                .post(&upgrade, json!({"new_version": version}))
                .await,
            400,
            "M_UNSUPPORTED_ROOM_VERSION",
        );
    }
    assert_error(
        &alice.client.post(&upgrade, json!({})).await,
        400,
        "M_MISSING_PARAM",
    );
    assert_error(
        &alice
            .client
            .post(&upgrade, json!({"new_version": 11}))
            .await,
        400,
        "M_BAD_JSON",
    );
    assert_error(
        &alice
            .client
            .post(
                "/_matrix/client/v3/rooms/%21nowhere%3Alocalhost/upgrade",
                json!({"new_version": "11"}),
            )
            .await,
        404,
        "M_NOT_FOUND",
    );
    assert_error(
        &server
            .client()
            .post(&upgrade, json!({"new_version": "11"}))
            .await,
        401,
        "M_MISSING_TOKEN",
    );
}
