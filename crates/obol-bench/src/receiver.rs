//! The merchant's side of the full flow: a callback receiver on loopback that answers 200 at
//! once (keep-alive) and notes when each callback arrived, by the payment it reports and the
//! status it carries.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::error::{BenchError, BenchResult};

/// One callback as it arrived.
#[derive(Debug, Clone)]
pub struct Arrival {
    pub payment_id: String,
    pub status: String,
    pub at: Instant,
}

#[derive(Default)]
struct Log {
    arrivals: Vec<Arrival>,
    /// Requests whose body was not a Paymega invoice callback.
    unreadable: u64,
}

/// A Paymega callback: the private invoice object (only what is matched on is read).
#[derive(Deserialize)]
struct Callback {
    data: CallbackData,
}

#[derive(Deserialize)]
struct CallbackData {
    id: String,
    attributes: CallbackAttributes,
}

#[derive(Deserialize)]
struct CallbackAttributes {
    status: String,
}

pub struct Receiver {
    pub address: SocketAddr,
    log: Arc<Mutex<Log>>,
    accept: JoinHandle<()>,
}

impl Receiver {
    /// Starts listening on `127.0.0.1:0`, on the current runtime.
    pub async fn start() -> BenchResult<Receiver> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|error| BenchError::io("binding the callback receiver", error))?;
        let address = listener
            .local_addr()
            .map_err(|error| BenchError::io("the callback receiver's address", error))?;
        let log = Arc::new(Mutex::new(Log::default()));
        let accept_log = Arc::clone(&log);
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                let log = Arc::clone(&accept_log);
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let log = Arc::clone(&log);
                        async move { Ok::<_, Infallible>(receive(request, &log).await) }
                    });
                    let _ = http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Receiver {
            address,
            log,
            accept,
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}/callbacks", self.address)
    }

    /// What has arrived so far, from `from` on (an index into the arrivals).
    pub fn arrivals_since(&self, from: usize) -> Vec<Arrival> {
        self.log
            .lock()
            .map(|log| {
                log.arrivals
                    .get(from..)
                    .map(<[_]>::to_vec)
                    .unwrap_or_default()
            })
            .unwrap_or_default()
    }

    pub fn unreadable(&self) -> u64 {
        self.log.lock().map(|log| log.unreadable).unwrap_or(0)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn receive(request: Request<Incoming>, log: &Mutex<Log>) -> Response<Full<Bytes>> {
    let body = request
        .into_body()
        .collect()
        .await
        .map(|collected| collected.to_bytes())
        .unwrap_or_default();
    let at = Instant::now();
    let parsed = serde_json::from_slice::<Callback>(&body);
    if let Ok(mut log) = log.lock() {
        match parsed {
            Ok(callback) => log.arrivals.push(Arrival {
                payment_id: callback.data.id,
                status: callback.data.attributes.status,
                at,
            }),
            Err(_) => log.unreadable += 1,
        }
    }
    Response::new(Full::new(Bytes::new()))
}
