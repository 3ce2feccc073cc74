//! The benchmark as a smoke test: every scenario runs at a tiny scale against a real
//! server and completes without errors. No figure is checked: numbers are for
//! `bench/compare.sh`, not for CI.

use crate::common::*;

#[tokio::test]
async fn every_benchmark_scenario_runs() {
    // Two federating servers: the second hosts the rooms of `federated-join`.
    let ca = crate::federation::TestCa::new();
    let server = crate::federation::federating_server(&ca, "a");
    let host = crate::federation::federating_server(&ca, "h");
    let args = citadel_bench::Args {
        url: server.base.clone(),
        compare: None,
        shared_secret: SHARED_SECRET.to_owned(),
        pid: Some(std::process::id()),
        compare_pid: None,
        scenarios: "register-login,send,send-encrypted,fanout,initial-sync,initial-sync-1000,create-rooms,join,federated-join,sliding-sync"
            .into(),
        scale: 0.02,
        host_url: Some(host.base.clone()),
        host_name: Some(host.addrs[1].to_string()),
    };
    let results = citadel_bench::run_all(&args, &server.base, args.pid).await;
    assert_eq!(results.len(), 12, "memory, ten scenarios, memory");
    for result in &results {
        assert!(result.get("error").is_none(), "{result}");
    }
    let fanout = results.iter().find(|r| r["scenario"] == "fanout").unwrap();
    assert_eq!(
        fanout["deliveries"], fanout["expected_deliveries"],
        "{fanout}"
    );
    let join = results.iter().find(|r| r["scenario"] == "join").unwrap();
    assert_eq!(join["joins"], 10, "{join}");
    assert!(join["last_over_first"].as_f64().unwrap() > 0.0, "{join}");
    let rooms = results
        .iter()
        .find(|r| r["scenario"] == "create-rooms")
        .unwrap();
    assert_eq!(
        rooms["distinct"], rooms["rooms"],
        "concurrent createRoom calls make distinct rooms"
    );
}
