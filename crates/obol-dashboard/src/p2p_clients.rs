//! P2P clients (SPEC §7): list, create (its `clientId` and signing key shown once), replace the
//! signing key (shown once), and whether it must sign its requests.
//!
//! P2P clients belong to no reseller: they are the operator's own customers. So only managers
//! of the root reseller see them (any role reads; `ManageMerchants`, admins, change them);
//! anyone else gets 404 here, exactly as for anything outside its subtree. Clients are named
//! by their numeric id on these pages: the database keeps only a digest of the `clientId`.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::html;
use obol_core::fee::{FeeRate, FeeSchedule};
use obol_core::ids::{P2pClientId, ROOT_RESELLER};
use obol_core::tenancy::{Ancestry, Name, Permission};
use obol_http::admin as issue;
use obol_http::auth::ClientIp;
use obol_http::state::AppState;
use obol_store::StoreError;
use obol_store::ops::{administration, p2p, tenancy};
use serde_json::{Map, Value, json};

use crate::admin::{self, Actor, FormBody};
use crate::layout;
use crate::login::operation;
use crate::session::{Denied, Staff};
use crate::texts;

struct Words {
    title: &'static str,
    id: &'static str,
    name: &'static str,
    signed: &'static str,
    create: &'static str,
    require_signed: &'static str,
    rotate: &'static str,
    require: &'static str,
    allow_unsigned: &'static str,
    shown_once: &'static str,
    client_id: &'static str,
    signing_key: &'static str,
    name_invalid: &'static str,
    back: &'static str,
    yes: &'static str,
    no: &'static str,
    empty: &'static str,
}

const ENGLISH: Words = Words {
    title: "P2P clients",
    id: "ID",
    name: "Name",
    signed: "Must sign requests",
    create: "Create a P2P client",
    require_signed: "Must sign every request",
    rotate: "Replace the signing key",
    require: "Require signatures",
    allow_unsigned: "Allow unsigned requests",
    shown_once: "Copy these now: they are shown only this once and cannot be shown again.",
    client_id: "clientId",
    signing_key: "Signing key",
    name_invalid: "The name must be 1 to 255 characters and not blank.",
    back: "Back to the P2P clients",
    yes: "yes",
    no: "no",
    empty: "No P2P clients yet.",
};

const RUSSIAN: Words = Words {
    title: "P2P-клиенты",
    id: "ID",
    name: "Название",
    signed: "Подписывает запросы",
    create: "Создать P2P-клиента",
    require_signed: "Обязан подписывать каждый запрос",
    rotate: "Заменить ключ подписи",
    require: "Требовать подпись",
    allow_unsigned: "Разрешить запросы без подписи",
    shown_once: "Скопируйте сейчас: они показаны только один раз и больше показаны не будут.",
    client_id: "clientId",
    signing_key: "Ключ подписи",
    name_invalid: "Название: от 1 до 255 символов, не пустое.",
    back: "К P2P-клиентам",
    yes: "да",
    no: "нет",
    empty: "P2P-клиентов пока нет.",
};

const UKRAINIAN: Words = Words {
    title: "P2P-клієнти",
    id: "ID",
    name: "Назва",
    signed: "Підписує запити",
    create: "Створити P2P-клієнта",
    require_signed: "Має підписувати кожен запит",
    rotate: "Замінити ключ підпису",
    require: "Вимагати підпис",
    allow_unsigned: "Дозволити запити без підпису",
    shown_once: "Скопіюйте зараз: їх показано лише один раз, і більше показано не буде.",
    client_id: "clientId",
    signing_key: "Ключ підпису",
    name_invalid: "Назва: від 1 до 255 символів, не порожня.",
    back: "До P2P-клієнтів",
    yes: "так",
    no: "ні",
    empty: "P2P-клієнтів поки немає.",
};

fn words(staff: &Staff) -> &'static Words {
    texts::pick(staff.language, &ENGLISH, &RUSSIAN, &UKRAINIAN)
}

const LIST: &str = "/dashboard/p2p-clients";

/// The operator's own things stand at the root: only its managers reach them.
fn reach(staff: &Staff, permission: Permission) -> Result<(), Denied> {
    admin::reach(staff, &Ancestry::root(ROOT_RESELLER), permission, LIST)
}

