//! Synapse's media admin API on many items: a room's media, bulk quarantines that
//! spare protected items, and deleting old local media.

use serde_json::json;

use crate::admin_api::admin;
use crate::common::*;
use crate::media::{download, upload};

async fn uploaded(user: &User, body: &[u8]) -> String {
    let response = upload(
        user,
        "/_matrix/media/v3/upload?filename=f.txt",
        "text/plain",
        body.to_vec(),
    )
    .await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    body["content_uri"].as_str().unwrap().to_owned()
}

fn id(mxc: &str) -> &str {
    mxc.rsplit('/').next().unwrap()
}

#[tokio::test]
async fn room_and_user_media_are_listed_quarantined_protected_and_deleted() {
    let server = TestServer::spawn();
    let root = admin(&server).await;
    let (alice, bob, room) = server.client().alice_and_bob_in_a_public_room().await;
    let sticker = uploaded(&alice, b"a sticker everyone uses").await;
    let photo = uploaded(&alice, b"a photo").await;
    let thumb = uploaded(&alice, b"its thumbnail").await;
    let elsewhere = uploaded(&bob, b"bob's own file, never posted").await;
    for (url, extra) in [
        (&sticker, json!({})),
        (&photo, json!({"thumbnail_url": thumb})),
    ] {
        let (status, _) = alice
            .client
            .put(
                &format!(
                    "/_matrix/client/v3/rooms/{}/send/m.room.message/{}",
                    enc(&room),
                    id(url)
                ),
                json!({"msgtype": "m.image", "body": "img", "url": url, "info": extra}),
            )
            .await;
        assert_eq!(status, 200);
    }
    let c = &root.client;
    let (status, listed) = c
        .get(&format!("/_synapse/admin/v1/room/{}/media", enc(&room)))
        .await;
    assert_eq!(status, 200, "{listed}");
    let mut local: Vec<&str> = listed["local"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    local.sort();
    let mut expected = vec![sticker.as_str(), photo.as_str(), thumb.as_str()];
    expected.sort();
    assert_eq!(local, expected);
    assert_eq!(listed["remote"], json!([]));

    // The protected sticker survives the room's quarantine.
    let (status, body) = c
        .post(
            &format!("/_synapse/admin/v1/media/protect/{}", id(&sticker)),
            json!({}),
        )
        .await;
    assert_eq!((status.as_u16(), &body), (200, &json!({})));
    let (_, info) = c
        .get(&format!(
            "/_synapse/admin/v1/media/localhost/{}",
            id(&sticker)
        ))
        .await;
    assert_eq!(info["media_info"]["safe_from_quarantine"], true);
    let (_, body) = c
        .post(
            &format!("/_synapse/admin/v1/room/{}/media/quarantine", enc(&room)),
            json!({}),
        )
        .await;
    assert_eq!(body, json!({"num_quarantined": 2}));
    assert_eq!(download(&bob, &sticker).await.status(), 200);
    assert_eq!(download(&bob, &photo).await.status(), 404);

    // Bob's own media, quarantined as a whole.
    let (_, body) = c
        .post(
            &format!(
                "/_synapse/admin/v1/user/{}/media/quarantine",
                enc(&bob.user_id)
            ),
            json!({}),
        )
        .await;
    assert_eq!(body, json!({"num_quarantined": 1}));
    assert_eq!(download(&alice, &elsewhere).await.status(), 404);

    // Deleting old media: the protected item stays, and so does an avatar.
    let (status, _) = alice
        .client
        .put(
            &format!(
                "/_matrix/client/v3/profile/{}/avatar_url",
                enc(&alice.user_id)
            ),
            json!({"avatar_url": thumb}),
        )
        .await;
    assert_eq!(status, 200);
    let later = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        + 60_000;
    let (status, body) = c
        .post(
            &format!("/_synapse/admin/v1/media/delete?before_ts={later}&size_gt=3"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let mut deleted: Vec<&str> = body["deleted_media"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    deleted.sort();
    let mut expected = vec![id(&photo), id(&elsewhere)];
    expected.sort();
    assert_eq!(deleted, expected);
    assert_eq!(body["total"], 2);
    assert_eq!(download(&bob, &sticker).await.status(), 200);

    assert_error(
        &c.post("/_synapse/admin/v1/media/delete", json!({})).await,
        400,
        "M_MISSING_PARAM",
    );
    assert_error(
        &c.post("/_synapse/admin/v1/media/delete?before_ts=x", json!({}))
            .await,
        400,
        "M_INVALID_PARAM",
    );
    assert_error(
        &c.post(
            "/_synapse/admin/v1/media/elsewhere.example/delete?before_ts=1",
            json!({}),
        )
        .await,
        400,
        "M_UNKNOWN",
    );
    assert_error(
        &c.post("/_synapse/admin/v1/media/protect/nosuchmedia", json!({}))
            .await,
        404,
        "M_NOT_FOUND",
    );
    assert_error(
        &c.get(&format!(
            "/_synapse/admin/v1/room/{}/media",
            enc("!nope:localhost")
        ))
        .await,
        404,
        "M_NOT_FOUND",
    );
}
