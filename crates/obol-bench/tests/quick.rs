//! The load generator itself, run as a user runs it (`--quick`) against the `obol` binary of
//! this build: it must complete requests in every scenario it runs, get every callback of the
//! full flow, measure the limits, leave a clean database behind, and write its report. A run
//! whose requests all fail fails here, since the tool then exits 1 and reports no successes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// The `obol` binary to run: `OBOL_BENCH_OBOL` when set, else the one of this build's profile
/// (`target/<profile>/obol`). `cargo test --workspace` builds that one before any test runs (the
/// `obol` crate's own tests need it); `cargo test -p obol-bench` alone does not, so it is built
/// here when missing. (Not rebuilt when present: a nested `cargo build -p obol` would resolve
/// other features than the workspace's test build and compile everything again.)
fn obol() -> PathBuf {
    if let Some(path) = std::env::var_os("OBOL_BENCH_OBOL") {
        return PathBuf::from(path);
    }
    let test = std::env::current_exe().expect("the test's own path");
    // target/<profile>/deps/quick-… → target/<profile>
    let profile = test
        .parent()
        .and_then(Path::parent)
        .expect("the profile directory");
    let binary = profile.join("obol");
    if binary.is_file() {
        return binary;
    }
    let mut build = Command::new(env!("CARGO"));
    build
        .args(["build", "--quiet", "-p", "obol", "--bin", "obol"])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    if let Some(target) = profile.parent() {
        build.env("CARGO_TARGET_DIR", target);
    }
    if profile.file_name().is_some_and(|name| name == "release") {
        build.arg("--release");
    }
    let status = build.status().expect("cargo runs");
    assert!(status.success(), "cargo build -p obol failed");
    binary
}

fn bench(out: &Path, arguments: &[&str], environment: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_obol-bench"));
    command
        .arg("--obol")
        .arg(obol())
        .arg("--out")
        .arg(out)
        .args(["--quick", "--connections", "16"])
        .args(arguments);
    for (name, value) in environment {
        command.env(name, value);
    }
    command.output().expect("obol-bench runs")
}

fn scratch(name: &str) -> PathBuf {
    let directory = std::env::temp_dir().join(format!(
        "obol-bench-test-{name}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_nanos())
            .unwrap_or_default()
    ));
    std::fs::create_dir_all(&directory).expect("a scratch directory");
    directory
}

/// The run succeeded and its report has real numbers for `scenarios` on the one store.
fn check(out: &Path, output: &Output, scenarios: &[&str]) -> Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "exit {:?}\nstdout: {stdout}\nstderr: {stderr}",
        output.status
    );
    assert!(
        stdout.contains("# Obol benchmark"),
        "the Markdown is printed"
    );
    let markdown = std::fs::read_to_string(out.join("report.md")).expect("report.md");
    assert_eq!(markdown.trim(), stdout.trim());
    let svg = std::fs::read_to_string(out.join("throughput.svg")).expect("throughput.svg");
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("report.json")).expect("report.json"),
    )
    .expect("report.json is JSON");
    let store = &report["stores"][0];
    assert!(store["not_measured"].is_null(), "{store}");
    assert!(store["idle_rss_mb"].as_f64().is_some_and(|mb| mb > 0.0));
    for name in scenarios {
        let scenario = store["scenarios"]
            .as_array()
            .and_then(|all| all.iter().find(|scenario| scenario["name"] == *name))
            .unwrap_or_else(|| panic!("{name} in {store}"));
        assert!(scenario["problem"].is_null(), "{scenario}");
        assert!(
            scenario["succeeded"]
                .as_u64()
                .is_some_and(|count| count > 0),
            "{scenario}"
        );
        assert_eq!(
            scenario["errors"],
            serde_json::json!({}),
            "no request failed: {scenario}"
        );
        assert!(
            scenario["per_second"]
                .as_f64()
                .is_some_and(|rate| rate > 0.0)
        );
        assert!(
            scenario["latency"]["p50_ms"]
                .as_f64()
                .is_some_and(|ms| ms > 0.0)
        );
        assert!(scenario["peak_rss_mb"].as_f64().is_some_and(|mb| mb > 0.0));
    }
    let verify = &store["verify"];
    assert_eq!(verify["ok"], true, "obol verify is clean: {verify}");
    assert!(verify["payments"].as_i64().is_some_and(|count| count > 0));
    report
}

