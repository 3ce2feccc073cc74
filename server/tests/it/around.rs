//! Around the timeline: members, aliases, tags, typing, receipts, read markers, presence.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::*;

fn room_path(room: &str, rest: &str) -> String {
    format!("/_matrix/client/v3/rooms/{}/{rest}", enc(room))
}

#[tokio::test]
async fn members_filter_by_membership_and_time() {
    let server = TestServer::spawn();
    let client = server.client();
    let alice = client.register("alice", "pw-alice-1").await;
    let bob = client.register("bob", "pw-bob-1").await;
    let carol = client.register("carol", "pw-carol-1").await;
    let room = alice
        .create_room(json!({"invite": [bob.user_id, carol.user_id]}))
        .await;
    let before_join = alice.sync(None, 0).await["next_batch"]
        .as_str()
        .unwrap()
        .to_owned();
    bob.join(&room).await;

    let members = |v: &Value| -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = v["chunk"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["state_key"].as_str().unwrap().to_owned(),
                    e["content"]["membership"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        out.sort();
        out
    };
    let (status, all) = alice.client.get(&room_path(&room, "members")).await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(
        members(&all),
        [
            (alice.user_id.clone(), "join".into()),
            (bob.user_id.clone(), "join".into()),
            (carol.user_id.clone(), "invite".into())
        ]
    );
    let (_, joined) = alice
        .client
        .get(&room_path(&room, "members?membership=join"))
        .await;
    assert_eq!(members(&joined).len(), 2);
    let (_, not_joined) = alice
        .client
        .get(&room_path(&room, "members?not_membership=join"))
        .await;
    assert_eq!(
        members(&not_joined),
        [(carol.user_id.clone(), "invite".into())]
    );
    let (_, earlier) = alice
        .client
        .get(&room_path(&room, &format!("members?at={before_join}")))
        .await;
    assert!(
        members(&earlier).contains(&(bob.user_id.clone(), "invite".into())),
        "{earlier}"
    );
    let dave = client.register("dave", "pw-dave-1").await;
    assert_error(
        &dave.client.get(&room_path(&room, "members")).await,
        403,
        "M_FORBIDDEN",
    );
}

#[tokio::test]
async fn aliases_can_be_added_resolved_listed_and_removed() {
    let server = TestServer::spawn();
    let client = server.client();
    let alice = client.register("alice", "pw-alice-1").await;
    let bob = client.register("bob", "pw-bob-1").await;
    let room = alice.create_room(json!({"preset": "public_chat"})).await;
    let alias = "/_matrix/client/v3/directory/room/%23hq%3Alocalhost";

    assert_error(&client.get(alias).await, 404, "M_NOT_FOUND");
    assert_error(
        &bob.client.put(alias, json!({"room_id": room})).await,
        403,
        "M_FORBIDDEN",
    );
    assert_eq!(
        alice.client.put(alias, json!({"room_id": room})).await.0,
        200
    );
    assert_error(
        &alice.client.put(alias, json!({"room_id": room})).await,
        409,
        "M_UNKNOWN",
    );
    let (status, resolved) = client.get(alias).await;
    assert_eq!(status, 200);
    assert_eq!(resolved, json!({"room_id": room, "servers": ["localhost"]}));
    assert_eq!(
        alice.client.get(&room_path(&room, "aliases")).await.1,
        json!({"aliases": ["#hq:localhost"]})
    );

    bob.join(&room).await;
    assert_error(
        &bob.client.delete(alias, json!({})).await,
        403,
        "M_FORBIDDEN",
    );
    assert_eq!(alice.client.delete(alias, json!({})).await.0, 200);
    assert_error(&client.get(alias).await, 404, "M_NOT_FOUND");
    assert_error(
        &alice
            .client
            .put(
                "/_matrix/client/v3/directory/room/%23x%3Aelsewhere.org",
                json!({"room_id": room}),
            )
            .await,
        400,
        "M_INVALID_PARAM",
    );
}

#[tokio::test]
async fn tags_are_room_account_data() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let room = alice.create_room(json!({})).await;
    let since = alice.sync(None, 0).await["next_batch"]
        .as_str()
        .unwrap()
        .to_owned();
    let tags = format!(
        "/_matrix/client/v3/user/{}/rooms/{}/tags",
        enc(&alice.user_id),
        enc(&room)
    );
    assert_eq!(
        alice
            .client
            .put(&format!("{tags}/m.favourite"), json!({"order": 0.5}))
            .await
            .0,
        200
    );
    assert_eq!(
        alice
            .client
            .put(&format!("{tags}/u.work"), json!({}))
            .await
            .0,
        200
    );
    assert_eq!(
        alice.client.get(&tags).await.1,
        json!({"tags": {"m.favourite": {"order": 0.5}, "u.work": {}}})
    );
    assert_eq!(
        alice
            .client
            .delete(&format!("{tags}/u.work"), json!({}))
            .await
            .0,
        200
    );
    let body = alice.sync(Some(&since), 0).await;
    let data = &body["rooms"]["join"][&room]["account_data"]["events"];
    assert_eq!(
        data,
        &json!([{"type": "m.tag", "content": {"tags": {"m.favourite": {"order": 0.5}}}}])
    );
    let bob = server.client().register("bob", "pw-bob-1").await;
    assert_error(&bob.client.get(&tags).await, 403, "M_FORBIDDEN");
}

