//! The report as Markdown: the machine, the targets of SPEC §9 with their verdicts, and per
//! store its limits, scenarios, full flow, callbacks, phase breakdown and `obol verify`.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::metrics::Breakdown;
use crate::report::{Report, StoreReport, megabytes, millis, rate};

fn errors_text(errors: &BTreeMap<String, u64>) -> String {
    if errors.is_empty() {
        return "0".to_owned();
    }
    let total: u64 = errors.values().sum();
    let kinds: Vec<String> = errors
        .iter()
        .map(|(label, count)| format!("{label}: {count}"))
        .collect();
    format!("{total} ({})", kinds.join(", "))
}

impl Report {
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let machine = &self.machine;
        let settings = &self.settings;
        let _ = writeln!(out, "# Obol benchmark\n");
        let _ = writeln!(
            out,
            "- machine: {} cores, {}, Linux {}\n- date: {} UTC\n- commit: {}",
            machine.cores, machine.cpu_model, machine.kernel, machine.date, machine.commit
        );
        let _ = writeln!(
            out,
            "- load: {} s per scenario after a {} s warm-up, {} keep-alive connections, {} load thread(s) on the same cores as the server{}\n",
            settings.seconds,
            settings.warm_up_seconds,
            settings.connections,
            settings.threads,
            if settings.quick {
                " (**quick smoke run: not a measurement**)"
            } else {
                ""
            }
        );
        let _ = writeln!(out, "## Targets (SPEC §9)\n");
        let _ = writeln!(
            out,
            "| target | store | measured | verdict |\n|---|---|---|---|"
        );
        for target in &self.targets {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                target.target,
                target.store,
                target.measured,
                target.verdict.text()
            );
        }
        let _ = writeln!(
            out,
            "| clean release build ≤ 6 min, ≤ 4 GB | — | not measured by this tool | not measured |\n"
        );
        for store in &self.stores {
            store_markdown(&mut out, store);
        }
        out
    }
}

fn store_markdown(out: &mut String, store: &StoreReport) {
    let _ = writeln!(out, "## {}\n", store.label());
    if let Some(reason) = &store.not_measured {
        let _ = writeln!(out, "{} was not measured: {reason}\n", store.label());
        return;
    }
    let _ = writeln!(
        out,
        "Idle memory (VmRSS 1 s after start): {}. Peak under load (VmHWM): {}.\n",
        megabytes(store.idle_rss_mb),
        megabytes(store.peak_rss_mb)
    );
    limits_markdown(out, store);
    if !store.scenarios.is_empty() {
        let _ = writeln!(
            out,
            "### Scenarios\n\n| scenario | requests | errors | req/s | p50 ms | p90 ms | p99 ms | max ms | peak RSS | bench CPU µs/req |\n|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"
        );
        for scenario in &store.scenarios {
            match &scenario.problem {
                Some(problem) => {
                    let _ = writeln!(
                        out,
                        "| {} | — | could not run: {} | — | — | — | — | — | — | — |",
                        scenario.name,
                        problem.replace('|', "/")
                    );
                }
                None => {
                    let latency = &scenario.latency;
                    let _ = writeln!(
                        out,
                        "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                        scenario.name,
                        scenario.requests,
                        errors_text(&scenario.errors),
                        rate(scenario.per_second),
                        millis(latency.p50_ms),
                        millis(latency.p90_ms),
                        millis(latency.p99_ms),
                        millis(latency.max_ms),
                        megabytes(scenario.peak_rss_mb),
                        scenario
                            .generator_cpu_us
                            .map_or_else(|| "—".to_owned(), |micros| format!("{micros:.1}"))
                    );
                }
            }
        }
        let _ = writeln!(out);
        for scenario in &store.scenarios {
            let _ = writeln!(out, "- `{}`: {}", scenario.name, scenario.description);
        }
        let _ = writeln!(out);
    }
    flow_markdown(out, store);
    breakdown_markdown(out, store);
    match &store.verify {
        Some(verify) if verify.ok => {
            let _ = writeln!(
                out,
                "`obol verify`: clean ({} payments).\n",
                verify.payments
            );
        }
        Some(verify) => {
            let _ = writeln!(
                out,
                "`obol verify`: **{} violations**:\n",
                verify.violations.len()
            );
            for violation in verify.violations.iter().take(20) {
                let _ = writeln!(out, "- {violation}");
            }
            let _ = writeln!(out);
        }
        None => {
            let _ = writeln!(out, "`obol verify`: did not run.\n");
        }
    }
    if store.server_stopped_cleanly == Some(false) {
        let _ = writeln!(
            out,
            "The server did not stop cleanly on SIGTERM (killed, or a non-zero exit).\n"
        );
    }
    if !store.problems.is_empty() {
        let _ = writeln!(out, "Problems:\n");
        for problem in &store.problems {
            let _ = writeln!(out, "- {problem}");
        }
        let _ = writeln!(out);
    }
}

