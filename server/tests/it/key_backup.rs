//! Server-side key backup (`/room_keys`): versions, etags and counts, and the rule that
//! decides whether an uploaded session key replaces the stored one.

use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn key_backup_versions_and_replacement_rules() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let c = &alice.client;
    assert_error(
        &c.get("/_matrix/client/v3/room_keys/version").await,
        404,
        "M_NOT_FOUND",
    );
    let auth_data = json!({"public_key": "abc", "signatures": {}});
    let (_, created) = c
        .post(
            "/_matrix/client/v3/room_keys/version",
            json!({"algorithm": "m.megolm_backup.v1.curve25519-aes-sha2", "auth_data": auth_data}),
        )
        .await;
    assert_eq!(created["version"], "1");
    let (_, latest) = c.get("/_matrix/client/v3/room_keys/version").await;
    assert_eq!(
        (
            latest["version"].clone(),
            latest["count"].clone(),
            latest["etag"].clone()
        ),
        (json!("1"), json!(0), json!("0"))
    );

    let key = |index: u64, forwarded: u64, verified: bool, tag: &str| json!({"first_message_index": index, "forwarded_count": forwarded, "is_verified": verified, "session_data": {"tag": tag}});
    let session = "/_matrix/client/v3/room_keys/keys/!room:localhost/sess1?version=1";
    let (status, put) = c.put(session, key(5, 0, false, "first")).await;
    assert_eq!(status, 200, "{put}");
    assert_eq!(put["count"], 1);
    // A later index does not replace; an earlier one does; verified beats unverified.
    c.put(session, key(9, 0, false, "later")).await;
    assert_eq!(c.get(session).await.1["session_data"]["tag"], "first");
    c.put(session, key(2, 0, false, "earlier")).await;
    assert_eq!(c.get(session).await.1["session_data"]["tag"], "earlier");
    c.put(session, key(7, 3, true, "verified")).await;
    assert_eq!(c.get(session).await.1["session_data"]["tag"], "verified");
    c.put(session, key(0, 0, false, "unverified")).await;
    assert_eq!(c.get(session).await.1["session_data"]["tag"], "verified");

    let bulk =
        json!({"rooms": {"!other:localhost": {"sessions": {"s2": key(0, 0, true, "bulk")}}}});
    let (_, put) = c
        .put("/_matrix/client/v3/room_keys/keys?version=1", bulk)
        .await;
    assert_eq!(put["count"], 2);
    let (_, all) = c.get("/_matrix/client/v3/room_keys/keys?version=1").await;
    assert_eq!(
        all["rooms"]["!other:localhost"]["sessions"]["s2"]["session_data"]["tag"],
        "bulk"
    );
    let etag = c.get("/_matrix/client/v3/room_keys/version").await.1["etag"].clone();
    assert_ne!(etag, json!("0"));

    // A new version makes the old one stale for writes.
    c.post(
        "/_matrix/client/v3/room_keys/version",
        json!({"algorithm": "m.megolm_backup.v1.curve25519-aes-sha2", "auth_data": auth_data}),
    )
    .await;
    let stale = c.put(session, key(0, 0, true, "stale")).await;
    assert_error(&stale, 403, "M_WRONG_ROOM_KEYS_VERSION");
    assert_eq!(stale.1["current_version"], "2");
    assert_error(
        &c.get("/_matrix/client/v3/room_keys/keys?version=99").await,
        404,
        "M_NOT_FOUND",
    );
    assert_error(
        &c.get("/_matrix/client/v3/room_keys/keys").await,
        400,
        "M_MISSING_PARAM",
    );

    let (status, _) = c
        .delete(
            "/_matrix/client/v3/room_keys/keys/!room:localhost?version=1",
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    assert_error(&c.get(session).await, 404, "M_NOT_FOUND");
    assert_eq!(
        c.delete("/_matrix/client/v3/room_keys/version/2", json!({}))
            .await
            .0,
        200
    );
    assert_error(
        &c.get("/_matrix/client/v3/room_keys/version/2").await,
        404,
        "M_NOT_FOUND",
    );
    assert_error(
        &c.get("/_matrix/client/v3/room_keys/version").await,
        404,
        "M_NOT_FOUND",
    );
    let update = c
        .put(
            "/_matrix/client/v3/room_keys/version/1",
            json!({"algorithm": "other", "auth_data": {}}),
        )
        .await;
    assert_error(&update, 400, "M_INVALID_PARAM");
    // By default `auth_data` must be the object the spec describes.
    let opaque = c
        .post(
            "/_matrix/client/v3/room_keys/version",
            json!({"algorithm": "m.megolm_backup.v1", "auth_data": "anopaquestring"}),
        )
        .await;
    assert_error(&opaque, 400, "M_MISSING_PARAM");
}
