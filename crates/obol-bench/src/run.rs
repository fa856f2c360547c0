//! One store's run, in order: the disk and storage limits (before the server starts, so
//! nothing competes with them), a fresh server, its idle memory, each scenario with its peak
//! memory, the phase counters around `paymega_create`, wrk's `/healthz` rate for comparison,
//! then SIGTERM, `obol verify`, and the scratch databases dropped.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use obol_store::DatabaseUrl;

use crate::error::{BenchError, BenchResult};
use crate::flow::{self, FullFlow, STEPS};
use crate::limits;
use crate::load::{self, Target, Window, Workload};
use crate::metrics::{self, Breakdown};
use crate::postgres::{self, ScratchDatabase};
use crate::receiver::Receiver;
use crate::report::{
    CallbackReport, Latency, MB, ScenarioReport, StepReport, StoreReport, VerifyReport,
    errors_by_label,
};
use crate::scenarios::{self, Context, ManagerComplete, P2pSetup, Precreate, Scenario};
use crate::server::{self, Launch, Server};

/// How long the server is left alone after start before its idle memory is read.
const SETTLE: Duration = Duration::from_secs(1);

/// wrk's own run may exceed its `-d` by this much before it is stopped.
const WRK_GRACE: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    Sqlite,
    Postgres,
}

impl StoreKind {
    pub fn name(self) -> &'static str {
        match self {
            StoreKind::Sqlite => "sqlite",
            StoreKind::Postgres => "postgres",
        }
    }
}

/// What to run and how.
pub struct Plan {
    pub obol: PathBuf,
    pub out: PathBuf,
    pub window: Window,
    pub connections: usize,
    pub threads: usize,
    pub scenarios: Vec<Scenario>,
    pub fsync: bool,
    pub storage: bool,
    pub fsync_duration: Duration,
    /// How long to wait for callbacks still due after the full flow's load stops.
    pub callback_wait: Duration,
    pub compare_wrk: bool,
    /// The PostgreSQL server on which scratch databases are made.
    pub database_url: String,
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> BenchResult<T> + Send + 'static,
) -> BenchResult<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| BenchError::Invalid(format!("a blocking task: {error}")))?
}

fn megabytes(kib: u64) -> f64 {
    kib as f64 * 1024.0 / MB
}

/// Runs everything the plan asks on one store. Failures are written into the report.
pub async fn run_store(plan: &Plan, kind: StoreKind) -> StoreReport {
    let mut report = StoreReport::new(kind.name());
    let work = plan.out.join(format!("work-{}", kind.name()));
    let _ = std::fs::remove_dir_all(&work);
    if let Err(error) = std::fs::create_dir_all(&work) {
        report.not_measured = Some(format!("cannot create {}: {error}", work.display()));
        return report;
    }
    let mut scratch = Vec::new();
    let launch = match kind {
        StoreKind::Sqlite => Launch {
            obol: plan.obol.clone(),
            directory: work.clone(),
            postgres: None,
        },
        StoreKind::Postgres => match postgres_launch(plan, &work).await {
            Ok((launch, database)) => {
                scratch.push(database);
                launch
            }
            Err(error) => {
                report.not_measured = Some(format!(
                    "PostgreSQL at the configured URL could not be used ({error})"
                ));
                let _ = std::fs::remove_dir_all(&work);
                return report;
            }
        },
    };
    if plan.fsync {
        let (directory, duration) = (work.clone(), plan.fsync_duration);
        match blocking(move || limits::fsync_rate(&directory, duration)).await {
            Ok(rate) => report.limits.fsync_per_second = Some(rate),
            Err(error) => report.problems.push(format!("fsync probe: {error}")),
        }
    }
    if plan.storage
        && let Err(error) = storage(plan, kind, &work, &mut report, &mut scratch).await
    {
        report.problems.push(format!("storage limit: {error}"));
    }
    let keep_work = match serve(plan, &launch, kind, &mut report).await {
        Ok(clean) => !clean,
        Err(error) => {
            report.problems.push(error.to_string());
            true
        }
    };
    for database in scratch {
        if let Err(error) = database.drop_now().await {
            report
                .problems
                .push(format!("dropping a scratch database: {error}"));
        }
    }
    if keep_work {
        report.problems.push(format!(
            "the server's data is kept for inspection in {}",
            work.display()
        ));
    } else {
        let _ = std::fs::remove_dir_all(&work);
    }
    report
}

