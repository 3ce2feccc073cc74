//! Synapse's forward-extremities admin API: list them, drop all but the newest.

use serde_json::{Value, json};

use crate::admin_api::admin;
use crate::common::*;

fn event_ids(body: &Value) -> Vec<&str> {
    body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect()
}

/// The same user, logged in as before, talking to a restarted server.
fn on(user: &User, server: &TestServer) -> User {
    User {
        client: server
            .client()
            .with_token(user.client.token.as_deref().unwrap()),
        ..user.clone()
    }
}

#[tokio::test]
async fn admins_list_forward_extremities_and_drop_all_but_the_newest() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::spawn_in(dir.path(), |_| {});
    let root = admin(&server).await;
    let alice = server.client().register("alice", "pw-alice-1").await;
    let room = alice.create_room(json!({"room_alias_name": "fx"})).await;
    let one = alice.send_text(&room, "one").await;
    let two = alice.send_text(&room, "two").await;
    let path = format!(
        "/_synapse/admin/v1/rooms/{}/forward_extremities",
        enc(&room)
    );

    let (status, body) = root.client.get(&path).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["count"], 1);
    assert_eq!(event_ids(&body), [two.as_str()]);

    // A fork, as a netsplit leaves one: the older message becomes an extremity again.
    server.stop();
    {
        let storage = open_storage(dir.path());
        let short = storage.rooms.short.room_if_known(&room).unwrap().unwrap();
        let mut batch = storage.batch();
        storage
            .rooms
            .timeline
            .advance_extremities(&mut batch, short, &[], &one);
        storage.apply(batch).unwrap();
    }
    let server = TestServer::spawn_in(dir.path(), |_| {});
    let root = on(&root, &server);

    // Newest first, by alias as well as by ID.
    let by_alias = format!(
        "/_synapse/admin/v1/rooms/{}/forward_extremities",
        enc("#fx:localhost")
    );
    for path in [&path, &by_alias] {
        let (status, body) = root.client.get(path).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["count"], 2, "{body}");
        assert_eq!(event_ids(&body), [two.as_str(), one.as_str()]);
        let (newer, older) = (&body["results"][0], &body["results"][1]);
        assert!(newer["depth"].as_u64().unwrap() > older["depth"].as_u64().unwrap());
        assert!(newer["state_group"].is_u64(), "{body}");
        assert!(newer["received_ts"].as_u64().unwrap() > 1_600_000_000_000);
    }

    let (status, body) = root.client.delete(&path, json!({})).await;
    assert_eq!((status.as_u16(), &body), (200, &json!({"deleted": 1})));
    let (_, body) = root.client.get(&path).await;
    assert_eq!(event_ids(&body), [two.as_str()]);
    // Nothing more to drop; the room goes on from the kept one.
    let (status, body) = root.client.delete(&path, json!({})).await;
    assert_eq!((status.as_u16(), &body), (200, &json!({"deleted": 0})));
    let alice = on(&alice, &server);
    let three = alice.send_text(&room, "three").await;
    let (_, body) = root.client.get(&path).await;
    assert_eq!(event_ids(&body), [three.as_str()]);

    // Unknown rooms and aliases, and malformed IDs.
    let unknown = format!(
        "/_synapse/admin/v1/rooms/{}/forward_extremities",
        enc("!nope:localhost")
    );
    assert_error(&root.client.get(&unknown).await, 404, "M_NOT_FOUND");
    let unknown_alias = format!(
        "/_synapse/admin/v1/rooms/{}/forward_extremities",
        enc("#nope:localhost")
    );
    assert_error(&root.client.get(&unknown_alias).await, 404, "M_NOT_FOUND");
    let bad = "/_synapse/admin/v1/rooms/not-a-room/forward_extremities";
    assert_error(
        &root.client.delete(bad, json!({})).await,
        400,
        "M_INVALID_PARAM",
    );
    server.stop();
}
