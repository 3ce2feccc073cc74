use serde_json::json;

use crate::common::*;

const LOGIN: &str = "/_matrix/client/v3/login";
const WHOAMI: &str = "/_matrix/client/v3/account/whoami";

#[tokio::test]
async fn login_flows_are_advertised() {
    let server = TestServer::spawn();
    let (status, body) = server.client().get(LOGIN).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["flows"],
        json!([{"type": "m.login.password"}, {"type": "m.login.token", "get_login_token": true}])
    );
    assert_eq!(server.client().get("/_matrix/client/r0/login").await.0, 200);
}

#[tokio::test]
async fn password_login_accepts_every_identifier_form() {
    let server = TestServer::spawn();
    let client = server.client();
    client.register("alice", "pw-alice-1").await;
    for identifier in ["alice", "@alice:localhost", "ALICE"] {
        let (status, body) = client.login(identifier, "pw-alice-1").await;
        assert_eq!(status, 200, "{identifier}: {body}");
        assert_eq!(body["user_id"], "@alice:localhost");
        assert_eq!(body["home_server"], "localhost");
        assert!(body["access_token"].as_str().unwrap().starts_with("cit_"));
        assert_eq!(body["device_id"].as_str().unwrap().len(), 10);
    }
    let (status, body) = client
        .post(
            LOGIN,
            json!({"type": "m.login.password", "user": "alice", "password": "pw-alice-1"}),
        )
        .await;
    assert_eq!(status, 200, "legacy user field: {body}");
}

#[tokio::test]
async fn wrong_passwords_and_unknown_users_look_the_same() {
    let server = TestServer::spawn();
    let client = server.client();
    client.register("alice", "pw-alice-1").await;
    let wrong = client.login("alice", "nope").await;
    let unknown = client.login("mallory", "nope").await;
    assert_error(&wrong, 403, "M_FORBIDDEN");
    assert_error(&unknown, 403, "M_FORBIDDEN");
    assert_eq!(wrong.1, unknown.1);
    let other_server = client.login("@alice:elsewhere.org", "pw-alice-1").await;
    assert_error(&other_server, 403, "M_FORBIDDEN");
    let email = client
        .post(LOGIN, json!({"type": "m.login.password", "identifier": {"type": "m.id.thirdparty", "medium": "email", "address": "a@b.c"}, "password": "x"}))
        .await;
    assert_eq!(email.0, 400, "{}", email.1);
    assert_error(
        &client.post(LOGIN, json!({"type": "m.login.sso"})).await,
        400,
        "M_UNKNOWN",
    );
}

