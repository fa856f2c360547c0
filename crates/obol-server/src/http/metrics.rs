//! Prometheus metrics in the text exposition format, kept without a metrics crate: a few
//! counters and histograms behind a mutex, rendered at scrape time together with gauges read
//! from the database.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
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

#[derive(Default)]
struct Inner {
    requests: BTreeMap<(String, String, u16), u64>,
    latencies: BTreeMap<String, Histogram>,
}

#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
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
        let histogram = inner.latencies.entry(route.to_owned()).or_default();
        let seconds = elapsed.as_secs_f64();
        for (index, bound) in LATENCY_BUCKETS_S.iter().enumerate() {
            if seconds <= *bound {
                histogram.buckets[index] += 1;
            }
        }
        histogram.count += 1;
        histogram.sum_micros += elapsed.as_micros() as u64;
    }

    /// Renders the process's metrics plus `gauges` (name, help, labelled values).
    pub fn render(&self, gauges: &[Gauge]) -> String {
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
                let route = escape(route);
                for (index, bound) in LATENCY_BUCKETS_S.iter().enumerate() {
                    let _ = writeln!(
                        out,
                        "obol_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {}",
                        histogram.buckets[index]
                    );
                }
                let _ = writeln!(
                    out,
                    "obol_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                    histogram.count
                );
                let _ = writeln!(
                    out,
                    "obol_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                    histogram.sum_micros as f64 / 1e6
                );
                let _ = writeln!(
                    out,
                    "obol_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                    histogram.count
                );
            }
        }
        for gauge in gauges {
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

/// A gauge read at scrape time.
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
    fn renders_counters_histograms_and_gauges() {
        let metrics = Metrics::default();
        metrics.record_request("GET", "/healthz", 200, Duration::from_millis(2));
        metrics.record_request("GET", "/healthz", 200, Duration::from_millis(20));
        let text = metrics.render(&[Gauge {
            name: "obol_payments",
            help: "Payments by status.",
            values: vec![(vec![("status", "created".into())], 3)],
        }]);
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
    }
}
