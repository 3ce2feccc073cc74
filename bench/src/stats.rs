//! Figures: percentiles, output and ratios, and the server's memory.

use std::time::Duration;

use serde_json::{Map, Value, json};

/// `p` (0..=100) percentile of the durations, in milliseconds.
pub fn percentile_ms(samples: &mut [Duration], p: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    samples.sort();
    let index = ((p / 100.0) * (samples.len() - 1) as f64).round() as usize;
    samples[index.min(samples.len() - 1)].as_secs_f64() * 1000.0
}

pub fn print(value: &Value) {
    let name = value["scenario"].as_str().unwrap_or("?");
    let figures: Vec<String> = value
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| *k != "scenario")
        .map(|(k, v)| match v.as_f64() {
            Some(n) if n.fract() != 0.0 => format!("{k}={n:.2}"),
            _ => format!("{k}={v}"),
        })
        .collect();
    println!("  {name:<16} {}", figures.join("  "));
    println!("{value}");
}

/// Ratio a/b for every number both results have.
pub fn ratios(a: &Value, b: &Value) -> Value {
    let mut out = Map::new();
    for (key, value) in a.as_object().into_iter().flatten() {
        if let (Some(x), Some(y)) = (value.as_f64(), b[key].as_f64())
            && y != 0.0
        {
            out.insert(key.clone(), json!((x / y * 100.0).round() / 100.0));
        }
    }
    Value::Object(out)
}

/// Resident memory of a process, from /proc (Linux).
pub fn memory(pid: u32, scenario: &str) -> Value {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .map(|kib| (kib / 1024.0 * 10.0).round() / 10.0)
    };
    json!({ "scenario": scenario, "rss_mib": field("VmRSS:"), "peak_rss_mib": field("VmHWM:") })
}
