use serde_json::json;

use crate::common::*;

const WHOAMI: &str = "/_matrix/client/v3/account/whoami";

#[tokio::test]
async fn whoami_names_user_and_device() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let (status, body) = alice.client.get(WHOAMI).await;
    assert_eq!(status, 200);
    // `is_guest` defaults to false and is left out, as the spec allows.
    assert_eq!(
        body,
        json!({"user_id": alice.user_id, "device_id": alice.device_id})
    );
}

#[tokio::test]
async fn changing_the_password_logs_out_other_devices_by_default() {
    let server = TestServer::spawn();
    let client = server.client();
    let alice = client.register("alice", "pw-alice-1").await;
    let (_, other) = client.login("alice", "pw-alice-1").await;
    let other = client.with_token(other["access_token"].as_str().unwrap());
    let path = "/_matrix/client/v3/account/password";

    let (status, challenge) = alice
        .client
        .post(path, json!({"new_password": "pw-alice-2"}))
        .await;
    assert_eq!(status, 401);
    let session = challenge["session"].as_str().unwrap();
    let (status, body) = alice
        .client
        .post(path, json!({"new_password": "pw-alice-2", "auth": password_auth(&alice.user_id, "pw-alice-1", Some(session))}))
        .await;
    assert_eq!((status.as_u16(), body), (200, json!({})));

    assert_eq!(
        alice.client.get(WHOAMI).await.0,
        200,
        "the calling device stays logged in"
    );
    assert_error(&other.get(WHOAMI).await, 401, "M_UNKNOWN_TOKEN");
    assert_error(
        &client.login("alice", "pw-alice-1").await,
        403,
        "M_FORBIDDEN",
    );
    assert_eq!(client.login("alice", "pw-alice-2").await.0, 200);

    // logout_devices: false keeps the other sessions.
    let (_, third) = client.login("alice", "pw-alice-2").await;
    let third = client.with_token(third["access_token"].as_str().unwrap());
    let (status, _) = alice
        .client
        .post(
            path,
            json!({"new_password": "pw-alice-3", "logout_devices": false, "auth": password_auth("alice", "pw-alice-2", None)}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(third.get(WHOAMI).await.0, 200);
    assert_error(
        &client.post(path, json!({"new_password": "x"})).await,
        401,
        "M_MISSING_TOKEN",
    );
}

#[tokio::test]
async fn deactivation_is_final() {
    let server = TestServer::spawn();
    let client = server.client();
    let alice = client.register("alice", "pw-alice-1").await;
    let path = "/_matrix/client/v3/account/deactivate";
    let (status, _) = alice.client.post(path, json!({})).await;
    assert_eq!(status, 401);
    let (status, body) = alice
        .client
        .post(
            path,
            json!({"auth": password_auth("alice", "pw-alice-1", None)}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id_server_unbind_result"], "no-support");

    assert_error(&alice.client.get(WHOAMI).await, 401, "M_UNKNOWN_TOKEN");
    assert_error(
        &client.login("alice", "pw-alice-1").await,
        403,
        "M_USER_DEACTIVATED",
    );
    assert_error(&client.login("alice", "wrong").await, 403, "M_FORBIDDEN");
    assert_error(
        &client
            .post(
                "/_matrix/client/v3/register",
                json!({"username": "alice", "password": "x"}),
            )
            .await,
        400,
        "M_USER_IN_USE",
    );
    assert_error(
        &client
            .get("/_matrix/client/v3/profile/@alice:localhost/displayname")
            .await,
        404,
        "M_NOT_FOUND",
    );
}

#[tokio::test]
async fn third_party_ids_are_an_empty_list() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let (status, body) = alice.client.get("/_matrix/client/v3/account/3pid").await;
    assert_eq!((status.as_u16(), body), (200, json!({"threepids": []})));
    assert_error(
        &server.client().get("/_matrix/client/v3/account/3pid").await,
        401,
        "M_MISSING_TOKEN",
    );
}

/// OpenID: a token the user hands to a third party, which asks this server (over the
/// federation API) whose it is. It opens nothing else.
#[tokio::test]
async fn openid_tokens_name_their_user_and_nothing_more() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let bob = server.client().register("bob", "pw-bob-1").await;
    let path = |user: &str| format!("/_matrix/client/v3/user/{}/openid/request_token", enc(user));
    let (status, body) = alice.client.post(&path(&alice.user_id), json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["matrix_server_name"], "localhost");
    assert_eq!(body["expires_in"], 3600);
    let token = body["access_token"].as_str().unwrap();
    assert_error(
        &alice.client.post(&path(&bob.user_id), json!({})).await,
        403,
        "M_FORBIDDEN",
    );

    let anonymous = server.client();
    let userinfo = "/_matrix/federation/v1/openid/userinfo";
    let (status, info) = anonymous
        .get(&format!("{userinfo}?access_token={token}"))
        .await;
    assert_eq!(
        (status.as_u16(), info),
        (200, json!({"sub": alice.user_id}))
    );
    assert_error(
        &anonymous
            .get(&format!("{userinfo}?access_token=nope"))
            .await,
        401,
        "M_UNKNOWN_TOKEN",
    );
    assert_error(&anonymous.get(userinfo).await, 401, "M_MISSING_TOKEN");
    // The OpenID token is no access token, and an access token is no OpenID token.
    assert_error(
        &server
            .client()
            .with_token(token)
            .get("/_matrix/client/v3/account/whoami")
            .await,
        401,
        "M_UNKNOWN_TOKEN",
    );
    let access = alice.client.token.clone().unwrap();
    assert_error(
        &anonymous
            .get(&format!("{userinfo}?access_token={access}"))
            .await,
        401,
        "M_UNKNOWN_TOKEN",
    );
}

/// The client whois is open to a user about themselves; about others it needs an admin.
#[tokio::test]
async fn whois_is_for_oneself_or_an_admin() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let bob = server.client().register("bob", "pw-bob-1").await;
    let whois = |user: &str| format!("/_matrix/client/v3/admin/whois/{}", enc(user));
    let (status, body) = alice.client.get(&whois(&alice.user_id)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user_id"], alice.user_id);
    assert!(body["devices"].get(&alice.device_id).is_some(), "{body}");
    assert_error(
        &alice.client.get(&whois(&bob.user_id)).await,
        403,
        "M_FORBIDDEN",
    );
}
