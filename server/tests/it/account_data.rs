use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn global_and_room_account_data_round_trip() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let global = "/_matrix/client/v3/user/@alice:localhost/account_data/org.example.settings";
    let room = "/_matrix/client/v3/user/@alice:localhost/rooms/!room:localhost/account_data/org.example.settings";

    assert_error(&alice.client.get(global).await, 404, "M_NOT_FOUND");
    assert_eq!(
        alice.client.put(global, json!({"theme": "dark"})).await.0,
        200
    );
    assert_eq!(alice.client.put(room, json!({"pinned": true})).await.0, 200);
    assert_eq!(alice.client.get(global).await.1, json!({"theme": "dark"}));
    assert_eq!(alice.client.get(room).await.1, json!({"pinned": true}));
    assert_eq!(
        alice.client.put(global, json!({"theme": "light"})).await.0,
        200
    );
    assert_eq!(alice.client.get(global).await.1, json!({"theme": "light"}));
    assert_eq!(
        alice.client.get(&global.replace("/v3/", "/r0/")).await.1,
        json!({"theme": "light"})
    );
}

#[tokio::test]
async fn account_data_errors() {
    let server = TestServer::spawn();
    let client = server.client();
    let alice = client.register("alice", "pw-alice-1").await;
    let bob = client.register("bob", "pw-bob-1").await;
    let global = "/_matrix/client/v3/user/@alice:localhost/account_data/org.example.x";

    assert_error(
        &bob.client.put(global, json!({"a": 1})).await,
        403,
        "M_FORBIDDEN",
    );
    assert_error(&bob.client.get(global).await, 403, "M_FORBIDDEN");
    assert_error(&client.get(global).await, 401, "M_MISSING_TOKEN");
    assert_error(
        &alice.client.put(global, json!([1, 2])).await,
        400,
        "M_BAD_JSON",
    );
    assert_error(
        &alice
            .client
            .raw(reqwest::Method::PUT, global, b"{oops")
            .await,
        400,
        "M_NOT_JSON",
    );
    assert_error(
        &alice
            .client
            .put(
                "/_matrix/client/v3/user/@alice:localhost/account_data/m.push_rules",
                json!({}),
            )
            .await,
        405,
        "M_BAD_JSON",
    );
    assert_error(
        &alice
            .client
            .put("/_matrix/client/v3/user/@alice:localhost/rooms/!r:localhost/account_data/m.fully_read", json!({"event_id": "$e"}))
            .await,
        405,
        "M_BAD_JSON",
    );
    assert_error(
        &alice
            .client
            .put(
                "/_matrix/client/v3/user/@alice:localhost/rooms/not-a-room/account_data/x",
                json!({}),
            )
            .await,
        400,
        "M_INVALID_PARAM",
    );
}
