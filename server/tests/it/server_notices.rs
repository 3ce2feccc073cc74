//! Server notices: the admin API sends, the user finds them in a tagged room they
//! cannot write in.

use serde_json::json;

use crate::admin_api::admin;
use crate::common::*;

#[tokio::test]
async fn admins_send_notices_into_a_room_of_the_user_s_own() {
    let server = TestServer::spawn();
    let root = admin(&server).await;
    let alice = server.client().register("alice", "pw-alice-1").await;
    let c = &root.client;
    let notice = |body: &str| json!({"user_id": alice.user_id, "content": {"msgtype": "m.server_notice", "body": body}});
    let (status, sent) = c
        .post(
            "/_synapse/admin/v1/send_server_notice",
            notice("Maintenance tonight"),
        )
        .await;
    assert_eq!(status, 200, "{sent}");
    assert!(sent["event_id"].as_str().unwrap().starts_with('$'));

    // Alice is invited to a room named as configured, from the system user.
    let sync = alice.sync(None, 0).await;
    let invites = sync["rooms"]["invite"].as_object().unwrap();
    assert_eq!(invites.len(), 1, "{sync}");
    let (room, invite) = invites.iter().next().unwrap();
    let events = invite["invite_state"]["events"].as_array().unwrap();
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "m.room.name" && e["content"]["name"] == "Server Notices")
    );
    assert!(events.iter().any(|e| e["sender"] == "@server:localhost"));
    assert_eq!(alice.join(room).await.0, 200);
    let (_, tags) = alice
        .client
        .get(&format!(
            "/_matrix/client/v3/user/{}/rooms/{}/tags",
            enc(&alice.user_id),
            enc(room)
        ))
        .await;
    assert!(tags["tags"].get("m.server_notice").is_some(), "{tags}");
    let (_, messages) = alice
        .client
        .get(&format!(
            "/_matrix/client/v3/rooms/{}/messages?dir=b&limit=5",
            enc(room)
        ))
        .await;
    let notice_event = messages["chunk"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["content"]["msgtype"] == "m.server_notice")
        .expect("the notice");
    assert_eq!(notice_event["content"]["body"], "Maintenance tonight");
    assert_eq!(notice_event["sender"], "@server:localhost");
    // She cannot answer in it.
    let response = alice
        .client
        .put(
            &format!(
                "/_matrix/client/v3/rooms/{}/send/m.room.message/t1",
                enc(room)
            ),
            json!({"msgtype": "m.text", "body": "hello?"}),
        )
        .await;
    assert_error(&response, 403, "M_FORBIDDEN");

    // The next notice goes to the same room; a retransmitted PUT is sent once.
    let path = "/_synapse/admin/v1/send_server_notice/txn-1";
    let (status, first) = c.put(path, notice("Second")).await;
    assert_eq!(status, 200, "{first}");
    let (_, again) = c.put(path, notice("Second")).await;
    assert_eq!(first, again);
    let (_, messages) = alice
        .client
        .get(&format!(
            "/_matrix/client/v3/rooms/{}/messages?dir=b&limit=10",
            enc(room)
        ))
        .await;
    let seconds = messages["chunk"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["content"]["body"] == "Second")
        .count();
    assert_eq!(seconds, 1);
    assert_eq!(alice.sync(None, 0).await["rooms"]["invite"], json!({}));

    // Errors.
    let to = |user: &str| json!({"user_id": user, "content": {"msgtype": "m.text", "body": "x"}});
    let send = "/_synapse/admin/v1/send_server_notice";
    assert_error(
        &c.post(send, to("@nobody:localhost")).await,
        404,
        "M_NOT_FOUND",
    );
    assert_error(
        &c.post(send, to("@x:elsewhere.org")).await,
        400,
        "M_UNKNOWN",
    );
    assert_error(
        &c.post(send, json!({"user_id": alice.user_id, "content": "text"}))
            .await,
        400,
        "M_BAD_JSON",
    );
    assert_error(
        &c.post(send, json!({"content": {}})).await,
        400,
        "M_MISSING_PARAM",
    );
}

#[tokio::test]
async fn a_regular_account_is_never_taken_for_the_system_user() {
    let server = TestServer::spawn();
    let root = admin(&server).await;
    let _squatter = server.client().register("server", "pw-server-1").await;
    let alice = server.client().register("alice", "pw-alice-1").await;
    let response = root
        .client
        .post(
            "/_synapse/admin/v1/send_server_notice",
            json!({"user_id": alice.user_id, "content": {"msgtype": "m.text", "body": "x"}}),
        )
        .await;
    assert_error(&response, 409, "M_UNKNOWN");
    assert_eq!(alice.sync(None, 0).await["rooms"]["invite"], json!({}));
}
