//! The payments list (SPEC §7 "Dashboard contract": `GET /dashboard/payments` with `q`,
//! `status`, `mode`, `merchant_id`, `from`, `to`, and also `reseller_id`, `source`, `currency`,
//! `amount_from`, `amount_to`): the manager's subtree only, newest first, 50 a page by cursor;
//! each row links to the payment's page ([`crate::payment`]). The routes of the payments area
//! (this list, a payment's page and its actions, the reports) are gathered here.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use obol_core::Currency;
use obol_core::ids::PaymentId;
use obol_core::money::{Money, Precision};
use obol_core::payment::{PaymentStatus, Source};
use obol_core::time::Timestamp;
use obol_http::auth::ClientIp;
use obol_http::page::texts::Language;
use obol_http::routes::Routes;
use obol_http::state::AppState;
use obol_store::ops::search::{self, Cursor, PaymentFilter, SearchText};
use serde_json::{Map, Value, json};

use crate::layout;
use crate::login::operation;
use crate::session::{self, Staff};
use crate::texts;

/// Rows on a page of the list.
pub const PAGE_SIZE: i64 = 50;

pub(crate) struct Words {
    pub title: &'static str,
    pub search: &'static str,
    pub status: &'static str,
    pub mode: &'static str,
    pub merchant: &'static str,
    pub reseller: &'static str,
    pub source: &'static str,
    pub currency: &'static str,
    pub amount_from: &'static str,
    pub amount_to: &'static str,
    pub from: &'static str,
    pub to: &'static str,
    pub any: &'static str,
    pub apply: &'static str,
    pub next: &'static str,
    pub first: &'static str,
    pub none: &'static str,
    pub created: &'static str,
    pub payment: &'static str,
    pub reference: &'static str,
    pub amount: &'static str,
    pub method: &'static str,
    pub test: &'static str,
    pub live: &'static str,
    pub invalid_filter: &'static str,
}

const ENGLISH: Words = Words {
    title: "Payments",
    search: "Search (id, reference, document, order, provider id, email, card last 4)",
    status: "Status",
    mode: "Mode",
    merchant: "Merchant id",
    reseller: "Reseller id",
    source: "Source",
    currency: "Currency",
    amount_from: "Amount from",
    amount_to: "Amount to",
    from: "Created from",
    to: "Created to",
    any: "any",
    apply: "Show",
    next: "Next page",
    first: "First page",
    none: "No payments.",
    created: "Created (UTC)",
    payment: "Payment",
    reference: "Reference",
    amount: "Amount",
    method: "Method",
    test: "test",
    live: "live",
    invalid_filter: "A filter is not valid: dates are YYYY-MM-DD, amounts need a currency.",
};

const RUSSIAN: Words = Words {
    title: "Платежи",
    search: "Поиск (id, reference, документ, заказ, id провайдера, email, последние 4 цифры карты)",
    status: "Статус",
    mode: "Режим",
    merchant: "Id мерчанта",
    reseller: "Id реселлера",
    source: "Источник",
    currency: "Валюта",
    amount_from: "Сумма от",
    amount_to: "Сумма до",
    from: "Создан с",
    to: "Создан по",
    any: "любой",
    apply: "Показать",
    next: "Следующая страница",
    first: "Первая страница",
    none: "Платежей нет.",
    created: "Создан (UTC)",
    payment: "Платёж",
    reference: "Reference",
    amount: "Сумма",
    method: "Метод",
    test: "тест",
    live: "боевой",
    invalid_filter: "Фильтр неверен: даты в формате ГГГГ-ММ-ДД, для суммы нужна валюта.",
};

const UKRAINIAN: Words = Words {
    title: "Платежі",
    search: "Пошук (id, reference, документ, замовлення, id провайдера, email, останні 4 цифри картки)",
    status: "Статус",
    mode: "Режим",
    merchant: "Id мерчанта",
    reseller: "Id реселера",
    source: "Джерело",
    currency: "Валюта",
    amount_from: "Сума від",
    amount_to: "Сума до",
    from: "Створено з",
    to: "Створено по",
    any: "будь-який",
    apply: "Показати",
    next: "Наступна сторінка",
    first: "Перша сторінка",
    none: "Платежів немає.",
    created: "Створено (UTC)",
    payment: "Платіж",
    reference: "Reference",
    amount: "Сума",
    method: "Метод",
    test: "тест",
    live: "бойовий",
    invalid_filter: "Фільтр невірний: дати у форматі РРРР-ММ-ДД, для суми потрібна валюта.",
};

pub(crate) fn words(language: Language) -> &'static Words {
    texts::pick(language, &ENGLISH, &RUSSIAN, &UKRAINIAN)
}

