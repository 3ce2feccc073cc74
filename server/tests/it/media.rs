//! The media repository: uploads, authenticated downloads, limits and safe serving.

use std::io::Write;

use reqwest::StatusCode;
use serde_json::json;

use crate::common::*;

pub async fn upload(
    user: &User,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> reqwest::Response {
    user.client
        .http
        .post(format!("{}{path}", user.client.base))
        .bearer_auth(user.client.token.as_deref().unwrap())
        .header("Content-Type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

pub async fn download(user: &User, mxc: &str) -> reqwest::Response {
    let (server, id) = mxc.trim_start_matches("mxc://").split_once('/').unwrap();
    user.client
        .http
        .get(format!(
            "{}/_matrix/client/v1/media/download/{server}/{id}",
            user.client.base
        ))
        .bearer_auth(user.client.token.as_deref().unwrap())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn binary_uploads_round_trip_and_need_authentication() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let bob = server.client().register("bob", "pw-bob-1").await;
    let blob: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let response = upload(
        &alice,
        "/_matrix/media/v3/upload?filename=data.bin",
        "application/octet-stream",
        blob.clone(),
    )
    .await;
    assert_eq!(response.status(), 200);
    let mxc = response.json::<serde_json::Value>().await.unwrap()["content_uri"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(mxc.starts_with("mxc://localhost/"));

    let fetched = download(&bob, &mxc).await;
    assert_eq!(fetched.status(), 200);
    assert!(
        fetched.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("data.bin")
    );
    assert_eq!(
        fetched.bytes().await.unwrap().to_vec(),
        blob,
        "byte for byte"
    );

    let id = mxc.trim_start_matches("mxc://localhost/");
    let anonymous = reqwest::get(format!(
        "{}/_matrix/client/v1/media/download/localhost/{id}",
        server.base
    ))
    .await
    .unwrap();
    assert_eq!(anonymous.status(), 401);
    let legacy = server
        .client()
        .get(&format!("/_matrix/media/v3/download/localhost/{id}"))
        .await;
    assert_error(&legacy, 404, "M_NOT_FOUND");
    assert_error(
        &bob.client
            .get("/_matrix/client/v1/media/download/localhost/nothing")
            .await,
        404,
        "M_NOT_FOUND",
    );
    let (_, config) = bob.client.get("/_matrix/client/v1/media/config").await;
    assert_eq!(config["m.upload.size"], 50 * 1024 * 1024);
}

#[tokio::test]
async fn size_limit_and_quota_are_enforced() {
    let server = TestServer::spawn_with(|c| {
        c.media.max_upload_bytes = 1000;
        c.media.quota_bytes_per_user = 2500;
    });
    let alice = server.client().register("alice", "pw-alice-1").await;
    let big = upload(
        &alice,
        "/_matrix/media/v3/upload",
        "image/png",
        vec![1; 1001],
    )
    .await;
    assert_eq!(big.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        big.json::<serde_json::Value>().await.unwrap()["errcode"],
        "M_TOO_LARGE"
    );
    for _ in 0..2 {
        assert_eq!(
            upload(
                &alice,
                "/_matrix/media/v3/upload",
                "image/png",
                vec![2; 1000]
            )
            .await
            .status(),
            200
        );
    }
    let over = upload(
        &alice,
        "/_matrix/media/v3/upload",
        "image/png",
        vec![3; 1000],
    )
    .await;
    assert_eq!(over.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        over.json::<serde_json::Value>().await.unwrap()["errcode"],
        "M_FORBIDDEN"
    );
    // Nothing of the refused uploads was kept.
    let tmp = server.data_dir.join("media/tmp");
    assert_eq!(std::fs::read_dir(tmp).unwrap().count(), 0);
}

#[tokio::test]
async fn active_content_cannot_run_when_opened() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    for (content_type, body) in [
        ("text/html", "<script>alert(1)</script>"),
        ("image/svg+xml", "<svg onload=alert(1)/>"),
    ] {
        let response = upload(
            &alice,
            "/_matrix/media/v3/upload?filename=x",
            content_type,
            body.as_bytes().to_vec(),
        )
        .await;
        let mxc = response.json::<serde_json::Value>().await.unwrap()["content_uri"]
            .as_str()
            .unwrap()
            .to_owned();
        let served = download(&alice, &mxc).await;
        let headers = served.headers();
        assert_eq!(
            headers["content-type"], "application/octet-stream",
            "{content_type}"
        );
        assert!(
            headers["content-disposition"]
                .to_str()
                .unwrap()
                .starts_with("attachment")
        );
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert!(
            headers["content-security-policy"]
                .to_str()
                .unwrap()
                .starts_with("sandbox; default-src 'none'")
        );
        assert_eq!(headers["cross-origin-resource-policy"], "cross-origin");
    }
    let png = upload(
        &alice,
        "/_matrix/media/v3/upload",
        "image/png",
        vec![0x89, b'P', b'N', b'G'],
    )
    .await;
    let mxc = png.json::<serde_json::Value>().await.unwrap()["content_uri"]
        .as_str()
        .unwrap()
        .to_owned();
    let served = download(&alice, &mxc).await;
    assert_eq!(served.headers()["content-type"], "image/png");
    assert!(
        served.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("inline")
    );
}

#[tokio::test]
async fn reserved_media_ids_are_uploaded_once_by_their_owner() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let bob = server.client().register("bob", "pw-bob-1").await;
    let (status, created) = alice
        .client
        .post("/_matrix/media/v1/create", json!({}))
        .await;
    assert_eq!(status, 200);
    let mxc = created["content_uri"].as_str().unwrap().to_owned();
    assert!(created["unused_expires_at"].as_u64().unwrap() > 0);
    let id = mxc.trim_start_matches("mxc://localhost/").to_owned();

    let not_yet = bob
        .client
        .get(&format!(
            "/_matrix/client/v1/media/download/localhost/{id}?timeout_ms=100"
        ))
        .await;
    assert_error(&not_yet, 504, "M_NOT_YET_UPLOADED");

    let put = |user: &User, body: &'static [u8]| {
        let user = user.clone();
        let id = id.clone();
        async move {
            user.client
                .http
                .put(format!(
                    "{}/_matrix/media/v3/upload/localhost/{id}",
                    user.client.base
                ))
                .bearer_auth(user.client.token.as_deref().unwrap())
                .header("Content-Type", "text/plain")
                .body(body)
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(put(&bob, b"hijack").await.status(), 403);
    assert_eq!(put(&alice, b"hello").await.status(), 200);
    let again = put(&alice, b"again").await;
    assert_eq!(again.status(), 409);
    assert_eq!(
        again.json::<serde_json::Value>().await.unwrap()["errcode"],
        "M_CANNOT_OVERWRITE_MEDIA"
    );
    assert_eq!(download(&bob, &mxc).await.text().await.unwrap(), "hello");
}

#[test]
fn an_interrupted_upload_leaves_nothing_behind() {
    let server = TestServer::spawn();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let alice = runtime.block_on(server.client().register("alice", "pw-alice-1"));
    let token = alice.client.token.clone().unwrap();
    let address = server.base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    let head = format!(
        "POST /_matrix/media/v3/upload HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\nContent-Type: image/png\r\nContent-Length: 100000\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&[7u8; 30_000]).unwrap();
    stream.flush().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    drop(stream);
    std::thread::sleep(std::time::Duration::from_millis(500));
    let media_dir = server.data_dir.join("media");
    let files: Vec<_> = walk(&media_dir);
    assert!(files.is_empty(), "left behind: {files:?}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn encoded(width: u32, height: u32, format: image::ImageFormat) -> Vec<u8> {
    let picture = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(picture)
        .write_to(&mut out, format)
        .unwrap();
    out.into_inner()
}

#[tokio::test]
async fn thumbnails_of_png_and_jpeg_fit_the_requested_bounds() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    for (content_type, format, size) in [
        ("image/png", image::ImageFormat::Png, (400, 300)),
        ("image/jpeg", image::ImageFormat::Jpeg, (640, 480)),
    ] {
        let response = upload(
            &alice,
            "/_matrix/media/v3/upload",
            content_type,
            encoded(size.0, size.1, format),
        )
        .await;
        let mxc = response.json::<serde_json::Value>().await.unwrap()["content_uri"]
            .as_str()
            .unwrap()
            .to_owned();
        let id = mxc.trim_start_matches("mxc://localhost/");
        for (query, expected) in [
            ("width=100&height=100&method=scale", (100, 75)),
            ("width=50&height=50&method=crop", (50, 50)),
        ] {
            let thumb = alice
                .client
                .http
                .get(format!(
                    "{}/_matrix/client/v1/media/thumbnail/localhost/{id}?{query}",
                    server.base
                ))
                .bearer_auth(alice.client.token.as_deref().unwrap())
                .send()
                .await
                .unwrap();
            assert_eq!(thumb.status(), 200, "{content_type} {query}");
            assert_eq!(thumb.headers()["content-type"], content_type);
            let bytes = thumb.bytes().await.unwrap();
            let decoded = image::load_from_memory(&bytes).unwrap();
            assert_eq!(
                (decoded.width(), decoded.height()),
                expected,
                "{content_type} {query}"
            );
        }
    }
    let text = upload(
        &alice,
        "/_matrix/media/v3/upload",
        "text/plain",
        b"not an image".to_vec(),
    )
    .await;
    let mxc = text.json::<serde_json::Value>().await.unwrap()["content_uri"]
        .as_str()
        .unwrap()
        .to_owned();
    let id = mxc.trim_start_matches("mxc://localhost/");
    assert_error(
        &alice
            .client
            .get(&format!(
                "/_matrix/client/v1/media/thumbnail/localhost/{id}?width=10&height=10"
            ))
            .await,
        404,
        "M_NOT_FOUND",
    );
    assert_error(
        &alice
            .client
            .get(&format!(
                "/_matrix/client/v1/media/thumbnail/localhost/{id}"
            ))
            .await,
        400,
        "M_MISSING_PARAM",
    );
}

#[tokio::test]
async fn legacy_paths_serve_only_media_before_the_configured_cutoff() {
    let server = TestServer::spawn_with(|c| {
        c.media.legacy_unauthenticated_before_ms = Some(citadel_storage::now_ms() + 60_000)
    });
    let alice = server.client().register("alice", "pw-alice-1").await;
    let response = upload(
        &alice,
        "/_matrix/media/v3/upload",
        "text/plain",
        b"old style".to_vec(),
    )
    .await;
    let mxc = response.json::<serde_json::Value>().await.unwrap()["content_uri"]
        .as_str()
        .unwrap()
        .to_owned();
    let id = mxc.trim_start_matches("mxc://localhost/");
    let legacy = reqwest::get(format!(
        "{}/_matrix/media/v3/download/localhost/{id}",
        server.base
    ))
    .await
    .unwrap();
    assert_eq!(legacy.status(), 200);
    assert_eq!(legacy.text().await.unwrap(), "old style");
    let thumbnail = server
        .client()
        .get(&format!(
            "/_matrix/media/v3/thumbnail/localhost/{id}?width=1&height=1"
        ))
        .await;
    assert_error(&thumbnail, 404, "M_NOT_FOUND");
}
