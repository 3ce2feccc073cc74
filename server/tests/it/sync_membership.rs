//! Sync and membership changes: what a rename or a leave sends.

use serde_json::json;

use crate::common::*;

/// Renaming oneself is a new `m.room.member` event but not a new membership: the next
/// incremental sync has the event in the timeline, not the room as newly joined (all of
/// its state again, a reset timeline).
#[tokio::test]
async fn a_display_name_change_does_not_rejoin_the_room() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let room = alice.create_room(json!({})).await;
    for i in 0..3 {
        alice.send_text(&room, &format!("m{i}")).await;
    }
    let first = alice.sync(None, 0).await;
    let since = first["next_batch"].as_str().unwrap().to_owned();
    let (status, _) = alice
        .client
        .put(
            "/_matrix/client/v3/profile/@alice:localhost/displayname",
            json!({"displayname": "Alice Renamed"}),
        )
        .await;
    assert_eq!(status, 200);
    let body = alice.sync(Some(&since), 0).await;
    let joined = &body["rooms"]["join"][&room];
    let timeline = joined["timeline"]["events"].as_array().unwrap();
    assert_eq!(timeline.len(), 1, "only the rename: {joined}");
    assert_eq!(timeline[0]["type"], "m.room.member");
    assert_eq!(timeline[0]["content"]["displayname"], "Alice Renamed");
    assert_eq!(joined["timeline"]["limited"], false, "{joined}");
    assert_eq!(joined["state"]["events"], json!([]), "{joined}");
    // And the room is still known as joined, at the same place, by the membership APIs.
    let (_, rooms) = alice.client.get("/_matrix/client/v3/joined_rooms").await;
    assert_eq!(rooms["joined_rooms"], json!([room]));
}

/// A left room carries its state as of its timeline's start, like a joined one: all of it
/// in a sync that sends the room whole, what changed in a gap otherwise.
#[tokio::test]
async fn left_rooms_carry_their_state() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let bob = server.client().register("bob", "pw-bob-1").await;
    let room = alice
        .create_room(json!({"preset": "public_chat", "name": "Left behind"}))
        .await;
    bob.join(&room).await;
    let before = bob.sync(None, 0).await;
    let since = before["next_batch"].as_str().unwrap().to_owned();
    let name = format!("/_matrix/client/v3/rooms/{}/state/m.room.name/", enc(&room));
    assert_eq!(
        alice.client.put(&name, json!({"name": "Renamed"})).await.0,
        200
    );
    for i in 0..12 {
        alice.send_text(&room, &format!("g{i}")).await;
    }
    let (status, _) = bob
        .client
        .post(
            &format!("/_matrix/client/v3/rooms/{}/leave", enc(&room)),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);

    // Gappy: the rename happened in the gap, so it is in the state.
    let gappy = bob.sync(Some(&since), 0).await;
    let left = &gappy["rooms"]["leave"][&room];
    assert_eq!(left["timeline"]["limited"], true, "{left}");
    assert_eq!(types(&left["state"]["events"]), ["m.room.name"], "{left}");
    assert_eq!(left["state"]["events"][0]["content"]["name"], "Renamed");

    // Whole: an initial sync that includes left rooms has all of the room's state.
    let filter = enc(r#"{"room":{"include_leave":true}}"#);
    let (_, whole) = bob
        .client
        .get(&format!("/_matrix/client/v3/sync?filter={filter}"))
        .await;
    let left = &whole["rooms"]["leave"][&room];
    let kinds = types(&left["state"]["events"]);
    for kind in ["m.room.create", "m.room.name", "m.room.power_levels"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} missing: {left}");
    }
}
