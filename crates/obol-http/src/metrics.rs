//! Prometheus metrics in the text exposition format, kept without a metrics crate: a few
//! counters and histograms behind a mutex, rendered at scrape time together with the gauges
//! read from the database. Those are read by a background task ([`Metrics::set_gauges`]),
//! never by a scrape: a scrape costs no database work however often it comes (SPEC §8).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Upper bounds of the latency histogram, in seconds.
const LATENCY_BUCKETS_S: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Default)]
struct Histogram {
    buckets: [u64; LATENCY_BUCKETS_S.len()],
    count: u64,
    sum_micros: u64,
}

impl Histogram {
    fn observe(&mut self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        for (index, bound) in LATENCY_BUCKETS_S.iter().enumerate() {
            if seconds <= *bound {
                self.buckets[index] += 1;
            }
        }
        self.count += 1;
        self.sum_micros += elapsed.as_micros() as u64;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let separator = if labels.is_empty() { "" } else { "," };
        for (index, bound) in LATENCY_BUCKETS_S.iter().enumerate() {
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{separator}le=\"{bound}\"}} {}",
                self.buckets[index]
            );
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{separator}le=\"+Inf\"}} {}",
            self.count
        );
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum_micros as f64 / 1e6);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

/// Where the time of one invoice creation went (SPEC §9: the benchmark reports it).
#[derive(Debug, Clone, Copy, Default)]
pub struct CreationPhases {
    /// Reading the wire format into a request.
    pub parse: Duration,
    /// Finding the merchant behind the credential.
    pub auth: Duration,
    /// The core's checks and the draft.
    pub rules: Duration,
    /// The write: waiting for the writer, the transaction, the durable commit.
    pub storage: Duration,
    /// The answer's body.
    pub render: Duration,
}

impl CreationPhases {
    const NAMES: [&'static str; 5] = ["parse", "auth", "rules", "storage", "render"];

    fn as_array(&self) -> [Duration; 5] {
        [self.parse, self.auth, self.rules, self.storage, self.render]
    }
}

#[derive(Default)]
struct Inner {
    creations: u64,
    creation_phase_nanos: [u64; 5],
    requests: BTreeMap<(String, String, u16), u64>,
    latencies: BTreeMap<String, Histogram>,
    callback_attempts: BTreeMap<&'static str, u64>,
    callback_latency: Histogram,
}

/// The database gauges as last read, and when.
#[derive(Default)]
struct Snapshot {
    gauges: Vec<Gauge>,
    refreshed_at_unix_s: Option<i64>,
}

#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
    snapshot: Mutex<Snapshot>,
    /// Callbacks this node's delivery worker has claimed and not yet recorded.
    callbacks_in_flight: AtomicUsize,
}

