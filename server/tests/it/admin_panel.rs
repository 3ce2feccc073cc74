//! The built-in web admin panel (`admin-ui/`) in headless Chromium: `tests/admin-ui/panel.mjs`
//! signs in, checks the dashboard against the server, creates, locks and deactivates a
//! user, deletes a room, creates a registration token and registers with it, sends a server
//! notice, browses and verifies the audit trail, and is refused as a non-admin; each
//! outcome is checked over the server's APIs. Screenshots of every page go to
//! `target/tmp/admin-panel-screenshots/`.
//!
//! Needs Debian's `chromium` (`.ci/run` installs it; `CHROMIUM` names another binary) and
//! node; playwright-core is installed from the committed lock file on first use.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;

use crate::admin_api::admin;
use crate::common::*;

fn chromium() -> PathBuf {
    let path =
        PathBuf::from(std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()));
    assert!(
        path.exists(),
        "the admin panel tests need Chromium at {}: `apt-get install chromium` (as .ci/run does) \
         or set CHROMIUM",
        path.display()
    );
    path
}

/// `tests/admin-ui/node_modules` with playwright-core, from the committed lock file.
fn node_modules() -> PathBuf {
    let dir = repo_root().join("tests/admin-ui");
    npm_ci(&dir, "playwright-core");
    dir
}

#[tokio::test]
async fn an_admin_runs_the_server_from_the_web_panel() {
    let browser = chromium();
    let scripts = node_modules();
    let server = TestServer::spawn_with(|c| {
        c.registration.mode = citadel::config::RegistrationMode::Token;
    });
    let root = admin(&server).await;
    let (status, body) = admin_action(
        &server,
        citadel::admin::Action::CreateUser {
            username: "carol".into(),
            password: "pw-carol-1".into(),
            admin: false,
        },
    )
    .await;
    assert_eq!(status, 200, "{body}");

    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("admin-panel-screenshots");
    let base = server.base.clone();
    let out = shots.clone();
    tokio::task::spawn_blocking(move || {
        run(
            Command::new("node")
                .arg(scripts.join("panel.mjs"))
                .arg(&base)
                .arg(&out)
                .env("CHROMIUM", browser),
            "the admin panel scenario in Chromium",
        )
    })
    .await
    .unwrap();

    // What the browser did is on the server: each action in the audit trail, by the admin.
    // (The scenario signed out root's other sessions, this test's among them.)
    let (status, login) = server.client().login("root", &root.password).await;
    assert_eq!(status, 200, "{login}");
    let root = server
        .client()
        .with_token(login["access_token"].as_str().unwrap());
    let (status, trail) = root
        .get(&format!(
            "/_citadel/admin/v1/audit?actor={}&limit=1000",
            enc("@root:localhost")
        ))
        .await;
    assert_eq!(status, 200, "{trail}");
    let actions: Vec<(&str, &str)> = trail["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["target"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    for expected in [
        ("admin.user.create", "@bob:localhost"),
        ("admin.user.lock", "@bob:localhost"),
        ("admin.user.unlock", "@bob:localhost"),
        ("admin.user.deactivate", "@bob:localhost"),
        ("admin.registration_token.create", "panel-token-1"),
        ("admin.server_notice.send", "@carol:localhost"),
    ] {
        assert!(
            actions.contains(&expected),
            "{expected:?} not in {actions:?}"
        );
    }
    assert!(actions.iter().any(|(a, _)| *a == "admin.room.delete"));
    // Nothing but the one user was created through the failed attempts.
    let (_, users) = root.get("/_synapse/admin/v2/users?limit=100").await;
    let names: Vec<&str> = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert!(!names.iter().any(|n| n.starts_with("@:")), "{names:?}");
    let (_, verify) = root.get("/_citadel/admin/v1/audit/verify").await;
    assert_eq!(verify["intact"], json!(true), "{verify}");
    for page in [
        "dashboard",
        "users",
        "user-detail",
        "rooms",
        "room-detail",
        "media",
    ] {
        let file = shots.join(format!("{page}.png"));
        let bytes = std::fs::read(&file).unwrap_or_default();
        assert!(
            bytes.starts_with(b"\x89PNG"),
            "no screenshot {}",
            file.display()
        );
    }
}

#[tokio::test]
async fn the_panel_is_served_with_strict_headers_and_hashed_assets() {
    let server = TestServer::spawn();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let bare = client
        .get(format!("{}/_citadel/admin", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status(), 301);
    assert_eq!(bare.headers()["location"], "/_citadel/admin/");
    let index = client
        .get(format!("{}/_citadel/admin/", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(index.status(), 200);
    let headers = index.headers().clone();
    let csp = headers["content-security-policy"].to_str().unwrap();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert!(!csp.contains("unsafe"), "{csp}");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["cache-control"], "no-cache");
    let html = index.text().await.unwrap();
    let start = html.find("/_citadel/admin/assets/").unwrap();
    let hash = &html[start + "/_citadel/admin/assets/".len()..][..16];
    assert!(hash.chars().all(|c| c.is_ascii_hexdigit()), "{hash}");
    assert!(!html.contains("{{ASSETS}}"));

    let css = client
        .get(format!(
            "{}/_citadel/admin/assets/{hash}/panel.css",
            server.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), 200);
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    assert_eq!(
        css.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(css.headers()["etag"], format!("\"{hash}\"").as_str());
    assert!(css.headers().contains_key("content-security-policy"));
    let body = css.bytes().await.unwrap();
    assert_eq!(
        body.as_ref(),
        std::fs::read(repo_root().join("admin-ui/panel.css")).unwrap()
    );
    let revalidated = client
        .get(format!(
            "{}/_citadel/admin/assets/{hash}/panel.css",
            server.base
        ))
        .header("If-None-Match", format!("\"{hash}\""))
        .send()
        .await
        .unwrap();
    assert_eq!(revalidated.status(), 304);

    // Another build's hash, a file that is not there, and a path out of the directory.
    for path in [
        "0000000000000000/panel.css".to_owned(),
        format!("{hash}/nothing.js"),
        format!("{hash}/../../../Cargo.toml"),
        format!("{hash}/index.html"),
    ] {
        let response = client
            .get(format!("{}/_citadel/admin/assets/{path}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{path}");
    }
}
