//! The `sliding-sync` scenario: a user in many rooms opens a sliding-sync connection for
//! the top 20 rooms by recency (as Element X starts), and waits for news on it.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::Args;
use crate::client::{Client, Result};
use crate::stats::percentile_ms;

/// The unstable path: the one both Synapse and Citadel serve, and clients call today.
const PATH: &str = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync";

/// The first request of Element X's room list: the top 20 rooms, one event each.
fn room_list_request(conn_id: &str) -> Value {
    json!({
        "conn_id": conn_id,
        "lists": {"all_rooms": {
            "ranges": [[0, 19]],
            "timeline_limit": 1,
            "required_state": [
                ["m.room.name", ""], ["m.room.avatar", ""], ["m.room.encryption", ""],
                ["m.room.member", "$LAZY"], ["m.room.member", "$ME"], ["m.room.create", ""],
            ],
        }},
    })
}

async fn post(client: &Client, pos: Option<&str>, timeout_ms: u64, body: &Value) -> Result<Value> {
    let mut path = format!("{PATH}?timeout={timeout_ms}");
    if let Some(pos) = pos {
        path.push_str(&format!("&pos={}", crate::client::enc(pos)));
    }
    client
        .request(reqwest::Method::POST, &path, Some(body))
        .await
}

pub async fn sliding_sync(args: &Args, url: &str) -> Result<Value> {
    let rooms = args.scaled(1000).max(21);
    let events = args.scaled(20);
    let user = crate::scenarios::users(args, url, "ssync", 1)
        .await?
        .remove(0);
    // Set up ten rooms at a time; the order of creation is the order of activity.
    let mut room_ids = Vec::with_capacity(rooms);
    for chunk in (0..rooms).collect::<Vec<_>>().chunks(10) {
        let made = join_all(chunk.iter().map(|r| {
            let user = &user;
            async move {
                let room = user
                    .create_room(json!({"preset": "private_chat", "name": format!("Room {r}")}))
                    .await?;
                for e in 0..events {
                    user.send(
                        &room,
                        "m.room.message",
                        &format!("ss{r}-{e}-{}", crate::scenarios::rand_suffix()),
                        &json!({"msgtype": "m.text", "body": format!("event {e}")}),
                    )
                    .await?;
                }
                Ok::<String, String>(room)
            }
        }))
        .await;
        for room in made {
            room_ids.push(room?);
        }
    }

    // The first response of a new connection, twenty times.
    let mut first = Vec::new();
    for n in 0..20 {
        let body = room_list_request(&format!("bench{n}"));
        let started = Instant::now();
        let response = post(&user, None, 0, &body).await?;
        first.push(started.elapsed());
        let shown = response["rooms"].as_object().map_or(0, |r| r.len());
        if shown != 20 {
            // The list's count says whether rooms were missing from the list or only
            // from the response's room bodies.
            let count = &response["lists"]["all_rooms"]["count"];
            return Err(format!(
                "the first response shows {shown} rooms, not 20 (list count {count} of {rooms})"
            ));
        }
    }

    // Wake-ups: an event in the least recently active room reaches a waiting request.
    let body = room_list_request("wake");
    let mut pos = post(&user, None, 0, &body).await?["pos"]
        .as_str()
        .ok_or("no pos")?
        .to_owned();
    let mut wakes = Vec::new();
    // Room 0 is the least recently active, then room 1, …: each wake-up bumps its room.
    for oldest in room_ids.iter().take(10) {
        let waiting = {
            let (user, body, pos) = (user.clone(), body.clone(), pos.clone());
            tokio::spawn(async move { post(&user, Some(&pos), 30_000, &body).await })
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        let started = Instant::now();
        user.send(
            oldest,
            "m.room.message",
            &format!("wake-{}", crate::scenarios::rand_suffix()),
            &json!({"msgtype": "m.text", "body": "wake up"}),
        )
        .await?;
        let response = waiting.await.map_err(|e| e.to_string())??;
        let elapsed = started.elapsed();
        if response["rooms"].get(oldest.as_str()).is_none() {
            return Err(format!("the wake-up did not carry {oldest}: {response}"));
        }
        wakes.push(elapsed);
        pos = response["pos"].as_str().ok_or("no pos")?.to_owned();
    }
    // The same wake-ups through a `/sync` v3 long poll, for comparison.
    let filter = r#"{"room":{"timeline":{"limit":1}}}"#;
    let mut since = user.sync(None, 0, Some(filter)).await?.0["next_batch"]
        .as_str()
        .ok_or("no next_batch")?
        .to_owned();
    let mut v3_wakes = Vec::new();
    for oldest in room_ids.iter().skip(10).take(10) {
        let waiting = {
            let (user, since) = (user.clone(), since.clone());
            tokio::spawn(async move { user.sync(Some(&since), 30_000, Some(filter)).await })
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        let started = Instant::now();
        user.send(
            oldest,
            "m.room.message",
            &format!("wake3-{}", crate::scenarios::rand_suffix()),
            &json!({"msgtype": "m.text", "body": "wake up"}),
        )
        .await?;
        let (response, _) = waiting.await.map_err(|e| e.to_string())??;
        v3_wakes.push(started.elapsed());
        if response["rooms"]["join"].get(oldest.as_str()).is_none() {
            return Err(format!("the v3 wake-up did not carry {oldest}"));
        }
        since = response["next_batch"]
            .as_str()
            .ok_or("no next_batch")?
            .to_owned();
    }
    Ok(json!({
        "scenario": "sliding-sync", "rooms": rooms, "events_per_room": events,
        "first_p50_ms": percentile_ms(&mut first, 50.0),
        "wake_p50_ms": percentile_ms(&mut wakes, 50.0),
        "wake_max_ms": percentile_ms(&mut wakes, 100.0),
        "v3_wake_p50_ms": percentile_ms(&mut v3_wakes, 50.0),
    }))
}
