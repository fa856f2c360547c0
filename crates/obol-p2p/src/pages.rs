//! The P2P dialect's hosted pages, on the hosted page engine (`hpp::render`): the sender's
//! confirmation of a transfer (`/p2p/confirm/{id}?token=…`: the 3-D Secure challenge with
//! `decision` = `approve` | `reject`, or the one-time code form with `code`), and the card form
//! (`/p2p/cards/new?token=…`: `card_number`, `card_expiry`, `card_holder`), so a card number
//! never touches the client's server. A card-form link comes from `POST /api/p2p/cards/form`:
//! it adds one card, for 15 minutes, and carries no session (a session in the address bar
//! would open the client's whole API to whoever sees it). Every form carries a `csrf_token`;
//! every successful post answers 303.

use std::collections::HashMap;

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware;
use axum::response::Response;
use obol_core::Timestamp;
use obol_core::credentials::SecretDigest;
use obol_core::p2p::{CardForm, Confirmation, SendDecision, SenderAnswer, Transfer};
use obol_core::sandbox::CardDecision;
use obol_store::ops::p2p;

use super::{CREDENTIAL_LENGTH_MAX, errors::ApiError, new_card, recipient_decision, transfers};
use maud::html;
use obol_http::page::render::{self, CardFormValues, Frame, Summary, TextInput};
use obol_http::page::texts::Language;
use obol_http::page::{html, security_headers, see_other};
use obol_http::routes::Routes;
use obol_http::state::AppState;
use obol_http::tokens;

const CSRF_LIFETIME_SECONDS: i64 = 3600;

type FormBody = Result<Form<HashMap<String, String>>, FormRejection>;

pub fn router() -> Routes {
    Routes::new()
        .get("/p2p/confirm/{id}", confirm_page)
        .post("/p2p/confirm/{id}", confirm_answer)
        .get("/p2p/cards/new", card_page)
        .post("/p2p/cards/new", card_answer)
        .get("/p2p/cards/added", card_added)
        .wrap(|router| router.layer(middleware::map_response(security_headers)))
}

/// The words the P2P pages add to the hosted page's.
struct P2pTexts {
    confirm_heading: &'static str,
    code_label: &'static str,
    code_hint: &'static str,
    confirm: &'static str,
    wrong_code: &'static str,
    card_heading: &'static str,
    save_card: &'static str,
    card_saved: &'static str,
    transfer_status: &'static str,
    link_invalid: &'static str,
}

fn p2p_texts(language: Language) -> &'static P2pTexts {
    match language {
        Language::English => &P2pTexts {
            confirm_heading: "Confirm the transfer",
            code_label: "One-time code",
            code_hint: "sent to you by your bank",
            confirm: "Confirm",
            wrong_code: "The code is wrong.",
            card_heading: "Add a card",
            save_card: "Save the card",
            card_saved: "The card is saved",
            transfer_status: "Transfer status",
            link_invalid: "This link is not valid or has expired.",
        },
        Language::Russian => &P2pTexts {
            confirm_heading: "Подтвердите перевод",
            code_label: "Одноразовый код",
            code_hint: "его прислал ваш банк",
            confirm: "Подтвердить",
            wrong_code: "Неверный код.",
            card_heading: "Добавить карту",
            save_card: "Сохранить карту",
            card_saved: "Карта сохранена",
            transfer_status: "Статус перевода",
            link_invalid: "Ссылка недействительна или устарела.",
        },
        Language::Ukrainian => &P2pTexts {
            confirm_heading: "Підтвердіть переказ",
            code_label: "Одноразовий код",
            code_hint: "його надіслав ваш банк",
            confirm: "Підтвердити",
            wrong_code: "Невірний код.",
            card_heading: "Додати картку",
            save_card: "Зберегти картку",
            card_saved: "Картку збережено",
            transfer_status: "Статус переказу",
            link_invalid: "Посилання недійсне або застаріле.",
        },
    }
}

fn language(headers: &HeaderMap, query: &HashMap<String, String>) -> Language {
    Language::choose(
        query.get("lang").map(String::as_str),
        None,
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|value| value.to_str().ok()),
    )
}

/// The frame of a P2P page; `here` is its address without `lang`, for the language switch.
fn frame<'a>(
    language: Language,
    summary: Option<&'a Summary>,
    csrf: &'a str,
    here: Option<&'a str>,
) -> Frame<'a> {
    Frame {
        language,
        summary,
        dark: false,
        payment_id: "",
        csrf_token: csrf,
        // The sandbox's cards are the hosted payment page's; P2P's own test cards are in its
        // documentation, and no P2P page carries the banner.
        test_mode: false,
        here,
    }
}

