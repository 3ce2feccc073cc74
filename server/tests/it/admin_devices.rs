//! Synapse's device admin API and a user's joined rooms.

use serde_json::json;

use crate::admin_api::admin;
use crate::common::*;

#[tokio::test]
async fn admins_manage_a_user_s_devices_and_see_their_rooms() {
    let server = TestServer::spawn();
    let root = admin(&server).await;
    let client = server.client();
    let (alice, _bob, room) = client.alice_and_bob_in_a_public_room().await;
    let (_, second) = client.login("alice", "pw-alice-1").await;
    let second_device = second["device_id"].as_str().unwrap().to_owned();
    let second_client = client.with_token(second["access_token"].as_str().unwrap());
    let c = &root.client;
    let base = format!("/_synapse/admin/v2/users/{}/devices", enc(&alice.user_id));

    let (status, list) = c.get(&base).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["total"], 2);
    let ids: Vec<&str> = list["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["device_id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&alice.device_id.as_str()) && ids.contains(&second_device.as_str()));
    assert_eq!(list["devices"][0]["user_id"], alice.user_id);

    // Rename, read back.
    let one = format!("{base}/{}", enc(&second_device));
    assert_eq!(
        c.put(&one, json!({"display_name": "Work laptop"})).await.0,
        200
    );
    let (_, device) = c.get(&one).await;
    assert_eq!(device["display_name"], "Work laptop");
    assert_eq!(device["device_id"], second_device);
    // Create a device without tokens.
    let (status, body) = c.post(&base, json!({"device_id": "BRIDGE"})).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(c.get(&format!("{base}/BRIDGE")).await.0, 200);
    // Delete one: its token stops working; delete several at once.
    assert_eq!(c.delete(&one, json!({})).await.0, 200);
    assert_error(
        &second_client.get("/_matrix/client/v3/account/whoami").await,
        401,
        "M_UNKNOWN_TOKEN",
    );
    assert_error(&c.get(&one).await, 404, "M_NOT_FOUND");
    assert_eq!(
        c.delete(&one, json!({})).await.0,
        200,
        "deleting twice is fine"
    );
    let (status, _) = c
        .post(
            &format!(
                "/_synapse/admin/v2/users/{}/delete_devices",
                enc(&alice.user_id)
            ),
            json!({"devices": ["BRIDGE", "NEVER-EXISTED"]}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, list) = c.get(&base).await;
    assert_eq!(list["total"], 1);
    assert_eq!(list["devices"][0]["device_id"], alice.device_id);

    let (_, rooms) = c
        .get(&format!(
            "/_synapse/admin/v1/users/{}/joined_rooms",
            enc(&alice.user_id)
        ))
        .await;
    assert_eq!(rooms, json!({"total": 1, "joined_rooms": [room]}));

    // Errors.
    let nobody = format!(
        "/_synapse/admin/v2/users/{}/devices",
        enc("@nobody:localhost")
    );
    assert_error(&c.get(&nobody).await, 404, "M_NOT_FOUND");
    assert_error(&c.post(&base, json!({})).await, 400, "M_MISSING_PARAM");
    assert_error(
        &c.post(&base, json!({"device_id": ""})).await,
        400,
        "M_INVALID_PARAM",
    );
    assert_error(
        &c.put(
            &format!("{base}/{}", enc(&alice.device_id)),
            json!({"display_name": "x".repeat(101)}),
        )
        .await,
        413,
        "M_TOO_LARGE",
    );
    assert_error(
        &c.post(
            &format!(
                "/_synapse/admin/v2/users/{}/delete_devices",
                enc(&alice.user_id)
            ),
            json!({"devices": "all"}),
        )
        .await,
        400,
        "M_BAD_JSON",
    );
}
