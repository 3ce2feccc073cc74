//! Third-party client libraries (matrix-nio, matrix-js-sdk) against a real server.
//!
//! The pinned libraries are installed on first use into the build directory (PyPI and
//! npm), so `cargo test` needs only python3 and node on the machine.

use std::path::PathBuf;
use std::process::Command;

use crate::common::*;

/// A virtualenv with matrix-nio, created once per build directory.
fn python_with_nio() -> PathBuf {
    python_venv("client-venv", "tests/clients/requirements.txt")
}

/// `tests/clients/node_modules` with matrix-js-sdk, from the committed lock file.
fn node_modules() {
    npm_ci(&repo_root().join("tests/clients"), "matrix-js-sdk");
}

#[test]
fn real_client_libraries_manage_accounts_and_chat() {
    let python = python_with_nio();
    node_modules();
    // Short-lived refreshable tokens, so matrix-js-sdk's automatic refresh is exercised.
    let server = TestServer::spawn_with(|c| c.auth.refreshable_access_token_lifetime_ms = 1500);
    let scripts = repo_root().join("tests/clients");
    run(
        Command::new(&python)
            .arg(scripts.join("nio_accounts.py"))
            .arg(&server.base),
        "matrix-nio accounts scenario",
    );
    run(
        Command::new(&python)
            .arg(scripts.join("nio_rooms.py"))
            .arg(&server.base),
        "matrix-nio rooms scenario",
    );
    run(
        Command::new(&python)
            .arg(scripts.join("nio_media.py"))
            .arg(&server.base),
        "matrix-nio encrypted attachment scenario",
    );
    run(
        Command::new("node")
            .arg(scripts.join("js_sdk_accounts.mjs"))
            .arg(&server.base),
        "matrix-js-sdk accounts scenario",
    );
    run(
        Command::new("node")
            .arg(scripts.join("js_sdk_rooms.mjs"))
            .arg(&server.base),
        "matrix-js-sdk rooms scenario",
    );
    // End-to-end encryption under the default encrypted-only policy.
    let encrypted =
        TestServer::spawn_with(|c| c.e2ee.enforce = citadel::config::EncryptionEnforcement::All);
    run(
        Command::new("node")
            .arg(scripts.join("js_sdk_e2ee.mjs"))
            .arg(&encrypted.base),
        "matrix-js-sdk end-to-end encryption scenario",
    );
}
