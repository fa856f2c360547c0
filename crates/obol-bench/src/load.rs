//! The load engine: a closed loop over keep-alive HTTP/1.1 connections, as wrk runs it.
//!
//! It shares two cores with the server it measures, so each request must cost it little: a few
//! OS threads (`--threads`), each with a single-threaded tokio runtime that owns its share of
//! the connections; one task per connection sends a request, awaits the answer, records it and
//! sends the next. Requests go through hyper's low-level connection API (no pool, no
//! redirects, no decompression), their bodies are built from prepared pieces, and what is
//! recorded goes into a fixed-size histogram per connection, merged once at the end.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{HOST, HeaderName, HeaderValue};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::error::{BenchError, BenchResult};

pub type Body = Full<Bytes>;

/// Latencies are kept in microseconds up to a minute (longer ones are clamped to it): no
/// request of a bounded run waits longer, and the bound keeps each histogram small.
const LATENCY_MAX_MICROS: u64 = 60_000_000;

/// After a failed connection attempt a connection waits this long before the next, so a
/// server that went away is not hammered in a tight loop.
const RECONNECT_PAUSE: Duration = Duration::from_millis(20);

/// A connection attempt that takes longer than this counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A request not answered within this is counted as failed and its connection dropped; it
/// bounds a run even against a server that stops answering.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The server's address and the `Host` header every request carries.
pub struct Target {
    pub address: SocketAddr,
    host: HeaderValue,
}

impl Target {
    pub fn new(address: SocketAddr) -> BenchResult<Target> {
        let host = HeaderValue::from_str(&address.to_string())
            .map_err(|error| BenchError::Invalid(format!("host header: {error}")))?;
        Ok(Target { address, host })
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.address)
    }
}

/// Why a request (or an iteration) did not succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Failure {
    /// Answered with a status other than the one expected.
    Status(u16),
    /// Answered with the expected status, but the body says it failed (a P2P `status: 0`, a
    /// YooKassa `ErrorCode` other than 0) or lacks what the next step needs.
    Body(u16),
    /// No answer: the connection failed, was closed, or timed out.
    Connection,
    /// The request could not be built (a bug in the benchmark, not the server).
    Request,
    /// A direct storage write failed (the storage limit, without HTTP).
    Store,
}

impl Failure {
    pub fn label(self) -> String {
        match self {
            Failure::Status(status) => status.to_string(),
            Failure::Body(status) => format!("{status} with an unexpected body"),
            Failure::Connection => "connection error or timeout".to_owned(),
            Failure::Request => "request not built".to_owned(),
            Failure::Store => "storage error".to_owned(),
        }
    }
}

/// A new latency histogram (microseconds, three significant digits).
pub fn histogram() -> BenchResult<Histogram<u64>> {
    Histogram::new_with_bounds(1, LATENCY_MAX_MICROS, 3)
        .map_err(|error| BenchError::Invalid(format!("histogram: {error}")))
}

/// Records `elapsed` in a histogram, in microseconds.
pub fn record(histogram: &mut Histogram<u64>, elapsed: Duration) {
    let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    histogram.saturating_record(micros.clamp(1, LATENCY_MAX_MICROS));
}

/// What one connection (or a whole run, once merged) measured.
pub struct Tally {
    /// Every answered iteration's latency, successful or not (failed connections excluded).
    pub latency: Histogram<u64>,
    pub succeeded: u64,
    pub failures: BTreeMap<Failure, u64>,
}

impl Tally {
    pub fn new() -> BenchResult<Tally> {
        Ok(Tally {
            latency: histogram()?,
            succeeded: 0,
            failures: BTreeMap::new(),
        })
    }

    pub fn record(&mut self, elapsed: Duration, outcome: Result<(), Failure>) {
        match outcome {
            Ok(()) => {
                self.succeeded += 1;
                record(&mut self.latency, elapsed);
            }
            Err(failure) => {
                *self.failures.entry(failure).or_default() += 1;
                if failure != Failure::Connection {
                    record(&mut self.latency, elapsed);
                }
            }
        }
    }

    pub fn merge(&mut self, other: &Tally) -> BenchResult<()> {
        self.latency
            .add(&other.latency)
            .map_err(|error| BenchError::Invalid(format!("histogram merge: {error:?}")))?;
        self.succeeded += other.succeeded;
        for (failure, count) in &other.failures {
            *self.failures.entry(*failure).or_default() += count;
        }
        Ok(())
    }

    pub fn failed(&self) -> u64 {
        self.failures.values().sum()
    }
}

/// One keep-alive connection. A stand-alone client (set-up calls) opens it on first use, drives
/// it on a task of its own and bounds each request; the engine's clients are handed a
/// connection it drives itself and bounds as a whole (see [`drive`]).
pub struct Client {
    target: Arc<Target>,
    sender: Option<SendRequest<Body>>,
    standalone: bool,
}