fn message(language: Language, status: StatusCode, heading: &str, text: &str) -> Response {
    html(
        status,
        render::message_page(&frame(language, None, "", None), heading, text),
    )
}

/// The page of a link that is unknown, malformed or out of date.
fn link_invalid(language: Language) -> Response {
    message(
        language,
        StatusCode::NOT_FOUND,
        language.texts().not_found_heading,
        p2p_texts(language).link_invalid,
    )
}

fn bad_request(language: Language) -> Response {
    let texts = language.texts();
    message(
        language,
        StatusCode::BAD_REQUEST,
        texts.bad_request_heading,
        texts.bad_request_text,
    )
}

/// The 403 page, unless a posted form carries a valid CSRF token for `subject`.
fn refused_csrf(
    state: &AppState,
    language: Language,
    fields: &HashMap<String, String>,
    subject: &str,
    now: Timestamp,
) -> Option<Response> {
    let valid = fields.get("csrf_token").is_some_and(|token| {
        tokens::check(&state.key, token, tokens::purpose::CSRF, subject, now).is_ok()
    });
    if valid {
        return None;
    }
    let texts = language.texts();
    Some(message(
        language,
        StatusCode::FORBIDDEN,
        texts.forbidden_heading,
        texts.forbidden_text,
    ))
}

fn summary(transfer: &Transfer) -> Summary {
    Summary {
        merchant: None,
        amount: transfer
            .amount
            .checked_add(transfer.commission)
            .unwrap_or(transfer.amount)
            .to_decimal_string(),
        currency: transfer.amount.currency().code().to_owned(),
        description: transfer.description.clone(),
    }
}

/// The transfer a confirmation link names, if its token is good.
async fn linked_transfer(
    state: &AppState,
    id: &str,
    query: &HashMap<String, String>,
    now: Timestamp,
) -> Option<Transfer> {
    let token = query.get("token")?;
    tokens::check(&state.key, token, transfers::CONFIRM_PAGE_PURPOSE, id, now).ok()?;
    let id = obol_core::ids::Uuid::parse(id).ok()?;
    state
        .store
        .read(move |db| Box::pin(async move { p2p::get_transfer(db, &id, false).await }))
        .await
        .ok()
        .flatten()
}

async fn confirm_page(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let language = language(&headers, &query);
    let now = state.clock.now();
    let Some(transfer) = linked_transfer(&state, &id, &query, now).await else {
        return link_invalid(language);
    };
    let here = confirm_address(&transfer, &query);
    render_confirm(&state, &transfer, language, None, &here, now)
}

/// A confirmation page's address, without `lang`.
fn confirm_address(transfer: &Transfer, query: &HashMap<String, String>) -> String {
    format!(
        "/p2p/confirm/{}?token={}",
        transfer.id.as_str(),
        query.get("token").map(String::as_str).unwrap_or_default(),
    )
}

fn render_confirm(
    state: &AppState,
    transfer: &Transfer,
    language: Language,
    error: Option<&str>,
    here: &str,
    now: Timestamp,
) -> Response {
    let texts = language.texts();
    let own = p2p_texts(language);
    let summary = summary(transfer);
    let csrf = tokens::issue(
        &state.key,
        tokens::purpose::CSRF,
        &format!("p2p:{}", transfer.id.as_str()),
        now.plus_seconds(CSRF_LIFETIME_SECONDS),
    );
    let frame = frame(language, Some(&summary), &csrf, Some(here));
    if !transfer.awaits_confirmation() {
        let body = html! {
            p {
                (own.transfer_status) ": "
                strong.status data-status=(transfer.status.as_str()) { (transfer.status.as_str()) }
            }
        };
        return html(
            StatusCode::OK,
            render::document(&frame, own.transfer_status, body),
        );
    }
    let masked = &transfer.card_from.masked;
    let card = render::card_line(texts, obol_core::card::brand_of(masked), masked);
    let (heading, body) = match transfer.confirmation {
        Some(Confirmation::Lookup) => (
            own.confirm_heading,
            html! {
                (render::error_block(error))
                (card)
                form method="post" {
                    (render::csrf_input(&csrf))
                    (render::text_input(TextInput {
                        name: "code",
                        label: own.code_label,
                        hint: Some(html! { (own.code_hint) }),
                        autocomplete: Some("one-time-code"),
                        inputmode: Some("numeric"),
                        maxlength: Some(16),
                        required: true,
                        errored: error.is_some(),
                        ..TextInput::default()
                    }))
                    button type="submit" { (own.confirm) }
                }
            },
        ),
        _ => (
            texts.three_ds_heading,
            html! {
                (render::error_block(error))
                p { (texts.three_ds_text) }
                (card)
                (render::decision_form(None, &csrf, texts))
            },
        ),
    };
    html(StatusCode::OK, render::document(&frame, heading, body))
}

