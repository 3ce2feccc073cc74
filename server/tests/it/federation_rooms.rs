//! Rooms shared between servers: joining over federation, events both ways.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::*;
use crate::federation::{TestCa, federating_server};

/// The server name of a federating test server.
pub fn name_of(server: &TestServer) -> String {
    server.addrs[1].to_string()
}

/// Polls the room's newest events until one satisfies `matches`, for up to 15 s.
pub async fn wait_for_event(user: &User, room_id: &str, matches: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, body) = user
            .client
            .get(&format!(
                "/_matrix/client/v3/rooms/{}/messages?dir=b&limit=50",
                enc(room_id)
            ))
            .await;
        if status == 200
            && let Some(found) = body["chunk"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| matches(e))
        {
            return found.clone();
        }
        assert!(
            Instant::now() < deadline,
            "event never arrived for {}: {body}",
            user.user_id
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls `check` every 100 ms until it holds, for up to 15 s.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(15);
    while !check().await {
        assert!(Instant::now() < deadline, "{what} never happened");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn wait_for_text(user: &User, room_id: &str, text: &str) -> Value {
    wait_for_event(user, room_id, |e| e["content"]["body"] == text).await
}

/// `POST /join/{roomId}?via=…`
pub async fn join_via(user: &User, room_id: &str, via: &str) -> (reqwest::StatusCode, Value) {
    user.client
        .post(
            &format!("/_matrix/client/v3/join/{}?via={}", enc(room_id), enc(via)),
            json!({}),
        )
        .await
}

async fn joined_members(user: &User, room_id: &str) -> Vec<String> {
    let (status, body) = user
        .client
        .get(&format!(
            "/_matrix/client/v3/rooms/{}/joined_members",
            enc(room_id)
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    let mut members: Vec<String> = body["joined"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    members.sort();
    members
}

#[tokio::test]
async fn a_remote_user_joins_and_messages_flow_both_ways() {
    let ca = TestCa::new();
    let a = federating_server(&ca, "a");
    let b = federating_server(&ca, "b");
    let alice = a.client().register("alice", "pw-alice-1").await;
    let bob = b.client().register("bob", "pw-bob-1").await;
    let room_id = alice
        .create_room(json!({"preset": "public_chat", "name": "Across"}))
        .await;

    let (status, body) = join_via(&bob, &room_id, &name_of(&a)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["room_id"], room_id.as_str());

    // B holds the room's state from the join.
    let (status, name) = bob
        .client
        .get(&format!(
            "/_matrix/client/v3/rooms/{}/state/m.room.name",
            enc(&room_id)
        ))
        .await;
    assert_eq!(status, 200, "{name}");
    assert_eq!(name["name"], "Across");
    let mut both = vec![alice.user_id.clone(), bob.user_id.clone()];
    both.sort();
    assert_eq!(joined_members(&bob, &room_id).await, both);
    // A has applied the join it was handed.
    assert_eq!(joined_members(&alice, &room_id).await, both);

    let hello = alice.send_text(&room_id, "hello bob").await;
    let seen = wait_for_text(&bob, &room_id, "hello bob").await;
    assert_eq!(seen["sender"], alice.user_id.as_str());

    // A redaction on A strips the content on B too.
    let (status, _) = alice
        .client
        .put(
            &format!(
                "/_matrix/client/v3/rooms/{}/redact/{}/r1",
                enc(&room_id),
                enc(&hello)
            ),
            json!({"reason": "oops"}),
        )
        .await;
    assert_eq!(status, 200);
    let path = format!(
        "/_matrix/client/v3/rooms/{}/event/{}",
        enc(&room_id),
        enc(&hello)
    );
    eventually("the redaction on B", || async {
        bob.client.get(&path).await.1["content"] == json!({})
    })
    .await;
    bob.send_text(&room_id, "hello alice").await;
    let seen = wait_for_text(&alice, &room_id, "hello alice").await;
    assert_eq!(seen["sender"], bob.user_id.as_str());

    // State both ways: a topic set on B reaches A.
    let (status, _) = bob
        .client
        .put(
            &format!(
                "/_matrix/client/v3/rooms/{}/state/m.room.topic/",
                enc(&room_id)
            ),
            json!({"topic": "from B"}),
        )
        .await;
    // Bob has power 0 in a public room: the topic needs 50.
    assert_eq!(status, 403);
    let (status, _) = alice
        .client
        .put(
            &format!(
                "/_matrix/client/v3/rooms/{}/state/m.room.topic/",
                enc(&room_id)
            ),
            json!({"topic": "from A"}),
        )
        .await;
    assert_eq!(status, 200);
    wait_for_event(&bob, &room_id, |e| e["content"]["topic"] == "from A").await;
    let (_, topic) = bob
        .client
        .get(&format!(
            "/_matrix/client/v3/rooms/{}/state/m.room.topic",
            enc(&room_id)
        ))
        .await;
    assert_eq!(topic["topic"], "from A");

    // Bob's /sync on B shows the room with its state and both messages.
    let sync = bob.sync(None, 0).await;
    let joined = &sync["rooms"]["join"][&room_id];
    let state_types = types(&joined["state"]["events"]);
    assert!(
        state_types.contains(&"m.room.create".to_owned()),
        "{state_types:?}"
    );
    assert!(state_types.contains(&"m.room.power_levels".to_owned()));
}

async fn membership_on(user: &User, room_id: &str, target: &str) -> Option<String> {
    let (status, body) = user
        .client
        .get(&format!(
            "/_matrix/client/v3/rooms/{}/state/m.room.member/{}",
            enc(room_id),
            enc(target)
        ))
        .await;
    (status == 200).then(|| body["membership"].as_str().unwrap().to_owned())
}

/// Polls until `user`'s server records `target`'s membership as `expected`.
async fn wait_for_membership(user: &User, room_id: &str, target: &str, expected: &str) {
    eventually(&format!("{target} becoming {expected}"), || async {
        membership_on(user, room_id, target).await.as_deref() == Some(expected)
    })
    .await;
}

#[tokio::test]
async fn invites_kicks_and_bans_cross_servers() {
    let ca = TestCa::new();
    let a = federating_server(&ca, "a");
    let b = federating_server(&ca, "b");
    let alice = a.client().register("alice", "pw-alice-1").await;
    let bob = b.client().register("bob", "pw-bob-1").await;
    let carol = b.client().register("carol", "pw-carol-1").await;
    let room_id = alice
        .create_room(
            json!({"preset": "private_chat", "name": "Invite only", "invite": [bob.user_id]}),
        )
        .await;

    // Bob's server countersigned the invite and shows it with the room's name.
    let sync = bob.sync(None, 0).await;
    let invite = &sync["rooms"]["invite"][&room_id]["invite_state"]["events"];
    let name = invite
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "m.room.name")
        .unwrap_or_else(|| panic!("no name in {invite}"));
    assert_eq!(name["content"]["name"], "Invite only");
    assert!(
        invite
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "m.room.member"
                && e["state_key"] == bob.user_id.as_str()
                && e["content"]["membership"] == "invite")
    );

    // Without an invite, Carol may not join the private room.
    let (status, body) = join_via(&carol, &room_id, &name_of(&a)).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["errcode"], "M_FORBIDDEN");

    // Bob joins through the inviting server without naming it.
    let (status, body) = bob.join(&room_id).await;
    assert_eq!(status, 200, "{body}");
    alice.send_text(&room_id, "welcome").await;
    wait_for_text(&bob, &room_id, "welcome").await;

    // Carol is invited and declines: the leave goes back through A.
    let (status, body) = alice
        .client
        .post(
            &format!("/_matrix/client/v3/rooms/{}/invite", enc(&room_id)),
            json!({"user_id": carol.user_id}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    wait_for_membership(&alice, &room_id, &carol.user_id, "invite").await;
    // B is in the room, so the invite reaches Carol through A's transaction.
    eventually("Carol seeing the invite", || async {
        !carol.sync(None, 0).await["rooms"]["invite"][&room_id].is_null()
    })
    .await;
    let (status, body) = carol
        .client
        .post(
            &format!("/_matrix/client/v3/rooms/{}/leave", enc(&room_id)),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    wait_for_membership(&alice, &room_id, &carol.user_id, "leave").await;

    // Alice kicks Bob: both servers agree he is out, and his messages are refused.
    let (status, body) = alice
        .client
        .post(
            &format!("/_matrix/client/v3/rooms/{}/kick", enc(&room_id)),
            json!({"user_id": bob.user_id, "reason": "testing"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    wait_for_membership(&bob, &room_id, &bob.user_id, "leave").await;
    let txn = format!(
        "/_matrix/client/v3/rooms/{}/send/m.room.message/k1",
        enc(&room_id)
    );
    let (status, _) = bob
        .client
        .put(&txn, json!({"msgtype": "m.text", "body": "still here?"}))
        .await;
    assert_eq!(status, 403);

    // Banned, he cannot come back even when invited again.
    let (status, body) = alice
        .client
        .post(
            &format!("/_matrix/client/v3/rooms/{}/ban", enc(&room_id)),
            json!({"user_id": bob.user_id}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = join_via(&bob, &room_id, &name_of(&a)).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        membership_on(&alice, &room_id, &bob.user_id)
            .await
            .as_deref(),
        Some("ban")
    );
}

/// Restarts a federating server on its data directory, under the same name and port.
fn restart(ca: &TestCa, name: &str, server_name: &str, dir: &std::path::Path) -> TestServer {
    let server_name = server_name.to_owned();
    crate::federation::federating_server_with(ca, name, Some(dir), move |c| {
        if let Some(tls) = c.tls.as_mut() {
            tls.bind = server_name.clone();
        }
        c.server_name = server_name;
        c.federation.max_retry_interval_secs = 1;
    })
}

#[tokio::test]
async fn queued_events_survive_a_restart_and_reach_a_server_that_was_down() {
    let ca = TestCa::new();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = crate::federation::federating_server_with(&ca, "a", Some(dir_a.path()), |c| {
        c.federation.max_retry_interval_secs = 1;
    });
    let b = crate::federation::federating_server_with(&ca, "b", Some(dir_b.path()), |_| {});
    let (name_a, name_b) = (name_of(&a), name_of(&b));
    let alice = a.client().register("alice", "pw-alice-1").await;
    let bob = b.client().register("bob", "pw-bob-1").await;
    let room_id = alice.create_room(json!({"preset": "public_chat"})).await;
    let (status, body) = join_via(&bob, &room_id, &name_a).await;
    assert_eq!(status, 200, "{body}");

    // B goes down; A queues three messages for it, then restarts itself.
    b.stop();
    for i in 1..=3 {
        alice.send_text(&room_id, &format!("queued {i}")).await;
    }
    a.stop();
    let a = restart(&ca, "a", &name_a, dir_a.path());
    let b = restart(&ca, "b", &name_b, dir_b.path());
    let alice = User {
        client: a
            .client()
            .with_token(alice.client.token.as_deref().unwrap()),
        ..alice
    };
    let bob = User {
        client: b.client().with_token(bob.client.token.as_deref().unwrap()),
        ..bob
    };

    // Everything arrives, in order, once both are back.
    wait_for_text(&bob, &room_id, "queued 3").await;
    let (_, messages) = bob
        .client
        .get(&format!(
            "/_matrix/client/v3/rooms/{}/messages?dir=f&limit=50",
            enc(&room_id)
        ))
        .await;
    let bodies: Vec<&str> = messages["chunk"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["content"]["body"].as_str())
        .collect();
    assert_eq!(bodies, ["queued 1", "queued 2", "queued 3"], "{messages}");
    // And the room still works both ways.
    bob.send_text(&room_id, "back").await;
    wait_for_text(&alice, &room_id, "back").await;
}

#[tokio::test]
async fn history_from_before_the_join_is_backfilled_from_the_other_server() {
    let ca = TestCa::new();
    let a = federating_server(&ca, "a");
    let b = federating_server(&ca, "b");
    let alice = a.client().register("alice", "pw-alice-1").await;
    let bob = b.client().register("bob", "pw-bob-1").await;
    let room_id = alice.create_room(json!({"preset": "public_chat"})).await;
    for i in 1..=30 {
        alice.send_text(&room_id, &format!("old {i}")).await;
    }
    let (status, body) = join_via(&bob, &room_id, &name_of(&a)).await;
    assert_eq!(status, 200, "{body}");

    // Bob pages back from the present on B until the room's beginning.
    let mut bodies = Vec::new();
    let mut types_seen = Vec::new();
    let mut from: Option<String> = None;
    for _ in 0..20 {
        let mut path = format!(
            "/_matrix/client/v3/rooms/{}/messages?dir=b&limit=12",
            enc(&room_id)
        );
        if let Some(from) = &from {
            path.push_str(&format!("&from={from}"));
        }
        let (status, page) = bob.client.get(&path).await;
        assert_eq!(status, 200, "{page}");
        for event in page["chunk"].as_array().unwrap() {
            types_seen.push(event["type"].as_str().unwrap().to_owned());
            if let Some(text) = event["content"]["body"].as_str() {
                bodies.push(text.to_owned());
            }
        }
        match page["end"].as_str() {
            Some(end) => from = Some(end.to_owned()),
            None => break,
        }
    }
    let expected: Vec<String> = (1..=30).rev().map(|i| format!("old {i}")).collect();
    assert_eq!(bodies, expected);
    assert_eq!(
        types_seen.last().map(String::as_str),
        Some("m.room.create"),
        "{types_seen:?}"
    );
}

/// Polls `user`'s `/sync` until an ephemeral event of the room satisfies `matches`.
async fn wait_for_ephemeral(user: &User, room_id: &str, matches: impl Fn(&Value) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let sync = user.sync(None, 0).await;
        let ephemeral = &sync["rooms"]["join"][room_id]["ephemeral"]["events"];
        if ephemeral.as_array().into_iter().flatten().any(&matches) {
            return;
        }
        assert!(Instant::now() < deadline, "never saw it: {ephemeral}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn typing_receipts_and_presence_cross_servers() {
    let ca = TestCa::new();
    let a = federating_server(&ca, "a");
    let b = federating_server(&ca, "b");
    let alice = a.client().register("alice", "pw-alice-1").await;
    let bob = b.client().register("bob", "pw-bob-1").await;
    let room_id = alice.create_room(json!({"preset": "public_chat"})).await;
    let (status, body) = join_via(&bob, &room_id, &name_of(&a)).await;
    assert_eq!(status, 200, "{body}");
    let event_id = alice.send_text(&room_id, "read me").await;
    wait_for_text(&bob, &room_id, "read me").await;

    let (status, _) = bob
        .client
        .put(
            &format!(
                "/_matrix/client/v3/rooms/{}/typing/{}",
                enc(&room_id),
                enc(&bob.user_id)
            ),
            json!({"typing": true, "timeout": 10000}),
        )
        .await;
    assert_eq!(status, 200);
    let bob_id = bob.user_id.clone();
    wait_for_ephemeral(&alice, &room_id, |e| {
        e["type"] == "m.typing" && e["content"]["user_ids"] == json!([bob_id])
    })
    .await;

    let (status, _) = bob
        .client
        .post(
            &format!(
                "/_matrix/client/v3/rooms/{}/receipt/m.read/{}",
                enc(&room_id),
                enc(&event_id)
            ),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let (bob_id, event) = (bob.user_id.clone(), event_id.clone());
    wait_for_ephemeral(&alice, &room_id, |e| {
        e["type"] == "m.receipt" && !e["content"][&event]["m.read"][&bob_id].is_null()
    })
    .await;

    // Presence too.
    let (status, _) = bob
        .client
        .put(
            &format!("/_matrix/client/v3/presence/{}/status", enc(&bob.user_id)),
            json!({"presence": "unavailable", "status_msg": "in a meeting"}),
        )
        .await;
    assert_eq!(status, 200);
    let path = format!("/_matrix/client/v3/presence/{}/status", enc(&bob.user_id));
    eventually("Bob's presence on A", || async {
        let seen = alice.client.get(&path).await.1;
        seen["status_msg"] == "in a meeting" && seen["presence"] == "unavailable"
    })
    .await;
}
