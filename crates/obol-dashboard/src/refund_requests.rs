//! Softline refund requests (SPEC §7): the open ones of the manager's subtree, carried out or
//! rejected by a manager whose role refunds (`RefundPayments`).
//!
//! Carrying one out refunds all that is left of its payment, as `obol refund-request` does: a
//! payment a live route settled is refunded at its provider first (`upstream::refund`; a
//! refusal changes nothing and is shown), any other through the core and the outbox (which
//! makes a Softline payment `deleted` and sends `product.returned`); then the request is closed
//! and the action audited, in the same transaction.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::html;
use obol_core::payment::{Actor as PaymentActor, Payment};
use obol_core::tenancy::Permission;
use obol_http::auth::ClientIp;
use obol_http::state::AppState;
use obol_store::StoreError;
use obol_store::error::Entity;
use obol_store::ops::refund_requests::{self, RefundRequest, RefundRequestStatus};
use obol_store::ops::{payments, tenancy};
use serde_json::{Map, Value, json};

use crate::admin::{self, Actor, FormBody};
use crate::layout;
use crate::login::operation;
use crate::session::{Denied, Staff};
use crate::texts;

struct Words {
    title: &'static str,
    id: &'static str,
    payment: &'static str,
    order: &'static str,
    left: &'static str,
    description: &'static str,
    email: &'static str,
    opened: &'static str,
    carry_out: &'static str,
    reject: &'static str,
    empty: &'static str,
    not_open: &'static str,
    not_refundable: &'static str,
    provider_refused: &'static str,
}

const ENGLISH: Words = Words {
    title: "Refund requests",
    id: "ID",
    payment: "Payment",
    order: "Order",
    left: "Left to refund",
    description: "Description",
    email: "Email",
    opened: "Opened (UTC)",
    carry_out: "Refund",
    reject: "Reject",
    empty: "No open refund requests.",
    not_open: "This request is no longer open.",
    not_refundable: "This payment holds no money to refund.",
    provider_refused: "The payment provider did not refund; nothing changed.",
};

const RUSSIAN: Words = Words {
    title: "Запросы на возврат",
    id: "ID",
    payment: "Платёж",
    order: "Заказ",
    left: "Осталось вернуть",
    description: "Описание",
    email: "Email",
    opened: "Открыт (UTC)",
    carry_out: "Вернуть",
    reject: "Отклонить",
    empty: "Открытых запросов на возврат нет.",
    not_open: "Этот запрос уже закрыт.",
    not_refundable: "В этом платеже нет денег для возврата.",
    provider_refused: "Платёжный провайдер не вернул деньги; ничего не изменилось.",
};

const UKRAINIAN: Words = Words {
    title: "Запити на повернення",
    id: "ID",
    payment: "Платіж",
    order: "Замовлення",
    left: "Залишилося повернути",
    description: "Опис",
    email: "Email",
    opened: "Відкрито (UTC)",
    carry_out: "Повернути",
    reject: "Відхилити",
    empty: "Відкритих запитів на повернення немає.",
    not_open: "Цей запит уже закрито.",
    not_refundable: "У цьому платежі немає грошей для повернення.",
    provider_refused: "Платіжний провайдер не повернув гроші; нічого не змінилося.",
};

fn words(staff: &Staff) -> &'static Words {
    texts::pick(staff.language, &ENGLISH, &RUSSIAN, &UKRAINIAN)
}

const LIST: &str = "/dashboard/refund-requests";

