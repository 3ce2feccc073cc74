//! matrix-rust-sdk, the library inside Element X, against Citadel through sliding sync
//! only: its `SyncService` (the room-list connection and the encryption connection) and
//! `RoomListService`, with no `/sync` v3 at all.

use std::time::{Duration, Instant};

use matrix_sdk::ruma::events::InitialStateEvent;
use matrix_sdk::ruma::events::room::encryption::RoomEncryptionEventContent;
use matrix_sdk::ruma::events::room::message::{
    OriginalSyncRoomMessageEvent, RoomMessageEventContent,
};
use matrix_sdk::ruma::{OwnedRoomId, RoomId};
use matrix_sdk::sliding_sync::VersionBuilder;
use matrix_sdk::{Client, RoomState};
use matrix_sdk_ui::sync_service::SyncService;
use serde_json::json;
use tokio::sync::mpsc;

use crate::common::*;

/// A logged-in SDK client whose sync service is running; its decrypted (or plain)
/// messages arrive on the channel as `(room, body)`.
struct SdkUser {
    client: Client,
    sync: SyncService,
    messages: mpsc::UnboundedReceiver<(OwnedRoomId, String)>,
}

async fn sdk_login(server: &TestServer, user: &User) -> SdkUser {
    let client = Client::builder()
        .homeserver_url(&server.base)
        .sliding_sync_version_builder(VersionBuilder::DiscoverNative)
        .build()
        .await
        .expect("client");
    let localpart = user.user_id[1..].split(':').next().unwrap();
    client
        .matrix_auth()
        .login_username(localpart, &user.password)
        .initial_device_display_name("rust-sdk")
        .send()
        .await
        .expect("login");
    let (tx, messages) = mpsc::unbounded_channel();
    client.add_event_handler(
        move |event: OriginalSyncRoomMessageEvent, room: matrix_sdk::Room| {
            let tx = tx.clone();
            async move {
                let _ = tx.send((room.room_id().to_owned(), event.content.body().to_owned()));
            }
        },
    );
    let sync = SyncService::builder(client.clone())
        .build()
        .await
        .expect("sync service");
    sync.start().await;
    SdkUser {
        client,
        sync,
        messages,
    }
}

impl SdkUser {
    /// Waits for a message with this body in this room.
    async fn receive(&mut self, room: &RoomId, body: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.messages.recv()).await {
                Ok(Some((r, b))) if r == room && b == body => return,
                Ok(Some(_)) => continue,
                _ => panic!("{body:?} never arrived in {room}"),
            }
        }
    }
}

/// Polls until `check` holds, for up to 30 s.
async fn until<F: FnMut() -> bool>(what: &str, mut check: F) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(Instant::now() < deadline, "{what}: timed out");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn element_x_s_sdk_syncs_rooms_messages_invites_and_encryption_over_sliding_sync() {
    let server =
        TestServer::spawn_with(|c| c.e2ee.enforce = citadel::config::EncryptionEnforcement::Off);
    let http = server.client();
    let alice = http.register("alice", "pw-alice-1").await;
    let bob = http.register("bob", "pw-bob-1").await;
    let alpha = alice
        .create_room(json!({"preset": "public_chat", "name": "Alpha"}))
        .await;
    let beta = alice.create_room(json!({"name": "Beta"})).await;

    // The room list loads, with names.
    let mut alice_sdk = sdk_login(&server, &alice).await;
    let a = alice_sdk.client.clone();
    let room_list = alice_sdk.sync.room_list_service();
    let all_rooms = room_list.all_rooms().await.expect("all_rooms list");
    let _ = all_rooms;
    for (room, name) in [(&alpha, "Alpha"), (&beta, "Beta")] {
        let id = RoomId::parse(room).unwrap();
        until(&format!("{name} in the room list"), || {
            a.get_room(&id)
                .is_some_and(|r| r.name().as_deref() == Some(name))
        })
        .await;
        assert_eq!(a.get_room(&id).unwrap().state(), RoomState::Joined);
    }

    // A new room appears.
    let gamma = alice.create_room(json!({"name": "Gamma"})).await;
    let gamma_id = RoomId::parse(&gamma).unwrap();
    until("the new room appears", || {
        a.get_room(&gamma_id)
            .is_some_and(|r| r.name().as_deref() == Some("Gamma"))
    })
    .await;

    // Messages arrive live.
    assert_eq!(bob.join(&alpha).await.0, 200);
    bob.send_text(&alpha, "live from bob").await;
    alice_sdk
        .receive(&RoomId::parse(&alpha).unwrap(), "live from bob")
        .await;

    // An invite shows and can be accepted.
    let invite_room = bob
        .create_room(json!({"name": "Bob's", "invite": [alice.user_id]}))
        .await;
    let invite_id = RoomId::parse(&invite_room).unwrap();
    until("the invite shows", || {
        a.get_room(&invite_id)
            .is_some_and(|r| r.state() == RoomState::Invited)
    })
    .await;
    a.get_room(&invite_id)
        .unwrap()
        .join()
        .await
        .expect("accept the invite");
    until("the invite is accepted", || {
        a.get_room(&invite_id)
            .is_some_and(|r| r.state() == RoomState::Joined)
    })
    .await;

    // An encrypted message from another SDK client is decrypted.
    let mut bob_sdk = sdk_login(&server, &bob).await;
    let b = bob_sdk.client.clone();
    let mut request = matrix_sdk::ruma::api::client::room::create_room::v3::Request::new();
    request.name = Some("Secret".into());
    request.invite = vec![a.user_id().unwrap().to_owned()];
    request.initial_state = vec![
        InitialStateEvent::with_empty_state_key(
            RoomEncryptionEventContent::with_recommended_defaults(),
        )
        .to_raw_any(),
    ];
    let secret_room = b
        .create_room(request)
        .await
        .expect("create the encrypted room");
    let secret_id = secret_room.room_id().to_owned();
    until("alice sees the encrypted room's invite", || {
        a.get_room(&secret_id)
            .is_some_and(|r| r.state() == RoomState::Invited)
    })
    .await;
    a.get_room(&secret_id)
        .unwrap()
        .join()
        .await
        .expect("join the encrypted room");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let members = secret_room.joined_user_ids().await.unwrap_or_default();
        if members.len() == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "bob's client never saw alice join"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    secret_room
        .send(RoomMessageEventContent::text_plain(
            "the eagle lands at noon",
        ))
        .await
        .expect("send encrypted");
    alice_sdk
        .receive(&secret_id, "the eagle lands at noon")
        .await;
    // It was encrypted on the wire: the server holds only ciphertext.
    let (status, messages) = alice
        .client
        .get(&format!(
            "/_matrix/client/v3/rooms/{}/messages?dir=b&limit=5",
            enc(secret_id.as_str())
        ))
        .await;
    assert_eq!(status, 200);
    assert!(
        messages["chunk"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "m.room.encrypted"),
        "{messages}"
    );
    // And back: alice's client answers, bob's decrypts.
    a.get_room(&secret_id)
        .unwrap()
        .send(RoomMessageEventContent::text_plain("copy that"))
        .await
        .expect("alice sends encrypted");
    bob_sdk.receive(&secret_id, "copy that").await;

    alice_sdk.sync.stop().await;
    bob_sdk.sync.stop().await;
}
