//! Merchants (SPEC §7): the list of the manager's subtree, a merchant's settings (webhook URL,
//! forbidding the public API, the live route its live payments go through), creating one, and
//! replacing its `api_secret` or callback secret. Every new secret is shown once, on the
//! answer to the form that made it, and stored only as a digest or sealed under the operator
//! key (`obol_http::admin`, as the command line issues them). Viewing needs only a session;
//! changing needs `ManageMerchants` (admins).

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::html;
use obol_core::credentials::rotation::{ApiSecretRotation, CallbackSecretRotation};
use obol_core::ids::{MerchantId, ResellerId};
use obol_core::tenancy::{Ancestry, Merchant, MerchantSettings, Name, Permission};
use obol_http::admin as issue;
use obol_http::auth::ClientIp;
use obol_http::crypto::OsRandom;
use obol_http::state::AppState;
use obol_store::StoreError;
use obol_store::ops::{administration, credentials, tenancy};
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
    mode: &'static str,
    test: &'static str,
    live: &'static str,
    create: &'static str,
    live_label: &'static str,
    forbid_public_access: &'static str,
    webhook_url: &'static str,
    settings: &'static str,
    save: &'static str,
    acquirer: &'static str,
    acquirer_none: &'static str,
    services: &'static str,
    public_key: &'static str,
    api_login: &'static str,
    rotate_secret: &'static str,
    rotate_callback_secret: &'static str,
    shown_once: &'static str,
    callback_overlap: &'static str,
    api_secret: &'static str,
    callback_secret: &'static str,
    name_invalid: &'static str,
    webhook_invalid: &'static str,
    reseller_invalid: &'static str,
    acquirer_unknown: &'static str,
    back: &'static str,
    none_yet: &'static str,
    yes: &'static str,
    no: &'static str,
}

const ENGLISH: Words = Words {
    title: "Merchants",
    id: "ID",
    name: "Name",
    reseller: "Reseller",
    mode: "Mode",
    test: "test",
    live: "live",
    create: "Create a merchant",
    live_label: "Live (takes real money)",
    forbid_public_access: "Forbid the public API to create invoices",
    webhook_url: "Webhook URL",
    settings: "Settings",
    save: "Save",
    acquirer: "Live route",
    acquirer_none: "none: the first route serving the currency",
    services: "Enabled services",
    public_key: "Public key",
    api_login: "API login",
    rotate_secret: "Replace the API secret",
    rotate_callback_secret: "Replace the callback secret",
    shown_once: "Copy it now: it is shown only this once and cannot be shown again.",
    callback_overlap: "The previous callback secret keeps signing beside the new one for 24 hours.",
    api_secret: "API secret",
    callback_secret: "Callback secret",
    name_invalid: "The name must be 1 to 255 characters and not blank.",
    webhook_invalid: "The webhook URL must be an http:// or https:// URL.",
    reseller_invalid: "Choose a reseller of your own.",
    acquirer_unknown: "This live route is not configured.",
    back: "Back to the merchant",
    none_yet: "No merchants yet.",
    yes: "yes",
    no: "no",
};

const RUSSIAN: Words = Words {
    title: "Мерчанты",
    id: "ID",
    name: "Название",
    reseller: "Реселлер",
    mode: "Режим",
    test: "тест",
    live: "боевой",
    create: "Создать мерчанта",
    live_label: "Боевой (настоящие деньги)",
    forbid_public_access: "Запретить публичному API создавать счета",
    webhook_url: "URL вебхука",
    settings: "Настройки",
    save: "Сохранить",
    acquirer: "Боевой маршрут",
    acquirer_none: "нет: первый маршрут для валюты",
    services: "Подключённые сервисы",
    public_key: "Публичный ключ",
    api_login: "API-логин",
    rotate_secret: "Заменить API-секрет",
    rotate_callback_secret: "Заменить секрет колбэков",
    shown_once: "Скопируйте сейчас: он показан только один раз и больше показан не будет.",
    callback_overlap: "Прежний секрет колбэков подписывает рядом с новым ещё 24 часа.",
    api_secret: "API-секрет",
    callback_secret: "Секрет колбэков",
    name_invalid: "Название: от 1 до 255 символов, не пустое.",
    webhook_invalid: "URL вебхука должен начинаться с http:// или https://.",
    reseller_invalid: "Выберите своего реселлера.",
    acquirer_unknown: "Такой боевой маршрут не настроен.",
    back: "К мерчанту",
    none_yet: "Мерчантов пока нет.",
    yes: "да",
    no: "нет",
};

