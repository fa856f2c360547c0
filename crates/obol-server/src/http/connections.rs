//! Serving a listener: the accept loop and each connection's life, over hyper directly, so that
//! a slow or idle client cannot hold a connection and open connections are capped (SPEC §1
//! `limits.*`, §8).
//!
//! - **Connection cap.** A semaphore with `limits.connections_max` permits is taken *before*
//!   `accept`: at the cap the server stops accepting, new connections wait in the kernel's
//!   backlog, and the first one is taken as soon as another closes.
//! - **Header and idle timeouts.** Each connection has a watchdog that knows its phase: waiting
//!   for a request head (from the connection's start, or from the first byte of its next
//!   request), busy with a request, or idle between requests. A head not complete within
//!   `limits.header_read_timeout_ms` closes the connection; so does an idle keep-alive
//!   connection through which no byte moved for `limits.idle_timeout_ms`. Bytes dribbled into
//!   a head do not extend its deadline. hyper's own `header_read_timeout` is not used: it
//!   starts counting as soon as a keep-alive connection goes idle, which would close every
//!   idle connection after the header timeout and leave `limits.idle_timeout_ms` without
//!   effect (nginx keeps `client_header_timeout` and `keepalive_timeout` apart the same way).
//!   A request that is being answered is bounded by the router's request timeout instead.
//! - **Graceful shutdown.** When the shutdown signal comes, the loop stops accepting, every
//!   connection is told to finish the request it is answering and close
//!   (`hyper_util::server::graceful`), and [`serve`] returns once all have closed.
//! - Handlers still see the peer as `ConnectInfo<SocketAddr>`, as with `axum::serve`.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore, watch};
use tokio::time::Instant;
use tower::ServiceExt;

use obol_http::config::Config;

/// How long the loop pauses after `accept` fails for want of resources (file descriptors,
/// memory), so that it does not spin while others are released.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// What bounds each connection of a listener.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// A request head must be complete this long after the connection opened, or after the
    /// first byte of a next request.
    pub header_read_timeout: Duration,
    /// A connection with no request under way and no byte moving is closed after this long.
    pub idle_timeout: Duration,
    /// Connections open at once; beyond this the listener stops accepting.
    pub connections_max: usize,
}

impl ConnectionLimits {
    pub fn of(config: &Config) -> ConnectionLimits {
        ConnectionLimits {
            header_read_timeout: Duration::from_millis(config.limits_header_read_timeout_ms),
            idle_timeout: Duration::from_millis(config.limits_idle_timeout_ms),
            connections_max: config.limits_connections_max,
        }
    }
}

/// Serves `app` on `listener` until `shutdown` turns true, then lets in-flight requests finish
/// and returns when every connection has closed.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    mut shutdown: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(limits.connections_max.max(1)));
    let graceful = GracefulShutdown::new();
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = stopped(&mut shutdown) => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    accept_failed(error).await;
                    continue;
                }
            },
            () = stopped(&mut shutdown) => break,
        };
        // Answers are written whole by hyper; waiting for more would only add latency.
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity::new());
        let connection = hyper::server::conn::http1::Builder::new()
            .header_read_timeout(None)
            .serve_connection(
                TokioIo::new(Watched {
                    stream,
                    activity: Arc::clone(&activity),
                }),
                service(app.clone(), peer, Arc::clone(&activity)),
            );
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // Held as long as the connection is open.
            let _permit = permit;
            tokio::select! {
                result = connection => {
                    if let Err(error) = result {
                        tracing::debug!(%peer, %error, "connection ended with an error");
                    }
                }
                () = activity.expired(limits) => {
                    tracing::debug!(%peer, "closed a connection that was too slow or idle");
                }
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// The application as hyper calls it: each request carries the peer's address, and the
/// connection's watchdog learns when a request starts and when its answer is ready.
fn service(
    app: Router,
    peer: SocketAddr,
    activity: Arc<Activity>,
) -> impl hyper::service::Service<
    hyper::Request<Incoming>,
    Response = axum::response::Response,
    Error = std::convert::Infallible,
    Future = impl Future<Output = Result<axum::response::Response, std::convert::Infallible>> + Send,
> + Clone {
    hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        let request = request.map(axum::body::Body::new);
        let (app, activity) = (app.clone(), Arc::clone(&activity));
        activity.request_started();
        async move {
            let response = app.oneshot(request).await;
            activity.request_finished();
            response
        }
    })
}

