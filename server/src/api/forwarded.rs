//! The client's address behind reverse proxies: `X-Forwarded-For` is believed only when
//! the connection comes from a configured proxy, and then read from the right, past every
//! proxy we trust, to the first hop we do not. The left-most entries are whatever the
//! client wrote, so trusting them would let anyone pick their address (and dodge per-IP
//! login and registration limits).

use std::net::IpAddr;

/// `203.0.113.7` or `10.0.0.0/8` (a network).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl std::str::FromStr for Network {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let addr: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("{text:?} is not an IP address or network"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{text:?} has a bad prefix length"))?,
        };
        Ok(Self { addr, prefix })
    }
}

impl Network {
    pub fn contains(&self, ip: IpAddr) -> bool {
        // An IPv4 client seen through an IPv6 socket is still that IPv4 address.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// The client's address, given the connection's peer and its `X-Forwarded-For` values.
pub fn client_address(peer: IpAddr, forwarded_for: Option<&str>, trusted: &[Network]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let Some(header) = forwarded_for else {
        return peer;
    };
    let mut client = peer;
    for hop in header.rsplit(',') {
        let Ok(ip) = hop.trim().parse::<IpAddr>() else {
            // Garbage where a proxy we trust should have written an address: believe
            // nothing further left.
            return client;
        };
        client = ip;
        if !is_trusted(ip) {
            return ip;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<Network> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }
    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn only_a_trusted_peer_is_believed_and_only_from_the_right() {
        let trusted = nets(&["127.0.0.1", "10.0.0.0/8", "::1"]);
        let proxy = ip("127.0.0.1");
        // A direct client cannot claim an address.
        assert_eq!(
            client_address(ip("198.51.100.9"), Some("1.2.3.4"), &trusted),
            ip("198.51.100.9")
        );
        // The proxy appended the real client; whatever the client wrote is left of it.
        assert_eq!(
            client_address(proxy, Some("6.6.6.6, 203.0.113.7"), &trusted),
            ip("203.0.113.7")
        );
        // Trusted hops are walked past.
        assert_eq!(
            client_address(proxy, Some("6.6.6.6, 203.0.113.7, 10.1.2.3"), &trusted),
            ip("203.0.113.7")
        );
        // No header: the proxy itself.
        assert_eq!(client_address(proxy, None, &trusted), proxy);
        // Garbage stops the walk at the last address a trusted proxy vouched for.
        assert_eq!(
            client_address(proxy, Some("203.0.113.7, nonsense"), &trusted),
            proxy
        );
        // Every hop trusted: the left-most one.
        assert_eq!(
            client_address(proxy, Some("10.9.9.9, 10.1.1.1"), &trusted),
            ip("10.9.9.9")
        );
        // Nothing trusted: the header is never read.
        assert_eq!(client_address(proxy, Some("1.2.3.4"), &[]), proxy);
        // IPv4-mapped IPv6 peers count as their IPv4 address.
        assert_eq!(
            client_address(ip("::ffff:127.0.0.1"), Some("203.0.113.7"), &trusted),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn networks_parse_and_match() {
        let net: Network = "192.168.0.0/16".parse().unwrap();
        assert!(net.contains(ip("192.168.44.1")));
        assert!(!net.contains(ip("192.169.0.1")));
        assert!(!net.contains(ip("::1")));
        let all: Network = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("8.8.8.8")));
        let v6: Network = "fd00::/8".parse().unwrap();
        assert!(v6.contains(ip("fd12::1")));
        for bad in ["10.0.0.0/33", "nonsense", "10.0.0.0/x", "::1/129"] {
            assert!(bad.parse::<Network>().is_err(), "{bad}");
        }
    }
}