/// Opens a connection: its sender, and the future that drives it.
async fn connect(
    target: &Target,
) -> Result<
    (
        SendRequest<Body>,
        http1::Connection<TokioIo<TcpStream>, Body>,
    ),
    Failure,
> {
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(target.address))
        .await
        .map_err(|_| Failure::Connection)?
        .map_err(|_| Failure::Connection)?;
    stream.set_nodelay(true).map_err(|_| Failure::Connection)?;
    http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|_| Failure::Connection)
}

/// An answer: its status and its whole body.
pub struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
}

impl Answer {
    pub fn contains(&self, needle: &[u8]) -> bool {
        contains(&self.body, needle)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Whether `haystack` contains `needle` (bodies are a few KiB; a plain scan is enough).
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    find(haystack, needle).is_some()
}

/// Where `needle` first starts in `haystack`.
pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// The text between the first `marker` and the next `end` byte, if both are there.
pub fn text_after<'a>(body: &'a [u8], marker: &[u8], end: u8) -> Option<&'a str> {
    let start = find(body, marker)? + marker.len();
    let length = body.get(start..)?.iter().position(|&byte| byte == end)?;
    std::str::from_utf8(body.get(start..start + length)?).ok()
}

impl Client {
    /// A stand-alone client, for calls outside the engine.
    pub fn new(target: Arc<Target>) -> Client {
        Client {
            target,
            sender: None,
            standalone: true,
        }
    }

    /// Whether the connection failed (the engine then opens another).
    fn broken(&self) -> bool {
        self.sender.is_none()
    }

    /// Sends `request` (with the `Host` header added) and reads the whole answer.
    pub async fn send(&mut self, mut request: Request<Body>) -> Result<Answer, Failure> {
        request.headers_mut().insert(HOST, self.target.host.clone());
        let mut sender = match self.sender.take() {
            Some(sender) => sender,
            None if self.standalone => match connect(&self.target).await {
                Ok((sender, connection)) => {
                    // The driver ends when the sender is dropped or the peer closes.
                    tokio::spawn(connection);
                    sender
                }
                Err(failure) => {
                    tokio::time::sleep(RECONNECT_PAUSE).await;
                    return Err(failure);
                }
            },
            None => return Err(Failure::Connection),
        };
        let exchange = async {
            sender.ready().await.map_err(|_| Failure::Connection)?;
            let response = sender
                .send_request(request)
                .await
                .map_err(|_| Failure::Connection)?;
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|_| Failure::Connection)?
                .to_bytes();
            Ok::<Answer, Failure>(Answer { status, body })
        };
        let answer = if self.standalone {
            tokio::time::timeout(REQUEST_TIMEOUT, exchange)
                .await
                .map_err(|_| Failure::Connection)??
        } else {
            exchange.await?
        };
        // Kept only after a whole exchange: a failed one leaves the connection in doubt.
        self.sender = Some(sender);
        Ok(answer)
    }

    /// Sends and expects `status` (and, when given, `needle` in the body).
    pub async fn expect(
        &mut self,
        request: Request<Body>,
        status: StatusCode,
        needle: Option<&[u8]>,
    ) -> Result<Answer, Failure> {
        let answer = self.send(request).await?;
        if answer.status != status {
            return Err(Failure::Status(answer.status.as_u16()));
        }
        if needle.is_some_and(|needle| !answer.contains(needle)) {
            return Err(Failure::Body(answer.status.as_u16()));
        }
        Ok(answer)
    }
}

/// A request to `path` with `headers` and `body`.
pub fn request(
    method: Method,
    path: &str,
    headers: &[(HeaderName, HeaderValue)],
    body: impl Into<Bytes>,
) -> Result<Request<Body>, Failure> {
    let uri: Uri = path.parse().map_err(|_| Failure::Request)?;
    Ok(request_to(method, uri, headers, body))
}

/// A request to an already parsed `uri` (a scenario that repeats one path parses it once).
pub fn request_to(
    method: Method,
    uri: Uri,
    headers: &[(HeaderName, HeaderValue)],
    body: impl Into<Bytes>,
) -> Request<Body> {
    let mut request = Request::new(Full::new(body.into()));
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    let map = request.headers_mut();
    for (name, value) in headers {
        map.insert(name.clone(), value.clone());
    }
    request
}

/// Parses a path once, for [`request_to`].
pub fn uri(path: &str) -> BenchResult<Uri> {
    path.parse()
        .map_err(|error| BenchError::Invalid(format!("path {path}: {error}")))
}

