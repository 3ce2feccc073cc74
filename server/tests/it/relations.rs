//! Relations, threads, bundled aggregations, context and timestamp lookup.

use serde_json::{Value, json};

use crate::common::*;

async fn send(user: &User, room: &str, kind: &str, content: Value) -> String {
    let path = format!(
        "/_matrix/client/v3/rooms/{}/send/{kind}/r{}",
        enc(room),
        rand_suffix()
    );
    let (status, body) = user.client.put(&path, content).await;
    assert_eq!(status, 200, "{body}");
    body["event_id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn edits_threads_reactions_and_references_are_bundled_and_listed() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let bob = server.client().register("bob", "pw-bob-1").await;
    let room = alice.create_room(json!({"preset": "public_chat"})).await;
    bob.join(&room).await;
    let root = alice.send_text(&room, "original").await;
    let edit = |body: &str| {
        json!({"msgtype": "m.text", "body": format!("* {body}"), "m.new_content": {"msgtype": "m.text", "body": body},
               "m.relates_to": {"rel_type": "m.replace", "event_id": root}})
    };
    send(&alice, &room, "m.room.message", edit("first edit")).await;
    let latest_edit = send(&alice, &room, "m.room.message", edit("second edit")).await;
    // Bob cannot edit Alice's message: his "edit" is not bundled.
    send(&bob, &room, "m.room.message", edit("bob's fake edit")).await;
    let reaction = send(
        &bob,
        &room,
        "m.reaction",
        json!({"m.relates_to": {"rel_type": "m.annotation", "event_id": root, "key": "👍"}}),
    )
    .await;
    let reply1 = send(&bob, &room, "m.room.message", json!({"msgtype": "m.text", "body": "t1", "m.relates_to": {"rel_type": "m.thread", "event_id": root}})).await;
    let reply2 = send(&alice, &room, "m.room.message", json!({"msgtype": "m.text", "body": "t2", "m.relates_to": {"rel_type": "m.thread", "event_id": root}})).await;
    let reference = send(&bob, &room, "m.room.message", json!({"msgtype": "m.text", "body": "see above", "m.relates_to": {"rel_type": "m.reference", "event_id": root}})).await;

    let (_, event) = bob
        .client
        .get(&format!(
            "/_matrix/client/v3/rooms/{}/event/{}",
            enc(&room),
            enc(&root)
        ))
        .await;
    let relations = &event["unsigned"]["m.relations"];
    assert_eq!(relations["m.replace"]["event_id"], latest_edit);
    assert_eq!(
        relations["m.replace"]["content"]["m.new_content"]["body"],
        "second edit"
    );
    assert_eq!(
        event["content"]["body"], "original",
        "the original content stays"
    );
    assert_eq!(relations["m.thread"]["count"], 2);
    assert_eq!(relations["m.thread"]["latest_event"]["event_id"], reply2);
    assert_eq!(relations["m.thread"]["current_user_participated"], true);
    assert_eq!(
        relations["m.reference"]["chunk"],
        json!([{"event_id": reference}])
    );

    // The same bundle in /sync and /messages.
    let body = bob.sync(None, 0).await;
    let timeline = body["rooms"]["join"][&room]["timeline"]["events"]
        .as_array()
        .unwrap();
    if let Some(synced_root) = timeline.iter().find(|e| e["event_id"] == root.as_str()) {
        assert_eq!(
            synced_root["unsigned"]["m.relations"]["m.thread"]["count"],
            2
        );
    }

    let base = format!(
        "/_matrix/client/v1/rooms/{}/relations/{}",
        enc(&room),
        enc(&root)
    );
    let (status, all) = bob.client.get(&format!("{base}?limit=50")).await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(all["chunk"].as_array().unwrap().len(), 7);
    let (_, threads) = bob.client.get(&format!("{base}/m.thread")).await;
    let ids: Vec<&str> = threads["chunk"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [reply2.as_str(), reply1.as_str()], "newest first");
    let (_, reactions) = bob
        .client
        .get(&format!("{base}/m.annotation/m.reaction"))
        .await;
    assert_eq!(reactions["chunk"][0]["event_id"], reaction);
    // Pagination.
    let (_, page1) = bob.client.get(&format!("{base}?limit=4")).await;
    assert_eq!(page1["chunk"].as_array().unwrap().len(), 4);
    let next = page1["next_batch"].as_str().unwrap();
    let (_, page2) = bob.client.get(&format!("{base}?limit=4&from={next}")).await;
    assert_eq!(page2["chunk"].as_array().unwrap().len(), 3);
    assert!(page2.get("next_batch").is_none());

    let (_, list) = bob
        .client
        .get(&format!("/_matrix/client/v1/rooms/{}/threads", enc(&room)))
        .await;
    assert_eq!(list["chunk"][0]["event_id"], root);
    assert_eq!(
        list["chunk"][0]["unsigned"]["m.relations"]["m.thread"]["count"],
        2
    );

    assert_error(
        &bob.client
            .get(&format!(
                "/_matrix/client/v1/rooms/{}/relations/%24missing",
                enc(&room)
            ))
            .await,
        404,
        "M_NOT_FOUND",
    );
}

#[tokio::test]
async fn redacted_originals_lose_their_edit_bundle() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let room = alice.create_room(json!({})).await;
    let root = alice.send_text(&room, "original").await;
    send(&alice, &room, "m.room.message", json!({"msgtype": "m.text", "body": "* x", "m.new_content": {"msgtype": "m.text", "body": "x"}, "m.relates_to": {"rel_type": "m.replace", "event_id": root}})).await;
    alice
        .client
        .put(
            &format!(
                "/_matrix/client/v3/rooms/{}/redact/{}/x1",
                enc(&room),
                enc(&root)
            ),
            json!({}),
        )
        .await;
    let (_, event) = alice
        .client
        .get(&format!(
            "/_matrix/client/v3/rooms/{}/event/{}",
            enc(&room),
            enc(&root)
        ))
        .await;
    assert!(
        event["unsigned"]
            .get("m.relations")
            .is_none_or(|r| r.get("m.replace").is_none()),
        "{event}"
    );
}

