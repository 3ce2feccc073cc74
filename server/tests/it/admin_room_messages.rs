//! Synapse's admin API to read any room: messages, an event's context, and the event
//! closest to a timestamp — whatever the admin's membership.

use serde_json::{Value, json};

use crate::admin_api::admin;
use crate::common::*;

fn bodies(chunk: &Value) -> Vec<&str> {
    chunk
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["content"]["body"].as_str())
        .collect()
}

#[tokio::test]
async fn admins_read_rooms_they_are_not_in() {
    let server = TestServer::spawn();
    let root = admin(&server).await;
    let alice = server.client().register("alice", "pw-alice-1").await;
    let room = alice.create_room(json!({})).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(alice.send_text(&room, &format!("m{i}")).await);
    }
    let base = format!("/_synapse/admin/v1/rooms/{}", enc(&room));

    // Backwards from the end, two at a time, then on from `end`.
    let (status, page) = root
        .client
        .get(&format!("{base}/messages?dir=b&limit=2"))
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(bodies(&page["chunk"]), ["m4", "m3"]);
    assert!(page["start"].is_string());
    let end = page["end"].as_str().unwrap();
    let (_, next) = root
        .client
        .get(&format!("{base}/messages?dir=b&limit=2&from={end}"))
        .await;
    assert_eq!(bodies(&next["chunk"]), ["m2", "m1"]);
    // Forwards from the start, with a filter that keeps only messages.
    let filter = enc(&json!({"types": ["m.room.message"]}).to_string());
    let (_, forward) = root
        .client
        .get(&format!("{base}/messages?limit=100&filter={filter}"))
        .await;
    assert_eq!(bodies(&forward["chunk"]), ["m0", "m1", "m2", "m3", "m4"]);
    assert_eq!(forward["chunk"].as_array().unwrap().len(), 5);
    assert!(forward.get("end").is_none(), "{forward}");

    let (status, context) = root
        .client
        .get(&format!("{base}/context/{}?limit=2", enc(&ids[2])))
        .await;
    assert_eq!(status, 200, "{context}");
    assert_eq!(context["event"]["event_id"], ids[2].as_str());
    assert_eq!(bodies(&context["events_before"]), ["m1"]);
    assert_eq!(bodies(&context["events_after"]), ["m3"]);
    assert!(
        context["state"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "m.room.create"),
        "{context}"
    );

    let (_, event) = alice
        .client
        .get(&format!(
            "/_matrix/client/v3/rooms/{}/event/{}",
            enc(&room),
            enc(&ids[3])
        ))
        .await;
    let ts = event["origin_server_ts"].as_u64().unwrap();
    let (status, found) = root
        .client
        .get(&format!("{base}/timestamp_to_event?ts={ts}&dir=b"))
        .await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["origin_server_ts"], ts);
    let (_, after_all) = root
        .client
        .get(&format!("{base}/timestamp_to_event?ts={}", ts + 3_600_000))
        .await;
    assert_eq!(after_all["errcode"], "M_NOT_FOUND");

    let c = &root.client;
    assert_error(
        &c.get(&format!("{base}/messages?dir=up")).await,
        400,
        "M_INVALID_PARAM",
    );
    assert_error(
        &c.get(&format!("{base}/messages?filter=nope")).await,
        400,
        "M_INVALID_PARAM",
    );
    assert_error(
        &c.get(&format!("{base}/messages?from=zzz")).await,
        400,
        "M_INVALID_PARAM",
    );
    assert_error(
        &c.get(&format!("{base}/timestamp_to_event")).await,
        400,
        "M_MISSING_PARAM",
    );
    assert_error(
        &c.get(&format!("{base}/context/{}", enc("$missing"))).await,
        404,
        "M_NOT_FOUND",
    );
    assert_error(
        &c.get(&format!(
            "/_synapse/admin/v1/rooms/{}/messages",
            enc("!nope:localhost")
        ))
        .await,
        404,
        "M_NOT_FOUND",
    );
}