const UKRAINIAN: Words = Words {
    title: "Мерчанти",
    id: "ID",
    name: "Назва",
    reseller: "Реселер",
    mode: "Режим",
    test: "тест",
    live: "бойовий",
    create: "Створити мерчанта",
    live_label: "Бойовий (справжні гроші)",
    forbid_public_access: "Заборонити публічному API створювати рахунки",
    webhook_url: "URL вебхука",
    settings: "Налаштування",
    save: "Зберегти",
    acquirer: "Бойовий маршрут",
    acquirer_none: "немає: перший маршрут для валюти",
    services: "Підключені сервіси",
    public_key: "Публічний ключ",
    api_login: "API-логін",
    rotate_secret: "Замінити API-секрет",
    rotate_callback_secret: "Замінити секрет колбеків",
    shown_once: "Скопіюйте зараз: його показано лише один раз, і більше показано не буде.",
    callback_overlap: "Попередній секрет колбеків підписує поруч із новим ще 24 години.",
    api_secret: "API-секрет",
    callback_secret: "Секрет колбеків",
    name_invalid: "Назва: від 1 до 255 символів, не порожня.",
    webhook_invalid: "URL вебхука має починатися з http:// або https://.",
    reseller_invalid: "Оберіть свого реселера.",
    acquirer_unknown: "Такий бойовий маршрут не налаштовано.",
    back: "До мерчанта",
    none_yet: "Мерчантів поки немає.",
    yes: "так",
    no: "ні",
};

fn words(staff: &Staff) -> &'static Words {
    texts::pick(staff.language, &ENGLISH, &RUSSIAN, &UKRAINIAN)
}

const LIST: &str = "/dashboard/merchants";

/// What webhook URLs managers may give: SPEC §5's rule, as configured.
fn webhook_policy(state: &AppState) -> obol_http::callbacks::guard::AddressPolicy {
    obol_http::callbacks::guard::AddressPolicy {
        allow_private_addresses: state.config.callbacks_allow_private_addresses,
    }
}

fn mode(words: &Words, merchant: &Merchant) -> &'static str {
    if merchant.test_mode {
        words.test
    } else {
        words.live
    }
}

