//! The outbound federation client: TLS with verified certificates (system roots plus
//! configured extra CAs), server discovery, and `X-Matrix`-signed requests.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use rustls::pki_types::CertificateDer;
use serde_json::Value;

use crate::discovery::{Destination, resolve_direct, resolve_with};
use crate::signing::ServerSigningKey;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("TLS setup failed: {0}")]
    Tls(String),
    #[error("{0} is unreachable: {1}")]
    Unreachable(String, String),
    #[error("bad answer from {0}: {1}")]
    BadResponse(String, String),
    #[error("could not sign the request: {0}")]
    Signing(String),
}

/// How the client checks other servers' certificates.
#[derive(Clone, Debug, Default)]
pub struct TlsOptions {
    /// Only for development: accept any certificate. Logged loudly.
    pub accept_invalid_certificates: bool,
    /// PEM certificates of extra certificate authorities to trust.
    pub extra_roots: Vec<Vec<u8>>,
}

/// How long a discovery result is reused.
const DISCOVERY_CACHE: Duration = Duration::from_secs(3600);

pub struct FederationClient {
    /// Built on first use: loading the system's certificate store costs a few MiB of
    /// memory that a server which never federates (or not yet) need not hold.
    http: OnceLock<Result<reqwest::Client, String>>,
    /// For other outbound HTTPS (push gateways): the same trusted roots, without the
    /// federation's server discovery.
    outbound: OnceLock<Result<reqwest::Client, String>>,
    tls: TlsOptions,
    extra_roots: Vec<CertificateDer<'static>>,
    key: Arc<ServerSigningKey>,
    destinations: Mutex<HashMap<String, (Destination, Instant)>>,
    /// Servers asked for another server's keys when it cannot be reached itself.
    notaries: Vec<String>,
    srv: crate::srv::SrvLookup,
    resolver: crate::srv::TargetResolver,
}

