//! A payment's page (SPEC §7 "Payment detail"): every attribute, status history, card
//! attempts, callbacks with every delivery attempt and a replay form, ledger postings, audit
//! entries; and the actions a role allows (refund, complete with an offline method, capture
//! or cancel a hold). A payment outside the manager's subtree is 404, exactly like one that
//! does not exist; a role that may not act gets no form, and a POST anyway answers 403. Every
//! action is audited (`payment.refund`, … on `payment:{id}`) in the action's transaction, and
//! a refusal of the core shows the page again with the error (422).

use std::collections::HashMap;

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::html;
use obol_core::catalog::PaymentMethod;
use obol_core::ids::{PaymentId, PaymentMethodId};
use obol_core::money::Money;
use obol_core::payment::{Actor, Payment, PaymentError, PaymentEvent};
use obol_core::tenancy::{Permission, TenancyError};
use obol_http::auth::ClientIp;
use obol_http::page::texts::Language;
use obol_http::state::AppState;
use obol_http::upstream::{self, RouteError};
use obol_store::ops::callbacks::{self, Callback, Subject};
use obol_store::ops::ledger::{self, StoredPosting};
use obol_store::ops::payments::{self, StatusChange};
use obol_store::ops::search::{self, CardAttempt, DeliveryAttempt};
use obol_store::ops::{audit, catalog, tenancy};
use obol_store::{StoreError, StoreResult};

use crate::layout::{self, Frame};
use crate::payments::when;
use crate::session::{self, Denied, Staff};
use crate::texts;

type FormBody = Result<Form<HashMap<String, String>>, FormRejection>;

struct Words {
    attributes: &'static str,
    history: &'static str,
    attempts: &'static str,
    callbacks: &'static str,
    ledger: &'static str,
    audit: &'static str,
    actions: &'static str,
    when: &'static str,
    from: &'static str,
    to: &'static str,
    who: &'static str,
    event: &'static str,
    card: &'static str,
    status: &'static str,
    url: &'static str,
    response: &'static str,
    delivered: &'static str,
    replay: &'static str,
    account: &'static str,
    amount: &'static str,
    kind: &'static str,
    action: &'static str,
    manager: &'static str,
    address: &'static str,
    refund: &'static str,
    refund_hint: &'static str,
    complete: &'static str,
    method: &'static str,
    capture: &'static str,
    cancel: &'static str,
    none: &'static str,
    refused_exceeds: &'static str,
    refused_amount: &'static str,
    refused_status: &'static str,
    refused_method: &'static str,
    refused_provider: &'static str,
    refused_changed: &'static str,
}

const ENGLISH: Words = Words {
    attributes: "Attributes",
    history: "Status history",
    attempts: "Card attempts",
    callbacks: "Callbacks",
    ledger: "Ledger postings",
    audit: "Audit",
    actions: "Actions",
    when: "When (UTC)",
    from: "From",
    to: "To",
    who: "Who",
    event: "Event",
    card: "Card",
    status: "Status",
    url: "URL",
    response: "Response code",
    delivered: "Delivered",
    replay: "Send again",
    account: "Account",
    amount: "Amount",
    kind: "Kind",
    action: "Action",
    manager: "Manager",
    address: "Address",
    refund: "Refund",
    refund_hint: "Amount (empty: all that is left)",
    complete: "Complete",
    method: "Offline method",
    capture: "Capture",
    cancel: "Cancel the hold",
    none: "None.",
    refused_exceeds: "The refund exceeds what is left to refund.",
    refused_amount: "The amount is not valid.",
    refused_status: "The payment cannot do this in its status.",
    refused_method: "Choose an offline method.",
    refused_provider: "The payment provider did not do it. Try again later.",
    refused_changed: "The payment changed meanwhile. Look again and retry.",
};

