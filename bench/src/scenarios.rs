//! The benchmark scenarios. Every one sets up what it needs through the client-server API
//! (users through shared-secret registration), then measures.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::Args;
use crate::client::{Client, Result, http, register};
use crate::stats::percentile_ms;

/// A room that the server will accept plaintext messages in, where possible; Citadel's
/// default policy makes every room encrypted, so `send` needs `[e2ee] enforce = "off"`.
pub(crate) const PLAIN_ROOM: &str = r#"{"preset": "public_chat"}"#;

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}{nanos:x}{}", rand_suffix())
}

pub(crate) fn rand_suffix() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

pub(crate) async fn users(
    args: &Args,
    url: &str,
    prefix: &str,
    count: usize,
) -> Result<Vec<Client>> {
    let http = http();
    let tag = unique(prefix);
    let mut out = Vec::with_capacity(count);
    for chunk in (0..count).collect::<Vec<_>>().chunks(10) {
        let names: Vec<String> = chunk.iter().map(|i| format!("{tag}u{i}")).collect();
        let batch = join_all(
            names
                .iter()
                .map(|name| register(&http, url, &args.shared_secret, name)),
        )
        .await;
        for user in batch {
            out.push(user?);
        }
    }
    Ok(out)
}

pub async fn run(args: &Args, url: &str, scenario: &str) -> Result<Value> {
    match scenario {
        "register-login" => register_login(args, url).await,
        "send" => send(args, url, false).await,
        "send-encrypted" => send(args, url, true).await,
        "fanout" => fanout(args, url).await,
        "initial-sync" => initial_sync(args, url).await,
        "initial-sync-1000" => initial_sync_1000(args, url).await,
        "create-rooms" => create_rooms(args, url).await,
        "join" => crate::joins::joins(args, url, "join", 500).await,
        "join-5000" => crate::joins::joins(args, url, "join-5000", 5000).await,
        "federated-join" => federated_join(args, url).await,
        "sliding-sync" => crate::sliding::sliding_sync(args, url).await,
        other => Err(format!("unknown scenario {other}")),
    }
}

async fn register_login(args: &Args, url: &str) -> Result<Value> {
    let n = args.scaled(50);
    let started = Instant::now();
    let registered = users(args, url, "reg", n).await?;
    let register_secs = started.elapsed().as_secs_f64();
    let http = http();
    let names: Vec<String> = registered
        .iter()
        .map(|c| {
            c.user_id
                .trim_start_matches('@')
                .split(':')
                .next()
                .unwrap_or("")
                .to_owned()
        })
        .collect();
    let started = Instant::now();
    for chunk in names.chunks(10) {
        for result in join_all(chunk.iter().map(|name| Client::login(&http, url, name))).await {
            result?;
        }
    }
    let login_secs = started.elapsed().as_secs_f64();
    Ok(json!({
        "scenario": "register-login", "accounts": n, "concurrency": 10,
        "registrations_per_s": n as f64 / register_secs, "logins_per_s": n as f64 / login_secs,
        "note": "dominated by password hashing (Citadel: argon2id m=19 MiB t=2 p=1; Synapse: bcrypt rounds=12)",
    }))
}

/// A megolm-encrypted event content with a real ciphertext.
fn encrypted_content(session: &mut vodozemac::megolm::GroupSession, body: &str) -> Value {
    let plaintext =
        json!({"type": "m.room.message", "content": {"msgtype": "m.text", "body": body}});
    json!({
        "algorithm": "m.megolm.v1.aes-sha2",
        "ciphertext": session.encrypt(plaintext.to_string()).to_base64(),
        "session_id": session.session_id(),
        "sender_key": "benchbenchbenchbenchbenchbenchbenchbenchben",
        "device_id": "BENCHDEVICE",
    })
}

/// Unmeasured sends per sender before the `send` scenario's clock starts.
const WARM_UP_SENDS: usize = 3;

