//! Checks on state and redaction events beyond the auth rules: `m.room.canonical_alias`
//! must name valid aliases of the room, a repeated identical state event is the one in
//! place, and a redaction cannot reach into another room.

use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn canonical_alias_must_point_to_the_room() {
    let server = TestServer::spawn();
    let (alice, _bob, room) = server.client().alice_and_bob_in_a_public_room().await;
    let other = alice.create_room(json!({})).await;
    for (alias, room_id) in [("#here:localhost", &room), ("#there:localhost", &other)] {
        let (status, body) = alice
            .client
            .put(
                &format!("/_matrix/client/v3/directory/room/{}", enc(alias)),
                json!({"room_id": room_id}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let path = format!(
        "/_matrix/client/v3/rooms/{}/state/m.room.canonical_alias/",
        enc(&room)
    );

    let answer = alice
        .client
        .put(&path, json!({"alias": "not-an-alias"}))
        .await;
    assert_error(&answer, 400, "M_INVALID_PARAM");
    let answer = alice
        .client
        .put(
            &path,
            json!({"alias": "#here:localhost", "alt_aliases": [7]}),
        )
        .await;
    assert_error(&answer, 400, "M_INVALID_PARAM");
    let answer = alice
        .client
        .put(&path, json!({"alias": "#there:localhost"}))
        .await;
    assert_error(&answer, 400, "M_BAD_ALIAS");
    let answer = alice
        .client
        .put(&path, json!({"alias": "#nowhere:localhost"}))
        .await;
    assert_error(&answer, 400, "M_BAD_ALIAS");
    let answer = alice
        .client
        .put(
            &path,
            json!({"alias": "#here:localhost", "alt_aliases": ["#there:localhost"]}),
        )
        .await;
    assert_error(&answer, 400, "M_BAD_ALIAS");
    // None of the refused ones was stored.
    assert_error(&alice.client.get(&path).await, 404, "M_NOT_FOUND");

    // The room's own alias, and another server's that cannot be checked here.
    let content = json!({"alias": "#here:localhost", "alt_aliases": ["#far:elsewhere.org"]});
    let (status, body) = alice.client.put(&path, content.clone()).await;
    assert_eq!(status, 200, "{body}");
    let (status, stored) = alice.client.get(&path).await;
    assert_eq!(status, 200);
    assert_eq!(stored, content);
    // An empty content removes the canonical alias, as the spec allows.
    let (status, _) = alice.client.put(&path, json!({})).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn the_same_state_twice_is_one_event() {
    let server = TestServer::spawn();
    let (alice, bob, room) = server.client().alice_and_bob_in_a_public_room().await;
    let path = format!(
        "/_matrix/client/v3/rooms/{}/state/m.room.topic/",
        enc(&room)
    );
    let (status, first) = alice.client.put(&path, json!({"topic": "one"})).await;
    assert_eq!(status, 200);
    let (_, again) = alice.client.put(&path, json!({"topic": "one"})).await;
    assert_eq!(again["event_id"], first["event_id"]);
    let (_, changed) = alice.client.put(&path, json!({"topic": "two"})).await;
    assert_ne!(changed["event_id"], first["event_id"]);

    // The same content from someone else is their own event.
    let power = format!(
        "/_matrix/client/v3/rooms/{}/state/m.room.power_levels/",
        enc(&room)
    );
    let (_, mut levels) = alice.client.get(&power).await;
    levels["users"][&bob.user_id] = json!(100);
    let (status, _) = alice.client.put(&power, levels).await;
    assert_eq!(status, 200);
    let (status, by_bob) = bob.client.put(&path, json!({"topic": "two"})).await;
    assert_eq!(status, 200);
    assert_ne!(by_bob["event_id"], changed["event_id"]);
}

#[tokio::test]
async fn a_redaction_cannot_reach_another_room() {
    let server = TestServer::spawn();
    let (alice, _bob, room) = server.client().alice_and_bob_in_a_public_room().await;
    let other = alice.create_room(json!({})).await;
    let event = alice.send_text(&other, "stays").await;
    let answer = alice
        .client
        .put(
            &format!(
                "/_matrix/client/v3/rooms/{}/redact/{}/r1",
                enc(&room),
                enc(&event)
            ),
            json!({}),
        )
        .await;
    assert_error(&answer, 400, "M_INVALID_PARAM");
    let (status, kept) = alice
        .client
        .get(&format!(
            "/_matrix/client/v3/rooms/{}/event/{}",
            enc(&other),
            enc(&event)
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(kept["content"]["body"], "stays");
}
