//! `citadel admin …`: admin commands that work whether or not the server is running.
//!
//! With the server stopped the command opens the database itself. While it runs (sled
//! lets only one process open the database), the command goes through the server's
//! CLI endpoint instead, authenticated with `registration.shared_secret`.

use std::io::{BufRead, IsTerminal};
use std::path::Path;

use hex::ToHex;
use hmac::Mac;
use serde_json::Value;

use crate::admin::Action;
use crate::api::admin::cli::{PATH, SignedAction, mac};
use crate::app::{AppState, OpenError};
use crate::config::Config;

/// Runs an admin action and returns its result line.
pub async fn run(config: Config, action: Action) -> Result<String, String> {
    match AppState::open(config.clone()) {
        Ok(state) => {
            let result = crate::admin::run(&state, action)
                .await
                .map_err(|e| e.to_string());
            state.storage.flush_blocking().map_err(|e| e.to_string())?;
            result
        }
        Err(OpenError::Locked(_)) => run_remote(&config, action).await,
        Err(OpenError::Other(e)) => Err(e),
    }
}

async fn run_remote(config: &Config, action: Action) -> Result<String, String> {
    let secret = config.registration.shared_secret.as_deref().ok_or(
        "the server is running and holds the database; set registration.shared_secret so the \
         CLI can reach it, or stop the server",
    )?;
    let base = local_base_url(config)?;
    let client = reqwest::Client::new();
    let url = format!("{base}{PATH}");
    let nonce: Value = client
        .get(&url)
        .send()
        .await
        .map_err(|e| format!("cannot reach the running server at {base}: {e}"))?
        .json()
        .await
        .map_err(|e| format!("unexpected answer from {base}: {e}"))?;
    let nonce = nonce["nonce"]
        .as_str()
        .ok_or("the server did not return a nonce")?
        .to_owned();
    let mac = mac(secret, &nonce, &action)
        .map_err(|e| e.to_string())?
        .finalize()
        .into_bytes()
        .encode_hex();
    let response = client
        .post(&url)
        .json(&SignedAction { nonce, action, mac })
        .send()
        .await
        .map_err(|e| format!("cannot reach the running server at {base}: {e}"))?;
    let ok = response.status().is_success();
    let body: Value = response
        .json()
        .await
        .map_err(|e| format!("unexpected answer from {base}: {e}"))?;
    if ok {
        Ok(body["result"].as_str().unwrap_or_default().to_owned())
    } else {
        Err(format!(
            "{}: {}",
            body["errcode"].as_str().unwrap_or("error"),
            body["error"].as_str().unwrap_or("")
        ))
    }
}

/// The running server's plain-HTTP address, reachable from this machine: an admin
/// listener when there is one (the CLI speaks an admin API).
fn local_base_url(config: &Config) -> Result<String, String> {
    let bind = config
        .http
        .admin_bind
        .first()
        .or(config.http.bind.first())
        .ok_or("the CLI needs an http.bind address to reach the running server")?;
    let addr: std::net::SocketAddr = bind.parse().map_err(|_| format!("bad http.bind {bind}"))?;
    let host = if addr.ip().is_unspecified() {
        if addr.is_ipv4() {
            "127.0.0.1".to_owned()
        } else {
            "[::1]".to_owned()
        }
    } else if addr.is_ipv6() {
        format!("[{}]", addr.ip())
    } else {
        addr.ip().to_string()
    };
    Ok(format!("http://{host}:{}", addr.port()))
}

/// The new password: the first line of `file`, else asked for (twice) on a terminal,
/// else the first line of standard input.
pub fn read_password(file: Option<&Path>) -> Result<String, String> {
    let password = if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        text.lines().next().unwrap_or_default().to_owned()
    } else if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ").map_err(|e| e.to_string())?;
        let again = rpassword::prompt_password("Confirm password: ").map_err(|e| e.to_string())?;
        if first != again {
            return Err("passwords do not match".into());
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    if password.is_empty() {
        return Err("the password is empty".into());
    }
    Ok(password)
}
