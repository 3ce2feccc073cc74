//! Synapse's device and media admin APIs, and a user's joined rooms.

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

#[tokio::test]
async fn admins_list_quarantine_and_delete_media() {
    use crate::media::{download, upload};
    let server = TestServer::spawn();
    let root = admin(&server).await;
    let alice = server.client().register("alice", "pw-alice-1").await;
    let mut mxcs = Vec::new();
    for (i, body) in [b"first file".to_vec(), b"second, longer file".to_vec()]
        .into_iter()
        .enumerate()
    {
        let response = upload(
            &alice,
            &format!("/_matrix/media/v3/upload?filename=f{i}.txt"),
            "text/plain",
            body,
        )
        .await;
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = response.json().await.unwrap();
        mxcs.push(body["content_uri"].as_str().unwrap().to_owned());
    }
    let id = |mxc: &str| mxc.rsplit('/').next().unwrap().to_owned();
    let c = &root.client;
    let user_media = format!("/_synapse/admin/v1/users/{}/media", enc(&alice.user_id));
    let (status, list) = c.get(&user_media).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["total"], 2);
    let (_, by_size) = c
        .get(&format!("{user_media}?order_by=media_length&dir=b"))
        .await;
    assert_eq!(by_size["media"][0]["media_id"], id(&mxcs[1]));
    assert_eq!(by_size["media"][0]["media_length"], 19);
    assert_eq!(by_size["media"][0]["media_type"], "text/plain");
    assert_eq!(by_size["media"][0]["upload_name"], "f1.txt");

    let first = id(&mxcs[0]);
    let (status, info) = c
        .get(&format!("/_synapse/admin/v1/media/localhost/{first}"))
        .await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["media_info"]["user_id"], alice.user_id);
    // Quarantined media is served to no one, until released.
    assert_eq!(
        c.post(
            &format!("/_synapse/admin/v1/media/quarantine/localhost/{first}"),
            json!({})
        )
        .await
        .0,
        200
    );
    assert_eq!(download(&alice, &mxcs[0]).await.status(), 404);
    assert_eq!(
        c.post(
            &format!("/_synapse/admin/v1/media/unquarantine/localhost/{first}"),
            json!({})
        )
        .await
        .0,
        200
    );
    assert_eq!(download(&alice, &mxcs[0]).await.status(), 200);
    // Both changes are logged in order; a repeated unquarantine changes nothing.
    c.post(
        &format!("/_synapse/admin/v1/media/unquarantine/localhost/{first}"),
        json!({}),
    )
    .await;
    let (status, log) = c.get("/_synapse/admin/v1/media/quarantine_changes").await;
    assert_eq!(status, 200, "{log}");
    assert_eq!(
        log["changes"],
        json!([
            {"origin": "localhost", "media_id": first, "quarantined": true},
            {"origin": "localhost", "media_id": first, "quarantined": false},
        ])
    );
    let next = log["next_batch"].as_u64().unwrap();
    let (_, rest) = c
        .get(&format!(
            "/_synapse/admin/v1/media/quarantine_changes?from={next}"
        ))
        .await;
    assert_eq!(rest["changes"], json!([]));
    assert!(rest["next_batch"].as_u64().unwrap() >= next, "{rest}");
    for bad in ["?from=-1", "?from=x", "?from=18446744073709551615"] {
        assert_error(
            &c.get(&format!("/_synapse/admin/v1/media/quarantine_changes{bad}"))
                .await,
            400,
            "M_INVALID_PARAM",
        );
    }
    // Deleted: gone for good.
    let (status, deleted) = c
        .delete(
            &format!("/_synapse/admin/v1/media/localhost/{first}"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(deleted, json!({"deleted_media": [first], "total": 1}));
    assert_eq!(download(&alice, &mxcs[0]).await.status(), 404);
    let (_, list) = c.get(&user_media).await;
    assert_eq!(list["total"], 1);
    let (status, all) = c.delete(&user_media, json!({})).await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(all["total"], 1);
    assert_eq!(download(&alice, &mxcs[1]).await.status(), 404);
    // Errors.
    assert_error(
        &c.get("/_synapse/admin/v1/media/localhost/nope").await,
        404,
        "M_NOT_FOUND",
    );
    assert_error(
        &c.delete("/_synapse/admin/v1/media/elsewhere.org/abc", json!({}))
            .await,
        400,
        "M_UNKNOWN",
    );
    assert_error(
        &c.post(
            "/_synapse/admin/v1/media/quarantine/localhost/nope",
            json!({}),
        )
        .await,
        404,
        "M_NOT_FOUND",
    );
    assert_error(
        &c.get(&format!("{user_media}?order_by=colour")).await,
        400,
        "M_INVALID_PARAM",
    );
}

#[tokio::test]
async fn admins_read_statistics_account_data_pushers_and_events() {
    use crate::media::upload;
    let server = TestServer::spawn();
    let root = admin(&server).await;
    let (alice, _bob, room) = server.client().alice_and_bob_in_a_public_room().await;
    let event = alice.send_text(&room, "look at me").await;
    for body in [b"12345".to_vec(), b"1234567890".to_vec()] {
        assert_eq!(
            upload(&alice, "/_matrix/media/v3/upload", "text/plain", body)
                .await
                .status(),
            200
        );
    }
    alice
        .client
        .put(
            &format!(
                "/_matrix/client/v3/user/{}/account_data/org.example.setting",
                enc(&alice.user_id)
            ),
            json!({"on": true}),
        )
        .await;
    alice
        .client
        .post(
            "/_matrix/client/v3/pushers/set",
            json!({"kind": "http", "app_id": "org.example", "pushkey": "k1", "app_display_name": "Ex",
                   "device_display_name": "Phone", "lang": "en", "data": {"url": "https://push.example.org/_matrix/push/v1/notify"}}),
        )
        .await;
    let c = &root.client;
    let (status, stats) = c.get("/_synapse/admin/v1/statistics/users/media").await;
    assert_eq!(status, 200, "{stats}");
    assert_eq!(stats["total"], 1);
    assert_eq!(stats["users"][0]["user_id"], alice.user_id);
    assert_eq!(stats["users"][0]["media_count"], 2);
    assert_eq!(stats["users"][0]["media_length"], 15);
    assert_eq!(
        c.get("/_synapse/admin/v1/background_updates/status")
            .await
            .1,
        json!({"enabled": true, "current_updates": {}})
    );
    assert_eq!(
        c.get("/_synapse/admin/v1/username_available?username=zed")
            .await
            .1,
        json!({"available": true})
    );
    assert_error(
        &c.get("/_synapse/admin/v1/username_available?username=alice")
            .await,
        400,
        "M_USER_IN_USE",
    );
    assert_error(
        &c.get("/_synapse/admin/v1/username_available").await,
        400,
        "M_MISSING_PARAM",
    );
    let (_, data) = c
        .get(&format!(
            "/_synapse/admin/v1/users/{}/accountdata",
            enc(&alice.user_id)
        ))
        .await;
    assert_eq!(
        data["account_data"]["global"]["org.example.setting"],
        json!({"on": true}),
        "{data}"
    );
    let (_, pushers) = c
        .get(&format!(
            "/_synapse/admin/v1/users/{}/pushers",
            enc(&alice.user_id)
        ))
        .await;
    assert_eq!(pushers["total"], 1, "{pushers}");
    assert_eq!(pushers["pushers"][0]["pushkey"], "k1");
    let (status, fetched) = c
        .get(&format!("/_synapse/admin/v1/fetch_event/{}", enc(&event)))
        .await;
    assert_eq!(status, 200, "{fetched}");
    assert_eq!(fetched["event"]["content"]["body"], "look at me");
    assert_eq!(fetched["event"]["room_id"], room);
    assert_error(
        &c.get(&format!("/_synapse/admin/v1/fetch_event/{}", enc("$nope")))
            .await,
        404,
        "M_NOT_FOUND",
    );
}
