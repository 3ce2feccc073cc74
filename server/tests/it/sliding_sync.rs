//! Sliding sync (MSC4186) over HTTP: both wire forms, connections and `pos`, lists and
//! subscriptions, rooms the user is removed from, and bad input.

use serde_json::{Value, json};

use crate::common::*;

const STABLE: &str = "/_matrix/client/v4/sync";
const UNSTABLE: &str = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync";

fn all_rooms(range_end: u64) -> Value {
    json!({
        "conn_id": "main",
        "lists": {"all": {
            "range": [0, range_end], "timeline_limit": 5,
            "required_state": {"include": [{"type": "m.room.name", "state_key": ""},
                                           {"type": "m.room.member", "state_key": "$ME"}]},
        }},
    })
}

async fn sliding(user: &User, body: Value) -> Value {
    let (status, response) = user.client.post(STABLE, body).await;
    assert_eq!(status, 200, "{response}");
    response
}

fn timeline_bodies(room: &Value) -> Vec<String> {
    room["timeline"]
        .as_array()
        .map(|t| {
            t.iter()
                .filter_map(|e| e["content"]["body"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn versions_advertise_it_and_both_forms_answer() {
    let server = TestServer::spawn();
    let client = server.client();
    let (_, versions) = client.get("/_matrix/client/versions").await;
    assert_eq!(
        versions["unstable_features"]["org.matrix.simplified_msc3575"],
        true
    );
    let (alice, _bob, room) = client.alice_and_bob_in_a_public_room().await;
    alice.send_text(&room, "hello").await;
    // The unstable form: Synapse's shape, `pos` and `timeout` in the query.
    let (status, body) = alice
        .client
        .post(
            UNSTABLE,
            json!({"lists": {"all": {"ranges": [[0, 9]], "timeline_limit": 1,
                "required_state": [["m.room.create", ""]]}}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["lists"]["all"]["count"], 1);
    let entry = &body["rooms"][&room];
    assert_eq!(entry["initial"], true);
    assert_eq!(timeline_bodies(entry), ["hello"]);
    assert_eq!(entry["required_state"][0]["type"], "m.room.create");
    assert_eq!(entry["joined_count"], 2);
    assert!(entry["notification_count"].is_number(), "{entry}");
    let pos = body["pos"].as_str().unwrap();
    // Nothing new: with timeout 0 an empty answer at once.
    let (status, again) = alice
        .client
        .post(
            &format!("{UNSTABLE}?pos={pos}&timeout=0"),
            json!({"lists": {"all": {"ranges": [[0, 9]], "timeline_limit": 1}}}),
        )
        .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["rooms"], json!({}), "{again}");
}

#[tokio::test]
async fn a_connection_gets_what_changed_and_waits_for_news() {
    let server = TestServer::spawn();
    let client = server.client();
    let (alice, bob, room) = client.alice_and_bob_in_a_public_room().await;
    let first = sliding(&alice, all_rooms(9)).await;
    let entry = &first["rooms"][&room];
    assert_eq!(entry["membership"], "join");
    assert_eq!(entry["lists"], json!(["all"]));
    assert_eq!(entry["num_live"], 0);
    let pos = first["pos"].as_str().unwrap().to_owned();

    // A long poll wakes when bob speaks, with only the new event.
    let waiting = {
        let alice = alice.clone();
        let mut body = all_rooms(9);
        body["pos"] = json!(pos);
        body["timeout"] = json!(10_000);
        tokio::spawn(async move { sliding(&alice, body).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    bob.send_text(&room, "news").await;
    let second = waiting.await.unwrap();
    let entry = &second["rooms"][&room];
    assert_eq!(timeline_bodies(entry), ["news"], "{second}");
    assert!(entry.get("initial").is_none());
    assert_eq!(entry["num_live"], 1);
    assert!(entry.get("required_state").is_none(), "{entry}");

    // A retry of the same pos (the answer was lost) gets the same news again.
    let mut retry = all_rooms(9);
    retry["pos"] = json!(pos);
    let again = sliding(&alice, retry).await;
    assert_eq!(timeline_bodies(&again["rooms"][&room]), ["news"]);
    // Once the newer pos is used, the older one is gone.
    let mut newer = all_rooms(9);
    newer["pos"] = again["pos"].clone();
    sliding(&alice, newer).await;
    let mut stale = all_rooms(9);
    stale["pos"] = json!(pos);
    let response = alice.client.post(STABLE, stale).await;
    assert_error(&response, 400, "M_UNKNOWN_POS");
}

#[tokio::test]
async fn a_pos_belongs_to_its_user_device_and_connection() {
    let server = TestServer::spawn();
    let client = server.client();
    let (alice, bob, _room) = client.alice_and_bob_in_a_public_room().await;
    let first = sliding(&alice, all_rooms(9)).await;
    let pos = first["pos"].as_str().unwrap();
    // Bob, another of alice's devices, another connection, and made-up positions.
    let (_, login) = client.login("alice", "pw-alice-1").await;
    let other_device = client.with_token(login["access_token"].as_str().unwrap());
    for (who, conn, pos) in [
        (&bob.client, "main", pos),
        (&other_device, "main", pos),
        (&alice.client, "other", pos),
        (&alice.client, "main", "s1_nonsense"),
        (&alice.client, "main", "garbage"),
    ] {
        let mut body = all_rooms(9);
        body["conn_id"] = json!(conn);
        body["pos"] = json!(pos);
        let response = who.post(STABLE, body).await;
        assert_error(&response, 400, "M_UNKNOWN_POS");
    }
}

#[tokio::test]
async fn lists_filter_order_and_count_and_invites_carry_stripped_state() {
    let server = TestServer::spawn();
    let client = server.client();
    let alice = client.register("alice", "pw-alice-1").await;
    let bob = client.register("bob", "pw-bob-1").await;
    let old = alice.create_room(json!({"name": "Old"})).await;
    let encrypted = alice
        .create_room(json!({"name": "Secret", "initial_state": [
            {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}]}))
        .await;
    let space = alice
        .create_room(json!({"name": "Space", "creation_content": {"type": "m.space"}}))
        .await;
    let invite = bob
        .create_room(json!({"name": "From bob", "invite": [alice.user_id]}))
        .await;
    alice.send_text(&old, "bump").await;
    let body = json!({
        "lists": {
            "recent": {"range": [0, 1], "timeline_limit": 0, "required_state": {}},
            "invites": {"timeline_limit": 0, "filters": {"is_invited": true}},
            "encrypted": {"timeline_limit": 0, "filters": {"is_encrypted": true, "is_invited": false}},
            "no_spaces": {"timeline_limit": 0, "filters": {"not_room_types": ["m.space"], "is_invited": false}},
            "spaces": {"timeline_limit": 0, "filters": {"room_types": ["m.space"]}},
        }
    });
    let response = sliding(&alice, body).await;
    let lists = &response["lists"];
    assert_eq!(lists["recent"]["count"], 4, "{response}");
    assert_eq!(lists["invites"]["count"], 1);
    assert_eq!(lists["encrypted"]["count"], 1);
    assert_eq!(lists["no_spaces"]["count"], 2);
    assert_eq!(lists["spaces"]["count"], 1);
    // The two most recently active rooms: the invite (newest) and the bumped room.
    let rooms = response["rooms"].as_object().unwrap();
    assert_eq!(
        rooms[&old]["lists"],
        json!(["no_spaces", "recent"]),
        "{response}"
    );
    assert_eq!(
        rooms[&encrypted]["lists"],
        json!(["encrypted", "no_spaces"])
    );
    assert_eq!(rooms[&space]["lists"], json!(["spaces"]));
    let entry = &rooms[&invite];
    assert_eq!(entry["membership"], "invite");
    assert_eq!(entry["lists"], json!(["invites", "recent"]));
    let stripped = entry["stripped_state"].as_array().unwrap();
    assert!(
        stripped
            .iter()
            .any(|e| e["type"] == "m.room.name" && e["content"]["name"] == "From bob")
    );
    assert!(entry.get("timeline").is_none());
}

#[tokio::test]
async fn subscriptions_required_state_wildcards_and_lazy_members() {
    let server = TestServer::spawn();
    let client = server.client();
    let (alice, bob, room) = client.alice_and_bob_in_a_public_room().await;
    bob.send_text(&room, "from bob").await;
    let body = json!({"room_subscriptions": {
        room.clone(): {"timeline_limit": 1, "required_state": {
            "include": [{}], "exclude": [{"type": "m.room.member"}], "lazy_members": true}},
        // A room the user is not in, and one that does not exist: ignored.
        "!nowhere:localhost": {"timeline_limit": 1},
    }});
    let response = sliding(&alice, body).await;
    let rooms = response["rooms"].as_object().unwrap();
    assert_eq!(rooms.len(), 1, "{response}");
    let state: Vec<(String, String)> = rooms[&room]["required_state"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_owned(),
                e["state_key"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        state.contains(&("m.room.create".into(), String::new())),
        "{state:?}"
    );
    assert!(state.contains(&("m.room.join_rules".into(), String::new())));
    // Members: only bob, who sent the one timeline event (lazy loading, not excluded).
    let members: Vec<&str> = state
        .iter()
        .filter(|(k, _)| k == "m.room.member")
        .map(|(_, s)| s.as_str())
        .collect();
    assert_eq!(members, [bob.user_id.as_str()], "{state:?}");
    assert!(rooms[&room].get("heroes").is_some());
}

/// A user removed from a room gets the removal, then nothing more from that room.
#[tokio::test]
async fn a_kicked_user_sees_the_kick_and_nothing_after_it() {
    let server = TestServer::spawn();
    let client = server.client();
    let (alice, bob, room) = client.alice_and_bob_in_a_public_room().await;
    let first = sliding(&bob, all_rooms(9)).await;
    assert_eq!(first["rooms"][&room]["membership"], "join");
    let (status, body) = alice
        .client
        .post(
            &format!("/_matrix/client/v3/rooms/{}/kick", enc(&room)),
            json!({"user_id": bob.user_id, "reason": "bye"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    alice.send_text(&room, "after the kick").await;
    let mut next = all_rooms(9);
    next["pos"] = first["pos"].clone();
    let second = sliding(&bob, next).await;
    let entry = &second["rooms"][&room];
    assert_eq!(entry["membership"], "leave", "{second}");
    let timeline = entry["timeline"].as_array().unwrap();
    assert_eq!(timeline.last().unwrap()["type"], "m.room.member");
    assert_eq!(timeline.last().unwrap()["content"]["membership"], "leave");
    assert!(!timeline_bodies(entry).contains(&"after the kick".to_owned()));
    // Later events never reach him: not incrementally, and not through a subscription
    // with a larger timeline (which sends older events again, up to the kick).
    alice.send_text(&room, "still talking").await;
    let mut third = all_rooms(9);
    third["pos"] = second["pos"].clone();
    let response = sliding(&bob, third).await;
    assert!(response["rooms"].get(&room).is_none(), "{response}");
    let mut fourth = all_rooms(9);
    fourth["pos"] = response["pos"].clone();
    fourth["room_subscriptions"] = json!({room.clone(): {"timeline_limit": 10}});
    let response = sliding(&bob, fourth).await;
    let bodies = timeline_bodies(&response["rooms"][&room]);
    assert!(
        !bodies
            .iter()
            .any(|b| b == "after the kick" || b == "still talking"),
        "{response}"
    );
    // A new connection still lists the room he was removed from, up to the kick.
    let fresh = sliding(&bob, json!({"lists": {"all": {"timeline_limit": 10}}})).await;
    let entry = &fresh["rooms"][&room];
    assert_eq!(entry["membership"], "leave");
    let bodies = timeline_bodies(entry);
    assert!(
        !bodies
            .iter()
            .any(|b| b == "after the kick" || b == "still talking"),
        "{bodies:?}"
    );
}

#[tokio::test]
async fn bad_input_gets_the_spec_errors() {
    let server = TestServer::spawn();
    let client = server.client();
    let alice = client.register("alice", "pw-alice-1").await;
    let list = |range: Value| json!({"lists": {"a": {"range": range, "timeline_limit": 1}}});
    for (body, status, errcode) in [
        (list(json!([5, 2])), 400, "M_INVALID_PARAM"),
        (list(json!([-1, 2])), 400, "M_BAD_JSON"),
        (list(json!([0, 1, 2])), 400, "M_BAD_JSON"),
        (list(json!("0-9")), 400, "M_BAD_JSON"),
        (
            json!({"lists": {"a": {"range": [0, 1]}}}),
            400,
            "M_MISSING_PARAM",
        ),
        (
            json!({"lists": {"a": {"timeline_limit": "ten"}}}),
            400,
            "M_BAD_JSON",
        ),
        (
            json!({"lists": {"a": {"timeline_limit": 1, "filters": {"is_dm": "yes"}}}}),
            400,
            "M_BAD_JSON",
        ),
        (
            json!({"lists": {"a": {"timeline_limit": 1, "required_state": [["only-a-type"]]}}}),
            400,
            "M_BAD_JSON",
        ),
        (
            json!({"room_subscriptions": {"not-a-room-id": {"timeline_limit": 1}}}),
            400,
            "M_INVALID_PARAM",
        ),
        (json!({"set_presence": "busy"}), 400, "M_INVALID_PARAM"),
        (json!({"pos": "s5_unknown"}), 400, "M_UNKNOWN_POS"),
        (json!([]), 400, "M_BAD_JSON"),
    ] {
        let response = alice.client.post(STABLE, body.clone()).await;
        assert_error(&response, status, errcode);
        let _ = body;
    }
    let subscriptions: serde_json::Map<String, Value> = (0..101)
        .map(|i| (format!("!r{i}:localhost"), json!({"timeline_limit": 1})))
        .collect();
    let response = alice
        .client
        .post(STABLE, json!({"room_subscriptions": subscriptions}))
        .await;
    assert_error(&response, 400, "M_INVALID_PARAM");
    let lists: serde_json::Map<String, Value> = (0..101)
        .map(|i| (format!("l{i}"), json!({"timeline_limit": 1})))
        .collect();
    let response = alice.client.post(STABLE, json!({ "lists": lists })).await;
    assert_error(&response, 400, "M_INVALID_PARAM");
    let response = alice
        .client
        .raw(reqwest::Method::POST, STABLE, b"{not json")
        .await;
    assert_error(&response, 400, "M_NOT_JSON");
    // Without a token.
    let response = client.post(STABLE, json!({})).await;
    assert_error(&response, 401, "M_MISSING_TOKEN");
    // Clamped, not refused: a huge range end, an oversized timeline limit, unknown
    // filter fields (ignored as unknown fields are in Matrix).
    let room = alice.create_room(json!({})).await;
    for i in 0..3 {
        alice.send_text(&room, &format!("m{i}")).await;
    }
    let response = sliding(
        &alice,
        json!({"lists": {"a": {"range": [0, u64::MAX], "timeline_limit": 1_000_000,
            "filters": {"a_future_filter": true}}}}),
    )
    .await;
    assert_eq!(response["lists"]["a"]["count"], 1);
    assert_eq!(
        timeline_bodies(&response["rooms"][&room]),
        ["m0", "m1", "m2"]
    );
}
