//! Federation between in-process servers over real TLS, with a test certificate authority.

use serde_json::json;

use crate::common::*;

/// A certificate authority for the test servers' TLS certificates.
pub struct TestCa {
    dir: tempfile::TempDir,
    params: rcgen::CertificateParams,
    key: rcgen::KeyPair,
}

impl TestCa {
    pub fn new() -> Self {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Citadel test CA");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), cert.pem()).unwrap();
        TestCa { dir, params, key }
    }

    pub fn ca_path(&self) -> std::path::PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A certificate for 127.0.0.1, written to files; returns (cert, key) paths.
    pub fn leaf(&self, name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
        let mut params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
        // What OpenSSL's strict verification (Synapse's) expects of a server certificate.
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "127.0.0.1");
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::DigitalSignature,
            rcgen::KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let key = rcgen::KeyPair::generate().unwrap();
        let issuer = rcgen::Issuer::new(self.params.clone(), &self.key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        let (cert_path, key_path) = (
            self.dir.path().join(format!("{name}.pem")),
            self.dir.path().join(format!("{name}.key")),
        );
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        (cert_path, key_path)
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A server named `127.0.0.1:<port>` whose federation listener is TLS on that port.
pub fn federating_server(ca: &TestCa, name: &str) -> TestServer {
    federating_server_with(ca, name, None, |_| {})
}

/// Like [`federating_server`], in a given data directory (kept by the caller) and with
/// extra configuration.
pub fn federating_server_with(
    ca: &TestCa,
    name: &str,
    data_dir: Option<&std::path::Path>,
    adjust: impl FnOnce(&mut citadel::config::Config),
) -> TestServer {
    let port = free_port();
    let (certificate, private_key) = ca.leaf(name);
    let ca_path = ca.ca_path();
    let configure = move |c: &mut citadel::config::Config| {
        c.server_name = format!("127.0.0.1:{port}");
        c.tls = Some(citadel::config::TlsConfig {
            bind: format!("127.0.0.1:{port}"),
            certificate,
            private_key,
        });
        c.federation.enabled = true;
        c.federation.extra_ca_certificates = vec![ca_path];
        adjust(c);
    };
    match data_dir {
        Some(dir) => TestServer::spawn_in(dir, configure),
        None => TestServer::spawn_with(configure),
    }
}

#[tokio::test]
async fn profiles_are_fetched_across_servers_with_signed_requests() {
    let ca = TestCa::new();
    let a = federating_server(&ca, "a");
    let b = federating_server(&ca, "b");
    let alice = a.client().register("alice", "pw-alice-1").await;
    let bob = b.client().register("bob", "pw-bob-1").await;
    assert!(
        bob.user_id.ends_with(&format!(":{}", b.addrs[1])),
        "{}",
        bob.user_id
    );
    bob.client
        .put(
            &format!(
                "/_matrix/client/v3/profile/{}/displayname",
                enc(&bob.user_id)
            ),
            json!({"displayname": "Bob B."}),
        )
        .await;

    // Alice, on server A, reads Bob's profile: A asks B over signed federation.
    let (status, profile) = alice
        .client
        .get(&format!("/_matrix/client/v3/profile/{}", enc(&bob.user_id)))
        .await;
    assert_eq!(status, 200, "{profile}");
    assert_eq!(profile["displayname"], "Bob B.");
    let (_, name) = alice
        .client
        .get(&format!(
            "/_matrix/client/v3/profile/{}/displayname",
            enc(&bob.user_id)
        ))
        .await;
    assert_eq!(name, json!({"displayname": "Bob B."}));
    let missing = alice
        .client
        .get(&format!(
            "/_matrix/client/v3/profile/{}",
            enc(&format!("@nobody:{}", b.addrs[1]))
        ))
        .await;
    assert_error(&missing, 404, "M_NOT_FOUND");
}

#[tokio::test]
async fn unsigned_and_forged_federation_requests_are_refused() {
    let ca = TestCa::new();
    let b = federating_server(&ca, "b");
    let bob = b.client().register("bob", "pw-bob-1").await;
    let path = format!(
        "/_matrix/federation/v1/query/profile?user_id={}",
        enc(&bob.user_id)
    );
    assert_error(&b.client().get(&path).await, 401, "M_UNAUTHORIZED");

    // A signature by a key the claimed origin never published.
    let forged = format!(
        "X-Matrix origin=\"{}\",destination=\"{}\",key=\"ed25519:fake\",sig=\"AAAA\"",
        b.addrs[1], b.addrs[1]
    );
    let response = b
        .client()
        .http
        .get(format!("{}{path}", b.base))
        .header("Authorization", forged)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["errcode"], "M_UNAUTHORIZED");

    // A real server's name and key ID, with a signature it never made.
    let a = federating_server(&ca, "a");
    let (_, keys) = a.client().get("/_matrix/key/v2/server").await;
    let key_id = keys["verify_keys"]
        .as_object()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone();
    let forged = format!(
        "X-Matrix origin=\"{}\",destination=\"{}\",key=\"{key_id}\",sig=\"{}\"",
        a.addrs[1],
        b.addrs[1],
        "A".repeat(86)
    );
    let response = b
        .client()
        .http
        .get(format!("{}{path}", b.base))
        .header("Authorization", forged)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);