async fn list_page(
    state: &AppState,
    staff: &Staff,
    status: StatusCode,
    error: Option<&str>,
) -> Response {
    let found = state
        .store
        .read(|db| Box::pin(administration::p2p_clients(db)))
        .await;
    let clients = match found {
        Ok(clients) => clients,
        Err(error) => return admin::failed(&error),
    };
    let frame = staff.frame(LIST);
    let words = words(staff);
    let may_change = staff.may(Permission::ManageMerchants);
    let body = html! {
        (admin::error_line(error))
        @if clients.is_empty() {
            p { (words.empty) }
        } @else {
            div.table { table {
                thead { tr { th { (words.id) } th { (words.name) } th { (words.signed) } th {} } }
                tbody {
                    @for client in &clients {
                        @let id = client.id.get();
                        tr {
                            td { (id) }
                            td { (client.name.as_str()) }
                            td { (if client.require_signed_requests { words.yes } else { words.no }) }
                            td {
                                @if may_change {
                                    form.inline method="post" action=(format!("{LIST}/{id}/rotate-key")) {
                                        (frame.csrf())
                                        button.secondary type="submit" { (words.rotate) }
                                    }
                                    " "
                                    form.inline method="post" action=(format!("{LIST}/{id}/signed-requests")) {
                                        (frame.csrf())
                                        input type="hidden" name="require_signed_requests" value=(if client.require_signed_requests { "false" } else { "true" });
                                        button.secondary type="submit" { (if client.require_signed_requests { words.allow_unsigned } else { words.require }) }
                                    }
                                }
                            }
                        }
                    }
                }
            } }
        }
        @if may_change {
            h2 { (words.create) }
            form.card method="post" action=(LIST) {
                (frame.csrf())
                label for="name" { (words.name) }
                input id="name" name="name" required maxlength="255";
                label { input type="checkbox" name="require_signed_requests" value="true"; " " (words.require_signed) }
                p { button type="submit" { (words.create) } }
            }
        }
    };
    layout::respond(status, layout::document(&frame, words.title, body))
}

pub(crate) async fn list(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Query(query): Query<admin::Query>,
) -> Response {
    let staff = match admin::viewer(&state, &headers, &query, ip).await {
        Ok(staff) => staff,
        Err(answer) => return answer.into_response(),
    };
    if let Err(answer) = reach(&staff, Permission::ReadPayments) {
        return answer.into_response();
    }
    list_page(&state, &staff, StatusCode::OK, None).await
}

pub(crate) async fn create(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    form: FormBody,
) -> Response {
    let (staff, fields) = match admin::poster(&state, &headers, ip, form).await {
        Ok(posted) => posted,
        Err(answer) => return answer.into_response(),
    };
    if let Err(answer) = reach(&staff, Permission::ManageMerchants) {
        return answer.into_response();
    }
    let words = words(&staff);
    let Some(name) = admin::field(&fields, "name").and_then(|name| Name::parse(name).ok()) else {
        return list_page(
            &state,
            &staff,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(words.name_invalid),
        )
        .await;
    };
    let require_signed = admin::checked(&fields, "require_signed_requests");
    // The clientId is shown once, here: the database keeps only its digest.
    let (client_id, digest) = issue::p2p_client_id();
    let issue::SealedSecret { secret, sealed } = issue::p2p_signing_key(&state.key);
    let actor = Actor::of(&staff);
    let now = state.clock.now();
    let created = state
        .store
        .write(move |db| {
            Box::pin(async move {
                let client =
                    tenancy::create_p2p_client(db, &digest, name, sealed, require_signed, now)
                        .await?;
                // No commission until the operator sets one (as `obol p2p client create`).
                let free = FeeSchedule {
                    rate: FeeRate::parse_percent("0").map_err(|_| StoreError::Conflict)?,
                    fixed_minor: 0,
                    min_minor: 0,
                    max_minor: 0,
                };
                p2p::set_tariff(db, client.id, free).await?;
                let subject = format!("p2p_client:{}", client.id.get());
                admin::record(db, &actor, "p2p_client.create", &subject, now).await?;
                Ok(client)
            })
        })
        .await;
    let client = match created {
        Ok(client) => client,
        Err(error) => return admin::failed(&error),
    };
    admin::secret_page(
        &staff,
        LIST,
        client.name.as_str(),
        words.shown_once,
        &[
            (words.client_id, client_id.as_str()),
            (words.signing_key, secret.expose()),
        ],
        (LIST, words.back),
    )
}