fn limits_markdown(out: &mut String, store: &StoreReport) {
    let limits = &store.limits;
    let _ = writeln!(
        out,
        "### Limits measured in the same run\n\n| limit | rate | detail |\n|---|---:|---|"
    );
    let cpu = |micros: Option<f64>| {
        micros.map_or_else(String::new, |micros| {
            format!("; the load generator's CPU: {micros:.1} µs per request")
        })
    };
    if let Some(healthz) = limits.healthz_per_second {
        let ours = store
            .scenario("healthz")
            .and_then(|scenario| scenario.generator_cpu_us);
        let _ = writeln!(
            out,
            "| network: `GET /healthz` (this tool) | {}/s | the minimal handler{} |",
            rate(healthz),
            cpu(ours)
        );
    }
    if let Some(wrk) = limits.wrk_healthz_per_second {
        let share = limits
            .healthz_per_second
            .filter(|_| wrk > 0.0)
            .map(|ours| {
                format!(
                    "this tool reaches {:.0} % of wrk's rate",
                    ours / wrk * 100.0
                )
            })
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "| network: `GET /healthz` (wrk -t2, same connections) | {}/s | {share}{} |",
            rate(wrk),
            cpu(limits.wrk_cpu_us)
        );
    }
    if let Some(fsync) = limits.fsync_per_second {
        let _ = writeln!(
            out,
            "| disk: 4 KiB write + fdatasync | {}/s | {:.3} ms each, one at a time |",
            rate(fsync),
            if fsync > 0.0 { 1000.0 / fsync } else { 0.0 }
        );
    }
    for (label, storage) in [
        ("storage: one creation's writes", &limits.storage),
        (
            "storage: creation + callback outbox row",
            &limits.storage_with_callback,
        ),
    ] {
        if let Some(storage) = storage {
            let _ = writeln!(
                out,
                "| {label} | {}/s | obol-store directly, no HTTP; p50 {} ms, p99 {} ms; errors {} |",
                rate(storage.per_second),
                millis(storage.latency.p50_ms),
                millis(storage.latency.p99_ms),
                errors_text(&storage.errors)
            );
        }
    }
    let _ = writeln!(out);
}

fn flow_markdown(out: &mut String, store: &StoreReport) {
    if !store.full_flow_steps.is_empty() {
        let _ = writeln!(
            out,
            "### Full flow, step by step\n\n| step | p50 ms | p99 ms | max ms | errors |\n|---|---:|---:|---:|---|"
        );
        for step in &store.full_flow_steps {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                step.step,
                millis(step.latency.p50_ms),
                millis(step.latency.p99_ms),
                millis(step.latency.max_ms),
                errors_text(&step.errors)
            );
        }
        let _ = writeln!(out);
    }
    if let Some(callbacks) = &store.callbacks {
        let _ = writeln!(
            out,
            "Callbacks: {} of {} expected received (waited {:.1} s after the load for stragglers), at {}/s from the first to the last; {} extra (repeats or unmatched), {} unreadable. Latency from the answer that caused each one to its arrival: p50 {} ms, p99 {} ms, max {} ms.\n",
            callbacks.received,
            callbacks.expected,
            callbacks.waited_seconds,
            rate(callbacks.per_second),
            callbacks.extra,
            callbacks.unreadable,
            millis(callbacks.latency.p50_ms),
            millis(callbacks.latency.p99_ms),
            millis(callbacks.latency.max_ms)
        );
    }
}

