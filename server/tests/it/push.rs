//! Push rules, notification counts, /notifications and pushers.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::*;

#[tokio::test]
async fn default_rules_and_rule_management() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let (status, all) = alice.client.get("/_matrix/client/v3/pushrules/").await;
    assert_eq!(status, 200, "{all}");
    let overrides: Vec<&str> = all["global"]["override"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["rule_id"].as_str().unwrap())
        .collect();
    assert!(
        overrides.contains(&".m.rule.master") && overrides.contains(&".m.rule.suppress_notices"),
        "{overrides:?}"
    );
    assert!(
        all["global"]["underride"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["rule_id"] == ".m.rule.message")
    );

    let rule = "/_matrix/client/v3/pushrules/global/room/!quiet:localhost";
    assert_error(&alice.client.get(rule).await, 404, "M_NOT_FOUND");
    assert_eq!(alice.client.put(rule, json!({"actions": []})).await.0, 200);
    let (_, fetched) = alice.client.get(rule).await;
    assert_eq!(fetched["rule_id"], "!quiet:localhost");
    assert_eq!(
        alice
            .client
            .put(&format!("{rule}/enabled"), json!({"enabled": false}))
            .await
            .0,
        200
    );
    assert_eq!(
        alice.client.get(&format!("{rule}/enabled")).await.1,
        json!({"enabled": false})
    );
    assert_eq!(
        alice
            .client
            .put(&format!("{rule}/actions"), json!({"actions": ["notify"]}))
            .await
            .0,
        200
    );
    assert_eq!(
        alice.client.get(&format!("{rule}/actions")).await.1,
        json!({"actions": ["notify"]})
    );
    assert_eq!(alice.client.delete(rule, json!({})).await.0, 200);
    assert_error(&alice.client.get(rule).await, 404, "M_NOT_FOUND");

    let master = "/_matrix/client/v3/pushrules/global/override/.m.rule.master";
    assert_error(
        &alice.client.delete(master, json!({})).await,
        400,
        "M_INVALID_PARAM",
    );
    assert_eq!(
        alice
            .client
            .put(&format!("{master}/enabled"), json!({"enabled": true}))
            .await
            .0,
        200
    );
    assert_error(
        &alice
            .client
            .put(
                "/_matrix/client/v3/pushrules/global/content/x?before=nope",
                json!({"actions": [], "pattern": "x"}),
            )
            .await,
        404,
        "M_NOT_FOUND",
    );
    // The rules travel to other devices as account data.
    let sync = alice.sync(None, 0).await;
    assert!(
        sync["account_data"]["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "m.push_rules")
    );
}

#[tokio::test]
async fn messages_count_as_unread_until_read_and_mentions_highlight() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let bob = server.client().register("bob", "pw-bob-1").await;
    let room = alice.create_room(json!({"preset": "public_chat"})).await;
    bob.join(&room).await;
    bob.send_text(&room, "hello").await;
    let path = format!(
        "/_matrix/client/v3/rooms/{}/send/m.room.message/mention",
        enc(&room)
    );
    let content = json!({"msgtype": "m.text", "body": "hey alice, look", "m.mentions": {"user_ids": [alice.user_id]}});
    let (_, sent) = bob.client.put(&path, content).await;
    let mention = sent["event_id"].as_str().unwrap().to_owned();

    let body = alice.sync(None, 0).await;
    let counts = &body["rooms"]["join"][&room]["unread_notifications"];
    assert_eq!(counts["notification_count"], 2, "{counts}");
    assert_eq!(counts["highlight_count"], 1);
    // The sender's own messages do not notify the sender.
    assert_eq!(
        bob.sync(None, 0).await["rooms"]["join"][&room]["unread_notifications"]["notification_count"],
        0
    );

    let (status, list) = alice.client.get("/_matrix/client/v3/notifications").await;
    assert_eq!(status, 200, "{list}");
    let notifications = list["notifications"].as_array().unwrap();
    assert_eq!(notifications.len(), 2);
    assert_eq!(notifications[0]["event"]["event_id"], mention);
    assert_eq!(notifications[0]["read"], false);
    let (_, highlights) = alice
        .client
        .get("/_matrix/client/v3/notifications?only=highlight")
        .await;
    assert_eq!(highlights["notifications"].as_array().unwrap().len(), 1);

    let receipt = format!(
        "/_matrix/client/v3/rooms/{}/receipt/m.read/{}",
        enc(&room),
        enc(&mention)
    );
    alice.client.post(&receipt, json!({})).await;
    let body = alice.sync(None, 0).await;
    assert_eq!(
        body["rooms"]["join"][&room]["unread_notifications"],
        json!({"notification_count": 0, "highlight_count": 0})
    );
    let (_, list) = alice.client.get("/_matrix/client/v3/notifications").await;
    assert_eq!(list["notifications"][0]["read"], true);
}

