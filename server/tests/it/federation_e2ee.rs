//! End-to-end encryption between users on different servers (vodozemac clients): keys
//! queried and claimed across servers, an Olm to-device key share carried as an EDU, a
//! megolm message decrypted on the other server, and device-list changes announced.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vodozemac::Curve25519PublicKey;
use vodozemac::megolm::{
    GroupSession, InboundGroupSession, MegolmMessage, SessionConfig as MegolmConfig, SessionKey,
};
use vodozemac::olm::{OlmMessage, SessionConfig};

use crate::common::*;
use crate::e2ee::Device;
use crate::federation::{TestCa, federating_server};
use crate::federation_rooms::{join_via, name_of, wait_for_event};

const OLM: &str = "m.olm.v1.curve25519-aes-sha2";
const MEGOLM: &str = "m.megolm.v1.aes-sha2";

#[tokio::test]
async fn users_on_two_servers_exchange_encrypted_messages() {
    let ca = TestCa::new();
    let a = federating_server(&ca, "a");
    let b = federating_server(&ca, "b");
    let alice_user = a.client().register("alice", "pw-alice-1").await;
    let bob_user = b.client().register("bob", "pw-bob-1").await;
    let mut alice = Device::new(&a, &alice_user, false).await;
    let mut bob = Device::new(&b, &bob_user, false).await;
    alice.upload(3).await;
    bob.upload(3).await;

    let room = alice_user
        .create_room(json!({"preset": "public_chat", "initial_state": [
            {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": MEGOLM}}
        ]}))
        .await;
    let (status, body) = join_via(&bob_user, &room, &name_of(&a)).await;
    assert_eq!(status, 200, "{body}");
    let bob_since = bob_user.sync(None, 0).await["next_batch"]
        .as_str()
        .unwrap()
        .to_owned();

    // Alice reads Bob's device keys from B, through A.
    let (status, query) = alice_user
        .client
        .post(
            "/_matrix/client/v3/keys/query",
            json!({"device_keys": {bob_user.user_id.clone(): []}}),
        )
        .await;
    assert_eq!(status, 200, "{query}");
    let bob_keys = &query["device_keys"][&bob_user.user_id][&bob_user.device_id];
    assert_eq!(
        bob_keys,
        &bob.device_keys(),
        "byte for byte as uploaded: {query}"
    );

    // And claims one of his one-time keys; the same key is never handed out twice.
    let claim = json!({"one_time_keys": {bob_user.user_id.clone(): {bob_user.device_id.clone(): "signed_curve25519"}}});
    let (status, claimed) = alice_user
        .client
        .post("/_matrix/client/v3/keys/claim", claim.clone())
        .await;
    assert_eq!(status, 200, "{claimed}");
    let otk = claimed["one_time_keys"][&bob_user.user_id][&bob_user.device_id]
        .as_object()
        .unwrap_or_else(|| panic!("no key claimed: {claimed}"))
        .clone();
    let (_, again) = alice_user
        .client
        .post("/_matrix/client/v3/keys/claim", claim)
        .await;
    assert_ne!(
        again["one_time_keys"][&bob_user.user_id][&bob_user.device_id],
        Value::Object(otk.clone())
    );

    // An Olm session carries the megolm room key as a to-device message across servers.
    let bob_curve = Curve25519PublicKey::from_base64(
        bob_keys["keys"][format!("curve25519:{}", bob_user.device_id)]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let otk_key =
        Curve25519PublicKey::from_base64(otk.values().next().unwrap()["key"].as_str().unwrap())
            .unwrap();
    let mut session = alice
        .account
        .create_outbound_session(SessionConfig::version_1(), bob_curve, otk_key)
        .unwrap();
    let mut group = GroupSession::new(MegolmConfig::version_1());
    let alice_keys = alice.account.identity_keys();
    let room_key = json!({
        "type": "m.room_key",
        "content": {"algorithm": MEGOLM, "room_id": room, "session_id": group.session_id(), "session_key": group.session_key().to_base64()},
        "sender": alice_user.user_id, "sender_device": alice_user.device_id,
        "recipient": bob_user.user_id,
        "keys": {"ed25519": alice_keys.ed25519.to_base64()},
    });
    let (message_type, olm_body) = session.encrypt(room_key.to_string()).unwrap().to_parts();
    let to_device = json!({"messages": {bob_user.user_id.clone(): {bob_user.device_id.clone(): {
        "algorithm": OLM, "sender_key": alice_keys.curve25519.to_base64(),
        "ciphertext": { bob_curve.to_base64(): {"type": message_type, "body": vodozemac::base64_encode(olm_body)} },
    }}}});
    let (status, _) = alice_user
        .client
        .put(
            "/_matrix/client/v3/sendToDevice/m.room.encrypted/fed1",
            to_device,
        )
        .await;
    assert_eq!(status, 200);

    let secret = "Meet at the second bridge";
    let plaintext = json!({"type": "m.room.message", "content": {"msgtype": "m.text", "body": secret}, "room_id": room});
    let content = json!({"algorithm": MEGOLM, "sender_key": alice_keys.curve25519.to_base64(),
        "ciphertext": group.encrypt(plaintext.to_string()).to_base64(),
        "session_id": group.session_id(), "device_id": alice_user.device_id});
    let (status, sent) = alice_user
        .client
        .put(
            &format!(
                "/_matrix/client/v3/rooms/{}/send/m.room.encrypted/e1",
                enc(&room)
            ),
            content,
        )
        .await;
    assert_eq!(status, 200, "{sent}");

    // Bob's device on B gets the key share, then decrypts the message.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut since = bob_since;
    let to_device_event = loop {
        let body = bob_user.sync(Some(&since), 1000).await;
        if let Some(event) = body["to_device"]["events"].as_array().unwrap().first() {
            break event.clone();
        }
        since = body["next_batch"].as_str().unwrap().to_owned();
        assert!(Instant::now() < deadline, "the key share never arrived");
    };
    assert_eq!(to_device_event["sender"], alice_user.user_id.as_str());
    let olm = &to_device_event["content"]["ciphertext"][bob_curve.to_base64()];
    let OlmMessage::PreKey(prekey) = OlmMessage::from_parts(
        olm["type"].as_u64().unwrap() as usize,
        &vodozemac::base64_decode(olm["body"].as_str().unwrap()).unwrap(),
    )
    .unwrap() else {
        panic!("expected a pre-key message")
    };
    let inbound = bob
        .account
        .create_inbound_session(SessionConfig::version_1(), alice_keys.curve25519, &prekey)
        .unwrap();
    let shared: Value = serde_json::from_slice(&inbound.plaintext).unwrap();
    let session_key =
        SessionKey::from_base64(shared["content"]["session_key"].as_str().unwrap()).unwrap();
    let mut inbound_group = InboundGroupSession::new(&session_key, MegolmConfig::version_1());
    let encrypted = wait_for_event(&bob_user, &room, |e| e["type"] == "m.room.encrypted").await;
    let megolm =
        MegolmMessage::from_base64(encrypted["content"]["ciphertext"].as_str().unwrap()).unwrap();
    let decrypted: Value =
        serde_json::from_slice(&inbound_group.decrypt(&megolm).unwrap().plaintext).unwrap();
    assert_eq!(decrypted["content"]["body"], secret);

    // Bob signs in on a new device: Alice, on A, is told his device list changed.
    let alice_since = alice_user.sync(None, 0).await["next_batch"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut bob2 = Device::new(&b, &bob_user, true).await;
    bob2.upload(1).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut since = alice_since;
    loop {
        let body = alice_user.sync(Some(&since), 1000).await;
        let changed = body["device_lists"]["changed"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if changed.iter().any(|u| u == bob_user.user_id.as_str()) {
            break;
        }
        since = body["next_batch"].as_str().unwrap().to_owned();
        assert!(
            Instant::now() < deadline,
            "Bob's device change never reached A"
        );
    }
    let (_, query) = alice_user
        .client
        .post(
            "/_matrix/client/v3/keys/query",
            json!({"device_keys": {bob_user.user_id.clone(): []}}),
        )
        .await;
    assert_eq!(
        query["device_keys"][&bob_user.user_id]
            .as_object()
            .unwrap()
            .len(),
        2,
        "{query}"
    );
}
