//! Prometheus metrics (the `prometheus` crate): counters and histograms updated where
//! things happen, and gauges read from storage when `/metrics` is scraped.

use std::sync::atomic::{AtomicU64, Ordering};

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use crate::app::AppState;

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    request_seconds: HistogramVec,
    syncs_waiting: IntGaugeVec,
    events_persisted: IntCounterVec,
    logins_failed: IntCounter,
    federation_queue: IntGaugeVec,
    federation_failures: IntGaugeVec,
    to_device_queue: IntGauge,
    database_bytes: IntGauge,
    cache_lookups: IntGaugeVec,
    /// The last hour in memory, for the admin dashboard.
    pub history: crate::metrics_history::History,
}

/// Hits and misses of an in-memory cache, read at scrape time.
#[derive(Default)]
pub struct CacheStats {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
}

impl CacheStats {
    pub fn hit(&self) {
        self.hits.fetch_add(1, Ordering::Relaxed);
    }
    pub fn miss(&self) {
        self.misses.fetch_add(1, Ordering::Relaxed);
    }
}

/// Counts a waiting sync for as long as it lives.
pub struct Waiting<'a>(&'a IntGaugeVec, &'static str);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.with_label_values(&[self.1]).dec();
    }
}

fn register<T: prometheus::core::Collector + Clone + 'static>(registry: &Registry, metric: T) -> T {
    // Names are fixed and distinct, so registering cannot fail; a failure would only
    // leave the metric out of the exposition.
    let _ = registry.register(Box::new(metric.clone()));
    metric
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("citadel".into()), None).unwrap_or_default();
        #[cfg(target_os = "linux")]
        {
            let _ = registry.register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ));
        }
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric")
        };
        let gauge_vec = |name: &str, help: &str, labels: &[&str]| {
            IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric")
        };
        Self {
            requests: register(
                &registry,
                counter_vec(
                    "http_requests_total",
                    "HTTP requests by route template, method and status",
                    &["method", "route", "status"],
                ),
            ),
            request_seconds: register(
                &registry,
                HistogramVec::new(
                    HistogramOpts::new(
                        "http_request_duration_seconds",
                        "HTTP request latency by route template (long polls included)",
                    )
                    .buckets(vec![
                        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                        10.0, 30.0,
                    ]),
                    &["method", "route"],
                )
                .expect("valid metric"),
            ),
            syncs_waiting: register(
                &registry,
                gauge_vec(
                    "syncs_waiting",
                    "Sync requests waiting for news, by API (v3, sliding)",
                    &["api"],
                ),
            ),
            events_persisted: register(
                &registry,
                counter_vec(
                    "events_persisted_total",
                    "Room events stored, by origin (local, federation)",
                    &["origin"],
                ),
            ),
            logins_failed: register(
                &registry,
                IntCounter::new("logins_failed_total", "Failed password logins").expect("valid"),
            ),
            federation_queue: register(
                &registry,
                gauge_vec(
                    "federation_queue_depth",
                    "Items queued for each other server",
                    &["destination"],
                ),
            ),
            federation_failures: register(
                &registry,
                gauge_vec(
                    "federation_failed_transactions",
                    "Failed transactions to each other server since the process started",
                    &["destination"],
                ),
            ),
            to_device_queue: register(
                &registry,
                IntGauge::new("to_device_queue", "To-device messages awaiting delivery")
                    .expect("valid"),
            ),
            database_bytes: register(
                &registry,
                IntGauge::new("database_bytes", "Size of the database directory").expect("valid"),
            ),
            cache_lookups: register(
                &registry,
                gauge_vec(
                    "cache_lookups",
                    "Lookups of in-memory caches by result (hit, miss)",
                    &["cache", "result"],
                ),
            ),
            history: Default::default(),
            registry,
        }
    }

    pub fn request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.requests
            .with_label_values(&[method, route, &status.to_string()])
            .inc();
        self.request_seconds
            .with_label_values(&[method, route])
            .observe(seconds);
        self.history.totals.request(route, seconds);
    }

    pub fn waiting(&self, api: &'static str) -> Waiting<'_> {
        self.syncs_waiting.with_label_values(&[api]).inc();
        Waiting(&self.syncs_waiting, api)
    }

    pub fn event_persisted(&self, local: bool) {
        self.events_persisted
            .with_label_values(&[if local { "local" } else { "federation" }])
            .inc();
        self.history.totals.event();
    }

    pub fn login_failed(&self) {
        self.logins_failed.inc();
        self.history.totals.failed_login();
    }

    /// The exposition, with the gauges read now.
    pub fn render(&self, state: &AppState) -> String {
        self.federation_queue.reset();
        if let Ok(depths) = state.storage.outbox.depths() {
            for (destination, depth) in depths {
                self.federation_queue
                    .with_label_values(&[&destination])
                    .set(depth as i64);
            }
        }
        if let Some(sender) = state.sender.get() {
            for (destination, failures) in sender.failures() {
                self.federation_failures
                    .with_label_values(&[&destination])
                    .set(failures as i64);
            }
        }
        self.to_device_queue
            .set(state.storage.to_device.queued().unwrap_or(0) as i64);
        self.database_bytes
            .set(dir_size(&state.config.database_path()) as i64);
        for (name, stats) in [("events", &state.pdu_cache.stats)] {
            for (result, n) in [("hit", &stats.hits), ("miss", &stats.misses)] {
                self.cache_lookups
                    .with_label_values(&[name, result])
                    .set(n.load(Ordering::Relaxed) as i64);
            }
        }
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

pub(crate) fn dir_size(path: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => dir_size(&entry.path()),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        })
        .sum()
}