/// The routes of the payments area.
pub fn routes() -> Routes {
    Routes::new()
        .get("/dashboard/payments", list)
        .get("/dashboard/payments/{id}", crate::payment::page)
        .post("/dashboard/payments/{id}/refund", crate::payment::refund)
        .post(
            "/dashboard/payments/{id}/complete",
            crate::payment::complete,
        )
        .post("/dashboard/payments/{id}/capture", crate::payment::capture)
        .post("/dashboard/payments/{id}/cancel", crate::payment::cancel)
        .post(
            "/dashboard/callbacks/{delivery_id}/replay",
            crate::payment::replay,
        )
        .get("/dashboard/reports", crate::reports::page)
        .get(
            "/dashboard/reports/transactions.csv",
            crate::reports::transactions,
        )
}

/// `YYYY-MM-DD HH:MM:SS` in UTC.
pub(crate) fn when(at: Timestamp) -> String {
    let fields = at.to_utc_fields();
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        fields.year, fields.month, fields.day, fields.hour, fields.minute, fields.second
    )
}

/// The start of a `YYYY-MM-DD` day, UTC.
pub(crate) fn day(text: &str) -> Option<Timestamp> {
    let bytes = text.as_bytes();
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    let year = text.get(0..4)?.parse().ok()?;
    let month = text.get(5..7)?.parse().ok()?;
    let day = text.get(8..10)?.parse().ok()?;
    Timestamp::from_utc_fields(year, month, day, 0, 0, 0, 0)
}

/// A query parameter, when given and not empty.
pub(crate) fn given<'a>(query: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    query
        .get(name)
        .map(|value| value.trim())
        .filter(|value| !value.is_empty())
}

/// The filter a query asks for, in `staff`'s subtree; `None` when a value cannot be read.
pub(crate) fn filter_of(staff: &Staff, query: &HashMap<String, String>) -> Option<PaymentFilter> {
    let number = |name: &str| -> Option<Option<i64>> {
        match given(query, name) {
            None => Some(None),
            Some(text) => text.parse().ok().map(Some),
        }
    };
    let currency = match given(query, "currency") {
        None => None,
        Some(code) => Some(Currency::parse_case_insensitive(code).ok()?),
    };
    let amount = |name: &str| -> Option<Option<i64>> {
        match (given(query, name), currency) {
            (None, _) => Some(None),
            (Some(text), Some(currency)) => {
                Money::parse_decimal_with(text, currency, Precision::AllowTrailingZeros)
                    .ok()
                    .map(|money| Some(money.minor()))
            }
            (Some(_), None) => None,
        }
    };
    let to = match given(query, "to") {
        None => None,
        Some(text) => Some(day(text)?.plus_seconds(86_400)),
    };
    Some(PaymentFilter {
        scope: staff.ancestry.encode(),
        search: given(query, "q").and_then(SearchText::parse),
        status: match given(query, "status") {
            None => None,
            Some(text) => Some(PaymentStatus::parse(text)?),
        },
        test_mode: match given(query, "mode") {
            None => None,
            Some("test") => Some(true),
            Some("live") => Some(false),
            Some(_) => return None,
        },
        merchant_id: number("merchant_id")?,
        reseller_id: number("reseller_id")?,
        source: match given(query, "source") {
            None => None,
            Some(text) => Some(Source::parse(text)?),
        },
        currency,
        amount_min: amount("amount_from")?,
        amount_max: amount("amount_to")?,
        created_from: match given(query, "from") {
            None => None,
            Some(text) => Some(day(text)?),
        },
        created_before: to,
    })
}

/// A cursor as a link carries it: `{created_at micros}.{payment id}`.
fn cursor_text(cursor: &Cursor) -> String {
    format!("{}.{}", cursor.created_at.unix_micros(), cursor.id.as_str())
}

fn cursor_of(text: &str) -> Option<Cursor> {
    let (micros, id) = text.split_once('.')?;
    Some(Cursor {
        created_at: Timestamp::from_unix_micros(micros.parse().ok()?),
        id: PaymentId::parse(id).ok()?,
    })
}

/// The list's query string without `cursor` and `lang`, to carry into the next page's link.
fn kept_query(query: &HashMap<String, String>) -> Vec<(String, String)> {
    let mut kept: Vec<(String, String)> = query
        .iter()
        .filter(|(key, value)| {
            key.as_str() != "cursor" && key.as_str() != "lang" && !value.is_empty()
        })
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    kept.sort();
    kept
}