/// What the engine asks of a scenario: one iteration (a request, or a flow of several) on a
/// connection. `State` is what a connection keeps between iterations (its counter, what it
/// learned); it is handed back at the end.
pub(crate) trait Workload: Send + Sync + 'static {
    type State: Send + 'static;

    fn state(&self, connection: usize) -> BenchResult<Self::State>;

    /// One iteration (`measured`: it started inside the measured window). `None` means there
    /// is no more work for this connection.
    async fn iterate(
        &self,
        client: &mut Client,
        state: &mut Self::State,
        measured: bool,
    ) -> Option<Result<(), Failure>>;
}

/// How long a scenario runs: a warm-up that is not recorded, then the measured window.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub warm_up: Duration,
    pub measure: Duration,
}

/// What a run measured, and each connection's state at its end.
pub(crate) struct Run<S> {
    pub tally: Tally,
    pub states: Vec<S>,
    /// The measured window as it really was: shorter than asked when the work ran out.
    pub seconds: f64,
    /// CPU seconds this process spent from the start of the measured window until every
    /// connection stopped (the load generator's own cost; `None` where `/proc` is unreadable).
    pub cpu_seconds: Option<f64>,
}

/// The user + system CPU seconds a process has used so far (`self`, or a pid), from
/// `/proc/<pid>/stat` (fields 14 and 15, in clock ticks of 1/100 s, Linux's `USER_HZ`).
pub fn cpu_seconds(pid: &str) -> Option<f64> {
    const TICKS_PER_SECOND: f64 = 100.0;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: fields are counted after its closing parenthesis.
    let mut fields = stat.get(stat.rfind(')')? + 1..)?.split_whitespace();
    let user: f64 = fields.nth(11)?.parse().ok()?;
    let system: f64 = fields.next()?.parse().ok()?;
    Some((user + system) / TICKS_PER_SECOND)
}

struct Clock {
    measure_from: Instant,
    stop_at: Instant,
}

/// Runs `workload` on `connections` connections spread over `threads` threads for `window`.
/// Blocks the calling thread until every connection has stopped.
pub(crate) fn run<W: Workload>(
    target: Arc<Target>,
    workload: Arc<W>,
    connections: usize,
    threads: usize,
    window: Window,
) -> BenchResult<Run<W::State>> {
    let threads = threads.clamp(1, connections.max(1));
    let started = Instant::now();
    let clock = Arc::new(Clock {
        measure_from: started + window.warm_up,
        stop_at: started + window.warm_up + window.measure,
    });
    let mut handles = Vec::with_capacity(threads);
    for thread in 0..threads {
        let mine: Vec<(Tally, W::State)> = (0..connections)
            .filter(|connection| connection % threads == thread)
            .map(|connection| Ok((Tally::new()?, workload.state(connection)?)))
            .collect::<BenchResult<_>>()?;
        let (target, workload, clock) = (
            Arc::clone(&target),
            Arc::clone(&workload),
            Arc::clone(&clock),
        );
        let handle = std::thread::Builder::new()
            .name(format!("load-{thread}"))
            .spawn(move || run_thread(target, workload, clock, mine))
            .map_err(|error| BenchError::io("starting a load thread", error))?;
        handles.push(handle);
    }
    std::thread::sleep(clock.measure_from.saturating_duration_since(Instant::now()));
    let cpu_before = cpu_seconds("self");
    let mut finished = Vec::with_capacity(threads);
    for handle in handles {
        finished.push(
            handle
                .join()
                .map_err(|_| BenchError::Invalid("a load thread panicked".to_owned()))??,
        );
    }
    let cpu_after = cpu_seconds("self");
    let mut tally = Tally::new()?;
    let mut states = Vec::with_capacity(connections);
    let mut last = clock.measure_from;
    for (connection_tally, state, ended) in finished.into_iter().flatten() {
        tally.merge(&connection_tally)?;
        states.push(state);
        last = last.max(ended);
    }
    let end = last.min(clock.stop_at);
    Ok(Run {
        tally,
        states,
        seconds: end
            .saturating_duration_since(clock.measure_from)
            .as_secs_f64(),
        cpu_seconds: cpu_before
            .zip(cpu_after)
            .map(|(before, after)| after - before),
    })
}

type Finished<S> = Vec<(Tally, S, Instant)>;

fn run_thread<W: Workload>(
    target: Arc<Target>,
    workload: Arc<W>,
    clock: Arc<Clock>,
    connections: Vec<(Tally, W::State)>,
) -> BenchResult<Finished<W::State>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| BenchError::io("building a load runtime", error))?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async move {
        let mut tasks = Vec::with_capacity(connections.len());
        for (tally, state) in connections {
            let (target, workload, clock) = (
                Arc::clone(&target),
                Arc::clone(&workload),
                Arc::clone(&clock),
            );
            tasks.push(tokio::task::spawn_local(async move {
                drive(target, workload, clock, tally, state).await
            }));
        }
        let mut finished = Vec::with_capacity(tasks.len());
        for task in tasks {
            finished.push(
                task.await
                    .map_err(|error| BenchError::Invalid(format!("a connection task: {error}")))?,
            );
        }
        Ok(finished)
    })
}

