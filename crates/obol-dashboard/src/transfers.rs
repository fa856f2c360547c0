//! P2P transfers (SPEC §7), newest first, by cursor pages, filtered by status. P2P clients
//! belong to no reseller: they are the operator's, so only managers of the operator's root
//! reseller (1) see them; anyone else finds the page empty of them (404).

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::html;
use obol_core::money::Money;
use obol_core::time::Timestamp;
use obol_http::auth::ClientIp;
use obol_http::page::texts::Language;
use obol_http::state::AppState;
use obol_store::ops::stats;

use crate::layout;
use crate::session;
use crate::texts::pick;

/// Transfers per page.
const PAGE: i64 = 50;
/// The statuses the filter offers (the P2P seed's words).
const STATUSES: [&str; 6] = [
    "CREATED", "PENDING", "SUCCESS", "FAILED", "EXPIRED", "RETURNED",
];

struct Words {
    status: &'static str,
    all: &'static str,
    filter: &'static str,
    id: &'static str,
    client: &'static str,
    kind: &'static str,
    amount: &'static str,
    commission: &'static str,
    from: &'static str,
    to: &'static str,
    created: &'static str,
    none: &'static str,
    next: &'static str,
}

const ENGLISH: Words = Words {
    status: "Status",
    all: "All",
    filter: "Filter",
    id: "Transfer",
    client: "Client",
    kind: "Kind",
    amount: "Amount",
    commission: "Commission",
    from: "From card",
    to: "To card",
    created: "Created",
    none: "No transfers.",
    next: "Next page",
};

const RUSSIAN: Words = Words {
    status: "Статус",
    all: "Все",
    filter: "Показать",
    id: "Перевод",
    client: "Клиент",
    kind: "Тип",
    amount: "Сумма",
    commission: "Комиссия",
    from: "С карты",
    to: "На карту",
    created: "Создан",
    none: "Переводов нет.",
    next: "Следующая страница",
};

const UKRAINIAN: Words = Words {
    status: "Статус",
    all: "Усі",
    filter: "Показати",
    id: "Переказ",
    client: "Клієнт",
    kind: "Тип",
    amount: "Сума",
    commission: "Комісія",
    from: "З картки",
    to: "На картку",
    created: "Створено",
    none: "Переказів немає.",
    next: "Наступна сторінка",
};

fn words(language: Language) -> &'static Words {
    pick(language, &ENGLISH, &RUSSIAN, &UKRAINIAN)
}

/// A cursor: the last row's `created_at` (µs) and id.
fn parse_cursor(text: &str) -> Option<(Timestamp, String)> {
    let (at, id) = text.split_once('.')?;
    let at: i64 = at.parse().ok()?;
    (!id.is_empty() && id.len() <= 64).then(|| (Timestamp::from_unix_micros(at), id.to_owned()))
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
    let status = query
        .get("status")
        .filter(|status| STATUSES.contains(&status.as_str()))
        .cloned();
    let cursor = query.get("cursor").and_then(|text| parse_cursor(text));
    let path = match &status {
        Some(status) => format!("/dashboard/transfers?status={status}"),
        None => "/dashboard/transfers".to_owned(),
    };
    let frame = staff.frame(&path);
    if !staff.is_operator() {
        return layout::not_found(&frame);
    }
    let filter = status.clone();
    let rows = match state
        .store
        .read(move |db| {
            Box::pin(
                async move { stats::transfers_page(db, filter.as_deref(), cursor, PAGE + 1).await },
            )
        })
        .await
    {
        Ok(rows) => rows,
        Err(error) => return layout::store_error(&error),
    };
    let more = rows.len() as i64 > PAGE;
    let rows = &rows[..rows.len().min(PAGE as usize)];
    let next = more.then(|| rows.last()).flatten().map(|last| {
        let cursor = format!("{}.{}", last.created_at.unix_micros(), last.id);
        match &status {
            Some(status) => format!("/dashboard/transfers?status={status}&cursor={cursor}"),
            None => format!("/dashboard/transfers?cursor={cursor}"),
        }
    });
    let words = words(staff.language);
    let money = |minor: i64, currency| {
        Money::from_minor(minor, currency)
            .map(|money| money.to_decimal_string())
            .unwrap_or_default()
    };
    let body = html! {
        form.filters method="get" action="/dashboard/transfers" {
            div {
                label for="status" { (words.status) }
                select id="status" name="status" {
                    option value="" { (words.all) }
                    @for option in STATUSES {
                        option value=(option) selected[status.as_deref() == Some(option)] { (option) }
                    }
                }
            }
            button.secondary type="submit" { (words.filter) }
        }
        @if rows.is_empty() {
            p { (words.none) }
        } @else {
            div.table { table {
                thead { tr {
                    th scope="col" { (words.id) }
                    th scope="col" { (words.client) }
                    th scope="col" { (words.kind) }
                    th scope="col" { (words.status) }
                    th.num scope="col" { (words.amount) }
                    th.num scope="col" { (words.commission) }
                    th scope="col" { (words.from) }
                    th scope="col" { (words.to) }
                    th scope="col" { (words.created) }
                } }
                tbody {
                    @for row in rows {
                        tr {
                            td { code { (row.id) } }
                            td { (row.client_name) " (#" (row.client_id) ")" }
                            td { (row.kind) }
                            td { (row.status) }
                            td.num { (money(row.amount_minor, row.currency)) " " (row.currency.code()) }
                            td.num { (money(row.commission_minor, row.currency)) }
                            td { (row.card_from) }
                            td { (row.card_to.as_deref().unwrap_or("—")) }
                            td { (row.created_at.to_rfc3339_millis()) }
                        }
                    }
                }
            } }
        }
        @if let Some(next) = next {
            p { a href=(next) rel="next" { (words.next) } }
        }
    };
    layout::respond(
        StatusCode::OK,
        layout::document(&frame, frame.words().transfers, body),
    )
}
