//! Managers (SPEC §7, admins only: `ManageManagers`): the managers of the subtree, creating one
//! (its API token shown once), replacing a token (shown once; the old token and its dashboard
//! sessions stop at once) and disabling a manager (its token and sessions stop at once). An
//! admin cannot disable itself: the last admin of a subtree would lock everyone out.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::html;
use obol_core::ids::{ManagerId, ResellerId};
use obol_core::tenancy::{Name, Permission, Role};
use obol_http::admin as issue;
use obol_http::auth::ClientIp;
use obol_http::state::AppState;
use obol_store::StoreError;
use obol_store::ops::administration::{self, ManagerRecord};
use obol_store::ops::{credentials, tenancy};
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
    reseller: &'static str,
    role: &'static str,
    state: &'static str,
    active: &'static str,
    disabled: &'static str,
    create: &'static str,
    rotate: &'static str,
    disable: &'static str,
    shown_once: &'static str,
    api_token: &'static str,
    name_invalid: &'static str,
    role_invalid: &'static str,
    reseller_invalid: &'static str,
    not_yourself: &'static str,
    back: &'static str,
}

const ENGLISH: Words = Words {
    title: "Managers",
    id: "ID",
    name: "Name",
    reseller: "Reseller",
    role: "Role",
    state: "State",
    active: "active",
    disabled: "disabled",
    create: "Create a manager",
    rotate: "Replace the token",
    disable: "Disable",
    shown_once: "Copy the token now: it is shown only this once and cannot be shown again.",
    api_token: "API token",
    name_invalid: "The name must be 1 to 255 characters and not blank.",
    role_invalid: "Choose admin, manager or viewer.",
    reseller_invalid: "Choose a reseller of your own.",
    not_yourself: "You cannot disable yourself.",
    back: "Back to the managers",
};

const RUSSIAN: Words = Words {
    title: "Менеджеры",
    id: "ID",
    name: "Имя",
    reseller: "Реселлер",
    role: "Роль",
    state: "Состояние",
    active: "активен",
    disabled: "отключён",
    create: "Создать менеджера",
    rotate: "Заменить токен",
    disable: "Отключить",
    shown_once: "Скопируйте токен сейчас: он показан только один раз и больше показан не будет.",
    api_token: "API-токен",
    name_invalid: "Имя: от 1 до 255 символов, не пустое.",
    role_invalid: "Выберите admin, manager или viewer.",
    reseller_invalid: "Выберите своего реселлера.",
    not_yourself: "Нельзя отключить самого себя.",
    back: "К менеджерам",
};

const UKRAINIAN: Words = Words {
    title: "Менеджери",
    id: "ID",
    name: "Ім'я",
    reseller: "Реселер",
    role: "Роль",
    state: "Стан",
    active: "активний",
    disabled: "вимкнений",
    create: "Створити менеджера",
    rotate: "Замінити токен",
    disable: "Вимкнути",
    shown_once: "Скопіюйте токен зараз: його показано лише один раз, і більше показано не буде.",
    api_token: "API-токен",
    name_invalid: "Ім'я: від 1 до 255 символів, не порожнє.",
    role_invalid: "Оберіть admin, manager або viewer.",
    reseller_invalid: "Оберіть свого реселера.",
    not_yourself: "Не можна вимкнути самого себе.",
    back: "До менеджерів",
};

fn words(staff: &Staff) -> &'static Words {
    texts::pick(staff.language, &ENGLISH, &RUSSIAN, &UKRAINIAN)
}

const LIST: &str = "/dashboard/managers";

