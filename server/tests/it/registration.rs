use citadel::admin::Action;
use citadel::config::RegistrationMode;
use serde_json::json;

use crate::common::*;

const REGISTER: &str = "/_matrix/client/v3/register";

#[tokio::test]
async fn open_registration_runs_the_dummy_uiaa_flow() {
    let server = TestServer::spawn();
    let client = server.client();
    let (status, challenge) = client
        .post(
            REGISTER,
            json!({"username": "alice", "password": "pw-alice-1"}),
        )
        .await;
    assert_eq!(status, 401, "{challenge}");
    assert_eq!(challenge["flows"], json!([{"stages": ["m.login.dummy"]}]));
    assert_eq!(challenge["params"], json!({}));
    let session = challenge["session"].as_str().unwrap();

    let (status, body) = client
        .post(
            REGISTER,
            json!({
                "username": "alice", "password": "pw-alice-1",
                "device_id": "MYPHONE", "initial_device_display_name": "Alice's phone",
                "auth": {"type": "m.login.dummy", "session": session},
            }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user_id"], "@alice:localhost");
    assert_eq!(body["device_id"], "MYPHONE");
    let token = body["access_token"].as_str().unwrap();
    assert!(body.get("refresh_token").is_none());

    let alice = client.with_token(token);
    let (_, device) = alice.get("/_matrix/client/v3/devices/MYPHONE").await;
    assert_eq!(device["display_name"], "Alice's phone");
    // The localpart becomes the initial display name.
    let (_, name) = client
        .get("/_matrix/client/v3/profile/@alice:localhost/displayname")
        .await;
    assert_eq!(name["displayname"], "alice");
    // Retrying the finished session's last step (its response lost) answers with the
    // account it made, as Synapse does: the parameters given then stand, no second
    // account appears under the new name.
    let (status, replay) = client
        .post(REGISTER, json!({"username": "alice2", "password": "x", "auth": {"type": "m.login.dummy", "session": session}}))
        .await;
    assert_eq!(status, 200, "{replay}");
    assert_eq!(replay["user_id"], "@alice:localhost");
    assert_eq!(replay["device_id"], "MYPHONE");
    let (status, _) = client
        .get("/_matrix/client/v3/profile/@alice2:localhost")
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn usernames_are_validated_and_unique() {
    let server = TestServer::spawn();
    let client = server.client();
    for bad in ["al ice", "alice:evil", "ünïcode", ""] {
        let response = client
            .post(REGISTER, json!({"username": bad, "password": "x"}))
            .await;
        assert_error(&response, 400, "M_INVALID_USERNAME");
    }
    let bob = client.register("Bob", "pw-bob-1").await;
    assert_eq!(
        bob.user_id, "@bob:localhost",
        "upper case maps to lower case"
    );
    // Taken names are refused before any auth stage is asked for.
    assert_error(
        &client
            .post(REGISTER, json!({"username": "bob", "password": "x"}))
            .await,
        400,
        "M_USER_IN_USE",
    );
    assert_error(
        &client
            .post(REGISTER, json!({"username": "BOB", "password": "x"}))
            .await,
        400,
        "M_USER_IN_USE",
    );
}

#[tokio::test]
async fn registration_without_username_generates_one_and_needs_a_password() {
    let server = TestServer::spawn();
    let client = server.client();
    let (status, body) = client
        .post(
            REGISTER,
            json!({"password": "pw-x-1", "auth": {"type": "m.login.dummy"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let user_id = body["user_id"].as_str().unwrap();
    assert!(user_id.starts_with('@') && user_id.ends_with(":localhost"));
    let response = client
        .post(
            REGISTER,
            json!({"username": "nopass", "auth": {"type": "m.login.dummy"}}),
        )
        .await;
    assert_error(&response, 400, "M_MISSING_PARAM");
}

#[tokio::test]
async fn inhibit_login_returns_no_token() {
    let server = TestServer::spawn();
    let (status, body) = server
        .client()
        .post(
            REGISTER,
            json!({"username": "quiet", "password": "pw-q-1", "inhibit_login": true, "auth": {"type": "m.login.dummy"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user_id"], "@quiet:localhost");
    assert!(
        body.get("access_token").is_none() && body["device_id"].is_null(),
        "{body}"
    );
    let (status, _) = server.client().login("quiet", "pw-q-1").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn guests_and_closed_registration_are_refused() {
    let server = TestServer::spawn();
    let guest = server
        .client()
        .post(&format!("{REGISTER}?kind=guest"), json!({}))
        .await;
    assert_error(&guest, 403, "M_GUEST_ACCESS_FORBIDDEN");

    let closed = TestServer::spawn_with(|c| c.registration.mode = RegistrationMode::Closed);
    let client = closed.client();
    assert_error(
        &client
            .post(REGISTER, json!({"username": "x", "password": "x"}))
            .await,
        403,
        "M_FORBIDDEN",
    );
    assert_error(
        &client
            .get("/_matrix/client/v3/register/available?username=x")
            .await,
        403,
        "M_FORBIDDEN",
    );
}

#[tokio::test]
async fn username_availability() {
    let server = TestServer::spawn();
    let client = server.client();
    let (status, body) = client
        .get("/_matrix/client/v3/register/available?username=carol")
        .await;
    assert_eq!((status.as_u16(), body), (200, json!({"available": true})));
    client.register("carol", "pw-carol-1").await;
    assert_error(
        &client
            .get("/_matrix/client/v3/register/available?username=carol")
            .await,
        400,
        "M_USER_IN_USE",
    );
    assert_error(
        &client
            .get("/_matrix/client/v3/register/available?username=c%20arol")
            .await,
        400,
        "M_INVALID_USERNAME",
    );
    assert_error(
        &client.get("/_matrix/client/v3/register/available").await,
        400,
        "M_MISSING_PARAM",
    );
}

#[tokio::test]
async fn token_registration_checks_and_counts_tokens() {
    let server = TestServer::spawn_with(|c| c.registration.mode = RegistrationMode::Token);
    let client = server.client();
    let (status, body) = admin_action(
        &server,
        Action::CreateRegistrationToken {
            token: Some("once-only".into()),
            uses_allowed: Some(1),
            expiry_time: None,
        },
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], "once-only");

    let validity = "/_matrix/client/v1/register/m.login.registration_token/validity";
    assert_eq!(
        client.get(&format!("{validity}?token=once-only")).await.1,
        json!({"valid": true})
    );
    assert_eq!(
        client.get(&format!("{validity}?token=unknown")).await.1,
        json!({"valid": false})
    );
    assert_error(
        &client.get(&format!("{validity}?token=bad%20token")).await,
        400,
        "M_INVALID_PARAM",
    );

    let (status, challenge) = client
        .post(REGISTER, json!({"username": "dave", "password": "pw-d-1"}))
        .await;
    assert_eq!(status, 401);
    assert_eq!(
        challenge["flows"],
        json!([{"stages": ["m.login.registration_token"]}])
    );
    let session = challenge["session"].as_str().unwrap();

    let wrong = client
        .post(
            REGISTER,
            json!({"username": "dave", "password": "pw-d-1",
                   "auth": {"type": "m.login.registration_token", "token": "wrong", "session": session}}),
        )
        .await;
    assert_eq!(wrong.0, 401, "{}", wrong.1);
    assert_eq!(wrong.1["errcode"], "M_UNAUTHORIZED");
    assert_eq!(wrong.1["session"], session);

    let dummy = client
        .post(REGISTER, json!({"username": "dave", "password": "pw-d-1", "auth": {"type": "m.login.dummy", "session": session}}))
        .await;
    assert_error(&dummy, 400, "M_UNRECOGNIZED");

    let (status, body) = client
        .post(
            REGISTER,
            json!({"username": "dave", "password": "pw-d-1",
                   "auth": {"type": "m.login.registration_token", "token": "once-only", "session": session}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user_id"], "@dave:localhost");

    // Used up.
    assert_eq!(
        client.get(&format!("{validity}?token=once-only")).await.1,
        json!({"valid": false})
    );
    let again = client
        .post(
            REGISTER,
            json!({"username": "erin", "password": "pw-e-1", "auth": {"type": "m.login.registration_token", "token": "once-only"}}),
        )
        .await;
    assert_eq!(again.0, 401, "{}", again.1);
    assert_eq!(again.1["errcode"], "M_UNAUTHORIZED");
}

#[tokio::test]
async fn expired_registration_tokens_are_invalid() {
    let server = TestServer::spawn_with(|c| c.registration.mode = RegistrationMode::Token);
    let (status, _) = admin_action(
        &server,
        Action::CreateRegistrationToken {
            token: Some("old".into()),
            uses_allowed: None,
            expiry_time: Some(1),
        },
    )
    .await;
    assert_eq!(status, 200);
    let response = server
        .client()
        .post(
            REGISTER,
            json!({"username": "late", "password": "pw-l-1", "auth": {"type": "m.login.registration_token", "token": "old"}}),
        )
        .await;
    assert_eq!(response.0, 401);
    assert_eq!(response.1["errcode"], "M_UNAUTHORIZED");
}

/// The parameters of a session's first request stand in for those a later step leaves
/// out (the spec: clients may send them only once; Synapse remembers them).
#[tokio::test]
async fn a_later_stage_may_leave_the_parameters_out() {
    let server = TestServer::spawn();
    let client = server.client();
    let (status, body) = client
        .post(
            REGISTER,
            json!({"username": "carol", "password": "pw-carol-1", "device_id": "FIRST"}),
        )
        .await;
    assert_eq!(status, 401, "{body}");
    let session = body["session"].as_str().unwrap();
    let (status, body) = client
        .post(
            REGISTER,
            json!({"auth": {"type": "m.login.dummy", "session": session}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user_id"], "@carol:localhost");
    assert_eq!(body["device_id"], "FIRST");
    assert_eq!(client.login("carol", "pw-carol-1").await.0, 200);
}

#[tokio::test]
async fn inhibit_login_given_only_with_the_first_stage_still_holds() {
    let server = TestServer::spawn();
    let client = server.client();
    let (status, body) = client
        .post(
            REGISTER,
            json!({"username": "dave", "password": "pw-dave-1", "inhibit_login": true}),
        )
        .await;
    assert_eq!(status, 401, "{body}");
    let session = body["session"].as_str().unwrap();
    let (status, body) = client
        .post(
            REGISTER,
            json!({"auth": {"type": "m.login.dummy", "session": session}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"user_id": "@dave:localhost"}));
}
