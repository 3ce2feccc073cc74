//! Guest access (the spec's "Guest access" module): guest registration when the server
//! allows it, the endpoints a guest may call, rooms that let guests in or not, guests
//! leaving when a room withdraws guest access, and the upgrade to a full account.

use serde_json::json;

use crate::common::*;

const GUEST_REGISTER: &str = "/_matrix/client/v3/register?kind=guest";

#[tokio::test]
async fn guests_are_refused_unless_the_server_allows_them() {
    let server = TestServer::spawn();
    let answer = server.client().post(GUEST_REGISTER, json!({})).await;
    assert_error(&answer, 403, "M_GUEST_ACCESS_FORBIDDEN");
}

#[tokio::test]
async fn a_guest_joins_rooms_that_allow_guests_and_upgrades_its_account() {
    let server = TestServer::spawn_with(|config| config.registration.allow_guests = true);
    let client = server.client();
    let alice = client.register("alice", "pw-alice-1").await;
    let room = alice.create_room(json!({"preset": "public_chat"})).await;

    // Any body but the device's display name is ignored: the server picks the IDs.
    let (status, body) = client
        .post(
            GUEST_REGISTER,
            json!({"username": "chosen", "initial_device_display_name": "guest phone"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let guest_id = body["user_id"].as_str().unwrap().to_owned();
    assert_ne!(guest_id, "@chosen:localhost");
    let guest = client.with_token(body["access_token"].as_str().unwrap());
    let (status, whoami) = guest.get("/_matrix/client/v3/account/whoami").await;
    assert_eq!(status, 200);
    assert_eq!(whoami["user_id"], guest_id.as_str());

    // Outside the guest allow-list: refused with the guest errcode.
    let answer = guest.post("/_matrix/client/v3/createRoom", json!({})).await;
    assert_error(&answer, 403, "M_GUEST_ACCESS_FORBIDDEN");

    // A public room without `m.room.guest_access: can_join` keeps guests out.
    let join = format!("/_matrix/client/v3/rooms/{}/join", enc(&room));
    assert_error(&guest.post(&join, json!({})).await, 403, "M_FORBIDDEN");

    let guest_access = format!(
        "/_matrix/client/v3/rooms/{}/state/m.room.guest_access/",
        enc(&room)
    );
    let (status, _) = alice
        .client
        .put(&guest_access, json!({"guest_access": "can_join"}))
        .await;
    assert_eq!(status, 200);
    let (status, body) = guest.post(&join, json!({})).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = guest
        .put(
            &format!(
                "/_matrix/client/v3/rooms/{}/send/m.room.message/g1",
                enc(&room)
            ),
            json!({"msgtype": "m.text", "body": "hello from a guest"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let messages = alice
        .client
        .get(&format!(
            "/_matrix/client/v3/rooms/{}/messages?dir=b&limit=1",
            enc(&room)
        ))
        .await
        .1;
    assert_eq!(messages["chunk"][0]["sender"], guest_id.as_str());
    assert_eq!(
        messages["chunk"][0]["content"]["body"],
        "hello from a guest"
    );

    // Withdrawing guest access sends the guest out of the room.
    let (status, _) = alice
        .client
        .put(&guest_access, json!({"guest_access": "forbidden"}))
        .await;
    assert_eq!(status, 200);
    let member = alice
        .client
        .get(&format!(
            "/_matrix/client/v3/rooms/{}/state/m.room.member/{}",
            enc(&room),
            enc(&guest_id)
        ))
        .await;
    assert_eq!(member.0, 200);
    assert_eq!(member.1["membership"], "leave");

    // Registering with the guest's token (`guest_access_token`) keeps its user ID; the
    // account is a full one.
    let localpart = guest_id.trim_start_matches('@').split(':').next().unwrap();
    let (status, body) = client
        .post(
            "/_matrix/client/v3/register",
            json!({"username": localpart, "password": "pw-upgraded-1",
                   "guest_access_token": guest.token.clone().unwrap(),
                   "auth": {"type": "m.login.dummy"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user_id"], guest_id.as_str());
    let upgraded = client.with_token(body["access_token"].as_str().unwrap());
    let (status, body) = upgraded
        .post("/_matrix/client/v3/createRoom", json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = client.login(localpart, "pw-upgraded-1").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_guest_upgrade_keeps_its_own_name_and_only_a_guest_upgrades() {
    let server = TestServer::spawn_with(|config| config.registration.allow_guests = true);
    let client = server.client();
    let alice = client.register("alice", "pw-alice-1").await;
    let (_, body) = client.post(GUEST_REGISTER, json!({})).await;
    let guest = client.with_token(body["access_token"].as_str().unwrap());

    let answer = client
        .post(
            "/_matrix/client/v3/register",
            json!({"username": "someone-else", "password": "pw-x-12345",
                   "guest_access_token": guest.token.clone().unwrap(),
                   "auth": {"type": "m.login.dummy"}}),
        )
        .await;
    assert_error(&answer, 400, "M_INVALID_PARAM");

    // A full account's token names no guest to upgrade.
    let answer = client
        .post(
            "/_matrix/client/v3/register",
            json!({"username": "carol", "password": "pw-carol-1",
                   "guest_access_token": alice.client.token.clone().unwrap(),
                   "auth": {"type": "m.login.dummy"}}),
        )
        .await;
    assert_error(&answer, 403, "M_FORBIDDEN");
}