const RUSSIAN: Words = Words {
    attributes: "Атрибуты",
    history: "История статусов",
    attempts: "Попытки оплаты картой",
    callbacks: "Колбэки",
    ledger: "Проводки",
    audit: "Аудит",
    actions: "Действия",
    when: "Когда (UTC)",
    from: "Из",
    to: "В",
    who: "Кто",
    event: "Событие",
    card: "Карта",
    status: "Статус",
    url: "URL",
    response: "Код ответа",
    delivered: "Доставлен",
    replay: "Отправить снова",
    account: "Счёт",
    amount: "Сумма",
    kind: "Вид",
    action: "Действие",
    manager: "Менеджер",
    address: "Адрес",
    refund: "Вернуть",
    refund_hint: "Сумма (пусто: весь остаток)",
    complete: "Завершить",
    method: "Офлайн-метод",
    capture: "Списать",
    cancel: "Отменить холд",
    none: "Нет.",
    refused_exceeds: "Возврат больше, чем осталось вернуть.",
    refused_amount: "Сумма неверна.",
    refused_status: "В этом статусе платёж не может этого.",
    refused_method: "Выберите офлайн-метод.",
    refused_provider: "Платёжный провайдер этого не сделал. Попробуйте позже.",
    refused_changed: "Платёж тем временем изменился. Посмотрите снова и повторите.",
};

const UKRAINIAN: Words = Words {
    attributes: "Атрибути",
    history: "Історія статусів",
    attempts: "Спроби оплати карткою",
    callbacks: "Колбеки",
    ledger: "Проводки",
    audit: "Аудит",
    actions: "Дії",
    when: "Коли (UTC)",
    from: "З",
    to: "У",
    who: "Хто",
    event: "Подія",
    card: "Картка",
    status: "Статус",
    url: "URL",
    response: "Код відповіді",
    delivered: "Доставлено",
    replay: "Надіслати знову",
    account: "Рахунок",
    amount: "Сума",
    kind: "Вид",
    action: "Дія",
    manager: "Менеджер",
    address: "Адреса",
    refund: "Повернути",
    refund_hint: "Сума (порожньо: весь залишок)",
    complete: "Завершити",
    method: "Офлайн-метод",
    capture: "Списати",
    cancel: "Скасувати холд",
    none: "Немає.",
    refused_exceeds: "Повернення більше, ніж залишилося повернути.",
    refused_amount: "Сума невірна.",
    refused_status: "У цьому статусі платіж не може цього.",
    refused_method: "Оберіть офлайн-метод.",
    refused_provider: "Платіжний провайдер цього не зробив. Спробуйте пізніше.",
    refused_changed: "Платіж тим часом змінився. Перегляньте знову й повторіть.",
};

fn words(language: Language) -> &'static Words {
    texts::pick(language, &ENGLISH, &RUSSIAN, &UKRAINIAN)
}

/// Everything a payment's page shows, read in one snapshot.
struct Detail {
    payment: Payment,
    merchant_name: Option<String>,
    history: Vec<StatusChange>,
    attempts: Vec<CardAttempt>,
    callbacks: Vec<Callback>,
    deliveries: Vec<DeliveryAttempt>,
    postings: Vec<StoredPosting>,
    audit: Vec<audit::AuditEntry>,
    offline_methods: Vec<PaymentMethod>,
}

/// Why an action did not happen, as the page says it.
enum Refusal {
    Exceeds,
    Amount,
    Status,
    Method,
    Provider,
    Changed,
}

