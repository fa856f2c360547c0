//! Reports (SPEC §7): the transactions of a date range as CSV, one row per payment created in
//! it (inclusive days, UTC), in the manager's subtree, optionally one merchant's. The answer
//! is streamed: pages are read by keyset one after another while the client reads, so there
//! is no row cap and the file is never held whole in memory.

use std::collections::HashMap;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use maud::html;
use obol_core::money::Money;
use obol_http::auth::ClientIp;
use obol_http::page::texts::Language;
use obol_http::state::AppState;
use obol_store::ops::search::{self, Cursor, ListedPayment, PaymentFilter};

use crate::layout;
use crate::payments::{day, given, when};
use crate::session;
use crate::texts;

/// Payments read per page of the stream.
const PAGE_ROWS: i64 = 500;

/// The CSV's columns: the contract's first, then ours.
pub const HEADER: &str = "payment_id,created_at,merchant_id,reference_id,status,mode,amount,currency,fee,processed_amount,refunded_amount,method,merchant_name,description\r\n";

struct Words {
    title: &'static str,
    transactions: &'static str,
    from: &'static str,
    to: &'static str,
    merchant: &'static str,
    download: &'static str,
    invalid: &'static str,
}

const ENGLISH: Words = Words {
    title: "Reports",
    transactions: "Transactions (CSV), one row per payment created in the range (UTC days, inclusive).",
    from: "From",
    to: "To",
    merchant: "Merchant id (optional)",
    download: "Download",
    invalid: "Give both dates as YYYY-MM-DD, the first not after the second.",
};

const RUSSIAN: Words = Words {
    title: "Отчёты",
    transactions: "Транзакции (CSV), строка на каждый платёж, созданный в периоде (дни UTC, включительно).",
    from: "С",
    to: "По",
    merchant: "Id мерчанта (необязательно)",
    download: "Скачать",
    invalid: "Укажите обе даты в формате ГГГГ-ММ-ДД, первую не позже второй.",
};

const UKRAINIAN: Words = Words {
    title: "Звіти",
    transactions: "Транзакції (CSV), рядок на кожен платіж, створений у періоді (дні UTC, включно).",
    from: "З",
    to: "По",
    merchant: "Id мерчанта (необов'язково)",
    download: "Завантажити",
    invalid: "Вкажіть обидві дати у форматі РРРР-ММ-ДД, першу не пізніше другої.",
};

fn words(language: Language) -> &'static Words {
    texts::pick(language, &ENGLISH, &RUSSIAN, &UKRAINIAN)
}