fn link(query: &[(String, String)], cursor: Option<&Cursor>) -> String {
    let mut pairs = query.to_vec();
    if let Some(cursor) = cursor {
        pairs.push(("cursor".to_owned(), cursor_text(cursor)));
    }
    let encoded = serde_urlencoded::to_string(&pairs).unwrap_or_default();
    if encoded.is_empty() {
        "/dashboard/payments".to_owned()
    } else {
        format!("/dashboard/payments?{encoded}")
    }
}

fn mode_name(words: &Words, test_mode: bool) -> &'static str {
    if test_mode { words.test } else { words.live }
}

fn filters(words: &Words, query: &HashMap<String, String>) -> Markup {
    let value = |name: &str| query.get(name).cloned().unwrap_or_default();
    let text_input = |name: &'static str, label: &'static str, kind: &'static str| {
        html! {
            div {
                label for=(name) { (label) }
                input id=(name) name=(name) type=(kind) value=(value(name));
            }
        }
    };
    html! {
        form.filters method="get" action="/dashboard/payments" {
            div {
                label for="q" { (words.search) }
                input id="q" name="q" type="search" size="30" value=(value("q"));
            }
            div {
                label for="status" { (words.status) }
                select id="status" name="status" {
                    option value="" { (words.any) }
                    @for status in PaymentStatus::ALL {
                        option value=(status.as_str()) selected[value("status") == status.as_str()] { (status.as_str()) }
                    }
                }
            }
            div {
                label for="mode" { (words.mode) }
                select id="mode" name="mode" {
                    option value="" { (words.any) }
                    option value="test" selected[value("mode") == "test"] { (words.test) }
                    option value="live" selected[value("mode") == "live"] { (words.live) }
                }
            }
            div {
                label for="source" { (words.source) }
                select id="source" name="source" {
                    option value="" { (words.any) }
                    @for source in Source::ALL {
                        option value=(source.as_str()) selected[value("source") == source.as_str()] { (source.as_str()) }
                    }
                }
            }
            (text_input("merchant_id", words.merchant, "number"))
            (text_input("reseller_id", words.reseller, "number"))
            (text_input("currency", words.currency, "text"))
            (text_input("amount_from", words.amount_from, "text"))
            (text_input("amount_to", words.amount_to, "text"))
            (text_input("from", words.from, "date"))
            (text_input("to", words.to, "date"))
            div { button type="submit" { (words.apply) } }
        }
    }
}

pub(crate) async fn list(
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
    let path = {
        let mut pairs = kept_query(&query);
        if let Some(cursor) = query.get("cursor") {
            pairs.push(("cursor".to_owned(), cursor.clone()));
        }
        let encoded = serde_urlencoded::to_string(&pairs).unwrap_or_default();
        format!("/dashboard/payments?{encoded}")
    };
    let frame = staff.frame(&path);
    let words = words(staff.language);
    let filter = filter_of(&staff, &query);
    let cursor = match given(&query, "cursor") {
        None => Some(None),
        Some(text) => cursor_of(text).map(Some),
    };
    let (Some(filter), Some(cursor)) = (filter, cursor) else {
        let body = html! {
            (filters(words, &query))
            p.error role="alert" { (words.invalid_filter) }
        };
        return layout::respond(
            StatusCode::BAD_REQUEST,
            layout::document(&frame, words.title, body),
        );
    };
    let read = state
        .store
        .read(move |db| {
            Box::pin(async move { search::payments(db, &filter, cursor.as_ref(), PAGE_SIZE).await })
        })
        .await;
    let page = match read {
        Ok(page) => page,
        Err(error) => return layout::store_error(&error),
    };
    let kept = kept_query(&query);
    let body = html! {
        (filters(words, &query))
        @if page.payments.is_empty() {
            p { (words.none) }
        } @else {
            div.table {
                table {
                    thead {
                        tr {
                            th scope="col" { (words.created) }
                            th scope="col" { (words.payment) }
                            th scope="col" { (words.merchant) }
                            th scope="col" { (words.reference) }
                            th scope="col" { (words.status) }
                            th scope="col" { (words.mode) }
                            th.num scope="col" { (words.amount) }
                            th scope="col" { (words.currency) }
                            th scope="col" { (words.method) }
                        }
                    }
                    tbody {
                        @for listed in &page.payments {
                            @let payment = &listed.payment;
                            tr {
                                td { (when(payment.created_at)) }
                                td { a href=(format!("/dashboard/payments/{}", payment.id.as_str())) { (payment.id.as_str()) } }
                                td {
                                    @if let Some(merchant) = payment.merchant_id {
                                        (merchant.get()) " "
                                    }
                                    (listed.merchant_name.as_deref().unwrap_or(""))
                                }
                                td { (payment.reference_id.as_deref().unwrap_or("")) }
                                td { (payment.status.as_str()) }
                                td { (mode_name(words, payment.test_mode)) }
                                td.num { (payment.amount.to_decimal_string()) }
                                td { (payment.amount.currency().code()) }
                                td { (listed.method_code.as_deref().unwrap_or("")) }
                            }
                        }
                    }
                }
            }
        }
        p {
            @if query.contains_key("cursor") {
                a href=(link(&kept, None)) { (words.first) } " "
            }
            @if let Some(next) = &page.next {
                a href=(link(&kept, Some(next))) rel="next" { (words.next) }
            }
        }
    };
    layout::respond(StatusCode::OK, layout::document(&frame, words.title, body))
}

