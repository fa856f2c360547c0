//! The report: what was measured (kept as data, written as `report.json`) and the targets of
//! SPEC §9 judged against it. `markdown.rs` writes the same for people.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::load::{Failure, Tally};
use crate::machine::Machine;
use crate::metrics::Breakdown;

/// How a run was set up.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    pub seconds: f64,
    pub warm_up_seconds: f64,
    pub connections: usize,
    pub threads: usize,
    pub quick: bool,
}

/// Percentiles of a histogram of microseconds, in milliseconds.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Latency {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    pub fn of(histogram: &Histogram<u64>) -> Latency {
        if histogram.is_empty() {
            return Latency::default();
        }
        let at = |quantile: f64| histogram.value_at_quantile(quantile) as f64 / 1000.0;
        Latency {
            p50_ms: at(0.50),
            p90_ms: at(0.90),
            p99_ms: at(0.99),
            max_ms: histogram.max() as f64 / 1000.0,
        }
    }
}

/// One scenario (or one storage-limit run).
#[derive(Debug, Clone, Serialize, Default)]
pub struct ScenarioReport {
    pub name: String,
    pub description: String,
    /// Requests (or flows) made in the measured window, whatever their outcome.
    pub requests: u64,
    pub succeeded: u64,
    /// Failures by kind: an HTTP status, or what else went wrong.
    pub errors: BTreeMap<String, u64>,
    /// Successful requests (or flows) per second.
    pub per_second: f64,
    /// The measured window as it really was.
    pub seconds: f64,
    pub latency: Latency,
    /// The server's peak resident memory during the scenario, in MB (10^6 bytes).
    pub peak_rss_mb: Option<f64>,
    /// The load generator's own CPU per request (or flow), in microseconds: what it took from
    /// the cores it shares with the server.
    pub generator_cpu_us: Option<f64>,
    /// Why the scenario could not run, when it could not.
    pub problem: Option<String>,
}

pub fn errors_by_label(failures: &BTreeMap<Failure, u64>) -> BTreeMap<String, u64> {
    failures
        .iter()
        .map(|(failure, count)| (failure.label(), *count))
        .collect()
}

impl ScenarioReport {
    pub fn measured(name: &str, description: &str, tally: &Tally, seconds: f64) -> ScenarioReport {
        ScenarioReport {
            name: name.to_owned(),
            description: description.to_owned(),
            requests: tally.succeeded + tally.failed(),
            succeeded: tally.succeeded,
            errors: errors_by_label(&tally.failures),
            per_second: if seconds > 0.0 {
                tally.succeeded as f64 / seconds
            } else {
                0.0
            },
            seconds,
            latency: Latency::of(&tally.latency),
            peak_rss_mb: None,
            generator_cpu_us: None,
            problem: None,
        }
    }

    pub fn failed(name: &str, description: &str, problem: String) -> ScenarioReport {
        ScenarioReport {
            name: name.to_owned(),
            description: description.to_owned(),
            problem: Some(problem),
            ..ScenarioReport::default()
        }
    }
}