/// The list with, for admins, the creation form; `error`: why a creation was refused (422).
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
                let merchants = administration::merchants_within(db, &scope).await?;
                let resellers = administration::resellers_within(db, &scope).await?;
                Ok((merchants, resellers))
            })
        })
        .await;
    let (merchants, resellers) = match found {
        Ok(found) => found,
        Err(error) => return admin::failed(&error),
    };
    let frame = staff.frame(LIST);
    let words = words(staff);
    let body = html! {
        (admin::error_line(error))
        @if merchants.is_empty() {
            p { (words.none_yet) }
        } @else {
            div.table { table {
                thead { tr { th { (words.id) } th { (words.name) } th { (words.reseller) } th { (words.mode) } th { (words.webhook_url) } } }
                tbody {
                    @for (merchant, _) in &merchants {
                        tr {
                            td { (merchant.id.get()) }
                            td { a href=(format!("{LIST}/{}", merchant.id.get())) { (merchant.name.as_str()) } }
                            td { (merchant.reseller_id.get()) }
                            td { (mode(words, merchant)) }
                            td { (merchant.settings.webhook_url.as_deref().unwrap_or("")) }
                        }
                    }
                }
            } }
        }
        @if staff.may(Permission::ManageMerchants) {
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
                label for="webhook_url" { (words.webhook_url) }
                input id="webhook_url" name="webhook_url" type="url" maxlength="2048";
                label { input type="checkbox" name="live" value="true"; " " (words.live_label) }
                label { input type="checkbox" name="forbid_public_access" value="true"; " " (words.forbid_public_access) }
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
    match admin::viewer(&state, &headers, &query, ip).await {
        Ok(staff) => list_page(&state, &staff, StatusCode::OK, None).await,
        Err(answer) => answer.into_response(),
    }
}

/// The merchant `id` names and its reseller's ancestry, if it exists at all.
async fn find(state: &AppState, id: &str) -> Result<Option<(Merchant, Ancestry)>, StoreError> {
    let Ok(id) = MerchantId::parse(id) else {
        return Ok(None);
    };
    state
        .store
        .read(move |db| Box::pin(administration::merchant(db, id)))
        .await
}

/// The merchant `id` names, for `permission`: 404 when missing or outside the subtree, 403
/// when the role may not.
async fn reached(
    state: &AppState,
    staff: &Staff,
    id: &str,
    permission: Permission,
) -> Result<Merchant, Denied> {
    let path = format!("{LIST}/{id}");
    match find(state, id).await {
        Ok(Some((merchant, ancestry))) => {
            admin::reach(staff, &ancestry, permission, &path)?;
            Ok(merchant)
        }
        Ok(None) => Err(layout::not_found(&staff.frame(&path)).into()),
        Err(error) => Err(admin::failed(&error).into()),
    }
}

fn detail_page(
    state: &AppState,
    staff: &Staff,
    merchant: &Merchant,
    status: StatusCode,
    error: Option<&str>,
) -> Response {
    let path = format!("{LIST}/{}", merchant.id.get());
    let frame = staff.frame(&path);
    let words = words(staff);
    let may_change = staff.may(Permission::ManageMerchants);
    let current_route = merchant.settings.acquirer.as_deref();
    let body = html! {
        (admin::error_line(error))
        dl.facts {
            dt { (words.id) } dd { (merchant.id.get()) }
            dt { (words.name) } dd { (merchant.name.as_str()) }
            dt { (words.reseller) } dd { (merchant.reseller_id.get()) }
            dt { (words.mode) } dd { (mode(words, merchant)) }
            dt { (words.public_key) } dd { code { (merchant.public_key) } }
            dt { (words.api_login) } dd { code { (merchant.api_login) } }
            dt { (words.webhook_url) } dd { (merchant.settings.webhook_url.as_deref().unwrap_or("")) }
            dt { (words.forbid_public_access) } dd { (if merchant.settings.forbid_public_access { words.yes } else { words.no }) }
            dt { (words.acquirer) } dd { (current_route.unwrap_or(words.acquirer_none)) }
        }
        p { a href=(format!("{path}/services")) { (words.services) } }
        @if may_change {
            h2 { (words.settings) }
            form.card method="post" action=(format!("{path}/settings")) {
                (frame.csrf())
                label for="webhook_url" { (words.webhook_url) }
                input id="webhook_url" name="webhook_url" type="url" maxlength="2048" value=(merchant.settings.webhook_url.as_deref().unwrap_or(""));
                label {
                    @if merchant.settings.forbid_public_access {
                        input type="checkbox" name="forbid_public_access" value="true" checked;
                    } @else {
                        input type="checkbox" name="forbid_public_access" value="true";
                    }
                    " " (words.forbid_public_access)
                }
                label for="acquirer" { (words.acquirer) }
                select id="acquirer" name="acquirer" {
                    option value="none" selected[current_route.is_none()] { (words.acquirer_none) }
                    @for route in &state.config.acquirers {
                        option value=(route.route.name) selected[current_route == Some(route.route.name.as_str())] { (route.route.name) }
                    }
                }
                p { button type="submit" { (words.save) } }
            }
            form.inline method="post" action=(format!("{path}/rotate-secret")) {
                (frame.csrf())
                button.secondary type="submit" { (words.rotate_secret) }
            }
            " "
            form.inline method="post" action=(format!("{path}/rotate-callback-secret")) {
                (frame.csrf())
                button.secondary type="submit" { (words.rotate_callback_secret) }
            }
        }
    };
    layout::respond(
        status,
        layout::document(&frame, merchant.name.as_str(), body),
    )
}

pub(crate) async fn detail(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<admin::Query>,
) -> Response {
    let staff = match admin::viewer(&state, &headers, &query, ip).await {
        Ok(staff) => staff,
        Err(answer) => return answer.into_response(),
    };
    match reached(&state, &staff, &id, Permission::ReadPayments).await {
        Ok(merchant) => detail_page(&state, &staff, &merchant, StatusCode::OK, None),
        Err(answer) => answer.into_response(),
    }
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
    if let Err(answer) = admin::allowed(&staff, Permission::ManageMerchants, LIST) {
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
    let webhook_url = admin::field(&fields, "webhook_url").map(str::to_owned);
    if webhook_url
        .as_deref()
        .is_some_and(|url| !issue::webhook_url_allowed(url, webhook_policy(&state)))
    {
        return refuse(words.webhook_invalid).await;
    }
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
        // A reseller outside the subtree is refused exactly like one that does not exist.
        Ok(reseller)
            if staff
                .reaches(&reseller.ancestry, Permission::ManageMerchants)
                .is_ok() => {}
        Ok(_) | Err(StoreError::NotFound(_)) => return refuse(words.reseller_invalid).await,
        Err(error) => return admin::failed(&error),
    }
    let (new, secrets) = issue::new_merchant(
        &state.key,
        reseller_id,
        name,
        admin::checked(&fields, "live"),
        MerchantSettings {
            forbid_public_access: admin::checked(&fields, "forbid_public_access"),
            webhook_url,
            default_locale: "en".to_owned(),
            acquirer: None,
        },
    );
    let actor = Actor::of(&staff);
    let now = state.clock.now();
    let created = state
        .store
        .write(move |db| {
            Box::pin(async move {
                let merchant = tenancy::create_merchant(db, new, &mut OsRandom, now).await?;
                let subject = format!("merchant:{}", merchant.id.get());
                admin::record(db, &actor, "merchant.create", &subject, now).await?;
                Ok(merchant)
            })
        })
        .await;
    let merchant = match created {
        Ok(merchant) => merchant,
        Err(StoreError::NotFound(_)) => return refuse(words.reseller_invalid).await,
        Err(error) => return admin::failed(&error),
    };
    let path = format!("{LIST}/{}", merchant.id.get());
    admin::secret_page(
        &staff,
        &path,
        merchant.name.as_str(),
        words.shown_once,
        &[
            (words.api_login, merchant.api_login.as_str()),
            (words.public_key, merchant.public_key.as_str()),
            (words.api_secret, secrets.api_secret.expose()),
            (words.callback_secret, secrets.callback_secret.expose()),
        ],
        (&path, words.back),
    )
}

pub(crate) async fn settings(
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
    let merchant = match reached(&state, &staff, &id, Permission::ManageMerchants).await {
        Ok(merchant) => merchant,
        Err(answer) => return answer.into_response(),
    };
    let words = words(&staff);
    let webhook_url = admin::field(&fields, "webhook_url").map(str::to_owned);
    if webhook_url
        .as_deref()
        .is_some_and(|url| !issue::webhook_url_allowed(url, webhook_policy(&state)))
    {
        return detail_page(
            &state,
            &staff,
            &merchant,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(words.webhook_invalid),
        );
    }
    let acquirer = match issue::acquirer_choice(
        &state.config,
        admin::field(&fields, "acquirer").unwrap_or("none"),
    ) {
        Ok(acquirer) => acquirer,
        Err(_) => {
            return detail_page(
                &state,
                &staff,
                &merchant,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(words.acquirer_unknown),
            );
        }
    };
    let forbid = admin::checked(&fields, "forbid_public_access");
    let actor = Actor::of(&staff);
    let now = state.clock.now();
    let id = merchant.id;
    let changed = state
        .store
        .write(move |db| {
            Box::pin(async move {
                administration::set_merchant_settings(db, id, webhook_url.as_deref(), forbid, now)
                    .await?;
                let merchant = tenancy::set_acquirer(db, id, acquirer.as_deref(), now).await?;
                let subject = format!("merchant:{}", id.get());
                admin::record(db, &actor, "merchant.settings", &subject, now).await?;
                Ok(merchant)
            })
        })
        .await;
    match changed {
        Ok(merchant) => {
            state
                .caches
                .forget_merchant(&merchant.api_login, &merchant.public_key);
            admin::back_to(&format!("{LIST}/{}", id.get()))
        }
        Err(error) => admin::failed(&error),
    }
}

pub(crate) async fn rotate_secret(
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
    let merchant = match reached(&state, &staff, &id, Permission::ManageMerchants).await {
        Ok(merchant) => merchant,
        Err(answer) => return answer.into_response(),
    };
    let words = words(&staff);
    let secret = issue::api_secret(merchant.test_mode);
    let digest = secret.digest();
    let actor = Actor::of(&staff);
    let now = state.clock.now();
    let id = merchant.id;
    let rotated = state
        .store
        .write(move |db| {
            Box::pin(async move {
                let merchant =
                    credentials::rotate_api_secret(db, id, digest, ApiSecretRotation::at(now))
                        .await?;
                let subject = format!("merchant:{}", id.get());
                admin::record(db, &actor, "merchant.rotate_secret", &subject, now).await?;
                Ok(merchant)
            })
        })
        .await;
    if let Err(error) = rotated {
        return admin::failed(&error);
    }
    // This node stops believing the old secret at once; other nodes within seconds.
    state
        .caches
        .forget_merchant(&merchant.api_login, &merchant.public_key);
    let path = format!("{LIST}/{}", id.get());
    admin::secret_page(
        &staff,
        &path,
        merchant.name.as_str(),
        words.shown_once,
        &[
            (words.api_login, merchant.api_login.as_str()),
            (words.api_secret, secret.expose()),
        ],
        (&path, words.back),
    )
}

pub(crate) async fn rotate_callback_secret(
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
    let merchant = match reached(&state, &staff, &id, Permission::ManageMerchants).await {
        Ok(merchant) => merchant,
        Err(answer) => return answer.into_response(),
    };
    let words = words(&staff);
    let issue::SealedSecret { secret, sealed } = issue::callback_secret(&state.key);
    let rotation = CallbackSecretRotation::at(state.clock.now());
    let actor = Actor::of(&staff);
    let now = rotation.at;
    let id = merchant.id;
    let rotated = state
        .store
        .write(move |db| {
            Box::pin(async move {
                credentials::rotate_callback_secret(db, id, sealed, rotation).await?;
                let subject = format!("merchant:{}", id.get());
                admin::record(db, &actor, "merchant.rotate_callback_secret", &subject, now).await
            })
        })
        .await;
    if let Err(error) = rotated {
        return admin::failed(&error);
    }
    let path = format!("{LIST}/{}", id.get());
    admin::secret_page(
        &staff,
        &path,
        merchant.name.as_str(),
        &format!("{} {}", words.shown_once, words.callback_overlap),
        &[(words.callback_secret, secret.expose())],
        (&path, words.back),
    )
}

/// The merchants' pages in the OpenAPI document.
pub fn openapi_paths() -> Map<String, Value> {
    let mut paths = Map::new();
    let mut create = operation(
        "Create a merchant (its secrets shown once)",
        Some(&[
            "name",
            "reseller_id",
            "live",
            "forbid_public_access",
            "webhook_url",
            "csrf_token",
        ]),
        true,
    );
    create["responses"]["422"] = json!({ "description": "Refused: the form again, with why." });
    paths.insert(
        LIST.into(),
        json!({ "get": operation("The merchants of the manager's subtree", None, true), "post": create }),
    );
    paths.insert(
        format!("{LIST}/{{id}}"),
        json!({ "get": admin::with_id(operation("A merchant and its settings", None, true)) }),
    );
    let mut settings = operation(
        "Change a merchant's settings",
        Some(&[
            "webhook_url",
            "forbid_public_access",
            "acquirer",
            "csrf_token",
        ]),
        true,
    );
    settings["responses"]["422"] = json!({ "description": "Refused: the page again, with why." });
    for (suffix, operation) in [
        ("settings", settings),
        (
            "rotate-secret",
            operation(
                "Replace a merchant's API secret (shown once)",
                Some(&["csrf_token"]),
                true,
            ),
        ),
        (
            "rotate-callback-secret",
            operation(
                "Replace a merchant's callback secret (shown once)",
                Some(&["csrf_token"]),
                true,
            ),
        ),
    ] {
        paths.insert(
            format!("{LIST}/{{id}}/{suffix}"),
            json!({ "post": admin::with_id(operation) }),
        );
    }
    paths
}

pub(crate) fn routes() -> obol_http::routes::Routes {
    obol_http::routes::Routes::new()
        .get(LIST, list)
        .post(LIST, create)
        .get("/dashboard/merchants/{id}", detail)
        .post("/dashboard/merchants/{id}/settings", settings)
        .post("/dashboard/merchants/{id}/rotate-secret", rotate_secret)
        .post(
            "/dashboard/merchants/{id}/rotate-callback-secret",
            rotate_callback_secret,
        )
}