    // A server that cannot be reached for its key.
    let nowhere = format!(
        "X-Matrix origin=\"127.0.0.1:1\",destination=\"{}\",key=\"ed25519:a_x\",sig=\"AAAA\"",
        b.addrs[1]
    );
    let response = b
        .client()
        .http
        .get(format!("{}{path}", b.base))
        .header("Authorization", nowhere)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn remote_media_is_fetched_over_federation_and_cached() {
    let ca = TestCa::new();
    let a = federating_server(&ca, "a");
    let b = federating_server(&ca, "b");
    let alice = a.client().register("alice", "pw-alice-1").await;
    let bob = b.client().register("bob", "pw-bob-1").await;
    let blob: Vec<u8> = (0..70_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let uploaded = bob
        .client
        .http
        .post(format!(
            "{}/_matrix/media/v3/upload?filename=notes.bin",
            b.base
        ))
        .bearer_auth(bob.client.token.as_deref().unwrap())
        .header("Content-Type", "application/octet-stream")
        .body(blob.clone())
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    let mxc = uploaded["content_uri"].as_str().unwrap();
    let (server, id) = mxc.trim_start_matches("mxc://").split_once('/').unwrap();
    assert_eq!(server, b.addrs[1].to_string());

    let fetch = || async {
        alice
            .client
            .http
            .get(format!(
                "{}/_matrix/client/v1/media/download/{}/{id}",
                a.base,
                enc(server)
            ))
            .bearer_auth(alice.client.token.as_deref().unwrap())
            .send()
            .await
            .unwrap()
    };
    let response = fetch().await;
    let status = response.status();
    let bytes = response.bytes().await.unwrap().to_vec();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    assert_eq!(bytes, blob, "byte for byte across servers");
    // Served again from A's cache even with B gone.
    b.stop();
    let again = fetch().await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.bytes().await.unwrap().len(), blob.len());

    // The admin API purges the cache by last use, but keeps quarantined items.
    let root = crate::admin_api::admin(&a).await;
    let purge = |before_ts: String| {
        let root = &root;
        async move {
            root.client
                .post(
                    &format!("/_synapse/admin/v1/purge_media_cache?before_ts={before_ts}"),
                    serde_json::json!({}),
                )
                .await
        }
    };
    assert_error(&purge("-1".into()).await, 400, "M_INVALID_PARAM");
    assert_error(&purge("1700000000".into()).await, 400, "M_INVALID_PARAM");
    assert_error(&purge("soon".into()).await, 400, "M_INVALID_PARAM");
    let missing = root
        .client
        .post(
            "/_synapse/admin/v1/purge_media_cache",
            serde_json::json!({}),
        )
        .await;
    assert_error(&missing, 400, "M_MISSING_PARAM");
    let later = (citadel_storage::now_ms() + 60_000).to_string();
    let (status, body) = root
        .client
        .post(
            &format!("/_synapse/admin/v1/media/quarantine/{}/{id}", enc(server)),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        purge(later.clone()).await,
        (reqwest::StatusCode::OK, serde_json::json!({"deleted": 0}))
    );
    let (status, changes) = root
        .client
        .get("/_synapse/admin/v1/media/quarantine_changes")
        .await;
    assert_eq!(status, 200, "{changes}");
    assert_eq!(
        changes["changes"],
        serde_json::json!([{"origin": server, "media_id": id, "quarantined": true}])
    );
    let (status, _) = root
        .client
        .post(
            &format!("/_synapse/admin/v1/media/unquarantine/{}/{id}", enc(server)),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 200);
    // Served recently, so a purge of what was unused for a minute keeps it.
    let minute_ago = (citadel_storage::now_ms() - 60_000).to_string();
    assert_eq!(
        purge(minute_ago).await,
        (reqwest::StatusCode::OK, serde_json::json!({"deleted": 0}))
    );
    assert_eq!(fetch().await.status(), 200);
    // Purged, it is gone: with B stopped, it cannot be fetched any more.
    assert_eq!(
        purge(later).await,
        (reqwest::StatusCode::OK, serde_json::json!({"deleted": 1}))
    );
    assert_eq!(fetch().await.status(), 404);
    let (status, body) = admin_action(
        &a,
        citadel::admin::Action::PurgeRemoteMedia { older_than_ms: 0 },
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], "purged 0 cached remote media items");
}