async fn postgres_launch(plan: &Plan, work: &Path) -> BenchResult<(Launch, ScratchDatabase)> {
    postgres::check_loopback(&plan.database_url)?;
    let database = ScratchDatabase::create(&plan.database_url).await?;
    let key = postgres::operator_key()?;
    Ok((
        Launch {
            obol: plan.obol.clone(),
            directory: work.to_path_buf(),
            postgres: Some((database.url.clone(), key)),
        },
        database,
    ))
}

/// The storage limit on a database of its own (a file beside the server's, or a scratch
/// database), with and without the callback outbox row.
async fn storage(
    plan: &Plan,
    kind: StoreKind,
    work: &Path,
    report: &mut StoreReport,
    scratch: &mut Vec<ScratchDatabase>,
) -> BenchResult<()> {
    let url = match kind {
        StoreKind::Sqlite => DatabaseUrl::Sqlite(work.join("storage-limit").join("obol.db")),
        StoreKind::Postgres => {
            let database = ScratchDatabase::create(&plan.database_url).await?;
            let url = DatabaseUrl::Postgres(database.url.clone());
            scratch.push(database);
            url
        }
    };
    let (store, merchant) = limits::prepare_store(&url).await?;
    for with_callback in [false, true] {
        let (name, description) = if with_callback {
            (
                "storage_with_callback",
                "the transaction of a creation with `callback_url`: `insert_payment`, the outbox's reads, `callbacks::enqueue`",
            )
        } else {
            (
                "storage",
                "the transaction of `paymega_create`: `insert_payment` and the outbox's webhook look-up",
            )
        };
        let run = limits::storage_limit(
            &store,
            merchant,
            plan.connections,
            plan.window,
            with_callback,
            name,
        )
        .await?;
        let measured = ScenarioReport::measured(name, description, &run.tally, run.seconds);
        if with_callback {
            report.limits.storage_with_callback = Some(measured);
        } else {
            report.limits.storage = Some(measured);
        }
    }
    drop(store);
    if kind == StoreKind::Sqlite {
        let _ = std::fs::remove_dir_all(work.join("storage-limit"));
    }
    Ok(())
}

/// Starts the server, runs the scenarios, stops it and verifies its database. Returns whether
/// the database verified clean.
async fn serve(
    plan: &Plan,
    launch: &Launch,
    kind: StoreKind,
    report: &mut StoreReport,
) -> BenchResult<bool> {
    let log = plan.out.join(format!("server-{}.log", kind.name()));
    let starting = launch.clone();
    let server = blocking(move || Server::start(&starting, &log)).await?;
    tokio::time::sleep(SETTLE).await;
    match server.resident_kib() {
        Ok(kib) => report.idle_rss_mb = Some(megabytes(kib)),
        Err(error) => report.problems.push(format!("idle memory: {error}")),
    }
    if let Err(error) = server.reset_peak() {
        report.problems.push(format!(
            "the peak memory cannot be reset per scenario ({error}): each peak is since the start"
        ));
    }
    let target = Arc::new(Target::new(server.address)?);
    let context = Context::new(Arc::clone(&target), server.credentials.clone())?;
    let mut session = Session {
        plan,
        context,
        server: &server,
        p2p: None,
    };
    for scenario in &plan.scenarios {
        let measured = session.scenario(*scenario, report).await;
        let measured = match measured {
            Ok(mut measured) => {
                match server.peak_kib() {
                    Ok(kib) => measured.peak_rss_mb = Some(megabytes(kib)),
                    Err(error) => report.problems.push(format!("peak memory: {error}")),
                }
                measured
            }
            Err(error) => {
                ScenarioReport::failed(scenario.name(), scenario.describe(), error.to_string())
            }
        };
        if scenario == &Scenario::Healthz && measured.problem.is_none() {
            report.limits.healthz_per_second = Some(measured.per_second);
        }
        report.peak_rss_mb = match (report.peak_rss_mb, measured.peak_rss_mb) {
            (Some(one), Some(other)) => Some(one.max(other)),
            (one, other) => one.or(other),
        };
        report.scenarios.push(measured);
    }
    if plan.compare_wrk && plan.scenarios.contains(&Scenario::Healthz) {
        let (address, connections, seconds) =
            (server.address, plan.connections, plan.window.measure);
        match blocking(move || wrk_healthz(address, connections, seconds)).await {
            Ok(Some((rate, cpu_us))) => {
                report.limits.wrk_healthz_per_second = Some(rate);
                report.limits.wrk_cpu_us = cpu_us;
            }
            Ok(None) => report
                .problems
                .push("wrk is not installed: no comparison with it".to_owned()),
            Err(error) => report.problems.push(format!("wrk: {error}")),
        }
    }
    let stopped = blocking(move || server.stop()).await;
    match stopped {
        Ok(clean) => report.server_stopped_cleanly = Some(clean),
        Err(error) => report
            .problems
            .push(format!("stopping the server: {error}")),
    }
    let verifying = launch.clone();
    let verification = blocking(move || server::verify(&verifying)).await?;
    let clean = verification.ok;
    report.verify = Some(VerifyReport {
        ok: verification.ok,
        payments: verification.payments,
        violations: verification.violations,
    });
    Ok(clean)
}

