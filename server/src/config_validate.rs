//! Checking a configuration before the server starts: every problem at once, so
//! `citadel check-config` can list them all.

use super::*;

impl Config {
    /// Every problem with the configuration; empty when it is usable.
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Err(e) = <&ruma::ServerName>::try_from(self.server_name.as_str()) {
            problems.push(format!(
                "server_name {:?} is not a valid server name: {e}",
                self.server_name
            ));
        }
        if let Some(url) = &self.public_baseurl
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            problems.push(format!(
                "public_baseurl {url:?} must start with http:// or https://"
            ));
        }
        if self.http.bind.is_empty() && self.tls.is_none() {
            problems.push(
                "http.bind is empty and there is no [tls] listener: nothing to serve on".into(),
            );
        }
        for addr in &self.http.bind {
            if addr.parse::<SocketAddr>().is_err() {
                problems.push(format!("http.bind {addr:?} is not an IP:port address"));
            }
        }
        if self.metrics.enabled
            && self.metrics.bind.is_none()
            && self.metrics.bearer_token.is_none()
        {
            problems.push(
                "metrics.enabled needs metrics.bind (a private listener) or metrics.bearer_token"
                    .into(),
            );
        }
        if let Some(bind) = &self.metrics.bind
            && bind.parse::<SocketAddr>().is_err()
        {
            problems.push(format!("metrics.bind {bind:?} is not an IP:port address"));
        }
        if self
            .metrics
            .bearer_token
            .as_ref()
            .is_some_and(|t| t.len() < 16)
        {
            problems.push("metrics.bearer_token must be at least 16 characters".into());
        }
        for bind in &self.http.admin_bind {
            if bind.parse::<SocketAddr>().is_err() {
                problems.push(format!(
                    "http.admin_bind {bind:?} is not an IP:port address"
                ));
            }
        }
        for proxy in &self.http.trusted_proxies {
            if let Err(e) = proxy.parse::<crate::api::forwarded::Network>() {
                problems.push(format!("http.trusted_proxies: {e}"));
            }
        }
        if self.http.max_unauthenticated_requests == 0 {
            problems.push("http.max_unauthenticated_requests must be at least 1".into());
        }
        if self.http.max_request_bytes < 64 * 1024 {
            problems.push("http.max_request_bytes must be at least 65536 (one event)".into());
        }
        if let Some(tls) = &self.tls {
            if tls.bind.parse::<SocketAddr>().is_err() {
                problems.push(format!("tls.bind {:?} is not an IP:port address", tls.bind));
            }
            for (what, path) in [
                ("tls.certificate", &tls.certificate),
                ("tls.private_key", &tls.private_key),
            ] {
                if !path.is_file() {
                    problems.push(format!(
                        "{what} {} does not exist or is not a file",
                        path.display()
                    ));
                }
            }
        }
        if self.media.max_upload_bytes == 0 || self.media.quota_bytes_per_user == 0 {
            problems.push(
                "media.max_upload_bytes and media.quota_bytes_per_user must be positive".into(),
            );
        }
        for path in &self.federation.extra_ca_certificates {
            if !path.is_file() {
                problems.push(format!(
                    "federation.extra_ca_certificates: {} does not exist",
                    path.display()
                ));
            }
        }
        if self.database.cache_mb == 0 {
            problems.push("database.cache_mb must be at least 1".into());
        }
        if let Some(secret) = &self.registration.shared_secret
            && secret.len() < 16
        {
            problems.push("registration.shared_secret must be at least 16 characters".into());
        }
        for (name, value) in [
            (
                "auth.refreshable_access_token_lifetime_ms",
                self.auth.refreshable_access_token_lifetime_ms,
            ),
            (
                "auth.login_token_lifetime_ms",
                self.auth.login_token_lifetime_ms,
            ),
            (
                "auth.uiaa_session_lifetime_ms",
                self.auth.uiaa_session_lifetime_ms,
            ),
        ] {
            if value == 0 {
                problems.push(format!("{name} must be greater than 0"));
            }
        }
        for (name, limit) in [
            ("login", &self.rate_limits.login),
            ("registration", &self.rate_limits.registration),
            ("failed_login", &self.rate_limits.failed_login),
            ("messages", &self.rate_limits.messages),
            ("media.uploads", &self.media.uploads),
        ] {
            if !(limit.per_second.is_finite() && limit.per_second > 0.0) {
                problems.push(format!(
                    "rate_limits.{name}.per_second must be a positive number"
                ));
            }
            if limit.burst == 0 {
                problems.push(format!("rate_limits.{name}.burst must be at least 1"));
            }
        }
        problems
    }
}
