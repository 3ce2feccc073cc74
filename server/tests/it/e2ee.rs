//! End-to-end encryption with real cryptography (vodozemac on the client side): keys,
//! claims, Olm-encrypted to-device key sharing, megolm room messages decrypted by the
//! other side, and no plaintext anywhere in the database files.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use vodozemac::Curve25519PublicKey;
use vodozemac::megolm::{
    GroupSession, InboundGroupSession, MegolmMessage, SessionConfig as MegolmConfig, SessionKey,
};
use vodozemac::olm::{Account, OlmMessage, SessionConfig};

use crate::common::*;

const OLM: &str = "m.olm.v1.curve25519-aes-sha2";
const MEGOLM: &str = "m.megolm.v1.aes-sha2";

/// A logged-in device with its own Olm account.
pub(crate) struct Device {
    pub(crate) user: User,
    pub(crate) account: Account,
}

/// The canonical JSON that signatures cover (without `signatures` and `unsigned`).
pub(crate) fn canonical(value: &Value) -> String {
    let mut unsigned = value.clone();
    if let Some(o) = unsigned.as_object_mut() {
        o.remove("signatures");
        o.remove("unsigned");
    }
    ruma::canonical_json::to_canonical_value(unsigned)
        .unwrap()
        .to_string()
}

impl Device {
    pub(crate) async fn new(server: &TestServer, user: &User, fresh_login: bool) -> Device {
        let user = if fresh_login {
            let (_, login) = server.client().login(&user.user_id, &user.password).await;
            User {
                device_id: login["device_id"].as_str().unwrap().to_owned(),
                client: server
                    .client()
                    .with_token(login["access_token"].as_str().unwrap()),
                ..user.clone()
            }
        } else {
            user.clone()
        };
        Device {
            user,
            account: Account::new(),
        }
    }

    pub(crate) fn sign(&self, value: &mut Value) {
        let signature = self.account.sign(canonical(value)).to_base64();
        value["signatures"][&self.user.user_id][format!("ed25519:{}", self.user.device_id)] =
            json!(signature);
    }

    pub(crate) fn device_keys(&self) -> Value {
        let keys = self.account.identity_keys();
        let device = &self.user.device_id;
        let mut value = json!({
            "user_id": self.user.user_id, "device_id": device,
            "algorithms": [OLM, MEGOLM],
            "keys": { format!("curve25519:{device}"): keys.curve25519.to_base64(), format!("ed25519:{device}"): keys.ed25519.to_base64() },
        });
        self.sign(&mut value);
        value
    }

    pub(crate) async fn upload(&mut self, one_time: usize) -> Value {
        self.account.generate_one_time_keys(one_time);
        let mut otks = serde_json::Map::new();
        for (id, key) in self.account.one_time_keys() {
            let mut signed = json!({ "key": key.to_base64() });
            self.sign(&mut signed);
            otks.insert(format!("signed_curve25519:{}", id.to_base64()), signed);
        }
        self.account.mark_keys_as_published();
        let body = json!({ "device_keys": self.device_keys(), "one_time_keys": otks });
        let (status, response) = self
            .user
            .client
            .post("/_matrix/client/v3/keys/upload", body)
            .await;
        assert_eq!(status, 200, "{response}");
        response
    }
}

