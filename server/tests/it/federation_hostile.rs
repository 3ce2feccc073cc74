//! A hostile server: forged signatures, tampered content, impersonated senders,
//! unauthorized state and malformed transactions are refused (or, for a content hash
//! mismatch, kept only redacted) and leave the room's state unchanged.
//!
//! "Mallory" is a real Citadel that joins a room on B and is then stopped; the test takes
//! its signing key from its database (B has cached the public key) and speaks for it.

use std::sync::Arc;

use citadel_federation::client::{FederationClient, TlsOptions};
use citadel_federation::pdu::{EventContent, Pdu, Position};
use citadel_federation::signing::ServerSigningKey;
use ruma::{CanonicalJsonObject, OwnedEventId, RoomVersionId, UserId};
use serde_json::{Value, json};

use crate::common::*;
use crate::federation::{TestCa, federating_server, federating_server_with};
use crate::federation_rooms::{join_via, name_of};

/// Speaks for Mallory's server with its own key.
struct Mallory {
    name: String,
    key: Arc<ServerSigningKey>,
    client: FederationClient,
    target: String,
}

impl Mallory {
    async fn get_event(&self, event_id: &str) -> Pdu {
        let (status, body) = self
            .client
            .request(
                &self.target,
                "GET",
                &format!("/_matrix/federation/v1/event/{}", enc(event_id)),
                None,
            )
            .await
            .unwrap();
        assert_eq!(status, 200, "{body}");
        let json: CanonicalJsonObject = serde_json::from_value(body["pdus"][0].clone()).unwrap();
        Pdu::from_json(OwnedEventId::try_from(event_id).unwrap(), json).unwrap()
    }

    /// An event by `sender`, after `prev` and citing `auth`, signed with `key`.
    fn event(
        &self,
        key: &ServerSigningKey,
        sender: &str,
        event: EventContent,
        prev: &Pdu,
        auth: &[Pdu],
    ) -> Pdu {
        let rules = RoomVersionId::V12.rules().unwrap();
        citadel_federation::pdu::build(
            &rules,
            key,
            &UserId::parse(sender).unwrap(),
            event,
            Position {
                room_id: Some(&prev.room_id),
                prev_events: &[std::sync::Arc::new(prev.clone())],
                auth_events: &auth
                    .iter()
                    .map(|p| std::sync::Arc::new(p.clone()))
                    .collect::<Vec<_>>(),
                depth: prev.depth + 1,
            },
            ruma::MilliSecondsSinceUnixEpoch::now(),
        )
        .unwrap()
    }

    async fn send(&self, txn: &str, pdus: Vec<Value>) -> (u16, Value) {
        let body = json!({"origin": self.name, "origin_server_ts": 1, "pdus": pdus, "edus": []});
        self.client
            .request(
                &self.target,
                "PUT",
                &format!("/_matrix/federation/v1/send/{txn}"),
                Some(&body),
            )
            .await
            .unwrap()
    }
}

fn content(kind: &str, state_key: Option<&str>, content: Value) -> EventContent {
    EventContent {
        kind: kind.into(),
        state_key: state_key.map(str::to_owned),
        content: serde_json::from_value(content).unwrap(),
        redacts: None,
    }
}

fn json_of(pdu: &Pdu) -> Value {
    serde_json::to_value(&pdu.json).unwrap()
}

async fn room_state(user: &User, room: &str) -> Value {
    let (status, body) = user
        .client
        .get(&format!("/_matrix/client/v3/rooms/{}/state", enc(room)))
        .await;
    assert_eq!(status, 200);
    body
}