async fn send(args: &Args, url: &str, encrypted: bool) -> Result<Value> {
    let senders = 10;
    let per_sender = args.scaled(100);
    let clients = users(args, url, "send", senders).await?;
    let room_body: Value = if encrypted {
        json!({"preset": "public_chat", "initial_state": [{"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}]})
    } else {
        serde_json::from_str(PLAIN_ROOM).unwrap_or_default()
    };
    let room = clients[0].create_room(room_body).await?;
    for client in &clients[1..] {
        client.join(&room).await?;
    }
    // Warm-up, not measured: each sender's connection is open and each server has seen
    // every sender send before the clock starts.
    for (i, client) in clients.iter().enumerate() {
        let mut session =
            vodozemac::megolm::GroupSession::new(vodozemac::megolm::SessionConfig::version_1());
        for n in 0..WARM_UP_SENDS {
            let (kind, content) = if encrypted {
                (
                    "m.room.encrypted",
                    encrypted_content(&mut session, "warm-up"),
                )
            } else {
                (
                    "m.room.message",
                    json!({"msgtype": "m.text", "body": "warm-up"}),
                )
            };
            let txn = format!("w{i}-{n}-{}", rand_suffix());
            client.send(&room, kind, &txn, &content).await?;
        }
    }
    let started = Instant::now();
    let tasks = clients.into_iter().enumerate().map(|(i, client)| {
        let room = room.clone();
        async move {
            let mut session =
                vodozemac::megolm::GroupSession::new(vodozemac::megolm::SessionConfig::version_1());
            let mut latencies = Vec::with_capacity(per_sender);
            for n in 0..per_sender {
                let body = format!("message {n} from sender {i}");
                let (kind, content) = if encrypted {
                    ("m.room.encrypted", encrypted_content(&mut session, &body))
                } else {
                    ("m.room.message", json!({"msgtype": "m.text", "body": body}))
                };
                let sent = Instant::now();
                client
                    .send(
                        &room,
                        kind,
                        &format!("b{i}-{n}-{}", rand_suffix()),
                        &content,
                    )
                    .await?;
                latencies.push(sent.elapsed());
            }
            Ok::<_, String>(latencies)
        }
    });
    let mut latencies = Vec::new();
    for result in join_all(tasks).await {
        latencies.extend(result?);
    }
    let secs = started.elapsed().as_secs_f64();
    Ok(json!({
        "scenario": if encrypted { "send-encrypted" } else { "send" },
        "mode": if encrypted { "m.room.encrypted (real megolm ciphertext)" } else { "m.room.message (plaintext)" },
        "senders": senders, "events": latencies.len(),
        "events_per_s": latencies.len() as f64 / secs,
        "p50_ms": percentile_ms(&mut latencies, 50.0), "p99_ms": percentile_ms(&mut latencies, 99.0),
    }))
}

async fn fanout(args: &Args, url: &str) -> Result<Value> {
    let members = 20;
    let messages = args.scaled(20);
    let mut clients = users(args, url, "fan", members + 1).await?;
    let sender = clients.remove(0);
    let room = sender
        .create_room(serde_json::from_str(PLAIN_ROOM).unwrap_or_default())
        .await?;
    for client in &clients {
        client.join(&room).await?;
    }
    // Every member long-polls; each records when it first sees each event.
    // Receivers may see an event before its sender learns its ID, so sightings are
    // recorded raw and matched with send times afterwards.
    let sent_at: Arc<Mutex<std::collections::HashMap<String, Instant>>> = Arc::default();
    let seen: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut pollers = Vec::new();
    for client in clients {
        let (seen, stop) = (seen.clone(), stop.clone());
        let mut since = client
            .sync(None, 0, Some(r#"{"room":{"timeline":{"limit":1}}}"#))
            .await?
            .0["next_batch"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        pollers.push(tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let Ok((body, _)) = client.sync(Some(&since), 10_000, None).await else {
                    break;
                };
                let now = Instant::now();
                since = body["next_batch"].as_str().unwrap_or(&since).to_owned();
                for room in body["rooms"]["join"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(_, r)| r)
                {
                    for event in room["timeline"]["events"].as_array().into_iter().flatten() {
                        if let Some(id) = event["event_id"].as_str() {
                            seen.lock().await.push((id.to_owned(), now));
                        }
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for n in 0..messages {
        let started = Instant::now();
        let id = sender
            .send(
                &room,
                "m.room.message",
                &format!("f{n}-{}", rand_suffix()),
                &json!({"msgtype": "m.text", "body": "fan"}),
            )
            .await?;
        sent_at.lock().await.insert(id, started);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for poller in pollers {
        poller.abort();
    }
    let sent_at = sent_at.lock().await.clone();
    let mut seen: Vec<Duration> = seen
        .lock()
        .await
        .iter()
        .filter_map(|(id, at)| {
            sent_at
                .get(id)
                .map(|sent| at.saturating_duration_since(*sent))
        })
        .collect();
    let deliveries = seen.len();
    Ok(json!({
        "scenario": "fanout", "members": members, "messages": messages,
        "deliveries": deliveries, "expected_deliveries": members * messages,
        "p50_ms": percentile_ms(&mut seen, 50.0), "p99_ms": percentile_ms(&mut seen, 99.0), "max_ms": percentile_ms(&mut seen, 100.0),
    }))
}

async fn initial_sync(args: &Args, url: &str) -> Result<Value> {
    let rooms = args.scaled(100);
    let events = args.scaled(20);
    let user = users(args, url, "isync", 1).await?.remove(0);
    fill_rooms(&user, 0..rooms, events).await?;
    let (first_ms, p50_ms, size) = time_initial_syncs(&user, rooms, 5).await?;
    // The first sync builds everything; a server may answer the repeats from a cache of
    // recent responses (Synapse keeps them two minutes), so both are reported.
    Ok(json!({
        "scenario": "initial-sync", "rooms": rooms, "events_per_room": events,
        "first_ms": first_ms, "p50_ms": p50_ms, "response_bytes": size,
    }))
}

/// Whether an initial sync grows linearly with the rooms: one user in 100 rooms of 5
/// events, then in 1,000; the first sync at each size and their ratio (10 is linear).
async fn initial_sync_1000(args: &Args, url: &str) -> Result<Value> {
    let small = args.scaled(100);
    let large = args.scaled(1000).max(small + 1);
    let events = 5;
    let user = users(args, url, "isync", 1).await?.remove(0);
    fill_rooms(&user, 0..small, events).await?;
    let (small_ms, _, small_bytes) = time_initial_syncs(&user, small, 1).await?;
    fill_rooms(&user, small..large, events).await?;
    let (large_ms, _, large_bytes) = time_initial_syncs(&user, large, 1).await?;
    Ok(json!({
        "scenario": "initial-sync-1000", "events_per_room": events,
        "rooms_small": small, "small_ms": small_ms, "small_bytes": small_bytes,
        "rooms_large": large, "large_ms": large_ms, "large_bytes": large_bytes,
        "time_ratio": large_ms / small_ms.max(0.001),
    }))
}

/// Creates the rooms numbered `range` for `user`, each with `events` messages.
async fn fill_rooms(user: &Client, range: std::ops::Range<usize>, events: usize) -> Result<()> {
    for r in range {
        let room = user
            .create_room(serde_json::from_str(PLAIN_ROOM).unwrap_or_default())
            .await?;
        for e in 0..events {
            user.send(
                &room,
                "m.room.message",
                &format!("i{r}-{e}-{}", rand_suffix()),
                &json!({"msgtype": "m.text", "body": format!("event {e}")}),
            )
            .await?;
        }
    }
    Ok(())
}

/// `times` initial syncs: the first's time, the p50, and the response size (ms, bytes);
/// fails unless every one of the user's `rooms` is in each response.
async fn time_initial_syncs(
    user: &Client,
    rooms: usize,
    times: usize,
) -> Result<(f64, f64, usize)> {
    let mut samples = Vec::new();
    let mut size = 0;
    for _ in 0..times {
        let (elapsed, body, bytes) = user.timed_initial_sync().await?;
        let joined = body["rooms"]["join"].as_object().map_or(0, |j| j.len());
        if joined != rooms {
            return Err(format!(
                "initial sync shows {joined} joined rooms, not {rooms}"
            ));
        }
        samples.push(elapsed);
        size = bytes;
    }
    let first_ms = samples[0].as_secs_f64() * 1000.0;
    Ok((first_ms, percentile_ms(&mut samples, 50.0), size))
}

async fn create_rooms(args: &Args, url: &str) -> Result<Value> {
    let n = args.scaled(100);
    let clients = users(args, url, "cr", 10).await?;
    let started = Instant::now();
    let per = n.div_ceil(10);
    let tasks = clients.into_iter().map(|client| async move {
        let mut ids = Vec::new();
        for _ in 0..per {
            ids.push(client.create_room(json!({})).await?);
        }
        Ok::<_, String>(ids)
    });
    let mut created = Vec::new();
    for result in join_all(tasks).await {
        created.extend(result?);
    }
    let secs = started.elapsed().as_secs_f64();
    let distinct = created
        .iter()
        .collect::<std::collections::HashSet<_>>()
        .len();
    Ok(
        json!({ "scenario": "create-rooms", "rooms": created.len(), "concurrency": 10, "distinct": distinct,
               "rooms_per_s": created.len() as f64 / secs }),
    )
}

/// A user of the measured server joins rooms of N members hosted on another server:
/// the time until the join returns, and until a message sent right after it is
/// acknowledged (the room is usable). Three rooms; p50 and max.
async fn federated_join(args: &Args, url: &str) -> Result<Value> {
    let (Some(host_url), Some(host_name)) = (&args.host_url, &args.host_name) else {
        return Err("federated-join needs --host-url and --host-name".into());
    };
    let members = args.scaled(100);
    let hosts = users(args, host_url, "fh", members).await?;
    let joiner = users(args, url, "fj", 1).await?.remove(0);
    let mut joins = Vec::new();
    let mut usable = Vec::new();
    for round in 0..3 {
        let room = hosts[0]
            .create_room(serde_json::from_str(PLAIN_ROOM).unwrap_or_default())
            .await?;
        for chunk in hosts[1..].chunks(10) {
            for result in join_all(chunk.iter().map(|c| c.join(&room))).await {
                result?;
            }
        }
        let started = Instant::now();
        let path = format!(
            "/_matrix/client/v3/join/{}?server_name={}&via={}",
            crate::client::enc(&room),
            crate::client::enc(host_name),
            crate::client::enc(host_name)
        );
        joiner
            .request(reqwest::Method::POST, &path, Some(&json!({})))
            .await?;
        joins.push(started.elapsed());
        joiner
            .send(
                &room,
                "m.room.message",
                &format!("fj{round}"),
                &json!({"msgtype": "m.text", "body": "hi"}),
            )
            .await?;
        usable.push(started.elapsed());
    }
    Ok(json!({
        "scenario": "federated-join", "room_members": members, "rooms": 3,
        "join_p50_ms": percentile_ms(&mut joins.clone(), 50.0),
        "join_max_ms": percentile_ms(&mut joins, 100.0),
        "usable_p50_ms": percentile_ms(&mut usable, 50.0),
    }))
}