#[tokio::test]
async fn keys_of_an_unreachable_server_come_through_a_notary() {
    use std::sync::Arc;

    let ca = TestCa::new();
    let notary = federating_server(&ca, "n");
    let b_dir = tempfile::tempdir().unwrap();
    let b = federating_server_with(&ca, "b", Some(b_dir.path()), |_| {});
    let (n_name, b_name) = (notary.addrs[1].to_string(), b.addrs[1].to_string());

    // The notary fetches B's keys and vouches for them.
    let (status, answer) = notary
        .client()
        .get(&format!("/_matrix/key/v2/query/{}", enc(&b_name)))
        .await;
    assert_eq!(status, 200, "{answer}");
    let document = &answer["server_keys"][0];
    assert_eq!(document["server_name"], b_name.as_str());
    assert!(document["signatures"][&b_name].is_object(), "{document}");
    assert!(document["signatures"][&n_name].is_object(), "{document}");
    let (status, answer) = notary
        .client()
        .post(
            "/_matrix/key/v2/query",
            json!({"server_keys": {b_name.clone(): {}, "127.0.0.1:1": {}}}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        answer["server_keys"].as_array().unwrap().len(),
        1,
        "{answer}"
    );

    // B goes away; a request signed with its key reaches A, which trusts the notary.
    b.stop();
    let storage = open_storage(b_dir.path());
    let key = Arc::new(
        citadel_federation::signing::ServerSigningKey::load_or_generate(&storage, &b_name).unwrap(),
    );
    let tls = citadel_federation::client::TlsOptions {
        extra_roots: vec![std::fs::read(ca.ca_path()).unwrap()],
        ..Default::default()
    };
    let as_b = citadel_federation::client::FederationClient::new(key, &tls).unwrap();
    let trusting = n_name.clone();
    let a = federating_server_with(&ca, "a", None, move |c| {
        c.federation.trusted_key_servers = vec![trusting];
    });
    let lonely = federating_server(&ca, "l");
    let alice = a.client().register("alice", "pw-alice-1").await;
    let lou = lonely.client().register("lou", "pw-lou-1").await;
    let (status, body) = as_b
        .request(
            &a.addrs[1].to_string(),
            "GET",
            &format!(
                "/_matrix/federation/v1/query/profile?user_id={}",
                enc(&alice.user_id)
            ),
            None,
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    // A server without a notary cannot check B's signature.
    let (status, body) = as_b
        .request(
            &lonely.addrs[1].to_string(),
            "GET",
            &format!(
                "/_matrix/federation/v1/query/profile?user_id={}",
                enc(&lou.user_id)
            ),
            None,
        )
        .await
        .unwrap();
    assert_eq!(status, 401, "{body}");
}
