//! Room aliases and the published room directory across servers.

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