#[tokio::test]
async fn context_and_timestamp_lookup() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let room = alice.create_room(json!({"name": "ctx"})).await;
    let mut ids = Vec::new();
    for i in 0..9 {
        ids.push(alice.send_text(&room, &format!("m{i}")).await);
    }
    let (status, ctx) = alice
        .client
        .get(&format!(
            "/_matrix/client/v3/rooms/{}/context/{}?limit=4",
            enc(&room),
            enc(&ids[4])
        ))
        .await;
    assert_eq!(status, 200, "{ctx}");
    assert_eq!(ctx["event"]["event_id"], ids[4]);
    let before: Vec<&str> = ctx["events_before"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(before, [ids[3].as_str(), ids[2].as_str()]);
    let after: Vec<&str> = ctx["events_after"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(after, [ids[5].as_str(), ids[6].as_str()]);
    assert!(types(&ctx["state"]).contains(&"m.room.name".to_owned()));
    // end continues forward without overlap.
    let end = ctx["end"].as_str().unwrap();
    let (_, next) = alice
        .client
        .get(&format!(
            "/_matrix/client/v3/rooms/{}/messages?dir=f&from={end}&limit=1",
            enc(&room)
        ))
        .await;
    assert_eq!(next["chunk"][0]["event_id"], ids[7]);

    let (_, event) = alice
        .client
        .get(&format!(
            "/_matrix/client/v3/rooms/{}/event/{}",
            enc(&room),
            enc(&ids[2])
        ))
        .await;
    let ts = event["origin_server_ts"].as_u64().unwrap();
    let (status, found) = alice
        .client
        .get(&format!(
            "/_matrix/client/v1/rooms/{}/timestamp_to_event?ts={ts}&dir=f",
            enc(&room)
        ))
        .await;
    assert_eq!(status, 200, "{found}");
    assert!(found["origin_server_ts"].as_u64().unwrap() >= ts);
    assert_error(
        &alice
            .client
            .get(&format!(
                "/_matrix/client/v1/rooms/{}/timestamp_to_event?ts=1&dir=b",
                enc(&room)
            ))
            .await,
        404,
        "M_NOT_FOUND",
    );
    assert_error(
        &alice
            .client
            .get(&format!(
                "/_matrix/client/v3/rooms/{}/context/%24missing",
                enc(&room)
            ))
            .await,
        404,
        "M_NOT_FOUND",
    );
}
