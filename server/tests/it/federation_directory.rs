//! Finding and entering rooms on other servers: aliases, the published room directory,
//! and knocking.

use serde_json::json;

use crate::common::*;
use crate::federation::{TestCa, federating_server};
use crate::federation_rooms::{name_of, wait_for_text};

#[tokio::test]
async fn remote_aliases_resolve_and_directories_are_browsed_across_servers() {
    let ca = TestCa::new();
    let a = federating_server(&ca, "a");
    let b = federating_server(&ca, "b");
    let alice = a.client().register("alice", "pw-alice-1").await;
    let bob = b.client().register("bob", "pw-bob-1").await;
    let room_id = alice
        .create_room(json!({
            "preset": "public_chat", "visibility": "public",
            "room_alias_name": "lobby", "name": "The Lobby", "topic": "all welcome",
        }))
        .await;
    let alias = format!("#lobby:{}", name_of(&a));

    let (status, found) = bob
        .client
        .get(&format!(
            "/_matrix/client/v3/directory/room/{}",
            enc(&alias)
        ))
        .await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["room_id"], room_id.as_str());
    assert_eq!(found["servers"], json!([name_of(&a)]));
    let missing = bob
        .client
        .get(&format!(
            "/_matrix/client/v3/directory/room/{}",
            enc(&format!("#nowhere:{}", name_of(&a)))
        ))
        .await;
    assert_error(&missing, 404, "M_NOT_FOUND");

    // B's user browses A's directory.
    let (status, listing) = bob
        .client
        .get(&format!(
            "/_matrix/client/v3/publicRooms?server={}",
            enc(&name_of(&a))
        ))
        .await;
    assert_eq!(status, 200, "{listing}");
    let entry = &listing["chunk"][0];
    assert_eq!(entry["room_id"], room_id.as_str());
    assert_eq!(entry["name"], "The Lobby");
    assert_eq!(entry["canonical_alias"], alias.as_str());
    let (status, filtered) = bob
        .client
        .post(
            &format!(
                "/_matrix/client/v3/publicRooms?server={}",
                enc(&name_of(&a))
            ),
            json!({"filter": {"generic_search_term": "nothing like it"}}),
        )
        .await;
    assert_eq!(status, 200, "{filtered}");
    assert_eq!(filtered["chunk"], json!([]));

    // And joins by the alias alone.
    let (status, joined) = bob
        .client
        .post(
            &format!("/_matrix/client/v3/join/{}", enc(&alias)),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{joined}");
    assert_eq!(joined["room_id"], room_id.as_str());
    alice.send_text(&room_id, "welcome to the lobby").await;
    wait_for_text(&bob, &room_id, "welcome to the lobby").await;
}

#[tokio::test]
async fn knocking_on_a_room_of_another_server() {
    let ca = TestCa::new();
    let a = federating_server(&ca, "a");
    let b = federating_server(&ca, "b");
    let alice = a.client().register("alice", "pw-alice-1").await;
    let bob = b.client().register("bob", "pw-bob-1").await;
    let room_id = alice
        .create_room(json!({"name": "Knock first", "initial_state": [
            {"type": "m.room.join_rules", "state_key": "", "content": {"join_rule": "knock"}}
        ]}))
        .await;

    let (status, body) = bob
        .client
        .post(
            &format!(
                "/_matrix/client/v3/knock/{}?via={}",
                enc(&room_id),
                enc(&name_of(&a))
            ),
            json!({"reason": "let me in"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, member) = alice
        .client
        .get(&format!(
            "/_matrix/client/v3/rooms/{}/state/m.room.member/{}",
            enc(&room_id),
            enc(&bob.user_id)
        ))
        .await;
    assert_eq!(status, 200, "{member}");
    assert_eq!(member["membership"], "knock");
    assert_eq!(member["reason"], "let me in");
    let sync = bob.sync(None, 0).await;
    let knock_state = &sync["rooms"]["knock"][&room_id]["knock_state"]["events"];
    assert!(
        knock_state
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "m.room.name" && e["content"]["name"] == "Knock first"),
        "{sync}"
    );

    // Let in: Alice invites, Bob joins.
    let (status, body) = alice
        .client
        .post(
            &format!("/_matrix/client/v3/rooms/{}/invite", enc(&room_id)),
            json!({"user_id": bob.user_id}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = bob.join(&room_id).await;
    assert_eq!(status, 200, "{body}");
    alice.send_text(&room_id, "you are in").await;
    wait_for_text(&bob, &room_id, "you are in").await;
}