impl Refusal {
    fn text(&self, words: &Words) -> &'static str {
        match self {
            Refusal::Exceeds => words.refused_exceeds,
            Refusal::Amount => words.refused_amount,
            Refusal::Status => words.refused_status,
            Refusal::Method => words.refused_method,
            Refusal::Provider => words.refused_provider,
            Refusal::Changed => words.refused_changed,
        }
    }

    fn of_payment(error: &PaymentError) -> Refusal {
        match error {
            PaymentError::RefundExceedsProcessed => Refusal::Exceeds,
            PaymentError::InvalidRefundAmount | PaymentError::Money(_) => Refusal::Amount,
            PaymentError::MethodNotOffline => Refusal::Method,
            _ => Refusal::Status,
        }
    }

    /// A refusal in a store error, or `None` for a failure of the database.
    fn of_store(error: &StoreError) -> Option<Refusal> {
        match error {
            StoreError::Payment(error) => Some(Refusal::of_payment(error)),
            StoreError::Conflict => Some(Refusal::Changed),
            _ => None,
        }
    }

    fn of_route(error: &RouteError) -> Option<Refusal> {
        match error {
            RouteError::Payment(error) => Some(Refusal::of_payment(error)),
            RouteError::Store(error) => Refusal::of_store(error),
            _ => Some(Refusal::Provider),
        }
    }
}

/// The payment `id` and its reseller's ancestry, if it exists.
async fn scoped(state: &AppState, staff: &Staff, id: &str) -> Result<Payment, Denied> {
    let frame = staff.frame("/dashboard/payments");
    let Ok(id) = PaymentId::parse(id) else {
        return Err(layout::not_found(&frame).into());
    };
    let found = state
        .store
        .read(move |db| {
            Box::pin(async move {
                let Some(payment) = payments::get_payment(db, &id).await? else {
                    return Ok(None);
                };
                let reseller = tenancy::get_reseller(db, payment.reseller_id).await?;
                Ok(Some((payment, reseller)))
            })
        })
        .await
        .map_err(|error| Denied::from(layout::store_error(&error)))?;
    match found {
        Some((payment, reseller))
            if staff
                .reaches(&reseller.ancestry, Permission::ReadPayments)
                .is_ok() =>
        {
            Ok(payment)
        }
        _ => Err(layout::not_found(&frame).into()),
    }
}

async fn detail(state: &AppState, payment: Payment) -> StoreResult<Detail> {
    state
        .store
        .read(move |db| {
            Box::pin(async move {
                let id = payment.id.clone();
                let merchant_name = match payment.merchant_id {
                    Some(merchant) => Some(
                        tenancy::get_merchant(db, merchant)
                            .await?
                            .name
                            .as_str()
                            .to_owned(),
                    ),
                    None => None,
                };
                let mut audit_entries =
                    audit::for_subject(db, &format!("payment:{}", id.as_str())).await?;
                // The API doors audit a payment under its bare id.
                audit_entries.extend(audit::for_subject(db, id.as_str()).await?);
                audit_entries.sort_by_key(|entry| entry.at);
                Ok(Detail {
                    merchant_name,
                    history: payments::history(db, &id).await?,
                    attempts: search::attempts_of_payment(db, &id).await?,
                    callbacks: callbacks::for_payment(db, &id).await?,
                    deliveries: search::callback_attempts_of_payment(db, &id).await?,
                    postings: ledger::postings_of_payment(db, id.as_str()).await?,
                    audit: audit_entries,
                    offline_methods: catalog::list_methods(db)
                        .await?
                        .into_iter()
                        .filter(|method| !method.online)
                        .collect(),
                    payment,
                })
            })
        })
        .await
}

fn method_name(method: &PaymentMethod, language: Language) -> &str {
    match language {
        Language::English => &method.name.en,
        Language::Russian => &method.name.ru,
        Language::Ukrainian => &method.name.uk,
    }
}

fn optional(value: Option<impl ToString>) -> String {
    value.map(|value| value.to_string()).unwrap_or_default()
}

