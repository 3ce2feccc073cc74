//! SRV records for server discovery (`_matrix-fed._tcp`, then the deprecated
//! `_matrix._tcp`), and the name resolver that makes the HTTPS client connect to an SRV
//! target while it checks the certificate against the server's own hostname, as the
//! spec requires.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};

use hickory_resolver::TokioResolver;

/// One SRV record: `(priority, weight, port, target)`.
pub type SrvRecord = (u16, u16, u16, String);

/// The record to use: the lowest priority, and among those the heaviest weight (a
/// deterministic stand-in for weighted choice); a target of `.` means "no service".
pub fn pick(records: &[SrvRecord]) -> Option<(String, u16)> {
    records
        .iter()
        .filter(|(_, _, _, target)| target != "." && !target.is_empty())
        .min_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)))
        .map(|(_, _, port, target)| (target.trim_end_matches('.').to_owned(), *port))
}

/// Looks up SRV records with the system's DNS configuration.
#[derive(Default)]
pub struct SrvLookup {
    resolver: OnceLock<Option<TokioResolver>>,
}

impl SrvLookup {
    /// The SRV target and port for `hostname`: `_matrix-fed._tcp` first, then `_matrix._tcp`.
    pub async fn lookup(&self, hostname: &str) -> Option<(String, u16)> {
        let resolver = self
            .resolver
            .get_or_init(|| match TokioResolver::builder_tokio() {
                Ok(builder) => Some(builder.build()),
                Err(e) => {
                    tracing::warn!(error = %e, "no DNS configuration: SRV lookups disabled");
                    None
                }
            })
            .as_ref()?;
        for service in ["_matrix-fed._tcp", "_matrix._tcp"] {
            let name = format!("{service}.{hostname}.");
            let Ok(found) = resolver.srv_lookup(name).await else {
                continue;
            };
            let records: Vec<SrvRecord> = found
                .iter()
                .map(|r| (r.priority(), r.weight(), r.port(), r.target().to_utf8()))
                .collect();
            if let Some(choice) = pick(&records) {
                return Some(choice);
            }
        }
        None
    }
}

/// Resolves names for the HTTPS client; a hostname discovered through SRV resolves to
/// the addresses of its SRV target.
#[derive(Clone, Default)]
pub struct TargetResolver {
    targets: Arc<Mutex<HashMap<String, String>>>,
}

impl TargetResolver {
    /// Connections to `hostname` go to `target` from now on.
    pub fn route(&self, hostname: &str, target: &str) {
        if let Ok(mut targets) = self.targets.lock() {
            targets.insert(hostname.to_owned(), target.to_owned());
        }
    }

    fn target_of(&self, hostname: &str) -> String {
        self.targets
            .lock()
            .ok()
            .and_then(|t| t.get(hostname).cloned())
            .unwrap_or_else(|| hostname.to_owned())
    }
}

impl reqwest::dns::Resolve for TargetResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let target = self.target_of(name.as_str());
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((target.as_str(), 0))
                .await?
                .collect();
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lowest_priority_then_the_heaviest_weight_wins() {
        let records = vec![
            (20, 100, 8448, "backup.example.org.".to_owned()),
            (10, 5, 8449, "light.example.org.".to_owned()),
            (10, 50, 8450, "heavy.example.org.".to_owned()),
        ];
        assert_eq!(pick(&records), Some(("heavy.example.org".to_owned(), 8450)));
        assert_eq!(pick(&[(0, 0, 0, ".".to_owned())]), None);
        assert_eq!(pick(&[]), None);
    }

    #[tokio::test]
    async fn routed_names_resolve_to_their_target() {
        use reqwest::dns::Resolve;
        let resolver = TargetResolver::default();
        resolver.route("matrix.invalid", "127.0.0.1");
        let addrs: Vec<SocketAddr> = resolver
            .resolve("matrix.invalid".parse().unwrap())
            .await
            .unwrap()
            .collect();
        assert_eq!(addrs[0].ip().to_string(), "127.0.0.1");
    }
}
