//! The SSRF guard on callback URLs (SPEC §5).
//!
//! A callback URL is chosen by a merchant, so without a guard Obol would post to whatever it
//! names: the cloud metadata service, an admin port on loopback, a database on the private
//! network. The guard works in two places, because either alone is not enough:
//!
//! - [`check_url`] / [`check_url_resolves`] refuse a URL when it is stored (and again before each
//!   attempt): wrong scheme, credentials, a forbidden IP literal, `localhost`, or a name that
//!   resolves to a forbidden address today.
//! - [`client`] builds the HTTP client with [`GuardedResolver`], which filters the addresses a
//!   name resolves to at connect time. A name that was public at creation can be re-pointed at
//!   `127.0.0.1` later (DNS rebinding); the client only ever connects to addresses that passed.
//!
//! The resolver only sees names: hyper connects to IP literals without asking it. Callers must
//! therefore pass every URL through [`check_url`] before handing it to the client; together the
//! two cover literals and names. Redirects are never followed, since a redirect could point
//! anywhere and would bypass the check on the URL.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// Longest callback URL accepted. Far beyond any real webhook address; it bounds what is stored
/// and logged for each payment.
pub const URL_LENGTH_MAX: usize = 2048;

/// How long [`check_url_resolves`] waits for DNS. Creating a payment must not hang on a slow
/// resolver; the connect-time check still guards delivery when this one gives up.
pub const RESOLVE_TIMEOUT: Duration = Duration::from_secs(2);

/// Which destinations callbacks may reach.
#[derive(Debug, Clone, Copy)]
pub struct AddressPolicy {
    /// `callbacks.allow_private_addresses`: lets callbacks reach private, loopback and other
    /// non-public addresses (development, tests, a receiver on the same private network).
    pub allow_private_addresses: bool,
}

/// Why a callback URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    #[error("the callback URL must use http or https")]
    NotHttp,
    #[error(
        "the callback URL is malformed: it cannot be parsed, has no host, carries credentials \
         or is longer than 2048 characters"
    )]
    Malformed,
    #[error(
        "the callback URL points to a private, loopback, link-local or otherwise reserved address"
    )]
    ForbiddenAddress,
    #[error("the callback host could not be resolved to any address")]
    Unresolvable,
    /// Building the HTTP client failed (the TLS backend could not start). Not a property of any
    /// URL, but [`client`] has nothing else to report it with.
    #[error("the callback HTTP client could not be built: {0}")]
    ClientBuild(String),
}

/// Whether `ip` is outside the public internet: every address a callback must not reach unless
/// private addresses are allowed.
pub fn is_forbidden_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_forbidden_ipv4(v4),
        IpAddr::V6(v6) => is_forbidden_ipv6(v6),
    }
}

/// IPv4 ranges that are not globally reachable (IANA special-purpose registry), as
/// `(network, prefix length)`. Those with a stable std method are checked by it as well; the
/// table is the single complete list so nothing depends on which std methods are stable.
const FORBIDDEN_IPV4: &[(Ipv4Addr, u8)] = &[
    (Ipv4Addr::new(0, 0, 0, 0), 8), // "this network", 0.0.0.0 reaches loopback on Linux
    (Ipv4Addr::new(10, 0, 0, 0), 8), // private
    (Ipv4Addr::new(100, 64, 0, 0), 10), // carrier-grade NAT, shared address space
    (Ipv4Addr::new(127, 0, 0, 0), 8), // loopback
    (Ipv4Addr::new(169, 254, 0, 0), 16), // link-local, home of cloud metadata services
    (Ipv4Addr::new(172, 16, 0, 0), 12), // private
    (Ipv4Addr::new(192, 0, 0, 0), 24), // IETF protocol assignments
    (Ipv4Addr::new(192, 0, 2, 0), 24), // documentation TEST-NET-1
    (Ipv4Addr::new(192, 88, 99, 0), 24), // deprecated 6to4 relay anycast
    (Ipv4Addr::new(192, 168, 0, 0), 16), // private
    (Ipv4Addr::new(198, 18, 0, 0), 15), // benchmarking
    (Ipv4Addr::new(198, 51, 100, 0), 24), // documentation TEST-NET-2
    (Ipv4Addr::new(203, 0, 113, 0), 24), // documentation TEST-NET-3
    (Ipv4Addr::new(224, 0, 0, 0), 4), // multicast
    (Ipv4Addr::new(240, 0, 0, 0), 4), // reserved, includes broadcast 255.255.255.255
];