async fn list_page(
    state: &AppState,
    staff: &Staff,
    status: StatusCode,
    error: Option<&str>,
) -> Response {
    let scope = staff.ancestry.clone();
    let found = state
        .store
        .read(move |db| {
            Box::pin(async move {
                let managers = administration::managers_within(db, &scope).await?;
                let resellers = administration::resellers_within(db, &scope).await?;
                Ok((managers, resellers))
            })
        })
        .await;
    let (managers, resellers) = match found {
        Ok(found) => found,
        Err(error) => return admin::failed(&error),
    };
    let frame = staff.frame(LIST);
    let words = words(staff);
    let common = frame.words();
    let body = html! {
        (admin::error_line(error))
        div.table { table {
            thead { tr { th { (words.id) } th { (words.name) } th { (words.reseller) } th { (words.role) } th { (words.state) } th {} } }
            tbody {
                @for record in &managers {
                    @let id = record.manager.id.get();
                    @let active = record.standing.accepts_token();
                    tr {
                        td { (id) }
                        td { (record.manager.name.as_str()) }
                        td { (record.manager.reseller_id.get()) }
                        td { (layout::role_name(common, record.manager.role)) }
                        td { (if active { words.active } else { words.disabled }) }
                        td {
                            @if active {
                                form.inline method="post" action=(format!("{LIST}/{id}/rotate-token")) {
                                    (frame.csrf())
                                    button.secondary type="submit" { (words.rotate) }
                                }
                                @if record.manager.id != staff.manager.id {
                                    " "
                                    form.inline method="post" action=(format!("{LIST}/{id}/disable")) {
                                        (frame.csrf())
                                        button.secondary type="submit" { (words.disable) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        } }
        h2 { (words.create) }
        form.card method="post" action=(LIST) {
            (frame.csrf())
            label for="name" { (words.name) }
            input id="name" name="name" required maxlength="255";
            label for="reseller_id" { (words.reseller) }
            select id="reseller_id" name="reseller_id" {
                @for reseller in &resellers {
                    option value=(reseller.id.get()) { (reseller.id.get()) " · " (reseller.name.as_str()) }
                }
            }
            label for="role" { (words.role) }
            select id="role" name="role" {
                @for role in [Role::Viewer, Role::Manager, Role::Admin] {
                    option value=(role.as_str()) { (layout::role_name(common, role)) }
                }
            }
            p { button type="submit" { (words.create) } }
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
    if let Err(answer) = admin::allowed(&staff, Permission::ManageManagers, LIST) {
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
    if let Err(answer) = admin::allowed(&staff, Permission::ManageManagers, LIST) {
        return answer.into_response();
    }
    let words = words(&staff);
    let refuse = |message| {
        list_page(
            &state,
            &staff,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(message),
        )
    };
    let Some(name) = admin::field(&fields, "name").and_then(|name| Name::parse(name).ok()) else {
        return refuse(words.name_invalid).await;
    };
    let Some(role) = admin::field(&fields, "role").and_then(|role| Role::parse(role).ok()) else {
        return refuse(words.role_invalid).await;
    };
    let Some(reseller_id) =
        admin::field(&fields, "reseller_id").and_then(|id| ResellerId::parse(id).ok())
    else {
        return refuse(words.reseller_invalid).await;
    };
    let reseller = state
        .store
        .read(move |db| Box::pin(tenancy::get_reseller(db, reseller_id)))
        .await;
    match reseller {
        Ok(reseller)
            if staff
                .reaches(&reseller.ancestry, Permission::ManageManagers)
                .is_ok() => {}
        Ok(_) | Err(StoreError::NotFound(_)) => return refuse(words.reseller_invalid).await,
        Err(error) => return admin::failed(&error),
    }
    let token = issue::manager_token();
    let digest = token.digest();
    let actor = Actor::of(&staff);
    let now = state.clock.now();
    let created = state
        .store
        .write(move |db| {
            Box::pin(async move {
                let manager =
                    tenancy::create_manager(db, reseller_id, role, name, digest, now).await?;
                let subject = format!("manager:{}", manager.id.get());
                admin::record(db, &actor, "manager.create", &subject, now).await?;
                Ok(manager)
            })
        })
        .await;
    let manager = match created {
        Ok(manager) => manager,
        Err(StoreError::NotFound(_)) => return refuse(words.reseller_invalid).await,
        Err(error) => return admin::failed(&error),
    };
    admin::secret_page(
        &staff,
        LIST,
        manager.name.as_str(),
        words.shown_once,
        &[(words.api_token, token.expose())],
        (LIST, words.back),
    )
}

/// The manager `id` names, for an admin whose subtree holds it: 404 otherwise (403 first when
/// the role may not manage managers at all).
async fn reached(state: &AppState, staff: &Staff, id: &str) -> Result<ManagerRecord, Denied> {
    admin::allowed(staff, Permission::ManageManagers, LIST)?;
    let Ok(id) = ManagerId::parse(id) else {
        return Err(layout::not_found(&staff.frame(LIST)).into());
    };
    let found = state
        .store
        .read(move |db| Box::pin(administration::manager(db, id)))
        .await;
    match found {
        Ok(Some(record)) => {
            admin::reach(staff, &record.ancestry, Permission::ManageManagers, LIST)?;
            Ok(record)
        }
        Ok(None) => Err(layout::not_found(&staff.frame(LIST)).into()),
        Err(error) => Err(admin::failed(&error).into()),
    }
}

pub(crate) async fn rotate_token(
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
    let record = match reached(&state, &staff, &id).await {
        Ok(record) => record,
        Err(answer) => return answer.into_response(),
    };
    let words = words(&staff);
    let token = issue::manager_token();
    let digest = token.digest();
    let actor = Actor::of(&staff);
    let now = state.clock.now();
    let id = record.manager.id;
    let rotated = state
        .store
        .write(move |db| {
            Box::pin(async move {
                credentials::rotate_manager_token(db, id, digest).await?;
                let subject = format!("manager:{}", id.get());
                admin::record(db, &actor, "manager.rotate_token", &subject, now).await
            })
        })
        .await;
    if let Err(error) = rotated {
        return admin::failed(&error);
    }
    admin::secret_page(
        &staff,
        LIST,
        record.manager.name.as_str(),
        words.shown_once,
        &[(words.api_token, token.expose())],
        (LIST, words.back),
    )
}

pub(crate) async fn disable(
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
    let record = match reached(&state, &staff, &id).await {
        Ok(record) => record,
        Err(answer) => return answer.into_response(),
    };
    if record.manager.id == staff.manager.id {
        let words = words(&staff);
        return list_page(
            &state,
            &staff,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(words.not_yourself),
        )
        .await;
    }
    let actor = Actor::of(&staff);
    let now = state.clock.now();
    let id = record.manager.id;
    let disabled = state
        .store
        .write(move |db| {
            Box::pin(async move {
                credentials::disable_manager(db, id, now).await?;
                let subject = format!("manager:{}", id.get());
                admin::record(db, &actor, "manager.disable", &subject, now).await
            })
        })
        .await;
    match disabled {
        Ok(()) => admin::back_to(LIST),
        Err(error) => admin::failed(&error),
    }
}

pub(crate) fn routes() -> obol_http::routes::Routes {
    obol_http::routes::Routes::new()
        .get(LIST, list)
        .post(LIST, create)
        .post("/dashboard/managers/{id}/rotate-token", rotate_token)
        .post("/dashboard/managers/{id}/disable", disable)
}

/// The managers' pages in the OpenAPI document.
pub fn openapi_paths() -> Map<String, Value> {
    let mut paths = Map::new();
    let mut create = operation(
        "Create a manager (its API token shown once)",
        Some(&["name", "reseller_id", "role", "csrf_token"]),
        true,
    );
    create["responses"]["422"] = json!({ "description": "Refused: the form again, with why." });
    paths.insert(
        LIST.into(),
        json!({ "get": operation("The managers of the subtree (admins)", None, true), "post": create }),
    );
    paths.insert(
        format!("{LIST}/{{id}}/rotate-token"),
        json!({ "post": admin::with_id(operation("Replace a manager's API token (shown once)", Some(&["csrf_token"]), true)) }),
    );
    let mut disable = operation("Disable a manager", Some(&["csrf_token"]), true);
    disable["responses"]["422"] =
        json!({ "description": "Refused: an admin cannot disable itself." });
    paths.insert(
        format!("{LIST}/{{id}}/disable"),
        json!({ "post": admin::with_id(disable) }),
    );
    paths
}
