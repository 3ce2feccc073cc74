//! A minimal client of the client-server API for the benchmark.

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha1::Sha1;

#[derive(Clone)]
pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
    pub user_id: String,
}

pub type Result<T> = std::result::Result<T, String>;

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .expect("HTTP client")
}

async fn json_of(response: reqwest::Response) -> Result<Value> {
    let status = response.status();
    let body: Value = response.json().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("{status}: {body}"));
    }
    Ok(body)
}

/// Registers through the shared-secret admin API, which Citadel and Synapse both offer.
pub async fn register(
    http: &reqwest::Client,
    base: &str,
    secret: &str,
    username: &str,
) -> Result<Client> {
    let url = format!("{base}/_synapse/admin/v1/register");
    let nonce = json_of(http.get(&url).send().await.map_err(|e| e.to_string())?).await?;
    let nonce = nonce["nonce"].as_str().ok_or("no nonce")?.to_owned();
    let password = format!("bench-{username}-pw");
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).map_err(|e| e.to_string())?;
    mac.update(nonce.as_bytes());
    mac.update(b"\x00");
    mac.update(username.as_bytes());
    mac.update(b"\x00");
    mac.update(password.as_bytes());
    mac.update(b"\x00notadmin");
    let body = json!({"nonce": nonce, "username": username, "password": password, "admin": false,
                      "mac": hex::encode(mac.finalize().into_bytes())});
    let registered = json_of(
        http.post(&url)
            .json(&body)
            .send()
            .await
            .map_err(|e| e.to_string())?,
    )
    .await?;
    Ok(Client {
        http: http.clone(),
        base: base.to_owned(),
        token: registered["access_token"]
            .as_str()
            .ok_or("no token")?
            .to_owned(),
        user_id: registered["user_id"]
            .as_str()
            .ok_or("no user_id")?
            .to_owned(),
    })
}

pub fn enc(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Client {
    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(body);
        }
        json_of(request.send().await.map_err(|e| e.to_string())?).await
    }

    pub async fn create_room(&self, body: Value) -> Result<String> {
        let created = self
            .request(
                reqwest::Method::POST,
                "/_matrix/client/v3/createRoom",
                Some(&body),
            )
            .await?;
        Ok(created["room_id"].as_str().ok_or("no room_id")?.to_owned())
    }

    pub async fn send(&self, room: &str, kind: &str, txn: &str, content: &Value) -> Result<String> {
        let path = format!("/_matrix/client/v3/rooms/{}/send/{kind}/{txn}", enc(room));
        let sent = self
            .request(reqwest::Method::PUT, &path, Some(content))
            .await?;
        Ok(sent["event_id"].as_str().ok_or("no event_id")?.to_owned())
    }

    pub async fn join(&self, room: &str) -> Result<()> {
        self.request(
            reqwest::Method::POST,
            &format!("/_matrix/client/v3/join/{}", enc(room)),
            Some(&json!({})),
        )
        .await
        .map(|_| ())
    }

    pub async fn sync(
        &self,
        since: Option<&str>,
        timeout_ms: u64,
        filter: Option<&str>,
    ) -> Result<(Value, usize)> {
        let mut path = format!("/_matrix/client/v3/sync?timeout={timeout_ms}");
        if let Some(since) = since {
            path.push_str(&format!("&since={since}"));
        }
        if let Some(filter) = filter {
            path.push_str(&format!("&filter={}", enc(filter)));
        }
        let (_, body, size) = self.timed_get(&path).await?;
        Ok((body, size))
    }

    /// An initial `/sync`: the elapsed time, the parsed body and its size.
    pub async fn timed_initial_sync(&self) -> Result<(std::time::Duration, Value, usize)> {
        self.timed_get("/_matrix/client/v3/sync").await
    }

    /// A GET timed from sending the request to receiving the last byte (parsing the body
    /// is the client's work, not the server's); the elapsed time, the parsed body and its
    /// size.
    async fn timed_get(&self, path: &str) -> Result<(std::time::Duration, Value, usize)> {
        let started = std::time::Instant::now();
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let bytes = response.bytes().await.map_err(|e| e.to_string())?;
        let elapsed = started.elapsed();
        let body = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
        Ok((elapsed, body, bytes.len()))
    }

    pub async fn login(http: &reqwest::Client, base: &str, username: &str) -> Result<()> {
        let body = json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": username},
                          "password": format!("bench-{username}-pw")});
        json_of(
            http.post(format!("{base}/_matrix/client/v3/login"))
                .json(&body)
                .send()
                .await
                .map_err(|e| e.to_string())?,
        )
        .await
        .map(|_| ())
    }
}