fn is_forbidden_ipv4(ip: Ipv4Addr) -> bool {
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || FORBIDDEN_IPV4
            .iter()
            .any(|&(network, length)| ipv4_in(ip, network, length))
}

fn ipv4_in(ip: Ipv4Addr, network: Ipv4Addr, length: u8) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(length)).unwrap_or(0);
    u32::from(ip) & mask == u32::from(network) & mask
}

fn ipv6_in(ip: Ipv6Addr, network: Ipv6Addr, length: u8) -> bool {
    let mask = u128::MAX.checked_shl(128 - u32::from(length)).unwrap_or(0);
    u128::from(ip) & mask == u128::from(network) & mask
}

/// The IPv4 address in the low 32 bits of `ip`.
fn low_ipv4(ip: Ipv6Addr) -> Ipv4Addr {
    // Truncation is the point: the embedded address is the last 32 bits.
    Ipv4Addr::from(u128::from(ip) as u32)
}

/// IPv6 ranges inside global unicast 2000::/3 that are nonetheless not globally reachable.
const FORBIDDEN_IPV6_IN_GLOBAL: &[(Ipv6Addr, u8)] = &[
    (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 32), // Teredo: tunnels to an embedded IPv4
    (Ipv6Addr::new(0x2001, 0x2, 0, 0, 0, 0, 0, 0), 48), // benchmarking
    (Ipv6Addr::new(0x2001, 0x10, 0, 0, 0, 0, 0, 0), 28), // ORCHID (deprecated)
    (Ipv6Addr::new(0x2001, 0x20, 0, 0, 0, 0, 0, 0), 28), // ORCHIDv2
    (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32), // documentation
    (Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0), 20), // documentation (RFC 9637)
];

fn is_forbidden_ipv6(ip: Ipv6Addr) -> bool {
    if ip.is_unspecified() || ip.is_loopback() {
        return true;
    }
    // Forms that carry an IPv4 address and reach it: judge them by that address, so that
    // ::ffff:127.0.0.1 is refused exactly like 127.0.0.1 and ::ffff:93.184.216.34 is not.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_forbidden_ipv4(v4);
    }
    // IPv4-compatible ::a.b.c.d (deprecated; :: and ::1 were handled above).
    if ipv6_in(ip, Ipv6Addr::UNSPECIFIED, 96) {
        return is_forbidden_ipv4(low_ipv4(ip));
    }
    // NAT64 well-known prefix: the gateway forwards to the embedded IPv4 address.
    if ipv6_in(ip, Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96) {
        return is_forbidden_ipv4(low_ipv4(ip));
    }
    // 6to4: 2002:AABB:CCDD::/48 tunnels to AA.BB.CC.DD.
    if ipv6_in(ip, Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16) {
        let [_, _, a, b, c, d, ..] = ip.octets();
        return is_forbidden_ipv4(Ipv4Addr::new(a, b, c, d));
    }
    // Named for the reader; all of these also fall outside 2000::/3 below.
    let site_local = ipv6_in(ip, Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10);
    let discard_only = ipv6_in(ip, Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0), 64);
    if ip.is_unique_local() || ip.is_unicast_link_local() || ip.is_multicast() {
        return true; // fc00::/7, fe80::/10, ff00::/8
    }
    if site_local || discard_only {
        return true;
    }
    // IANA hands out global unicast only from 2000::/3; everything else is reserved (and
    // includes the local-use NAT64 prefix 64:ff9b:1::/48). Allow-listing the global block keeps
    // the guard right when new special-purpose ranges appear outside it.
    if !ipv6_in(ip, Ipv6Addr::new(0x2000, 0, 0, 0, 0, 0, 0, 0), 3) {
        return true;
    }
    FORBIDDEN_IPV6_IN_GLOBAL
        .iter()
        .any(|&(network, length)| ipv6_in(ip, network, length))
}

/// The host of a parsed http(s) URL, classified.
enum UrlHost<'a> {
    Ip(IpAddr),
    Domain(&'a str),
}

