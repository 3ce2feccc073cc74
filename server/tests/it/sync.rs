//! `/sync`: initial, incremental, long-polling, invites, leaves, restarts.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::*;

fn timeline_bodies(room: &Value) -> Vec<String> {
    room["timeline"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["content"]["body"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn initial_sync_has_state_timeline_and_summary() {
    let server = TestServer::spawn();
    let client = server.client();
    let alice = client.register("alice", "pw-alice-1").await;
    let bob = client.register("bob", "pw-bob-1").await;
    let room = alice
        .create_room(json!({"name": "Chat", "preset": "public_chat"}))
        .await;
    bob.join(&room).await;
    for i in 0..15 {
        alice.send_text(&room, &format!("m{i}")).await;
    }
    let body = bob.sync(None, 0).await;
    assert!(body["next_batch"].as_str().unwrap().starts_with('s'));
    let joined = &body["rooms"]["join"][&room];
    // Default limit 10: the last ten messages, and the gap is flagged.
    assert_eq!(
        timeline_bodies(joined),
        (5..15).map(|i| format!("m{i}")).collect::<Vec<_>>()
    );
    assert_eq!(joined["timeline"]["limited"], true);
    let state = types(&joined["state"]["events"]);
    for kind in [
        "m.room.create",
        "m.room.power_levels",
        "m.room.name",
        "m.room.join_rules",
    ] {
        assert!(
            state.contains(&kind.to_owned()),
            "{kind} missing from {state:?}"
        );
    }
    assert!(joined["state"]["events"][0].get("room_id").is_none());
    assert_eq!(joined["summary"]["m.joined_member_count"], 2);
    // A named room needs no heroes (the spec; Synapse leaves them out).
    assert!(joined["summary"].get("m.heroes").is_none(), "{joined}");

    // prev_batch continues backwards without gaps or repeats.
    let prev = joined["timeline"]["prev_batch"].as_str().unwrap();
    let (_, page) = bob
        .client
        .get(&format!(
            "/_matrix/client/v3/rooms/{}/messages?dir=b&limit=5&from={prev}",
            enc(&room)
        ))
        .await;
    let older: Vec<&str> = page["chunk"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["content"]["body"].as_str())
        .collect();
    assert_eq!(older, ["m4", "m3", "m2", "m1", "m0"]);

    // A filter can raise the limit.
    let filter = enc(r#"{"room":{"timeline":{"limit":50}}}"#);
    let (_, full) = bob
        .client
        .get(&format!("/_matrix/client/v3/sync?filter={filter}"))
        .await;
    assert_eq!(timeline_bodies(&full["rooms"]["join"][&room]).len(), 15);
    assert_eq!(full["rooms"]["join"][&room]["timeline"]["limited"], false);
}

#[tokio::test]
async fn incremental_sync_returns_only_new_events() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let room = alice.create_room(json!({})).await;
    let first = alice.sync(None, 0).await;
    let since = first["next_batch"].as_str().unwrap();

    let quiet = alice.sync(Some(since), 0).await;
    assert!(
        quiet["rooms"]["join"].as_object().unwrap().is_empty(),
        "{quiet}"
    );

    alice.send_text(&room, "new one").await;
    let body = alice.sync(Some(since), 0).await;
    let joined = &body["rooms"]["join"][&room];
    assert_eq!(timeline_bodies(joined), ["new one"]);
    assert_eq!(joined["timeline"]["limited"], false);
    assert_eq!(joined["state"]["events"], json!([]));
    let next = body["next_batch"].as_str().unwrap();
    let again = alice.sync(Some(next), 0).await;
    assert!(again["rooms"]["join"].as_object().unwrap().is_empty());

    // More new events than the timeline limit: the newest ten, flagged as limited, and
    // the state that changed in the gap.
    let name = format!("/_matrix/client/v3/rooms/{}/state/m.room.name/", enc(&room));
    assert_eq!(alice.client.put(&name, json!({"name": "Gap"})).await.0, 200);
    for i in 0..12 {
        alice.send_text(&room, &format!("g{i}")).await;
    }
    let gappy = alice.sync(Some(next), 0).await;
    let joined = &gappy["rooms"]["join"][&room];
    assert_eq!(
        timeline_bodies(joined),
        (2..12).map(|i| format!("g{i}")).collect::<Vec<_>>()
    );
    assert_eq!(joined["timeline"]["limited"], true);
    assert_eq!(types(&joined["state"]["events"]), ["m.room.name"]);
}

#[tokio::test]
async fn long_poll_returns_as_soon_as_an_event_arrives() {
    let server = TestServer::spawn();
    let client = server.client();
    let (alice, bob, room) = client.alice_and_bob_in_a_public_room().await;
    let since = bob.sync(None, 0).await["next_batch"]
        .as_str()
        .unwrap()
        .to_owned();

    let waiting = {
        let bob = bob.clone();
        let since = since.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let body = bob.sync(Some(&since), 30_000).await;
            (started.elapsed(), body)
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    alice.send_text(&room, "wake up").await;
    let (elapsed, body) = waiting.await.unwrap();
    assert!(
        elapsed < Duration::from_secs(10),
        "long-poll took {elapsed:?}"
    );
    assert_eq!(timeline_bodies(&body["rooms"]["join"][&room]), ["wake up"]);

    // With nothing happening, it waits for the timeout and returns empty.
    let started = Instant::now();
    let next = body["next_batch"].as_str().unwrap();
    let empty = bob.sync(Some(next), 500).await;
    assert!(started.elapsed() >= Duration::from_millis(450));
    assert!(empty["rooms"]["join"].as_object().unwrap().is_empty());
}

#[tokio::test]
async fn invites_and_leaves_show_up() {
    let server = TestServer::spawn();
    let client = server.client();
    let alice = client.register("alice", "pw-alice-1").await;
    let bob = client.register("bob", "pw-bob-1").await;
    let since = bob.sync(None, 0).await["next_batch"]
        .as_str()
        .unwrap()
        .to_owned();
    let room = alice
        .create_room(json!({"name": "Secret plans", "invite": [bob.user_id]}))
        .await;

    let body = bob.sync(Some(&since), 0).await;
    let invite = &body["rooms"]["invite"][&room]["invite_state"]["events"];
    let kinds = types(invite);
    assert!(
        kinds.contains(&"m.room.name".to_owned()) && kinds.contains(&"m.room.member".to_owned()),
        "{kinds:?}"
    );
    let member = invite
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "m.room.member")
        .unwrap();
    assert_eq!(member["content"]["membership"], "invite");
    assert_eq!(member["state_key"], bob.user_id);

    bob.join(&room).await;
    let body2 = bob
        .sync(Some(body["next_batch"].as_str().unwrap()), 0)
        .await;
    let joined = &body2["rooms"]["join"][&room];
    // A newly joined room comes whole: its state, or (in a short room) its whole timeline.
    let mut seen = types(&joined["state"]["events"]);
    seen.extend(types(&joined["timeline"]["events"]));
    assert!(seen.contains(&"m.room.create".to_owned()), "{joined}");

    bob.client
        .post(
            &format!("/_matrix/client/v3/rooms/{}/leave", enc(&room)),
            json!({}),
        )
        .await;
    let body3 = bob
        .sync(Some(body2["next_batch"].as_str().unwrap()), 0)
        .await;
    let left = &body3["rooms"]["leave"][&room];
    let last = left["timeline"]["events"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["content"]["membership"], "leave");
    assert!(body3["rooms"]["join"].get(&room).is_none());
    // Later messages are not delivered to someone who left.
    alice.send_text(&room, "after bob left").await;
    let body4 = bob
        .sync(Some(body3["next_batch"].as_str().unwrap()), 0)
        .await;
    assert!(
        body4["rooms"]["join"].get(&room).is_none() && body4["rooms"]["leave"].get(&room).is_none()
    );
}

#[tokio::test]
async fn account_data_arrives_in_sync() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let since = alice.sync(None, 0).await["next_batch"]
        .as_str()
        .unwrap()
        .to_owned();
    alice
        .client
        .put(
            "/_matrix/client/v3/user/@alice:localhost/account_data/org.example.x",
            json!({"a": 1}),
        )
        .await;
    let body = alice.sync(Some(&since), 0).await;
    assert_eq!(
        body["account_data"]["events"],
        json!([{"type": "org.example.x", "content": {"a": 1}}])
    );
}

#[tokio::test]
async fn sync_tokens_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::spawn_in(dir.path(), |_| {});
    let alice = server.client().register("alice", "pw-alice-1").await;
    let room = alice.create_room(json!({})).await;
    alice.send_text(&room, "before").await;
    let since = alice.sync(None, 0).await["next_batch"]
        .as_str()
        .unwrap()
        .to_owned();
    alice.send_text(&room, "between").await;
    server.stop();

    let server = TestServer::spawn_in(dir.path(), |_| {});
    let alice = User {
        client: server
            .client()
            .with_token(alice.client.token.as_deref().unwrap()),
        ..alice
    };
    alice.send_text(&room, "after").await;
    let body = alice.sync(Some(&since), 0).await;
    assert_eq!(
        timeline_bodies(&body["rooms"]["join"][&room]),
        ["between", "after"]
    );
    let next = body["next_batch"].as_str().unwrap();
    assert!(
        alice.sync(Some(next), 0).await["rooms"]["join"]
            .as_object()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn filters_can_be_stored_and_used_by_id() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let bob = server.client().register("bob", "pw-bob-1").await;
    let path = "/_matrix/client/v3/user/@alice:localhost/filter";
    let (status, body) = alice
        .client
        .post(path, json!({"room": {"timeline": {"limit": 2}}}))
        .await;
    assert_eq!(status, 200, "{body}");
    let id = body["filter_id"].as_str().unwrap();
    let (_, stored) = alice.client.get(&format!("{path}/{id}")).await;
    assert_eq!(stored["room"]["timeline"]["limit"], 2);
    assert_error(
        &bob.client.get(&format!("{path}/{id}")).await,
        403,
        "M_FORBIDDEN",
    );
    assert_error(
        &alice.client.get(&format!("{path}/999999")).await,
        404,
        "M_NOT_FOUND",
    );

    let room = alice.create_room(json!({})).await;
    for i in 0..5 {
        alice.send_text(&room, &format!("m{i}")).await;
    }
    let (_, synced) = alice
        .client
        .get(&format!("/_matrix/client/v3/sync?filter={id}"))
        .await;
    assert_eq!(
        timeline_bodies(&synced["rooms"]["join"][&room]),
        ["m3", "m4"]
    );
    assert_error(
        &alice
            .client
            .get("/_matrix/client/v3/sync?since=nonsense")
            .await,
        400,
        "M_INVALID_PARAM",
    );
    // A filter that is not there (or is someone else's) or has the wrong shape is an
    // error, as with `POST /filter`, not silently no filter.
    for unknown in ["999999", "nonsense"] {
        assert_error(
            &alice
                .client
                .get(&format!("/_matrix/client/v3/sync?filter={unknown}"))
                .await,
            404,
            "M_NOT_FOUND",
        );
    }
    assert_error(
        &bob.client
            .get(&format!("/_matrix/client/v3/sync?filter={id}"))
            .await,
        404,
        "M_NOT_FOUND",
    );
    for bad in [
        r#"{"room":5}"#,
        r#"{"room":{"timeline":{"limit":"two"}}}"#,
        r#"{"room":"#,
    ] {
        assert_error(
            &alice
                .client
                .get(&format!("/_matrix/client/v3/sync?filter={}", enc(bad)))
                .await,
            400,
            "M_INVALID_PARAM",
        );
    }
}

#[tokio::test]
async fn lazy_loading_sends_only_the_members_that_speak() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let room = alice.create_room(json!({"preset": "public_chat"})).await;
    let mut others = Vec::new();
    for i in 0..4 {
        let user = server
            .client()
            .register(&format!("member{i}"), "pw-member-1")
            .await;
        user.join(&room).await;
        others.push(user);
    }
    for i in 0..12 {
        alice.send_text(&room, &format!("filler {i}")).await;
    }
    others[0].send_text(&room, "I speak").await;
    let filter = enc(r#"{"room":{"state":{"lazy_load_members":true},"timeline":{"limit":3}}}"#);
    let (_, body) = alice
        .client
        .get(&format!("/_matrix/client/v3/sync?filter={filter}"))
        .await;
    let joined = &body["rooms"]["join"][&room];
    let members: Vec<&str> = joined["state"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "m.room.member")
        .map(|e| e["state_key"].as_str().unwrap())
        .collect();
    let mut members = members;
    members.sort();
    let mut expected = vec![alice.user_id.as_str(), others[0].user_id.as_str()];
    expected.sort();
    assert_eq!(members, expected);
    assert_eq!(joined["summary"]["m.joined_member_count"], 5);

    let filter = enc(r#"{"lazy_load_members":true}"#);
    let (_, page) = alice
        .client
        .get(&format!(
            "/_matrix/client/v3/rooms/{}/messages?dir=b&limit=1&filter={filter}",
            enc(&room)
        ))
        .await;
    let state: Vec<&str> = page["state"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["state_key"].as_str().unwrap())
        .collect();
    assert_eq!(state, [others[0].user_id.as_str()]);
}

#[tokio::test]
async fn sync_filters_select_rooms_and_event_types() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let keep = alice.create_room(json!({"name": "keep"})).await;
    let drop = alice.create_room(json!({"name": "drop"})).await;
    alice.send_text(&keep, "text").await;
    let path = format!(
        "/_matrix/client/v3/rooms/{}/send/org.example.custom/c1",
        enc(&keep)
    );
    alice.client.put(&path, json!({"x": 1})).await;
    let left = alice.create_room(json!({})).await;
    alice
        .client
        .post(
            &format!("/_matrix/client/v3/rooms/{}/leave", enc(&left)),
            json!({}),
        )
        .await;

    let filter = json!({"room": {
        "not_rooms": [drop],
        "timeline": {"types": ["m.room.message", "org.example.*"], "limit": 10},
        "state": {"types": ["m.room.name"]},
        "include_leave": true,
    }});
    let (_, body) = alice
        .client
        .get(&format!(
            "/_matrix/client/v3/sync?filter={}",
            enc(&filter.to_string())
        ))
        .await;
    let rooms = body["rooms"]["join"].as_object().unwrap();
    assert!(
        rooms.contains_key(&keep) && !rooms.contains_key(&drop),
        "{body}"
    );
    let kinds = types(&body["rooms"]["join"][&keep]["timeline"]["events"]);
    assert_eq!(kinds, ["m.room.message", "org.example.custom"]);
    for kind in types(&body["rooms"]["join"][&keep]["state"]["events"]) {
        assert_eq!(kind, "m.room.name");
    }
    assert!(
        body["rooms"]["leave"].get(&left).is_some(),
        "include_leave shows rooms left before"
    );
}

/// A timeline filter fills its limit with matching events: the ones filtered out do not
/// use up the limit (SyTest: "Can filter timeline by type with limit").
#[tokio::test]
async fn a_filtered_timeline_fills_its_limit_with_matching_events() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let room = alice.create_room(json!({})).await;
    for n in 0..3 {
        alice.send_text(&room, &format!("text {n}")).await;
    }
    for n in 0..5 {
        let path = format!(
            "/_matrix/client/v3/rooms/{}/send/org.example.noise/n{n}",
            enc(&room)
        );
        alice.client.put(&path, json!({"n": n})).await;
    }
    let filter = json!({"room": {"timeline": {"types": ["m.room.message"], "limit": 2}}});
    let (_, body) = alice
        .client
        .get(&format!(
            "/_matrix/client/v3/sync?filter={}",
            enc(&filter.to_string())
        ))
        .await;
    let timeline = &body["rooms"]["join"][&room]["timeline"];
    let bodies: Vec<&str> = timeline["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["content"]["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["text 1", "text 2"], "{timeline}");
    assert_eq!(timeline["limited"], true);

    // An incremental sync where nothing matching happened leaves the room out.
    let since = body["next_batch"].as_str().unwrap();
    let path = format!(
        "/_matrix/client/v3/rooms/{}/send/org.example.noise/late",
        enc(&room)
    );
    alice.client.put(&path, json!({})).await;
    let (_, body) = alice
        .client
        .get(&format!(
            "/_matrix/client/v3/sync?since={since}&filter={}",
            enc(&filter.to_string())
        ))
        .await;
    assert!(body["rooms"]["join"].get(&room).is_none(), "{body}");
}

#[tokio::test]
async fn a_repeated_initial_sync_is_identical_until_anything_changes() {
    let server = TestServer::spawn();
    let client = server.client();
    let (alice, bob, room) = client.alice_and_bob_in_a_public_room().await;
    alice.send_text(&room, "first").await;

    // Nothing happened in between: the same answer, token included (the second one may
    // come from the cache of built responses).
    let one = bob.sync(None, 0).await;
    let two = bob.sync(None, 0).await;
    assert_eq!(one["next_batch"], two["next_batch"]);
    assert_eq!(one["rooms"], two["rooms"]);

    // A message, a tag, typing and a receipt each show up in the next initial sync.
    alice.send_text(&room, "second").await;
    let three = bob.sync(None, 0).await;
    assert_ne!(three["next_batch"], two["next_batch"]);
    assert_eq!(
        timeline_bodies(&three["rooms"]["join"][&room])
            .last()
            .map(String::as_str),
        Some("second")
    );
    let tag = format!(
        "/_matrix/client/v3/user/{}/rooms/{}/tags/u.work",
        enc(&bob.user_id),
        enc(&room)
    );
    assert_eq!(bob.client.put(&tag, json!({"order": 0.5})).await.0, 200);
    let four = bob.sync(None, 0).await;
    assert_eq!(
        four["rooms"]["join"][&room]["account_data"]["events"][0]["content"]["tags"]["u.work"]["order"],
        0.5
    );
    let typing = format!(
        "/_matrix/client/v3/rooms/{}/typing/{}",
        enc(&room),
        enc(&alice.user_id)
    );
    assert_eq!(
        alice
            .client
            .put(&typing, json!({"typing": true, "timeout": 30000}))
            .await
            .0,
        200
    );
    let five = bob.sync(None, 0).await;
    let ephemeral = &five["rooms"]["join"][&room]["ephemeral"]["events"];
    assert!(
        ephemeral
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "m.typing" && e["content"]["user_ids"] == json!([alice.user_id])),
        "{ephemeral}"
    );
    // Another device of the same user gets its own answer (transaction IDs are per device).
    let (status, other) = client.login("bob", "pw-bob-1").await;
    assert_eq!(status, 200);
    let other = bob
        .client
        .with_token(other["access_token"].as_str().unwrap());
    let (status, body) = other.get("/_matrix/client/v3/sync").await;
    assert_eq!(status, 200);
    assert_eq!(
        body["rooms"]["join"][&room]["timeline"],
        five["rooms"]["join"][&room]["timeline"]
    );
}