async fn list_page(
    state: &AppState,
    staff: &Staff,
    status: StatusCode,
    error: Option<&str>,
) -> Response {
    let found = state
        .store
        .read(|db| {
            Box::pin(async move {
                let mut rows = Vec::new();
                for request in refund_requests::list_open(db).await? {
                    let Some(payment) = payments::get_payment(db, &request.payment_id).await?
                    else {
                        continue;
                    };
                    let reseller = tenancy::get_reseller(db, payment.reseller_id).await?;
                    rows.push((request, payment, reseller.ancestry));
                }
                Ok(rows)
            })
        })
        .await;
    let rows = match found {
        Ok(rows) => rows,
        Err(error) => return admin::failed(&error),
    };
    let rows: Vec<(RefundRequest, Payment)> = rows
        .into_iter()
        .filter(|(_, _, ancestry)| staff.reaches(ancestry, Permission::ReadPayments).is_ok())
        .map(|(request, payment, _)| (request, payment))
        .collect();
    let frame = staff.frame(LIST);
    let words = words(staff);
    let may_act = staff.may(Permission::RefundPayments);
    let body = html! {
        (admin::error_line(error))
        @if rows.is_empty() {
            p { (words.empty) }
        } @else {
            div.table { table {
                thead { tr {
                    th { (words.id) } th { (words.payment) } th { (words.order) } th.num { (words.left) }
                    th { (words.description) } th { (words.email) } th { (words.opened) } th {}
                } }
                tbody {
                    @for (request, payment) in &rows {
                        tr {
                            td { (request.id) }
                            td { a href=(format!("/dashboard/payments/{}", payment.id.as_str())) { (payment.id.as_str()) } }
                            td { (payment.order_id.get()) }
                            td.num {
                                (payment.refundable_rest().map(|left| left.to_decimal_string()).unwrap_or_default())
                                " " (payment.amount.currency().code())
                            }
                            td { (request.description.as_deref().unwrap_or("")) }
                            td { (request.email.as_deref().unwrap_or("")) }
                            td { (request.created_at.to_rfc3339_millis()) }
                            td {
                                @if may_act {
                                    form.inline method="post" action=(format!("{LIST}/{}/carry-out", request.id)) {
                                        (frame.csrf())
                                        button type="submit" { (words.carry_out) }
                                    }
                                    " "
                                    form.inline method="post" action=(format!("{LIST}/{}/reject", request.id)) {
                                        (frame.csrf())
                                        button.secondary type="submit" { (words.reject) }
                                    }
                                }
                            }
                        }
                    }
                }
            } }
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

/// The request `id` names with its payment, for a manager who may refund it: 404 when missing
/// or outside the subtree, 403 when the role may not.
async fn reached(
    state: &AppState,
    staff: &Staff,
    id: &str,
) -> Result<(RefundRequest, Payment), Denied> {
    let not_found = || Denied::from(layout::not_found(&staff.frame(LIST)));
    let Ok(id) = id.parse::<i64>() else {
        return Err(not_found());
    };
    let found = state
        .store
        .read(move |db| {
            Box::pin(async move {
                let request = refund_requests::get(db, id).await?;
                let payment = payments::get_payment(db, &request.payment_id)
                    .await?
                    .ok_or(StoreError::NotFound(Entity::Payment))?;
                let reseller = tenancy::get_reseller(db, payment.reseller_id).await?;
                Ok((request, payment, reseller.ancestry))
            })
        })
        .await;
    match found {
        Ok((request, payment, ancestry)) => {
            admin::reach(staff, &ancestry, Permission::RefundPayments, LIST)?;
            Ok((request, payment))
        }
        Err(StoreError::NotFound(_)) => Err(not_found()),
        Err(error) => Err(admin::failed(&error).into()),
    }
}

async fn close(
    state: AppState,
    ip: Option<String>,
    headers: HeaderMap,
    id: String,
    form: FormBody,
    reject: bool,
) -> Response {
    let (staff, _) = match admin::poster(&state, &headers, ip, form).await {
        Ok(posted) => posted,
        Err(answer) => return answer.into_response(),
    };
    let (request, payment) = match reached(&state, &staff, &id).await {
        Ok(found) => found,
        Err(answer) => return answer.into_response(),
    };
    let words = words(&staff);
    let refuse = |message| {
        list_page(
            &state,
            &staff,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(message),
        )
    };
    if request.status != RefundRequestStatus::Open {
        return refuse(words.not_open).await;
    }
    let actor = PaymentActor::Manager(staff.manager.id);
    // A payment a live route settled is refunded at its provider first; a refusal there
    // changes nothing here.
    if !reject
        && payment.route.is_some()
        && let Err(error) =
            obol_http::upstream::refund(&state, &payment.id, None, &actor, None).await
    {
        tracing::warn!(%error, payment = payment.id.as_str(), "a refund request was not refunded at the provider");
        return refuse(words.provider_refused).await;
    }
    let outbox = state.outbox.clone();
    let audited = Actor::of(&staff);
    let now = state.clock.now();
    let request_id = request.id;
    let closed = state
        .store
        .write(move |db| {
            Box::pin(async move {
                let request = refund_requests::get(db, request_id).await?;
                if request.status != RefundRequestStatus::Open {
                    return Err(StoreError::Conflict);
                }
                let payment = payments::get_payment(db, &request.payment_id)
                    .await?
                    .ok_or(StoreError::NotFound(Entity::Payment))?;
                if !reject && payment.route.is_none() {
                    // All that is left; the core refuses a payment that holds no money.
                    let refund = payment.refund_event(None).map_err(StoreError::Payment)?;
                    outbox
                        .transition(db, &payment.id, refund, actor, now)
                        .await?;
                }
                let (status, action) = if reject {
                    (RefundRequestStatus::Rejected, "refund_request.reject")
                } else {
                    (RefundRequestStatus::Done, "refund_request.carry_out")
                };
                if !refund_requests::close(db, request_id, status, now).await? {
                    return Err(StoreError::Conflict);
                }
                let subject = format!("refund_request:{request_id}");
                admin::record(db, &audited, action, &subject, now).await
            })
        })
        .await;
    match closed {
        Ok(()) => admin::back_to(LIST),
        Err(StoreError::Conflict) => refuse(words.not_open).await,
        Err(StoreError::Payment(_)) => refuse(words.not_refundable).await,
        Err(error) => admin::failed(&error),
    }
}

pub(crate) async fn carry_out(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: FormBody,
) -> Response {
    close(state, ip, headers, id, form, false).await
}

pub(crate) async fn reject(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: FormBody,
) -> Response {
    close(state, ip, headers, id, form, true).await
}

pub(crate) fn routes() -> obol_http::routes::Routes {
    obol_http::routes::Routes::new()
        .get(LIST, list)
        .post("/dashboard/refund-requests/{id}/carry-out", carry_out)
        .post("/dashboard/refund-requests/{id}/reject", reject)
}

/// The refund requests' pages in the OpenAPI document.
pub fn openapi_paths() -> Map<String, Value> {
    let mut paths = Map::new();
    paths.insert(
        LIST.into(),
        json!({ "get": operation("Softline's open refund requests in the manager's subtree", None, true) }),
    );
    for (suffix, summary) in [
        (
            "carry-out",
            "Carry out a refund request: refund all that is left",
        ),
        ("reject", "Reject a refund request"),
    ] {
        let mut post = operation(summary, Some(&["csrf_token"]), true);
        post["responses"]["422"] = json!({ "description": "Refused (no longer open, nothing to refund, the provider refused): the list again, with why." });
        paths.insert(
            format!("{LIST}/{{id}}/{suffix}"),
            json!({ "post": admin::with_id(post) }),
        );
    }
    paths
}