/// Classifies the host of an http(s) URL.
///
/// Works from `host_str()` rather than `url::Host` so the server needs no direct `url`
/// dependency. This is exact for special schemes: the WHATWG parser serialises IPv6 hosts in
/// brackets and rewrites every numeric IPv4 form to dotted decimal, so a host that parses as an
/// IP address here is an IP host, and anything else is a domain.
fn url_host(url: &reqwest::Url) -> Option<UrlHost<'_>> {
    let host = url.host_str()?;
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner
            .parse::<Ipv6Addr>()
            .ok()
            .map(|ip| UrlHost::Ip(ip.into()));
    }
    if let Ok(ip) = host.parse::<Ipv4Addr>() {
        return Some(UrlHost::Ip(ip.into()));
    }
    if host.is_empty() {
        return None;
    }
    Some(UrlHost::Domain(host))
}

/// `localhost` and `*.localhost` always mean loopback (RFC 6761), whatever DNS says, so they are
/// refused without resolving. A trailing dot is the same name.
fn is_localhost_name(domain: &str) -> bool {
    let name = domain.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// Whether the raw text has an authority right after `scheme://`.
///
/// The WHATWG parser is lenient with special schemes: `http:///nohost`, `http:example.com` and
/// `http:\\example.com` all become `http://<host>/`. Callback URLs are typed by integrators and
/// compared by people, so only the one unambiguous spelling is accepted.
fn has_plain_authority(raw: &str, scheme: &str) -> bool {
    let Some(rest) = raw.get(scheme.len()..) else {
        return false;
    };
    let Some(authority) = rest.strip_prefix("://") else {
        return false;
    };
    !authority.is_empty() && !authority.starts_with(['/', '\\'])
}

/// Checks a callback URL without resolving it: http(s) only, a host, no credentials, at most
/// [`URL_LENGTH_MAX`] characters, and, unless private addresses are allowed, no forbidden IP
/// literal and no `localhost`. Domain names pass; [`check_url_resolves`] and the client's
/// resolver judge what they resolve to.
pub fn check_url(url: &str, policy: AddressPolicy) -> Result<reqwest::Url, GuardError> {
    if url.len() > URL_LENGTH_MAX {
        return Err(GuardError::Malformed);
    }
    // The parser silently strips tabs, newlines and surrounding spaces; a URL that needed that
    // is not one the merchant meant to store.
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(GuardError::Malformed);
    }
    let parsed = reqwest::Url::parse(url).map_err(|_| GuardError::Malformed)?;
    let scheme = parsed.scheme();
    if scheme != "http" && scheme != "https" {
        return Err(GuardError::NotHttp);
    }
    if !has_plain_authority(url, scheme) {
        return Err(GuardError::Malformed);
    }
    // `http://trusted.example@evil.example/` reads as one host and connects to another.
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(GuardError::Malformed);
    }
    let host = url_host(&parsed).ok_or(GuardError::Malformed)?;
    if policy.allow_private_addresses {
        return Ok(parsed);
    }
    match host {
        UrlHost::Ip(ip) if is_forbidden_ip(ip) => Err(GuardError::ForbiddenAddress),
        UrlHost::Domain(domain) if is_localhost_name(domain) => Err(GuardError::ForbiddenAddress),
        UrlHost::Ip(_) | UrlHost::Domain(_) => Ok(parsed),
    }
}

/// [`check_url`], then, for a domain host, resolves it (within [`RESOLVE_TIMEOUT`]) and refuses
/// the URL if any address it resolves to is forbidden.
///
/// A name that does not resolve, or not in time, is accepted: it reaches nothing today, and the
/// connect-time resolver refuses it should it later resolve to a forbidden address. Refusing it
/// would make payment creation depend on the merchant's DNS being up; delivery instead fails and
/// is retried on the dialect's schedule.
pub async fn check_url_resolves(
    url: &str,
    policy: AddressPolicy,
) -> Result<reqwest::Url, GuardError> {
    let parsed = check_url(url, policy)?;
    if policy.allow_private_addresses {
        return Ok(parsed);
    }
    let Some(UrlHost::Domain(domain)) = url_host(&parsed) else {
        // IP literals were fully judged by `check_url`.
        return Ok(parsed);
    };
    // Owned, because the 2024 edition lets the lookup's iterator capture the borrow of `parsed`.
    let domain = domain.to_owned();
    let port = parsed.port_or_known_default().unwrap_or(0);
    let lookup = tokio::net::lookup_host((domain.as_str(), port));
    let Ok(Ok(addresses)) = tokio::time::timeout(RESOLVE_TIMEOUT, lookup).await else {
        return Ok(parsed);
    };
    // Any, not all: the client may pick whichever address it likes, so one bad one is enough.
    let mut addresses = addresses;
    if addresses.any(|address| is_forbidden_ip(address.ip())) {
        return Err(GuardError::ForbiddenAddress);
    }
    Ok(parsed)
}

