//! The frame every dashboard page shares: the document, the navigation by role, the language
//! switch, sign-out, and the answers for errors. Rendered with `maud`: every value is escaped
//! unless a page says otherwise.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use obol_core::tenancy::{Permission, Role};
use obol_http::page::texts::Language;
use obol_store::StoreError;

use crate::session::Staff;
use crate::texts::{self, Words};

/// What the frame of one page knows.
pub struct Frame<'a> {
    pub language: Language,
    /// `None` on the sign-in page.
    pub staff: Option<&'a Staff>,
    /// The page's path (with its query), for the language switch.
    pub path: &'a str,
}

impl Frame<'_> {
    pub fn words(&self) -> &'static Words {
        texts::words(self.language)
    }

    /// A hidden CSRF input for this session's forms.
    pub fn csrf(&self) -> Markup {
        html! {
            @if let Some(staff) = self.staff {
                input type="hidden" name="csrf_token" value=(staff.csrf_token);
            }
        }
    }
}

const STYLE: &str = "\
*{box-sizing:border-box}\
body{margin:0;font:16px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1a1a1a;background:#f6f7f9}\
a{color:#0b57d0}a:focus,button:focus,input:focus,select:focus{outline:3px solid #f2a900;outline-offset:1px}\
header{background:#12263f;color:#fff;padding:.5rem 1rem;display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center}\
header a{color:#fff}header .brand{font-weight:700;margin-right:auto}\
header form{margin:0}header button{background:none;border:1px solid #fff;color:#fff;border-radius:4px;padding:.2rem .6rem;cursor:pointer}\
nav{background:#fff;border-bottom:1px solid #d9dde3;padding:.25rem 1rem}\
nav ul{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:.25rem 1rem}\
nav a[aria-current]{font-weight:700;text-decoration:none;color:#1a1a1a}\
main{padding:1rem;max-width:1200px;margin:0 auto}\
h1{font-size:1.5rem;margin:.5rem 0 1rem}h2{font-size:1.15rem;margin:1.5rem 0 .5rem}\
.table{overflow-x:auto;background:#fff;border:1px solid #d9dde3;border-radius:6px}\
table{border-collapse:collapse;width:100%;font-size:.92rem}\
th,td{padding:.45rem .6rem;border-bottom:1px solid #eceff3;text-align:left;vertical-align:top;white-space:nowrap}\
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}\
form.inline{display:inline}\
label{display:block;font-weight:600;margin:.5rem 0 .2rem}\
input,select{font:inherit;padding:.4rem .5rem;border:1px solid #8a94a3;border-radius:4px;max-width:100%}\
button{font:inherit;padding:.45rem .9rem;border-radius:4px;border:1px solid #0b57d0;background:#0b57d0;color:#fff;cursor:pointer}\
button.secondary{background:#fff;color:#0b57d0}\
.filters{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:flex-end;margin-bottom:1rem}\
.filters label{margin:0;font-size:.85rem}\
.error{color:#b3261e;font-weight:600}.notice{background:#e8f0fe;border:1px solid #0b57d0;padding:.6rem .8rem;border-radius:4px}\
.secret{font-family:ui-monospace,monospace;background:#fff8e1;border:1px solid #f2a900;padding:.5rem;word-break:break-all}\
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;background:#fff;border:1px solid #d9dde3;padding:.8rem;border-radius:6px}\
dl.facts dt{font-weight:600}dl.facts dd{margin:0;word-break:break-word}\
.card{background:#fff;border:1px solid #d9dde3;border-radius:6px;padding:.8rem 1rem;margin-bottom:1rem}\
@media (max-width:600px){main{padding:.6rem}th,td{padding:.35rem .4rem}dl.facts{grid-template-columns:1fr}}";

/// The sections in the navigation, with what a manager needs to see each.
fn sections(words: &Words) -> [(&'static str, &'static str, Option<Permission>); 11] {
    [
        ("/dashboard", words.overview, None),
        ("/dashboard/payments", words.payments, None),
        ("/dashboard/transfers", words.transfers, None),
        ("/dashboard/refund-requests", words.refund_requests, None),
        ("/dashboard/merchants", words.merchants, None),
        ("/dashboard/resellers", words.resellers, None),
        (
            "/dashboard/managers",
            words.managers,
            Some(Permission::ManageManagers),
        ),
        ("/dashboard/p2p-clients", words.p2p_clients, None),
        ("/dashboard/balances", words.balances, None),
        ("/dashboard/audit", words.audit, None),
        ("/dashboard/reports", words.reports, None),
    ]
}