impl Metrics {
    pub fn record_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        *inner
            .requests
            .entry((method.to_owned(), route.to_owned(), status))
            .or_default() += 1;
        inner
            .latencies
            .entry(route.to_owned())
            .or_default()
            .observe(elapsed);
    }

    /// Adds one creation's phases to the totals.
    pub fn record_creation(&self, phases: &CreationPhases) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        inner.creations += 1;
        for (total, phase) in inner.creation_phase_nanos.iter_mut().zip(phases.as_array()) {
            *total = total.saturating_add(u64::try_from(phase.as_nanos()).unwrap_or(u64::MAX));
        }
    }

    /// Counts one callback attempt and how long it took.
    pub fn record_callback(&self, delivered: bool, elapsed: Duration) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        *inner
            .callback_attempts
            .entry(if delivered { "delivered" } else { "failed" })
            .or_default() += 1;
        inner.callback_latency.observe(elapsed);
    }

    /// How many callbacks the delivery worker holds: claimed, not yet recorded.
    pub fn set_callbacks_in_flight(&self, count: usize) {
        self.callbacks_in_flight.store(count, Ordering::Relaxed);
    }

    /// Replaces the database gauges, read at `at_unix_s`.
    pub fn set_gauges(&self, gauges: Vec<Gauge>, at_unix_s: i64) {
        if let Ok(mut snapshot) = self.snapshot.lock() {
            *snapshot = Snapshot {
                gauges,
                refreshed_at_unix_s: Some(at_unix_s),
            };
        }
    }

    /// Renders the process's metrics and the last database gauges (name, help, labelled
    /// values), with the time they were read.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Ok(inner) = self.inner.lock() {
            out.push_str("# HELP obol_http_requests_total HTTP requests by method, route and status.\n# TYPE obol_http_requests_total counter\n");
            for ((method, route, status), count) in &inner.requests {
                let _ = writeln!(
                    out,
                    "obol_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {count}",
                    escape(route)
                );
            }
            out.push_str("# HELP obol_http_request_duration_seconds HTTP request latency by route.\n# TYPE obol_http_request_duration_seconds histogram\n");
            for (route, histogram) in &inner.latencies {
                histogram.render(
                    &mut out,
                    "obol_http_request_duration_seconds",
                    &format!("route=\"{}\"", escape(route)),
                );
            }
            out.push_str("# HELP obol_creation_phase_seconds_total Time invoice creations (Paymega's private API) spent in each phase.\n# TYPE obol_creation_phase_seconds_total counter\n");
            for (name, nanos) in CreationPhases::NAMES.iter().zip(inner.creation_phase_nanos) {
                let _ = writeln!(
                    out,
                    "obol_creation_phase_seconds_total{{phase=\"{name}\"}} {}",
                    nanos as f64 / 1e9
                );
            }
            let _ = writeln!(
                out,
                "# HELP obol_creation_phase_requests_total Invoice creations timed by phase.\n# TYPE obol_creation_phase_requests_total counter\nobol_creation_phase_requests_total {}",
                inner.creations
            );
            out.push_str("# HELP obol_callback_attempts_total Callback delivery attempts by outcome.\n# TYPE obol_callback_attempts_total counter\n");
            for outcome in ["delivered", "failed"] {
                let _ = writeln!(
                    out,
                    "obol_callback_attempts_total{{outcome=\"{outcome}\"}} {}",
                    inner.callback_attempts.get(outcome).copied().unwrap_or(0)
                );
            }
            out.push_str("# HELP obol_callback_delivery_seconds How long callback attempts took.\n# TYPE obol_callback_delivery_seconds histogram\n");
            inner
                .callback_latency
                .render(&mut out, "obol_callback_delivery_seconds", "");
        }
        let _ = writeln!(
            out,
            "# HELP obol_callbacks_in_flight Callbacks this node has claimed and not yet recorded.\n# TYPE obol_callbacks_in_flight gauge\nobol_callbacks_in_flight {}",
            self.callbacks_in_flight.load(Ordering::Relaxed)
        );
        let Ok(snapshot) = self.snapshot.lock() else {
            return out;
        };
        if let Some(at) = snapshot.refreshed_at_unix_s {
            out.push_str("# HELP obol_gauges_refreshed_timestamp_seconds When the database gauges below were read.\n# TYPE obol_gauges_refreshed_timestamp_seconds gauge\n");
            let _ = writeln!(out, "obol_gauges_refreshed_timestamp_seconds {at}");
        }
        for gauge in &snapshot.gauges {
            let _ = writeln!(
                out,
                "# HELP {} {}\n# TYPE {} gauge",
                gauge.name, gauge.help, gauge.name
            );
            for (labels, value) in &gauge.values {
                if labels.is_empty() {
                    let _ = writeln!(out, "{} {value}", gauge.name);
                } else {
                    let labels: Vec<String> = labels
                        .iter()
                        .map(|(key, value)| format!("{key}=\"{}\"", escape(value)))
                        .collect();
                    let _ = writeln!(out, "{}{{{}}} {value}", gauge.name, labels.join(","));
                }
            }
        }
        out
    }
}

