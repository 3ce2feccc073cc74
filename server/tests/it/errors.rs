//! Error paths shared by every endpoint.

use reqwest::Method;
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn unknown_endpoints_and_methods_are_unrecognized() {
    let server = TestServer::spawn();
    let client = server.client();
    assert_error(
        &client.get("/_matrix/client/v3/no_such_endpoint").await,
        404,
        "M_UNRECOGNIZED",
    );
    assert_error(&client.get("/elsewhere").await, 404, "M_UNRECOGNIZED");
    assert_error(
        &client
            .request(Method::DELETE, "/_matrix/client/v3/account/whoami", None)
            .await,
        405,
        "M_UNRECOGNIZED",
    );
    assert_error(
        &client.get("/_matrix/client/v3/register").await,
        405,
        "M_UNRECOGNIZED",
    );
}

#[tokio::test]
async fn malformed_bodies_get_not_json_bad_json_and_missing_param() {
    let server = TestServer::spawn();
    let client = server.client();
    let login = "/_matrix/client/v3/login";
    assert_error(
        &client.raw(Method::POST, login, b"{\"type\": ").await,
        400,
        "M_NOT_JSON",
    );
    assert_error(
        &client.raw(Method::POST, login, b"not json at all").await,
        400,
        "M_NOT_JSON",
    );
    assert_error(
        &client.raw(Method::POST, login, b"[1, 2]").await,
        400,
        "M_BAD_JSON",
    );
    assert_error(
        &client
            .post(
                login,
                json!({"type": "m.login.password", "user": 5, "password": "x"}),
            )
            .await,
        400,
        "M_BAD_JSON",
    );
    // A body without "type" once made ruma's parser panic; it must be a plain 400.
    let response = client.post(login, json!({"password": "x"})).await;
    assert_eq!(response.0, 400, "{}", response.1);
    // The server is still fine afterwards.
    assert_eq!(client.get("/_matrix/client/versions").await.0, 200);

    let alice = client.register("alice", "pw-alice-1").await;
    assert_error(
        &alice
            .client
            .post("/_matrix/client/v3/refresh", json!({}))
            .await,
        400,
        "M_MISSING_PARAM",
    );
    assert_error(
        &alice
            .client
            .put(
                "/_matrix/client/v3/devices/NOPE",
                json!({"display_name": 7}),
            )
            .await,
        400,
        "M_BAD_JSON",
    );
}

#[tokio::test]
async fn oversized_bodies_are_too_large() {
    let server = TestServer::spawn_with(|c| c.http.max_request_bytes = 65_536);
    let client = server.client();
    let big = "x".repeat(70_000);
    let response = client
        .post(
            "/_matrix/client/v3/login",
            json!({"type": "m.login.password", "password": big}),
        )
        .await;
    assert_error(&response, 413, "M_TOO_LARGE");
}

