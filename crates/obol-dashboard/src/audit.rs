//! The audit log (SPEC §7): who did what, to what, when and from which address, newest first,
//! a page at a time by a keyset cursor (`?before=` the id of the last entry shown). A manager
//! sees what the managers of its own subtree did; any role may read it.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::html;
use obol_http::auth::ClientIp;
use obol_http::state::AppState;
use obol_store::ops::audit;
use serde_json::{Map, Value, json};

use crate::admin;
use crate::layout;
use crate::login::operation;
use crate::texts;

struct Words {
    title: &'static str,
    when: &'static str,
    who: &'static str,
    what: &'static str,
    subject: &'static str,
    address: &'static str,
    older: &'static str,
    empty: &'static str,
}

const ENGLISH: Words = Words {
    title: "Audit log",
    when: "When (UTC)",
    who: "Who",
    what: "What",
    subject: "Subject",
    address: "From",
    older: "Older entries",
    empty: "Nothing recorded yet.",
};

const RUSSIAN: Words = Words {
    title: "Журнал действий",
    when: "Когда (UTC)",
    who: "Кто",
    what: "Что",
    subject: "Объект",
    address: "Откуда",
    older: "Более ранние записи",
    empty: "Пока ничего не записано.",
};

const UKRAINIAN: Words = Words {
    title: "Журнал дій",
    when: "Коли (UTC)",
    who: "Хто",
    what: "Що",
    subject: "Об'єкт",
    address: "Звідки",
    older: "Раніші записи",
    empty: "Поки нічого не записано.",
};

const PATH: &str = "/dashboard/audit";
/// Entries on one page.
const PAGE_SIZE: i64 = 100;

pub(crate) async fn page(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Query(query): Query<admin::Query>,
) -> Response {
    let staff = match admin::viewer(&state, &headers, &query, ip).await {
        Ok(staff) => staff,
        Err(answer) => return answer.into_response(),
    };
    let before = match query.get("before").map(|text| text.parse::<i64>()) {
        None => None,
        Some(Ok(id)) if id > 0 => Some(id),
        Some(_) => return layout::bad_request(&staff.frame(PATH)),
    };
    let scope = staff.ancestry.clone();
    let found = state
        .store
        .read(move |db| {
            Box::pin(async move { audit::list_within(db, &scope, before, PAGE_SIZE).await })
        })
        .await;
    let page = match found {
        Ok(page) => page,
        Err(error) => return admin::failed(&error),
    };
    let frame = staff.frame(PATH);
    let words = texts::pick(staff.language, &ENGLISH, &RUSSIAN, &UKRAINIAN);
    let body = html! {
        @if page.entries.is_empty() {
            p { (words.empty) }
        } @else {
            div.table { table {
                thead { tr { th { (words.when) } th { (words.who) } th { (words.what) } th { (words.subject) } th { (words.address) } } }
                tbody {
                    @for listed in &page.entries {
                        tr {
                            td { (listed.entry.at.to_rfc3339_millis()) }
                            td { (listed.manager_name) " #" (listed.entry.manager_id.get()) }
                            td { code { (listed.entry.action) } }
                            td { (listed.entry.subject) }
                            td { (listed.entry.ip.as_deref().unwrap_or("")) }
                        }
                    }
                }
            } }
        }
        @if let Some(next) = page.next {
            p { a rel="next" href=(format!("{PATH}?before={next}")) { (words.older) } }
        }
    };
    layout::respond(StatusCode::OK, layout::document(&frame, words.title, body))
}

pub(crate) fn routes() -> obol_http::routes::Routes {
    obol_http::routes::Routes::new().get(PATH, page)
}

/// The audit log's page in the OpenAPI document.
pub fn openapi_paths() -> Map<String, Value> {
    let mut get = operation(
        "The audit log of the manager's subtree, newest first",
        None,
        true,
    );
    get["parameters"] = json!([{ "name": "before", "in": "query", "required": false, "schema": { "type": "integer", "minimum": 1 } }]);
    get["responses"]["400"] = json!({ "description": "An unreadable cursor." });
    let mut paths = Map::new();
    paths.insert(PATH.into(), json!({ "get": get }));
    paths
}
