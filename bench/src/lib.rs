//! `citadel-bench`: measures a Matrix homeserver through the client-server API only, so
//! the same run works against Citadel and Synapse. Each scenario prints its parameters
//! and figures as a table row and as one JSON line; `--compare URL2` runs everything
//! against a second server and prints the ratios.

pub mod client;
pub mod joins;
pub mod scenarios;
pub mod sliding;
pub mod stats;

use std::time::Duration;

use clap::Parser;
use serde_json::{Value, json};

#[derive(Parser, Clone)]
#[command(
    name = "citadel-bench",
    about = "Benchmark a Matrix homeserver through the client-server API"
)]
pub struct Args {
    /// Base URL of the server, e.g. http://127.0.0.1:8008
    #[arg(long, default_value = "http://127.0.0.1:8008")]
    pub url: String,
    /// A second server to run the same scenarios against, for ratios.
    #[arg(long)]
    pub compare: Option<String>,
    /// Registration shared secret of the server(s) (`/_synapse/admin/v1/register`).
    #[arg(long, env = "BENCH_SHARED_SECRET")]
    pub shared_secret: String,
    /// Process ID of the server, to report its memory (RSS and peak).
    #[arg(long)]
    pub pid: Option<u32>,
    /// Process ID of the compared server.
    #[arg(long)]
    pub compare_pid: Option<u32>,
    /// Scenarios to run (comma-separated): send, send-encrypted, fanout, initial-sync,
    /// create-rooms, join, register-login, federated-join (needs --host-url/--host-name),
    /// sliding-sync.
    #[arg(
        long,
        default_value = "register-login,send,fanout,initial-sync,create-rooms,join,federated-join,sliding-sync"
    )]
    pub scenarios: String,
    /// Scale factor: 1.0 is the documented size; CI uses a tiny one.
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    /// For `federated-join`: the client-API URL of the server hosting the room (its users
    /// are registered with the same shared secret).
    #[arg(long)]
    pub host_url: Option<String>,
    /// For `federated-join`: that server's server name, to join through.
    #[arg(long)]
    pub host_name: Option<String>,
}

impl Args {
    pub fn scaled(&self, n: usize) -> usize {
        ((n as f64 * self.scale).round() as usize).max(1)
    }
}

/// Runs every requested scenario against `url`; returns one result per scenario.
pub async fn run_all(args: &Args, url: &str, pid: Option<u32>) -> Vec<Value> {
    println!("\n== {url} ==");
    let mut results = Vec::new();
    if let Some(pid) = pid {
        let idle = stats::memory(pid, "memory-idle");
        stats::print(&idle);
        results.push(idle);
    }
    for scenario in args
        .scenarios
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        if scenario == "federated-join" && args.host_url.is_none() {
            println!("  federated-join   skipped: no --host-url/--host-name");
            continue;
        }
        let result = tokio::time::timeout(
            Duration::from_secs(600),
            scenarios::run(args, url, scenario),
        )
        .await;
        let value = match result {
            Ok(Ok(value)) => value,
            Ok(Err(e)) => json!({ "scenario": scenario, "error": e }),
            Err(_) => json!({ "scenario": scenario, "error": "timed out" }),
        };
        stats::print(&value);
        results.push(value);
    }
    if let Some(pid) = pid {
        let memory = stats::memory(pid, "memory-after");
        stats::print(&memory);
        results.push(memory);
    }
    results
}
