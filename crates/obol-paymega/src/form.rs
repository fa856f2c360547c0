//! The HTML form (`POST /public-api/payment-invoices/process`) and the hosted page's checkout
//! parameters (`GET /hpp/?public_key=…&amount=…&currency=…`): a customer's browser creates an
//! invoice and is sent (303) to the hosted page. Errors are pages a person can read, in the
//! customer's language, never JSON.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use obol_core::payment::Source;
use serde_json::{Map, Value, json};

use super::{ClientIp, merchant_from_public_key, wire};
use crate::invoices::{self, Created, InvoiceError, Problem};
use maud::html;
use obol_http::page::render::{self, Frame};
use obol_http::page::texts::Language;
use obol_http::state::AppState;

/// The page language: the form's `locale`, else the browser's first language, else English.
pub fn language(locale: Option<&str>, headers: &HeaderMap) -> &'static str {
    let pick = |text: &str| match text.get(..2).map(str::to_ascii_lowercase).as_deref() {
        Some("ru") => Some("ru"),
        Some("uk") => Some("uk"),
        Some("en") => Some("en"),
        _ => None,
    };
    locale
        .and_then(pick)
        .or_else(|| {
            headers
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|value| value.to_str().ok())
                .and_then(|text| text.split(',').find_map(|part| pick(part.trim())))
        })
        .unwrap_or("en")
}

fn texts(
    language: &str,
) -> (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
) {
    // (title, unauthorized, forbidden, invalid, internal)
    match language {
        "ru" => (
            "Не удалось создать платёж",
            "Магазин не найден: проверьте публичный ключ.",
            "Магазин не принимает платежи через эту форму.",
            "Проверьте данные платежа:",
            "Внутренняя ошибка. Попробуйте позже.",
        ),
        "uk" => (
            "Не вдалося створити платіж",
            "Магазин не знайдено: перевірте публічний ключ.",
            "Магазин не приймає платежі через цю форму.",
            "Перевірте дані платежу:",
            "Внутрішня помилка. Спробуйте пізніше.",
        ),
        _ => (
            "The payment could not be created",
            "The shop was not found: check the public key.",
            "The shop does not accept payments through this form.",
            "Please check the payment details:",
            "Internal error. Please try again later.",
        ),
    }
}

/// The page for a client refused after too many unknown public keys (429).
fn too_many_attempts(language: &str) -> &'static str {
    match language {
        "ru" => "Слишком много неудачных попыток. Попробуйте позже.",
        "uk" => "Забагато невдалих спроб. Спробуйте пізніше.",
        _ => "Too many failed attempts. Please try again later.",
    }
}

fn problem_text(language: &str, problem: &Problem) -> &'static str {
    match (language, problem) {
        ("ru", Problem::LivePublicKey) => {
            "нельзя задать с боевым публичным ключом: только боевые счета"
        }
        ("uk", Problem::LivePublicKey) => {
            "не можна задати з бойовим публічним ключем: лише бойові рахунки"
        }
        (_, Problem::LivePublicKey) => "cannot be set with a live public key: live invoices only",
        ("ru", Problem::Required) => "обязательное поле",
        ("uk", Problem::Required) => "обов'язкове поле",
        (_, Problem::Required) => "is required",
        ("ru", Problem::NotPositive) => "должно быть больше 0",
        ("uk", Problem::NotPositive) => "має бути більше 0",
        (_, Problem::NotPositive) => "must be greater than 0",
        ("ru", Problem::BelowMinimum(_) | Problem::AboveMaximum(_)) => "вне допустимых пределов",
        ("uk", Problem::BelowMinimum(_) | Problem::AboveMaximum(_)) => "поза допустимими межами",
        (_, Problem::BelowMinimum(_) | Problem::AboveMaximum(_)) => "is outside the allowed limits",
        ("ru", _) => "неверное значение",
        ("uk", _) => "невірне значення",
        (_, _) => "is not valid",
    }
}