fn render(staff: &Staff, detail: &Detail, status: StatusCode, error: Option<&str>) -> Response {
    let payment = &detail.payment;
    let path = format!("/dashboard/payments/{}", payment.id.as_str());
    let frame = staff.frame(&path);
    let words = words(staff.language);
    let list = crate::payments::words(staff.language);
    let may_refund = staff.may(Permission::RefundPayments);
    let may_complete = staff.may(Permission::CompletePayments);
    let money = |amount: Money| {
        format!(
            "{} {}",
            amount.to_decimal_string(),
            amount.currency().code()
        )
    };
    let card = payment.card.as_ref();
    let attributes: Vec<(&str, String)> = vec![
        ("id", payment.id.as_str().to_owned()),
        ("number", payment.number.get().to_string()),
        ("document_id", payment.document_id.get().to_string()),
        ("order_id", payment.order_id.get().to_string()),
        ("status", payment.status.as_str().to_owned()),
        ("resolution", payment.resolution.as_str().to_owned()),
        ("mode", payment.mode().as_str().to_owned()),
        ("amount", money(payment.amount)),
        ("fee", money(payment.fee)),
        ("deposit", money(payment.deposit)),
        ("processed_amount", money(payment.processed_amount)),
        ("refunded_amount", money(payment.refunded_amount)),
        ("reseller_id", payment.reseller_id.get().to_string()),
        (
            "merchant",
            format!(
                "{} {}",
                optional(payment.merchant_id.map(|id| id.get())),
                detail.merchant_name.as_deref().unwrap_or("")
            ),
        ),
        (
            "customer_account_id",
            optional(payment.customer_account_id.map(|id| id.get())),
        ),
        (
            "customer_id",
            optional(
                payment
                    .customer_id
                    .as_ref()
                    .map(|id| id.as_str().to_owned()),
            ),
        ),
        ("reference_id", optional(payment.reference_id.as_deref())),
        ("external_id", optional(payment.external_id.as_deref())),
        (
            "service_id",
            optional(payment.service_id.map(|id| id.get())),
        ),
        ("method_id", optional(payment.method_id.map(|id| id.get()))),
        ("flow", payment.flow.as_str().to_owned()),
        ("source", payment.source.as_str().to_owned()),
        ("description", optional(payment.description.as_deref())),
        ("metadata", optional(payment.metadata.as_deref())),
        (
            "service_fields",
            optional(payment.service_fields.as_deref()),
        ),
        (
            "return_url",
            optional(payment.return_urls.default.as_deref()),
        ),
        (
            "return_url_success",
            optional(payment.return_urls.success.as_deref()),
        ),
        (
            "return_url_fail",
            optional(payment.return_urls.fail.as_deref()),
        ),
        (
            "return_url_pending",
            optional(payment.return_urls.pending.as_deref()),
        ),
        ("callback_url", optional(payment.callback_url.as_deref())),
        ("locale", optional(payment.locale.as_deref())),
        ("requester_ip", optional(payment.requester_ip.as_deref())),
        ("card", optional(card.map(|card| card.mask()))),
        ("card_brand", optional(card.map(|card| card.brand.clone()))),
        (
            "card_expiry",
            optional(card.map(|card| format!("{:02}/{}", card.expiry_month, card.expiry_year))),
        ),
        (
            "card_holder",
            optional(card.and_then(|card| card.holder.clone())),
        ),
        (
            "card_issuer",
            optional(card.and_then(|card| card.issuer.clone())),
        ),
        ("manual_capture", payment.manual_capture.to_string()),
        ("authorized_at", optional(payment.authorized_at.map(when))),
        ("route", optional(payment.route.as_deref())),
        ("upstream_id", optional(payment.upstream_id.as_deref())),
        (
            "completed_by",
            optional(payment.completed_by.map(|id| id.get())),
        ),
        (
            "completed_method_id",
            optional(payment.completed_method_id.map(|id| id.get())),
        ),
        ("expires_at", optional(payment.expires_at.map(when))),
        ("created_at", when(payment.created_at)),
        ("updated_at", when(payment.updated_at)),
        ("processed_at", optional(payment.processed_at.map(when))),
        ("closed_at", optional(payment.closed_at.map(when))),
    ];
    let action = |name: &str| format!("/dashboard/payments/{}/{name}", payment.id.as_str());
    let body = html! {
        @if let Some(error) = error {
            p.error role="alert" { (error) }
        }
        @if (may_refund && payment.has_refundable_rest()) || (may_complete && (payment.status.is_open() || payment.waits_for_capture())) {
            h2 { (words.actions) }
            div.card {
                @if may_refund && payment.has_refundable_rest() {
                    form method="post" action=(action("refund")) {
                        (frame.csrf())
                        label for="amount" { (words.refund_hint) }
                        input id="amount" name="amount" type="text" inputmode="decimal";
                        " " button type="submit" { (words.refund) }
                    }
                }
                @if may_complete && payment.waits_for_capture() {
                    form.inline method="post" action=(action("capture")) {
                        (frame.csrf())
                        button type="submit" { (words.capture) }
                    }
                    " "
                    form.inline method="post" action=(action("cancel")) {
                        (frame.csrf())
                        button.secondary type="submit" { (words.cancel) }
                    }
                } @else if may_complete && payment.status.is_open() {
                    form method="post" action=(action("complete")) {
                        (frame.csrf())
                        label for="payment_method_id" { (words.method) }
                        select id="payment_method_id" name="payment_method_id" {
                            @for method in &detail.offline_methods {
                                option value=(method.id.get()) { (method_name(method, staff.language)) " (" (method.code) ")" }
                            }
                        }
                        " " button type="submit" { (words.complete) }
                    }
                }
            }
        }
        h2 { (words.attributes) }
        dl.facts {
            @for (name, value) in &attributes {
                dt { (name) }
                dd { (value) }
            }
        }
        h2 { (words.history) }
        @if detail.history.is_empty() { p { (words.none) } } @else {
            div.table { table {
                thead { tr { th { (words.when) } th { (words.from) } th { (words.to) } th { "resolution" } th { (words.event) } th { (words.who) } } }
                tbody {
                    @for change in &detail.history {
                        tr {
                            td { (when(change.at)) }
                            td { (change.from.map(|status| status.as_str()).unwrap_or("")) }
                            td { (change.to.as_str()) }
                            td { (change.resolution.as_str()) }
                            td { (change.event) }
                            td { (change.actor) }
                        }
                    }
                }
            } }
        }
        h2 { (words.attempts) }
        @if detail.attempts.is_empty() { p { (words.none) } } @else {
            div.table { table {
                thead { tr { th { (words.when) } th { (words.card) } th { "brand" } th { (words.status) } } }
                tbody {
                    @for attempt in &detail.attempts {
                        tr {
                            td { (when(attempt.created_at)) }
                            td { (attempt.card.mask()) }
                            td { (attempt.card.brand) }
                            td { (attempt.status) }
                        }
                    }
                }
            } }
        }
        h2 { (words.callbacks) }
        @if detail.callbacks.is_empty() { p { (words.none) } } @else {
            @for callback in &detail.callbacks {
                div.card {
                    p {
                        strong { (callback.delivery_id) } " · " (callback.dialect) " · " (callback.status.as_str())
                        " · " (callback.transaction_status) " · " (words.url) ": " (callback.url)
                    }
                    div.table { table {
                        thead { tr { th { (words.when) } th { (words.response) } th { (words.delivered) } th { "error" } } }
                        tbody {
                            @for attempt in detail.deliveries.iter().filter(|attempt| attempt.callback_id == callback.id) {
                                tr {
                                    td { (when(attempt.finished_at)) }
                                    td { (optional(attempt.response_code)) }
                                    td { (attempt.delivered) }
                                    td { (attempt.error.as_deref().unwrap_or("")) }
                                }
                            }
                        }
                    } }
                    @if may_complete {
                        form method="post" action=(format!("/dashboard/callbacks/{}/replay", callback.delivery_id)) {
                            (frame.csrf())
                            button.secondary type="submit" { (words.replay) }
                        }
                    }
                }
            }
        }
        h2 { (words.ledger) }
        @if detail.postings.is_empty() { p { (words.none) } } @else {
            div.table { table {
                thead { tr { th { (words.when) } th { "#" } th { (words.kind) } th { (list.mode) } th { (words.account) } th.num { (words.amount) } th { (list.currency) } } }
                tbody {
                    @for posting in &detail.postings {
                        tr {
                            td { (when(posting.created_at)) }
                            td { (posting.transaction_id) }
                            td { (posting.kind.as_str()) }
                            td { (posting.mode.as_str()) }
                            td { (posting.account.as_str()) }
                            td.num { (posting.amount.to_decimal_string()) }
                            td { (posting.amount.currency().code()) }
                        }
                    }
                }
            } }
        }
        h2 { (words.audit) }
        @if detail.audit.is_empty() { p { (words.none) } } @else {
            div.table { table {
                thead { tr { th { (words.when) } th { (words.manager) } th { (words.action) } th { (words.address) } } }
                tbody {
                    @for entry in &detail.audit {
                        tr {
                            td { (when(entry.at)) }
                            td { (entry.manager_id.get()) }
                            td { (entry.action) }
                            td { (entry.ip.as_deref().unwrap_or("")) }
                        }
                    }
                }
            } }
        }
    };
    layout::respond(
        status,
        layout::document(
            &frame,
            &format!("{} {}", list.payment, payment.id.as_str()),
            body,
        ),
    )
}

