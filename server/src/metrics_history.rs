//! The last hour of a few headline metrics, sampled in memory for the admin dashboard's
//! charts (requests per second, p99 latency, events per second, failed logins), so a
//! server without Prometheus still shows how it is doing.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;

/// How often a sample is taken, and how many are kept (one hour).
pub const INTERVAL: Duration = Duration::from_secs(10);
const KEEP: usize = 361;

/// Upper bounds of the latency buckets, in milliseconds; one more bucket holds the rest.
const BOUNDS_MS: [u64; 12] = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000];

/// Running totals since start-up, updated as requests finish.
#[derive(Default)]
pub struct Totals {
    requests: AtomicU64,
    /// Requests other than long polls, by latency bucket.
    latency: [AtomicU64; BOUNDS_MS.len() + 1],
    events: AtomicU64,
    failed_logins: AtomicU64,
}

#[derive(Clone, Copy, Default)]
struct Sample {
    ts: u64,
    requests: u64,
    latency: [u64; BOUNDS_MS.len() + 1],
    events: u64,
    failed_logins: u64,
}

/// One chart point: what happened between two samples.
#[derive(Serialize, Debug, PartialEq)]
pub struct Point {
    pub ts: u64,
    pub requests_per_second: f64,
    /// `None` when no request (other than long polls) finished in the interval.
    pub p99_ms: Option<u64>,
    pub events_per_second: f64,
    pub failed_logins: u64,
}

#[derive(Default)]
pub struct History {
    pub totals: Totals,
    samples: Mutex<VecDeque<Sample>>,
}

/// Sync and the legacy event stream wait for news on purpose; their latency says nothing
/// about how fast the server is.
fn is_long_poll(route: &str) -> bool {
    route.ends_with("/sync") || route.ends_with("/events")
}

impl Totals {
    pub fn request(&self, route: &str, seconds: f64) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if !is_long_poll(route) {
            let ms = (seconds * 1000.0) as u64;
            let bucket = BOUNDS_MS
                .iter()
                .position(|&bound| ms <= bound)
                .unwrap_or(BOUNDS_MS.len());
            self.latency[bucket].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn event(&self) {
        self.events.fetch_add(1, Ordering::Relaxed);
    }

    pub fn failed_login(&self) {
        self.failed_logins.fetch_add(1, Ordering::Relaxed);
    }

    fn read(&self, ts: u64) -> Sample {
        let load = |n: &AtomicU64| n.load(Ordering::Relaxed);
        Sample {
            ts,
            requests: load(&self.requests),
            latency: std::array::from_fn(|i| load(&self.latency[i])),
            events: load(&self.events),
            failed_logins: load(&self.failed_logins),
        }
    }
}

fn point(before: &Sample, after: &Sample) -> Point {
    let seconds = (after.ts.saturating_sub(before.ts) as f64 / 1000.0).max(0.001);
    let counts: Vec<u64> = (0..after.latency.len())
        .map(|i| after.latency[i].saturating_sub(before.latency[i]))
        .collect();
    let total: u64 = counts.iter().sum();
    let p99_ms = (total > 0).then(|| {
        // The bucket holding the 99th percentile; its upper bound is the estimate.
        let rank = (total * 99).div_ceil(100);
        let mut seen = 0;
        let bucket = counts
            .iter()
            .position(|&n| {
                seen += n;
                seen >= rank
            })
            .unwrap_or(BOUNDS_MS.len());
        BOUNDS_MS.get(bucket).copied().unwrap_or(10_000)
    });
    let per_second =
        |a: u64, b: u64| ((b.saturating_sub(a)) as f64 / seconds * 100.0).round() / 100.0;
    Point {
        ts: after.ts,
        requests_per_second: per_second(before.requests, after.requests),
        p99_ms,
        events_per_second: per_second(before.events, after.events),
        failed_logins: after.failed_logins.saturating_sub(before.failed_logins),
    }
}

impl History {
    /// Takes a sample now, dropping the oldest beyond an hour.
    pub fn sample(&self, now_ms: u64) {
        let sample = self.totals.read(now_ms);
        if let Ok(mut samples) = self.samples.lock() {
            samples.push_back(sample);
            while samples.len() > KEEP {
                samples.pop_front();
            }
        }
    }

    /// The points of the last hour, oldest first, ending with the interval since the
    /// last sample.
    pub fn points(&self, now_ms: u64) -> Vec<Point> {
        let Ok(samples) = self.samples.lock() else {
            return Vec::new();
        };
        let mut points: Vec<Point> = samples
            .iter()
            .zip(samples.iter().skip(1))
            .map(|(a, b)| point(a, b))
            .collect();
        if let Some(last) = samples.back()
            && now_ms > last.ts + 1000
        {
            points.push(point(last, &self.totals.read(now_ms)));
        }
        points
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_are_rates_and_a_percentile_between_samples() {
        let history = History::default();
        history.sample(0);
        for _ in 0..98 {
            history
                .totals
                .request("/_matrix/client/v3/rooms/:room_id/send", 0.003);
        }
        history.totals.request("/_matrix/client/v3/login", 0.2);
        history.totals.request("/_matrix/client/v3/login", 0.2);
        // A long poll counts as a request but not towards latency.
        history.totals.request("/_matrix/client/v3/sync", 30.0);
        history.totals.event();
        history.totals.failed_login();
        history.sample(10_000);
        let points = history.points(10_000);
        assert_eq!(
            points,
            vec![Point {
                ts: 10_000,
                requests_per_second: 10.1,
                p99_ms: Some(250),
                events_per_second: 0.1,
                failed_logins: 1,
            }]
        );
        // Nothing happened since: the live point shows no latency at all.
        let live = history.points(15_000);
        assert_eq!(live.len(), 2);
        assert_eq!(live[1].p99_ms, None);
        assert_eq!(live[1].requests_per_second, 0.0);
    }

    #[test]
    fn an_hour_of_samples_is_kept() {
        let history = History::default();
        for i in 0..1000 {
            history.sample(i * 10_000);
        }
        assert_eq!(history.points(999 * 10_000).len(), KEEP - 1);
    }
}
