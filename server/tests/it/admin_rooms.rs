//! Synapse's room admin API: the room list, details, members and state.

use serde_json::{Value, json};

use crate::admin_api::admin;
use crate::common::*;

fn ids(body: &Value) -> Vec<String> {
    body["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["room_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn admins_list_and_inspect_rooms() {
    let server = TestServer::spawn();
    let root = admin(&server).await;
    let alice = server.client().register("alice", "pw-alice-1").await;
    let bob = server.client().register("bob", "pw-bob-1").await;
    let zoo = alice
        .create_room(
            json!({"name": "Zoo", "preset": "public_chat", "visibility": "public",
            "room_alias_name": "zoo", "topic": "Animals"}),
        )
        .await;
    assert_eq!(bob.join(&zoo).await.0, 200);
    let art = alice
        .create_room(json!({"name": "Art", "initial_state": [
            {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}]}))
        .await;
    let space = alice
        .create_room(json!({"name": "Middle", "creation_content": {"type": "m.space"}}))
        .await;
    let c = &root.client;

    let (status, all) = c.get("/_synapse/admin/v1/rooms").await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(all["total_rooms"], 3);
    assert_eq!(all["offset"], 0);
    assert_eq!(
        ids(&all),
        [art.clone(), space.clone(), zoo.clone()],
        "by name"
    );
    let zoo_entry = &all["rooms"][2];
    assert_eq!(zoo_entry["name"], "Zoo");
    assert_eq!(zoo_entry["canonical_alias"], "#zoo:localhost");
    assert_eq!(zoo_entry["joined_members"], 2);
    assert_eq!(zoo_entry["joined_local_members"], 2);
    assert_eq!(zoo_entry["creator"], alice.user_id);
    assert_eq!(zoo_entry["public"], true);
    assert_eq!(zoo_entry["join_rules"], "public");
    assert_eq!(zoo_entry["federatable"], true);
    assert_eq!(zoo_entry["version"], "12");
    assert_eq!(zoo_entry["room_type"], Value::Null);
    assert_eq!(all["rooms"][0]["encryption"], "m.megolm.v1.aes-sha2");
    assert_eq!(all["rooms"][1]["room_type"], "m.space");

    let (_, by_size) = c
        .get("/_synapse/admin/v1/rooms?order_by=joined_members&limit=1")
        .await;
    assert_eq!(ids(&by_size), vec![zoo.clone()]);
    assert_eq!(by_size["next_batch"], 1);
    let (_, second) = c
        .get("/_synapse/admin/v1/rooms?order_by=name&from=1&limit=1")
        .await;
    assert_eq!(ids(&second), vec![space.clone()]);
    assert_eq!(second["prev_batch"], 0);
    let (_, back) = c.get("/_synapse/admin/v1/rooms?dir=b").await;
    assert_eq!(ids(&back), [zoo.clone(), space.clone(), art.clone()]);
    // The search also matches room IDs, which are random: two letters matched one by
    // chance now and then.
    let (_, found) = c.get("/_synapse/admin/v1/rooms?search_term=zoo").await;
    assert_eq!(ids(&found), vec![zoo.clone()]);
    let (_, public) = c.get("/_synapse/admin/v1/rooms?public_rooms=true").await;
    assert_eq!(ids(&public), vec![zoo.clone()]);
    let (_, not_public) = c.get("/_synapse/admin/v1/rooms?public_rooms=false").await;
    assert_eq!(not_public["total_rooms"], 2);

    let (status, details) = c
        .get(&format!("/_synapse/admin/v1/rooms/{}", enc(&zoo)))
        .await;
    assert_eq!(status, 200, "{details}");
    assert_eq!(details["topic"], "Animals");
    assert_eq!(details["tombstoned"], false);
    assert!(details["joined_local_devices"].as_u64().unwrap() >= 2);
    let (_, members) = c
        .get(&format!("/_synapse/admin/v1/rooms/{}/members", enc(&zoo)))
        .await;
    assert_eq!(members["total"], 2);
    let mut listed: Vec<&str> = members["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    listed.sort();
    assert_eq!(listed, [alice.user_id.as_str(), bob.user_id.as_str()]);
    let (_, state) = c
        .get(&format!("/_synapse/admin/v1/rooms/{}/state", enc(&zoo)))
        .await;
    let kinds: Vec<&str> = state["state"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"m.room.create") && kinds.contains(&"m.room.topic"),
        "{kinds:?}"
    );
    let (_, names) = c
        .get(&format!(
            "/_synapse/admin/v1/rooms/{}/state?type=m.room.member",
            enc(&zoo)
        ))
        .await;
    assert_eq!(names["state"].as_array().unwrap().len(), 2);
    assert_eq!(names["state"][0]["room_id"], zoo);

    // Errors.
    assert_error(
        &c.get(&format!(
            "/_synapse/admin/v1/rooms/{}",
            enc("!nowhere:localhost")
        ))
        .await,
        404,
        "M_NOT_FOUND",
    );
    assert_error(
        &c.get(&format!(
            "/_synapse/admin/v1/rooms/{}/members",
            enc("!nowhere:localhost")
        ))
        .await,
        404,
        "M_NOT_FOUND",
    );
    assert_error(
        &c.get("/_synapse/admin/v1/rooms/not-a-room").await,
        400,
        "M_INVALID_PARAM",
    );
    assert_error(
        &c.get("/_synapse/admin/v1/rooms?order_by=colour").await,
        400,
        "M_INVALID_PARAM",
    );
    assert_error(
        &c.get("/_synapse/admin/v1/rooms?public_rooms=sometimes")
            .await,
        400,
        "M_INVALID_PARAM",
    );
    assert_error(
        &c.get("/_synapse/admin/v1/rooms?from=x").await,
        400,
        "M_INVALID_PARAM",
    );
}

#[tokio::test]
async fn admins_review_and_delete_event_reports() {
    let server = TestServer::spawn();
    let root = admin(&server).await;
    let client = server.client();
    let (alice, bob, room) = client.alice_and_bob_in_a_public_room().await;
    alice
        .client
        .put(
            &format!("/_matrix/client/v3/rooms/{}/state/m.room.name/", enc(&room)),
            json!({"name": "Lobby"}),
        )
        .await;
    let rude = bob.send_text(&room, "something rude").await;
    let worse = bob.send_text(&room, "something worse").await;
    for (event, reason) in [(&rude, "rude"), (&worse, "worse")] {
        let (status, body) = alice
            .client
            .post(
                &format!(
                    "/_matrix/client/v3/rooms/{}/report/{}",
                    enc(&room),
                    enc(event)
                ),
                json!({"reason": reason, "score": -100}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let c = &root.client;
    let (status, list) = c.get("/_synapse/admin/v1/event_reports").await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["total"], 2);
    // Newest first by default.
    let first = &list["event_reports"][0];
    assert_eq!(first["event_id"], worse);
    assert_eq!(first["reason"], "worse");
    assert_eq!(first["user_id"], alice.user_id);
    assert_eq!(first["sender"], bob.user_id);
    assert_eq!(first["room_id"], room);
    assert_eq!(first["name"], "Lobby");
    assert!(first["received_ts"].as_u64().unwrap() > 1_600_000_000_000);
    let (_, oldest) = c
        .get("/_synapse/admin/v1/event_reports?dir=f&limit=1")
        .await;
    assert_eq!(oldest["event_reports"][0]["event_id"], rude);
    assert_eq!(oldest["next_token"], 1);
    let (_, by_sender) = c
        .get(&format!(
            "/_synapse/admin/v1/event_reports?event_sender_user_id={}",
            enc(&alice.user_id)
        ))
        .await;
    assert_eq!(by_sender["total"], 0);
    let id = first["id"].as_u64().unwrap();
    let (status, one) = c
        .get(&format!("/_synapse/admin/v1/event_reports/{id}"))
        .await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["event_json"]["content"]["body"], "something worse");
    assert_eq!(one["event_json"]["sender"], bob.user_id);
    assert_eq!(
        c.delete(&format!("/_synapse/admin/v1/event_reports/{id}"), json!({}))
            .await
            .0,
        200
    );
    assert_error(
        &c.get(&format!("/_synapse/admin/v1/event_reports/{id}"))
            .await,
        404,
        "M_NOT_FOUND",
    );
    assert_error(
        &c.delete(&format!("/_synapse/admin/v1/event_reports/{id}"), json!({}))
            .await,
        404,
        "M_NOT_FOUND",
    );
    assert_error(
        &c.get("/_synapse/admin/v1/event_reports/abc").await,
        400,
        "M_INVALID_PARAM",
    );
    assert_error(
        &c.get("/_synapse/admin/v1/event_reports?dir=up").await,
        400,
        "M_INVALID_PARAM",
    );
    let (_, after) = c.get("/_synapse/admin/v1/event_reports").await;
    assert_eq!(after["total"], 1);
}

#[tokio::test]
async fn users_report_rooms_and_users_and_admins_see_it() {
    let server = TestServer::spawn();
    let root = admin(&server).await;
    let client = server.client();
    let (alice, bob, room) = client.alice_and_bob_in_a_public_room().await;
    let carol = client.register("carol", "pw-carol-1").await;
    // Carol is not in the room; she may still report it.
    let (status, body) = carol
        .client
        .post(
            &format!("/_matrix/client/v3/rooms/{}/report", enc(&room)),
            json!({"reason": "spam room"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({}));
    let (status, _) = alice
        .client
        .post(
            &format!("/_matrix/client/v3/users/{}/report", enc(&bob.user_id)),
            json!({"reason": "rude"}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = alice
        .client
        .post(
            &format!(
                "/_matrix/client/v3/users/{}/report",
                enc("@remote:elsewhere.org")
            ),
            json!({"reason": "remote"}),
        )
        .await;
    assert_eq!(status, 200);
    // Errors: unknown room or local user, too long a reason.
    assert_error(
        &alice
            .client
            .post(
                &format!(
                    "/_matrix/client/v3/rooms/{}/report",
                    enc("!nowhere:localhost")
                ),
                json!({"reason": "x"}),
            )
            .await,
        404,
        "M_NOT_FOUND",
    );
    assert_error(
        &alice
            .client
            .post(
                &format!(
                    "/_matrix/client/v3/users/{}/report",
                    enc("@ghost:localhost")
                ),
                json!({"reason": "x"}),
            )
            .await,
        404,
        "M_NOT_FOUND",
    );
    assert_error(
        &alice
            .client
            .post(
                &format!("/_matrix/client/v3/rooms/{}/report", enc(&room)),
                json!({"reason": "x".repeat(1001)}),
            )
            .await,
        400,
        "M_INVALID_PARAM",
    );

    let c = &root.client;
    let (_, rooms) = c.get("/_synapse/admin/v1/room_reports").await;
    assert_eq!(rooms["total"], 1, "{rooms}");
    assert_eq!(rooms["room_reports"][0]["room_id"], room);
    assert_eq!(rooms["room_reports"][0]["user_id"], carol.user_id);
    assert_eq!(rooms["room_reports"][0]["reason"], "spam room");
    let (_, users) = c.get("/_synapse/admin/v1/user_reports").await;
    assert_eq!(users["total"], 2);
    let (_, about_bob) = c
        .get(&format!(
            "/_synapse/admin/v1/user_reports?target_user_id={}",
            enc(&bob.user_id)
        ))
        .await;
    assert_eq!(about_bob["total"], 1);
    assert_eq!(about_bob["user_reports"][0]["reason"], "rude");
    let id = about_bob["user_reports"][0]["id"].as_u64().unwrap();
    assert_eq!(
        c.delete(&format!("/_synapse/admin/v1/user_reports/{id}"), json!({}))
            .await
            .0,
        200
    );
    assert_error(
        &c.delete(&format!("/_synapse/admin/v1/user_reports/{id}"), json!({}))
            .await,
        404,
        "M_NOT_FOUND",
    );
    let (_, users) = c.get("/_synapse/admin/v1/user_reports").await;
    assert_eq!(users["total"], 1);
}

#[tokio::test]
async fn the_database_statistics_list_the_largest_rooms_first() {
    let server = TestServer::spawn();
    let root = admin(&server).await;
    let alice = server.client().register("alice", "pw-alice-1").await;
    let small = alice.create_room(json!({})).await;
    let big = alice.create_room(json!({})).await;
    for i in 0..20 {
        alice
            .send_text(&big, &format!("a long enough message, number {i}"))
            .await;
    }
    let (status, body) = root
        .client
        .get("/_synapse/admin/v1/statistics/database/rooms")
        .await;
    assert_eq!(status, 200, "{body}");
    let rooms = body["rooms"].as_array().unwrap();
    assert_eq!(rooms[0]["room_id"], big.as_str());
    assert_eq!(rooms[1]["room_id"], small.as_str());
    let size = |i: usize| rooms[i]["estimated_size"].as_u64().unwrap();
    assert!(size(0) > size(1) + 20 * 30, "{body}");
    assert!(size(1) > 0);
}