async fn confirm_answer(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    form: FormBody,
) -> Response {
    let language = language(&headers, &query);
    let now = state.clock.now();
    let Some(transfer) = linked_transfer(&state, &id, &query, now).await else {
        return link_invalid(language);
    };
    let Ok(Form(fields)) = form else {
        return bad_request(language);
    };
    if let Some(page) = refused_csrf(
        &state,
        language,
        &fields,
        &format!("p2p:{}", transfer.id.as_str()),
        now,
    ) {
        return page;
    }
    let here = confirm_address(&transfer, &query);
    let back = render::with_language(&here, language);
    if !transfer.awaits_confirmation() {
        return see_other(&back);
    }
    let answer = match transfer.confirmation {
        Some(Confirmation::Lookup) => match fields.get("code") {
            Some(code) => SenderAnswer::Code {
                matches: state.acquirer.confirm_code(code),
            },
            None => return bad_request(language),
        },
        _ => match fields.get("decision").map(String::as_str) {
            Some(answer @ ("approve" | "reject")) => {
                SenderAnswer::ThreeDs(match state.acquirer.challenge(answer == "approve") {
                    CardDecision::Declined(reason) => SendDecision::Declined(reason),
                    _ => SendDecision::Approved,
                })
            }
            _ => return bad_request(language),
        },
    };
    match confirm(&state, &transfer, answer, now).await {
        // Another try while attempts remain: the form again, with the error.
        Ok(transfers::Confirmed::WrongCode(updated, _)) if updated.awaits_confirmation() => {
            render_confirm(
                &state,
                &updated,
                language,
                Some(p2p_texts(language).wrong_code),
                &here,
                now,
            )
        }
        // Decided (or decided meanwhile, in a second tab): the page shows what is current.
        _ => see_other(&back),
    }
}

/// The sender's answer, as the API's `confirm` takes it: one transaction.
async fn confirm(
    state: &AppState,
    transfer: &Transfer,
    answer: SenderAnswer,
    now: Timestamp,
) -> Result<transfers::Confirmed, ApiError> {
    let recipient = recipient_decision(state, transfer, now).await?;
    let bucket_due = transfers::bucket_due(state, now);
    let id = transfer.id.clone();
    Ok(state
        .store
        .write(move |db| {
            Box::pin(async move {
                transfers::confirm(db, &id, answer, recipient, bucket_due, now).await
            })
        })
        .await?)
}

// ---- the card form ------------------------------------------------------------------------

/// A card-form link as its query names it: the token (as given, to link back), its digest,
/// and the stored link. A token that cannot exist (missing, too long) is refused before any
/// digest or look-up; a session id in the query opens nothing.
struct Link {
    token: String,
    digest: SecretDigest,
    form: CardForm,
}

async fn card_link(state: &AppState, query: &HashMap<String, String>) -> Option<Link> {
    let token = query
        .get("token")
        .filter(|token| !token.is_empty() && token.len() <= CREDENTIAL_LENGTH_MAX)?;
    let digest = SecretDigest::of(token);
    let form = state
        .store
        .read(move |db| Box::pin(async move { p2p::find_card_form(db, &digest).await }))
        .await
        .ok()
        .flatten()?;
    Some(Link {
        token: token.clone(),
        digest,
        form,
    })
}

/// The link, while it still takes a card.
async fn open_card_link(
    state: &AppState,
    query: &HashMap<String, String>,
    now: Timestamp,
) -> Option<Link> {
    card_link(state, query)
        .await
        .filter(|link| link.form.takes_a_card(now))
}

fn card_form(
    language: Language,
    link: &Link,
    error: Option<&str>,
    values: &CardFormValues,
    csrf: &str,
) -> String {
    let texts = language.texts();
    let own = p2p_texts(language);
    let here = format!("/p2p/cards/new?token={}", link.token);
    let frame = frame(language, None, csrf, Some(&here));
    let body = html! {
        (render::error_block(error))
        form method="post" action=(render::with_language(&here, language)) autocomplete="on" {
            (render::csrf_input(csrf))
            (render::card_inputs(texts, values, false, error.is_some()))
            button type="submit" { (own.save_card) }
        }
    };
    render::document(&frame, own.card_heading, body)
}

