//! `throughput.svg`: per scenario and store, a bar for the throughput and one for the p99
//! latency, with their numbers written beside them (the scales differ by orders of magnitude,
//! so the numbers carry the detail and the bars the comparison).

use std::fmt::Write;

use crate::report::Report;

const ROW_HEIGHT: f64 = 18.0;
const LABEL_WIDTH: f64 = 260.0;
const BAR_WIDTH: f64 = 300.0;
const PANEL_GAP: f64 = 120.0;
const TOP: f64 = 60.0;

/// Colours per store (SQLite, PostgreSQL, anything else).
fn colour(store: &str) -> &'static str {
    match store {
        "sqlite" => "#3b6ea8",
        "postgres" => "#c0772b",
        _ => "#777777",
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

struct Bar {
    label: String,
    store: String,
    per_second: f64,
    p99_ms: f64,
}

pub fn plot(report: &Report) -> String {
    // Each scenario's stores side by side, scenarios in the order they ran.
    let mut names: Vec<&str> = Vec::new();
    for store in &report.stores {
        for scenario in &store.scenarios {
            if !names.contains(&scenario.name.as_str()) {
                names.push(&scenario.name);
            }
        }
    }
    let mut bars = Vec::new();
    for name in names {
        for store in &report.stores {
            let measured = store
                .scenarios
                .iter()
                .find(|scenario| scenario.name == name && scenario.problem.is_none());
            if let Some(scenario) = measured {
                bars.push(Bar {
                    label: format!("{} ({})", scenario.name, store.label()),
                    store: store.store.clone(),
                    per_second: scenario.per_second,
                    p99_ms: scenario.latency.p99_ms,
                });
            }
        }
    }
    let max_rate = bars.iter().map(|bar| bar.per_second).fold(0.0, f64::max);
    let max_p99 = bars.iter().map(|bar| bar.p99_ms).fold(0.0, f64::max);
    let width = LABEL_WIDTH + 2.0 * BAR_WIDTH + PANEL_GAP + 60.0;
    let height = TOP + ROW_HEIGHT * bars.len() as f64 + 30.0;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        svg,
        r##"<rect width="100%" height="100%" fill="#ffffff"/><text x="10" y="20" font-size="15" font-weight="bold">Obol benchmark — {} ({} connections{})</text>"##,
        escape(&report.machine.date),
        report.settings.connections,
        if report.settings.quick {
            ", quick smoke run"
        } else {
            ""
        }
    );
    let second_panel = LABEL_WIDTH + BAR_WIDTH + PANEL_GAP;
    let _ = writeln!(
        svg,
        r#"<text x="{LABEL_WIDTH}" y="{}" font-weight="bold">throughput (per second)</text><text x="{second_panel}" y="{}" font-weight="bold">p99 latency (ms)</text>"#,
        TOP - 12.0,
        TOP - 12.0
    );
    for (index, bar) in bars.iter().enumerate() {
        let y = TOP + ROW_HEIGHT * index as f64;
        let rate_width = if max_rate > 0.0 {
            bar.per_second / max_rate * BAR_WIDTH
        } else {
            0.0
        };
        let p99_width = if max_p99 > 0.0 {
            bar.p99_ms / max_p99 * BAR_WIDTH
        } else {
            0.0
        };
        let fill = colour(&bar.store);
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
            LABEL_WIDTH - 8.0,
            y + 12.0,
            escape(&bar.label)
        );
        let _ = writeln!(
            svg,
            r#"<rect x="{LABEL_WIDTH}" y="{}" width="{rate_width:.1}" height="{}" fill="{fill}"/><text x="{}" y="{}">{:.0}</text>"#,
            y + 2.0,
            ROW_HEIGHT - 4.0,
            LABEL_WIDTH + rate_width + 4.0,
            y + 12.0,
            bar.per_second
        );
        let _ = writeln!(
            svg,
            r#"<rect x="{second_panel}" y="{}" width="{p99_width:.1}" height="{}" fill="{fill}" fill-opacity="0.6"/><text x="{}" y="{}">{:.2}</text>"#,
            y + 2.0,
            ROW_HEIGHT - 4.0,
            second_panel + p99_width + 4.0,
            y + 12.0,
            bar.p99_ms
        );
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::Machine;
    use crate::report::{Latency, ScenarioReport, Settings, StoreReport};

    #[test]
    fn the_plot_has_a_bar_per_scenario_and_store() {
        let mut store = StoreReport::new("sqlite");
        store.scenarios.push(ScenarioReport {
            name: "paymega_create".to_owned(),
            per_second: 1234.0,
            latency: Latency {
                p99_ms: 4.5,
                ..Latency::default()
            },
            ..ScenarioReport::default()
        });
        let report = Report {
            machine: Machine {
                cores: 2,
                cpu_model: "cpu".to_owned(),
                kernel: "6".to_owned(),
                date: "2026-01-01 00:00:00".to_owned(),
                commit: "abc".to_owned(),
            },
            settings: Settings {
                seconds: 8.0,
                warm_up_seconds: 1.0,
                connections: 64,
                threads: 2,
                quick: false,
            },
            stores: vec![store],
            targets: Vec::new(),
        };
        let svg = plot(&report);
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("paymega_create (SQLite)"));
        assert!(svg.contains(">1234<"));
        assert!(svg.trim_end().ends_with("</svg>"));
    }
}
