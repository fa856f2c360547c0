//! Connections: a slow request head and an idle keep-alive connection are cut off, open
//! connections are capped, and a graceful stop lets the request in flight finish.

use std::time::{Duration, Instant};

use obol_testkit::{TestDatabase, TestServer, on_both_backends};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::address_of;

/// Reads until the peer closes; answers when that happened, or `None` if it stayed open for
/// `limit`.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Instant> {
    let deadline = tokio::time::Instant::now() + limit;
    let mut buffer = [0u8; 1024];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(Instant::now()),
            Ok(Ok(_)) => {}
        }
    }
}

/// Reads one HTTP/1.1 answer with a `Content-Length` body; returns its status line.
async fn read_answer(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&received).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if received.len() >= end + 4 + length {
                return text.lines().next().unwrap_or_default().to_owned();
            }
        }
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buffer))
            .await
            .expect("an answer in time")
            .expect("readable");
        assert!(read > 0, "closed before a whole answer: {text:?}");
        received.extend_from_slice(&buffer[..read]);
    }
}

const HEALTH: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: obol\r\n\r\n";

async fn a_slow_request_head_is_cut_off(database: TestDatabase) {
    let server =
        TestServer::start_with(database, &[("OBOL_LIMITS_HEADER_READ_TIMEOUT_MS", "300")]).await;
    let address = address_of(&server);

    // Half a head, then nothing.
    let mut stream = TcpStream::connect(address).await.unwrap();
    let started = Instant::now();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: obol\r\n")
        .await
        .unwrap();
    let closed = closed_within(&mut stream, Duration::from_secs(5))
        .await
        .expect("the connection is closed");
    let waited = closed - started;
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(3),
        "{waited:?}"
    );

    // A head dribbled a byte at a time gains nothing: the deadline counts from its start.
    let mut stream = TcpStream::connect(address).await.unwrap();
    let started = Instant::now();
    let mut cut_off = false;
    for byte in b"GET /healthz HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
        if stream.write_all(&[*byte]).await.is_err() {
            cut_off = true;
            break;
        }
        let mut probe = [0u8; 64];
        if let Ok(Ok(0) | Err(_)) =
            tokio::time::timeout(Duration::from_millis(50), stream.read(&mut probe)).await
        {
            cut_off = true;
            break;
        }
    }
    assert!(cut_off, "a dribbling client was never cut off");
    assert!(started.elapsed() < Duration::from_secs(2));

    // A client sending a whole head in time is answered.
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(HEALTH).await.unwrap();
    assert_eq!(read_answer(&mut stream).await, "HTTP/1.1 200 OK");
    server.stop().await;
}

async fn an_idle_keep_alive_connection_is_closed(database: TestDatabase) {
    let server = TestServer::start_with(
        database,
        &[
            ("OBOL_LIMITS_HEADER_READ_TIMEOUT_MS", "200"),
            ("OBOL_LIMITS_IDLE_TIMEOUT_MS", "1000"),
        ],
    )
    .await;
    let mut stream = TcpStream::connect(address_of(&server)).await.unwrap();
    stream.write_all(HEALTH).await.unwrap();
    assert_eq!(read_answer(&mut stream).await, "HTTP/1.1 200 OK");
    // Idle longer than the header timeout, shorter than the idle timeout: still open, and the
    // next request is answered on the same connection.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stream.write_all(HEALTH).await.unwrap();
    assert_eq!(read_answer(&mut stream).await, "HTTP/1.1 200 OK");
    let answered = Instant::now();
    let closed = closed_within(&mut stream, Duration::from_secs(5))
        .await
        .expect("an idle connection is closed");
    let idle = closed - answered;
    assert!(
        idle >= Duration::from_millis(900) && idle < Duration::from_secs(4),
        "{idle:?}"
    );
    server.stop().await;
}

async fn connections_beyond_the_cap_wait_for_a_free_slot(database: TestDatabase) {
    let server = TestServer::start_with(database, &[("OBOL_LIMITS_CONNECTIONS_MAX", "2")]).await;
    let address = address_of(&server);
    let mut first = TcpStream::connect(address).await.unwrap();
    first.write_all(HEALTH).await.unwrap();
    assert_eq!(read_answer(&mut first).await, "HTTP/1.1 200 OK");
    let mut second = TcpStream::connect(address).await.unwrap();
    second.write_all(HEALTH).await.unwrap();
    assert_eq!(read_answer(&mut second).await, "HTTP/1.1 200 OK");

    // The third waits in the kernel's backlog: its request is not read.
    let mut third = TcpStream::connect(address).await.unwrap();
    third.write_all(HEALTH).await.unwrap();
    let mut buffer = [0u8; 64];
    assert!(
        tokio::time::timeout(Duration::from_millis(500), third.read(&mut buffer))
            .await
            .is_err(),
        "a connection beyond the cap was served"
    );
    // One closes; the third is taken and answered.
    drop(first);
    assert_eq!(read_answer(&mut third).await, "HTTP/1.1 200 OK");
    drop((second, third));
    server.stop().await;
}

async fn stop_lets_in_flight_requests_finish(database: TestDatabase) {
    let mut server = TestServer::start(database).await;
    let running = server.running.take().expect("running");
    let address = running.address;
    let body = json!({ "username": "nobody", "password": "wrong" }).to_string();
    let (head, rest) = body.split_at(body.len() / 2);
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream
        .write_all(
            format!(
                "POST /v1/login_check HTTP/1.1\r\nHost: obol\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{head}",
                body.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stopping = tokio::spawn(running.stop());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !stopping.is_finished(),
        "the stop waits for the request in flight"
    );
    assert!(
        TcpStream::connect(address).await.is_err(),
        "no new connection is accepted while stopping"
    );
    stream.write_all(rest.as_bytes()).await.unwrap();
    assert_eq!(read_answer(&mut stream).await, "HTTP/1.1 401 Unauthorized");
    tokio::time::timeout(Duration::from_secs(10), stopping)
        .await
        .expect("stops once the request is answered")
        .unwrap();
    server.stop().await;
}

on_both_backends!(
    a_slow_request_head_is_cut_off,
    an_idle_keep_alive_connection_is_closed,
    connections_beyond_the_cap_wait_for_a_free_slot,
    stop_lets_in_flight_requests_finish,
);
