//! Who is on the other end of a request (SPEC §1 `trusted_proxies`): the one rule behind
//! [`crate::auth::ClientIp`], the authentication throttle and every door's `requester_ip`.
//!
//! `X-Forwarded-For` is written by whoever sends it. It is believed only when the connection
//! comes from a configured reverse proxy, and then read from the right: each trusted proxy
//! appends the address it received the request from, so the right-most address that is not a
//! trusted proxy is the first one no trusted party vouches for — the client. Everything left
//! of it was written by the client and is ignored.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// `X-Forwarded-For` entries read at most, from the right. Real proxy chains are a few hops
/// long; a client must not make the server walk a list of thousands.
const FORWARDED_HOPS_MAX: usize = 32;

/// The reverse proxies whose `X-Forwarded-For` is believed: addresses or CIDR blocks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

/// An entry of `trusted_proxies` that is neither an address nor a CIDR block.
#[derive(Debug, thiserror::Error)]
#[error("`{0}` is neither an IP address nor a CIDR block")]
pub struct InvalidProxy(pub String);

impl TrustedProxies {
    /// Reads addresses (`10.0.0.7`, `::1`) and CIDR blocks (`10.0.0.0/8`, `fd00::/8`); blank
    /// entries are skipped.
    pub fn parse<'a>(
        entries: impl IntoIterator<Item = &'a str>,
    ) -> Result<TrustedProxies, InvalidProxy> {
        let mut networks = Vec::new();
        for entry in entries {
            let entry = entry.trim();
            if entry.is_empty() {
                continue;
            }
            let network = match entry.parse::<IpNet>() {
                Ok(network) => canonical_network(network),
                Err(_) => match entry.parse::<IpAddr>() {
                    Ok(address) => IpNet::from(address.to_canonical()),
                    Err(_) => return Err(InvalidProxy(entry.to_owned())),
                },
            };
            networks.push(network.trunc());
        }
        Ok(TrustedProxies(networks))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `address` is one of the trusted proxies.
    pub fn contains(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        self.0.iter().any(|network| network.contains(&address))
    }

    /// The client behind a connection from `peer`: `peer` itself unless it is a trusted proxy;
    /// then the right-most `X-Forwarded-For` address that is not a trusted proxy. When every
    /// listed address is trusted, the left-most of them; when an entry cannot be read, the last
    /// trusted hop before it (no trusted party vouches for anything further).
    pub fn client_address(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.contains(peer) {
            return peer;
        }
        let mut client = peer;
        let hops = headers
            .get_all("x-forwarded-for")
            .iter()
            .rev()
            .flat_map(|value| match value.to_str() {
                Ok(text) => text.rsplit(',').map(Some).collect::<Vec<_>>(),
                Err(_) => vec![None],
            })
            .take(FORWARDED_HOPS_MAX);
        for hop in hops {
            match hop.and_then(parse_hop) {
                Some(address) if self.contains(address) => client = address,
                Some(address) => return address,
                None => return client,
            }
        }
        client
    }
}

/// An IPv4 block written in IPv6's mapped form (`::ffff:10.0.0.0/104`) is the IPv4 block.
fn canonical_network(network: IpNet) -> IpNet {
    match network {
        IpNet::V6(v6) => match v6.addr().to_ipv4_mapped() {
            Some(v4) if v6.prefix_len() >= 96 => {
                IpNet::new(IpAddr::V4(v4), v6.prefix_len() - 96).unwrap_or(network)
            }
            _ => network,
        },
        IpNet::V4(_) => network,
    }
}

/// One `X-Forwarded-For` entry: an address, possibly with a port (`1.2.3.4:5678`,
/// `[2001:db8::1]:443`) or in brackets.
fn parse_hop(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    text.parse::<IpAddr>()
        .or_else(|_| text.parse::<SocketAddr>().map(|socket| socket.ip()))
        .or_else(|_| {
            text.strip_prefix('[')
                .and_then(|rest| rest.strip_suffix(']'))
                .unwrap_or(text)
                .parse::<IpAddr>()
        })
        .ok()
        .map(|address| address.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn proxies(entries: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(entries.iter().copied()).unwrap()
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn entries_are_addresses_or_blocks() {
        let trusted = proxies(&[
            "10.0.0.0/8",
            " 192.168.1.7 ",
            "",
            "fd00::/8",
            "::ffff:172.16.0.0/108",
        ]);
        assert!(trusted.contains(ip("10.200.3.4")));
        assert!(trusted.contains(ip("192.168.1.7")));
        assert!(!trusted.contains(ip("192.168.1.8")));
        assert!(trusted.contains(ip("fd12::1")));
        assert!(trusted.contains(ip("172.16.5.5")));
        // A mapped IPv4 peer is the IPv4 address.
        assert!(trusted.contains(ip("::ffff:10.1.1.1")));
        assert!(TrustedProxies::parse(["10.0.0.0/33"]).is_err());
        assert!(TrustedProxies::parse(["proxy.example"]).is_err());
        assert!(
            TrustedProxies::parse(Vec::<&str>::new())
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn forwarded_for_is_ignored_from_anyone_else() {
        let trusted = proxies(&["10.0.0.1"]);
        let headers = forwarded(&["203.0.113.9"]);
        assert_eq!(
            trusted.client_address(ip("198.51.100.4"), &headers),
            ip("198.51.100.4")
        );
        // No proxies configured: nobody is believed.
        assert_eq!(
            proxies(&[]).client_address(ip("127.0.0.1"), &headers),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn the_right_most_untrusted_address_is_the_client() {
        let trusted = proxies(&["10.0.0.0/8"]);
        // The client forged the left part; the proxies appended the rest.
        let headers = forwarded(&["1.1.1.1, 203.0.113.9", "10.0.0.5"]);
        assert_eq!(
            trusted.client_address(ip("10.0.0.1"), &headers),
            ip("203.0.113.9")
        );
        let ports = forwarded(&["[2001:db8::7]:4711, 10.0.0.2:80"]);
        assert_eq!(
            trusted.client_address(ip("10.0.0.1"), &ports),
            ip("2001:db8::7")
        );
        // No header: the proxy itself.
        assert_eq!(
            trusted.client_address(ip("10.0.0.1"), &HeaderMap::new()),
            ip("10.0.0.1")
        );
        // Every hop trusted: the furthest one.
        assert_eq!(
            trusted.client_address(ip("10.0.0.1"), &forwarded(&["10.9.9.9, 10.0.0.2"])),
            ip("10.9.9.9")
        );
        // Garbage where only a trusted proxy writes: the last trusted hop.
        assert_eq!(
            trusted.client_address(ip("10.0.0.1"), &forwarded(&["203.0.113.9, junk, 10.0.0.2"])),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn a_long_list_is_read_only_from_the_right() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let mut list = vec!["203.0.113.9"];
        list.extend(std::iter::repeat_n("10.0.0.3", FORWARDED_HOPS_MAX + 5));
        let headers = forwarded(&[&list.join(",")]);
        assert_eq!(
            trusted.client_address(ip("10.0.0.1"), &headers),
            ip("10.0.0.3")
        );
    }
}