/// Ends when the shutdown signal has come (or its sender is gone).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

async fn accept_failed(error: std::io::Error) {
    use std::io::ErrorKind;
    // The peer gave up before we took its connection: nothing to wait for.
    if matches!(
        error.kind(),
        ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::ConnectionRefused
    ) {
        return;
    }
    tracing::error!(%error, "cannot accept connections");
    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
}

/// Where a connection is in its life, and since when.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Waiting for a complete request head: since the connection opened, or since the first
    /// byte after an idle spell.
    Head { since: Instant },
    /// A request is being answered (bounded by the router's request timeout).
    Busy,
    /// Between requests; `since` is the last time a byte moved.
    Idle { since: Instant },
}

/// What a connection's watchdog watches.
struct Activity {
    phase: Mutex<Phase>,
    /// Wakes the watchdog when the phase changes (a deadline may have come closer).
    changed: Notify,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            phase: Mutex::new(Phase::Head {
                since: Instant::now(),
            }),
            changed: Notify::new(),
        }
    }

    fn update(&self, next: impl FnOnce(Phase) -> Option<Phase>) {
        if let Ok(mut phase) = self.phase.lock()
            && let Some(changed) = next(*phase)
        {
            *phase = changed;
            self.changed.notify_one();
        }
    }

    fn request_started(&self) {
        self.update(|_| Some(Phase::Busy));
    }

    fn request_finished(&self) {
        self.update(|_| {
            Some(Phase::Idle {
                since: Instant::now(),
            })
        });
    }

    /// Bytes arrived: after an idle spell, that is the start of a next request head.
    fn read(&self) {
        self.update(|phase| match phase {
            Phase::Idle { .. } => Some(Phase::Head {
                since: Instant::now(),
            }),
            Phase::Head { .. } | Phase::Busy => None,
        });
    }

    /// Bytes left (an answer's body still streaming out): the connection is not idle.
    fn wrote(&self) {
        self.update(|phase| match phase {
            Phase::Idle { .. } => Some(Phase::Idle {
                since: Instant::now(),
            }),
            Phase::Head { .. } | Phase::Busy => None,
        });
    }

    fn deadline(&self, limits: ConnectionLimits) -> Option<Instant> {
        match *self.phase.lock().ok()? {
            Phase::Head { since } => Some(since + limits.header_read_timeout),
            Phase::Idle { since } => Some(since + limits.idle_timeout),
            Phase::Busy => None,
        }
    }

    /// Ends when the connection has overstayed its phase's limit.
    async fn expired(&self, limits: ConnectionLimits) {
        loop {
            let changed = self.changed.notified();
            match self.deadline(limits) {
                Some(deadline) if deadline <= Instant::now() => return,
                Some(deadline) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(deadline) => {}
                        () = changed => {}
                    }
                }
                None => changed.await,
            }
        }
    }
}

/// The connection's socket, telling its [`Activity`] when bytes move.
struct Watched {
    stream: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buffer.filled().len();
        let result = Pin::new(&mut self.stream).poll_read(context, buffer);
        if buffer.filled().len() > before {
            self.activity.read();
        }
        result
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.stream).poll_write(context, data);
        if matches!(result, Poll::Ready(Ok(written)) if written > 0) {
            self.activity.wrote();
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffers: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.stream).poll_write_vectored(context, buffers);
        if matches!(result, Poll::Ready(Ok(written)) if written > 0) {
            self.activity.wrote();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(context)
    }

    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(context)
    }
}
