//! Sending, reading, paginating and redacting events.

use serde_json::{Value, json};

use crate::common::*;

#[tokio::test]
async fn sends_are_idempotent_per_transaction_and_device() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let room = alice.create_room(json!({})).await;
    let path = format!(
        "/_matrix/client/v3/rooms/{}/send/m.room.message/txn1",
        enc(&room)
    );
    let (_, first) = alice
        .client
        .put(&path, json!({"msgtype": "m.text", "body": "once"}))
        .await;
    let (_, again) = alice
        .client
        .put(&path, json!({"msgtype": "m.text", "body": "once"}))
        .await;
    assert_eq!(first["event_id"], again["event_id"]);
    // Another device of the same user is another transaction namespace.
    let (_, login) = server.client().login("alice", "pw-alice-1").await;
    let other = server
        .client()
        .with_token(login["access_token"].as_str().unwrap());
    let (_, third) = other
        .put(&path, json!({"msgtype": "m.text", "body": "once"}))
        .await;
    assert_ne!(first["event_id"], third["event_id"]);

    let (_, page) = alice
        .client
        .get(&format!(
            "/_matrix/client/v3/rooms/{}/messages?dir=b&limit=5",
            enc(&room)
        ))
        .await;
    let bodies: Vec<&Value> = page["chunk"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["content"].get("body"))
        .collect();
    assert_eq!(bodies, [&json!("once"), &json!("once")]);
}