fn form(words: &Words, error: Option<&str>) -> maud::Markup {
    html! {
        p { (words.transactions) }
        @if let Some(error) = error {
            p.error role="alert" { (error) }
        }
        form.filters method="get" action="/dashboard/reports/transactions.csv" {
            div { label for="from" { (words.from) } input id="from" name="from" type="date" required; }
            div { label for="to" { (words.to) } input id="to" name="to" type="date" required; }
            div { label for="merchant_id" { (words.merchant) } input id="merchant_id" name="merchant_id" type="number"; }
            div { button type="submit" { (words.download) } }
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
    let frame = staff.frame("/dashboard/reports");
    let words = words(staff.language);
    layout::respond(
        StatusCode::OK,
        layout::document(&frame, words.title, form(words, None)),
    )
}

/// One CSV field (RFC 4180): quoted when it holds a comma, a quote or a line break; a text
/// that a spreadsheet would take for a formula (`=`, `+`, `-`, `@`, tab, carriage return
/// first) starts with `'` so that it stays text.
pub fn field(value: &str) -> String {
    let neutralised = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if neutralised.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", neutralised.replace('"', "\"\""))
    } else {
        neutralised
    }
}

/// An amount: decimal text, never a formula (amounts are never negative; a negative one
/// would still be a number).
fn amount(money: Money) -> String {
    money.to_decimal_string()
}

fn row(listed: &ListedPayment) -> String {
    let payment = &listed.payment;
    let columns = [
        field(payment.id.as_str()),
        field(&when(payment.created_at)),
        field(
            &payment
                .merchant_id
                .map(|id| id.get().to_string())
                .unwrap_or_default(),
        ),
        field(payment.reference_id.as_deref().unwrap_or("")),
        field(payment.status.as_str()),
        field(payment.mode().as_str()),
        amount(payment.amount),
        field(payment.amount.currency().code()),
        amount(payment.fee),
        amount(payment.processed_amount),
        amount(payment.refunded_amount),
        field(listed.method_code.as_deref().unwrap_or("")),
        field(listed.merchant_name.as_deref().unwrap_or("")),
        field(payment.description.as_deref().unwrap_or("")),
    ];
    let mut line = columns.join(",");
    line.push_str("\r\n");
    line
}

/// Where the stream stands: the next page's start, or done.
enum Next {
    Header,
    Page(Option<Cursor>),
    Done,
}

pub(crate) async fn transactions(
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
    let words = words(staff.language);
    let from = given(&query, "from").and_then(day);
    let to = given(&query, "to").and_then(day);
    let merchant = match given(&query, "merchant_id") {
        None => Some(None),
        Some(text) => text.parse::<i64>().ok().map(Some),
    };
    let (Some(from), Some(to), Some(merchant_id)) = (from, to, merchant) else {
        let frame = staff.frame("/dashboard/reports");
        return layout::respond(
            StatusCode::BAD_REQUEST,
            layout::document(&frame, words.title, form(words, Some(words.invalid))),
        );
    };
    if to < from {
        let frame = staff.frame("/dashboard/reports");
        return layout::respond(
            StatusCode::BAD_REQUEST,
            layout::document(&frame, words.title, form(words, Some(words.invalid))),
        );
    }
    let filter = PaymentFilter {
        scope: staff.ancestry.encode(),
        merchant_id,
        created_from: Some(from),
        created_before: Some(to.plus_seconds(86_400)),
        ..PaymentFilter::default()
    };
    let body = stream::unfold(Next::Header, move |next| {
        let state = state.clone();
        let filter = filter.clone();
        async move {
            let after = match next {
                Next::Done => return None,
                Next::Header => {
                    return Some((Ok(Bytes::from_static(HEADER.as_bytes())), Next::Page(None)));
                }
                Next::Page(after) => after,
            };
            let read = state
                .store
                .read(move |db| {
                    Box::pin(async move {
                        search::payments(db, &filter, after.as_ref(), PAGE_ROWS).await
                    })
                })
                .await;
            match read {
                Ok(page) => {
                    let chunk: String = page.payments.iter().map(row).collect();
                    let next = match page.next {
                        Some(cursor) => Next::Page(Some(cursor)),
                        None => Next::Done,
                    };
                    Some((Ok(Bytes::from(chunk)), next))
                }
                Err(error) => {
                    // Headers are gone: the client sees a cut answer, never a complete-looking file.
                    tracing::error!(%error, "the transactions report could not read its next page");
                    Some((Err(std::io::Error::other("the report stopped")), Next::Done))
                }
            }
        }
    });
    let name = format!(
        "attachment; filename=\"transactions-{}-{}.csv\"",
        given(&query, "from").unwrap_or_default(),
        given(&query, "to").unwrap_or_default()
    );
    let mut response = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
        Body::from_stream(body),
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&name) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::field;

    #[test]
    fn fields_are_quoted_and_formulas_neutralised() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("two\nlines"), "\"two\nlines\"");
        assert_eq!(field("=1+2"), "'=1+2");
        assert_eq!(field("+7"), "'+7");
        assert_eq!(field("-3"), "'-3");
        assert_eq!(field("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(field("=a,b"), "\"'=a,b\"");
    }
}
