//! Cross-signing: master, self-signing and user-signing keys, and the signatures that
//! tie devices and other users to them, each checked before it is stored.

use serde_json::{Value, json};

use crate::common::*;
use crate::e2ee::{Device, canonical};

/// A cross-signing key pair.
struct CrossKey {
    secret: vodozemac::Ed25519SecretKey,
}

impl CrossKey {
    fn new() -> Self {
        CrossKey {
            secret: vodozemac::Ed25519SecretKey::new(),
        }
    }
    fn public(&self) -> String {
        self.secret.public_key().to_base64()
    }
    fn key(&self, user: &str, usage: &str) -> Value {
        json!({"user_id": user, "usage": [usage], "keys": {format!("ed25519:{}", self.public()): self.public()}})
    }
    fn sign(&self, user: &str, value: &mut Value) {
        let signature = self.secret.sign(canonical(value).as_bytes()).to_base64();
        value["signatures"][user][format!("ed25519:{}", self.public())] = json!(signature);
    }
}

#[tokio::test]
async fn cross_signing_keys_and_signatures_are_verified() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let bob = server.client().register("bob", "pw-bob-1").await;
    let device = {
        let mut d = Device::new(&server, &alice, false).await;
        d.upload(1).await;
        d
    };
    let (master, self_signing, user_signing) = (CrossKey::new(), CrossKey::new(), CrossKey::new());
    let mut ssk = self_signing.key(&alice.user_id, "self_signing");
    master.sign(&alice.user_id, &mut ssk);
    let mut usk = user_signing.key(&alice.user_id, "user_signing");
    master.sign(&alice.user_id, &mut usk);
    let path = "/_matrix/client/v3/keys/device_signing/upload";

    // A self-signing key not signed by the master key is refused.
    let mut unsigned_ssk = self_signing.key(&alice.user_id, "self_signing");
    CrossKey::new().sign(&alice.user_id, &mut unsigned_ssk);
    let bad = alice.client.post(path, json!({"master_key": master.key(&alice.user_id, "master"), "self_signing_key": unsigned_ssk})).await;
    assert_error(&bad, 400, "M_INVALID_SIGNATURE");

    let body = json!({"master_key": master.key(&alice.user_id, "master"), "self_signing_key": ssk, "user_signing_key": usk});
    let (status, response) = alice.client.post(path, body.clone()).await;
    assert_eq!(status, 200, "first upload needs no password: {response}");
    // Replacing them does.
    let (status, _) = alice.client.post(path, body.clone()).await;
    assert_eq!(status, 401);
    let mut with_auth = body;
    with_auth["auth"] = password_auth(&alice.user_id, "pw-alice-1", None);
    assert_eq!(alice.client.post(path, with_auth).await.0, 200);

    // The self-signing key signs the device.
    let mut device_keys = device.device_keys();
    self_signing.sign(&alice.user_id, &mut device_keys);
    let mut forged = device.device_keys();
    CrossKey::new().sign(&alice.user_id, &mut forged);
    let uploads = "/_matrix/client/v3/keys/signatures/upload";
    let (_, result) = alice
        .client
        .post(
            uploads,
            json!({alice.user_id.clone(): {alice.device_id.clone(): forged}}),
        )
        .await;
    assert_eq!(
        result["failures"][&alice.user_id][&alice.device_id]["errcode"],
        "M_INVALID_SIGNATURE"
    );
    let (status, result) = alice
        .client
        .post(
            uploads,
            json!({alice.user_id.clone(): {alice.device_id.clone(): device_keys}}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(result["failures"], json!({}));

    let (_, query) = bob
        .client
        .post(
            "/_matrix/client/v3/keys/query",
            json!({"device_keys": {alice.user_id.clone(): []}}),
        )
        .await;
    let signatures =
        &query["device_keys"][&alice.user_id][&alice.device_id]["signatures"][&alice.user_id];
    assert!(
        signatures
            .get(format!("ed25519:{}", self_signing.public()))
            .is_some(),
        "{query}"
    );
    assert_eq!(
        query["master_keys"][&alice.user_id]["keys"][format!("ed25519:{}", master.public())],
        master.public()
    );
    assert!(query["self_signing_keys"][&alice.user_id].is_object());
    assert!(
        query["user_signing_keys"].get(&alice.user_id).is_none(),
        "user-signing keys only to their owner"
    );
    let (_, own) = alice
        .client
        .post(
            "/_matrix/client/v3/keys/query",
            json!({"device_keys": {alice.user_id.clone(): []}}),
        )
        .await;
    assert!(own["user_signing_keys"][&alice.user_id].is_object());
}