async fn purge_done(root: &User, purge_id: &str) -> Value {
    let path = format!("/_synapse/admin/v1/purge_history_status/{purge_id}");
    for _ in 0..200 {
        let (status, body) = root.client.get(&path).await;
        assert_eq!(status, 200, "{body}");
        if body["status"] != "active" {
            return body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("purge {purge_id} did not finish");
}

#[tokio::test]
async fn purging_history_deletes_old_messages_and_keeps_the_room_working() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::spawn_in(dir.path(), |_| {});
    let root = admin(&server).await;
    let (alice, bob, room) = server.client().alice_and_bob_in_a_public_room().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(alice.send_text(&room, &format!("m{i}")).await);
    }
    let path = format!("/_synapse/admin/v1/purge_history/{}", enc(&room));
    let messages = format!(
        "/_synapse/admin/v1/rooms/{}/messages?limit=100&filter={}",
        enc(&room),
        enc(&json!({"types": ["m.room.message"]}).to_string())
    );

    // Local events are kept unless asked.
    let (status, started) = root
        .client
        .post(&path, json!({"purge_up_to_event_id": ids[3]}))
        .await;
    assert_eq!(status, 200, "{started}");
    let done = purge_done(&root, started["purge_id"].as_str().unwrap()).await;
    assert_eq!(done, json!({"status": "complete"}));
    assert_eq!(
        bodies(&root.client.get(&messages).await.1["chunk"]),
        ["m0", "m1", "m2", "m3", "m4"]
    );

    let (status, started) = root
        .client
        .post(
            &format!("{path}/{}", enc(&ids[3])),
            json!({"delete_local_events": true}),
        )
        .await;
    assert_eq!(status, 200, "{started}");
    let done = purge_done(&root, started["purge_id"].as_str().unwrap()).await;
    assert_eq!(done, json!({"status": "complete"}));
    assert_eq!(
        bodies(&root.client.get(&messages).await.1["chunk"]),
        ["m3", "m4"]
    );
    let (_, gone) = bob
        .client
        .get(&format!(
            "/_matrix/client/v3/rooms/{}/event/{}",
            enc(&room),
            enc(&ids[0])
        ))
        .await;
    assert_eq!(gone["errcode"], "M_NOT_FOUND");
    // The room's state survived: members still talk, and a newcomer joins.
    bob.send_text(&room, "still here").await;
    let carol = server.client().register("carol", "pw-carol-1").await;
    assert_eq!(carol.join(&room).await.0, 200);
    let (_, audit) = root
        .client
        .get("/_citadel/admin/v1/audit?action=admin.room.purge_history")
        .await;
    assert_eq!(audit["entries"].as_array().unwrap().len(), 2, "{audit}");

    let c = &root.client;
    assert_error(&c.post(&path, json!({})).await, 400, "M_BAD_JSON");
    assert_error(
        &c.post(&path, json!({"purge_up_to_ts": "soon"})).await,
        400,
        "M_BAD_JSON",
    );
    assert_error(
        &c.post(&path, json!({"purge_up_to_ts": 1})).await,
        404,
        "M_NOT_FOUND",
    );
    assert_error(
        &c.post(&path, json!({"purge_up_to_event_id": "$missing"}))
            .await,
        404,
        "M_NOT_FOUND",
    );
    let other = alice.create_room(json!({})).await;
    let elsewhere = alice.send_text(&other, "x").await;
    assert_error(
        &c.post(&path, json!({"purge_up_to_event_id": elsewhere}))
            .await,
        400,
        "M_UNKNOWN",
    );
    assert_error(
        &c.get("/_synapse/admin/v1/purge_history_status/nope").await,
        404,
        "M_NOT_FOUND",
    );

    server.stop();
    let storage = open_storage(dir.path());
    for id in &ids[..3] {
        assert!(storage.rooms.timeline.get(id).unwrap().is_none());
        assert!(storage.rooms.short.event_if_known(id).unwrap().is_none());
    }
    assert!(storage.rooms.timeline.get(&ids[3]).unwrap().is_some());
}
