//! Decides, when the tests are built, which of the tests needing an outside program can run, so
//! that libtest reports the others as ignored instead of as passed (see `requires!`).
//!
//! - `obol_browser_unavailable`: `/usr/bin/chromium` or `/usr/bin/chromedriver` is missing;
//! - `obol_yookassa_python_unavailable`: `OBOL_YOOKASSA_PYTHON` is unset or empty;
//! - `obol_ha_cluster_unavailable`: pg_auto_failover's `/usr/bin/pg_autoctl` is missing, or
//!   this does not run as root (`scripts/ha-cluster` runs PostgreSQL as the `postgres` user).
//!
//! None is ever set under CI (`CI` set): there a missing program fails its test.
//! PostgreSQL's flag is `obol-store`'s, whose own suite needs it too.

use std::path::Path;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const PG_AUTOCTL: &str = "/usr/bin/pg_autoctl";

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=CI");
    println!("cargo::rerun-if-env-changed=OBOL_YOOKASSA_PYTHON");
    // Installing or removing a program changes its directory; watching the files themselves
    // would rerun this script on every build while they are missing.
    println!("cargo::rerun-if-changed=/usr/bin");
    println!("cargo::rustc-check-cfg=cfg(obol_browser_unavailable)");
    println!("cargo::rustc-check-cfg=cfg(obol_yookassa_python_unavailable)");
    println!("cargo::rustc-check-cfg=cfg(obol_ha_cluster_unavailable)");
    if std::env::var_os("CI").is_some() {
        return;
    }
    if !(Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists()) {
        println!("cargo::rustc-cfg=obol_browser_unavailable");
    }
    let root = std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .any(|line| line.starts_with("Uid:") && line.split_whitespace().nth(1) == Some("0"))
    });
    if !(Path::new(PG_AUTOCTL).exists() && root) {
        println!("cargo::rustc-cfg=obol_ha_cluster_unavailable");
    }
    if std::env::var_os("OBOL_YOOKASSA_PYTHON").is_none_or(|python| python.is_empty()) {
        println!("cargo::rustc-cfg=obol_yookassa_python_unavailable");
    }
}
