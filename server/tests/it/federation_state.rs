//! Three servers, one room: concurrent conflicting state is resolved identically
//! everywhere (state resolution v2).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::*;
use crate::federation::{TestCa, federating_server};
use crate::federation_rooms::{eventually, join_via, name_of, wait_for_text};

async fn power_levels(user: &User, room: &str) -> Value {
    let (status, body) = user
        .client
        .get(&format!(
            "/_matrix/client/v3/rooms/{}/state/m.room.power_levels",
            enc(room)
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn has_event(user: &User, room: &str, event_id: &str) -> bool {
    user.client
        .get(&format!(
            "/_matrix/client/v3/rooms/{}/event/{}",
            enc(room),
            enc(event_id)
        ))
        .await
        .0
        == 200
}

async fn joined_count(user: &User, room: &str) -> usize {
    let (_, body) = user
        .client
        .get(&format!(
            "/_matrix/client/v3/rooms/{}/joined_members",
            enc(room)
        ))
        .await;
    body["joined"].as_object().map_or(0, |j| j.len())
}

#[tokio::test]
async fn a_concurrent_power_level_conflict_resolves_identically_on_three_servers() {
    let ca = TestCa::new();
    let a = federating_server(&ca, "a");
    let b = federating_server(&ca, "b");
    let c = federating_server(&ca, "c");
    let alice = a.client().register("alice", "pw-alice-1").await;
    let bob = b.client().register("bob", "pw-bob-1").await;
    let carol = c.client().register("carol", "pw-carol-1").await;
    let users =
        json!({alice.user_id.clone(): 100, bob.user_id.clone(): 100, carol.user_id.clone(): 50});
    let room = alice
        .create_room(json!({
            "room_version": "10",
            "preset": "public_chat",
            "power_level_content_override": {"users": users},
        }))
        .await;
    for user in [&bob, &carol] {
        let (status, body) = join_via(user, &room, &name_of(&a)).await;
        assert_eq!(status, 200, "{body}");
    }
    for user in [&alice, &bob, &carol] {
        eventually(&format!("all joins on {}", user.user_id), || async {
            joined_count(user, &room).await == 3
        })
        .await;
    }

    // At the same moment, each on their own server, Bob (100) demotes Carol while Carol
    // (50) raises the level needed to speak: both valid, but they conflict.
    let path = format!(
        "/_matrix/client/v3/rooms/{}/state/m.room.power_levels/",
        enc(&room)
    );
    let mut demoted = users.clone();
    demoted[&carol.user_id] = json!(0);
    let bobs = json!({"users": demoted});
    let carols = json!({"users": users, "events_default": 50});
    let (by_bob, by_carol) = tokio::join!(
        bob.client.put(&path, bobs.clone()),
        carol.client.put(&path, carols.clone()),
    );
    // Both are normally accepted (neither server has seen the other's yet); should one
    // server have been quicker, the other's demotion is refused locally instead.
    let ids: Vec<String> = [&by_bob, &by_carol]
        .iter()
        .filter(|r| r.0 == 200)
        .map(|r| r.1["event_id"].as_str().unwrap().to_owned())
        .collect();
    assert!(!ids.is_empty(), "{by_bob:?} {by_carol:?}");

    // Once every server holds both, all three agree on the outcome.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut everywhere = true;
        for user in [&alice, &bob, &carol] {
            for id in &ids {
                everywhere &= has_event(user, &room, id).await;
            }
        }
        let levels = [
            power_levels(&alice, &room).await,
            power_levels(&bob, &room).await,
            power_levels(&carol, &room).await,
        ];
        if everywhere && levels[0] == levels[1] && levels[1] == levels[2] {
            let users_now = &levels[0]["users"];
            let bob_won = users_now[&carol.user_id] == 0;
            let carol_won = levels[0]["events_default"] == 50;
            assert!(
                bob_won != carol_won,
                "exactly one change wins: {}",
                levels[0]
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "servers disagree: {levels:?} (all events everywhere: {everywhere})"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The room goes on: a message from each server reaches the others.
    for (sender, text) in [(&alice, "from a"), (&bob, "from b")] {
        sender.send_text(&room, text).await;
    }
    for user in [&alice, &bob, &carol] {
        for text in ["from a", "from b"] {
            wait_for_text(user, &room, text).await;
        }
    }
}

#[tokio::test]
async fn server_acls_and_deny_lists_keep_servers_out() {
    let ca = TestCa::new();
    let c = federating_server(&ca, "c");
    let denied = name_of(&c);
    let a = crate::federation::federating_server_with(&ca, "a", None, move |config| {
        config.federation.denied_servers = vec![denied];
    });
    let b = federating_server(&ca, "b");
    let alice = a.client().register("alice", "pw-alice-1").await;
    let bob = b.client().register("bob", "pw-bob-1").await;
    let carol = c.client().register("carol", "pw-carol-1").await;
    let room = alice.create_room(json!({"preset": "public_chat"})).await;

    // A refuses to federate with C at all.
    let (status, body) = join_via(&carol, &room, &name_of(&a)).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["errcode"], "M_FORBIDDEN");

    // B joins, then the room's ACL shuts B out: A no longer accepts B's events.
    let (status, body) = join_via(&bob, &room, &name_of(&a)).await;
    assert_eq!(status, 200, "{body}");
    bob.send_text(&room, "before the acl").await;
    wait_for_text(&alice, &room, "before the acl").await;
    let (status, body) = alice
        .client
        .put(
            &format!(
                "/_matrix/client/v3/rooms/{}/state/m.room.server_acl/",
                enc(&room)
            ),
            // ACLs match hosts without ports, and every test server is 127.0.0.1: the ACL
            // shuts out every other server, B included.
            json!({"allow": ["*"], "deny": ["127.0.0.1"], "allow_ip_literals": true}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    crate::federation_rooms::wait_for_event(&bob, &room, |e| e["type"] == "m.room.server_acl")
        .await;
    bob.send_text(&room, "after the acl").await;
    alice.send_text(&room, "still talking").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, messages) = alice
        .client
        .get(&format!(
            "/_matrix/client/v3/rooms/{}/messages?dir=b&limit=50",
            enc(&room)
        ))
        .await;
    let bodies: Vec<&str> = messages["chunk"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["content"]["body"].as_str())
        .collect();
    assert!(bodies.contains(&"still talking"));
    assert!(!bodies.contains(&"after the acl"), "{bodies:?}");
}
