//! Joining one room many times: whether a join costs more as the room grows.
//!
//! Joins go 10 at a time (a server serializes the writes of one room anyway). Besides
//! the total and p99, each run reports the mean latency of the first and the last tenth
//! of the joins and their ratio: a join path that does per-member work shows it as a
//! ratio well above 1.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::Args;
use crate::client::Result;
use crate::scenarios::{PLAIN_ROOM, users};
use crate::stats::percentile_ms;

/// `members` users join one new room; the figures are named after `scenario`.
pub async fn joins(args: &Args, url: &str, scenario: &str, members: usize) -> Result<Value> {
    let n = args.scaled(members).max(10);
    let owner = users(args, url, "jo", 1).await?.remove(0);
    let room = owner
        .create_room(serde_json::from_str(PLAIN_ROOM).unwrap_or_default())
        .await?;
    let joiners = users(args, url, "jn", n).await?;
    let started = Instant::now();
    let mut latencies = Vec::with_capacity(n);
    for chunk in joiners.chunks(10) {
        let batch = join_all(chunk.iter().map(|c| {
            let room = room.clone();
            async move {
                let t = Instant::now();
                c.join(&room).await.map(|_| t.elapsed())
            }
        }))
        .await;
        for result in batch {
            latencies.push(result?);
        }
    }
    let total = started.elapsed().as_secs_f64();
    let tenth = (n / 10).max(1);
    let first = mean_ms(&latencies[..tenth]);
    let last = mean_ms(&latencies[n - tenth..]);
    Ok(json!({
        "scenario": scenario, "joins": n, "total_s": total,
        "p99_ms": percentile_ms(&mut latencies, 99.0),
        "first_tenth_ms": first, "last_tenth_ms": last,
        "last_over_first": if first > 0.0 { last / first } else { 0.0 },
    }))
}

fn mean_ms(samples: &[Duration]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    samples.iter().map(Duration::as_secs_f64).sum::<f64>() * 1000.0 / samples.len() as f64
}