pub(crate) async fn page(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let staff =
        match session::staff(&state, &headers, query.get("lang").map(String::as_str), ip).await {
            Ok(staff) => staff,
            Err(denied) => return denied.into_response(),
        };
    let payment = match scoped(&state, &staff, &id).await {
        Ok(payment) => payment,
        Err(denied) => return denied.into_response(),
    };
    match detail(&state, payment).await {
        Ok(detail) => render(&staff, &detail, StatusCode::OK, None),
        Err(error) => layout::store_error(&error),
    }
}

/// What every action checks first: a session, the form, its CSRF token, the payment in the
/// manager's subtree (else 404), and the role (else 403).
async fn admit(
    state: &AppState,
    headers: &HeaderMap,
    ip: Option<String>,
    id: &str,
    form: FormBody,
    permission: Permission,
) -> Result<(Staff, Payment, HashMap<String, String>), Denied> {
    let staff = session::staff(state, headers, None, ip).await?;
    let Ok(Form(fields)) = form else {
        return Err(layout::bad_request(&staff.frame("/dashboard/payments")).into());
    };
    staff.check_csrf(state, fields.get("csrf_token").map(String::as_str))?;
    let payment = scoped(state, &staff, id).await?;
    let reseller = {
        let reseller_id = payment.reseller_id;
        state
            .store
            .read(move |db| Box::pin(async move { tenancy::get_reseller(db, reseller_id).await }))
            .await
            .map_err(|error| Denied::from(layout::store_error(&error)))?
    };
    match staff.reaches(&reseller.ancestry, permission) {
        Ok(()) => Ok((staff, payment, fields)),
        Err(TenancyError::OutOfScope) => {
            Err(layout::not_found(&staff.frame("/dashboard/payments")).into())
        }
        Err(_) => Err(layout::forbidden(&staff.frame("/dashboard/payments")).into()),
    }
}

