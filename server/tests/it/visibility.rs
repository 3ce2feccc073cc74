//! History visibility on every read path.

use serde_json::{Value, json};

use crate::common::*;

fn bodies(events: &Value) -> Vec<String> {
    events
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["content"]["body"].as_str().map(str::to_owned))
        .collect()
}

async fn scenario(visibility: &str) -> (TestServer, User, User, String, Vec<String>) {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let bob = server.client().register("bob", "pw-bob-1").await;
    let room = alice
        .create_room(json!({"initial_state": [{"type": "m.room.history_visibility", "content": {"history_visibility": visibility}}]}))
        .await;
    let m1 = alice.send_text(&room, "before invite").await;
    alice
        .client
        .post(
            &format!("/_matrix/client/v3/rooms/{}/invite", enc(&room)),
            json!({"user_id": bob.user_id}),
        )
        .await;
    let m2 = alice.send_text(&room, "while invited").await;
    bob.join(&room).await;
    let m3 = alice.send_text(&room, "after join").await;
    (server, alice, bob, room, vec![m1, m2, m3])
}

async fn bob_sees(bob: &User, room: &str) -> (Vec<String>, Vec<String>) {
    let (_, page) = bob
        .client
        .get(&format!(
            "/_matrix/client/v3/rooms/{}/messages?dir=b&limit=50",
            enc(room)
        ))
        .await;
    let filter = enc(r#"{"room":{"timeline":{"limit":50}}}"#);
    let (_, sync) = bob
        .client
        .get(&format!("/_matrix/client/v3/sync?filter={filter}"))
        .await;
    let mut from_messages = bodies(&page["chunk"]);
    from_messages.reverse();
    (
        from_messages,
        bodies(&sync["rooms"]["join"][room]["timeline"]["events"]),
    )
}

#[tokio::test]
async fn joined_visibility_hides_everything_before_the_join() {
    let (_server, _alice, bob, room, ids) = scenario("joined").await;
    let (messages, sync) = bob_sees(&bob, &room).await;
    assert_eq!(messages, ["after join"]);
    assert_eq!(sync, ["after join"]);
    let event = format!(
        "/_matrix/client/v3/rooms/{}/event/{}",
        enc(&room),
        enc(&ids[0])
    );
    assert_error(&bob.client.get(&event).await, 404, "M_NOT_FOUND");
}

#[tokio::test]
async fn invited_visibility_starts_at_the_invite() {
    let (_server, _alice, bob, room, _) = scenario("invited").await;
    let (messages, sync) = bob_sees(&bob, &room).await;
    assert_eq!(messages, ["while invited", "after join"]);
    assert_eq!(sync, ["while invited", "after join"]);
}

#[tokio::test]
async fn shared_visibility_shows_all_history_to_members() {
    let (_server, _alice, bob, room, ids) = scenario("shared").await;
    let (messages, _) = bob_sees(&bob, &room).await;
    assert_eq!(messages, ["before invite", "while invited", "after join"]);
    let event = format!(
        "/_matrix/client/v3/rooms/{}/event/{}",
        enc(&room),
        enc(&ids[0])
    );
    assert_eq!(bob.client.get(&event).await.0, 200);
}

#[tokio::test]
async fn world_readable_rooms_can_be_read_by_anyone_and_others_cannot() {
    let (server, _alice, _bob, room, _) = scenario("world_readable").await;
    let carol = server.client().register("carol", "pw-carol-1").await;
    let (status, page) = carol
        .client
        .get(&format!(
            "/_matrix/client/v3/rooms/{}/messages?dir=b",
            enc(&room)
        ))
        .await;
    assert_eq!(status, 200, "{page}");
    assert!(bodies(&page["chunk"]).contains(&"before invite".to_owned()));

    let (server, _alice, _bob, room, _) = scenario("shared").await;
    let carol = server.client().register("carol", "pw-carol-1").await;
    let denied = carol
        .client
        .get(&format!(
            "/_matrix/client/v3/rooms/{}/messages?dir=b",
            enc(&room)
        ))
        .await;
    assert_error(&denied, 403, "M_FORBIDDEN");
}

#[tokio::test]
async fn world_readable_state_and_members_are_public() {
    let (server, alice, _bob, room, _) = scenario("world_readable").await;
    let carol = server.client().register("carol", "pw-carol-1").await;
    let (status, state) = carol
        .client
        .get(&format!("/_matrix/client/v3/rooms/{}/state", enc(&room)))
        .await;
    assert_eq!(status, 200, "{state}");
    let (status, members) = carol
        .client
        .get(&format!("/_matrix/client/v3/rooms/{}/members", enc(&room)))
        .await;
    assert_eq!(status, 200, "{members}");
    assert!(members.to_string().contains(&alice.user_id));
}

/// A change of `history_visibility` is visible to whoever the setting before *or* after
/// it lets see it: someone who joins later sees the change from `world_readable` to
/// `joined` (as they see what came before it), but nothing sent between it and their join.
#[tokio::test]
async fn a_history_visibility_change_is_visible_under_the_setting_before_it() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let carol = server.client().register("carol", "pw-carol-1").await;
    let room = alice
        .create_room(json!({"preset": "public_chat", "initial_state": [{"type": "m.room.history_visibility", "content": {"history_visibility": "world_readable"}}]}))
        .await;
    let public = alice.send_text(&room, "public").await;
    let (status, change) = alice
        .client
        .put(
            &format!(
                "/_matrix/client/v3/rooms/{}/state/m.room.history_visibility/",
                enc(&room)
            ),
            json!({"history_visibility": "joined"}),
        )
        .await;
    assert_eq!(status, 200, "{change}");
    let change = change["event_id"].as_str().unwrap().to_owned();
    let private = alice.send_text(&room, "private").await;
    assert_eq!(carol.join(&room).await.0, 200);
    let event = |id: &str| format!("/_matrix/client/v3/rooms/{}/event/{}", enc(&room), enc(id));
    assert_eq!(carol.client.get(&event(&public)).await.0, 200);
    let (status, seen) = carol.client.get(&event(&change)).await;
    assert_eq!(status, 200, "{seen}");
    assert_eq!(seen["content"]["history_visibility"], "joined");
    assert_error(
        &carol.client.get(&event(&private)).await,
        404,
        "M_NOT_FOUND",
    );
}
