//! Decides, when the tests are built, whether the PostgreSQL tests can run, so that libtest
//! reports them as ignored instead of as passed (see `on_both_backends!` in `src/testing.rs`).
//!
//! `obol_postgres_unavailable` is set when `OBOL_TEST_DATABASE_URL` is unset or empty and `CI`
//! is unset. Under CI it is never set: a PostgreSQL test without a server fails there.
//! Changing either variable rebuilds this crate and what depends on it; `scripts/test` sets
//! them the same way every run, so that happens only when a developer switches by hand.

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
}
