//! Server discovery (server-server API, "Resolving server names"): where to reach a server
//! and which name to present for it. IP literals and explicit ports are used as they are;
//! otherwise `/.well-known/matrix/server` may delegate, then SRV records (see [`crate::srv`])
//! may name the host and port; the default port is 8448.

use std::net::IpAddr;

/// Where to send requests for a server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Destination {
    /// `https://host:port`, without a trailing slash.
    pub base_url: String,
    /// The `Host` header (and TLS name) to use.
    pub host: String,
}

/// Splits `name` into host and optional port (IPv6 literals are bracketed).
pub fn split_host_port(name: &str) -> (String, Option<u16>) {
    if let Some(rest) = name.strip_prefix('[')
        && let Some((host, after)) = rest.split_once(']')
    {
        let port = after.strip_prefix(':').and_then(|p| p.parse().ok());
        return (format!("[{host}]"), port);
    }
    match name.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => match port.parse() {
            Ok(port) => (host.to_owned(), Some(port)),
            Err(_) => (name.to_owned(), None),
        },
        _ => (name.to_owned(), None),
    }
}

fn is_ip_literal(host: &str) -> bool {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .is_ok()
}

/// Resolution that needs no network: IP literals and explicit ports. `None` means the
/// well-known document must be consulted.
pub fn resolve_direct(server_name: &str) -> Option<Destination> {
    let (host, port) = split_host_port(server_name);
    if is_ip_literal(&host) || port.is_some() {
        let port = port.unwrap_or(8448);
        return Some(Destination {
            base_url: format!("https://{host}:{port}"),
            host: server_name.to_owned(),
        });
    }
    None
}

/// Resolution after the well-known lookup: the delegated name (if any) resolved like a
/// server name, else the name itself on port 8448.
pub fn resolve_with(server_name: &str, delegated: Option<&str>) -> Destination {
    match delegated {
        Some(delegated) => resolve_direct(delegated).unwrap_or_else(|| Destination {
            base_url: format!("https://{delegated}:8448"),
            host: delegated.to_owned(),
        }),
        None => Destination {
            base_url: format!("https://{server_name}:8448"),
            host: server_name.to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_ports_resolve_directly() {
        assert_eq!(
            resolve_direct("127.0.0.1:8009").unwrap().base_url,
            "https://127.0.0.1:8009"
        );
        assert_eq!(
            resolve_direct("1.2.3.4").unwrap().base_url,
            "https://1.2.3.4:8448"
        );
        assert_eq!(
            resolve_direct("[::1]:9000").unwrap().base_url,
            "https://[::1]:9000"
        );
        assert_eq!(
            resolve_direct("example.org:443").unwrap().host,
            "example.org:443"
        );
        assert_eq!(resolve_direct("example.org"), None);
    }

    #[test]
    fn delegation_follows_well_known() {
        assert_eq!(
            resolve_with("example.org", Some("matrix.example.org:443")).base_url,
            "https://matrix.example.org:443"
        );
        assert_eq!(
            resolve_with("example.org", Some("matrix.example.org")).base_url,
            "https://matrix.example.org:8448"
        );
        assert_eq!(
            resolve_with("example.org", None).base_url,
            "https://example.org:8448"
        );
    }
}
