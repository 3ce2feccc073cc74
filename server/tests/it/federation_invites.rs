//! Declining invites to rooms on another server: through the inviting server when it
//! answers, locally when it cannot (as Synapse), and either way the room moves to
//! `rooms.leave` in the invitee's `/sync`. Also declining an invite to a local room
//! everyone has left.

use serde_json::{Value, json};

use crate::common::*;
use crate::federation::{TestCa, federating_server};
use crate::federation_rooms::eventually;

async fn invited_on_b(alice: &User, bob: &User) -> (String, String) {
    let room_id = alice
        .create_room(json!({"preset": "private_chat", "invite": [bob.user_id]}))
        .await;
    eventually("Bob seeing the invite", || async {
        !bob.sync(None, 0).await["rooms"]["invite"][&room_id].is_null()
    })
    .await;
    let since = bob.sync(None, 0).await["next_batch"]
        .as_str()
        .unwrap()
        .to_owned();
    (room_id, since)
}

async fn decline(user: &User, room_id: &str) -> (reqwest::StatusCode, Value) {
    user.client
        .post(
            &format!("/_matrix/client/v3/rooms/{}/leave", enc(room_id)),
            json!({}),
        )
        .await
}

/// The leave in `rooms.leave` of the user's `/sync` since `since`.
async fn assert_left_in_sync(user: &User, room_id: &str, since: &str) {
    let sync = user.sync(Some(since), 0).await;
    assert!(sync["rooms"]["invite"][room_id].is_null(), "{sync}");
    let events = sync["rooms"]["leave"][room_id]["timeline"]["events"]
        .as_array()
        .unwrap_or_else(|| panic!("no leave section for the room: {sync}"))
        .clone();
    assert!(
        events.iter().any(|e| e["type"] == "m.room.member"
            && e["state_key"] == user.user_id.as_str()
            && e["content"]["membership"] == "leave"),
        "{events:?}"
    );
}

#[tokio::test]
async fn a_declined_remote_invite_reaches_the_inviter_and_leaves_the_sync() {
    let ca = TestCa::new();
    let a = federating_server(&ca, "a");
    let b = federating_server(&ca, "b");
    let alice = a.client().register("alice", "pw-alice-1").await;
    let bob = b.client().register("bob", "pw-bob-1").await;
    let (room_id, since) = invited_on_b(&alice, &bob).await;

    let (status, body) = decline(&bob, &room_id).await;
    assert_eq!(status, 200, "{body}");
    assert_left_in_sync(&bob, &room_id, &since).await;
    let path = format!(
        "/_matrix/client/v3/rooms/{}/state/m.room.member/{}",
        enc(&room_id),
        enc(&bob.user_id)
    );
    let (status, member) = alice.client.get(&path).await;
    assert_eq!(status, 200);
    assert_eq!(member["membership"], "leave");
}

#[tokio::test]
async fn an_invite_from_an_unreachable_server_is_declined_locally() {
    let ca = TestCa::new();
    let a = federating_server(&ca, "a");
    let b = federating_server(&ca, "b");
    let alice = a.client().register("alice", "pw-alice-1").await;
    let bob = b.client().register("bob", "pw-bob-1").await;
    let (room_id, since) = invited_on_b(&alice, &bob).await;
    a.stop();

    let (status, body) = decline(&bob, &room_id).await;
    assert_eq!(status, 200, "{body}");
    assert_left_in_sync(&bob, &room_id, &since).await;
    // Declined is declined: a second leave is harmless, and the room is gone from the
    // invites of a fresh sync.
    let (status, body) = decline(&bob, &room_id).await;
    assert_eq!(status, 200, "{body}");
    let sync = bob.sync(None, 0).await;
    assert!(sync["rooms"]["invite"][&room_id].is_null(), "{sync}");
}

#[tokio::test]
async fn an_invite_to_a_room_everyone_left_can_be_declined() {
    let server = TestServer::spawn();
    let client = server.client();
    let alice = client.register("alice", "pw-alice-1").await;
    let bob = client.register("bob", "pw-bob-1").await;
    let room_id = alice
        .create_room(json!({"preset": "private_chat", "invite": [bob.user_id]}))
        .await;
    let since = bob.sync(None, 0).await["next_batch"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = decline(&alice, &room_id).await;
    assert_eq!(status, 200);
    let (status, body) = decline(&bob, &room_id).await;
    assert_eq!(status, 200, "{body}");
    assert_left_in_sync(&bob, &room_id, &since).await;
}