#[tokio::test]
async fn key_uploads_are_validated() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let mut device = Device::new(&server, &alice, false).await;
    let response = device.upload(3).await;
    assert_eq!(response["one_time_key_counts"]["signed_curve25519"], 3);

    // Keys must be self-signed by the device and name the uploader.
    let mut forged = device.device_keys();
    forged["keys"][format!("curve25519:{}", alice.device_id)] =
        json!(Curve25519PublicKey::from_bytes([7; 32]).to_base64());
    let upload = |keys: Value| {
        alice.client.post(
            "/_matrix/client/v3/keys/upload",
            json!({ "device_keys": keys }),
        )
    };
    assert_error(&upload(forged).await, 400, "M_INVALID_SIGNATURE");
    let mut other_user = device.device_keys();
    other_user["user_id"] = json!("@mallory:localhost");
    assert_error(&upload(other_user).await, 400, "M_INVALID_PARAM");
    assert_error(
        &alice
            .client
            .post(
                "/_matrix/client/v3/keys/upload",
                json!({"one_time_keys": {"nocolon": {}}}),
            )
            .await,
        400,
        "M_INVALID_PARAM",
    );
    assert_error(
        &alice
            .client
            .post("/_matrix/client/v3/keys/query", json!({}))
            .await,
        400,
        "M_MISSING_PARAM",
    );
    assert_error(
        &server
            .client()
            .post("/_matrix/client/v3/keys/upload", json!({}))
            .await,
        401,
        "M_MISSING_TOKEN",
    );

    // Query shows the keys with the device's display name.
    alice
        .client
        .put(
            &format!("/_matrix/client/v3/devices/{}", alice.device_id),
            json!({"display_name": "Laptop"}),
        )
        .await;
    let (_, query) = alice
        .client
        .post(
            "/_matrix/client/v3/keys/query",
            json!({"device_keys": {alice.user_id.clone(): []}}),
        )
        .await;
    let keys = &query["device_keys"][&alice.user_id][&alice.device_id];
    assert_eq!(keys["unsigned"]["device_display_name"], "Laptop");
    assert_eq!(
        keys["keys"][format!("ed25519:{}", alice.device_id)],
        device.account.identity_keys().ed25519.to_base64()
    );
}

#[tokio::test]
async fn concurrent_claims_get_distinct_keys_then_the_fallback() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let bob = server.client().register("bob", "pw-bob-1").await;
    let mut device = Device::new(&server, &alice, false).await;
    device.upload(5).await;
    device.account.generate_fallback_key();
    let (id, key) = device.account.fallback_key().into_iter().next().unwrap();
    let mut fallback = json!({ "key": key.to_base64(), "fallback": true });
    device.sign(&mut fallback);
    let body =
        json!({ "fallback_keys": { format!("signed_curve25519:{}", id.to_base64()): fallback } });
    assert_eq!(
        alice
            .client
            .post("/_matrix/client/v3/keys/upload", body)
            .await
            .0,
        200
    );

    let claim = json!({"one_time_keys": {alice.user_id.clone(): {alice.device_id.clone(): "signed_curve25519"}}});
    let mut handles = Vec::new();
    for _ in 0..8 {
        let client = bob.client.clone();
        let claim = claim.clone();
        handles.push(tokio::spawn(async move {
            client.post("/_matrix/client/v3/keys/claim", claim).await.1
        }));
    }
    let mut one_time = Vec::new();
    let mut fallbacks = 0;
    for handle in handles {
        let body = handle.await.unwrap();
        let keys = body["one_time_keys"][&alice.user_id][&alice.device_id]
            .as_object()
            .unwrap()
            .clone();
        let (key_id, key) = keys.into_iter().next().unwrap();
        if key["fallback"] == true {
            fallbacks += 1;
        } else {
            one_time.push(key_id);
        }
    }
    let mut unique = one_time.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(one_time.len(), 5, "{one_time:?}");
    assert_eq!(unique.len(), 5, "no one-time key twice");
    assert_eq!(fallbacks, 3, "then the fallback key");

    let sync = alice.sync(None, 0).await;
    assert_eq!(sync["device_one_time_keys_count"]["signed_curve25519"], 0);
    assert_eq!(
        sync["device_unused_fallback_key_types"],
        json!([]),
        "the fallback key was used"
    );
}