fn event_id_of(state: &Value, kind: &str, state_key: &str) -> String {
    state
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == kind && e["state_key"] == state_key)
        .unwrap_or_else(|| panic!("no {kind} in {state}"))["event_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn forged_tampered_and_unauthorized_events_change_nothing() {
    let ca = TestCa::new();
    let b = federating_server(&ca, "b");
    let m_dir = tempfile::tempdir().unwrap();
    let m = federating_server_with(&ca, "m", Some(m_dir.path()), |_| {});
    let bob = b.client().register("bob", "pw-bob-1").await;
    let mallory = m.client().register("mallory", "pw-mallory-1").await;
    let room = bob.create_room(json!({"preset": "public_chat"})).await;
    let (status, body) = join_via(&mallory, &room, &name_of(&b)).await;
    assert_eq!(status, 200, "{body}");

    // Mallory's server goes away; its key stays in B's cache and in its database.
    let m_name = name_of(&m);
    m.stop();
    let storage = open_storage(m_dir.path());
    let key = Arc::new(ServerSigningKey::load_or_generate(&storage, &m_name).unwrap());
    let tls = TlsOptions {
        extra_roots: vec![std::fs::read(ca.ca_path()).unwrap()],
        ..TlsOptions::default()
    };
    let hostile = Mallory {
        name: m_name.clone(),
        client: FederationClient::new(Arc::clone(&key), &tls).unwrap(),
        key: Arc::clone(&key),
        target: name_of(&b),
    };

    let state_before = room_state(&bob, &room).await;
    let power = hostile
        .get_event(&event_id_of(&state_before, "m.room.power_levels", ""))
        .await;
    let member = hostile
        .get_event(&event_id_of(
            &state_before,
            "m.room.member",
            &mallory.user_id,
        ))
        .await;
    let auth = vec![power.clone(), member.clone()];

    // Control: a well-formed message from Mallory is accepted.
    let good = hostile.event(
        &hostile.key,
        &mallory.user_id,
        content(
            "m.room.message",
            None,
            json!({"msgtype": "m.text", "body": "legit"}),
        ),
        &member,
        &auth,
    );
    let (status, answer) = hostile.send("t1", vec![json_of(&good)]).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["pdus"][good.event_id.as_str()],
        json!({}),
        "{answer}"
    );

    // 1. Signed by a key that is not Mallory's server's.
    let other_dir = tempfile::tempdir().unwrap();
    let other_storage = citadel_storage::Storage::open(
        other_dir.path(),
        &citadel_storage::EngineOptions {
            cache_bytes: 1 << 20,
        },
    )
    .unwrap();
    let impostor_key = ServerSigningKey::load_or_generate(&other_storage, &m_name).unwrap();
    let forged = hostile.event(
        &impostor_key,
        &mallory.user_id,
        content(
            "m.room.message",
            None,
            json!({"msgtype": "m.text", "body": "forged"}),
        ),
        &good,
        &auth,
    );
    // 2. A sender of another server (Bob), signed by Mallory's server.
    let impersonation = hostile.event(
        &hostile.key,
        &bob.user_id,
        content(
            "m.room.message",
            None,
            json!({"msgtype": "m.text", "body": "I am Bob"}),
        ),
        &good,
        &auth,
    );
    // 3. State the sender may not set: Mallory (power 0) makes herself admin.
    let coup = hostile.event(
        &hostile.key,
        &mallory.user_id,
        content(
            "m.room.power_levels",
            Some(""),
            json!({"users": {mallory.user_id.clone(): 100}}),
        ),
        &good,
        &auth,
    );
    let (status, answer) = hostile
        .send(
            "t2",
            vec![json_of(&forged), json_of(&impersonation), json_of(&coup)],
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    for pdu in [&forged, &impersonation, &coup] {
        let result = &answer["pdus"][pdu.event_id.as_str()];
        assert!(
            result["error"].is_string(),
            "{} accepted: {answer}",
            pdu.event_id
        );
        let (status, _) = bob
            .client
            .get(&format!(
                "/_matrix/client/v3/rooms/{}/event/{}",
                enc(&room),
                enc(pdu.event_id.as_str())
            ))
            .await;
        assert_eq!(status, 404, "{} is visible", pdu.event_id);
    }

    // 4. Content changed after signing: kept only in redacted form.
    let mut tampered = json_of(&hostile.event(
        &hostile.key,
        &mallory.user_id,
        content(
            "m.room.message",
            None,
            json!({"msgtype": "m.text", "body": "original"}),
        ),
        &good,
        &auth,
    ));
    tampered["content"]["body"] = json!("tampered");
    let rules = RoomVersionId::V12.rules().unwrap();
    let tampered_obj: CanonicalJsonObject = serde_json::from_value(tampered.clone()).unwrap();
    let tampered_id = citadel_federation::receive::event_id(&rules, &tampered_obj).unwrap();
    let (status, answer) = hostile.send("t3", vec![tampered]).await;
    assert_eq!(status, 200, "{answer}");
    let (status, seen) = bob
        .client
        .get(&format!(
            "/_matrix/client/v3/rooms/{}/event/{}",
            enc(&room),
            enc(tampered_id.as_str())
        ))
        .await;
    assert_eq!(status, 200, "{seen}");
    assert_eq!(
        seen["content"],
        json!({}),
        "tampered content must not be shown"
    );

    // 5. Malformed and oversized transactions.
    let (status, body) = hostile
        .send("t4", (0..51).map(|_| json_of(&good)).collect())
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errcode"], "M_TOO_LARGE");
    let (status, body) = hostile
        .client
        .request(
            &hostile.target,
            "PUT",
            "/_matrix/federation/v1/send/t5",
            Some(&json!({"origin": m_name, "pdus": "not a list"})),
        )
        .await
        .unwrap();
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errcode"], "M_BAD_JSON");
    let garbage =
        json!({"origin": m_name, "origin_server_ts": 1, "pdus": [{"type": 7}, "x"], "edus": [1]});
    let (status, body) = hostile
        .client
        .request(
            &hostile.target,
            "PUT",
            "/_matrix/federation/v1/send/t6",
            Some(&garbage),
        )
        .await
        .unwrap();
    assert_eq!(
        status, 200,
        "per-PDU failures, not a failed transaction: {body}"
    );

    // Error answers of the other endpoints, for a server that signs correctly.
    let request = |method: &'static str, path: String, body: Option<Value>| {
        let hostile = &hostile;
        async move {
            hostile
                .client
                .request(&hostile.target, method, &path, body.as_ref())
                .await
                .unwrap()
        }
    };
    let expect = |answer: (u16, Value), status: u16, errcode: &str| {
        assert_eq!(answer.0, status, "{}", answer.1);
        assert_eq!(answer.1["errcode"], errcode, "{}", answer.1);
    };
    let make_join = |room: &str, user: &str, ver: &str| {
        format!(
            "/_matrix/federation/v1/make_join/{}/{}?ver={ver}",
            enc(room),
            enc(user)
        )
    };
    expect(
        request("GET", make_join(&room, &bob.user_id, "12"), None).await,
        403,
        "M_FORBIDDEN",
    );
    expect(
        request(
            "GET",
            make_join("!nowhere:b.test", &mallory.user_id, "12"),
            None,
        )
        .await,
        404,
        "M_NOT_FOUND",
    );
    let old_only = request("GET", make_join(&room, &mallory.user_id, "1"), None).await;
    assert_eq!(old_only.1["room_version"], "12", "{}", old_only.1);
    expect(old_only, 400, "M_INCOMPATIBLE_ROOM_VERSION");
    let wrong_id = format!(
        "/_matrix/federation/v2/send_join/{}/{}",
        enc(&room),
        enc("$not-this-one")
    );
    expect(
        request("PUT", wrong_id, Some(json_of(&good))).await,
        400,
        "M_BAD_JSON",
    );
    expect(
        request(
            "GET",
            format!("/_matrix/federation/v1/event/{}", enc("$unknown")),
            None,
        )
        .await,
        404,
        "M_NOT_FOUND",
    );
    expect(
        request(
            "GET",
            format!("/_matrix/federation/v1/state_ids/{}", enc(&room)),
            None,
        )
        .await,
        400,
        "M_MISSING_PARAM",
    );
    expect(
        request(
            "POST",
            "/_matrix/federation/v1/user/keys/query".into(),
            Some(json!({"device_keys": "everyone"})),
        )
        .await,
        400,
        "M_BAD_JSON",
    );

    // Knocking on a public room is not allowed by its join rule.
    expect(
        request(
            "GET",
            format!(
                "/_matrix/federation/v1/make_knock/{}/{}?ver=12",
                enc(&room),
                enc(&mallory.user_id)
            ),
            None,
        )
        .await,
        403,
        "M_FORBIDDEN",
    );
    // Invites: for a user B does not have, and under another event's ID.
    let invite = hostile.event(
        &hostile.key,
        &mallory.user_id,
        content(
            "m.room.member",
            Some(&format!("@nobody:{}", hostile.target)),
            json!({"membership": "invite"}),
        ),
        &good,
        &auth,
    );
    let invite_path =
        |id: &str| format!("/_matrix/federation/v2/invite/{}/{}", enc(&room), enc(id));
    let invite_body =
        json!({"room_version": "12", "event": json_of(&invite), "invite_room_state": []});
    expect(
        request(
            "PUT",
            invite_path(invite.event_id.as_str()),
            Some(invite_body.clone()),
        )
        .await,
        404,
        "M_NOT_FOUND",
    );
    expect(
        request("PUT", invite_path("$other"), Some(invite_body)).await,
        400,
        "M_BAD_JSON",
    );

    // The room's state is exactly what it was.
    let mut after = room_state(&bob, &room).await;
    let mut before = state_before;
    let sort = |v: &mut Value| {
        v.as_array_mut()
            .unwrap()
            .sort_by_key(|e| e["event_id"].as_str().unwrap().to_owned())
    };
    sort(&mut after);
    sort(&mut before);
    assert_eq!(after, before);
}