/// 303 back to the payment's page.
fn back(id: &PaymentId) -> Response {
    let location = format!("/dashboard/payments/{}", id.as_str());
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// The page again with the refusal (422).
async fn refused(state: &AppState, staff: &Staff, id: &PaymentId, refusal: Refusal) -> Response {
    let read = {
        let id = id.clone();
        state
            .store
            .read(move |db| Box::pin(async move { payments::get_payment(db, &id).await }))
            .await
    };
    let payment = match read {
        Ok(Some(payment)) => payment,
        Ok(None) => return layout::not_found(&staff.frame("/dashboard/payments")),
        Err(error) => return layout::store_error(&error),
    };
    match detail(state, payment).await {
        Ok(detail) => render(
            staff,
            &detail,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(refusal.text(words(staff.language))),
        ),
        Err(error) => layout::store_error(&error),
    }
}

/// Applies `event` by the core through the outbox, with its audit entry, in one transaction.
async fn transition(
    state: &AppState,
    staff: &Staff,
    payment: &Payment,
    event: PaymentEvent,
    action: &'static str,
) -> Response {
    let outbox = state.outbox.clone();
    let now = state.clock.now();
    let manager = staff.manager.id;
    let address = staff.ip.clone();
    let id = payment.id.clone();
    let written = state
        .store
        .write(move |db| {
            Box::pin(async move {
                outbox
                    .transition(db, &id, event, Actor::Manager(manager), now)
                    .await?;
                audit::record(
                    db,
                    manager,
                    action,
                    &format!("payment:{}", id.as_str()),
                    address.as_deref(),
                    now,
                )
                .await
            })
        })
        .await;
    match written {
        Ok(()) => back(&payment.id),
        Err(error) => match Refusal::of_store(&error) {
            Some(refusal) => refused(state, staff, &payment.id, refusal).await,
            None => layout::store_error(&error),
        },
    }
}

/// The audit entry of an action done outside one transaction (through a live route).
async fn record(
    state: &AppState,
    staff: &Staff,
    payment: &PaymentId,
    action: &'static str,
) -> Response {
    let now = state.clock.now();
    let manager = staff.manager.id;
    let address = staff.ip.clone();
    let subject = format!("payment:{}", payment.as_str());
    let written = state
        .store
        .write(move |db| {
            Box::pin(async move {
                audit::record(db, manager, action, &subject, address.as_deref(), now).await
            })
        })
        .await;
    match written {
        Ok(()) => back(payment),
        Err(error) => layout::store_error(&error),
    }
}

pub(crate) async fn refund(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: FormBody,
) -> Response {
    let (staff, payment, fields) =
        match admit(&state, &headers, ip, &id, form, Permission::RefundPayments).await {
            Ok(admitted) => admitted,
            Err(denied) => return denied.into_response(),
        };
    let amount = match fields
        .get("amount")
        .map(|text| text.trim())
        .filter(|text| !text.is_empty())
    {
        None => None,
        Some(text) => match Money::parse_decimal(text, payment.amount.currency()) {
            Ok(amount) if amount.is_positive() => Some(amount),
            _ => return refused(&state, &staff, &payment.id, Refusal::Amount).await,
        },
    };
    if payment.route.is_some() {
        let actor = Actor::Manager(staff.manager.id);
        return match upstream::refund(&state, &payment.id, amount, &actor, None).await {
            Ok(_) => record(&state, &staff, &payment.id, "payment.refund").await,
            Err(error) => match Refusal::of_route(&error) {
                Some(refusal) => refused(&state, &staff, &payment.id, refusal).await,
                None => {
                    tracing::error!(%error, "a dashboard refund failed");
                    layout::bare_message(StatusCode::INTERNAL_SERVER_ERROR)
                }
            },
        };
    }
    match payment.refund_event(amount) {
        Ok(event) => transition(&state, &staff, &payment, event, "payment.refund").await,
        Err(error) => refused(&state, &staff, &payment.id, Refusal::of_payment(&error)).await,
    }
}

pub(crate) async fn complete(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: FormBody,
) -> Response {
    let (staff, payment, fields) = match admit(
        &state,
        &headers,
        ip,
        &id,
        form,
        Permission::CompletePayments,
    )
    .await
    {
        Ok(admitted) => admitted,
        Err(denied) => return denied.into_response(),
    };
    let Some(method_id) = fields
        .get("payment_method_id")
        .and_then(|text| text.trim().parse::<i64>().ok())
        .map(PaymentMethodId::new)
    else {
        return refused(&state, &staff, &payment.id, Refusal::Method).await;
    };
    let method = match state
        .store
        .read(move |db| Box::pin(async move { catalog::get_method(db, method_id).await }))
        .await
    {
        Ok(method) => method,
        Err(error) => return layout::store_error(&error),
    };
    match PaymentEvent::offline_completion(staff.manager.id, method.as_ref()) {
        Ok(event) => transition(&state, &staff, &payment, event, "payment.complete").await,
        Err(error) => refused(&state, &staff, &payment.id, Refusal::of_payment(&error)).await,
    }
}

async fn settle(
    state: AppState,
    ip: Option<String>,
    headers: HeaderMap,
    id: String,
    form: FormBody,
    take: bool,
) -> Response {
    let (staff, payment, _) = match admit(
        &state,
        &headers,
        ip,
        &id,
        form,
        Permission::CompletePayments,
    )
    .await
    {
        Ok(admitted) => admitted,
        Err(denied) => return denied.into_response(),
    };
    let action = if take {
        "payment.capture"
    } else {
        "payment.cancel"
    };
    if payment.route.is_some() {
        return match upstream::settle_hold(&state, &payment, take).await {
            Ok(_) => record(&state, &staff, &payment.id, action).await,
            Err(error) => match Refusal::of_route(&error) {
                Some(refusal) => refused(&state, &staff, &payment.id, refusal).await,
                None => {
                    tracing::error!(%error, "a dashboard capture or cancellation failed");
                    layout::bare_message(StatusCode::INTERNAL_SERVER_ERROR)
                }
            },
        };
    }
    match payment.settle_hold(take) {
        Ok(event) => transition(&state, &staff, &payment, event, action).await,
        Err(error) => refused(&state, &staff, &payment.id, Refusal::of_payment(&error)).await,
    }
}

pub(crate) async fn capture(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: FormBody,
) -> Response {
    settle(state, ip, headers, id, form, true).await
}

pub(crate) async fn cancel(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: FormBody,
) -> Response {
    settle(state, ip, headers, id, form, false).await
}

/// Sends a payment's callback again (same delivery id and body), as `obol callback replay`
/// does; the manager must be one who may act on the payment.
pub(crate) async fn replay(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path(delivery_id): Path<String>,
    form: FormBody,
) -> Response {
    let staff = match session::staff(&state, &headers, None, ip.clone()).await {
        Ok(staff) => staff,
        Err(denied) => return denied.into_response(),
    };
    let frame: Frame<'_> = staff.frame("/dashboard/payments");
    let found = {
        let delivery_id = delivery_id.clone();
        state
            .store
            .read(move |db| {
                Box::pin(async move { callbacks::find_by_delivery_id(db, &delivery_id).await })
            })
            .await
    };
    let payment_id = match found {
        Ok(Some(Callback {
            subject: Subject::Payment(id),
            ..
        })) => id,
        Ok(_) => {
            // Check the form first, so a forged request learns nothing either way.
            if let Ok(Form(fields)) = &form
                && let Err(denied) =
                    staff.check_csrf(&state, fields.get("csrf_token").map(String::as_str))
            {
                return denied.into_response();
            }
            return layout::not_found(&frame);
        }
        Err(error) => return layout::store_error(&error),
    };
    let (staff, payment, _) = match admit(
        &state,
        &headers,
        ip,
        payment_id.as_str(),
        form,
        Permission::CompletePayments,
    )
    .await
    {
        Ok(admitted) => admitted,
        Err(denied) => return denied.into_response(),
    };
    let now = state.clock.now();
    let manager = staff.manager.id;
    let address = staff.ip.clone();
    let subject = format!("payment:{}", payment.id.as_str());
    let written = state
        .store
        .write(move |db| {
            Box::pin(async move {
                callbacks::replay(db, &delivery_id, now).await?;
                audit::record(
                    db,
                    manager,
                    "callback.replay",
                    &subject,
                    address.as_deref(),
                    now,
                )
                .await
            })
        })
        .await;
    match written {
        Ok(()) => back(&payment.id),
        Err(error) => layout::store_error(&error),
    }
}
