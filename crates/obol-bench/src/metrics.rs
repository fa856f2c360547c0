//! Where one creation's time goes: the server's Prometheus counters, scraped before and after
//! `paymega_create`, turned into means per creation (SPEC §9). Counters the server does not
//! expose are reported as such, never guessed.

use std::sync::Arc;

use bytes::Bytes;
use hyper::{Method, StatusCode};
use serde::Serialize;

use crate::error::{BenchError, BenchResult};
use crate::load::{self, Client, Target};

/// The phases of a creation, as the server labels them.
pub const PHASES: [&str; 5] = ["parse", "auth", "rules", "storage", "render"];

/// One sample: a metric's name, its labels as written, and its value.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: String,
    value: f64,
}

/// A scrape of `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct Scrape {
    samples: Vec<Sample>,
}

impl Scrape {
    /// Reads the Prometheus text format: `name{labels} value [timestamp]`, comments skipped.
    pub fn parse(text: &str) -> Scrape {
        let samples = text
            .lines()
            .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
            .filter_map(|line| {
                let (series, rest) = match line.find('{') {
                    Some(open) => {
                        let close = open + line[open..].find('}')?;
                        ((&line[..open], &line[open + 1..close]), &line[close + 1..])
                    }
                    None => {
                        let space = line.find(' ')?;
                        ((&line[..space], ""), &line[space..])
                    }
                };
                let value = rest.split_whitespace().next()?.parse().ok()?;
                Some(Sample {
                    name: series.0.to_owned(),
                    labels: series.1.to_owned(),
                    value,
                })
            })
            .collect();
        Scrape { samples }
    }

    /// The sum of every series of `name` whose labels include `label` (`key="value"`), or
    /// `None` when the server exposes no such series.
    pub fn sum(&self, name: &str, label: Option<&str>) -> Option<f64> {
        let mut found = false;
        let mut total = 0.0;
        for sample in &self.samples {
            let labelled =
                label.is_none_or(|label| sample.labels.split(',').any(|pair| pair.trim() == label));
            if sample.name == name && labelled {
                found = true;
                total += sample.value;
            }
        }
        found.then_some(total)
    }
}

/// `GET /metrics` on a connection of its own.
pub async fn scrape(target: &Arc<Target>) -> BenchResult<Scrape> {
    let mut client = Client::new(Arc::clone(target));
    let request = load::request(Method::GET, "/metrics", &[], Bytes::new())
        .map_err(|failure| BenchError::Http(failure.label()))?;
    let answer = client
        .send(request)
        .await
        .map_err(|failure| BenchError::Http(format!("/metrics: {}", failure.label())))?;
    if answer.status != StatusCode::OK {
        return Err(BenchError::answer("/metrics", answer.status.to_string()));
    }
    Ok(Scrape::parse(&answer.text()))
}

/// One phase's mean cost per creation (`None`: the server does not expose it).
#[derive(Debug, Clone, Serialize)]
pub struct PhaseCost {
    pub phase: String,
    pub micros_per_creation: Option<f64>,
}

/// The mean cost of one creation, from the counters' growth over `paymega_create`.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Breakdown {
    /// Creations the phase counters saw (`obol_creation_phase_requests_total`); `None` when
    /// the server does not expose it.
    pub creations: Option<f64>,
    /// Mean microseconds per creation, per phase, in the order of [`PHASES`].
    pub phases: Vec<PhaseCost>,
    /// SQLite's writer: mean jobs per batch (one commit), writer busy µs per job, commit ms per
    /// batch.
    pub jobs_per_batch: Option<f64>,
    pub writer_busy_micros_per_job: Option<f64>,
    pub commit_millis_per_batch: Option<f64>,
}

fn growth(before: &Scrape, after: &Scrape, name: &str, label: Option<&str>) -> Option<f64> {
    Some(after.sum(name, label)? - before.sum(name, label).unwrap_or(0.0))
}

fn ratio(numerator: Option<f64>, denominator: Option<f64>, scale: f64) -> Option<f64> {
    match (numerator, denominator) {
        (Some(numerator), Some(denominator)) if denominator > 0.0 => {
            Some(numerator / denominator * scale)
        }
        _ => None,
    }
}

impl Breakdown {
    pub fn between(before: &Scrape, after: &Scrape) -> Breakdown {
        let creations = growth(before, after, "obol_creation_phase_requests_total", None);
        let phases = PHASES
            .iter()
            .map(|phase| {
                let label = format!("phase=\"{phase}\"");
                let seconds = growth(
                    before,
                    after,
                    "obol_creation_phase_seconds_total",
                    Some(&label),
                );
                PhaseCost {
                    phase: (*phase).to_owned(),
                    micros_per_creation: ratio(seconds, creations, 1e6),
                }
            })
            .collect();
        let jobs = growth(before, after, "obol_store_jobs_total", None);
        let batches = growth(before, after, "obol_store_batches_total", None);
        let busy = growth(before, after, "obol_store_writer_busy_seconds_total", None);
        let commit = growth(before, after, "obol_store_commit_seconds_total", None);
        Breakdown {
            creations,
            phases,
            jobs_per_batch: ratio(jobs, batches, 1.0),
            writer_busy_micros_per_job: ratio(busy, jobs, 1e6),
            commit_millis_per_batch: ratio(commit, batches, 1e3),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_grow_into_means_per_creation() {
        let before = Scrape::parse(
            "# HELP x\nobol_creation_phase_requests_total 10\nobol_creation_phase_seconds_total{phase=\"parse\"} 0.001\nobol_store_jobs_total 10\nobol_store_batches_total 5\n",
        );
        let after = Scrape::parse(
            "obol_creation_phase_requests_total 110\nobol_creation_phase_seconds_total{phase=\"parse\"} 0.002\nobol_creation_phase_seconds_total{phase=\"storage\",backend=\"sqlite\"} 0.05\nobol_store_jobs_total 110\nobol_store_batches_total 10 1700000000\n",
        );
        let breakdown = Breakdown::between(&before, &after);
        assert_eq!(breakdown.creations, Some(100.0));
        let parse = breakdown.phases[0].micros_per_creation.unwrap();
        assert!((parse - 10.0).abs() < 1e-9, "{parse}");
        let storage = breakdown.phases[3].micros_per_creation.unwrap();
        assert!((storage - 500.0).abs() < 1e-9, "{storage}");
        assert_eq!(
            breakdown.phases[1].micros_per_creation, None,
            "auth is not exposed"
        );
        assert_eq!(breakdown.jobs_per_batch, Some(20.0));
        assert_eq!(breakdown.writer_busy_micros_per_job, None);
    }

    #[test]
    fn absent_counters_are_not_exposed() {
        let scrape = Scrape::parse("obol_http_requests_total{route=\"/healthz\"} 3\n");
        assert_eq!(scrape.sum("obol_creation_phase_requests_total", None), None);
        assert_eq!(
            scrape.sum("obol_http_requests_total", Some("route=\"/healthz\"")),
            Some(3.0)
        );
        assert!(Breakdown::between(&scrape, &scrape).creations.is_none());
    }
}