fn query_parameter(name: &str, description: &str) -> Value {
    json!({ "name": name, "in": "query", "required": false, "description": description, "schema": { "type": "string" } })
}

fn path_parameter(name: &str, description: &str) -> Value {
    json!({ "name": name, "in": "path", "required": true, "description": description, "schema": { "type": "string" } })
}

/// The payments area in the OpenAPI document.
pub fn openapi_paths() -> Map<String, Value> {
    let mut paths = Map::new();
    let mut list = operation("Payments in the manager's subtree, filtered", None, true);
    list["parameters"] = json!([
        query_parameter("q", "Any id, customer email or card last 4"),
        query_parameter("status", "A core status name"),
        query_parameter("mode", "test or live"),
        query_parameter("merchant_id", "A merchant's id"),
        query_parameter("reseller_id", "A reseller's id"),
        query_parameter("source", "The door the payment came through"),
        query_parameter("currency", "ISO 4217 code"),
        query_parameter("amount_from", "Decimal, in the currency"),
        query_parameter("amount_to", "Decimal, in the currency"),
        query_parameter("from", "YYYY-MM-DD (UTC), inclusive"),
        query_parameter("to", "YYYY-MM-DD (UTC), inclusive"),
        query_parameter("cursor", "Where the page starts (from the Next link)"),
    ]);
    list["responses"]["400"] = json!({ "description": "A filter that cannot be read.", "content": { "text/html": { "schema": { "type": "string" } } } });
    paths.insert("/dashboard/payments".into(), json!({ "get": list }));
    let id = path_parameter("id", "The payment's id (cpi_…)");
    let mut detail = operation(
        "A payment: attributes, history, callbacks, ledger, audit",
        None,
        true,
    );
    detail["parameters"] = json!([id.clone()]);
    paths.insert("/dashboard/payments/{id}".into(), json!({ "get": detail }));
    for (action, fields, summary) in [
        (
            "refund",
            &["amount", "csrf_token"][..],
            "Refund a payment, all or part",
        ),
        (
            "complete",
            &["payment_method_id", "csrf_token"][..],
            "Complete a payment with an offline method",
        ),
        (
            "capture",
            &["csrf_token"][..],
            "Capture a two-stage payment's held money",
        ),
        (
            "cancel",
            &["csrf_token"][..],
            "Cancel a two-stage payment's hold",
        ),
    ] {
        let mut post = operation(summary, Some(fields), true);
        post["parameters"] = json!([id.clone()]);
        post["responses"]["422"] = json!({ "description": "The core refused: the page again with the error.", "content": { "text/html": { "schema": { "type": "string" } } } });
        paths.insert(
            format!("/dashboard/payments/{{id}}/{action}"),
            json!({ "post": post }),
        );
    }
    let mut replay = operation("Send a callback again", Some(&["csrf_token"]), true);
    replay["parameters"] = json!([path_parameter("delivery_id", "The callback's delivery id")]);
    paths.insert(
        "/dashboard/callbacks/{delivery_id}/replay".into(),
        json!({ "post": replay }),
    );
    paths.insert(
        "/dashboard/reports".into(),
        json!({ "get": operation("Reports", None, true) }),
    );
    let mut csv = operation("Transactions as CSV", None, true);
    csv["parameters"] = json!([
        { "name": "from", "in": "query", "required": true, "schema": { "type": "string", "format": "date" } },
        { "name": "to", "in": "query", "required": true, "schema": { "type": "string", "format": "date" } },
        query_parameter("merchant_id", "Only this merchant"),
    ]);
    csv["responses"]["200"] = json!({ "description": "One row per payment created in the range.", "content": { "text/csv": { "schema": { "type": "string" } } } });
    csv["responses"]["400"] = json!({ "description": "The range cannot be read.", "content": { "text/html": { "schema": { "type": "string" } } } });
    paths.insert(
        "/dashboard/reports/transactions.csv".into(),
        json!({ "get": csv }),
    );
    paths
}