#[tokio::test]
async fn rule_and_display_name_changes_apply_to_the_next_event() {
    let server = TestServer::spawn();
    let client = server.client();
    let (alice, bob, room) = client.alice_and_bob_in_a_public_room().await;
    let counts = |body: Value| body["rooms"]["join"][&room]["unread_notifications"].clone();
    bob.send_text(&room, "hello").await;
    assert_eq!(counts(alice.sync(None, 0).await)["notification_count"], 1);

    // Rules: with the message rules off, a plain message no longer notifies.
    for rule in [".m.rule.room_one_to_one", ".m.rule.message"] {
        let path = format!("/_matrix/client/v3/pushrules/global/underride/{rule}/enabled");
        let (status, body) = alice.client.put(&path, json!({"enabled": false})).await;
        assert_eq!(status, 200, "{body}");
    }
    bob.send_text(&room, "quiet now").await;
    assert_eq!(counts(alice.sync(None, 0).await)["notification_count"], 1);

    // Display names: a rule on alice's display name follows her renames.
    let rule = "/_matrix/client/v3/pushrules/global/override/my-name";
    let highlight = json!({
        "conditions": [{"kind": "contains_display_name"}],
        "actions": ["notify", {"set_tweak": "highlight"}],
    });
    assert_eq!(alice.client.put(rule, highlight).await.0, 200);
    let rename = |name: &str| {
        let path = format!(
            "/_matrix/client/v3/profile/{}/displayname",
            enc(&alice.user_id)
        );
        let body = json!({"displayname": name});
        let client = &alice.client;
        async move { assert_eq!(client.put(&path, body).await.0, 200) }
    };
    rename("Alicia").await;
    let member = format!(
        "/_matrix/client/v3/rooms/{}/state/m.room.member/{}",
        enc(&room),
        enc(&alice.user_id)
    );
    assert_eq!(alice.client.get(&member).await.1["displayname"], "Alicia");
    bob.send_text(&room, "hi Alicia").await;
    assert_eq!(counts(alice.sync(None, 0).await)["highlight_count"], 1);
    rename("Zed").await;
    bob.send_text(&room, "hi Alicia").await;
    assert_eq!(counts(alice.sync(None, 0).await)["highlight_count"], 1);
    bob.send_text(&room, "hi Zed").await;
    let after = counts(alice.sync(None, 0).await);
    assert_eq!(after["highlight_count"], 2, "{after}");
    assert_eq!(after["notification_count"], 3, "{after}");
}

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

