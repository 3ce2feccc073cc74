//! `createRoom`: the initial state each preset gives a room, and rooms created at once.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::common::*;

/// The state events a preset decides, as `(type, content)` of the room's current state.
pub async fn preset_state(user: &User, room_id: &str) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for kind in [
        "m.room.power_levels",
        "m.room.join_rules",
        "m.room.history_visibility",
        "m.room.guest_access",
    ] {
        let (status, body) = user
            .client
            .get(&format!(
                "/_matrix/client/v3/rooms/{}/state/{kind}/",
                enc(room_id)
            ))
            .await;
        let content = if status == 200 { body } else { Value::Null };
        out.push((kind.to_owned(), content));
    }
    out
}

/// What Synapse (1.13x) puts in a new room for each preset, with `creator` as the
/// room's creator: the values the comparison against a real Synapse checks too.
pub fn synapse_preset_state(preset: &str, version: u32, creator: &str) -> Vec<(String, Value)> {
    let v12 = version >= 12;
    let mut power_levels = json!({
        "users": if v12 { json!({}) } else { json!({ creator: 100 }) },
        "users_default": 0,
        "events": {
            "m.room.name": 50,
            "m.room.power_levels": 100,
            "m.room.history_visibility": 100,
            "m.room.canonical_alias": 50,
            "m.room.avatar": 50,
            "m.room.tombstone": if v12 { 150 } else { 100 },
            "m.room.server_acl": 100,
            "m.room.encryption": 100,
        },
        "events_default": 0,
        "state_default": 50,
        "ban": 50,
        "kick": 50,
        "redact": 50,
        "invite": 50,
        "historical": 100,
    });
    let public = preset == "public_chat";
    if public {
        power_levels["events"]["m.call.invite"] = json!(50);
    } else {
        power_levels["invite"] = json!(0);
    }
    vec![
        ("m.room.power_levels".into(), power_levels),
        (
            "m.room.join_rules".into(),
            json!({"join_rule": if public { "public" } else { "invite" }}),
        ),
        (
            "m.room.history_visibility".into(),
            json!({"history_visibility": "shared"}),
        ),
        (
            "m.room.guest_access".into(),
            // No guest_access event in public rooms (absent means forbidden).
            if public {
                Value::Null
            } else {
                json!({"guest_access": "can_join"})
            },
        ),
    ]
}

#[tokio::test]
async fn each_preset_starts_with_synapse_s_power_levels_and_rules() {
    let server = TestServer::spawn();
    let client = server.client();
    let alice = client.register("alice", "pw-alice-1").await;
    for version in [10, 11, 12] {
        for preset in [
            None,
            Some("private_chat"),
            Some("trusted_private_chat"),
            Some("public_chat"),
        ] {
            let mut body = json!({"room_version": version.to_string()});
            if let Some(preset) = preset {
                body["preset"] = json!(preset);
            }
            let room = alice.create_room(body).await;
            let got = preset_state(&alice, &room).await;
            let want =
                synapse_preset_state(preset.unwrap_or("private_chat"), version, &alice.user_id);
            assert_eq!(got, want, "v{version} {preset:?}");
        }
    }
    // `visibility: public` without a preset means public_chat.
    let room = alice
        .create_room(json!({"visibility": "public", "room_version": "12"}))
        .await;
    assert_eq!(
        preset_state(&alice, &room).await,
        synapse_preset_state("public_chat", 12, &alice.user_id)
    );
}

#[tokio::test]
async fn a_plain_member_of_a_private_chat_may_invite() {
    let server = TestServer::spawn();
    let client = server.client();
    let alice = client.register("alice", "pw-alice-1").await;
    let bob = client.register("bob", "pw-bob-1").await;
    let carol = client.register("carol", "pw-carol-1").await;
    let room = alice
        .create_room(json!({"preset": "private_chat", "invite": [bob.user_id]}))
        .await;
    let (status, body) = bob.join(&room).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = bob
        .client
        .post(
            &format!("/_matrix/client/v3/rooms/{}/invite", enc(&room)),
            json!({"user_id": carol.user_id}),
        )
        .await;
    assert_eq!(status, 200, "bob invites carol: {body}");
    let (status, body) = carol.join(&room).await;
    assert_eq!(status, 200, "{body}");
    // In a public room, inviting stays a moderator's right.
    let public = alice.create_room(json!({"preset": "public_chat"})).await;
    assert_eq!(bob.join(&public).await.0, 200);
    let response = bob
        .client
        .post(
            &format!("/_matrix/client/v3/rooms/{}/invite", enc(&public)),
            json!({"user_id": carol.user_id}),
        )
        .await;
    assert_error(&response, 403, "M_FORBIDDEN");
}

/// Thirty `createRoom` requests of one user at once, identical or not: in room version
/// 12 the room ID is the create event's hash, so identical create events in the same
/// millisecond would name one room. Each request must get a room of its own.
#[tokio::test]
async fn concurrent_create_room_requests_each_get_their_own_working_room() {
    let server = TestServer::spawn();
    let client = server.client();
    let alice = client.register("alice", "pw-alice-1").await;
    let requests = (0..30).map(|i| {
        let alice = alice.clone();
        async move {
            let body = match i % 3 {
                0 => json!({}),
                1 => json!({"preset": "public_chat"}),
                _ => json!({"preset": "private_chat", "name": "Same name"}),
            };
            alice
                .client
                .post("/_matrix/client/v3/createRoom", body)
                .await
        }
    });
    let answers = futures_util::future::join_all(requests).await;
    let mut rooms = BTreeSet::new();
    for (status, body) in &answers {
        assert_eq!(*status, 200, "{body}");
        rooms.insert(body["room_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(rooms.len(), 30, "every request made a room of its own");
    for room in &rooms {
        let (status, body) = alice
            .client
            .get(&format!(
                "/_matrix/client/v3/rooms/{}/messages?dir=f&limit=50",
                enc(room)
            ))
            .await;
        assert_eq!(status, 200, "{body}");
        let kinds = types(&body["chunk"]);
        assert_eq!(
            kinds.iter().filter(|k| *k == "m.room.create").count(),
            1,
            "{room}: {kinds:?}"
        );
        assert_eq!(kinds[0], "m.room.create");
        assert!(kinds.contains(&"m.room.join_rules".to_owned()), "{kinds:?}");
        // And the room works: its creator can talk in it.
        alice.send_text(room, "hello").await;
    }
}