#[tokio::test]
async fn plaintext_is_refused_in_encrypted_rooms() {
    let server =
        TestServer::spawn_with(|c| c.e2ee.enforce = citadel::config::EncryptionEnforcement::All);
    let alice = server.client().register("alice", "pw-alice-1").await;
    let room = alice.create_room(json!({})).await;
    let (_, encryption) = alice
        .client
        .get(&format!(
            "/_matrix/client/v3/rooms/{}/state/m.room.encryption/",
            enc(&room)
        ))
        .await;
    assert_eq!(encryption["algorithm"], MEGOLM);
    let send = |kind: &str, txn: &str| {
        format!("/_matrix/client/v3/rooms/{}/send/{kind}/{txn}", enc(&room))
    };
    let refused = alice
        .client
        .put(
            &send("m.room.message", "p1"),
            json!({"msgtype": "m.text", "body": "secret"}),
        )
        .await;
    assert_error(&refused, 403, "M_FORBIDDEN");
    assert!(refused.1["error"].as_str().unwrap().contains("encrypted"));
    let garbage = alice
        .client
        .put(&send("m.room.encrypted", "p2"), json!({"algorithm": MEGOLM, "ciphertext": "bm90IG1lZ29sbQ", "session_id": "x", "sender_key": "y", "device_id": "z"}))
        .await;
    assert_error(&garbage, 400, "M_BAD_JSON");
    let olm_in_room = alice
        .client
        .put(
            &send("m.room.encrypted", "p3"),
            json!({"algorithm": OLM, "ciphertext": {}}),
        )
        .await;
    assert_error(&olm_in_room, 400, "M_BAD_JSON");
    // Reactions are allowed in the clear, as clients send them.
    let (_, event) = alice
        .client
        .put(&send("m.room.encrypted", "p4"), real_megolm_content())
        .await;
    let target = event["event_id"].as_str().unwrap();
    let reaction = alice
        .client
        .put(
            &send("m.reaction", "p5"),
            json!({"m.relates_to": {"rel_type": "m.annotation", "event_id": target, "key": "👍"}}),
        )
        .await;
    assert_eq!(reaction.0, 200, "{}", reaction.1);
}

fn real_megolm_content() -> Value {
    let mut session = GroupSession::new(MegolmConfig::version_1());
    let ciphertext = session.encrypt("{}").to_base64();
    json!({"algorithm": MEGOLM, "ciphertext": ciphertext, "session_id": session.session_id(), "sender_key": "k", "device_id": "D"})
}

