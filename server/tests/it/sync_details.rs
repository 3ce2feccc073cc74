//! Finer points of `/sync` that clients (and SyTest) rely on: room summaries, filter
//! limits and event formats, state for rooms joined and left between two syncs, and
//! current state shown through history visibility.

use serde_json::{Value, json};

use crate::common::*;

async fn sync_with(user: &User, filter: Value, since: Option<&str>) -> Value {
    let mut path = format!(
        "/_matrix/client/v3/sync?filter={}",
        enc(&filter.to_string())
    );
    if let Some(since) = since {
        path.push_str(&format!("&since={since}"));
    }
    let (status, body) = user.client.get(&path).await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test]
async fn heroes_only_for_rooms_without_a_name() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let bob = server.client().register("bob", "pw-bob-1").await;
    let named = alice
        .create_room(json!({"preset": "public_chat", "name": "Named"}))
        .await;
    let unnamed = alice.create_room(json!({"preset": "public_chat"})).await;
    for room in [&named, &unnamed] {
        bob.join(room).await;
    }
    let body = alice.sync(None, 0).await;
    assert_eq!(
        body["rooms"]["join"][&named]["summary"],
        json!({"m.joined_member_count": 2, "m.invited_member_count": 0})
    );
    assert_eq!(
        body["rooms"]["join"][&unnamed]["summary"]["m.heroes"],
        json!([bob.user_id])
    );
}

#[tokio::test]
async fn a_timeline_limit_of_zero_and_the_federation_format() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let room = alice.create_room(json!({})).await;
    let event_id = alice.send_text(&room, "hello").await;

    let body = sync_with(
        &alice,
        json!({"room": {"timeline": {"limit": 0}, "state": {"types": ["m.room.create"]}}}),
        None,
    )
    .await;
    let joined = &body["rooms"]["join"][&room];
    assert_eq!(joined["timeline"]["events"], json!([]), "{joined}");
    assert_eq!(joined["timeline"]["limited"], true);
    assert_eq!(types(&joined["state"]["events"]), ["m.room.create"]);

    let body = sync_with(
        &alice,
        json!({"event_format": "federation", "room": {"timeline": {"limit": 1}}}),
        None,
    )
    .await;
    let event = &body["rooms"]["join"][&room]["timeline"]["events"][0];
    assert_eq!(event["event_id"], event_id, "{event}");
    assert_eq!(event["room_id"], room);
    assert_eq!(event["content"]["body"], "hello");
    for key in [
        "auth_events",
        "prev_events",
        "depth",
        "hashes",
        "signatures",
    ] {
        assert!(event.get(key).is_some(), "{key} missing from {event}");
    }
}

/// Invited at the last sync, then joined and left before the next: the room comes in
/// `leave` with its whole state, as the client never saw it joined.
#[tokio::test]
async fn a_room_joined_and_left_between_syncs_comes_with_its_state() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let bob = server.client().register("bob", "pw-bob-1").await;
    let room = alice.create_room(json!({})).await;
    let path = format!(
        "/_matrix/client/v3/rooms/{}/state/org.example.made_up/",
        enc(&room)
    );
    alice.client.put(&path, json!({"my_key": 1})).await;
    alice
        .client
        .post(
            &format!("/_matrix/client/v3/rooms/{}/invite", enc(&room)),
            json!({"user_id": bob.user_id}),
        )
        .await;
    let filter = json!({"room": {
        "timeline": {"types": []},
        "state": {"types": ["org.example.made_up"]},
        "include_leave": true,
    }});
    let first = sync_with(&bob, filter.clone(), None).await;
    assert!(first["rooms"]["invite"].get(&room).is_some(), "{first}");
    assert_eq!(bob.join(&room).await.0, 200);
    bob.client
        .post(
            &format!("/_matrix/client/v3/rooms/{}/leave", enc(&room)),
            json!({}),
        )
        .await;
    let since = first["next_batch"].as_str().unwrap();
    let body = sync_with(&bob, filter, Some(since)).await;
    let left = &body["rooms"]["leave"][&room];
    assert_eq!(
        types(&left["state"]["events"]),
        ["org.example.made_up"],
        "{body}"
    );
    assert_eq!(left["state"]["events"][0]["content"]["my_key"], 1);
}

/// With `joined` history visibility, a join that happened while the syncing user was
/// out of the room still shows in the timeline once they are back: it is current state.
#[tokio::test]
async fn current_state_shows_through_history_visibility() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let bob = server.client().register("bob", "pw-bob-1").await;
    let carol = server.client().register("carol", "pw-carol-1").await;
    let room = alice.create_room(json!({"preset": "public_chat"})).await;
    bob.join(&room).await;
    alice
        .client
        .put(
            &format!(
                "/_matrix/client/v3/rooms/{}/state/m.room.history_visibility/",
                enc(&room)
            ),
            json!({"history_visibility": "joined"}),
        )
        .await;
    let first = bob.sync(None, 0).await;
    let leave = format!("/_matrix/client/v3/rooms/{}/leave", enc(&room));
    bob.client.post(&leave, json!({})).await;
    carol.join(&room).await;
    alice.send_text(&room, "while bob is away").await;
    bob.join(&room).await;
    let body = bob
        .sync(Some(first["next_batch"].as_str().unwrap()), 0)
        .await;
    let timeline = body["rooms"]["join"][&room]["timeline"]["events"]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        timeline
            .iter()
            .any(|e| e["type"] == "m.room.member" && e["state_key"] == carol.user_id),
        "{timeline:?}"
    );
    // A message from that time stays hidden.
    assert!(
        !timeline
            .iter()
            .any(|e| e["content"]["body"] == "while bob is away"),
        "{timeline:?}"
    );
}