/// The SQLite writer's counters, in the text format.
pub fn render_writer(stats: &obol_store::sqlite::WriterStats) -> String {
    format!(
        "# HELP obol_store_batches_total Group commits of the SQLite writer.\n# TYPE obol_store_batches_total counter\nobol_store_batches_total {}\n\
         # HELP obol_store_jobs_total Writes the SQLite writer ran.\n# TYPE obol_store_jobs_total counter\nobol_store_jobs_total {}\n\
         # HELP obol_store_writer_busy_seconds_total Time the SQLite writer spent running writes.\n# TYPE obol_store_writer_busy_seconds_total counter\nobol_store_writer_busy_seconds_total {}\n\
         # HELP obol_store_commit_seconds_total Time the SQLite writer spent committing (writing the WAL).\n# TYPE obol_store_commit_seconds_total counter\nobol_store_commit_seconds_total {}\n\
         # HELP obol_store_syncs_total WAL syncs (fdatasync) of the SQLite sync thread, each covering every batch committed before it.\n# TYPE obol_store_syncs_total counter\nobol_store_syncs_total {}\n\
         # HELP obol_store_sync_seconds_total Time the SQLite sync thread spent syncing the WAL.\n# TYPE obol_store_sync_seconds_total counter\nobol_store_sync_seconds_total {}\n",
        stats.batches,
        stats.jobs,
        stats.busy_nanos as f64 / 1e9,
        stats.commit_nanos as f64 / 1e9,
        stats.syncs,
        stats.sync_nanos as f64 / 1e9
    )
}

/// The PostgreSQL connections' counters and the writable host, in the text format.
pub fn render_connections(stats: &obol_store::ConnectionStats) -> String {
    let counters = [
        (
            "obol_database_connections_opened_total",
            "Connections opened to the database.",
            stats.opened,
        ),
        (
            "obol_database_connect_failures_total",
            "Host connection attempts that failed (refused, timed out, not writable).",
            stats.connect_failures,
        ),
        (
            "obol_database_connections_lost_total",
            "Connections found dead or dropped at their deadline.",
            stats.lost,
        ),
        (
            "obol_database_reconnects_total",
            "Connections opened to replace lost ones.",
            stats.reconnects,
        ),
        (
            "obol_database_failovers_total",
            "Times the writable database host changed.",
            stats.failovers,
        ),
    ];
    let mut text = String::new();
    for (name, help, value) in counters {
        text.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n"
        ));
    }
    if let Some(primary) = &stats.primary {
        text.push_str(&format!(
            "# HELP obol_database_primary The database host connections go to now.\n\
             # TYPE obol_database_primary gauge\nobol_database_primary{{host=\"{}\"}} 1\n",
            escape(primary)
        ));
    }
    text
}

/// A gauge read from the database in the background.
pub struct Gauge {
    pub name: &'static str,
    pub help: &'static str,
    pub values: Vec<(Vec<(&'static str, String)>, i64)>,
}

fn escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_database_connections() {
        let text = render_connections(&obol_store::ConnectionStats {
            opened: 18,
            failovers: 1,
            primary: Some("db2:5432".to_owned()),
            ..obol_store::ConnectionStats::default()
        });
        assert!(text.contains(
            "# TYPE obol_database_failovers_total counter\nobol_database_failovers_total 1\n"
        ));
        assert!(text.contains("\nobol_database_connections_opened_total 18\n"));
        assert!(text.ends_with("obol_database_primary{host=\"db2:5432\"} 1\n"));
        assert!(!render_connections(&obol_store::ConnectionStats::default()).contains("primary"));
    }

    #[test]
    fn renders_counters_histograms_and_gauges() {
        let metrics = Metrics::default();
        metrics.record_request("GET", "/healthz", 200, Duration::from_millis(2));
        metrics.record_request("GET", "/healthz", 200, Duration::from_millis(20));
        assert!(!metrics.render().contains("obol_payments"));
        metrics.set_gauges(
            vec![Gauge {
                name: "obol_payments",
                help: "Payments by status.",
                values: vec![(vec![("status", "created".into())], 3)],
            }],
            1_763_900_000,
        );
        let text = metrics.render();
        assert!(
            text.contains(
                "obol_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 2"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "obol_http_request_duration_seconds_bucket{route=\"/healthz\",le=\"0.005\"} 1"
            ),
            "{text}"
        );
        assert!(text.contains("obol_http_request_duration_seconds_count{route=\"/healthz\"} 2"));
        assert!(text.contains("obol_payments{status=\"created\"} 3"));
        assert!(text.contains("obol_gauges_refreshed_timestamp_seconds 1763900000"));
        assert!(text.contains("obol_callbacks_in_flight 0"), "{text}");
        metrics.set_callbacks_in_flight(7);
        assert!(metrics.render().contains("obol_callbacks_in_flight 7"));
    }
}
