//! `obol-bench`: Obol's load generator and the report of SPEC §9.
//!
//! For each store (SQLite, PostgreSQL) it starts a fresh `obol serve --demo` on loopback,
//! measures the limits of this machine in the same run (the network: `/healthz`; the disk:
//! fsync; the storage: a creation's writes through `obol-store` without HTTP), drives the real
//! flows over HTTP with keep-alive connections in a closed loop, stops the server and runs
//! `obol verify`. It writes `report.md`, `report.json` and `throughput.svg` under `--out` and
//! prints the Markdown. Everything goes to 127.0.0.1, is bounded in time, and stops by itself.
//!
//! ```sh
//! scripts/bench                      # builds release, runs everything
//! target/release/obol-bench --obol target/release/obol --out target/bench --quick
//! ```
//!
//! Exit status: 0 when every scenario that ran completed requests and every measured store's
//! database verified clean (targets not met do not fail the run: the report says so); 1
//! otherwise; 2 for a usage error.

mod error;
mod flow;
mod limits;
mod load;
mod machine;
mod markdown;
mod metrics;
mod postgres;
mod receiver;
mod report;
mod run;
mod scenarios;
mod server;
mod svg;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use crate::error::{BenchError, BenchResult};
use crate::load::Window;
use crate::machine::Machine;
use crate::report::{Report, Settings};
use crate::run::{Plan, StoreKind};
use crate::scenarios::Scenario;

/// The limits that may be named in `--scenarios` beside the HTTP scenarios.
const LIMIT_NAMES: [&str; 2] = ["fsync", "storage"];

/// Bounds on the options: a run must stay a benchmark of this machine, not a soak test.
const SECONDS_MAX: f64 = 600.0;
const CONNECTIONS_MAX: usize = 1024;
const THREADS_MAX: usize = 16;

#[derive(Debug, Parser)]
#[command(
    name = "obol-bench",
    about = "Drives Obol's real flows over HTTP on loopback and reports throughput, latency and memory beside the machine's limits (SPEC §9)."
)]
struct Arguments {
    /// The `obol` binary to benchmark.
    #[arg(long)]
    obol: PathBuf,
    /// Where `report.md`, `report.json`, `throughput.svg` and the server logs are written.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
    /// Measured seconds per scenario, after a 1 s warm-up [default: 8; 1.5 with --quick].
    #[arg(long)]
    seconds: Option<f64>,
    /// Keep-alive connections, each in a closed loop.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// OS threads of the load generator (each with its own single-threaded runtime). It
    /// shares the cores with the server, like `wrk -t2`.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Stores to measure, comma-separated: `sqlite`, `postgres`.
    #[arg(long, value_delimiter = ',', default_value = "sqlite,postgres")]
    stores: Vec<String>,
    /// Scenarios to run, comma-separated (default: all): healthz, paymega_create,
    /// softline_create, activeplatform_create, p2p_create, yookassa_create, manager_complete,
    /// p2p_show, full_flow, and the limits fsync and storage.
    #[arg(long, value_delimiter = ',')]
    scenarios: Vec<String>,
    /// A short smoke run (about 2 s per scenario) that checks everything works; its numbers
    /// are not a measurement.
    #[arg(long)]
    quick: bool,
    /// The PostgreSQL server (on this machine) on which scratch databases are created.
    #[arg(
        long,
        env = "OBOL_BENCH_DATABASE_URL",
        default_value = "postgres://root@127.0.0.1:5432/test"
    )]
    database_url: String,
}

