//! A real HTTP receiver on loopback for the callbacks and webhooks the server sends: it keeps
//! what arrives and answers as its script says.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;

/// How long [`CallbackReceiver::wait_for`] waits, in real time: deliveries on loopback take
/// milliseconds, a loaded two-core machine can take seconds.
const WAIT_LIMIT: Duration = Duration::from_secs(10);
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// One request as it arrived.
#[derive(Clone, Debug)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Received {
    /// The body as JSON; panics when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    /// A header's value, empty when absent.
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }
}

/// What the receiver does with the next request; once the script runs out it answers 200.
#[derive(Clone, Copy, Debug)]
pub enum Behaviour {
    Answer(u16),
    /// Answer 200, but only after this many milliseconds (longer than the server's timeout).
    Stall(u64),
}

#[derive(Default)]
struct Shared {
    received: Mutex<Vec<Received>>,
    script: Mutex<VecDeque<Behaviour>>,
}

/// A receiver listening on a loopback port; every path accepts `POST`.
#[derive(Clone)]
pub struct CallbackReceiver {
    shared: Arc<Shared>,
    url: String,
}

impl CallbackReceiver {
    /// Starts on a free loopback port, answering 200 to everything.
    pub async fn start() -> CallbackReceiver {
        CallbackReceiver::scripted(&[]).await
    }

    /// Starts on a free loopback port, answering the first requests as `script` says.
    pub async fn scripted(script: &[Behaviour]) -> CallbackReceiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        CallbackReceiver::serve(listener, script)
    }

    /// Starts on `address` (one a test reserved earlier, to start the receiver late).
    pub async fn start_at(address: SocketAddr) -> CallbackReceiver {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .expect("the reserved address");
        CallbackReceiver::serve(listener, &[])
    }

    /// A free loopback address with nothing listening on it (yet).
    pub fn free_address() -> SocketAddr {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free loopback port")
    }

    /// The URL to give the server for `address`, as [`CallbackReceiver::url`] would be.
    pub fn url_at(address: SocketAddr) -> String {
        format!("http://{address}/callbacks")
    }

    fn serve(listener: tokio::net::TcpListener, script: &[Behaviour]) -> CallbackReceiver {
        let shared = Arc::new(Shared::default());
        shared.script.lock().unwrap().extend(script.iter().copied());
        let url = CallbackReceiver::url_at(listener.local_addr().expect("an address"));
        let app = axum::Router::new()
            .fallback(axum::routing::post(receive))
            .with_state(shared.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        CallbackReceiver { shared, url }
    }

    /// Where to send callbacks.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn count(&self) -> usize {
        self.shared.received.lock().unwrap().len()
    }

    /// Everything received so far, in order.
    pub fn all(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// Waits (in real time, briefly) until `count` requests have arrived; returns them all.
    pub async fn wait_for(&self, count: usize) -> Vec<Received> {
        let deadline = Instant::now() + WAIT_LIMIT;
        while Instant::now() < deadline {
            if self.count() >= count {
                return self.all();
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
        panic!("expected {count} callbacks, got {}", self.count());
    }

    /// How often each delivery (`X-Obol-Delivery-Id`) arrived.
    pub fn deliveries(&self) -> HashMap<String, usize> {
        let mut seen = HashMap::new();
        for received in self.all() {
            *seen
                .entry(received.header("x-obol-delivery-id"))
                .or_default() += 1;
        }
        seen
    }

    /// Waits up to `limit` until `count` distinct deliveries have arrived.
    pub async fn wait_for_deliveries(
        &self,
        count: usize,
        limit: Duration,
    ) -> HashMap<String, usize> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.deliveries().len() >= count {
                return self.deliveries();
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
        panic!(
            "expected {count} distinct callbacks, got {}",
            self.deliveries().len()
        );
    }
}

async fn receive(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let behaviour = shared
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or(Behaviour::Answer(200));
    shared.received.lock().unwrap().push(Received {
        headers,
        body: body.to_vec(),
    });
    match behaviour {
        Behaviour::Answer(status) => StatusCode::from_u16(status).expect("a status code"),
        Behaviour::Stall(milliseconds) => {
            tokio::time::sleep(Duration::from_millis(milliseconds)).await;
            StatusCode::OK
        }
    }
}
