//! Hostile clients (SPEC §1 `limits.*`, `trusted_proxies`, `metrics.listen`; §2; §8), each
//! attack tried against a real server on loopback: a slow or idle connection is cut off, open
//! connections are capped, in-flight requests survive a graceful stop, repeated failed
//! authentication is slowed down in every door's own format while the right credential from
//! another address keeps working, overlong credentials never reach a look-up or a cache,
//! `/metrics` costs no database work per scrape and can move to its own listener, and
//! `X-Forwarded-For` is believed only from trusted proxies. Every scenario runs on SQLite and on
//! PostgreSQL.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use obol_testkit::TestServer;
use serde_json::Value;

mod authentication;
mod connections;
mod credentials;
mod metrics;
mod proxies;

/// Where the attacks come from, and where the legitimate user is: two loopback addresses.
pub(crate) const ATTACKER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
pub(crate) const ELSEWHERE: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
/// Wrong attempts of every brute-force scenario.
pub(crate) const WRONG_ATTEMPTS: usize = 30;
/// Wrong attempts with one credential, and failures from one address, answered 401 before
/// the throttle answers 429.
pub(crate) const CREDENTIAL: usize = obol_http::throttle::CREDENTIAL_BURST as usize;
pub(crate) const ADDRESS: usize = obol_http::throttle::ADDRESS_BURST as usize;

pub(crate) fn client_from(address: IpAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(address)
        .build()
        .expect("a client")
}

pub(crate) fn address_of(server: &TestServer) -> SocketAddr {
    server.running.as_ref().expect("running").address
}

pub(crate) async fn body_of(response: reqwest::Response) -> Value {
    response.json().await.expect("a JSON body")
}