fn breakdown_markdown(out: &mut String, store: &StoreReport) {
    let Some(breakdown) = &store.breakdown else {
        return;
    };
    let _ = writeln!(
        out,
        "### Where one creation's time goes (`paymega_create`)\n"
    );
    let Some(creations) = breakdown.creations else {
        let _ = writeln!(
            out,
            "Not exposed: the server's `/metrics` has no `obol_creation_phase_requests_total`.\n"
        );
        return;
    };
    let _ = writeln!(
        out,
        "From the server's counters over {creations:.0} creations.\n\n| phase | µs per creation |\n|---|---:|"
    );
    for cost in &breakdown.phases {
        let _ = writeln!(
            out,
            "| {} | {} |",
            cost.phase,
            cost.micros_per_creation
                .map_or_else(|| "not exposed".to_owned(), |micros| format!("{micros:.1}"))
        );
    }
    let optional = |value: Option<f64>, digits: usize| {
        value.map_or_else(
            || "not exposed".to_owned(),
            |value| format!("{value:.digits$}"),
        )
    };
    let _ = writeln!(
        out,
        "\nSQLite writer: {} jobs per batch (commit), {} µs busy per job, {} ms per commit.\n",
        optional(breakdown.jobs_per_batch, 1),
        optional(breakdown.writer_busy_micros_per_job, 1),
        optional(breakdown.commit_millis_per_batch, 3)
    );
    holds_markdown(out, store, breakdown);
}

/// What holds the creation rate, read off the numbers above, and where to look next.
fn holds_markdown(out: &mut String, store: &StoreReport, breakdown: &Breakdown) {
    let Some(rate) = store
        .scenarios
        .iter()
        .find(|scenario| scenario.name == "paymega_create")
        .map(|scenario| scenario.per_second)
    else {
        return;
    };
    let _ = writeln!(out, "#### What holds the creation rate\n");
    let storage_limit = store.limits.storage.as_ref().map(|limit| limit.per_second);
    let phase = |name: &str| {
        breakdown
            .phases
            .iter()
            .find(|cost| cost.phase == name)
            .and_then(|cost| cost.micros_per_creation)
    };
    let writer = match (
        breakdown.writer_busy_micros_per_job,
        breakdown.commit_millis_per_batch,
        breakdown.jobs_per_batch,
    ) {
        (Some(busy), Some(commit), Some(jobs)) if jobs > 0.0 => {
            Some(rate * (busy + commit * 1000.0 / jobs) / 1e6)
        }
        _ => None,
    };
    match writer {
        Some(share) if share >= 0.9 => {
            let _ = writeln!(
                out,
                "- The SQLite writer is {:.0} % busy at {rate:.0}/s: the one thread every write goes through is the bound. Next: fewer index entries and less savepoint journalling per job (see docs/STORAGE.md).",
                share * 100.0
            );
        }
        Some(share) => {
            let _ = writeln!(
                out,
                "- The SQLite writer is {:.0} % busy at {rate:.0}/s, so it is not the bound: requests wait in `storage` ({} µs) for CPU, which the server shares with the load generator on this machine's cores. Next: less CPU per request on the request side (rendering the answer without a `serde_json::Value` tree, the HTTP layers) and in the writer (index entries, savepoints).",
                share * 100.0,
                phase("storage").map_or_else(|| "?".to_owned(), |micros| format!("{micros:.0}"))
            );
        }
        None => {
            let _ = writeln!(
                out,
                "- {} µs of a creation are `storage`: the database's own work per transaction (its storage limit measured directly: {}/s) and the round trips to it. Next: fewer statements and round trips per creation, and the database on cores of its own.",
                phase("storage").map_or_else(|| "?".to_owned(), |micros| format!("{micros:.0}")),
                storage_limit
                    .map_or_else(|| "not measured".to_owned(), |limit| format!("{limit:.0}"))
            );
        }
    }
    if let Some(limit) = storage_limit {
        let _ = writeln!(
            out,
            "- Creation runs at {:.0} % of the storage limit measured in this run ({limit:.0}/s).",
            rate / limit * 100.0
        );
    }
    let _ = writeln!(out);
}