#[tokio::test]
async fn two_users_exchange_encrypted_messages_and_the_database_holds_no_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::spawn_in(dir.path(), |c| {
        c.e2ee.enforce = citadel::config::EncryptionEnforcement::All
    });
    let alice_user = server.client().register("alice", "pw-alice-1").await;
    let bob_user = server.client().register("bob", "pw-bob-1").await;
    let carol = server.client().register("carol", "pw-carol-1").await;
    let mut alice = Device::new(&server, &alice_user, false).await;
    let mut alice2 = Device::new(&server, &alice_user, true).await;
    let mut bob1 = Device::new(&server, &bob_user, false).await;
    let mut bob2 = Device::new(&server, &bob_user, true).await;
    for device in [&mut alice, &mut alice2, &mut bob1, &mut bob2] {
        device.upload(5).await;
    }
    let carol_since = carol.sync(None, 0).await["next_batch"]
        .as_str()
        .unwrap()
        .to_owned();

    let room = alice
        .user
        .create_room(json!({"invite": [bob_user.user_id]}))
        .await;
    bob1.user.join(&room).await;
    let bob_since = bob1.user.sync(None, 0).await["next_batch"]
        .as_str()
        .unwrap()
        .to_owned();
    let bob2_since = bob2.user.sync(None, 0).await["next_batch"]
        .as_str()
        .unwrap()
        .to_owned();

    // Alice finds Bob's devices, claims a one-time key for each and opens Olm sessions.
    let (_, query) = alice
        .user
        .client
        .post(
            "/_matrix/client/v3/keys/query",
            json!({"device_keys": {bob_user.user_id.clone(): []}}),
        )
        .await;
    let bob_devices = query["device_keys"][&bob_user.user_id]
        .as_object()
        .unwrap()
        .clone();
    assert_eq!(bob_devices.len(), 2);
    let claim_body = json!({"one_time_keys": {bob_user.user_id.clone(): {bob1.user.device_id.clone(): "signed_curve25519", bob2.user.device_id.clone(): "signed_curve25519"}}});
    let (_, claimed) = alice
        .user
        .client
        .post("/_matrix/client/v3/keys/claim", claim_body)
        .await;

    let mut group = GroupSession::new(MegolmConfig::version_1());
    let alice_keys = alice.account.identity_keys();
    let room_key = json!({
        "type": "m.room_key",
        "content": {"algorithm": MEGOLM, "room_id": room, "session_id": group.session_id(), "session_key": group.session_key().to_base64()},
        "sender": alice_user.user_id, "sender_device": alice_user.device_id,
        "keys": {"ed25519": alice_keys.ed25519.to_base64()},
    });
    let mut messages = serde_json::Map::new();
    for (device_id, keys) in &bob_devices {
        let curve = Curve25519PublicKey::from_base64(
            keys["keys"][format!("curve25519:{device_id}")]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        let otk_object = claimed["one_time_keys"][&bob_user.user_id][device_id]
            .as_object()
            .unwrap();
        let otk = Curve25519PublicKey::from_base64(
            otk_object.values().next().unwrap()["key"].as_str().unwrap(),
        )
        .unwrap();
        let mut session = alice
            .account
            .create_outbound_session(SessionConfig::version_1(), curve, otk)
            .unwrap();
        let mut payload = room_key.clone();
        payload["recipient"] = json!(bob_user.user_id);
        let (message_type, body) = session.encrypt(payload.to_string()).unwrap().to_parts();
        messages.insert(device_id.clone(), json!({
            "algorithm": OLM, "sender_key": alice_keys.curve25519.to_base64(),
            "ciphertext": { curve.to_base64(): {"type": message_type, "body": vodozemac::base64_encode(body)} },
        }));
    }
    let to_device = json!({"messages": {bob_user.user_id.clone(): messages}});
    let path = "/_matrix/client/v3/sendToDevice/m.room.encrypted/share1";
    assert_eq!(alice.user.client.put(path, to_device.clone()).await.0, 200);
    assert_eq!(
        alice.user.client.put(path, to_device).await.0,
        200,
        "idempotent"
    );

    // Alice sends an encrypted message.
    let secret = "The eagle lands at midnight";
    let plaintext = json!({"type": "m.room.message", "content": {"msgtype": "m.text", "body": secret}, "room_id": room});
    let ciphertext = group.encrypt(plaintext.to_string()).to_base64();
    let content = json!({"algorithm": MEGOLM, "sender_key": alice_keys.curve25519.to_base64(), "ciphertext": ciphertext,
                         "session_id": group.session_id(), "device_id": alice_user.device_id});
    let (status, sent) = alice
        .user
        .client
        .put(
            &format!(
                "/_matrix/client/v3/rooms/{}/send/m.room.encrypted/m1",
                enc(&room)
            ),
            content,
        )
        .await;
    assert_eq!(status, 200, "{sent}");

    // Each of Bob's devices gets the key once, decrypts it, then decrypts the message.
    for (device, since) in [(&mut bob1, bob_since.clone()), (&mut bob2, bob2_since)] {
        let body = device.user.sync(Some(&since), 5000).await;
        let events = body["to_device"]["events"].as_array().unwrap();
        assert_eq!(events.len(), 1, "one key share, delivered once: {body}");
        let my_curve = device.account.identity_keys().curve25519.to_base64();
        let olm = &events[0]["content"]["ciphertext"][&my_curve];
        let message = OlmMessage::from_parts(
            olm["type"].as_u64().unwrap() as usize,
            &vodozemac::base64_decode(olm["body"].as_str().unwrap()).unwrap(),
        )
        .unwrap();
        let OlmMessage::PreKey(prekey) = message else {
            panic!("expected a pre-key message")
        };
        let inbound = device
            .account
            .create_inbound_session(SessionConfig::version_1(), alice_keys.curve25519, &prekey)
            .unwrap();
        let shared: Value = serde_json::from_slice(&inbound.plaintext).unwrap();
        assert_eq!(shared["type"], "m.room_key");
        let session_key =
            SessionKey::from_base64(shared["content"]["session_key"].as_str().unwrap()).unwrap();
        let mut inbound_group = InboundGroupSession::new(&session_key, MegolmConfig::version_1());

        let timeline = body["rooms"]["join"][&room]["timeline"]["events"]
            .as_array()
            .unwrap();
        let encrypted = timeline
            .iter()
            .find(|e| e["type"] == "m.room.encrypted")
            .expect("the encrypted message");
        let megolm =
            MegolmMessage::from_base64(encrypted["content"]["ciphertext"].as_str().unwrap())
                .unwrap();
        let decrypted: Value =
            serde_json::from_slice(&inbound_group.decrypt(&megolm).unwrap().plaintext).unwrap();
        assert_eq!(decrypted["content"]["body"], secret);

        // Acknowledged by the next sync: never delivered again.
        let next = body["next_batch"].as_str().unwrap().to_owned();
        let again = device.user.sync(Some(&next), 0).await;
        assert_eq!(again["to_device"]["events"], json!([]));
    }

    // Device-list changes reach exactly the users who share a room.
    let before_change = bob1.user.sync(Some(&bob_since), 0).await["next_batch"]
        .as_str()
        .unwrap()
        .to_owned();
    alice2
        .user
        .client
        .put(
            &format!("/_matrix/client/v3/devices/{}", alice2.user.device_id),
            json!({"display_name": "x"}),
        )
        .await;
    alice2.account = Account::new();
    let keys = alice2.device_keys();
    alice2
        .user
        .client
        .post(
            "/_matrix/client/v3/keys/upload",
            json!({"device_keys": keys}),
        )
        .await;
    let bob_view = bob1.user.sync(Some(&before_change), 2000).await;
    assert!(
        bob_view["device_lists"]["changed"]
            .as_array()
            .unwrap()
            .contains(&json!(alice_user.user_id)),
        "{bob_view}"
    );
    let carol_view = carol.sync(Some(&carol_since), 0).await;
    assert!(
        !carol_view["device_lists"]["changed"]
            .as_array()
            .unwrap()
            .contains(&json!(alice_user.user_id))
    );
    let (_, changes) = bob1
        .user
        .client
        .get(&format!(
            "/_matrix/client/v3/keys/changes?from={before_change}&to={}",
            bob_view["next_batch"].as_str().unwrap()
        ))
        .await;
    assert!(
        changes["changed"]
            .as_array()
            .unwrap()
            .contains(&json!(alice_user.user_id)),
        "{changes}"
    );

    // Nothing on disk contains the message, in the clear or base64-encoded.
    server.stop();
    let needles = [
        secret.to_owned(),
        vodozemac::base64_encode(secret.as_bytes()),
    ];
    let mut scanned = BTreeMap::new();
    for file in walk(dir.path()) {
        let bytes = std::fs::read(&file).unwrap();
        scanned.insert(file.display().to_string(), bytes.len());
        for needle in &needles {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{needle:?} found in {}",
                file.display()
            );
        }
    }
    assert!(
        scanned.values().sum::<usize>() > 10_000,
        "the database was actually scanned: {scanned:?}"
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// With `e2ee.strict_key_uploads = false` (Synapse's leniency), placeholder device keys
/// and an opaque backup `auth_data` are taken and given back as stored; the uploader
/// must still be named.
#[tokio::test]
async fn lenient_key_uploads_take_placeholder_keys() {
    let server = TestServer::spawn_with(|config| config.e2ee.strict_key_uploads = false);
    let alice = server.client().register("alice", "pw-alice-1").await;
    let device = &alice.device_id;
    let keys = json!({
        "user_id": alice.user_id, "device_id": device,
        "algorithms": ["m.olm.v1.curve25519-aes-sha2"],
        "keys": {format!("curve25519:{device}"): "curve25519+key",
                 format!("ed25519:{device}"): "ed25519+key"},
        "signatures": {alice.user_id.clone(): {format!("ed25519:{device}"): "self+signature"}},
    });
    let (status, body) = alice
        .client
        .post(
            "/_matrix/client/v3/keys/upload",
            json!({ "device_keys": keys }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, queried) = alice
        .client
        .post(
            "/_matrix/client/v3/keys/query",
            json!({"device_keys": {alice.user_id.clone(): []}}),
        )
        .await;
    assert_eq!(
        queried["device_keys"][&alice.user_id][device]["keys"],
        keys["keys"]
    );
    let mut other_user = keys.clone();
    other_user["user_id"] = json!("@mallory:localhost");
    let answer = alice
        .client
        .post(
            "/_matrix/client/v3/keys/upload",
            json!({ "device_keys": other_user }),
        )
        .await;
    assert_error(&answer, 400, "M_INVALID_PARAM");

    let (status, created) = alice
        .client
        .post(
            "/_matrix/client/v3/room_keys/version",
            json!({"algorithm": "m.megolm_backup.v1", "auth_data": "anopaquestring"}),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    let (_, backup) = alice
        .client
        .get("/_matrix/client/v3/room_keys/version")
        .await;
    assert_eq!(backup["auth_data"], "anopaquestring");
}