/// A refused form's page, in the hosted pages' frame (escaped by its templates).
fn error_page(status: StatusCode, language: &str, message: &str, details: &[String]) -> Response {
    let (title, ..) = texts(language);
    let frame = Frame {
        language: Language::parse(language).unwrap_or(Language::English),
        summary: None,
        dark: false,
        payment_id: "",
        csrf_token: "",
        // No invoice exists yet: nothing to switch languages on, no mode to show.
        test_mode: false,
        here: None,
    };
    let body = html! {
        p role="alert" { (message) }
        @if !details.is_empty() {
            ul { @for detail in details { li { (detail) } } }
        }
    };
    let html = render::document(&frame, title, body);
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert("content-security-policy", HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"));
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn redirect_to_page(state: &AppState, payment_id: &str, language: Option<&str>) -> Response {
    let lang = language
        .map(|language| format!("&lang={language}"))
        .unwrap_or_default();
    let location = format!("{}/hpp/?cpi={payment_id}{lang}", state.public_url);
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// The checkout options kept for the hosted page (`show_methods[]`, `hide_methods[]`, `theme`).
fn page_options(object: &Map<String, Value>) -> Option<String> {
    let list = |key: &str| match object.get(key) {
        Some(Value::Array(items)) => items.clone(),
        Some(Value::String(text)) => vec![Value::String(text.clone())],
        _ => Vec::new(),
    };
    let (show, hide) = (list("show_methods"), list("hide_methods"));
    let theme = object
        .get("theme")
        .and_then(Value::as_str)
        .filter(|theme| matches!(*theme, "light" | "dark"));
    if show.is_empty() && hide.is_empty() && theme.is_none() {
        return None;
    }
    Some(json!({ "show_methods": show, "hide_methods": hide, "theme": theme }).to_string())
}

/// Creates an invoice from form or query pairs and sends the browser to its page.
pub async fn create_and_redirect(
    state: &AppState,
    pairs: &[(String, String)],
    headers: &HeaderMap,
    ip: Option<String>,
) -> Response {
    let object = wire::form_to_object(pairs);
    let locale = object
        .get("locale")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let language = language(locale.as_deref(), headers);
    let (_, unauthorized, forbidden, invalid, internal) = texts(language);
    let merchant = match merchant_from_public_key(
        state,
        ip.as_deref(),
        object.get("public_key").and_then(Value::as_str),
    )
    .await
    {
        Ok(merchant) => merchant,
        Err(super::errors::PaymegaError::Unauthorized) => {
            return error_page(StatusCode::UNAUTHORIZED, language, unauthorized, &[]);
        }
        Err(super::errors::PaymegaError::TooManyRequests { retry_after_s }) => {
            let mut page = error_page(
                StatusCode::TOO_MANY_REQUESTS,
                language,
                too_many_attempts(language),
                &[],
            );
            page.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_s));
            return page;
        }
        Err(_) => {
            return error_page(StatusCode::INTERNAL_SERVER_ERROR, language, internal, &[]);
        }
    };
    let mut request = match wire::invoice_from_object(&object) {
        Ok(request) => request,
        Err(super::errors::PaymegaError::Unprocessable(fields)) => {
            let details: Vec<String> = fields
                .keys()
                .map(|field| format!("{field}: {}", problem_text(language, &Problem::Invalid)))
                .collect();
            return error_page(
                StatusCode::UNPROCESSABLE_ENTITY,
                language,
                invalid,
                &details,
            );
        }
        Err(_) => return error_page(StatusCode::BAD_REQUEST, language, invalid, &[]),
    };
    request.page_options = page_options(&object);
    request.requester_ip = ip;
    let page_language = locale
        .as_deref()
        .and_then(|locale| matches!(locale, "en" | "ru" | "uk").then_some(locale));
    match invoices::create(state, &merchant, request, Source::Form, None).await {
        Ok(Created::New(payment)) => redirect_to_page(state, payment.id.as_str(), page_language),
        Ok(Created::Replayed(_)) => {
            error_page(StatusCode::INTERNAL_SERVER_ERROR, language, internal, &[])
        }
        // The customer submitted the same checkout again: take them to the invoice it made.
        Err(InvoiceError::Duplicate(existing)) => {
            redirect_to_page(state, existing.id.as_str(), page_language)
        }
        Err(InvoiceError::PublicAccessForbidden) => {
            error_page(StatusCode::FORBIDDEN, language, forbidden, &[])
        }
        Err(InvoiceError::DuplicateHidden) => error_page(
            StatusCode::CONFLICT,
            language,
            invalid,
            &[format!(
                "reference_id: {}",
                problem_text(language, &Problem::Invalid)
            )],
        ),
        Err(InvoiceError::Invalid(problems)) => {
            let details: Vec<String> = problems
                .iter()
                .map(|(field, problem)| format!("{field}: {}", problem_text(language, problem)))
                .collect();
            error_page(
                StatusCode::UNPROCESSABLE_ENTITY,
                language,
                invalid,
                &details,
            )
        }
        Err(InvoiceError::Store(error)) => {
            tracing::error!(%error, "storage failed while creating an invoice from a form");
            error_page(StatusCode::INTERNAL_SERVER_ERROR, language, internal, &[])
        }
    }
}

/// `POST /public-api/payment-invoices/process`.
pub async fn process(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body) {
        Ok(pairs) => create_and_redirect(&state, &pairs, &headers, ip).await,
        Err(_) => {
            let language = language(None, &headers);
            error_page(StatusCode::BAD_REQUEST, language, texts(language).3, &[])
        }
    }
}