#[tokio::test]
async fn typing_reaches_the_room_and_times_out() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let bob = server.client().register("bob", "pw-bob-1").await;
    let room = alice.create_room(json!({"preset": "public_chat"})).await;
    bob.join(&room).await;
    let since = bob.sync(None, 0).await["next_batch"]
        .as_str()
        .unwrap()
        .to_owned();
    let typing = room_path(&room, &format!("typing/{}", enc(&alice.user_id)));
    assert_eq!(
        alice
            .client
            .put(&typing, json!({"typing": true, "timeout": 1000}))
            .await
            .0,
        200
    );
    let body = bob.sync(Some(&since), 5000).await;
    let events = &body["rooms"]["join"][&room]["ephemeral"]["events"];
    assert_eq!(
        events,
        &json!([{"type": "m.typing", "content": {"user_ids": [alice.user_id]}}])
    );

    // The timeout ends it without another request.
    let next = body["next_batch"].as_str().unwrap().to_owned();
    let started = std::time::Instant::now();
    let body = bob.sync(Some(&next), 5000).await;
    assert!(started.elapsed() < Duration::from_secs(4));
    assert_eq!(
        body["rooms"]["join"][&room]["ephemeral"]["events"],
        json!([{"type": "m.typing", "content": {"user_ids": []}}])
    );
    assert_error(
        &bob.client
            .put(&typing, json!({"typing": true, "timeout": 1000}))
            .await,
        403,
        "M_FORBIDDEN",
    );

    // `timeout` is optional (the spec's `required` lists only `typing`).
    let next = body["next_batch"].as_str().unwrap().to_owned();
    assert_eq!(
        alice.client.put(&typing, json!({"typing": true})).await.0,
        200
    );
    let body = bob.sync(Some(&next), 5000).await;
    assert_eq!(
        body["rooms"]["join"][&room]["ephemeral"]["events"],
        json!([{"type": "m.typing", "content": {"user_ids": [alice.user_id]}}])
    );
    assert_eq!(
        alice.client.put(&typing, json!({"typing": false})).await.0,
        200
    );
    assert_error(
        &alice.client.put(&typing, json!({"typing": "yes"})).await,
        400,
        "M_BAD_JSON",
    );
}

