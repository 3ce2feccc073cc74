//! Push rules, notification counts and /notifications (pushers: `pushers.rs`).

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

/// A message naming the user in its body highlights when it carries no `m.mentions`
/// (a client from before intentional mentions), and not when it does.
#[tokio::test]
async fn body_mentions_highlight_only_without_m_mentions() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let bob = server.client().register("bob", "pw-bob-1").await;
    let room = alice.create_room(json!({"preset": "public_chat"})).await;
    bob.join(&room).await;
    let send = |txn: &str, content: serde_json::Value| {
        let path = format!(
            "/_matrix/client/v3/rooms/{}/send/m.room.message/{txn}",
            enc(&room)
        );
        let client = bob.client.clone();
        async move { assert_eq!(client.put(&path, content).await.0, 200) }
    };
    send(
        "old",
        json!({"msgtype": "m.text", "body": "ping @alice:localhost"}),
    )
    .await;
    let counts =
        |body: serde_json::Value| body["rooms"]["join"][&room]["unread_notifications"].clone();
    assert_eq!(
        counts(alice.sync(None, 0).await),
        json!({"notification_count": 1, "highlight_count": 1})
    );
    send(
        "new",
        json!({"msgtype": "m.text", "body": "about alice", "m.mentions": {}}),
    )
    .await;
    assert_eq!(
        counts(alice.sync(None, 0).await),
        json!({"notification_count": 2, "highlight_count": 1})
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
    // `/pushrules` without its slash is no endpoint at all.
    assert_error(&alice.client.get(base).await, 404, "M_UNRECOGNIZED");
    // Old clients' body mentions highlight (the legacy rule Synapse keeps), unless the
    // event carries `m.mentions`.
    let (_, content) = alice.client.get(&format!("{base}/global/content/")).await;
    assert_eq!(content[0]["rule_id"], ".m.rule.contains_user_name");
    assert_eq!(content[0]["pattern"], "alice");
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