/// How long an idle pooled connection to a receiver is kept. Shorter than the minute many
/// servers keep an idle connection (Obol's own `limits.idle_timeout_ms`), so this side usually
/// closes first; a request on a connection the other end closed before it was written is
/// sent again on a new one by the client itself.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(50);

/// The connect-time half of the guard: a DNS resolver for reqwest that drops forbidden
/// addresses, so the client can only connect to addresses that passed, however the name's DNS
/// answers change after the URL was checked.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    pub policy: AddressPolicy,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy;
        let name = name.as_str().to_owned();
        Box::pin(async move {
            let resolved = tokio::net::lookup_host((name.as_str(), 0))
                .await
                .map_err(|_| boxed(GuardError::Unresolvable))?;
            // Port 0 tells reqwest to use the URL's port (or the scheme's default).
            let allowed: Vec<SocketAddr> = resolved
                .filter(|address| policy.allow_private_addresses || !is_forbidden_ip(address.ip()))
                .collect();
            if allowed.is_empty() {
                return Err(boxed(GuardError::ForbiddenAddress));
            }
            let addresses: reqwest::dns::Addrs = Box::new(allowed.into_iter());
            Ok(addresses)
        })
    }
}

fn boxed(error: GuardError) -> Box<dyn std::error::Error + Send + Sync> {
    Box::new(error)
}