/// The sections of the operator's own (P2P clients and transfers belong to no reseller).
fn operator_only(href: &str) -> bool {
    matches!(href, "/dashboard/transfers" | "/dashboard/p2p-clients")
}

/// The name of a role in the page's language.
pub fn role_name(words: &Words, role: Role) -> &'static str {
    match role {
        Role::Admin => words.role_admin,
        Role::Manager => words.role_manager,
        Role::Viewer => words.role_viewer,
    }
}

/// `path` with `lang` set (the language switch).
fn with_language(path: &str, language: Language) -> String {
    let (base, query) = path.split_once('?').unwrap_or((path, ""));
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| !pair.is_empty() && !pair.starts_with("lang="))
        .collect();
    let mut url = format!("{base}?");
    for pair in kept {
        url.push_str(pair);
        url.push('&');
    }
    url.push_str("lang=");
    url.push_str(language.code());
    url
}

/// A whole page.
pub fn document(frame: &Frame<'_>, title: &str, body: Markup) -> String {
    let words = frame.words();
    let current = frame.path.split('?').next().unwrap_or_default();
    html! {
        (DOCTYPE)
        html lang=(frame.language.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (title) " · " (words.title) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    span.brand { a href="/dashboard" { (words.title) } }
                    @if let Some(staff) = frame.staff {
                        span { (words.signed_in_as) " " strong { (staff.manager.name.as_str()) } " (" (role_name(words, staff.manager.role)) ")" }
                    }
                    span aria-label=(words.language) {
                        @for language in [Language::English, Language::Russian, Language::Ukrainian] {
                            " "
                            @if language == frame.language {
                                strong lang=(language.code()) { (language.code()) }
                            } @else {
                                a href=(with_language(frame.path, language)) lang=(language.code()) hreflang=(language.code()) { (language.code()) }
                            }
                        }
                    }
                    @if frame.staff.is_some() {
                        form method="post" action="/dashboard/logout" {
                            (frame.csrf())
                            button type="submit" { (words.sign_out) }
                        }
                    }
                }
                @if let Some(staff) = frame.staff {
                    nav aria-label=(words.navigation) {
                        ul {
                            @for (href, name, needs) in sections(words) {
                                @if needs.is_none_or(|permission| staff.may(permission)) && (!operator_only(href) || staff.is_operator()) {
                                    li {
                                        @if href == current {
                                            a href=(href) aria-current="page" { (name) }
                                        } @else {
                                            a href=(href) { (name) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
    .into_string()
}

/// An HTML answer.
pub fn respond(status: StatusCode, html: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html,
    )
        .into_response()
}

/// A page with a message only.
pub fn message(frame: &Frame<'_>, status: StatusCode, text: &str) -> Response {
    let words = frame.words();
    let title = match status {
        StatusCode::NOT_FOUND => words.not_found,
        StatusCode::FORBIDDEN => words.forbidden,
        StatusCode::BAD_REQUEST => words.bad_request,
        _ => words.error,
    };
    respond(status, document(frame, title, html! { p { (text) } }))
}

/// 404 in the frame: outside the manager's subtree looks exactly like nothing there.
pub fn not_found(frame: &Frame<'_>) -> Response {
    message(frame, StatusCode::NOT_FOUND, frame.words().not_found)
}

/// 403 in the frame: the role may not, or the form's CSRF token is wrong.
pub fn forbidden(frame: &Frame<'_>) -> Response {
    message(frame, StatusCode::FORBIDDEN, frame.words().forbidden)
}

/// 400 in the frame.
pub fn bad_request(frame: &Frame<'_>) -> Response {
    message(frame, StatusCode::BAD_REQUEST, frame.words().bad_request)
}

/// A failure of the database, logged; the page says only that something went wrong.
pub fn store_error(error: &StoreError) -> Response {
    tracing::error!(%error, "the dashboard could not use the database");
    bare_message(StatusCode::INTERNAL_SERVER_ERROR)
}

/// A short page for an answer made without a manager (unknown paths, methods, failures).
pub fn bare_message(status: StatusCode) -> Response {
    let frame = Frame {
        language: Language::English,
        staff: None,
        path: "/dashboard",
    };
    let words = frame.words();
    let text = match status {
        StatusCode::NOT_FOUND => words.not_found,
        StatusCode::METHOD_NOT_ALLOWED | StatusCode::BAD_REQUEST => words.bad_request,
        _ => words.error,
    };
    respond(status, document(&frame, text, html! {}))
}
