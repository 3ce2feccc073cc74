//! The optional HTTPS listener.

use crate::common::*;

#[tokio::test]
async fn tls_listener_serves_the_client_api() {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();

    let server = TestServer::spawn_with(|c| {
        c.tls = Some(citadel::config::TlsConfig {
            bind: "127.0.0.1:0".into(),
            certificate: cert_path.clone(),
            private_key: key_path.clone(),
        })
    });
    citadel::init_crypto();
    let tls_port = server.addrs[1].port();
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let response = http
        .get(format!(
            "https://localhost:{tls_port}/_matrix/client/versions"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(
        body["versions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v == "v1.19")
    );

    // With TLS configured, the server delegates federation to port 443 of its name.
    let (_, well_known) = server.client().get("/.well-known/matrix/server").await;
    assert_eq!(well_known["m.server"], "localhost:443");
}