#[test]
fn a_quick_run_on_sqlite_measures_creation_the_full_flow_and_the_limits() {
    let out = scratch("sqlite");
    let output = bench(
        &out,
        &[
            "--stores",
            "sqlite",
            "--scenarios",
            "healthz,paymega_create,full_flow,fsync,storage",
        ],
        &[],
    );
    let report = check(&out, &output, &["healthz", "paymega_create", "full_flow"]);
    let store = &report["stores"][0];
    let limits = &store["limits"];
    for limit in ["healthz_per_second", "fsync_per_second"] {
        assert!(
            limits[limit].as_f64().is_some_and(|rate| rate > 0.0),
            "{limit}: {limits}"
        );
    }
    for storage in ["storage", "storage_with_callback"] {
        assert!(
            limits[storage]["per_second"]
                .as_f64()
                .is_some_and(|rate| rate > 0.0),
            "{storage}: {limits}"
        );
        assert_eq!(limits[storage]["errors"], serde_json::json!({}));
    }
    let callbacks = &store["callbacks"];
    assert!(
        callbacks["expected"]
            .as_u64()
            .is_some_and(|count| count > 0)
    );
    assert_eq!(
        callbacks["received"], callbacks["expected"],
        "every callback of the full flow arrived: {callbacks}"
    );
    assert_eq!(
        store["full_flow_steps"].as_array().map(Vec::len),
        Some(5),
        "{store}"
    );
    assert!(
        store["breakdown"].is_object(),
        "scraped around paymega_create"
    );
    assert!(
        report["targets"]
            .as_array()
            .is_some_and(|targets| !targets.is_empty())
    );
    let _ = std::fs::remove_dir_all(&out);
}

obol_store::postgres_test! {
    #[test]
    fn a_quick_run_on_postgres_creates_on_a_scratch_database_and_drops_it() {
        let base = std::env::var(obol_store::testing::TEST_DATABASE_URL_VAR)
            .expect("OBOL_TEST_DATABASE_URL names the PostgreSQL server of the tests");
        let out = scratch("postgres");
        let output = bench(
            &out,
            &["--stores", "postgres", "--scenarios", "paymega_create,storage"],
            &[("OBOL_BENCH_DATABASE_URL", &base)],
        );
        let report = check(&out, &output, &["paymega_create"]);
        assert!(
            report["stores"][0]["limits"]["storage"]["per_second"]
                .as_f64()
                .is_some_and(|rate| rate > 0.0)
        );
        let _ = std::fs::remove_dir_all(&out);
    }
}

#[test]
fn an_unreachable_postgres_is_reported_as_not_measured() {
    let out = scratch("unreachable");
    // Port 1 on loopback: nothing listens there, and nothing leaves the machine.
    let output = bench(
        &out,
        &["--stores", "postgres", "--scenarios", "healthz"],
        &[(
            "OBOL_BENCH_DATABASE_URL",
            "postgres://root@127.0.0.1:1/test",
        )],
    );
    assert!(
        output.status.success(),
        "a store that cannot be measured is reported, not failed"
    );
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("report.json")).expect("report.json"),
    )
    .expect("JSON");
    let store = &report["stores"][0];
    assert!(store["not_measured"].is_string(), "{store}");
    assert!(
        store["scenarios"].as_array().is_some_and(Vec::is_empty),
        "no numbers are made up: {store}"
    );
    let markdown = std::fs::read_to_string(out.join("report.md")).expect("report.md");
    assert!(
        markdown.contains("PostgreSQL was not measured"),
        "{markdown}"
    );
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn a_postgres_url_off_this_machine_is_refused() {
    let out = scratch("remote");
    let output = bench(
        &out,
        &["--stores", "postgres", "--scenarios", "healthz"],
        &[(
            "OBOL_BENCH_DATABASE_URL",
            "postgres://root@192.0.2.1:5432/test",
        )],
    );
    assert!(
        output.status.success(),
        "refused before any connection, and reported: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("report.json")).expect("report.json"),
    )
    .expect("JSON");
    let reason = report["stores"][0]["not_measured"].as_str().unwrap_or("");
    assert!(reason.contains("must name this machine"), "{reason}");
    let _ = std::fs::remove_dir_all(&out);
}
