//! PostgreSQL connections' bounds (`pg_connect.rs`): a host that accepts and then answers
//! nothing (a frozen server) costs one bounded attempt and the next host is tried; a round trip
//! past its deadline fails as unavailable and its connection is not pooled again; a URL with no
//! reachable host fails with each host's reason.

use std::time::{Duration, Instant};

use crate::testing::TestDatabase;
use crate::{DatabaseOptions, DatabaseUrl, Store, StoreError};

/// A loopback port that accepts connections and never answers, like a frozen server (the
/// kernel completes the handshake; nobody reads). Kept open while the returned listener lives.
fn frozen_host() -> (std::net::TcpListener, u16) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let port = listener.local_addr().expect("its address").port();
    (listener, port)
}

fn quick() -> DatabaseOptions {
    DatabaseOptions {
        connect_timeout: Duration::from_millis(300),
        pool_timeout: Duration::from_millis(300),
        statement_timeout: Some(Duration::from_millis(300)),
        ..DatabaseOptions::default()
    }
}

#[tokio::test]
async fn no_answering_host_fails_within_the_bounds_naming_each_host() {
    let (_frozen, frozen) = frozen_host();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let url = DatabaseUrl::parse(&format!(
        "postgres://obol@127.0.0.1:{frozen},127.0.0.1:{closed}/obol"
    ))
    .unwrap();
    let started = Instant::now();
    let error = Store::open_with(&url, &quick())
        .await
        .err()
        .expect("no host answers");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let StoreError::Unavailable(message) = error else {
        panic!("{error:?}")
    };
    assert!(
        message.contains(&format!("127.0.0.1:{frozen}: no answer within 300 ms")),
        "{message}"
    );
    assert!(
        message.contains(&format!("127.0.0.1:{closed}: ")),
        "{message}"
    );
}

crate::postgres_test! {
#[tokio::test]
async fn a_frozen_first_host_is_passed_over_for_the_next() {
    let database = TestDatabase::postgres().await;
    let (_frozen, frozen) = frozen_host();
    // postgres://user@host:port/name → postgres://user@127.0.0.1:FROZEN,host:port/name
    let (scheme, rest) = database.url_text.split_once("://").unwrap();
    let (user, hosts_and_path) = rest.split_once('@').unwrap();
    let url = format!("{scheme}://{user}@127.0.0.1:{frozen},{hosts_and_path}");
    let store = Store::open_with(&DatabaseUrl::parse(&url).unwrap(), &quick())
        .await
        .expect("the second host answers");
    store.ping().await.unwrap();
    let stats = store.connection_stats().unwrap();
    let host = hosts_and_path.split('/').next().unwrap();
    assert_eq!(stats.primary.as_deref(), Some(host));
    assert!(stats.connect_failures >= 1, "{stats:?}");
    assert_eq!(stats.failovers, 0, "the first writable host found is not a failover");
}
}

crate::postgres_test! {
#[tokio::test]
async fn a_round_trip_past_its_deadline_fails_and_its_connection_is_dropped() {
    let database = TestDatabase::postgres().await;
    let store = Store::open_with(&database.url, &quick()).await.unwrap();
    let slow = store
        .read(|db| {
            Box::pin(async move {
                db.query("SELECT CAST(1 AS BIGINT) AS one FROM pg_sleep(2)", &[])
                    .await
            })
        })
        .await;
    assert!(matches!(slow, Err(StoreError::Unavailable(_))), "{slow:?}");
    let stats = store.connection_stats().unwrap();
    assert_eq!(stats.lost, 1, "{stats:?}");
    // The store still works, on a new connection; without the deadline, the slow query does.
    store.ping().await.unwrap();
    let rows = store
        .without_deadline()
        .read(|db| {
            Box::pin(async move {
                db.query("SELECT CAST(1 AS BIGINT) AS one FROM pg_sleep(0.5)", &[])
                    .await
            })
        })
        .await
        .unwrap();
    assert_eq!(rows[0].int("one").unwrap(), 1);
    assert!(store.connection_stats().unwrap().reconnects >= 1);
}
}