#[tokio::test]
async fn logging_in_on_an_existing_device_replaces_its_token() {
    let server = TestServer::spawn();
    let client = server.client();
    let alice = client.register("alice", "pw-alice-1").await;
    let (status, body) = client
        .post(
            LOGIN,
            json!({"type": "m.login.password", "user": "alice", "password": "pw-alice-1", "device_id": alice.device_id}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["device_id"], alice.device_id);
    assert_error(&alice.client.get(WHOAMI).await, 401, "M_UNKNOWN_TOKEN");
    let fresh = client.with_token(body["access_token"].as_str().unwrap());
    let (_, me) = fresh.get(WHOAMI).await;
    assert_eq!(
        me,
        json!({"user_id": "@alice:localhost", "device_id": alice.device_id})
    );
    let (_, devices) = fresh.get("/_matrix/client/v3/devices").await;
    assert_eq!(devices["devices"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn refresh_tokens_rotate_and_old_ones_die_once_the_new_pair_is_used() {
    let server = TestServer::spawn();
    let client = server.client();
    client.register("alice", "pw-alice-1").await;
    let (status, first) = client
        .post(LOGIN, json!({"type": "m.login.password", "user": "alice", "password": "pw-alice-1", "refresh_token": true}))
        .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["expires_in_ms"], 300_000);
    let refresh1 = first["refresh_token"].as_str().unwrap();
    assert!(refresh1.starts_with("citr_"));

    let (status, second) = client
        .post(
            "/_matrix/client/v3/refresh",
            json!({"refresh_token": refresh1}),
        )
        .await;
    assert_eq!(status, 200, "{second}");
    let refresh2 = second["refresh_token"].as_str().unwrap();
    assert_ne!(refresh1, refresh2);
    assert_eq!(second["expires_in_ms"], 300_000);

    // Until the new pair is used, the old refresh token still works (lost responses).
    let (status, third) = client
        .post(
            "/_matrix/client/v3/refresh",
            json!({"refresh_token": refresh1}),
        )
        .await;
    assert_eq!(status, 200, "{third}");
    // ...and reusing it revoked the pair it had issued before.
    assert_error(
        &client
            .with_token(second["access_token"].as_str().unwrap())
            .get(WHOAMI)
            .await,
        401,
        "M_UNKNOWN_TOKEN",
    );
    let gone = client
        .post(
            "/_matrix/client/v3/refresh",
            json!({"refresh_token": refresh2}),
        )
        .await;
    assert_error(&gone, 401, "M_UNKNOWN_TOKEN");

    // Using the newest access token retires the refresh token it replaced.
    let newest = client.with_token(third["access_token"].as_str().unwrap());
    let (status, me) = newest.get(WHOAMI).await;
    assert_eq!(status, 200, "{me}");
    let retired = client
        .post(
            "/_matrix/client/v3/refresh",
            json!({"refresh_token": refresh1}),
        )
        .await;
    assert_error(&retired, 401, "M_UNKNOWN_TOKEN");
    assert_eq!(retired.1["soft_logout"], true);
    // The device stays the same throughout.
    assert_eq!(me["device_id"], first["device_id"]);
}

#[tokio::test]
async fn expired_access_tokens_are_soft_logged_out() {
    let server = TestServer::spawn_with(|c| c.auth.refreshable_access_token_lifetime_ms = 500);
    let client = server.client();
    client.register("alice", "pw-alice-1").await;
    let (_, body) = client
        .post(LOGIN, json!({"type": "m.login.password", "user": "alice", "password": "pw-alice-1", "refresh_token": true}))
        .await;
    let alice = client.with_token(body["access_token"].as_str().unwrap());
    assert_eq!(alice.get(WHOAMI).await.0, 200);
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    let expired = alice.get(WHOAMI).await;
    assert_error(&expired, 401, "M_UNKNOWN_TOKEN");
    assert_eq!(expired.1["soft_logout"], true);
    let (status, refreshed) = client
        .post(
            "/_matrix/client/v3/refresh",
            json!({"refresh_token": body["refresh_token"]}),
        )
        .await;
    assert_eq!(status, 200, "{refreshed}");
    assert_eq!(
        client
            .with_token(refreshed["access_token"].as_str().unwrap())
            .get(WHOAMI)
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn logout_and_logout_all_remove_devices_and_tokens() {
    let server = TestServer::spawn();
    let client = server.client();
    let alice = client.register("alice", "pw-alice-1").await;
    let (_, second) = client.login("alice", "pw-alice-1").await;
    let second = client.with_token(second["access_token"].as_str().unwrap());
    let (_, third) = client.login("alice", "pw-alice-1").await;
    let third = client.with_token(third["access_token"].as_str().unwrap());

    let (status, body) = alice
        .client
        .post("/_matrix/client/v3/logout", json!({}))
        .await;
    assert_eq!((status.as_u16(), body), (200, json!({})));
    assert_error(&alice.client.get(WHOAMI).await, 401, "M_UNKNOWN_TOKEN");
    let (_, devices) = second.get("/_matrix/client/v3/devices").await;
    assert_eq!(devices["devices"].as_array().unwrap().len(), 2);

    assert_eq!(
        second
            .post("/_matrix/client/v3/logout/all", json!({}))
            .await
            .0,
        200
    );
    assert_error(&second.get(WHOAMI).await, 401, "M_UNKNOWN_TOKEN");
    assert_error(&third.get(WHOAMI).await, 401, "M_UNKNOWN_TOKEN");
    let (_, fresh) = client.login("alice", "pw-alice-1").await;
    let (_, devices) = client
        .with_token(fresh["access_token"].as_str().unwrap())
        .get("/_matrix/client/v3/devices")
        .await;
    assert_eq!(devices["devices"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn login_tokens_are_single_use_and_need_the_password() {
    let server = TestServer::spawn();
    let client = server.client();
    let alice = client.register("alice", "pw-alice-1").await;
    let get_token = "/_matrix/client/v1/login/get_token";
    let (status, challenge) = alice.client.post(get_token, json!({})).await;
    assert_eq!(status, 401);
    assert_eq!(
        challenge["flows"],
        json!([{"stages": ["m.login.password"]}])
    );
    let session = challenge["session"].as_str().unwrap();
    let wrong = alice
        .client
        .post(
            get_token,
            json!({"auth": password_auth(&alice.user_id, "bad", Some(session))}),
        )
        .await;
    assert_eq!(wrong.0, 401);
    assert_eq!(wrong.1["errcode"], "M_FORBIDDEN");
    let (status, body) = alice
        .client
        .post(
            get_token,
            json!({"auth": password_auth(&alice.user_id, "pw-alice-1", Some(session))}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["expires_in_ms"], 120_000);
    let login_token = body["login_token"].as_str().unwrap();

    let (status, logged_in) = client
        .post(
            LOGIN,
            json!({"type": "m.login.token", "token": login_token}),
        )
        .await;
    assert_eq!(status, 200, "{logged_in}");
    assert_eq!(logged_in["user_id"], alice.user_id);
    let again = client
        .post(
            LOGIN,
            json!({"type": "m.login.token", "token": login_token}),
        )
        .await;
    assert_error(&again, 403, "M_FORBIDDEN");
}