/// One connection's loop: iterate until the window closes or the work runs out, on a new
/// connection whenever the last one failed.
///
/// The connection is driven in this same task, beside the requests (hyper's usual way is a
/// task of its own, which costs a cross-task hand-off per request), and a connection's whole
/// life is bounded by one deadline (the window's end plus [`REQUEST_TIMEOUT`]) rather than each
/// request by a timer of its own: both keep the generator's CPU per request low.
async fn drive<W: Workload>(
    target: Arc<Target>,
    workload: Arc<W>,
    clock: Arc<Clock>,
    mut tally: Tally,
    mut state: W::State,
) -> (Tally, W::State, Instant) {
    let deadline = tokio::time::Instant::from_std(clock.stop_at + REQUEST_TIMEOUT);
    let mut ended = Instant::now();
    while Instant::now() < clock.stop_at {
        let (sender, connection) = match connect(&target).await {
            Ok(opened) => opened,
            Err(failure) => {
                if Instant::now() >= clock.measure_from {
                    tally.record(Duration::ZERO, Err(failure));
                }
                tokio::time::sleep(RECONNECT_PAUSE).await;
                continue;
            }
        };
        let mut client = Client {
            target: Arc::clone(&target),
            sender: Some(sender),
            standalone: false,
        };
        // In a block of its own, so the futures' borrows end before the outcome is recorded.
        let next = {
            let iterations = iterate(
                &*workload,
                &mut client,
                &mut state,
                &mut tally,
                &clock,
                &mut ended,
            );
            let mut iterations = std::pin::pin!(iterations);
            let mut connection = std::pin::pin!(connection);
            let mut connection_over = false;
            let both = std::future::poll_fn(|context| {
                // A connection that ended (closed by the peer, or failed) fails the request in
                // flight, which ends the iterations; they are polled on until then.
                if !connection_over && connection.as_mut().poll(context).is_ready() {
                    connection_over = true;
                }
                iterations.as_mut().poll(context)
            });
            tokio::time::timeout_at(deadline, both).await
        };
        match next {
            Ok(Next::Reconnect) => continue,
            Ok(Next::Stop) => break,
            Err(_) => {
                // A request still unanswered long after the window closed.
                tally.record(Duration::ZERO, Err(Failure::Connection));
                break;
            }
        }
    }
    (tally, state, ended)
}

/// What a connection's loop does after its iterations stop.
enum Next {
    Stop,
    Reconnect,
}

async fn iterate<W: Workload>(
    workload: &W,
    client: &mut Client,
    state: &mut W::State,
    tally: &mut Tally,
    clock: &Clock,
    ended: &mut Instant,
) -> Next {
    loop {
        let started = Instant::now();
        if started >= clock.stop_at {
            return Next::Stop;
        }
        let measured = started >= clock.measure_from;
        let Some(outcome) = workload.iterate(client, state, measured).await else {
            return Next::Stop;
        };
        *ended = Instant::now();
        if measured {
            tally.record(*ended - started, outcome);
        }
        if client.broken() {
            return Next::Reconnect;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_after_finds_what_follows_a_marker() {
        let body = br#"<input type="hidden" name="csrf_token" value="abc.def">"#;
        assert_eq!(
            text_after(body, b"name=\"csrf_token\" value=\"", b'"'),
            Some("abc.def")
        );
        assert_eq!(text_after(body, b"nothing", b'"'), None);
        assert_eq!(text_after(b"id\":\"cpi_1", b"\"cpi_", b'"'), None);
    }

    #[test]
    fn this_process_has_used_some_cpu() {
        let mut spent = 0u64;
        for index in 0..2_000_000u64 {
            spent = spent.wrapping_add(index * index);
        }
        assert!(spent > 0);
        assert!(cpu_seconds("self").is_some_and(|seconds| seconds >= 0.0));
        assert_eq!(cpu_seconds("not-a-pid"), None);
    }

    #[test]
    fn tallies_merge_and_count_failures_by_kind() {
        let mut one = Tally::new().unwrap();
        one.record(Duration::from_millis(2), Ok(()));
        one.record(Duration::from_millis(3), Err(Failure::Status(500)));
        one.record(Duration::from_millis(4), Err(Failure::Connection));
        let mut two = Tally::new().unwrap();
        two.record(Duration::from_millis(1), Err(Failure::Status(500)));
        one.merge(&two).unwrap();
        assert_eq!(one.succeeded, 1);
        assert_eq!(one.failures[&Failure::Status(500)], 2);
        assert_eq!(one.failed(), 3);
        assert_eq!(one.latency.len(), 3, "a failed connection has no latency");
    }
}
