use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn display_name_avatar_and_custom_fields() {
    let server = TestServer::spawn();
    let client = server.client();
    let alice = client.register("alice", "pw-alice-1").await;
    let base = "/_matrix/client/v3/profile/@alice:localhost";

    let (status, _) = alice
        .client
        .put(
            &format!("{base}/displayname"),
            json!({"displayname": "Alice A."}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = alice
        .client
        .put(
            &format!("{base}/avatar_url"),
            json!({"avatar_url": "mxc://localhost/abc"}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = alice
        .client
        .put(&format!("{base}/m.tz"), json!({"m.tz": "Europe/Paris"}))
        .await;
    assert_eq!(status, 200);

    // Unauthenticated reads work, with the user ID percent-encoded or not.
    let (status, profile) = client
        .get("/_matrix/client/v3/profile/%40alice%3Alocalhost")
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        profile,
        json!({"displayname": "Alice A.", "avatar_url": "mxc://localhost/abc", "m.tz": "Europe/Paris"})
    );
    assert_eq!(
        client.get(&format!("{base}/displayname")).await.1,
        json!({"displayname": "Alice A."})
    );
    assert_eq!(
        client
            .get("/_matrix/client/r0/profile/@alice:localhost/avatar_url")
            .await
            .1,
        json!({"avatar_url": "mxc://localhost/abc"})
    );

    let (status, _) = alice
        .client
        .delete(&format!("{base}/m.tz"), json!({}))
        .await;
    assert_eq!(status, 200);
    assert_error(
        &client.get(&format!("{base}/m.tz")).await,
        404,
        "M_NOT_FOUND",
    );
}

#[tokio::test]
async fn profile_errors() {
    let server = TestServer::spawn();
    let client = server.client();
    let alice = client.register("alice", "pw-alice-1").await;
    let bob = client.register("bob", "pw-bob-1").await;
    let base = "/_matrix/client/v3/profile/@alice:localhost";

    assert_error(
        &client
            .get("/_matrix/client/v3/profile/@nobody:localhost")
            .await,
        404,
        "M_NOT_FOUND",
    );
    assert_error(
        &client
            .get("/_matrix/client/v3/profile/@alice:other.org")
            .await,
        404,
        "M_NOT_FOUND",
    );
    assert_error(
        &client.get("/_matrix/client/v3/profile/not-a-user-id").await,
        400,
        "M_INVALID_PARAM",
    );
    assert_error(
        &bob.client
            .put(
                &format!("{base}/displayname"),
                json!({"displayname": "pwned"}),
            )
            .await,
        403,
        "M_FORBIDDEN",
    );
    assert_error(
        &client
            .put(&format!("{base}/displayname"), json!({"displayname": "x"}))
            .await,
        401,
        "M_MISSING_TOKEN",
    );
    assert_error(
        &alice
            .client
            .put(&format!("{base}/displayname"), json!({}))
            .await,
        400,
        "M_MISSING_PARAM",
    );
    assert_error(
        &alice
            .client
            .put(
                &format!("{base}/displayname"),
                json!({"displayname": "x".repeat(300)}),
            )
            .await,
        400,
        "M_INVALID_PARAM",
    );
    let long_key = "k".repeat(300);
    assert_error(
        &alice
            .client
            .put(
                &format!("{base}/{long_key}"),
                json!({long_key.clone(): "v"}),
            )
            .await,
        400,
        "M_KEY_TOO_LARGE",
    );
    let big = "v".repeat(40_000);
    assert_eq!(
        alice
            .client
            .put(
                &format!("{base}/org.example.one"),
                json!({"org.example.one": big})
            )
            .await
            .0,
        200
    );
    assert_error(
        &alice
            .client
            .put(
                &format!("{base}/org.example.two"),
                json!({"org.example.two": big}),
            )
            .await,
        400,
        "M_PROFILE_TOO_LARGE",
    );
    // Nothing of the refused writes was stored.
    assert_eq!(
        client.get(&format!("{base}/displayname")).await.1,
        json!({"displayname": "alice"})
    );
}
