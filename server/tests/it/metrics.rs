//! `GET /metrics`: Prometheus text that a Prometheus parser reads, only for a scraper
//! with the token or on the metrics listener.

use crate::common::*;

const TOKEN: &str = "metrics-token-0123456789";

async fn scrape(base: &str, token: Option<&str>) -> (u16, String) {
    let mut request = reqwest::Client::new().get(format!("{base}/metrics"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

fn parse(text: &str) -> prometheus_parse::Scrape {
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("parses")
}

#[tokio::test]
async fn metrics_parse_and_count_what_happened() {
    let port = crate::federation::free_port();
    let server = TestServer::spawn_with(move |c| {
        c.metrics.enabled = true;
        c.metrics.bearer_token = Some(TOKEN.into());
        c.metrics.bind = Some(format!("127.0.0.1:{port}"));
    });
    let client = server.client();
    let (alice, _bob, room) = client.alice_and_bob_in_a_public_room().await;
    alice.send_text(&room, "counted").await;
    assert_eq!(client.login("alice", "wrong").await.0, 403);
    // A long poll that waits, so the waiting-syncs gauge has a series.
    let since = alice.sync(None, 0).await["next_batch"]
        .as_str()
        .unwrap()
        .to_owned();
    alice.sync(Some(&since), 50).await;

    // Without the token, on the public listener, the endpoint does not exist.
    let (status, _) = scrape(&server.base, None).await;
    assert_eq!(status, 404);
    let (status, _) = scrape(&server.base, Some("wrong-token-0123456789")).await;
    assert_eq!(status, 404);
    // With it, or on the metrics listener, it answers.
    let (status, text) = scrape(&server.base, Some(TOKEN)).await;
    assert_eq!(status, 200, "{text}");
    let (status, private) = scrape(&format!("http://127.0.0.1:{port}"), None).await;
    assert_eq!(status, 200);
    assert!(private.contains("citadel_http_requests_total"));

    let scrape = parse(&text);
    let value = |name: &str, label: Option<(&str, &str)>| -> f64 {
        scrape
            .samples
            .iter()
            .filter(|s| s.metric == name)
            .filter(|s| label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Gauge(v) => v,
                prometheus_parse::Value::Untyped(v) => v,
                _ => 0.0,
            })
            .sum()
    };
    let send_route = "/_matrix/client/v3/rooms/:room_id/send/:event_type/:txn_id";
    let sends = scrape
        .samples
        .iter()
        .filter(|s| s.metric == "citadel_http_requests_total")
        .find(|s| s.labels.get("route") == Some(send_route));
    let sends = sends.unwrap_or_else(|| panic!("no send route like {send_route}: {text}"));
    assert_eq!(sends.labels.get("method"), Some("PUT"));
    assert_eq!(sends.labels.get("status"), Some("200"));
    assert!(
        !sends.labels.get("route").unwrap().contains('!'),
        "templates, not paths"
    );
    assert!(value("citadel_events_persisted_total", Some(("origin", "local"))) >= 1.0);
    assert_eq!(value("citadel_logins_failed_total", None), 1.0);
    assert!(value("citadel_database_bytes", None) > 0.0);
    assert!(value("citadel_process_resident_memory_bytes", None) > 0.0);
    assert!(scrape.samples.iter().any(|s| {
        s.metric == "citadel_http_request_duration_seconds_bucket"
            || s.metric
                .starts_with("citadel_http_request_duration_seconds")
    }));
    the_dashboard_charts_only_metrics_that_exist(&text);
}

/// Every metric `docs/grafana-dashboard.json` queries is one this scrape has, so a
/// renamed metric cannot leave an empty panel behind.
fn the_dashboard_charts_only_metrics_that_exist(exposition: &str) {
    let path = repo_root().join("docs/grafana-dashboard.json");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    // Series of one destination each: none exist until another server is owed something.
    let per_destination = [
        "citadel_federation_queue_depth",
        "citadel_federation_failed_transactions",
    ];
    let mut charted = std::collections::BTreeSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        let grid = &panel["gridPos"];
        assert!(
            grid["x"].as_u64().unwrap() + grid["w"].as_u64().unwrap() <= 24,
            "{panel}"
        );
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().unwrap();
            assert!(
                expr.contains("$instance"),
                "filtered by the instance: {expr}"
            );
            let mut rest = expr;
            while let Some(at) = rest.find("citadel_") {
                let name: String = rest[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                rest = &rest[at + name.len()..];
                charted.insert(name);
            }
        }
    }
    assert!(charted.len() >= 10, "{charted:?}");
    for name in &charted {
        assert!(
            per_destination.contains(&name.as_str())
                || exposition
                    .lines()
                    .any(|l| l.split(['{', ' ']).next() == Some(name)),
            "the dashboard charts {name}, which /metrics does not serve"
        );
    }
}

#[tokio::test]
async fn metrics_are_off_by_default() {
    let server = TestServer::spawn();
    let (status, _) = scrape(&server.base, Some(TOKEN)).await;
    assert_eq!(status, 404);
}
