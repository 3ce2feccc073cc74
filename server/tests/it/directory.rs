//! Public room directory, user directory, ignored users, content reports.

use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn public_rooms_are_listed_searched_and_paginated() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let bob = server.client().register("bob", "pw-bob-1").await;
    let big = alice.create_room(json!({"visibility": "public", "name": "Rust lovers", "topic": "crabs", "room_alias_name": "rust"})).await;
    bob.join(&big).await;
    let small = alice
        .create_room(json!({"visibility": "public", "name": "Gardening"}))
        .await;
    alice.create_room(json!({"name": "Hidden"})).await;

    let (status, list) = server.client().get("/_matrix/client/v3/publicRooms").await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["total_room_count_estimate"], 2);
    let first = &list["chunk"][0];
    assert_eq!(first["room_id"], big);
    assert_eq!(first["num_joined_members"], 2);
    assert_eq!(first["name"], "Rust lovers");
    assert_eq!(first["canonical_alias"], "#rust:localhost");
    assert_eq!(first["join_rule"], "public");
    assert_eq!(first["world_readable"], false);
    assert_eq!(list["chunk"][1]["room_id"], small);

    let (_, page) = server
        .client()
        .get("/_matrix/client/v3/publicRooms?limit=1")
        .await;
    assert_eq!(page["chunk"].as_array().unwrap().len(), 1);
    let next = page["next_batch"].as_str().unwrap();
    let (_, page2) = server
        .client()
        .get(&format!(
            "/_matrix/client/v3/publicRooms?limit=1&since={next}"
        ))
        .await;
    assert_eq!(page2["chunk"][0]["room_id"], small);
    assert!(page2.get("next_batch").is_none());

    let (status, found) = alice
        .client
        .post(
            "/_matrix/client/v3/publicRooms",
            json!({"filter": {"generic_search_term": "CRAB"}}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(found["chunk"].as_array().unwrap().len(), 1);
    assert_eq!(found["chunk"][0]["room_id"], big);

    // Visibility can be read by anyone and changed by the room's moderators only.
    let list_path = format!("/_matrix/client/v3/directory/list/room/{}", enc(&small));
    assert_eq!(
        server.client().get(&list_path).await.1,
        json!({"visibility": "public"})
    );
    assert_error(
        &bob.client
            .put(&list_path, json!({"visibility": "private"}))
            .await,
        403,
        "M_FORBIDDEN",
    );
    assert_eq!(
        alice
            .client
            .put(&list_path, json!({"visibility": "private"}))
            .await
            .0,
        200
    );
    assert_eq!(
        server.client().get(&list_path).await.1,
        json!({"visibility": "private"})
    );
    assert_error(
        &alice
            .client
            .put(&list_path, json!({"visibility": "secret"}))
            .await,
        400,
        "M_INVALID_PARAM",
    );
    assert_error(
        &server
            .client()
            .get("/_matrix/client/v3/directory/list/room/!nope:localhost")
            .await,
        404,
        "M_NOT_FOUND",
    );
    assert_error(
        &server
            .client()
            .get("/_matrix/client/v3/publicRooms?since=zzz")
            .await,
        400,
        "M_INVALID_PARAM",
    );
}

#[tokio::test]
async fn user_directory_finds_people_sharing_rooms() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let bob = server.client().register("bob", "pw-bob-1").await;
    let _stranger = server.client().register("bobby", "pw-bobby-1").await;
    let room = alice.create_room(json!({"invite": [bob.user_id]})).await;
    bob.join(&room).await;
    bob.client
        .put(
            &format!(
                "/_matrix/client/v3/profile/{}/displayname",
                enc(&bob.user_id)
            ),
            json!({"displayname": "Robert"}),
        )
        .await;

    let (status, found) = alice
        .client
        .post(
            "/_matrix/client/v3/user_directory/search",
            json!({"search_term": "bob"}),
        )
        .await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(
        found["results"],
        json!([{"user_id": bob.user_id, "display_name": "Robert"}]),
        "strangers are not listed"
    );
    let (_, by_name) = alice
        .client
        .post(
            "/_matrix/client/v3/user_directory/search",
            json!({"search_term": "rob"}),
        )
        .await;
    assert_eq!(by_name["results"][0]["user_id"], bob.user_id);
    assert_eq!(by_name["limited"], false);
    assert_error(
        &alice
            .client
            .post("/_matrix/client/v3/user_directory/search", json!({}))
            .await,
        400,
        "M_MISSING_PARAM",
    );
}

