//! The overview (SPEC §7): payments counted and summed per currency and mode, the success rate
//! and refunds, for today, 7 or 30 days, with a chart of the last 30 days drawn as inline SVG
//! (no script). Only the manager's subtree counts.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use obol_core::money::Money;
use obol_core::time::Timestamp;
use obol_http::auth::ClientIp;
use obol_http::page::texts::Language;
use obol_http::state::AppState;
use obol_store::ops::stats::{self, DailyCount, PaymentTotals};
use obol_store::ops::tenancy;

use crate::layout;
use crate::session;
use crate::texts::pick;

struct Words {
    period: &'static str,
    today: &'static str,
    days_7: &'static str,
    days_30: &'static str,
    currency: &'static str,
    mode: &'static str,
    payments: &'static str,
    paid: &'static str,
    failed: &'static str,
    success_rate: &'static str,
    volume: &'static str,
    refunded: &'static str,
    refunds: &'static str,
    nothing: &'static str,
    chart: &'static str,
    chart_text: &'static str,
    test: &'static str,
    live: &'static str,
}

const ENGLISH: Words = Words {
    period: "Period",
    today: "Today",
    days_7: "7 days",
    days_30: "30 days",
    currency: "Currency",
    mode: "Mode",
    payments: "Payments",
    paid: "Paid",
    failed: "Failed",
    success_rate: "Success rate",
    volume: "Volume",
    refunded: "Refunded",
    refunds: "Refunds",
    nothing: "No payments in this period.",
    chart: "Payments per day, last 30 days",
    chart_text: "Bars: payments created each day; the darker part was paid.",
    test: "test",
    live: "live",
};

const RUSSIAN: Words = Words {
    period: "Период",
    today: "Сегодня",
    days_7: "7 дней",
    days_30: "30 дней",
    currency: "Валюта",
    mode: "Режим",
    payments: "Платежи",
    paid: "Оплачено",
    failed: "Неуспешно",
    success_rate: "Доля успешных",
    volume: "Оборот",
    refunded: "Возвращено",
    refunds: "Возвраты",
    nothing: "За этот период платежей нет.",
    chart: "Платежи по дням, последние 30 дней",
    chart_text: "Столбцы: платежи, созданные за день; тёмная часть — оплаченные.",
    test: "тест",
    live: "боевой",
};

const UKRAINIAN: Words = Words {
    period: "Період",
    today: "Сьогодні",
    days_7: "7 днів",
    days_30: "30 днів",
    currency: "Валюта",
    mode: "Режим",
    payments: "Платежі",
    paid: "Сплачено",
    failed: "Невдало",
    success_rate: "Частка успішних",
    volume: "Обіг",
    refunded: "Повернуто",
    refunds: "Повернення",
    nothing: "За цей період платежів немає.",
    chart: "Платежі за днями, останні 30 днів",
    chart_text: "Стовпці: платежі, створені за день; темна частина — сплачені.",
    test: "тест",
    live: "бойовий",
};

fn words(language: Language) -> &'static Words {
    pick(language, &ENGLISH, &RUSSIAN, &UKRAINIAN)
}

const DAY_SECONDS: i64 = 86_400;

/// The start of the UTC day `days - 1` days before today's.
fn period_start(now: Timestamp, days: i64) -> Timestamp {
    let today = now.unix_micros() / 1_000_000 / DAY_SECONDS;
    Timestamp::from_unix_seconds((today - (days - 1)) * DAY_SECONDS)
}

fn amount(minor: i64, totals: &PaymentTotals) -> String {
    Money::from_minor(minor, totals.currency)
        .map(|money| money.to_decimal_string())
        .unwrap_or_default()
}

/// The success rate: paid among those that ended (paid or failed); none when nothing ended.
fn success_rate(totals: &PaymentTotals) -> String {
    let ended = totals.paid + totals.failed;
    if ended == 0 {
        return "—".to_owned();
    }
    let tenths = (totals.paid * 1000 + ended / 2) / ended;
    format!("{}.{} %", tenths / 10, tenths % 10)
}

