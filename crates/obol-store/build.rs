//! Decides, when the tests are built, whether the PostgreSQL tests can run, so that libtest
//! reports them as ignored instead of as passed (see `on_both_backends!` in `src/testing.rs`).
//!
//! `obol_postgres_unavailable` is set when `OBOL_TEST_DATABASE_URL` is unset or empty and `CI`
//! is unset. Under CI it is never set: a PostgreSQL test without a server fails there.
//! Changing either variable rebuilds this crate and what depends on it; `scripts/test` sets
//! them the same way every run, so that happens only when a developer switches by hand.
//!
//! `obol_private_postgres_unavailable` marks the tests that start a PostgreSQL server of their
//! own (`tests/pg_tls.rs`) ignored: set, outside CI, when no `initdb` and `pg_ctl` are found
//! under `/usr/lib/postgresql/*/bin` (Debian's layout; the newest version is taken and handed
//! to the tests as `OBOL_POSTGRES_BIN`), when `openssl` is missing, or when this runs as root
//! (PostgreSQL refuses root) without a `postgres` user and `runuser` to become it.

use std::path::Path;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=OBOL_TEST_DATABASE_URL");
    println!("cargo::rerun-if-env-changed=CI");
    println!("cargo::rustc-check-cfg=cfg(obol_postgres_unavailable)");
    let configured = std::env::var_os("OBOL_TEST_DATABASE_URL").is_some_and(|url| !url.is_empty());
    let under_ci = std::env::var_os("CI").is_some();
    if !configured && !under_ci {
        println!("cargo::rustc-cfg=obol_postgres_unavailable");
    }
    private_postgres(under_ci);
}

fn private_postgres(under_ci: bool) {
    println!("cargo::rustc-check-cfg=cfg(obol_private_postgres_unavailable)");
    // Installing or removing a version changes this directory (or, before the first, /usr/lib);
    // watching a missing path would rerun this script on every build.
    let versions = Path::new("/usr/lib/postgresql");
    let watched = if versions.exists() {
        versions
    } else {
        Path::new("/usr/lib")
    };
    println!("cargo::rerun-if-changed={}", watched.display());
    let bin = std::fs::read_dir(versions)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            (bin.join("initdb").exists() && bin.join("pg_ctl").exists()).then_some((version, bin))
        })
        .max_by_key(|(version, _)| *version)
        .map(|(_, bin)| bin);
    if let Some(bin) = &bin {
        println!("cargo::rustc-env=OBOL_POSTGRES_BIN={}", bin.display());
    }
    let root = std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .any(|line| line.starts_with("Uid:") && line.split_whitespace().nth(1) == Some("0"))
    });
    let postgres_user = std::fs::read_to_string("/etc/passwd")
        .is_ok_and(|users| users.lines().any(|line| line.starts_with("postgres:")));
    let runuser = ["/usr/sbin/runuser", "/sbin/runuser"]
        .iter()
        .any(|path| Path::new(path).exists());
    let openssl = ["/usr/bin/openssl", "/bin/openssl"]
        .iter()
        .any(|path| Path::new(path).exists());
    let usable = bin.is_some() && openssl && (!root || (postgres_user && runuser));
    if !usable && !under_ci {
        println!("cargo::rustc-cfg=obol_private_postgres_unavailable");
    }
}