impl FederationClient {
    /// Checks the extra CAs now, so a bad certificate in the configuration stops start-up
    /// rather than the first federation request.
    pub fn new(key: Arc<ServerSigningKey>, tls: &TlsOptions) -> Result<Self, ClientError> {
        let mut extra_roots = Vec::new();
        for pem in &tls.extra_roots {
            for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
                let cert = cert.map_err(|e| ClientError::Tls(e.to_string()))?;
                rustls::RootCertStore::empty()
                    .add(cert.clone())
                    .map_err(|e| ClientError::Tls(e.to_string()))?;
                extra_roots.push(cert);
            }
        }
        if tls.accept_invalid_certificates {
            tracing::warn!("federation TLS certificate verification is OFF: development use only");
        }
        Ok(Self {
            http: OnceLock::new(),
            outbound: OnceLock::new(),
            tls: tls.clone(),
            extra_roots,
            key,
            destinations: Mutex::new(HashMap::new()),
            notaries: Vec::new(),
            srv: crate::srv::SrvLookup::default(),
            resolver: crate::srv::TargetResolver::default(),
        })
    }

    /// Trusts these servers to vouch for other servers' keys.
    pub fn with_notaries(mut self, notaries: Vec<String>) -> Self {
        self.notaries = notaries;
        self
    }

    pub fn notaries(&self) -> &[String] {
        &self.notaries
    }

    /// This server's name, the `origin` of everything it sends.
    pub fn server_name(&self) -> &str {
        self.key.server_name()
    }

    fn http(&self) -> Result<&reqwest::Client, ClientError> {
        self.http
            .get_or_init(|| self.build_http(true))
            .as_ref()
            .map_err(|e| ClientError::Tls(e.clone()))
    }

    /// An HTTP client for the server's other outbound requests (push gateways), trusting
    /// the system's roots and `extra_ca_certificates` as federation does.
    pub fn outbound_http(&self) -> Result<reqwest::Client, ClientError> {
        self.outbound
            .get_or_init(|| self.build_http(false))
            .clone()
            .map_err(ClientError::Tls)
    }

    fn build_http(&self, federation: bool) -> Result<reqwest::Client, String> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(cert);
        }
        for cert in &self.extra_roots {
            roots.add(cert.clone()).map_err(|e| e.to_string())?;
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let mut builder = reqwest::Client::builder()
            .use_preconfigured_tls(config)
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .danger_accept_invalid_certs(self.tls.accept_invalid_certificates);
        if federation {
            builder = builder.dns_resolver(self.resolver.clone());
        }
        builder.build().map_err(|e| e.to_string())
    }

    /// Where `server_name` is reached, from the cache or by discovery.
    pub async fn destination(&self, server_name: &str) -> Destination {
        if let Some(direct) = resolve_direct(server_name) {
            return direct;
        }
        if let Ok(cache) = self.destinations.lock()
            && let Some((destination, at)) = cache.get(server_name)
            && at.elapsed() < DISCOVERY_CACHE
        {
            return destination.clone();
        }
        let delegated = self.well_known(server_name).await;
        let name = delegated.as_deref().unwrap_or(server_name);
        let destination = match resolve_direct(name) {
            Some(direct) => direct,
            None => match self.srv.lookup(name).await {
                // Connect to the SRV target, but present (and check the certificate for)
                // the server's hostname.
                Some((target, port)) => {
                    self.resolver.route(name, &target);
                    Destination {
                        base_url: format!("https://{name}:{port}"),
                        host: name.to_owned(),
                    }
                }
                None => resolve_with(server_name, delegated.as_deref()),
            },
        };
        if let Ok(mut cache) = self.destinations.lock() {
            cache.insert(
                server_name.to_owned(),
                (destination.clone(), Instant::now()),
            );
        }
        destination
    }

    async fn well_known(&self, server_name: &str) -> Option<String> {
        let url = format!("https://{server_name}/.well-known/matrix/server");
        let response = self
            .http()
            .ok()?
            .get(&url)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .ok()?;
        if !response.status().is_success() {
            return None;
        }
        let body: Value = response.json().await.ok()?;
        body["m.server"].as_str().map(str::to_owned)
    }

    /// An unauthenticated GET (key documents).
    pub async fn get_unsigned(&self, server_name: &str, path: &str) -> Result<Value, ClientError> {
        let destination = self.destination(server_name).await;
        let response = self
            .http()?
            .get(format!("{}{path}", destination.base_url))
            .header("Host", &destination.host)
            .send()
            .await
            .map_err(|e| ClientError::Unreachable(server_name.to_owned(), e.to_string()))?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .map_err(|e| ClientError::BadResponse(server_name.to_owned(), e.to_string()))?;
        if !status.is_success() {
            return Err(ClientError::BadResponse(
                server_name.to_owned(),
                format!("{status}: {body}"),
            ));
        }
        Ok(body)
    }

    /// A signed request; returns the status and the JSON body.
    pub async fn request(
        &self,
        server_name: &str,
        method: &str,
        path_and_query: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), ClientError> {
        let destination = self.destination(server_name).await;
        let bytes = body
            .map(|b| serde_json::to_vec(b).unwrap_or_default())
            .unwrap_or_default();
        let to_sign = http1::Request::builder()
            .method(method)
            .uri(path_and_query)
            .body(bytes.clone())
            .map_err(|e| ClientError::Signing(e.to_string()))?;
        let name = <&ruma::ServerName>::try_from(server_name)
            .map_err(|e| ClientError::Signing(e.to_string()))?;
        let authorization = crate::x_matrix::sign(&self.key, name, &to_sign)
            .map_err(|e| ClientError::Signing(e.to_string()))?;
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|e| ClientError::Signing(e.to_string()))?;
        let mut request = self
            .http()?
            .request(method, format!("{}{path_and_query}", destination.base_url))
            .header("Host", &destination.host)
            .header("Authorization", authorization);
        if body.is_some() {
            request = request
                .header("Content-Type", "application/json")
                .body(bytes);
        }
        let response = request
            .send()
            .await
            .map_err(|e| ClientError::Unreachable(server_name.to_owned(), e.to_string()))?;
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        Ok((status, body))
    }

    /// A signed GET whose answer is not JSON: `(status, content type, body)`.
    pub async fn get_bytes(
        &self,
        server_name: &str,
        path_and_query: &str,
        limit: u64,
    ) -> Result<(u16, String, Vec<u8>), ClientError> {
        let destination = self.destination(server_name).await;
        let to_sign = http1::Request::builder()
            .method("GET")
            .uri(path_and_query)
            .body(Vec::new())
            .map_err(|e| ClientError::Signing(e.to_string()))?;
        let name = <&ruma::ServerName>::try_from(server_name)
            .map_err(|e| ClientError::Signing(e.to_string()))?;
        let authorization = crate::x_matrix::sign(&self.key, name, &to_sign)
            .map_err(|e| ClientError::Signing(e.to_string()))?;
        let mut response = self
            .http()?
            .get(format!("{}{path_and_query}", destination.base_url))
            .header("Host", &destination.host)
            .header("Authorization", authorization)
            .send()
            .await
            .map_err(|e| ClientError::Unreachable(server_name.to_owned(), e.to_string()))?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| ClientError::BadResponse(server_name.to_owned(), e.to_string()))?
        {
            body.extend_from_slice(&chunk);
            if body.len() as u64 > limit {
                return Err(ClientError::BadResponse(
                    server_name.to_owned(),
                    "media larger than allowed".into(),
                ));
            }
        }
        Ok((status, content_type, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use citadel_storage::{EngineOptions, Storage};

    fn signing_key(dir: &std::path::Path) -> Arc<ServerSigningKey> {
        let storage = Storage::open(
            dir,
            &EngineOptions {
                cache_bytes: 1 << 20,
            },
        )
        .unwrap();
        Arc::new(ServerSigningKey::load_or_generate(&storage, "example.org").unwrap())
    }

    #[test]
    fn bad_extra_authorities_are_refused_at_start_up() {
        let dir = tempfile::tempdir().unwrap();
        let key = signing_key(dir.path());
        // Not base64 inside the PEM armour.
        let garbled = b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n".to_vec();
        // Valid PEM whose DER is not a certificate.
        let not_a_cert = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".to_vec();
        for pem in [garbled, not_a_cert] {
            let tls = TlsOptions {
                extra_roots: vec![pem],
                ..TlsOptions::default()
            };
            assert!(matches!(
                FederationClient::new(Arc::clone(&key), &tls),
                Err(ClientError::Tls(_))
            ));
        }
    }

    #[test]
    fn the_http_client_is_built_on_first_use_only() {
        let dir = tempfile::tempdir().unwrap();
        let client =
            FederationClient::new(signing_key(dir.path()), &TlsOptions::default()).unwrap();
        assert!(client.http.get().is_none());
        client.http().unwrap();
        assert!(client.http.get().is_some());
    }
}