/// One step of the full flow.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    pub step: String,
    pub latency: Latency,
    pub errors: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CallbackReport {
    pub expected: u64,
    pub received: u64,
    /// Received per second from the first arrival to the last (the delivery worker's pace).
    pub per_second: f64,
    pub extra: u64,
    pub unreadable: u64,
    pub waited_seconds: f64,
    pub latency: Latency,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct Limits {
    /// `GET /healthz` per second by this tool (the network limit).
    pub healthz_per_second: Option<f64>,
    /// The same by `wrk -t2`, when wrk is installed (how lean this tool is), and wrk's CPU
    /// per request in microseconds.
    pub wrk_healthz_per_second: Option<f64>,
    pub wrk_cpu_us: Option<f64>,
    /// 4 KiB writes + `fdatasync` per second under the database's directory.
    pub fsync_per_second: Option<f64>,
    /// One creation's writes straight through `obol-store`, without and with the callback
    /// outbox row.
    pub storage: Option<ScenarioReport>,
    pub storage_with_callback: Option<ScenarioReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub ok: bool,
    pub payments: i64,
    pub violations: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct StoreReport {
    /// `sqlite` or `postgres`.
    pub store: String,
    /// Why nothing was measured on this store, when nothing was.
    pub not_measured: Option<String>,
    pub idle_rss_mb: Option<f64>,
    /// The highest of the scenarios' peaks.
    pub peak_rss_mb: Option<f64>,
    pub limits: Limits,
    pub scenarios: Vec<ScenarioReport>,
    pub full_flow_steps: Vec<StepReport>,
    pub callbacks: Option<CallbackReport>,
    /// Where one creation's time goes (from the server's counters over `paymega_create`).
    pub breakdown: Option<Breakdown>,
    pub verify: Option<VerifyReport>,
    /// Whether the server stopped by itself on SIGTERM with status 0.
    pub server_stopped_cleanly: Option<bool>,
    /// What went wrong on the way (set-up failures, unreadable metrics, …).
    pub problems: Vec<String>,
}

impl StoreReport {
    pub fn new(store: &str) -> StoreReport {
        StoreReport {
            store: store.to_owned(),
            ..StoreReport::default()
        }
    }

    pub fn scenario(&self, name: &str) -> Option<&ScenarioReport> {
        self.scenarios
            .iter()
            .find(|scenario| scenario.name == name && scenario.problem.is_none())
    }

    pub fn label(&self) -> &str {
        match self.store.as_str() {
            "sqlite" => "SQLite",
            "postgres" => "PostgreSQL",
            other => other,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Met,
    NotMet,
    NotMeasured,
}

impl Verdict {
    fn of(met: bool) -> Verdict {
        if met { Verdict::Met } else { Verdict::NotMet }
    }

    pub fn text(self) -> &'static str {
        match self {
            Verdict::Met => "met",
            Verdict::NotMet => "**not met**",
            Verdict::NotMeasured => "not measured",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TargetRow {
    pub target: String,
    pub store: String,
    pub measured: String,
    pub verdict: Verdict,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub machine: Machine,
    pub settings: Settings,
    pub stores: Vec<StoreReport>,
    pub targets: Vec<TargetRow>,
}

/// Bytes in an MB, as SPEC §9's memory targets count them.
pub const MB: f64 = 1_000_000.0;

pub(crate) fn rate(value: f64) -> String {
    if value >= 100.0 {
        let whole = value.round() as u64;
        let text = whole.to_string();
        let mut grouped = String::new();
        for (index, digit) in text.chars().enumerate() {
            if index > 0 && (text.len() - index).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(digit);
        }
        grouped
    } else {
        format!("{value:.1}")
    }
}

pub(crate) fn millis(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

pub(crate) fn megabytes(value: Option<f64>) -> String {
    value.map_or_else(|| "—".to_owned(), |value| format!("{value:.1} MB"))
}

fn row(target: &str, store: &StoreReport, measured: String, verdict: Verdict) -> TargetRow {
    TargetRow {
        target: target.to_owned(),
        store: store.label().to_owned(),
        measured,
        verdict,
    }
}

fn not_measured(target: &str, store: &StoreReport, why: &str) -> TargetRow {
    row(target, store, why.to_owned(), Verdict::NotMeasured)
}

/// The targets of SPEC §9, each with what was measured and whether it is met.
pub fn judge(stores: &[StoreReport], connections: usize) -> Vec<TargetRow> {
    let mut rows = Vec::new();
    for store in stores {
        if let Some(reason) = &store.not_measured {
            rows.push(not_measured("every target", store, reason));
            continue;
        }
        let creation = store.scenario("paymega_create");
        if store.store == "sqlite" {
            sqlite_creation_targets(&mut rows, store, creation, connections);
        } else {
            const TARGET: &str = "invoice creation ≥ 5,000/s";
            rows.push(match creation {
                Some(creation) => row(
                    TARGET,
                    store,
                    format!("{}/s", rate(creation.per_second)),
                    Verdict::of(creation.per_second >= 5_000.0),
                ),
                None => not_measured(TARGET, store, "paymega_create not run"),
            });
        }
        flow_targets(&mut rows, store);
        memory_targets(&mut rows, store);
        rows.push(match &store.verify {
            Some(verify) => row(
                "`obol verify` clean",
                store,
                if verify.ok {
                    format!("clean ({} payments)", verify.payments)
                } else {
                    format!("{} violations", verify.violations.len())
                },
                Verdict::of(verify.ok),
            ),
            None => not_measured("`obol verify` clean", store, "verify did not run"),
        });
        rows.push(breakdown_row(store));
    }
    rows
}

fn sqlite_creation_targets(
    rows: &mut Vec<TargetRow>,
    store: &StoreReport,
    creation: Option<&ScenarioReport>,
    connections: usize,
) {
    let Some(creation) = creation else {
        for target in [
            "invoice creation ≥ 20,000/s",
            "creation ≥ ⅓ of `/healthz`",
            "creation ≥ 3× the fsync rate",
            "creation p99 ≤ 10 ms at 64 connections",
        ] {
            rows.push(not_measured(target, store, "paymega_create not run"));
        }
        return;
    };
    let per_second = creation.per_second;
    rows.push(row(
        "invoice creation ≥ 20,000/s",
        store,
        format!("{}/s", rate(per_second)),
        Verdict::of(per_second >= 20_000.0),
    ));
    rows.push(match store.limits.healthz_per_second {
        Some(healthz) if healthz > 0.0 => row(
            "creation ≥ ⅓ of `/healthz`",
            store,
            format!(
                "{}/s of {}/s ({:.0} %)",
                rate(per_second),
                rate(healthz),
                per_second / healthz * 100.0
            ),
            Verdict::of(per_second * 3.0 >= healthz),
        ),
        _ => not_measured("creation ≥ ⅓ of `/healthz`", store, "healthz not run"),
    });
    rows.push(match store.limits.fsync_per_second {
        Some(fsync) if fsync > 0.0 => row(
            "creation ≥ 3× the fsync rate",
            store,
            format!(
                "{}/s vs fsync {}/s ({:.1}×)",
                rate(per_second),
                rate(fsync),
                per_second / fsync
            ),
            Verdict::of(per_second >= 3.0 * fsync),
        ),
        _ => not_measured("creation ≥ 3× the fsync rate", store, "fsync not run"),
    });
    let at = if connections == 64 {
        String::new()
    } else {
        format!(" (run at {connections} connections)")
    };
    rows.push(row(
        "creation p99 ≤ 10 ms at 64 connections",
        store,
        format!("{} ms{at}", millis(creation.latency.p99_ms)),
        if connections == 64 {
            Verdict::of(creation.latency.p99_ms <= 10.0)
        } else {
            Verdict::NotMeasured
        },
    ));
}

fn flow_targets(rows: &mut Vec<TargetRow>, store: &StoreReport) {
    rows.push(match store.scenario("full_flow") {
        Some(flow) => row(
            "full flow ≥ 2,000/s",
            store,
            format!("{} flows/s", rate(flow.per_second)),
            Verdict::of(flow.per_second >= 2_000.0),
        ),
        None => not_measured("full flow ≥ 2,000/s", store, "full_flow not run"),
    });
    rows.push(match &store.callbacks {
        Some(callbacks) => row(
            "callback latency p99 < 1 s (all delivered)",
            store,
            format!(
                "p99 {} ms; {} of {} received",
                millis(callbacks.latency.p99_ms),
                callbacks.received,
                callbacks.expected
            ),
            Verdict::of(
                callbacks.expected > 0
                    && callbacks.received == callbacks.expected
                    && callbacks.latency.p99_ms < 1_000.0,
            ),
        ),
        None => not_measured(
            "callback latency p99 < 1 s (all delivered)",
            store,
            "full_flow not run",
        ),
    });
}

fn memory_targets(rows: &mut Vec<TargetRow>, store: &StoreReport) {
    rows.push(match store.idle_rss_mb {
        Some(idle) => row(
            "idle memory ≤ 20 MB",
            store,
            megabytes(Some(idle)),
            Verdict::of(idle <= 20.0),
        ),
        None => not_measured("idle memory ≤ 20 MB", store, "not read"),
    });
    rows.push(match store.peak_rss_mb {
        Some(peak) => row(
            "memory under load ≤ 200 MB",
            store,
            format!("peak {}", megabytes(Some(peak))),
            Verdict::of(peak <= 200.0),
        ),
        None => not_measured("memory under load ≤ 200 MB", store, "not read"),
    });
}

fn breakdown_row(store: &StoreReport) -> TargetRow {
    const TARGET: &str = "where one creation's time goes is reported";
    match &store.breakdown {
        Some(breakdown) if breakdown.creations.is_some() => row(
            TARGET,
            store,
            "see the breakdown below".to_owned(),
            Verdict::Met,
        ),
        Some(_) => not_measured(TARGET, store, "the server does not expose the counters"),
        None => not_measured(TARGET, store, "paymega_create not run"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_grouped() {
        assert_eq!(rate(21_345.4), "21,345");
        assert_eq!(rate(1_000_000.0), "1,000,000");
        assert_eq!(rate(999.6), "1,000");
        assert_eq!(rate(12.34), "12.3");
    }

    #[test]
    fn targets_are_judged_from_what_was_measured() {
        let mut sqlite = StoreReport::new("sqlite");
        sqlite.limits.healthz_per_second = Some(60_000.0);
        sqlite.limits.fsync_per_second = Some(5_000.0);
        sqlite.scenarios.push(ScenarioReport {
            name: "paymega_create".to_owned(),
            per_second: 21_000.0,
            latency: Latency {
                p99_ms: 12.0,
                ..Latency::default()
            },
            ..ScenarioReport::default()
        });
        sqlite.idle_rss_mb = Some(15.0);
        let postgres = StoreReport {
            not_measured: Some("unreachable".to_owned()),
            ..StoreReport::new("postgres")
        };
        let rows = judge(&[sqlite, postgres], 64);
        let verdict = |target: &str| {
            rows.iter()
                .find(|row| row.target.starts_with(target))
                .map(|row| row.verdict)
        };
        assert_eq!(verdict("invoice creation ≥ 20,000"), Some(Verdict::Met));
        assert_eq!(verdict("creation ≥ ⅓"), Some(Verdict::Met));
        assert_eq!(verdict("creation ≥ 3×"), Some(Verdict::Met));
        assert_eq!(verdict("creation p99"), Some(Verdict::NotMet));
        assert_eq!(verdict("full flow"), Some(Verdict::NotMeasured));
        assert_eq!(verdict("idle memory"), Some(Verdict::Met));
        assert_eq!(verdict("every target"), Some(Verdict::NotMeasured));
    }
}
