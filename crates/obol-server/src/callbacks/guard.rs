//! The SSRF guard on callback URLs (interim version; replaced by the full guard).

use std::net::IpAddr;
use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct AddressPolicy {
    pub allow_private_addresses: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    #[error("only http and https URLs are allowed")]
    NotHttp,
    #[error("the URL is malformed")]
    Malformed,
    #[error("the URL's host is a private, loopback or reserved address")]
    ForbiddenAddress,
    #[error("the URL's host cannot be resolved")]
    Unresolvable,
}

pub fn is_forbidden_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local() || v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.is_unspecified() || v6.is_multicast() || v6.to_ipv4_mapped().is_some_and(|v4| is_forbidden_ip(IpAddr::V4(v4))),
    }
}

pub fn check_url(url: &str, policy: AddressPolicy) -> Result<reqwest::Url, GuardError> {
    let parsed = reqwest::Url::parse(url).map_err(|_| GuardError::Malformed)?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(GuardError::NotHttp);
    }
    if policy.allow_private_addresses {
        return Ok(parsed);
    }
    match parsed.host() {
        Some(url::Host::Ipv4(ip)) if is_forbidden_ip(IpAddr::V4(ip)) => Err(GuardError::ForbiddenAddress),
        Some(url::Host::Ipv6(ip)) if is_forbidden_ip(IpAddr::V6(ip)) => Err(GuardError::ForbiddenAddress),
        Some(url::Host::Domain(domain)) if domain == "localhost" => Err(GuardError::ForbiddenAddress),
        Some(_) => Ok(parsed),
        None => Err(GuardError::Malformed),
    }
}

pub fn client(_policy: AddressPolicy, connect_timeout: Duration, total_timeout: Duration) -> Result<reqwest::Client, GuardError> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(connect_timeout)
        .timeout(total_timeout)
        .no_proxy()
        .build()
        .map_err(|_| GuardError::Malformed)
}
