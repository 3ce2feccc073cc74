//! Citadel's own admin API beyond the audit trail: the dashboard summary and the
//! federation allow/deny lists at runtime (in force at once, audited, kept across a
//! restart, and denials audited too).

use serde_json::json;

use crate::admin_api::admin;
use crate::common::*;
use crate::federation::{TestCa, federating_server};
use crate::federation_rooms::{join_via, name_of};

const RULES: &str = "/_citadel/admin/v1/federation/rules";

#[tokio::test]
async fn the_summary_counts_what_the_server_holds() {
    let server = TestServer::spawn();
    let root = admin(&server).await;
    let (alice, bob, room) = server.client().alice_and_bob_in_a_public_room().await;
    let event = alice.send_text(&room, "report me").await;
    let (status, _) = bob
        .client
        .post(
            &format!(
                "/_matrix/client/v3/rooms/{}/report/{}",
                enc(&room),
                enc(&event)
            ),
            json!({"reason": "spam"}),
        )
        .await;
    assert_eq!(status, 200);
    let upload = crate::media::upload(
        &alice,
        "/_matrix/media/v3/upload?filename=a.txt",
        "text/plain",
        b"twelve bytes".to_vec(),
    )
    .await;
    assert_eq!(upload.status(), 200);

    let (status, summary) = root.client.get("/_citadel/admin/v1/summary").await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(summary["server_name"], "localhost");
    assert!(
        summary["server_version"]
            .as_str()
            .unwrap()
            .starts_with("Citadel ")
    );
    assert!(summary["uptime_seconds"].is_u64());
    let users = &summary["users"];
    assert_eq!(users["total"], 3, "{summary}");
    assert_eq!(users["active"], 3);
    assert_eq!(users["admins"], 1);
    assert_eq!(users["deactivated"], 0);
    assert_eq!(summary["rooms"]["total"], 1);
    assert_eq!(summary["media"]["local"], json!({"count": 1, "bytes": 12}));
    assert_eq!(
        summary["media"]["remote_cached"],
        json!({"count": 0, "bytes": 0})
    );
    assert!(summary["disk"]["database_bytes"].as_u64().unwrap() > 0);
    assert!(summary["disk"]["media_bytes"].as_u64().unwrap() >= 12);
    assert_eq!(summary["federation"]["rules_source"], "config");
    assert_eq!(summary["federation"]["queued_items"], 0);
    assert_eq!(summary["federation"]["failing_destinations"], json!([]));
    assert_eq!(summary["reports"]["events"], 1);
    assert_eq!(summary["scheduled_tasks"]["pending"], 0);
    assert!(summary["audit"]["entries"].as_u64().unwrap() > 0);
    // Everyone signed in just now; today's events grow by exactly what is sent.
    assert_eq!(users["active_today"], 3, "{summary}");
    assert_eq!(users["active_month"], 3);
    let events_today = summary["events"]["today"].as_u64().unwrap();
    assert!(
        events_today >= 7,
        "room creation, joins and a message: {summary}"
    );
    alice.send_text(&room, "one more").await;
    let (_, summary) = root.client.get("/_citadel/admin/v1/summary").await;
    assert_eq!(summary["events"]["today"], events_today + 1);

    // A deactivation shows.
    let (status, _) = root
        .client
        .post(
            &format!("/_synapse/admin/v1/deactivate/{}", enc(&bob.user_id)),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, summary) = root.client.get("/_citadel/admin/v1/summary").await;
    assert_eq!(summary["users"]["deactivated"], 1);
    assert_eq!(summary["users"]["active"], 2);
    // Deactivation signed bob out everywhere: no device of his was used today.
    assert_eq!(summary["users"]["active_today"], 2);
    assert_error(
        &alice.client.get("/_citadel/admin/v1/summary").await,
        403,
        "M_FORBIDDEN",
    );
}

