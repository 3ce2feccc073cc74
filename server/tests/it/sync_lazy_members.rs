//! Lazy-loaded members (spec "Lazy-loading room members"): which member events `/sync`
//! sends across incremental and gappy syncs, redundant ones left out unless asked for,
//! and `/context` with the same filter.

use serde_json::{Value, json};

use crate::common::*;

/// The filter SyTest's lazy-loading tests use: ten timeline events, members lazily.
fn filter(redundant: bool) -> String {
    enc(&json!({"room": {
        "state": {"lazy_load_members": true, "include_redundant_members": redundant},
        "timeline": {"limit": 10},
    }})
    .to_string())
}

/// Syncs with the filter; the room's member events as user ID → membership, and the
/// next token.
async fn members(user: &User, room: &str, filter: &str, since: Option<&str>) -> (Value, String) {
    let mut path = format!("/_matrix/client/v3/sync?filter={filter}");
    if let Some(since) = since {
        path.push_str(&format!("&since={since}"));
    }
    let (status, body) = user.client.get(&path).await;
    assert_eq!(status, 200, "{body}");
    let mut members = serde_json::Map::new();
    for event in body["rooms"]["join"][room]["state"]["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["type"] == "m.room.member")
    {
        members.insert(
            event["state_key"].as_str().unwrap().to_owned(),
            event["content"]["membership"].clone(),
        );
    }
    (
        Value::Object(members),
        body["next_batch"].as_str().unwrap().to_owned(),
    )
}

async fn fill(user: &User, room: &str, n: usize) {
    for i in 0..n {
        user.send_text(room, &format!("filler {i}")).await;
    }
}

/// A gappy incremental sync brings the senders of its timeline and every membership
/// change of the gap (a join, a leave), and not the members this device already has.
#[tokio::test]
async fn gappy_syncs_bring_senders_and_the_gaps_membership_changes() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let bob = server.client().register("bob", "pw-bob-1").await;
    let charlie = server.client().register("charlie", "pw-charlie-1").await;
    let dave = server.client().register("dave", "pw-dave-1").await;
    let room = alice.create_room(json!({"preset": "public_chat"})).await;
    bob.join(&room).await;
    charlie.join(&room).await;
    fill(&bob, &room, 10).await;
    let filter = filter(false);
    let (first, since) = members(&alice, &room, &filter, None).await;
    assert_eq!(
        first,
        json!({alice.user_id.clone(): "join", bob.user_id.clone(): "join"})
    );

    dave.join(&room).await;
    fill(&charlie, &room, 12).await;
    let (second, since) = members(&alice, &room, &filter, Some(&since)).await;
    assert_eq!(
        second,
        json!({charlie.user_id.clone(): "join", dave.user_id.clone(): "join"})
    );

    let (status, _) = dave
        .client
        .post(
            &format!("/_matrix/client/v3/rooms/{}/leave", enc(&room)),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    fill(&charlie, &room, 12).await;
    // Charlie's member event was sent last time: only Dave's leave is new.
    let (third, _) = members(&alice, &room, &filter, Some(&since)).await;
    assert_eq!(third, json!({dave.user_id.clone(): "leave"}));
}

/// Members already sent are left out of later incremental syncs by default, and sent
/// again with `include_redundant_members` (the user's own only in a whole answer).
#[tokio::test]
async fn redundant_members_only_when_asked() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let bob = server.client().register("bob", "pw-bob-1").await;
    let room = alice.create_room(json!({"preset": "public_chat"})).await;
    bob.join(&room).await;
    // The joins themselves lie before the timeline window.
    fill(&bob, &room, 10).await;
    for redundant in [false, true] {
        let filter = filter(redundant);
        let (first, since) = members(&alice, &room, &filter, None).await;
        assert_eq!(
            first,
            json!({alice.user_id.clone(): "join", bob.user_id.clone(): "join"})
        );
        bob.send_text(&room, "again").await;
        let (again, _) = members(&alice, &room, &filter, Some(&since)).await;
        let expected = if redundant {
            json!({bob.user_id.clone(): "join"})
        } else {
            json!({})
        };
        assert_eq!(again, expected, "include_redundant_members: {redundant}");
    }
}

/// A member who never spoke in what the device was sent is sent once they speak.
#[tokio::test]
async fn old_members_come_when_they_speak() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let bob = server.client().register("bob", "pw-bob-1").await;
    let charlie = server.client().register("charlie", "pw-charlie-1").await;
    let room = alice.create_room(json!({"preset": "public_chat"})).await;
    bob.join(&room).await;
    charlie.join(&room).await;
    fill(&bob, &room, 10).await;
    let filter = filter(false);
    let (_, since) = members(&alice, &room, &filter, None).await;
    fill(&bob, &room, 10).await;
    fill(&charlie, &room, 10).await;
    let (members, _) = members(&alice, &room, &filter, Some(&since)).await;
    assert_eq!(members, json!({charlie.user_id.clone(): "join"}));
}

/// `/context` with `lazy_load_members` returns only the senders' member events.
#[tokio::test]
async fn context_lazy_loads_members() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let room = alice.create_room(json!({"preset": "public_chat"})).await;
    for name in ["bob", "charlie"] {
        let user = server.client().register(name, "pw-other-1").await;
        user.join(&room).await;
    }
    alice.send_text(&room, "one").await;
    alice.send_text(&room, "two").await;
    let event = alice.send_text(&room, "three").await;
    let path = format!(
        "/_matrix/client/v3/rooms/{}/context/{}?limit=2&filter={}",
        enc(&room),
        enc(&event),
        enc(r#"{"lazy_load_members":true}"#)
    );
    let (status, body) = alice.client.get(&path).await;
    assert_eq!(status, 200, "{body}");
    let members: Vec<&str> = body["state"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "m.room.member")
        .map(|e| e["state_key"].as_str().unwrap())
        .collect();
    assert_eq!(members, [alice.user_id.as_str()]);
    // Without the filter, every member.
    let path = format!(
        "/_matrix/client/v3/rooms/{}/context/{}?limit=2",
        enc(&room),
        enc(&event)
    );
    let (_, body) = alice.client.get(&path).await;
    let count = body["state"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "m.room.member")
        .count();
    assert_eq!(count, 3);
}