/// The client `id` names, for a root manager whose role allows `permission`; 404 otherwise.
async fn reached(
    state: &AppState,
    staff: &Staff,
    id: &str,
    permission: Permission,
) -> Result<P2pClientId, Denied> {
    reach(staff, permission)?;
    let Ok(id) = P2pClientId::parse(id) else {
        return Err(layout::not_found(&staff.frame(LIST)).into());
    };
    match state
        .store
        .read(move |db| Box::pin(p2p::client_by_id(db, id)))
        .await
    {
        Ok(record) => Ok(record.client.id),
        Err(StoreError::NotFound(_)) => Err(layout::not_found(&staff.frame(LIST)).into()),
        Err(error) => Err(admin::failed(&error).into()),
    }
}

pub(crate) async fn rotate_key(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: FormBody,
) -> Response {
    let (staff, _) = match admin::poster(&state, &headers, ip, form).await {
        Ok(posted) => posted,
        Err(answer) => return answer.into_response(),
    };
    let id = match reached(&state, &staff, &id, Permission::ManageMerchants).await {
        Ok(id) => id,
        Err(answer) => return answer.into_response(),
    };
    let words = words(&staff);
    let issue::SealedSecret { secret, sealed } = issue::p2p_signing_key(&state.key);
    let actor = Actor::of(&staff);
    let now = state.clock.now();
    let rotated = state
        .store
        .write(move |db| {
            Box::pin(async move {
                p2p::set_signing_key(db, id, sealed).await?;
                let subject = format!("p2p_client:{}", id.get());
                admin::record(db, &actor, "p2p_client.rotate_key", &subject, now).await
            })
        })
        .await;
    if let Err(error) = rotated {
        return admin::failed(&error);
    }
    admin::secret_page(
        &staff,
        LIST,
        words.title,
        words.shown_once,
        &[(words.signing_key, secret.expose())],
        (LIST, words.back),
    )
}

pub(crate) async fn signed_requests(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: FormBody,
) -> Response {
    let (staff, fields) = match admin::poster(&state, &headers, ip, form).await {
        Ok(posted) => posted,
        Err(answer) => return answer.into_response(),
    };
    let id = match reached(&state, &staff, &id, Permission::ManageMerchants).await {
        Ok(id) => id,
        Err(answer) => return answer.into_response(),
    };
    let required = admin::checked(&fields, "require_signed_requests");
    let actor = Actor::of(&staff);
    let now = state.clock.now();
    let changed = state
        .store
        .write(move |db| {
            Box::pin(async move {
                p2p::set_require_signed_requests(db, id, required).await?;
                let subject = format!("p2p_client:{}", id.get());
                let action = if required {
                    "p2p_client.require_signed_requests"
                } else {
                    "p2p_client.allow_unsigned_requests"
                };
                admin::record(db, &actor, action, &subject, now).await
            })
        })
        .await;
    match changed {
        Ok(()) => admin::back_to(LIST),
        Err(error) => admin::failed(&error),
    }
}

pub(crate) fn routes() -> obol_http::routes::Routes {
    obol_http::routes::Routes::new()
        .get(LIST, list)
        .post(LIST, create)
        .post("/dashboard/p2p-clients/{id}/rotate-key", rotate_key)
        .post(
            "/dashboard/p2p-clients/{id}/signed-requests",
            signed_requests,
        )
}

/// The P2P clients' pages in the OpenAPI document.
pub fn openapi_paths() -> Map<String, Value> {
    let mut create = operation(
        "Create a P2P client (its clientId and signing key shown once)",
        Some(&["name", "require_signed_requests", "csrf_token"]),
        true,
    );
    create["responses"]["422"] = json!({ "description": "Refused: the form again, with why." });
    let mut paths = Map::new();
    paths.insert(
        LIST.into(),
        json!({ "get": operation("The P2P clients (managers of the root reseller)", None, true), "post": create }),
    );
    paths.insert(
        format!("{LIST}/{{id}}/rotate-key"),
        json!({ "post": admin::with_id(operation("Replace a P2P client's signing key (shown once)", Some(&["csrf_token"]), true)) }),
    );
    paths.insert(
        format!("{LIST}/{{id}}/signed-requests"),
        json!({ "post": admin::with_id(operation("Whether a P2P client must sign its requests", Some(&["require_signed_requests", "csrf_token"]), true)) }),
    );
    paths
}