#[tokio::test]
async fn receipts_and_read_markers() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let bob = server.client().register("bob", "pw-bob-1").await;
    let room = alice.create_room(json!({"preset": "public_chat"})).await;
    bob.join(&room).await;
    let event = alice.send_text(&room, "read me").await;
    let since = alice.sync(None, 0).await["next_batch"]
        .as_str()
        .unwrap()
        .to_owned();

    let receipt = room_path(&room, &format!("receipt/m.read/{}", enc(&event)));
    assert_eq!(bob.client.post(&receipt, json!({})).await.0, 200);
    let private = room_path(&room, &format!("receipt/m.read.private/{}", enc(&event)));
    assert_eq!(bob.client.post(&private, json!({})).await.0, 200);
    let body = alice.sync(Some(&since), 0).await;
    let events = body["rooms"]["join"][&room]["ephemeral"]["events"]
        .as_array()
        .unwrap()
        .clone();
    let receipts = events.iter().find(|e| e["type"] == "m.receipt").unwrap();
    assert!(
        receipts["content"][&event]["m.read"][&bob.user_id]["ts"].is_u64(),
        "{receipts}"
    );
    assert!(
        receipts["content"][&event].get("m.read.private").is_none(),
        "private receipts stay private"
    );
    let own = bob.sync(None, 0).await;
    let own_receipts = own["rooms"]["join"][&room]["ephemeral"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "m.receipt")
        .unwrap()
        .clone();
    assert!(own_receipts["content"][&event]["m.read.private"][&bob.user_id].is_object());

    let markers = room_path(&room, "read_markers");
    assert_eq!(
        bob.client
            .post(&markers, json!({"m.fully_read": event, "m.read": event}))
            .await
            .0,
        200
    );
    let data = format!(
        "/_matrix/client/v3/user/{}/rooms/{}/account_data/m.fully_read",
        enc(&bob.user_id),
        enc(&room)
    );
    assert_eq!(bob.client.get(&data).await.1, json!({"event_id": event}));

    assert_error(
        &bob.client
            .post(&room_path(&room, "receipt/m.read/%24nope"), json!({}))
            .await,
        404,
        "M_NOT_FOUND",
    );
    let carol = server.client().register("carol", "pw-carol-1").await;
    assert_error(
        &carol.client.post(&receipt, json!({})).await,
        403,
        "M_FORBIDDEN",
    );
}

#[tokio::test]
async fn presence_can_be_set_and_read() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let bob = server.client().register("bob", "pw-bob-1").await;
    let path = format!("/_matrix/client/v3/presence/{}/status", enc(&alice.user_id));
    assert_eq!(bob.client.get(&path).await.1["presence"], "offline");
    assert_eq!(
        alice
            .client
            .put(&path, json!({"presence": "online", "status_msg": "here"}))
            .await
            .0,
        200
    );
    let (_, presence) = bob.client.get(&path).await;
    assert_eq!(presence["presence"], "online");
    assert_eq!(presence["status_msg"], "here");
    assert_error(
        &bob.client.put(&path, json!({"presence": "offline"})).await,
        403,
        "M_FORBIDDEN",
    );
    assert_error(
        &bob.client
            .get("/_matrix/client/v3/presence/%40ghost%3Alocalhost/status")
            .await,
        404,
        "M_NOT_FOUND",
    );
}

#[tokio::test]
async fn presence_reaches_room_mates_through_sync() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let bob = server.client().register("bob", "pw-bob-1").await;
    let room = alice.create_room(json!({"preset": "public_chat"})).await;
    bob.join(&room).await;
    let since = bob.sync(None, 0).await["next_batch"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/_matrix/client/v3/presence/{}/status", enc(&alice.user_id));
    alice
        .client
        .put(
            &path,
            json!({"presence": "unavailable", "status_msg": "lunch"}),
        )
        .await;
    let body = bob.sync(Some(&since), 2000).await;
    let event = body["presence"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["sender"] == alice.user_id.as_str())
        .cloned()
        .unwrap_or_else(|| panic!("no presence for alice in {body}"));
    assert_eq!(event["type"], "m.presence");
    assert_eq!(event["content"]["presence"], "unavailable");
    assert_eq!(event["content"]["status_msg"], "lunch");
    assert_error(
        &bob.client
            .get("/_matrix/client/v3/sync?set_presence=bogus")
            .await,
        400,
        "M_INVALID_PARAM",
    );
}
