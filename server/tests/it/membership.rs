//! Joining, leaving, inviting, kicking and banning.

use serde_json::json;

use crate::common::*;

fn path(room: &str, action: &str) -> String {
    format!("/_matrix/client/v3/rooms/{}/{action}", enc(room))
}

#[tokio::test]
async fn invite_join_leave_and_joined_lists() {
    let server = TestServer::spawn();
    let client = server.client();
    let alice = client.register("alice", "pw-alice-1").await;
    let bob = client.register("bob", "pw-bob-1").await;
    let room = alice.create_room(json!({"room_alias_name": "lobby"})).await;

    assert_error(&bob.join(&room).await, 403, "M_FORBIDDEN");
    let (status, _) = alice
        .client
        .post(&path(&room, "invite"), json!({"user_id": bob.user_id}))
        .await;
    assert_eq!(status, 200);
    // Join by alias.
    let (status, body) = bob.join("#lobby:localhost").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["room_id"], room);
    assert_error(
        &alice
            .client
            .post(&path(&room, "invite"), json!({"user_id": bob.user_id}))
            .await,
        403,
        "M_FORBIDDEN",
    );

    let (_, joined) = bob.client.get("/_matrix/client/v3/joined_rooms").await;
    assert_eq!(joined, json!({"joined_rooms": [room]}));
    let (status, members) = bob.client.get(&path(&room, "joined_members")).await;
    assert_eq!(status, 200, "{members}");
    assert_eq!(members["joined"][&alice.user_id]["display_name"], "alice");
    assert_eq!(members["joined"].as_object().unwrap().len(), 2);

    assert_eq!(
        bob.client.post(&path(&room, "leave"), json!({})).await.0,
        200
    );
    assert_eq!(
        bob.client.get("/_matrix/client/v3/joined_rooms").await.1,
        json!({"joined_rooms": []})
    );
    // Forgetting needs leaving first.
    assert_error(
        &alice.client.post(&path(&room, "forget"), json!({})).await,
        400,
        "M_UNKNOWN",
    );
    assert_eq!(
        bob.client.post(&path(&room, "forget"), json!({})).await.0,
        200
    );

    assert_error(&bob.join("#nowhere:localhost").await, 404, "M_NOT_FOUND");
    assert_error(&bob.join("!unknown:localhost").await, 404, "M_NOT_FOUND");
    assert_error(
        &bob.client
            .post(&path("!unknown:localhost", "leave"), json!({}))
            .await,
        404,
        "M_NOT_FOUND",
    );
}

#[tokio::test]
async fn kick_and_ban_need_power_and_bans_stick() {
    let server = TestServer::spawn();
    let client = server.client();
    let alice = client.register("alice", "pw-alice-1").await;
    let bob = client.register("bob", "pw-bob-1").await;
    let carol = client.register("carol", "pw-carol-1").await;
    let room = alice.create_room(json!({"preset": "public_chat"})).await;
    bob.join(&room).await;
    carol.join(&room).await;

    assert_error(
        &bob.client
            .post(&path(&room, "kick"), json!({"user_id": carol.user_id}))
            .await,
        403,
        "M_FORBIDDEN",
    );
    assert_error(
        &bob.client
            .post(&path(&room, "ban"), json!({"user_id": carol.user_id}))
            .await,
        403,
        "M_FORBIDDEN",
    );

    let (status, _) = alice
        .client
        .post(
            &path(&room, "kick"),
            json!({"user_id": carol.user_id, "reason": "spam"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        carol.join(&room).await.0,
        200,
        "a kicked user may rejoin a public room"
    );

    let (status, _) = alice
        .client
        .post(&path(&room, "ban"), json!({"user_id": carol.user_id}))
        .await;
    assert_eq!(status, 200);
    assert_error(&carol.join(&room).await, 403, "M_FORBIDDEN");
    let member = format!(
        "/_matrix/client/v3/rooms/{}/state/m.room.member/{}",
        enc(&room),
        enc(&carol.user_id)
    );
    assert_eq!(alice.client.get(&member).await.1["membership"], "ban");
    // Kicking a banned user must not quietly lift the ban.
    assert_error(
        &alice
            .client
            .post(&path(&room, "kick"), json!({"user_id": carol.user_id}))
            .await,
        403,
        "M_FORBIDDEN",
    );
    assert_eq!(alice.client.get(&member).await.1["membership"], "ban");
    assert_error(&carol.join(&room).await, 403, "M_FORBIDDEN");

    assert_error(
        &alice
            .client
            .post(&path(&room, "unban"), json!({"user_id": bob.user_id}))
            .await,
        403,
        "M_FORBIDDEN",
    );
    assert_eq!(
        alice
            .client
            .post(&path(&room, "unban"), json!({"user_id": carol.user_id}))
            .await
            .0,
        200
    );
    assert_eq!(carol.join(&room).await.0, 200);
    assert_error(
        &alice.client.post(&path(&room, "kick"), json!({})).await,
        400,
        "M_MISSING_PARAM",
    );
}

#[tokio::test]
async fn join_with_an_empty_body_works() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let bob = server.client().register("bob", "pw-bob-1").await;
    let room = alice.create_room(json!({"preset": "public_chat"})).await;
    let (status, body) = bob
        .client
        .raw(
            reqwest::Method::POST,
            &format!("/_matrix/client/v3/join/{}", enc(&room)),
            b"",
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["room_id"], room);
}

/// Extra keys in a join body (SyTest: "Can join a room with custom content") go into
/// the member event; the keys the server owns cannot be overridden that way.
#[tokio::test]
async fn join_content_carries_the_callers_extra_keys() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let bob = server.client().register("bob", "pw-bob-1").await;
    let room = alice.create_room(json!({"preset": "public_chat"})).await;
    let (status, body) = bob
        .client
        .post(
            &format!("/_matrix/client/v3/join/{}", enc(&room)),
            json!({"foo": "bar", "membership": "leave", "reason": "hello"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, member) = alice
        .client
        .get(&format!(
            "/_matrix/client/v3/rooms/{}/state/m.room.member/{}",
            enc(&room),
            enc(&bob.user_id)
        ))
        .await;
    assert_eq!(member["foo"], "bar", "{member}");
    assert_eq!(member["membership"], "join");
    assert_eq!(member["reason"], "hello");
    assert_eq!(member["displayname"], "bob");
}

/// `joined_members` keeps `display_name` and `avatar_url` as keys, null when unset.
#[tokio::test]
async fn joined_members_lists_unset_profile_fields_as_null() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let room = alice.create_room(json!({})).await;
    let path = format!("/_matrix/client/v3/rooms/{}/joined_members", enc(&room));
    let (status, body) = alice.client.get(&path).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"joined": {(alice.user_id.clone()): {"display_name": "alice", "avatar_url": null}}})
    );
    let stranger = server.client().register("stranger", "pw-stranger-1").await;
    assert_error(&stranger.client.get(&path).await, 403, "M_FORBIDDEN");
    assert_error(
        &alice
            .client
            .get("/_matrix/client/v3/rooms/not-a-room/joined_members")
            .await,
        400,
        "M_INVALID_PARAM",
    );
}