#[tokio::test]
async fn runtime_federation_rules_apply_at_once_and_denials_are_audited() {
    let ca = TestCa::new();
    let a = federating_server(&ca, "a");
    let c = federating_server(&ca, "c");
    let root = admin(&a).await;
    let alice = a.client().register("alice", "pw-alice-1").await;
    let carol = c.client().register("carol", "pw-carol-1").await;
    let room = alice.create_room(json!({"preset": "public_chat"})).await;
    let denied = name_of(&c);

    let (status, rules) = root.client.get(RULES).await;
    assert_eq!(status, 200, "{rules}");
    assert_eq!(
        rules,
        json!({"allowed_servers": [], "denied_servers": [], "source": "config"})
    );
    let (status, rules) = root
        .client
        .put(RULES, json!({"denied_servers": [denied]}))
        .await;
    assert_eq!(status, 200, "{rules}");
    assert_eq!(rules["source"], "runtime");
    assert_eq!(rules["denied_servers"], json!([denied]));

    // C is refused at once, and the refusal is in the audit trail, once.
    for _ in 0..2 {
        let (status, body) = join_via(&carol, &room, &name_of(&a)).await;
        assert_eq!(status, 403, "{body}");
        assert_eq!(body["errcode"], "M_FORBIDDEN");
    }
    let (_, audit) = root
        .client
        .get("/_citadel/admin/v1/audit?action=federation.denied")
        .await;
    let entries = audit["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{audit}");
    assert_eq!(entries[0]["actor"], denied);
    assert!(
        entries[0]["details"]["path"]
            .as_str()
            .unwrap()
            .starts_with("/_matrix/federation/")
    );
    let (_, audit) = root
        .client
        .get("/_citadel/admin/v1/audit?action=admin.federation.set_rules")
        .await;
    assert_eq!(audit["entries"][0]["actor"], root.user_id);
    assert_eq!(
        audit["entries"][0]["details"]["denied_servers"],
        json!([denied])
    );

    // Back to the configuration's (empty) lists: C gets in.
    let (status, rules) = root.client.delete(RULES, json!({})).await;
    assert_eq!(status, 200, "{rules}");
    assert_eq!(rules["source"], "config");
    let (status, body) = join_via(&carol, &room, &name_of(&a)).await;
    assert_eq!(status, 200, "{body}");
    let (_, audit) = root
        .client
        .get("/_citadel/admin/v1/audit?action=admin.federation.reset_rules")
        .await;
    assert_eq!(audit["entries"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn runtime_federation_rules_survive_a_restart_and_bad_input_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::spawn_in(dir.path(), |_| {});
    let root = admin(&server).await;
    let c = &root.client;
    let (status, _) = c
        .put(
            RULES,
            json!({"allowed_servers": ["*.example.org"], "denied_servers": ["bad.example.org"]}),
        )
        .await;
    assert_eq!(status, 200);
    for (body, errcode) in [
        (json!({"denied_servers": "bad.example.org"}), "M_BAD_JSON"),
        (json!({"denied_servers": [""]}), "M_INVALID_PARAM"),
        (json!({"denied_servers": ["two words"]}), "M_INVALID_PARAM"),
        (json!({"blocked": []}), "M_BAD_JSON"),
    ] {
        assert_error(&c.put(RULES, body).await, 400, errcode);
    }
    let not_json = c.raw(reqwest::Method::PUT, RULES, b"{nope").await;
    assert_error(&not_json, 400, "M_NOT_JSON");
    let user = server.client().register("someone", "pw-someone-1").await;
    assert_error(&user.client.get(RULES).await, 403, "M_FORBIDDEN");
    assert_error(&user.client.put(RULES, json!({})).await, 403, "M_FORBIDDEN");

    let token = root.client.token.clone().unwrap();
    server.stop();
    let server = TestServer::spawn_in(dir.path(), |_| {});
    let (status, rules) = server.client().with_token(&token).get(RULES).await;
    assert_eq!(status, 200, "{rules}");
    assert_eq!(
        rules,
        json!({
            "allowed_servers": ["*.example.org"],
            "denied_servers": ["bad.example.org"],
            "source": "runtime",
        })
    );
}

/// What the admin panel asks beyond Synapse's API: the last hour of metrics, the audit
/// trail newest first, users in one state, and registration tokens a page at a time.
#[tokio::test]
async fn the_panel_s_queries_page_filter_and_chart() {
    let server = TestServer::spawn();
    let root = admin(&server).await;
    let (alice, bob, room) = server.client().alice_and_bob_in_a_public_room().await;
    alice.send_text(&room, "hello").await;
    // The live point covers at least a second since the start-up sample.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    let (status, history) = root.client.get("/_citadel/admin/v1/metrics/history").await;
    assert_eq!(status, 200, "{history}");
    assert_eq!(history["interval_ms"], 10_000);
    // The sample taken at start-up and the live interval since: one point at least, and
    // it counts the requests and events this test made.
    let points = history["points"].as_array().unwrap();
    let last = points.last().expect("a live point");
    assert!(
        last["requests_per_second"].as_f64().unwrap() > 0.0,
        "{history}"
    );
    assert!(
        last["events_per_second"].as_f64().unwrap() > 0.0,
        "{history}"
    );
    assert!(last["p99_ms"].as_u64().is_some(), "{history}");
    assert_eq!(last["failed_logins"], 0);
    assert_error(
        &alice.client.get("/_citadel/admin/v1/metrics/history").await,
        403,
        "M_FORBIDDEN",
    );

    // Newest first, in pages that neither skip nor repeat an entry.
    let (_, all) = root.client.get("/_citadel/admin/v1/audit?limit=1000").await;
    let forward: Vec<u64> = all["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert!(forward.len() >= 4, "{all}");
    let mut backward = Vec::new();
    let mut from: Option<String> = None;
    loop {
        let path = match &from {
            Some(f) => format!("/_citadel/admin/v1/audit?dir=b&limit=2&from={f}"),
            None => "/_citadel/admin/v1/audit?dir=b&limit=2".to_owned(),
        };
        let (status, page) = root.client.get(&path).await;
        assert_eq!(status, 200, "{page}");
        backward.extend(
            page["entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["seq"].as_u64().unwrap()),
        );
        match page["next_token"].as_str() {
            Some(next) => from = Some(next.to_owned()),
            None => break,
        }
    }
    backward.reverse();
    assert_eq!(backward, forward);
    assert_error(
        &root.client.get("/_citadel/admin/v1/audit?dir=x").await,
        400,
        "M_INVALID_PARAM",
    );

    // Users in one state.
    root.client
        .put(
            &format!("/_matrix/client/v1/admin/lock/{}", enc(&bob.user_id)),
            json!({"locked": true}),
        )
        .await;
    let (_, locked) = root
        .client
        .get("/_synapse/admin/v2/users?only=locked")
        .await;
    assert_eq!(locked["total"], 1, "{locked}");
    assert_eq!(locked["users"][0]["name"], bob.user_id.as_str());
    let (_, suspended) = root
        .client
        .get("/_synapse/admin/v2/users?only=suspended")
        .await;
    assert_eq!(suspended["total"], 0);
    assert_error(
        &root
            .client
            .get("/_synapse/admin/v2/users?only=guests")
            .await,
        400,
        "M_INVALID_PARAM",
    );

    // Registration tokens: all at once as Synapse answers, or searched and paged.
    for token in ["alpha-1", "alpha-2", "beta-1"] {
        let (status, body) = root
            .client
            .post(
                "/_synapse/admin/v1/registration_tokens/new",
                json!({"token": token}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let (_, every) = root
        .client
        .get("/_synapse/admin/v1/registration_tokens")
        .await;
    assert_eq!(every["registration_tokens"].as_array().unwrap().len(), 3);
    assert!(every.get("total").is_none(), "Synapse's shape: {every}");
    let (_, page) = root
        .client
        .get("/_synapse/admin/v1/registration_tokens?search_term=ALPHA&from=0&limit=1")
        .await;
    assert_eq!(page["total"], 2, "{page}");
    assert_eq!(page["registration_tokens"][0]["token"], "alpha-1");
    assert_eq!(page["next_token"], "1");
    let (_, page) = root
        .client
        .get("/_synapse/admin/v1/registration_tokens?search_term=alpha&from=1&limit=1")
        .await;
    assert_eq!(page["registration_tokens"][0]["token"], "alpha-2");
    assert!(page.get("next_token").is_none());
}