/// What the scenarios of one server share.
struct Session<'a> {
    plan: &'a Plan,
    context: Context,
    server: &'a Server,
    p2p: Option<P2pSetup>,
}

impl Session<'_> {
    async fn load<W: Workload>(
        &self,
        workload: W,
        window: Window,
    ) -> BenchResult<load::Run<W::State>> {
        let (target, connections, threads) = (
            Arc::clone(&self.context.target),
            self.plan.connections,
            self.plan.threads,
        );
        blocking(move || load::run(target, Arc::new(workload), connections, threads, window)).await
    }

    /// Set-up (outside the window), a fresh peak, the run.
    async fn measure<W: Workload>(
        &self,
        scenario: Scenario,
        workload: W,
    ) -> BenchResult<(ScenarioReport, load::Run<W::State>)> {
        // Whether resetting works was checked once at start (and reported if not).
        let _ = self.server.reset_peak();
        let run = self.load(workload, self.plan.window).await?;
        let mut report = ScenarioReport::measured(
            scenario.name(),
            scenario.describe(),
            &run.tally,
            run.seconds,
        );
        let requests = run.tally.succeeded + run.tally.failed();
        report.generator_cpu_us = run
            .cpu_seconds
            .filter(|_| requests > 0)
            .map(|seconds| seconds * 1e6 / requests as f64);
        Ok((report, run))
    }

    async fn p2p(&mut self) -> BenchResult<&P2pSetup> {
        if self.p2p.is_none() {
            self.p2p = Some(scenarios::p2p_setup(&self.context).await?);
        }
        self.p2p
            .as_ref()
            .ok_or_else(|| BenchError::Invalid("no P2P set-up".to_owned()))
    }

    async fn scenario(
        &mut self,
        scenario: Scenario,
        report: &mut StoreReport,
    ) -> BenchResult<ScenarioReport> {
        let context = &self.context;
        Ok(match scenario {
            Scenario::Healthz => self.measure(scenario, scenarios::healthz()?).await?.0,
            Scenario::PaymegaCreate => {
                let before = metrics::scrape(&context.target).await;
                let measured = self
                    .measure(scenario, scenarios::paymega_create(context)?)
                    .await?
                    .0;
                let after = metrics::scrape(&context.target).await;
                match (before, after) {
                    (Ok(before), Ok(after)) => {
                        report.breakdown = Some(Breakdown::between(&before, &after));
                    }
                    (Err(error), _) | (_, Err(error)) => {
                        report.problems.push(format!("/metrics: {error}"));
                    }
                }
                measured
            }
            Scenario::SoftlineCreate => {
                let workload = scenarios::softline_create(context).await?;
                self.measure(scenario, workload).await?.0
            }
            Scenario::ActiveplatformCreate => {
                let workload = scenarios::activeplatform_create(context)?;
                self.measure(scenario, workload).await?.0
            }
            Scenario::P2pCreate => {
                let workload = scenarios::p2p_create(self.p2p().await?)?;
                self.measure(scenario, workload).await?.0
            }
            Scenario::P2pShow => {
                let workload = scenarios::p2p_show(self.p2p().await?)?;
                self.measure(scenario, workload).await?.0
            }
            Scenario::YookassaCreate => {
                self.measure(scenario, scenarios::yookassa_create(context)?)
                    .await?
                    .0
            }
            Scenario::ManagerComplete => self.manager_complete(scenario).await?,
            Scenario::FullFlow => self.full_flow(scenario, report).await?,
        })
    }

    /// Pre-creates payments for as long as the scenario will run, then completes them.
    async fn manager_complete(&self, scenario: Scenario) -> BenchResult<ScenarioReport> {
        let window = self.plan.window;
        let precreated = self
            .load(
                Precreate::new(&self.context)?,
                Window {
                    warm_up: Duration::ZERO,
                    measure: window.warm_up + window.measure,
                },
            )
            .await?;
        let ids: Vec<String> = precreated.states.into_iter().flatten().collect();
        if ids.is_empty() {
            return Err(BenchError::answer(
                "pre-creating payments",
                format!(
                    "none created: {}",
                    errors_by_label(&precreated.tally.failures)
                        .iter()
                        .map(|(label, count)| format!("{label}: {count}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        let count = ids.len();
        let (mut measured, _) = self
            .measure(scenario, ManagerComplete::new(&self.context, ids)?)
            .await?;
        measured.description = format!("{} ({count} pre-created)", measured.description);
        Ok(measured)
    }

    async fn full_flow(
        &self,
        scenario: Scenario,
        report: &mut StoreReport,
    ) -> BenchResult<ScenarioReport> {
        let receiver = Receiver::start().await?;
        let workload = FullFlow::new(&self.context, &receiver);
        let (measured, run) = self.measure(scenario, workload).await?;
        let mut acks = Vec::new();
        let mut steps: Vec<(
            hdrhistogram::Histogram<u64>,
            std::collections::BTreeMap<_, u64>,
        )> = Vec::new();
        for state in run.states {
            acks.extend(state.acks);
            for (index, step) in state.steps.into_iter().enumerate() {
                match steps.get_mut(index) {
                    Some((latency, failures)) => {
                        latency.add(&step.latency).map_err(|error| {
                            BenchError::Invalid(format!("histogram merge: {error:?}"))
                        })?;
                        for (failure, count) in step.failures {
                            *failures.entry(failure).or_default() += count;
                        }
                    }
                    None => steps.push((step.latency, step.failures)),
                }
            }
        }
        report.full_flow_steps = STEPS
            .iter()
            .zip(&steps)
            .map(|(name, (latency, failures))| StepReport {
                step: (*name).to_owned(),
                latency: Latency::of(latency),
                errors: errors_by_label(failures),
            })
            .collect();
        let latency = flow::callback_latency(&receiver, acks, self.plan.callback_wait).await?;
        report.callbacks = Some(CallbackReport {
            expected: latency.expected,
            received: latency.received,
            per_second: latency.per_second,
            extra: latency.extra,
            unreadable: latency.unreadable,
            waited_seconds: latency.waited.as_secs_f64(),
            latency: Latency::of(&latency.latency),
        });
        Ok(measured)
    }
}

/// `GET /healthz` by wrk (`-t2`, the same connections and duration), for comparison with this
/// tool: its rate and its CPU per request in µs. `None` when wrk is not installed.
fn wrk_healthz(
    address: std::net::SocketAddr,
    connections: usize,
    duration: Duration,
) -> BenchResult<Option<(f64, Option<f64>)>> {
    let seconds = duration.as_secs_f64().ceil().max(1.0) as u64;
    let child = Command::new("wrk")
        .args([
            "-t2".to_owned(),
            format!("-c{connections}"),
            format!("-d{seconds}s"),
            "--timeout".to_owned(),
            "5s".to_owned(),
            format!("http://{address}/healthz"),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(BenchError::io("starting wrk", error)),
    };
    let deadline = Instant::now() + Duration::from_secs(seconds) + WRK_GRACE;
    // wrk's CPU is read from /proc while it runs; the last reading before it exits is within
    // one poll of its end, when it only prints.
    let pid = child.id().to_string();
    let mut cpu = None;
    while child
        .try_wait()
        .map_err(|error| BenchError::io("waiting for wrk", error))?
        .is_none()
    {
        cpu = load::cpu_seconds(&pid).or(cpu);
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(BenchError::Invalid("wrk did not stop in time".to_owned()));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child
        .wait_with_output()
        .map_err(|error| BenchError::io("reading wrk", error))?;
    let text = String::from_utf8_lossy(&output.stdout);
    let rate: f64 = text
        .lines()
        .find_map(|line| line.trim().strip_prefix("Requests/sec:"))
        .and_then(|rate| rate.trim().parse().ok())
        .ok_or_else(|| BenchError::answer("wrk", text.to_string()))?;
    // wrk reports requests over its whole run, which has no warm-up.
    let requests = rate * seconds as f64;
    Ok(Some((
        rate,
        cpu.filter(|_| requests > 0.0)
            .map(|cpu| cpu * 1e6 / requests),
    )))
}
