//! Pushers: HTTP gateways that receive notifications, over plain HTTP and HTTPS, for
//! messages and invites, and pushers' lifetime with their device.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::*;

/// A push gateway on a loopback port that records what it receives.
async fn gateway() -> (String, Arc<Mutex<Vec<Value>>>) {
    gateway_over(None).await
}

/// The same over HTTPS with this TLS configuration.
async fn gateway_over(tls: Option<rustls::ServerConfig>) -> (String, Arc<Mutex<Vec<Value>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "{}://{}/_matrix/push/v1/notify",
        if tls.is_some() { "https" } else { "http" },
        listener.local_addr().unwrap()
    );
    let acceptor = tls.map(|c| tokio_rustls::TlsAcceptor::from(Arc::new(c)));
    let sink = Arc::clone(&received);
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            let sink = Arc::clone(&sink);
            match &acceptor {
                Some(acceptor) => {
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        if let Ok(stream) = acceptor.accept(socket).await {
                            record(stream, sink).await;
                        }
                    });
                }
                None => {
                    tokio::spawn(record(socket, sink));
                }
            }
        }
    });
    (url, received)
}

/// Reads one request, keeps its JSON body and answers `{}`.
async fn record<S>(mut socket: S, sink: Arc<Mutex<Vec<Value>>>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = socket.read(&mut chunk).await.unwrap_or(0);
        if n == 0 {
            return;
        }
        buffer.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buffer).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                })
                .unwrap_or(0);
            if body.len() >= length {
                sink.lock()
                    .unwrap()
                    .push(serde_json::from_str(body).unwrap_or(Value::Null));
                let _ = socket
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
                    .await;
                let _ = socket.shutdown().await;
                return;
            }
        }
    }
}

#[tokio::test]
async fn pushers_receive_notifications() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let bob = server.client().register("bob", "pw-bob-1").await;
    let (url, received) = gateway().await;
    let pusher = json!({
        "kind": "http", "app_id": "org.example.app", "pushkey": "device-token",
        "app_display_name": "Example", "device_display_name": "Phone", "lang": "en",
        "data": {"url": url},
    });
    let (status, body) = alice
        .client
        .post("/_matrix/client/v3/pushers/set", pusher.clone())
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, listed) = alice.client.get("/_matrix/client/v3/pushers").await;
    assert_eq!(listed["pushers"][0]["pushkey"], "device-token");

    let room = alice
        .create_room(json!({"preset": "public_chat", "name": "Pings"}))
        .await;
    bob.join(&room).await;
    let event = bob.send_text(&room, "ping").await;
    let got = wait_for_pushes(&received, 1).await;
    assert_eq!(got.len(), 1, "{got:?}");
    let notification = &got[0]["notification"];
    assert_eq!(notification["event_id"], event);
    assert_eq!(notification["id"], event);
    assert_eq!(notification["room_id"], room);
    assert_eq!(notification["room_name"], "Pings");
    assert_eq!(notification["sender_display_name"], "bob");
    assert_eq!(notification["counts"]["unread"], 1);
    assert_eq!(notification["devices"][0]["pushkey"], "device-token");
    // pushkey_ts: when the pusher was set, in seconds, as the spec's example and
    // Synapse give it.
    let set_at = notification["devices"][0]["pushkey_ts"].as_u64();
    assert!(
        set_at.is_some_and(|ts| ts > 1_700_000_000 && ts < 100_000_000_000),
        "{notification}"
    );
    // The gateway gets the pusher's data without its own URL.
    assert_eq!(notification["devices"][0]["data"], json!({}));
    assert_eq!(notification["content"]["body"], "ping");

    // The badge counts the rooms with unread notifications.
    let other = alice.create_room(json!({"preset": "public_chat"})).await;
    bob.join(&other).await;
    bob.send_text(&other, "ping again").await;
    let got = wait_for_pushes(&received, 2).await;
    assert_eq!(got[1]["notification"]["counts"]["unread"], 2, "{got:?}");

    let bad = json!({"kind": "http", "app_id": "a", "pushkey": "k", "app_display_name": "A", "device_display_name": "D", "lang": "en", "data": {"url": "http://example.org/wrong"}});
    assert_error(
        &alice
            .client
            .post("/_matrix/client/v3/pushers/set", bad)
            .await,
        400,
        "M_INVALID_PARAM",
    );
    let delete = json!({"kind": null, "app_id": "org.example.app", "pushkey": "device-token"});
    assert_eq!(
        alice
            .client
            .post("/_matrix/client/v3/pushers/set", delete)
            .await
            .0,
        200
    );
    assert_eq!(
        alice.client.get("/_matrix/client/v3/pushers").await.1,
        json!({"pushers": []})
    );
}

/// Registers an HTTP pusher for `user` that notifies `url`.
async fn set_pusher(user: &User, url: &str, pushkey: &str) {
    let pusher = json!({
        "kind": "http", "app_id": "org.example.app", "pushkey": pushkey,
        "app_display_name": "Example", "device_display_name": "Phone", "lang": "en",
        "data": {"url": url},
    });
    let (status, body) = user
        .client
        .post("/_matrix/client/v3/pushers/set", pusher)
        .await;
    assert_eq!(status, 200, "{body}");
}