#[tokio::test]
async fn tokens_are_checked_from_header_and_query() {
    let server = TestServer::spawn();
    let client = server.client();
    let whoami = "/_matrix/client/v3/account/whoami";
    assert_error(&client.get(whoami).await, 401, "M_MISSING_TOKEN");
    let unknown = client.with_token("cit_not_a_real_token").get(whoami).await;
    assert_error(&unknown, 401, "M_UNKNOWN_TOKEN");
    assert!(unknown.1.get("soft_logout").is_none() || unknown.1["soft_logout"] == false);

    let alice = client.register("alice", "pw-alice-1").await;
    let token = alice.client.token.clone().unwrap();
    let (status, body) = client.get(&format!("{whoami}?access_token={token}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user_id"], alice.user_id);

    // A non-Bearer Authorization header is not a token.
    let response = client
        .http
        .get(format!("{}{whoami}", server.base))
        .header("Authorization", format!("Basic {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn cors_headers_on_answers_and_preflight() {
    let server = TestServer::spawn();
    let http = reqwest::Client::new();
    let preflight = http
        .request(
            Method::OPTIONS,
            format!("{}/_matrix/client/v3/login", server.base),
        )
        .header("Origin", "https://app.element.io")
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 200);
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
    assert!(
        preflight.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("Authorization")
    );
    let error = http
        .get(format!("{}/_matrix/client/v3/account/whoami", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(error.status(), 401);
    assert_eq!(error.headers()["access-control-allow-origin"], "*");
}

#[tokio::test]
async fn login_and_registration_are_rate_limited_per_ip() {
    let server = TestServer::spawn_with(|c| {
        c.rate_limits.enabled = true;
        c.rate_limits.login = citadel::config::RateLimit {
            per_second: 0.01,
            burst: 2,
        };
        c.rate_limits.registration = citadel::config::RateLimit {
            per_second: 0.01,
            burst: 1,
        };
    });
    let client = server.client();
    for _ in 0..2 {
        assert_error(&client.login("nobody", "x").await, 403, "M_FORBIDDEN");
    }
    let limited = client.login("nobody", "x").await;
    assert_error(&limited, 429, "M_LIMIT_EXCEEDED");
    assert!(limited.1["retry_after_ms"].as_u64().unwrap() > 0);

    client.register("first", "pw-first-1").await;
    let limited = client
        .post(
            "/_matrix/client/v3/register",
            json!({"username": "second", "password": "x", "auth": {"type": "m.login.dummy"}}),
        )
        .await;
    assert_error(&limited, 429, "M_LIMIT_EXCEEDED");
}

#[tokio::test]
async fn wrong_passwords_are_limited_per_account() {
    let server = TestServer::spawn_with(|c| {
        c.rate_limits.enabled = true;
        c.rate_limits.login = citadel::config::RateLimit {
            per_second: 100.0,
            burst: 100,
        };
        c.rate_limits.failed_login = citadel::config::RateLimit {
            per_second: 0.01,
            burst: 2,
        };
    });
    let client = server.client();
    let alice = client.register("alice", "pw-alice-1").await;
    client.register("bob", "pw-bob-1").await;
    for _ in 0..2 {
        assert_error(&client.login("alice", "guess").await, 403, "M_FORBIDDEN");
    }
    // Even the right password waits now; other accounts are unaffected.
    assert_error(
        &client.login("alice", "pw-alice-1").await,
        429,
        "M_LIMIT_EXCEEDED",
    );
    assert_eq!(client.login("bob", "pw-bob-1").await.0, 200);
    // Re-authentication for sensitive operations counts against the same budget.
    let uia = alice
        .client
        .post(
            "/_matrix/client/v3/account/deactivate",
            json!({"auth": password_auth("alice", "pw-alice-1", None)}),
        )
        .await;
    assert_error(&uia, 429, "M_LIMIT_EXCEEDED");
}

/// Other servers refuse an event whose type or state key is longer than 255 bytes, so a
/// local user may not create one either (Synapse answers the same 413).
#[tokio::test]
async fn event_types_and_state_keys_longer_than_255_bytes_are_refused() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let room = alice.create_room(json!({})).await;
    let room = enc(&room);
    let longest = "t".repeat(255);
    let too_long = "t".repeat(256);
    let send = |kind: &str, txn: &str| format!("/_matrix/client/v3/rooms/{room}/send/{kind}/{txn}");
    assert_eq!(
        alice
            .client
            .put(&send(&longest, "a"), json!({"body": "x"}))
            .await
            .0,
        200
    );
    let response = alice
        .client
        .put(&send(&too_long, "b"), json!({"body": "x"}))
        .await;
    assert_error(&response, 413, "M_TOO_LARGE");
    assert!(
        response.1["error"].as_str().unwrap().contains("type"),
        "{}",
        response.1
    );
    let state = |key: &str| format!("/_matrix/client/v3/rooms/{room}/state/m.example/{key}");
    assert_eq!(alice.client.put(&state(&longest), json!({})).await.0, 200);
    let response = alice.client.put(&state(&too_long), json!({})).await;
    assert_error(&response, 413, "M_TOO_LARGE");
    assert!(
        response.1["error"].as_str().unwrap().contains("state_key"),
        "{}",
        response.1
    );
    // A multi-byte character counts by its bytes: 128 of them are 256 bytes.
    let response = alice
        .client
        .put(&state(&enc(&"é".repeat(128))), json!({}))
        .await;
    assert_error(&response, 413, "M_TOO_LARGE");
}

/// A body that trickles in (a slowloris) is cut off after the idle limit, before any
/// authentication, instead of holding the connection for minutes.
#[tokio::test]
async fn a_body_that_stops_arriving_is_cut_off() {
    use tokio::io::AsyncReadExt;
    let server = TestServer::spawn();
    let mut stream = slow_login(&server).await;
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(40),
        stream.read_to_end(&mut answer),
    )
    .await;
    assert!(read.is_ok(), "still open after 40 s");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("too slowly"), "{text}");
    // The limit is ten seconds without a byte (and it must have waited that long).
    assert!(started.elapsed() >= std::time::Duration::from_secs(9));
}

/// `/login` bodies without a string `type` are refused before ruma parses them (ruma
/// indexes the missing key and panics, a backtrace in the log for every such request).
#[tokio::test]
async fn login_without_a_type_is_a_plain_bad_request() {
    let server = TestServer::spawn();
    let client = server.client();
    let post = |body: &'static [u8]| client.raw(Method::POST, "/_matrix/client/v3/login", body);
    assert_error(&post(b"{}").await, 400, "M_MISSING_PARAM");
    assert_error(
        &post(br#"{"identifier":{"type":"m.id.user","user":"x"},"password":"y"}"#).await,
        400,
        "M_MISSING_PARAM",
    );
    assert_error(&post(br#"{"type":5}"#).await, 400, "M_BAD_JSON");
    assert_error(&post(b"[1]").await, 400, "M_BAD_JSON");
    assert_error(&post(b"{nope").await, 400, "M_NOT_JSON");
    // A well-formed login still works.
    client.register("alice", "pw-alice-1").await;
    assert_eq!(client.login("alice", "pw-alice-1").await.0, 200);
}

/// Slow anonymous requests cannot pile up: past `http.max_unauthenticated_requests`
/// in progress, more are told to come back, while signed-in clients go on.
#[tokio::test]
async fn anonymous_requests_with_bodies_are_capped() {
    let server = TestServer::spawn_with(|c| c.http.max_unauthenticated_requests = 2);
    let alice = server.client().register("alice", "pw-alice-1").await;
    let slow = vec![slow_login(&server).await, slow_login(&server).await];
    // Both are parked on the server, reading their bodies.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let response = server.client().login("alice", "pw-alice-1").await;
    assert_error(&response, 429, "M_LIMIT_EXCEEDED");
    assert_eq!(response.1["retry_after_ms"], 1000);
    // Requests without a body, and signed-in ones, are not held back.
    assert_eq!(server.client().get("/_matrix/client/versions").await.0, 200);
    let room = alice.create_room(json!({})).await;
    assert!(room.starts_with('!'));
    // The slow ones gone, logins work again.
    drop(slow);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(server.client().login("alice", "pw-alice-1").await.0, 200);
}

/// A login whose headers promise 1000 bytes of body, of which one is sent.
async fn slow_login(server: &TestServer) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut stream = tokio::net::TcpStream::connect(server.addrs[0])
        .await
        .unwrap();
    stream
        .write_all(
            b"POST /_matrix/client/v3/login HTTP/1.1\r\nHost: localhost\r\n\
              Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{",
        )
        .await
        .unwrap();
    stream
}
