//! The legacy, still-specified reads older clients and test suites use: `GET /events`
//! (the event stream, long-polled from a `from` token) and `GET /rooms/{roomId}/initialSync`.

use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn the_event_stream_delivers_messages_and_typing_from_its_token() {
    let server = TestServer::spawn();
    let (alice, bob, room) = server.client().alice_and_bob_in_a_public_room().await;

    // Without `from`, the stream starts now: an idle wait returns an empty chunk and a
    // token to go on from.
    let (status, first) = bob.client.get("/_matrix/client/v3/events?timeout=0").await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["chunk"], json!([]));
    let token = first["end"].as_str().unwrap().to_owned();

    let waiting = {
        let bob = bob.clone();
        let token = token.clone();
        tokio::spawn(async move {
            bob.client
                .get(&format!(
                    "/_matrix/client/v3/events?from={token}&timeout=10000"
                ))
                .await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let event_id = alice.send_text(&room, "over the stream").await;
    let (status, woken) = waiting.await.unwrap();
    assert_eq!(status, 200, "{woken}");
    let chunk = woken["chunk"].as_array().unwrap();
    let message = chunk
        .iter()
        .find(|e| e["event_id"] == event_id.as_str())
        .expect("the message arrives on the stream");
    assert_eq!(message["room_id"], room.as_str());
    assert_eq!(message["content"]["body"], "over the stream");
    let next = woken["end"].as_str().unwrap().to_owned();
    assert_ne!(next, token);

    let (status, _) = alice
        .client
        .put(
            &format!(
                "/_matrix/client/v3/rooms/{}/typing/{}",
                enc(&room),
                enc(&alice.user_id)
            ),
            json!({"typing": true, "timeout": 10000}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, typing) = bob
        .client
        .get(&format!(
            "/_matrix/client/v3/events?from={next}&timeout=5000"
        ))
        .await;
    let typing = typing["chunk"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "m.typing")
        .cloned()
        .expect("typing arrives on the stream");
    assert_eq!(typing["room_id"], room.as_str());
    assert_eq!(typing["content"]["user_ids"], json!([alice.user_id]));

    let answer = bob
        .client
        .get("/_matrix/client/v3/events?from=bogus&timeout=0")
        .await;
    assert_error(&answer, 400, "M_INVALID_PARAM");
    let answer = server.client().get("/_matrix/client/v3/events").await;
    assert_error(&answer, 401, "M_MISSING_TOKEN");
}

#[tokio::test]
async fn room_initial_sync_gives_state_messages_and_membership() {
    let server = TestServer::spawn();
    let (alice, bob, room) = server.client().alice_and_bob_in_a_public_room().await;
    let event_id = alice.send_text(&room, "latest").await;
    let (status, body) = bob
        .client
        .get(&format!(
            "/_matrix/client/v3/rooms/{}/initialSync",
            enc(&room)
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["room_id"], room.as_str());
    assert_eq!(body["membership"], "join");
    let chunk = body["messages"]["chunk"].as_array().unwrap();
    assert_eq!(chunk.last().unwrap()["event_id"], event_id.as_str());
    assert!(body["messages"]["start"].is_string());
    assert!(body["messages"]["end"].is_string());
    let state = body["state"].as_array().unwrap();
    assert!(state.iter().any(|e| e["type"] == "m.room.create"));
    assert!(
        state
            .iter()
            .any(|e| e["type"] == "m.room.member" && e["state_key"] == bob.user_id.as_str())
    );

    // Someone never in the room reads nothing of it.
    let carol = server.client().register("carol", "pw-carol-1").await;
    let answer = carol
        .client
        .get(&format!(
            "/_matrix/client/v3/rooms/{}/initialSync",
            enc(&room)
        ))
        .await;
    assert_error(&answer, 403, "M_FORBIDDEN");
}