#[tokio::test]
async fn ignored_users_disappear_from_timelines() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let troll = server.client().register("troll", "pw-troll-1").await;
    let room = alice.create_room(json!({"preset": "public_chat"})).await;
    troll.join(&room).await;
    troll.send_text(&room, "annoying").await;
    alice.send_text(&room, "fine").await;
    alice
        .client
        .put(
            &format!(
                "/_matrix/client/v3/user/{}/account_data/m.ignored_user_list",
                enc(&alice.user_id)
            ),
            json!({"ignored_users": {troll.user_id.clone(): {}}}),
        )
        .await;
    let (_, page) = alice
        .client
        .get(&format!(
            "/_matrix/client/v3/rooms/{}/messages?dir=b&limit=20",
            enc(&room)
        ))
        .await;
    let bodies: Vec<&str> = page["chunk"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["content"]["body"].as_str())
        .collect();
    assert_eq!(bodies, ["fine"]);
    let sync = alice.sync(None, 0).await;
    let synced = sync["rooms"]["join"][&room]["timeline"]["events"].to_string();
    assert!(!synced.contains("annoying") && synced.contains("fine"));
    // The troll's membership (state) is still visible.
    assert!(synced.contains(&troll.user_id));
}

/// An invite from an ignored user is not shown in /sync (the spec's "Ignoring Users":
/// the server must not send invites from them); others' invites still arrive.
#[tokio::test]
async fn invites_from_ignored_users_are_hidden() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let troll = server.client().register("troll", "pw-troll-1").await;
    let bob = server.client().register("bob", "pw-bob-1").await;
    alice
        .client
        .put(
            &format!(
                "/_matrix/client/v3/user/{}/account_data/m.ignored_user_list",
                enc(&alice.user_id)
            ),
            json!({"ignored_users": {troll.user_id.clone(): {}}}),
        )
        .await;
    let invite = |room: &str| format!("/_matrix/client/v3/rooms/{}/invite", enc(room));
    let from_troll = troll.create_room(json!({})).await;
    let from_bob = bob.create_room(json!({})).await;
    for (user, room) in [(&troll, &from_troll), (&bob, &from_bob)] {
        let (status, body) = user
            .client
            .post(&invite(room), json!({"user_id": alice.user_id}))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let sync = alice.sync(None, 0).await;
    let invites = sync["rooms"]["invite"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    assert!(invites.contains_key(&from_bob), "{sync}");
    assert!(!invites.contains_key(&from_troll), "{sync}");
}

#[tokio::test]
async fn content_reports_are_accepted_for_visible_events() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let bob = server.client().register("bob", "pw-bob-1").await;
    let room = alice.create_room(json!({"preset": "public_chat"})).await;
    bob.join(&room).await;
    let bad = alice.send_text(&room, "bad content").await;
    let path = format!(
        "/_matrix/client/v3/rooms/{}/report/{}",
        enc(&room),
        enc(&bad)
    );
    let (status, body) = bob
        .client
        .post(&path, json!({"reason": "spam", "score": -100}))
        .await;
    assert_eq!((status.as_u16(), body), (200, json!({})));
    let carol = server.client().register("carol", "pw-carol-1").await;
    assert_error(
        &carol.client.post(&path, json!({"reason": "x"})).await,
        404,
        "M_NOT_FOUND",
    );
    assert_error(
        &bob.client
            .post(
                &format!("/_matrix/client/v3/rooms/{}/report/%24nope", enc(&room)),
                json!({}),
            )
            .await,
        404,
        "M_NOT_FOUND",
    );
}

/// Removing an alias from the directory takes it out of the room's canonical alias
/// event too (SyTest: "Can delete canonical alias").
#[tokio::test]
async fn deleting_an_alias_takes_it_out_of_the_canonical_alias() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let room = alice.create_room(json!({})).await;
    for alias in ["#main:localhost", "#other:localhost"] {
        let (status, _) = alice
            .client
            .put(
                &format!("/_matrix/client/v3/directory/room/{}", enc(alias)),
                json!({"room_id": room}),
            )
            .await;
        assert_eq!(status, 200);
    }
    let canonical = format!(
        "/_matrix/client/v3/rooms/{}/state/m.room.canonical_alias/",
        enc(&room)
    );
    let (status, body) = alice
        .client
        .put(
            &canonical,
            json!({"alias": "#main:localhost", "alt_aliases": ["#main:localhost", "#other:localhost"]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = alice
        .client
        .delete(
            &format!(
                "/_matrix/client/v3/directory/room/{}",
                enc("#main:localhost")
            ),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, content) = alice.client.get(&canonical).await;
    assert_eq!(content, json!({"alt_aliases": ["#other:localhost"]}));
}
