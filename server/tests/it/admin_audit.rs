//! The audit trail: what it records, how admins query it, and that it verifies.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::admin_api::admin;
use crate::common::*;

fn unhex(s: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
    }
    out
}

fn node(l: &[u8; 32], r: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(l);
    h.update(r);
    h.finalize().into()
}

#[tokio::test]
async fn logins_and_admin_actions_are_recorded_and_the_trail_verifies() {
    let server = TestServer::spawn();
    let root = admin(&server).await;
    let client = server.client();
    let alice = client.register("alice", "pw-alice-1").await;
    assert_eq!(client.login("alice", "wrong password").await.0, 403);
    assert_eq!(client.login("alice", "pw-alice-1").await.0, 200);
    let (_, second) = client.login("alice", "pw-alice-1").await;
    let second = client.with_token(second["access_token"].as_str().unwrap());
    assert_eq!(
        second.post("/_matrix/client/v3/logout", json!({})).await.0,
        200
    );
    let c = &root.client;
    c.put(
        &format!("/_synapse/admin/v1/users/{}/admin", enc(&alice.user_id)),
        json!({"admin": true}),
    )
    .await;

    let (status, all) = c.get("/_citadel/admin/v1/audit").await;
    assert_eq!(status, 200, "{all}");
    let actions: Vec<&str> = all["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for expected in [
        "logout",
        "cli.user.create",
        "cli.user.admin_flag",
        "login",
        "register",
        "login_failed",
        "admin.user.admin_flag",
    ] {
        assert!(
            actions.contains(&expected),
            "{expected} missing from {actions:?}"
        );
    }
    let (_, failed) = c.get("/_citadel/admin/v1/audit?action=login_failed").await;
    let failed = &failed["entries"][0];
    assert_eq!(failed["target"], alice.user_id);
    assert_eq!(failed["ip"], "127.0.0.1");
    let (_, by_root) = c
        .get(&format!(
            "/_citadel/admin/v1/audit?actor={}",
            enc(&root.user_id)
        ))
        .await;
    let by_root: Vec<&Value> = by_root["entries"].as_array().unwrap().iter().collect();
    assert!(by_root.iter().all(|e| e["actor"] == root.user_id.as_str()));
    assert!(
        by_root.iter().any(
            |e| e["action"] == "admin.user.admin_flag" && e["target"] == alice.user_id.as_str()
        )
    );
    let (_, page) = c.get("/_citadel/admin/v1/audit?limit=2").await;
    assert_eq!(page["entries"].as_array().unwrap().len(), 2);
    assert!(page["next_token"].is_string());

    // Intact, by the API and by `citadel admin audit verify`.
    let (_, verified) = c.get("/_citadel/admin/v1/audit/verify").await;
    assert_eq!(verified["intact"], true, "{verified}");
    assert_eq!(verified["entries"], verified["tree_heads"]);
    let (status, line) = admin_action(&server, citadel::admin::Action::AuditVerify).await;
    assert_eq!(status, 200, "{line}");
    assert!(
        line["result"]
            .as_str()
            .unwrap()
            .starts_with("audit trail intact"),
        "{line}"
    );
    // The newest head is signed, and an entry's inclusion proof leads to its root.
    let (_, head) = c.get("/_citadel/admin/v1/audit/head").await;
    let head = &head["tree_head"];
    assert!(head["signatures"]["localhost"].is_object(), "{head}");
    let size = head["tree_size"].as_u64().unwrap();
    let (status, proof) = c
        .get(&format!(
            "/_citadel/admin/v1/audit/proof?seq=1&tree_size={size}"
        ))
        .await;
    assert_eq!(status, 200, "{proof}");
    // Recompute the root from the leaf and its path (RFC 9162 2.1.3.2).
    let (mut fn_, mut sn) = (1u64, size - 1);
    let mut r = unhex(proof["leaf_hash"].as_str().unwrap());
    for p in proof["audit_path"].as_array().unwrap() {
        let p = unhex(p.as_str().unwrap());
        if fn_ & 1 == 1 || fn_ == sn {
            r = node(&p, &r);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = node(&r, &p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    let root_hash: String = r.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(root_hash, head["root_hash"].as_str().unwrap());
    assert_error(
        &c.get("/_citadel/admin/v1/audit/proof?seq=999999&tree_size=3")
            .await,
        404,
        "M_NOT_FOUND",
    );
    assert_error(
        &c.get("/_citadel/admin/v1/audit?since=yesterday").await,
        400,
        "M_INVALID_PARAM",
    );
    // Export: one JSON line per entry.
    let (status, export) = admin_action(&server, citadel::admin::Action::AuditExport).await;
    assert_eq!(status, 200, "{export}");
    let lines: Vec<Value> = export["result"]
        .as_str()
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() as u64 >= size);
    assert_eq!(lines[0]["seq"], 0);
    assert!(lines.iter().any(|e| e["action"] == "login_failed"));
}

/// The address recorded for a login (and used by per-IP limits): a client cannot choose
/// it by writing `X-Forwarded-For`; only a configured proxy's own entry counts.
#[tokio::test]
async fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
    async fn login_ip(server: &TestServer, root: &TestClient, forwarded: &[&str]) -> Value {
        let mut request = server
            .client()
            .http
            .post(format!("{}/_matrix/client/v3/login", server.base))
            .json(&json!({
                "type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": "alice"},
                "password": "pw-alice-1",
            }));
        for value in forwarded {
            request = request.header("X-Forwarded-For", *value);
        }
        assert_eq!(request.send().await.unwrap().status(), 200);
        let (_, page) = root
            .get("/_citadel/admin/v1/audit?action=login&target=@alice:localhost&dir=b&limit=1")
            .await;
        page["entries"][0]["ip"].clone()
    }

    // Tests connect from 127.0.0.1, a trusted proxy by default.
    let server = TestServer::spawn();
    let root = admin(&server).await;
    server.client().register("alice", "pw-alice-1").await;
    // The proxy appended the real client; the client's own claim is left of it.
    assert_eq!(
        login_ip(&server, &root.client, &["6.6.6.6, 203.0.113.7"]).await,
        "203.0.113.7"
    );
    // Two headers are one list: the last one's last entry is the proxy's.
    assert_eq!(
        login_ip(&server, &root.client, &["6.6.6.6", "198.51.100.4"]).await,
        "198.51.100.4"
    );
    assert_eq!(login_ip(&server, &root.client, &[]).await, "127.0.0.1");

    // With no proxy trusted, the header is ignored.
    let server = TestServer::spawn_with(|c| c.http.trusted_proxies = Vec::new());
    let root = admin(&server).await;
    server.client().register("alice", "pw-alice-1").await;
    assert_eq!(
        login_ip(&server, &root.client, &["203.0.113.7"]).await,
        "127.0.0.1"
    );
}