/// The last 30 days as bars, one per day, scaled to the busiest day.
fn chart(days: &[DailyCount], first_day: i64, title: &str) -> Markup {
    const WIDTH: i64 = 600;
    const HEIGHT: i64 = 160;
    const DAYS: i64 = 30;
    let by_day: HashMap<i64, &DailyCount> = days.iter().map(|day| (day.day, day)).collect();
    let most = days.iter().map(|day| day.count).max().unwrap_or(0).max(1);
    let bar = WIDTH / DAYS;
    html! {
        svg xmlns="http://www.w3.org/2000/svg" viewBox=(format!("0 0 {WIDTH} {}", HEIGHT + 20)) width="100%" role="img" aria-label=(title) {
            title { (title) }
            line x1="0" y1=(HEIGHT) x2=(WIDTH) y2=(HEIGHT) stroke="#8a94a3" stroke-width="1" {}
            @for offset in 0..DAYS {
                @if let Some(day) = by_day.get(&(first_day + offset)) {
                    @let total = day.count * HEIGHT / most;
                    @let paid = day.paid * HEIGHT / most;
                    rect x=(offset * bar + 2) y=(HEIGHT - total) width=(bar - 4) height=(total) fill="#9bb7e6" {
                        title { (day.count) " / " (day.paid) }
                    }
                    rect x=(offset * bar + 2) y=(HEIGHT - paid) width=(bar - 4) height=(paid) fill="#0b57d0" {}
                }
            }
            text x="0" y=(HEIGHT + 15) font-size="11" fill="#444" { "−29" }
            text x=(WIDTH - 30) y=(HEIGHT + 15) font-size="11" fill="#444" { "0" }
        }
    }
}

pub(crate) async fn page(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let staff =
        match session::staff(&state, &headers, query.get("lang").map(String::as_str), ip).await {
            Ok(staff) => staff,
            Err(denied) => return denied.into_response(),
        };
    let days: i64 = match query.get("period").map(String::as_str) {
        Some("1") => 1,
        Some("30") => 30,
        _ => 7,
    };
    let now = state.clock.now();
    let since = period_start(now, days);
    let chart_since = period_start(now, 30);
    let reseller = staff.manager.reseller_id;
    let read = state
        .store
        .read(move |db| {
            Box::pin(async move {
                let subtree = tenancy::get_reseller(db, reseller).await?.ancestry.encode();
                let totals = stats::payment_totals(db, &subtree, since).await?;
                let daily = stats::daily_counts(db, &subtree, chart_since).await?;
                Ok((totals, daily))
            })
        })
        .await;
    let (totals, daily) = match read {
        Ok(read) => read,
        Err(error) => return layout::store_error(&error),
    };
    let path = format!("/dashboard?period={days}");
    let frame = staff.frame(&path);
    let shared = frame.words();
    let words = words(staff.language);
    let first_day = chart_since.unix_micros() / 1_000_000 / DAY_SECONDS;
    let body = html! {
        form.filters method="get" action="/dashboard" {
            label for="period" { (words.period) }
            select id="period" name="period" {
                option value="1" selected[days == 1] { (words.today) }
                option value="7" selected[days == 7] { (words.days_7) }
                option value="30" selected[days == 30] { (words.days_30) }
            }
            button.secondary type="submit" { "OK" }
        }
        @if totals.is_empty() {
            p { (words.nothing) }
        } @else {
            div.table {
                table {
                    thead { tr {
                        th scope="col" { (words.currency) }
                        th scope="col" { (words.mode) }
                        th.num scope="col" { (words.payments) }
                        th.num scope="col" { (words.paid) }
                        th.num scope="col" { (words.failed) }
                        th.num scope="col" { (words.success_rate) }
                        th.num scope="col" { (words.volume) }
                        th.num scope="col" { (words.refunds) }
                        th.num scope="col" { (words.refunded) }
                    } }
                    tbody {
                        @for row in &totals {
                            tr {
                                td { (row.currency.code()) }
                                td { (if row.test_mode { words.test } else { words.live }) }
                                td.num { (row.count) }
                                td.num { (row.paid) }
                                td.num { (row.failed) }
                                td.num { (success_rate(row)) }
                                td.num { (amount(row.volume_minor, row)) }
                                td.num { (row.refunds) }
                                td.num { (amount(row.refunded_minor, row)) }
                            }
                        }
                    }
                }
            }
        }
        h2 { (words.chart) }
        div.card {
            (chart(&daily, first_day, words.chart))
            p { small { (words.chart_text) } }
        }
    };
    layout::respond(
        StatusCode::OK,
        layout::document(&frame, shared.overview, body),
    )
}
