//! A merchant's enabled payment services (SPEC §7 "Merchants … settings: … enabled services"):
//! the services linked to it, each switched on or off by an admin. A live route's card service
//! is the route's to give (SPEC §4) and is not listed here.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::html;
use obol_core::ids::{MerchantId, MerchantServiceId};
use obol_core::tenancy::{Ancestry, Merchant, Permission};
use obol_http::auth::ClientIp;
use obol_http::page::texts::Language;
use obol_http::state::AppState;
use obol_store::ops::{administration, catalog};
use serde_json::{Map, Value, json};

use crate::admin::{self, Actor, FormBody};
use crate::layout;
use crate::login::operation;
use crate::session::{Denied, Staff};
use crate::texts::pick;

struct Words {
    heading: &'static str,
    service: &'static str,
    currency: &'static str,
    mode: &'static str,
    enabled: &'static str,
    save: &'static str,
    none: &'static str,
    test: &'static str,
    live: &'static str,
    back: &'static str,
}

const ENGLISH: Words = Words {
    heading: "Enabled services",
    service: "Service",
    currency: "Currency",
    mode: "Mode",
    enabled: "Enabled",
    save: "Save",
    none: "No services are linked to this merchant.",
    test: "test",
    live: "live",
    back: "Back to the merchant",
};

const RUSSIAN: Words = Words {
    heading: "Подключённые сервисы",
    service: "Сервис",
    currency: "Валюта",
    mode: "Режим",
    enabled: "Включён",
    save: "Сохранить",
    none: "К этому мерчанту не подключено ни одного сервиса.",
    test: "тест",
    live: "боевой",
    back: "К мерчанту",
};

const UKRAINIAN: Words = Words {
    heading: "Підключені сервіси",
    service: "Сервіс",
    currency: "Валюта",
    mode: "Режим",
    enabled: "Увімкнено",
    save: "Зберегти",
    none: "До цього мерчанта не підключено жодного сервісу.",
    test: "тест",
    live: "бойовий",
    back: "До мерчанта",
};

fn words(language: Language) -> &'static Words {
    pick(language, &ENGLISH, &RUSSIAN, &UKRAINIAN)
}

/// The merchant `id` names, for `permission` (404 outside the subtree, 403 for the role).
async fn reached(
    state: &AppState,
    staff: &Staff,
    id: &str,
    permission: Permission,
) -> Result<Merchant, Denied> {
    let path = format!("/dashboard/merchants/{id}/services");
    let found: Option<(Merchant, Ancestry)> = match MerchantId::parse(id) {
        Ok(id) => state
            .store
            .read(move |db| Box::pin(administration::merchant(db, id)))
            .await
            .map_err(|error| Denied::from(admin::failed(&error)))?,
        Err(_) => None,
    };
    match found {
        Some((merchant, ancestry)) => {
            admin::reach(staff, &ancestry, permission, &path)?;
            Ok(merchant)
        }
        None => Err(layout::not_found(&staff.frame(&path)).into()),
    }
}

pub(crate) async fn page(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<admin::Query>,
) -> Response {
    let staff = match admin::viewer(&state, &headers, &query, ip).await {
        Ok(staff) => staff,
        Err(denied) => return denied.into_response(),
    };
    let merchant = match reached(&state, &staff, &id, Permission::ReadPayments).await {
        Ok(merchant) => merchant,
        Err(denied) => return denied.into_response(),
    };
    let merchant_id = merchant.id;
    let links = match state
        .store
        .read(move |db| Box::pin(catalog::merchant_service_links(db, merchant_id)))
        .await
    {
        Ok(links) => links,
        Err(error) => return admin::failed(&error),
    };
    let path = format!("/dashboard/merchants/{}/services", merchant.id.get());
    let frame = staff.frame(&path);
    let words = words(staff.language);
    let may_change = staff.may(Permission::ManageMerchants);
    let body = html! {
        p { a href=(format!("/dashboard/merchants/{}", merchant.id.get())) { (words.back) } }
        @if links.is_empty() {
            p { (words.none) }
        } @else {
            form method="post" action=(path) {
                (frame.csrf())
                div.table { table {
                    thead { tr {
                        th scope="col" { (words.service) }
                        th scope="col" { (words.currency) }
                        th scope="col" { (words.mode) }
                        th scope="col" { (words.enabled) }
                    } }
                    tbody {
                        @for (link, service, enabled) in &links {
                            tr {
                                td { label for=(link.as_str()) { (service.code) } }
                                td { (service.currency.code()) }
                                td { (if service.test_mode { words.test } else { words.live }) }
                                td {
                                    @if may_change {
                                        input id=(link.as_str()) type="checkbox" name=(link.as_str()) value="on" checked[*enabled];
                                    } @else {
                                        (if *enabled { "✓" } else { "—" })
                                    }
                                }
                            }
                        }
                    }
                } }
                @if may_change {
                    p { button type="submit" { (words.save) } }
                }
            }
        }
    };
    layout::respond(
        StatusCode::OK,
        layout::document(
            &frame,
            &format!("{} · {}", words.heading, merchant.name.as_str()),
            body,
        ),
    )
}

pub(crate) async fn save(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: FormBody,
) -> Response {
    let (staff, fields) = match admin::poster(&state, &headers, ip, form).await {
        Ok(posted) => posted,
        Err(denied) => return denied.into_response(),
    };
    let merchant = match reached(&state, &staff, &id, Permission::ManageMerchants).await {
        Ok(merchant) => merchant,
        Err(denied) => return denied.into_response(),
    };
    let enabled: Vec<MerchantServiceId> = fields
        .iter()
        .filter(|(_, value)| value.as_str() == "on")
        .filter_map(|(name, _)| MerchantServiceId::parse(name).ok())
        .collect();
    let actor = Actor::of(&staff);
    let now = state.clock.now();
    let merchant_id = merchant.id;
    let saved = state
        .store
        .write(move |db| {
            Box::pin(async move {
                catalog::set_merchant_services_enabled(db, merchant_id, &enabled).await?;
                let subject = format!("merchant:{}", merchant_id.get());
                admin::record(db, &actor, "merchant.services", &subject, now).await
            })
        })
        .await;
    match saved {
        Ok(()) => admin::back_to(&format!(
            "/dashboard/merchants/{}/services",
            merchant.id.get()
        )),
        Err(error) => admin::failed(&error),
    }
}

pub fn openapi_paths() -> Map<String, Value> {
    let mut paths = Map::new();
    paths.insert(
        "/dashboard/merchants/{id}/services".into(),
        json!({
            "get": admin::with_id(operation("A merchant's linked services, each on or off", None, true)),
            "post": admin::with_id(operation("Switch a merchant's services on and off (a field per link id, `on` when enabled)", Some(&["csrf_token"]), true)),
        }),
    );
    paths
}

pub(crate) fn routes() -> obol_http::routes::Routes {
    obol_http::routes::Routes::new()
        .get("/dashboard/merchants/{id}/services", page)
        .post("/dashboard/merchants/{id}/services", save)
}