#[tokio::test]
async fn messages_paginate_every_event_exactly_once_in_order() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let room = alice.create_room(json!({})).await;
    let mut sent = Vec::new();
    for i in 0..25 {
        sent.push(alice.send_text(&room, &format!("m{i}")).await);
    }
    // Backwards from now, in pages of 7.
    let mut seen = Vec::new();
    let mut from: Option<String> = None;
    loop {
        let mut path = format!(
            "/_matrix/client/v3/rooms/{}/messages?dir=b&limit=7",
            enc(&room)
        );
        if let Some(from) = &from {
            path.push_str(&format!("&from={from}"));
        }
        let (status, page) = alice.client.get(&path).await;
        assert_eq!(status, 200, "{page}");
        for event in page["chunk"].as_array().unwrap() {
            seen.push(event["event_id"].as_str().unwrap().to_owned());
        }
        match page["end"].as_str() {
            Some(end) => from = Some(end.to_owned()),
            None => break,
        }
    }
    seen.reverse();
    let messages: Vec<String> = seen
        .iter()
        .filter(|id| sent.contains(id))
        .cloned()
        .collect();
    assert_eq!(messages, sent);
    let unique: std::collections::HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no event twice");

    // Forwards from the start.
    let (_, page) = alice
        .client
        .get(&format!(
            "/_matrix/client/v3/rooms/{}/messages?dir=f&limit=100",
            enc(&room)
        ))
        .await;
    let forward: Vec<String> = page["chunk"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(forward, seen);
    // A page with events carries `end` (as Synapse); the empty page after it does not.
    let end = page["end"].as_str().expect("end with a non-empty page");
    let (_, past_the_end) = alice
        .client
        .get(&format!(
            "/_matrix/client/v3/rooms/{}/messages?dir=f&limit=100&from={end}",
            enc(&room)
        ))
        .await;
    assert_eq!(
        past_the_end["chunk"],
        serde_json::json!([]),
        "{past_the_end}"
    );
    assert!(past_the_end.get("end").is_none(), "{past_the_end}");

    // Filters.
    let filter = enc(r#"{"types":["m.room.message"]}"#);
    let (_, page) = alice
        .client
        .get(&format!(
            "/_matrix/client/v3/rooms/{}/messages?dir=b&limit=3&filter={filter}",
            enc(&room)
        ))
        .await;
    assert_eq!(types(&page["chunk"]), ["m.room.message"; 3]);
    assert_error(
        &alice
            .client
            .get(&format!(
                "/_matrix/client/v3/rooms/{}/messages?dir=b&from=garbage",
                enc(&room)
            ))
            .await,
        400,
        "M_INVALID_PARAM",
    );
}

#[tokio::test]
async fn outsiders_cannot_read_or_send() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let eve = server.client().register("eve", "pw-eve-1").await;
    let room = alice.create_room(json!({})).await;
    let event = alice.send_text(&room, "secret").await;
    assert_error(
        &eve.client
            .get(&format!(
                "/_matrix/client/v3/rooms/{}/messages?dir=b",
                enc(&room)
            ))
            .await,
        403,
        "M_FORBIDDEN",
    );
    assert_error(
        &eve.client
            .get(&format!(
                "/_matrix/client/v3/rooms/{}/event/{}",
                enc(&room),
                enc(&event)
            ))
            .await,
        // Synapse and SyTest: an event one may not see is one that is not there.
        404,
        "M_NOT_FOUND",
    );
    let send = format!(
        "/_matrix/client/v3/rooms/{}/send/m.room.message/x",
        enc(&room)
    );
    assert_error(
        &eve.client
            .put(&send, json!({"body": "hi", "msgtype": "m.text"}))
            .await,
        403,
        "M_FORBIDDEN",
    );
    assert_error(
        &alice
            .client
            .put(
                "/_matrix/client/v3/rooms/!no:localhost/send/m.room.message/x",
                json!({}),
            )
            .await,
        404,
        "M_NOT_FOUND",
    );

    let (status, fetched) = alice
        .client
        .get(&format!(
            "/_matrix/client/v3/rooms/{}/event/{}",
            enc(&room),
            enc(&event)
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(fetched["content"]["body"], "secret");
    assert_eq!(fetched["room_id"], room);
    assert_error(
        &alice
            .client
            .get(&format!(
                "/_matrix/client/v3/rooms/{}/event/%24missing",
                enc(&room)
            ))
            .await,
        404,
        "M_NOT_FOUND",
    );
}

#[tokio::test]
async fn oversized_events_are_refused() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let room = alice.create_room(json!({})).await;
    let send = format!(
        "/_matrix/client/v3/rooms/{}/send/m.room.message/big",
        enc(&room)
    );
    let response = alice
        .client
        .put(
            &send,
            json!({"msgtype": "m.text", "body": "x".repeat(66_000)}),
        )
        .await;
    assert_error(&response, 413, "M_TOO_LARGE");
    // The transaction ID is free again after the failure.
    let (status, _) = alice
        .client
        .put(&send, json!({"msgtype": "m.text", "body": "small"}))
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn redaction_strips_content_in_storage_and_needs_power_for_others() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::spawn_in(dir.path(), |_| {});
    let client = server.client();
    let (alice, bob, room) = client.alice_and_bob_in_a_public_room().await;
    let secret = alice.send_text(&room, "the launch code is 1234").await;
    let event_path = format!(
        "/_matrix/client/v3/rooms/{}/event/{}",
        enc(&room),
        enc(&secret)
    );
    // Read once first, so the event is in the server's parsed-event cache: the
    // redaction must not be answered from it.
    let (_, before) = alice.client.get(&event_path).await;
    assert_eq!(before["content"]["body"], "the launch code is 1234");

    let redact = |event: &str, txn: &str| {
        format!(
            "/_matrix/client/v3/rooms/{}/redact/{}/{txn}",
            enc(&room),
            enc(event)
        )
    };
    assert_error(
        &bob.client.put(&redact(&secret, "r1"), json!({})).await,
        403,
        "M_FORBIDDEN",
    );
    let (status, body) = alice
        .client
        .put(&redact(&secret, "r2"), json!({"reason": "oops"}))
        .await;
    assert_eq!(status, 200, "{body}");

    let (_, fetched) = alice.client.get(&event_path).await;
    assert_eq!(fetched["content"], json!({}));
    assert_eq!(
        fetched["unsigned"]["redacted_because"]["content"]["reason"],
        "oops"
    );
    let data_dir = server.data_dir.clone();
    server.stop();
    // After a restart the stored event itself is the stripped one: the content was
    // replaced in the database, not merely hidden by the API.
    let server = TestServer::spawn_in(&data_dir, |_| {});
    let client = server
        .client()
        .with_token(alice.client.token.as_deref().unwrap());
    let (_, page) = client
        .get(&format!(
            "/_matrix/client/v3/rooms/{}/messages?dir=b&limit=50",
            enc(&room)
        ))
        .await;
    let stored = page["chunk"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event_id"] == secret.as_str())
        .unwrap()
        .clone();
    assert_eq!(stored["content"], json!({}));
    assert!(!page.to_string().contains("launch code"));
}

#[tokio::test]
async fn the_sending_device_gets_its_transaction_id_back() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let room = alice.create_room(json!({})).await;
    let path = format!(
        "/_matrix/client/v3/rooms/{}/send/m.room.message/my-txn-7",
        enc(&room)
    );
    let (_, sent) = alice
        .client
        .put(&path, json!({"msgtype": "m.text", "body": "echo"}))
        .await;
    let event_id = sent["event_id"].as_str().unwrap();
    let find = |body: &Value| {
        body["rooms"]["join"][&room]["timeline"]["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["event_id"] == event_id)
            .cloned()
            .unwrap()
    };
    let own = find(&alice.sync(None, 0).await);
    assert_eq!(own["unsigned"]["transaction_id"], "my-txn-7");
    let (_, login) = server.client().login("alice", "pw-alice-1").await;
    let other = User {
        client: server
            .client()
            .with_token(login["access_token"].as_str().unwrap()),
        ..alice.clone()
    };
    let seen_elsewhere = find(&other.sync(None, 0).await);
    assert!(
        seen_elsewhere["unsigned"].get("transaction_id").is_none(),
        "{seen_elsewhere}"
    );
    let (_, page) = alice
        .client
        .get(&format!(
            "/_matrix/client/v3/rooms/{}/messages?dir=b&limit=1",
            enc(&room)
        ))
        .await;
    assert_eq!(page["chunk"][0]["unsigned"]["transaction_id"], "my-txn-7");
}

/// Synapse's `POST …/send/{type}` and `POST …/redact/{eventId}` without a transaction
/// ID, which older clients and bots use: each sends a new event.
#[tokio::test]
async fn events_can_be_sent_and_redacted_without_a_transaction_id() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let bob = server.client().register("bob", "pw-bob-1").await;
    let room = alice.create_room(json!({"preset": "public_chat"})).await;
    bob.join(&room).await;
    let send = format!(
        "/_matrix/client/v3/rooms/{}/send/m.room.message",
        enc(&room)
    );
    let body = json!({"msgtype": "m.text", "body": "no txn"});
    let (status, first) = alice.client.post(&send, body.clone()).await;
    assert_eq!(status, 200, "{first}");
    let (_, second) = alice.client.post(&send, body).await;
    assert_ne!(
        first["event_id"], second["event_id"],
        "each POST is a new event"
    );
    let first = first["event_id"].as_str().unwrap().to_owned();
    let event = format!(
        "/_matrix/client/v3/rooms/{}/event/{}",
        enc(&room),
        enc(&first)
    );
    assert_eq!(bob.client.get(&event).await.1["content"]["body"], "no txn");
    // Bob may not redact Alice's message; Alice may, with a reason.
    let redact = format!(
        "/_matrix/client/v3/rooms/{}/redact/{}",
        enc(&room),
        enc(&first)
    );
    assert_error(
        &bob.client.post(&redact, json!({})).await,
        403,
        "M_FORBIDDEN",
    );
    let (status, redaction) = alice.client.post(&redact, json!({"reason": "oops"})).await;
    assert_eq!(status, 200, "{redaction}");
    assert!(redaction["event_id"].as_str().unwrap().starts_with('$'));
    let (_, redacted) = bob.client.get(&event).await;
    assert_eq!(redacted["content"], json!({}), "{redacted}");
    // The same errors as the PUT forms.
    assert_error(
        &alice
            .client
            .post(&send.replace(&enc(&room), "nonsense"), json!({}))
            .await,
        400,
        "M_INVALID_PARAM",
    );
    assert_error(
        &alice.client.post(&send, json!([1])).await,
        400,
        "M_BAD_JSON",
    );
    let outsider = server.client().register("carol", "pw-carol-1").await;
    assert_error(
        &outsider.client.post(&send, json!({"body": "x"})).await,
        403,
        "M_FORBIDDEN",
    );
}