/// The HTTP client that delivers callbacks: guarded resolver, no redirects, no proxy (a proxy
/// would resolve names itself, out of the guard's sight), and the given timeouts (SPEC §5:
/// connect 10 s, total 20 s).
///
/// Connections are kept alive and pooled per host (scheme, host and port), up to
/// `idle_per_host` idle ones each (the worker's per-host bound, so every attempt under way to
/// a host can find one), for [`POOL_IDLE_TIMEOUT`]. The guard still sees every connection:
/// each new one resolves its host through [`GuardedResolver`], and a pooled one is only reused
/// for the host it was checked for.
///
/// It does not check IP literals, which never reach a resolver: send only URLs that passed
/// [`check_url`].
pub fn client(
    policy: AddressPolicy,
    connect_timeout: Duration,
    total_timeout: Duration,
    idle_per_host: usize,
) -> Result<reqwest::Client, GuardError> {
    reqwest::Client::builder()
        .dns_resolver(Arc::new(GuardedResolver { policy }))
        .pool_max_idle_per_host(idle_per_host)
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(connect_timeout)
        .timeout(total_timeout)
        .no_proxy()
        .user_agent(concat!("Obol-Callbacks/", env!("CARGO_PKG_VERSION")))
        .use_rustls_tls()
        .build()
        .map_err(|error| GuardError::ClientBuild(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    const GUARDED: AddressPolicy = AddressPolicy {
        allow_private_addresses: false,
    };
    const OPEN: AddressPolicy = AddressPolicy {
        allow_private_addresses: true,
    };

    const REFUSED: &[(&str, GuardError)] = &[
        ("http://127.0.0.1/", GuardError::ForbiddenAddress),
        ("http://localhost/", GuardError::ForbiddenAddress),
        ("http://[::1]/", GuardError::ForbiddenAddress),
        ("http://[::ffff:127.0.0.1]/", GuardError::ForbiddenAddress),
        ("http://2130706433/", GuardError::ForbiddenAddress),
        ("http://0x7f.1/", GuardError::ForbiddenAddress),
        ("http://0x7f000001/", GuardError::ForbiddenAddress),
        ("http://017700000001/", GuardError::ForbiddenAddress),
        ("http://127.1/", GuardError::ForbiddenAddress),
        ("http://0/", GuardError::ForbiddenAddress),
        ("http://0.0.0.0/", GuardError::ForbiddenAddress),
        ("http://10.0.0.1/", GuardError::ForbiddenAddress),
        ("http://172.16.5.4/", GuardError::ForbiddenAddress),
        ("http://192.168.1.1/", GuardError::ForbiddenAddress),
        (
            "http://169.254.169.254/latest/meta-data/",
            GuardError::ForbiddenAddress,
        ),
        ("http://100.64.0.1/", GuardError::ForbiddenAddress),
        ("http://[fd00::1]/", GuardError::ForbiddenAddress),
        ("http://[fe80::1]/", GuardError::ForbiddenAddress),
        ("http://[ff02::1]/", GuardError::ForbiddenAddress),
        ("http://224.0.0.1/", GuardError::ForbiddenAddress),
        ("http://255.255.255.255/", GuardError::ForbiddenAddress),
        ("http://[::]/", GuardError::ForbiddenAddress),
        ("http://[::ffff:10.0.0.1]/", GuardError::ForbiddenAddress),
        ("http://[64:ff9b::7f00:1]/", GuardError::ForbiddenAddress),
        ("http://[2002:7f00:1::]/", GuardError::ForbiddenAddress),
        ("http://[::127.0.0.1]/", GuardError::ForbiddenAddress),
        ("ftp://example.com/", GuardError::NotHttp),
        ("file:///etc/passwd", GuardError::NotHttp),
        ("gopher://x/", GuardError::NotHttp),
        ("javascript:alert(1)", GuardError::NotHttp),
        ("http://user:pass@example.com/", GuardError::Malformed),
        ("http://a.localhost/", GuardError::ForbiddenAddress),
        ("http://198.18.0.1/", GuardError::ForbiddenAddress),
        ("http://192.0.2.1/", GuardError::ForbiddenAddress),
        ("http://240.0.0.1/", GuardError::ForbiddenAddress),
        ("not a url", GuardError::Malformed),
        ("http:///nohost", GuardError::Malformed),
        // Beyond the required set.
        ("http://LOCALHOST./", GuardError::ForbiddenAddress),
        ("http://\u{24db}ocalhost/", GuardError::ForbiddenAddress), // IDNA maps the circled letter to plain "localhost"
        ("http://127.0.0.1:8080/", GuardError::ForbiddenAddress),
        ("http://[::ffff:7f00:1]/", GuardError::ForbiddenAddress),
        (
            "http://[::ffff:169.254.169.254]/",
            GuardError::ForbiddenAddress,
        ),
        ("http://[fec0::1]/", GuardError::ForbiddenAddress),
        ("http://[100::1]/", GuardError::ForbiddenAddress),
        ("http://[2001:db8::1]/", GuardError::ForbiddenAddress),
        (
            "http://[2001:0:4136:e378::1]/",
            GuardError::ForbiddenAddress,
        ),
        ("http://[2001:20::1]/", GuardError::ForbiddenAddress),
        ("http://[64:ff9b:1::1]/", GuardError::ForbiddenAddress),
        ("http://[fe80::1%25eth0]/", GuardError::Malformed),
        ("http://192.0.0.8/", GuardError::ForbiddenAddress),
        ("http://198.51.100.7/", GuardError::ForbiddenAddress),
        ("http://203.0.113.9/", GuardError::ForbiddenAddress),
        ("http://172.31.255.255/", GuardError::ForbiddenAddress),
        ("http://0177.0.0.1/", GuardError::ForbiddenAddress),
        ("http://user@example.com/", GuardError::Malformed),
        ("http:example.com/", GuardError::Malformed),
        ("http:\\\\example.com/", GuardError::Malformed),
        (" http://example.com/", GuardError::Malformed),
        ("http://exa\tmple.com/", GuardError::Malformed),
        ("https://", GuardError::Malformed),
        ("data:text/plain,hi", GuardError::NotHttp),
    ];

    const ACCEPTED: &[&str] = &[
        "https://example.com/callback",
        "http://93.184.216.34/x",
        "https://[2606:4700:4700::1111]/",
        "https://shop.example:8443/hook?x=1",
        "http://[::ffff:93.184.216.34]/",
        "http://[2002:5db8:d822::1]/",
        "http://[64:ff9b::5db8:d822]/",
        "http://172.32.0.1/",
        "http://100.128.0.1/",
        "http://localhost.example.com/",
    ];

    #[test]
    fn the_ssrf_matrix_is_refused() {
        assert!(REFUSED.len() >= 35);
        for (url, reason) in REFUSED {
            assert_eq!(check_url(url, GUARDED), Err(reason.clone()), "{url}");
        }
    }

    #[test]
    fn public_urls_are_accepted() {
        for url in ACCEPTED {
            assert!(
                check_url(url, GUARDED).is_ok(),
                "{url} should be accepted: {:?}",
                check_url(url, GUARDED)
            );
        }
    }

    #[test]
    fn refusals_say_why() {
        assert_eq!(
            check_url("ftp://example.com/", GUARDED),
            Err(GuardError::NotHttp)
        );
        assert_eq!(
            check_url("javascript:alert(1)", GUARDED),
            Err(GuardError::NotHttp)
        );
        assert_eq!(check_url("not a url", GUARDED), Err(GuardError::Malformed));
        assert_eq!(
            check_url("http:///nohost", GUARDED),
            Err(GuardError::Malformed)
        );
        assert_eq!(
            check_url("http://user:pass@example.com/", GUARDED),
            Err(GuardError::Malformed)
        );
        assert_eq!(
            check_url("http://169.254.169.254/latest/meta-data/", GUARDED),
            Err(GuardError::ForbiddenAddress)
        );
        assert_eq!(
            check_url("http://localhost/", GUARDED),
            Err(GuardError::ForbiddenAddress)
        );
        let long = format!("https://example.com/{}", "a".repeat(URL_LENGTH_MAX));
        assert_eq!(check_url(&long, GUARDED), Err(GuardError::Malformed));
    }

    #[test]
    fn numeric_hosts_are_normalised_to_loopback() {
        for url in [
            "http://2130706433/",
            "http://0x7f.1/",
            "http://0x7f000001/",
            "http://017700000001/",
            "http://127.1/",
        ] {
            let parsed = check_url(url, OPEN).map_err(|e| format!("{url}: {e}"));
            assert_eq!(
                parsed.as_ref().map(|u| u.host_str()),
                Ok(Some("127.0.0.1")),
                "{url}"
            );
            assert_eq!(
                check_url(url, GUARDED),
                Err(GuardError::ForbiddenAddress),
                "{url}"
            );
        }
        let zero = check_url("http://0/", OPEN).map(|u| u.host_str().map(str::to_owned));
        assert_eq!(zero, Ok(Some("0.0.0.0".to_owned())));
    }

    #[test]
    fn private_addresses_pass_when_allowed() {
        assert!(check_url("http://127.0.0.1:8080/cb", OPEN).is_ok());
        assert!(check_url("http://localhost/cb", OPEN).is_ok());
        assert!(check_url("http://[::1]/cb", OPEN).is_ok());
        // The policy opens addresses, not schemes or credentials.
        assert_eq!(
            check_url("ftp://127.0.0.1/", OPEN),
            Err(GuardError::NotHttp)
        );
        assert_eq!(
            check_url("http://u:p@127.0.0.1/", OPEN),
            Err(GuardError::Malformed)
        );
    }

    #[test]
    fn forbidden_ips_cover_every_special_range() {
        let forbidden = [
            "0.1.2.3",
            "127.255.255.254",
            "10.255.0.1",
            "172.16.0.0",
            "192.168.255.255",
            "100.127.255.255",
            "169.254.0.1",
            "192.0.0.1",
            "192.0.2.255",
            "198.19.255.255",
            "198.51.100.1",
            "203.0.113.1",
            "239.255.255.255",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:192.168.0.1",
            "::10.0.0.1",
            "64:ff9b::a00:1",
            "2002:c0a8:101::1",
            "fc00::1",
            "fdff::1",
            "febf::1",
            "fec0::1",
            "ff0e::1",
            "2001:db8:ffff::1",
            "100::ffff",
            "2001::1",
            "2001:2f::1",
            "3fff::1",
            "4000::1",
        ];
        for ip in forbidden {
            let parsed: Result<IpAddr, _> = ip.parse();
            assert!(
                matches!(parsed, Ok(a) if is_forbidden_ip(a)),
                "{ip} should be forbidden"
            );
        }
        let public = [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.216.34",
            "172.15.255.255",
            "100.63.255.255",
            "198.20.0.1",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "2a00:1450:4001::1",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "2001:4860:4860::8888",
        ];
        for ip in public {
            let parsed: Result<IpAddr, _> = ip.parse();
            assert!(
                matches!(parsed, Ok(a) if !is_forbidden_ip(a)),
                "{ip} should be public"
            );
        }
    }

    #[tokio::test]
    async fn resolution_check_refuses_literals_and_localhost() {
        // Only literals and /etc/hosts names: tests make no outside DNS lookups.
        assert_eq!(
            check_url_resolves("http://127.0.0.1/", GUARDED).await,
            Err(GuardError::ForbiddenAddress)
        );
        assert_eq!(
            check_url_resolves("http://localhost:9/", GUARDED).await,
            Err(GuardError::ForbiddenAddress)
        );
        assert!(
            check_url_resolves("http://93.184.216.34/x", GUARDED)
                .await
                .is_ok()
        );
        assert!(
            check_url_resolves("http://localhost:9/", OPEN)
                .await
                .is_ok()
        );
        assert_eq!(
            check_url_resolves("gopher://x/", OPEN).await,
            Err(GuardError::NotHttp)
        );
    }

    /// Accepts one connection on `listener` within `wait`, answers it with `response`, and
    /// reports whether a connection came at all.
    async fn serve_once(listener: TcpListener, response: String, wait: Duration) -> bool {
        let Ok(Ok((mut stream, _))) = tokio::time::timeout(wait, listener.accept()).await else {
            return false;
        };
        let mut head = Vec::new();
        let mut buffer = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buffer[..n]),
            }
        }
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
        true
    }

    /// The guard's own refusal somewhere in a reqwest error's source chain.
    fn guard_error_in(error: &reqwest::Error) -> Option<&GuardError> {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
        while let Some(current) = source {
            if let Some(guard) = current.downcast_ref::<GuardError>() {
                return Some(guard);
            }
            source = current.source();
        }
        None
    }

    fn test_client(policy: AddressPolicy) -> reqwest::Client {
        client(policy, Duration::from_secs(2), Duration::from_secs(5), 4).expect("client builds")
    }

    #[tokio::test]
    async fn guarded_client_never_connects_to_loopback_names() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let server = tokio::spawn(serve_once(
            listener,
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_owned(),
            Duration::from_millis(500),
        ));
        let result = test_client(GUARDED)
            .get(format!("http://localhost:{port}/"))
            .send()
            .await;
        let error = result.expect_err("the guarded client reached loopback");
        assert_eq!(
            guard_error_in(&error),
            Some(&GuardError::ForbiddenAddress),
            "{error:?}"
        );
        assert!(!server.await.expect("server task"), "a connection was made");
    }

    #[tokio::test]
    async fn open_client_reaches_loopback_names() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let server = tokio::spawn(serve_once(
            listener,
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok".to_owned(),
            Duration::from_secs(5),
        ));
        let response = test_client(OPEN)
            .post(format!("http://localhost:{port}/cb"))
            .body("{}")
            .send()
            .await
            .expect("request succeeds");
        assert_eq!(response.status(), reqwest::StatusCode::OK);
        assert!(server.await.expect("server task"));
    }

    /// Sequential requests to one host go over one kept-alive connection.
    #[tokio::test]
    async fn connections_are_kept_alive_and_reused() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = Arc::clone(&accepted);
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buffer = [0u8; 4096];
                    // Each request fits one read here (no body); answer each, keep the connection.
                    while let Ok(read) = stream.read(&mut buffer).await {
                        if read == 0
                            || stream
                                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                                .await
                                .is_err()
                        {
                            break;
                        }
                    }
                });
            }
        });
        let client = test_client(OPEN);
        for _ in 0..5 {
            let response = client
                .get(format!("http://localhost:{port}/cb"))
                .send()
                .await
                .expect("request succeeds");
            assert_eq!(response.status(), reqwest::StatusCode::OK);
            response.bytes().await.expect("the (empty) body");
        }
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn redirects_are_not_followed() {
        let target = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let target_port = target.local_addr().expect("address").port();
        let target_server = tokio::spawn(serve_once(
            target,
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_owned(),
            Duration::from_millis(500),
        ));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let server = tokio::spawn(serve_once(
            listener,
            format!(
                "HTTP/1.1 302 Found\r\nLocation: http://localhost:{target_port}/\r\n\
                 Content-Length: 0\r\nConnection: close\r\n\r\n"
            ),
            Duration::from_secs(5),
        ));
        let response = test_client(OPEN)
            .post(format!("http://localhost:{port}/cb"))
            .send()
            .await
            .expect("request succeeds");
        assert_eq!(response.status(), reqwest::StatusCode::FOUND);
        assert!(server.await.expect("server task"));
        assert!(
            !target_server.await.expect("target task"),
            "the redirect was followed"
        );
    }
}