fn plan(arguments: &Arguments) -> BenchResult<(Plan, Vec<StoreKind>)> {
    let seconds = arguments
        .seconds
        .unwrap_or(if arguments.quick { 1.5 } else { 8.0 });
    if !(seconds > 0.0 && seconds <= SECONDS_MAX) {
        return Err(BenchError::Invalid(format!(
            "--seconds must be above 0 and at most {SECONDS_MAX}"
        )));
    }
    if !(1..=CONNECTIONS_MAX).contains(&arguments.connections) {
        return Err(BenchError::Invalid(format!(
            "--connections must be 1 to {CONNECTIONS_MAX}"
        )));
    }
    if !(1..=THREADS_MAX).contains(&arguments.threads) {
        return Err(BenchError::Invalid(format!(
            "--threads must be 1 to {THREADS_MAX}"
        )));
    }
    let stores = arguments
        .stores
        .iter()
        .map(|name| match name.trim() {
            "sqlite" => Ok(StoreKind::Sqlite),
            "postgres" | "postgresql" => Ok(StoreKind::Postgres),
            other => Err(BenchError::Invalid(format!("unknown store `{other}`"))),
        })
        .collect::<BenchResult<Vec<_>>>()?;
    let names: Vec<&str> = arguments.scenarios.iter().map(|name| name.trim()).collect();
    for name in &names {
        if Scenario::parse(name).is_none() && !LIMIT_NAMES.contains(name) {
            return Err(BenchError::Invalid(format!("unknown scenario `{name}`")));
        }
    }
    let chosen = |name: &str| names.is_empty() || names.contains(&name);
    let obol = absolute(&arguments.obol)?;
    if !obol.is_file() {
        return Err(BenchError::Invalid(format!(
            "no obol binary at {}",
            obol.display()
        )));
    }
    Ok((
        Plan {
            obol,
            out: absolute(&arguments.out)?,
            window: Window {
                warm_up: if arguments.quick {
                    Duration::from_millis(500)
                } else {
                    Duration::from_secs(1)
                },
                measure: Duration::from_secs_f64(seconds),
            },
            connections: arguments.connections,
            threads: arguments.threads,
            scenarios: Scenario::ALL
                .into_iter()
                .filter(|scenario| chosen(scenario.name()))
                .collect(),
            fsync: chosen("fsync"),
            storage: chosen("storage"),
            fsync_duration: if arguments.quick {
                Duration::from_millis(500)
            } else {
                Duration::from_secs(2)
            },
            callback_wait: if arguments.quick {
                Duration::from_secs(20)
            } else {
                Duration::from_secs(30)
            },
            compare_wrk: !arguments.quick,
            database_url: arguments.database_url.clone(),
        },
        stores,
    ))
}

fn absolute(path: &Path) -> BenchResult<PathBuf> {
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    std::env::current_dir()
        .map(|directory| directory.join(path))
        .map_err(|error| BenchError::io("the working directory", error))
}

fn write(path: &Path, text: &str) -> BenchResult<()> {
    std::fs::write(path, text).map_err(|error| BenchError::file(path, error))
}

/// Whether the run did what a run must: requests completed in every scenario that ran, and
/// clean databases.
fn healthy(report: &Report) -> bool {
    report
        .stores
        .iter()
        .filter(|store| store.not_measured.is_none())
        .all(|store| {
            store
                .scenarios
                .iter()
                .all(|scenario| scenario.problem.is_none() && scenario.succeeded > 0)
                && store.verify.as_ref().is_some_and(|verify| verify.ok)
        })
}

async fn bench(arguments: Arguments) -> BenchResult<bool> {
    let (plan, stores) = plan(&arguments)?;
    std::fs::create_dir_all(&plan.out).map_err(|error| BenchError::file(&plan.out, error))?;
    let machine = Machine::describe();
    let mut measured = Vec::new();
    for store in stores {
        eprintln!("obol-bench: measuring {}", store.name());
        measured.push(run::run_store(&plan, store).await);
    }
    let targets = report::judge(&measured, plan.connections);
    let report = Report {
        machine,
        settings: Settings {
            seconds: plan.window.measure.as_secs_f64(),
            warm_up_seconds: plan.window.warm_up.as_secs_f64(),
            connections: plan.connections,
            threads: plan.threads,
            quick: arguments.quick,
        },
        stores: measured,
        targets,
    };
    let markdown = report.markdown();
    let json = serde_json::to_string_pretty(&report)
        .map_err(|error| BenchError::Invalid(format!("report.json: {error}")))?;
    write(&plan.out.join("report.md"), &markdown)?;
    write(&plan.out.join("report.json"), &format!("{json}\n"))?;
    write(&plan.out.join("throughput.svg"), &svg::plot(&report))?;
    println!("{markdown}");
    Ok(healthy(&report))
}

fn main() -> ExitCode {
    let arguments = Arguments::parse();
    // Two workers, like the server's runtime on this class of machine: the orchestration, the
    // callback receiver and the storage limit run here; the HTTP load has its own threads.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("obol-bench: cannot start a runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(bench(arguments)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!(
                "obol-bench: a scenario completed no request, or a database did not verify clean (see the report)"
            );
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("obol-bench: {error}");
            ExitCode::FAILURE
        }
    }
}
