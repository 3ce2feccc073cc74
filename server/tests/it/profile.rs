use serde_json::{Value, json};

use crate::common::*;

#[tokio::test]
async fn display_name_avatar_and_custom_fields() {
    let server = TestServer::spawn();
    let client = server.client();
    let alice = client.register("alice", "pw-alice-1").await;
    let base = "/_matrix/client/v3/profile/@alice:localhost";

    // Before anything is set: the avatar is an empty answer (as from Synapse), a custom
    // field is not found.
    let (status, body) = alice.client.get(&format!("{base}/avatar_url")).await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({}));
    let answer = alice.client.get(&format!("{base}/m.tz")).await;
    assert_error(&answer, 404, "M_NOT_FOUND");

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

#[tokio::test]
async fn profile_changes_reach_every_joined_room() {
    let server = TestServer::spawn();
    let client = server.client();
    let (alice, bob, room) = client.alice_and_bob_in_a_public_room().await;
    let second = alice.create_room(json!({"preset": "public_chat"})).await;
    let left = alice.create_room(json!({"preset": "public_chat"})).await;
    for other in [&second, &left] {
        assert_eq!(bob.join(other).await.0, 200);
    }
    let leave = format!("/_matrix/client/v3/rooms/{}/leave", enc(&left));
    assert_eq!(alice.client.post(&leave, json!({})).await.0, 200);
    let since = bob.sync(None, 0).await["next_batch"]
        .as_str()
        .unwrap()
        .to_owned();

    let field = |name: &str| format!("/_matrix/client/v3/profile/{}/{name}", enc(&alice.user_id));
    let (status, body) = alice
        .client
        .put(&field("displayname"), json!({"displayname": "Alicia"}))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = alice
        .client
        .put(
            &field("avatar_url"),
            json!({"avatar_url": "mxc://localhost/pic"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let member_in = |room: &str| {
        let path = format!(
            "/_matrix/client/v3/rooms/{}/state/m.room.member/{}",
            enc(room),
            enc(&alice.user_id)
        );
        let client = &bob.client;
        async move { client.get(&path).await }
    };
    for joined in [&room, &second] {
        let (status, member) = member_in(joined).await;
        assert_eq!(status, 200, "{member}");
        assert_eq!(
            member,
            json!({"membership": "join", "displayname": "Alicia", "avatar_url": "mxc://localhost/pic"})
        );
    }
    // A room alice left keeps her last member event.
    assert_eq!(member_in(&left).await.1["membership"], "leave");

    // Bob, in the first room, sees the change arrive as member events.
    let body = bob.sync(Some(&since), 0).await;
    let names: Vec<&Value> = body["rooms"]["join"][&room]["timeline"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "m.room.member" && e["state_key"] == alice.user_id.as_str())
        .map(|e| &e["content"]["displayname"])
        .collect();
    assert_eq!(names, [&json!("Alicia"), &json!("Alicia")], "{body}");

    // Removing a field removes it from the member events.
    let (status, _) = alice.client.delete(&field("avatar_url"), json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(
        member_in(&room).await.1,
        json!({"membership": "join", "displayname": "Alicia"})
    );
}