/// What the gateway received, once it received `count` notifications (or after five
/// seconds).
async fn wait_for_pushes(received: &Arc<Mutex<Vec<Value>>>, count: usize) -> Vec<Value> {
    for _ in 0..100 {
        if received.lock().unwrap().len() >= count {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    received.lock().unwrap().clone()
}

/// Push gateways are reached over HTTPS with the server's trusted roots, including
/// `[federation] extra_ca_certificates` (a private gateway's CA).
#[tokio::test]
async fn pushers_reach_https_gateways_signed_by_a_configured_ca() {
    let ca = crate::federation::TestCa::new();
    let (certificate, private_key) = ca.leaf("gateway");
    let tls = citadel::tls_config(&citadel::config::TlsConfig {
        bind: "127.0.0.1:0".into(),
        certificate,
        private_key,
    })
    .unwrap();
    let (url, received) = gateway_over(Some(tls)).await;
    let ca_path = ca.ca_path();
    let server = TestServer::spawn_with(|c| c.federation.extra_ca_certificates = vec![ca_path]);
    let alice = server.client().register("alice", "pw-alice-1").await;
    let bob = server.client().register("bob", "pw-bob-1").await;
    set_pusher(&alice, &url, "tls-token").await;
    let room = alice.create_room(json!({"preset": "public_chat"})).await;
    bob.join(&room).await;
    let event = bob.send_text(&room, "over tls").await;
    let got = wait_for_pushes(&received, 1).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["notification"]["event_id"], event);
    assert_eq!(got[0]["notification"]["devices"][0]["pushkey"], "tls-token");
}

/// An invite reaches the invitee's push gateway (`.m.rule.invite_for_me`), although they
/// are not in the room yet.
#[tokio::test]
async fn invites_are_pushed_to_the_invitee() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let carol = server.client().register("carol", "pw-carol-1").await;
    let (url, received) = gateway().await;
    set_pusher(&carol, &url, "carol-phone").await;
    let room = alice.create_room(json!({})).await;
    let (status, body) = alice
        .client
        .post(
            &format!("/_matrix/client/v3/rooms/{}/invite", enc(&room)),
            json!({"user_id": carol.user_id}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, member) = alice
        .client
        .get(&format!(
            "/_matrix/client/v3/rooms/{}/state/m.room.member/{}?format=event",
            enc(&room),
            enc(&carol.user_id)
        ))
        .await;
    let got = wait_for_pushes(&received, 1).await;
    assert_eq!(got.len(), 1, "{got:?}");
    let notification = &got[0]["notification"];
    assert_eq!(notification["room_id"], room);
    assert_eq!(notification["devices"][0]["pushkey"], "carol-phone");
    assert_eq!(notification["type"], "m.room.member");
    assert_eq!(notification["content"]["membership"], "invite");
    assert_eq!(notification["membership"], "invite");
    assert_eq!(notification["user_is_target"], true);
    if let Some(event_id) = member["event_id"].as_str() {
        assert_eq!(notification["event_id"], event_id);
    }
}

/// A pusher belongs to the device that registered it: a password change that logs the
/// other devices out takes their pushers too, and the current device keeps its own.
#[tokio::test]
async fn pushers_go_with_their_device() {
    let server = TestServer::spawn();
    let client = server.client();
    let alice = client.register("alice", "pw-alice-1").await;
    let (_, login) = client.login("alice", "pw-alice-1").await;
    let phone = client.with_token(login["access_token"].as_str().unwrap());
    let pusher = |pushkey: &str| {
        json!({
            "kind": "http", "app_id": "org.example.app", "pushkey": pushkey,
            "app_display_name": "Example", "device_display_name": "Phone", "lang": "en",
            "data": {"url": "https://push.example.org/_matrix/push/v1/notify"},
            "append": true,
        })
    };
    for (who, key) in [(&alice.client, "laptop-key"), (&phone, "phone-key")] {
        let (status, body) = who
            .post("/_matrix/client/v3/pushers/set", pusher(key))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = alice
        .client
        .post(
            "/_matrix/client/v3/account/password",
            json!({"new_password": "pw-alice-2",
                   "auth": password_auth(&alice.user_id, "pw-alice-1", None)}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, listed) = alice.client.get("/_matrix/client/v3/pushers").await;
    let keys: Vec<&str> = listed["pushers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pushkey"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["laptop-key"]);
    assert!(listed["pushers"][0].get("device_id").is_none(), "{listed}");
}

/// A read receipt that clears a room's notifications sends the gateway the new badge, in
/// a notification that carries only counts; a receipt that changes nothing sends none.
#[tokio::test]
async fn a_read_receipt_sends_the_new_badge() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let bob = server.client().register("bob", "pw-bob-1").await;
    let (url, received) = gateway().await;
    set_pusher(&alice, &url, "badge-phone").await;
    let room = alice.create_room(json!({"preset": "public_chat"})).await;
    bob.join(&room).await;
    let event = bob.send_text(&room, "read me").await;
    let got = wait_for_pushes(&received, 1).await;
    assert_eq!(got[0]["notification"]["counts"]["unread"], 1, "{got:?}");

    let receipt = format!(
        "/_matrix/client/v3/rooms/{}/receipt/m.read/{}",
        enc(&room),
        enc(&event)
    );
    let (status, body) = alice.client.post(&receipt, json!({})).await;
    assert_eq!(status, 200, "{body}");
    let got = wait_for_pushes(&received, 2).await;
    assert_eq!(got.len(), 2, "{got:?}");
    let badge = &got[1]["notification"];
    assert_eq!(badge["counts"], json!({"unread": 0}));
    assert_eq!(badge["id"], "");
    assert_eq!(badge["type"], Value::Null);
    assert!(badge.get("event_id").is_none(), "{badge}");
    assert_eq!(badge["devices"][0]["pushkey"], "badge-phone");
    assert_eq!(badge["devices"][0]["app_id"], "org.example.app");
    assert!(badge["devices"][0]["data"].get("url").is_none(), "{badge}");

    // The same receipt again clears nothing: no further request.
    let (status, _) = alice.client.post(&receipt, json!({})).await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(received.lock().unwrap().len(), 2);
}
