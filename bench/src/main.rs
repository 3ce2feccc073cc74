//! `citadel-bench` command line: see the crate README.

use clap::Parser;
use serde_json::json;

use citadel_bench::{Args, run_all, stats};

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = Args::parse();
    let primary = run_all(&args, &args.url, args.pid).await;
    if let Some(other) = &args.compare {
        let secondary = run_all(&args, other, args.compare_pid).await;
        println!("\nratios ({} / {}):", args.url, other);
        for (a, b) in primary.iter().zip(&secondary) {
            let ratios = stats::ratios(a, b);
            println!("  {:<16} {}", a["scenario"].as_str().unwrap_or(""), ratios);
            println!("{}", json!({ "scenario": a["scenario"], "ratios": ratios }));
        }
    }
}