/// The CSRF token of a card form: bound to its link (by the token's digest, so the CSRF token
/// does not carry the link's own token).
fn card_csrf_subject(link: &Link) -> String {
    format!("p2p-card:{}", p2p::digest_text(&link.digest))
}

fn card_csrf(state: &AppState, link: &Link, now: Timestamp) -> String {
    tokens::issue(
        &state.key,
        tokens::purpose::CSRF,
        &card_csrf_subject(link),
        now.plus_seconds(CSRF_LIFETIME_SECONDS),
    )
}

async fn card_page(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let language = language(&headers, &query);
    let now = state.clock.now();
    let Some(link) = open_card_link(&state, &query, now).await else {
        return link_invalid(language);
    };
    let csrf = card_csrf(&state, &link, now);
    html(
        StatusCode::OK,
        card_form(language, &link, None, &CardFormValues::default(), &csrf),
    )
}

async fn card_answer(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    form: FormBody,
) -> Response {
    let language = language(&headers, &query);
    let texts = language.texts();
    let now = state.clock.now();
    let Some(link) = open_card_link(&state, &query, now).await else {
        return link_invalid(language);
    };
    let Ok(Form(fields)) = form else {
        return bad_request(language);
    };
    if let Some(page) = refused_csrf(&state, language, &fields, &card_csrf_subject(&link), now) {
        return page;
    }
    let field = |name: &str| fields.get(name).map(String::as_str).unwrap_or_default();
    let (expiry, holder) = (field("card_expiry"), field("card_holder"));
    let holder_given = (!holder.trim().is_empty()).then_some(holder);
    let scope = link.form.scope();
    let card = match new_card(&state, &scope, field("card_number"), expiry, holder_given) {
        Ok(card) => card,
        Err(error) => {
            let text = if error.message.contains("number") {
                texts.invalid_number
            } else if error.message.contains("expiry") {
                texts.invalid_expiry
            } else {
                texts.invalid_holder
            };
            let csrf = card_csrf(&state, &link, now);
            // The expiry and holder are shown again; of the number, only its brand.
            let values = CardFormValues {
                expiry: expiry.to_owned(),
                holder: holder.to_owned(),
                brand: obol_core::card::brand_of_typed(field("card_number")),
            };
            return html(
                StatusCode::UNPROCESSABLE_ENTITY,
                card_form(language, &link, Some(text), &values, &csrf),
            );
        }
    };
    let digest = link.digest;
    let added = state
        .store
        .write(move |db| {
            Box::pin(async move { p2p::add_card_through_form(db, &digest, &card, now).await })
        })
        .await;
    match added {
        Ok(()) => {}
        // Used meanwhile (another tab, another post at the same moment): one card per link.
        Err(obol_store::StoreError::Conflict) => return link_invalid(language),
        Err(error) => {
            tracing::error!(%error, "a card from the P2P card form could not be stored");
            return message(
                language,
                StatusCode::SERVICE_UNAVAILABLE,
                texts.error_heading,
                texts.error_text,
            );
        }
    }
    see_other(&format!(
        "/p2p/cards/added?token={}&lang={}",
        link.token,
        language.code()
    ))
}

/// The page after a card was added through a link: its mask and `cardId`, while the link
/// lasts.
async fn card_added(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let language = language(&headers, &query);
    let now = state.clock.now();
    let not_found = || link_invalid(language);
    let Some(link) = card_link(&state, &query).await else {
        return not_found();
    };
    let Some(card_id) = link.form.added_card(now).cloned() else {
        return not_found();
    };
    let client_id = link.form.client_id;
    let card = state
        .store
        .read(move |db| Box::pin(async move { p2p::get_card(db, client_id, &card_id).await }))
        .await
        .ok()
        .flatten();
    let Some(card) = card else {
        return not_found();
    };
    let own = p2p_texts(language);
    let here = format!("/p2p/cards/added?token={}", link.token);
    let masked = card.masked();
    let body = html! {
        (render::card_line(language.texts(), obol_core::card::brand_of(&masked), &masked))
        p { output.card-id data-card-id=(card.id.as_str()) { (card.id.as_str()) } }
    };
    html(
        StatusCode::OK,
        render::document(
            &frame(language, None, "", Some(&here)),
            own.card_saved,
            body,
        ),
    )
}