#[tokio::test]
async fn thread_notifications_are_counted_per_thread() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let bob = server.client().register("bob", "pw-bob-1").await;
    let room = alice.create_room(json!({"preset": "public_chat"})).await;
    bob.join(&room).await;
    let root = bob.send_text(&room, "root").await;
    let path = format!(
        "/_matrix/client/v3/rooms/{}/send/m.room.message/thr1",
        enc(&room)
    );
    let (_, reply) = bob.client.put(&path, json!({"msgtype": "m.text", "body": "in thread", "m.relates_to": {"rel_type": "m.thread", "event_id": root}})).await;
    let reply = reply["event_id"].as_str().unwrap().to_owned();

    let filter = enc(r#"{"room":{"timeline":{"unread_thread_notifications":true}}}"#);
    let sync = |client: TestClient| {
        let filter = filter.clone();
        async move {
            client
                .get(&format!("/_matrix/client/v3/sync?filter={filter}"))
                .await
                .1
        }
    };
    let body = sync(alice.client.clone()).await;
    let joined = &body["rooms"]["join"][&room];
    assert_eq!(
        joined["unread_notifications"]["notification_count"], 1,
        "{joined}"
    );
    assert_eq!(
        joined["unread_thread_notifications"][&root]["notification_count"],
        1
    );

    // A threaded receipt clears the thread only.
    let receipt = format!(
        "/_matrix/client/v3/rooms/{}/receipt/m.read/{}",
        enc(&room),
        enc(&reply)
    );
    assert_eq!(
        alice
            .client
            .post(&receipt, json!({"thread_id": root}))
            .await
            .0,
        200
    );
    let body = sync(alice.client.clone()).await;
    let joined = &body["rooms"]["join"][&room];
    assert_eq!(joined["unread_notifications"]["notification_count"], 1);
    assert!(
        joined["unread_thread_notifications"].get(&root).is_none(),
        "{joined}"
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
    if let Some(event_id) = member["event_id"].as_str() {
        assert_eq!(notification["event_id"], event_id);
    }
}

/// Someone else's join notifies nobody on the default rules (`.m.rule.member_event`), but
/// it does notify a member whose own rules ask for it — and that member is still asked
/// once the room's member list and rules are cached (joins skip evaluating silent users).
#[actix_web::test]
async fn joins_notify_only_members_whose_rules_ask_for_it() {
    let server = TestServer::spawn();
    let client = server.client();
    let (alice, bob, room) = client.alice_and_bob_in_a_public_room().await;
    let count = |body: Value| {
        body["rooms"]["join"][&room]["unread_notifications"]["notification_count"].clone()
    };
    let carol = client
        .register(&format!("carol{}", rand_suffix()), "pw-carol-1")
        .await;
    assert_eq!(carol.join(&room).await.0, 200);
    assert_eq!(count(alice.sync(None, 0).await), 0);
    assert_eq!(count(bob.sync(None, 0).await), 0);

    // Bob turns membership events into notifications; alice keeps the defaults.
    let rule = "/_matrix/client/v3/pushrules/global/override/.m.rule.member_event/actions";
    let (status, body) = bob.client.put(rule, json!({"actions": ["notify"]})).await;
    assert_eq!(status, 200, "{body}");
    let dave = client
        .register(&format!("dave{}", rand_suffix()), "pw-dave-1")
        .await;
    assert_eq!(dave.join(&room).await.0, 200);
    assert_eq!(count(bob.sync(None, 0).await), 1);
    assert_eq!(count(alice.sync(None, 0).await), 0);
    let (status, body) = bob.client.get("/_matrix/client/v3/notifications").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["notifications"][0]["event"]["type"], "m.room.member");
    assert_eq!(
        body["notifications"][0]["event"]["state_key"],
        dave.user_id.as_str()
    );
}

/// One kind's rules come as a list; a path naming no valid scope, kind, rule or
/// attribute is a malformed request (400 M_UNRECOGNIZED), not a missing page.
#[tokio::test]
async fn push_rule_paths_are_checked() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let base = "/_matrix/client/v3/pushrules";
    let (status, rules) = alice.client.get(&format!("{base}/global/override/")).await;
    assert_eq!(status, 200);
    assert_eq!(rules[0]["rule_id"], ".m.rule.master");
    let (status, rules) = alice.client.get(&format!("{base}/global/sender/")).await;
    assert_eq!(status, 200);
    assert_eq!(rules, json!([]));
    let rule = json!({"actions": ["notify"]});
    for (method, path) in [
        (Method::PUT, format!("{base}/")),
        (Method::PUT, format!("{base}/not_a_scope/room/%21r%3Ax")),
        (Method::PUT, format!("{base}/global")),
        (Method::PUT, format!("{base}/global/room")),
        (Method::GET, format!("{base}/global")),
        (Method::GET, format!("{base}/global/not_a_kind/")),
        (
            Method::GET,
            format!("{base}/global/override/.m.rule.master/not_an_attr"),
        ),
    ] {
        let answer = alice
            .client
            .request(method.clone(), &path, Some(rule.clone()))
            .await;
        assert_error(&answer, 400, "M_UNRECOGNIZED");
    }
    // Actions the spec does not know are refused, on a new rule and on its actions;
    // the legacy no-op actions are still taken.
    let rule_path = format!("{base}/global/content/shout");
    assert_error(
        &alice
            .client
            .put(
                &rule_path,
                json!({"pattern": "shout", "actions": ["explode"]}),
            )
            .await,
        400,
        "M_UNKNOWN",
    );
    assert_eq!(alice.client.get(&rule_path).await.0, 404);
    let (status, body) = alice
        .client
        .put(
            &rule_path,
            json!({"pattern": "shout", "actions": ["dont_notify"]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_error(
        &alice
            .client
            .put(
                &format!("{rule_path}/actions"),
                json!({"actions": [{"set_tweak": "highlight"}, "boom"]}),
            )
            .await,
        400,
        "M_UNKNOWN",
    );
    let (_, kept) = alice.client.get(&format!("{rule_path}/actions")).await;
    assert_eq!(kept["actions"], json!(["dont_notify"]));
    // A well-formed path to a rule that does not exist is still not found.
    let answer = alice
        .client
        .get(&format!("{base}/global/room/%21r%3Ax"))
        .await;
    assert_error(&answer, 404, "M_NOT_FOUND");
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
