//! Synapse's room delete admin API: v2 in the background with its status, v1 at once,
//! blocking, the scheduled task list, bad input, and a delete killed mid-way that the
//! restarted server finishes.

use std::time::Duration;

use serde_json::{Value, json};

use crate::admin_api::admin;
use crate::common::*;
use crate::crash::{BinaryServer, citadel_command, write_config};

/// Polls the delete's status until it is over (bounded: 30 s).
async fn finished(client: &TestClient, delete_id: &str) -> Value {
    let path = format!("/_synapse/admin/v2/rooms/delete_status/{delete_id}");
    for _ in 0..300 {
        let (status, body) = client.get(&path).await;
        assert_eq!(status, 200, "{body}");
        if body["status"] != "active" && body["status"] != "scheduled" {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the delete {delete_id} did not finish");
}

fn sorted(value: &Value) -> Vec<String> {
    let mut list: Vec<String> = value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    list.sort();
    list
}

#[tokio::test]
async fn a_v2_delete_moves_members_and_aliases_blocks_and_purges_the_room() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::spawn_in(dir.path(), |_| {});
    let root = admin(&server).await;
    let client = server.client();
    let (alice, bob, _) = client.alice_and_bob_in_a_public_room().await;
    let room = alice
        .create_room(json!({"preset": "public_chat", "room_alias_name": "bad"}))
        .await;
    assert_eq!(bob.join(&room).await.0, 200);
    let message = alice.send_text(&room, "contraband").await;
    let carol = client.register("carol", "pw-carol-1").await;
    let invite = alice
        .client
        .post(
            &format!("/_matrix/client/v3/rooms/{}/invite", enc(&room)),
            json!({"user_id": carol.user_id}),
        )
        .await;
    assert_eq!(invite.0, 200, "{}", invite.1);

    let (status, started) = root
        .client
        .delete(
            &format!("/_synapse/admin/v2/rooms/{}", enc(&room)),
            json!({
                "new_room_user_id": root.user_id,
                "room_name": "Gone",
                "message": "This room broke the rules.",
                "block": true,
            }),
        )
        .await;
    assert_eq!(status, 200, "{started}");
    let delete_id = started["delete_id"].as_str().unwrap();
    let done = finished(&root.client, delete_id).await;
    assert_eq!(done["status"], "complete", "{done}");
    assert_eq!(done["delete_id"], delete_id);
    assert_eq!(done["room_id"], room.as_str());
    let shutdown = &done["shutdown_room"];
    assert_eq!(
        sorted(&shutdown["kicked_users"]),
        [
            alice.user_id.clone(),
            bob.user_id.clone(),
            carol.user_id.clone()
        ]
    );
    assert_eq!(shutdown["failed_to_kick_users"], json!([]));
    assert_eq!(shutdown["local_aliases"], json!(["#bad:localhost"]));
    assert!(shutdown.get("message_sent").is_none(), "{shutdown}");
    let new_room = shutdown["new_room_id"].as_str().unwrap();

    // The alias leads to the new room, where the joined members now are (the invited
    // one is not moved) and the admin's message waits; none of them can speak there.
    let (_, alias) = client
        .get(&format!(
            "/_matrix/client/v3/directory/room/{}",
            enc("#bad:localhost")
        ))
        .await;
    assert_eq!(alias["room_id"], new_room);
    let (_, joined) = bob.client.get("/_matrix/client/v3/joined_rooms").await;
    assert!(
        joined["joined_rooms"]
            .as_array()
            .unwrap()
            .contains(&json!(new_room))
    );
    assert!(
        !joined["joined_rooms"]
            .as_array()
            .unwrap()
            .contains(&json!(room))
    );
    let (_, messages) = bob
        .client
        .get(&format!(
            "/_matrix/client/v3/rooms/{}/messages?dir=b&limit=50",
            enc(new_room)
        ))
        .await;
    let bodies: Vec<&str> = messages["chunk"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "m.room.message")
        .map(|e| e["content"]["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["This room broke the rules."]);
    let (_, levels) = bob
        .client
        .get(&format!(
            "/_matrix/client/v3/rooms/{}/state/m.room.power_levels/",
            enc(new_room)
        ))
        .await;
    assert_eq!(levels["users_default"], -10);
    let (_, carols) = carol.client.get("/_matrix/client/v3/joined_rooms").await;
    assert_eq!(carols["joined_rooms"], json!([]));

    // Blocked: nobody here gets back in, and the admin API says who blocked it.
    assert_error(&bob.join(&room).await, 403, "M_FORBIDDEN");
    let (_, block) = root
        .client
        .get(&format!("/_synapse/admin/v1/rooms/{}/block", enc(&room)))
        .await;
    assert_eq!(block, json!({"block": true, "user_id": root.user_id}));
    // Purged: the admin API no longer knows it; its status stays queryable by room.
    assert_error(
        &root
            .client
            .get(&format!("/_synapse/admin/v1/rooms/{}", enc(&room)))
            .await,
        404,
        "M_NOT_FOUND",
    );
    let (status, by_room) = root
        .client
        .get(&format!(
            "/_synapse/admin/v2/rooms/{}/delete_status",
            enc(&room)
        ))
        .await;
    assert_eq!(status, 200, "{by_room}");
    assert_eq!(by_room["results"], json!([done]));
    let (_, tasks) = root
        .client
        .get(&format!(
            "/_synapse/admin/v1/scheduled_tasks?action_name=shutdown_and_purge_room&resource_id={}",
            enc(&room)
        ))
        .await;
    assert_eq!(tasks["scheduled_tasks"][0]["id"], delete_id);
    assert_eq!(tasks["scheduled_tasks"][0]["status"], "complete");
    let (_, none) = root
        .client
        .get("/_synapse/admin/v1/scheduled_tasks?status=failed")
        .await;
    assert_eq!(none, json!({"scheduled_tasks": []}));
    let (_, audit) = root
        .client
        .get("/_citadel/admin/v1/audit?action=admin.room.delete")
        .await;
    assert_eq!(audit["entries"][0]["target"], room.as_str(), "{audit}");

    // Nothing of the old room is left in the database.
    server.stop();
    let storage = open_storage(dir.path());
    assert!(storage.rooms.meta(&room).unwrap().is_none());
    assert!(storage.rooms.short.room_if_known(&room).unwrap().is_none());
    assert!(storage.rooms.timeline.get(&message).unwrap().is_none());
    assert!(
        storage
            .rooms
            .short
            .event_if_known(&message)
            .unwrap()
            .is_none()
    );
    assert!(storage.rooms.membership.members(&room).unwrap().is_empty());
    assert!(
        storage
            .rooms
            .membership
            .get(&bob.user_id, &room)
            .unwrap()
            .is_none()
    );
    assert!(storage.rooms.aliases.for_room(&room).unwrap().is_empty());
    assert!(storage.rooms.blocked.get(&room).unwrap().is_some());
    // The new room is whole.
    assert!(storage.rooms.meta(new_room).unwrap().is_some());
}

#[tokio::test]
async fn a_v1_delete_answers_when_done_and_can_keep_or_block_unknown_rooms() {
    let server = TestServer::spawn();
    let root = admin(&server).await;
    let (alice, bob, room) = server.client().alice_and_bob_in_a_public_room().await;
    let path = format!("/_synapse/admin/v1/rooms/{}", enc(&room));

    // Without purge the room stays, emptied of its local members.
    let (status, body) = root.client.delete(&path, json!({"purge": false})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        sorted(&body["kicked_users"]),
        [alice.user_id.clone(), bob.user_id.clone()]
    );
    assert_eq!(body["new_room_id"], Value::Null);
    assert_eq!(body["local_aliases"], json!([]));
    let (status, details) = root.client.get(&path).await;
    assert_eq!(status, 200, "{details}");
    assert_eq!(details["joined_local_members"], 0, "{details}");
    let (_, block) = root.client.get(&format!("{path}/block")).await;
    assert_eq!(block, json!({"block": false}));
    // A second delete purges what the first kept.
    let (status, again) = root.client.delete(&path, json!({})).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["kicked_users"], json!([]));
    assert_error(&root.client.get(&path).await, 404, "M_NOT_FOUND");

    // A room this server never saw: only blocking makes sense.
    let unknown = format!(
        "/_synapse/admin/v1/rooms/{}",
        enc("!nowhere:elsewhere.example")
    );
    assert_error(
        &root.client.delete(&unknown, json!({})).await,
        404,
        "M_NOT_FOUND",
    );
    let (status, body) = root.client.delete(&unknown, json!({"block": true})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["kicked_users"], json!([]));
    let (_, block) = root.client.get(&format!("{unknown}/block")).await;
    assert_eq!(block["block"], true);
    // Unblocking.
    let (status, body) = root
        .client
        .put(&format!("{unknown}/block"), json!({"block": false}))
        .await;
    assert_eq!((status.as_u16(), body), (200, json!({"block": false})));
    let (_, block) = root.client.get(&format!("{unknown}/block")).await;
    assert_eq!(block, json!({"block": false}));
}

#[tokio::test]
async fn room_deletes_refuse_bad_input() {
    let server = TestServer::spawn();
    let root = admin(&server).await;
    let alice = server.client().register("alice", "pw-alice-1").await;
    let room = alice.create_room(json!({})).await;
    let c = &root.client;
    for version in ["v1", "v2"] {
        let path = format!("/_synapse/admin/{version}/rooms/{}", enc(&room));
        assert_error(
            &c.delete(&path, json!({"block": "yes"})).await,
            400,
            "M_BAD_JSON",
        );
        assert_error(
            &c.delete(&path, json!({"purge": 1})).await,
            400,
            "M_BAD_JSON",
        );
        assert_error(&c.delete(&path, json!([])).await, 400, "M_BAD_JSON");
        assert_error(
            &c.delete(
                &path,
                json!({"new_room_user_id": "@someone:elsewhere.example"}),
            )
            .await,
            400,
            "M_UNKNOWN",
        );
        let bad_id = format!("/_synapse/admin/{version}/rooms/not-a-room");
        assert_error(&c.delete(&bad_id, json!({})).await, 400, "M_INVALID_PARAM");
        let not_json = c.raw(reqwest::Method::DELETE, &path, b"{nope").await;
        assert_error(&not_json, 400, "M_NOT_JSON");
    }
    assert_error(
        &c.get("/_synapse/admin/v2/rooms/delete_status/nosuchid")
            .await,
        404,
        "M_NOT_FOUND",
    );
    assert_error(
        &c.get(&format!(
            "/_synapse/admin/v2/rooms/{}/delete_status",
            enc(&room)
        ))
        .await,
        404,
        "M_NOT_FOUND",
    );
    assert_error(
        &c.get("/_synapse/admin/v1/scheduled_tasks?status=sleeping")
            .await,
        400,
        "M_INVALID_PARAM",
    );
    assert_error(
        &c.put(
            &format!("/_synapse/admin/v1/rooms/{}/block", enc(&room)),
            json!({"block": 1}),
        )
        .await,
        400,
        "M_BAD_JSON",
    );
    // Nothing was deleted along the way.
    let (status, _) = c
        .get(&format!("/_synapse/admin/v1/rooms/{}", enc(&room)))
        .await;
    assert_eq!(status, 200);
    let (_, tasks) = c.get("/_synapse/admin/v1/scheduled_tasks").await;
    assert_eq!(tasks, json!({"scheduled_tasks": []}));
}

/// SIGKILL while a delete runs: the restarted server finishes it.
#[tokio::test]
async fn a_delete_killed_mid_way_is_finished_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "open");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("[e2ee]\nenforce = \"off\"\n");
    std::fs::write(&config, text).unwrap();
    let password_file = dir.path().join("pw");
    std::fs::write(&password_file, "pw-root-1\n").unwrap();
    let out = citadel_command(&config)
        .args(["admin", "create-user", "root", "--admin", "--password-file"])
        .arg(&password_file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let server = BinaryServer::start(&config).await;
    let client = server.client();
    let (alice, bob, room) = client.alice_and_bob_in_a_public_room().await;
    let mut sent = Vec::new();
    for i in 0..300 {
        let user = if i % 2 == 0 { &alice } else { &bob };
        sent.push(user.send_text(&room, &format!("message {i}")).await);
    }
    let (_, login) = client.login("root", "pw-root-1").await;
    let root = client.with_token(login["access_token"].as_str().unwrap());
    let (status, started) = root
        .delete(
            &format!("/_synapse/admin/v2/rooms/{}", enc(&room)),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{started}");
    let delete_id = started["delete_id"].as_str().unwrap().to_owned();
    server.kill();

    let server = BinaryServer::start(&config).await;
    let root = server
        .client()
        .with_token(login["access_token"].as_str().unwrap());
    let done = finished(&root, &delete_id).await;
    assert_eq!(done["status"], "complete", "{done}");
    assert_eq!(
        sorted(&done["shutdown_room"]["kicked_users"]),
        [alice.user_id.clone(), bob.user_id.clone()]
    );
    assert_error(
        &root
            .get(&format!("/_synapse/admin/v1/rooms/{}", enc(&room)))
            .await,
        404,
        "M_NOT_FOUND",
    );
    let status = server.terminate();
    assert!(status.success(), "{status:?}");

    let storage = open_storage(&dir.path().join("data"));
    assert!(storage.rooms.meta(&room).unwrap().is_none());
    for event_id in &sent {
        assert!(storage.rooms.timeline.get(event_id).unwrap().is_none());
    }
    assert!(storage.rooms.membership.members(&room).unwrap().is_empty());
}
