//! The YooKassa partner API (seed `003`, SPEC §3.5): `POST /api/yookassa/PaymentCommit` creates
//! a payment or a refund at a YooKassa-compatible upstream (`ApiParams.Url`, which must be on
//! the `yookassa.allowed_urls` allow-list) through [`connector`], and records it as an Obol
//! payment or refund of the calling merchant. Requests and answers are JSON or XML
//! ([`wire`]); the caller is a merchant (HTTP Basic `api_login:api_secret`, or a Softline
//! bearer token): Obol is not an open relay.

pub mod connector;
pub mod door;
pub mod openapi;
pub mod route;
pub mod sandbox;
pub mod wire;

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use obol_core::Currency;
use obol_core::idempotency::{
    IdempotencyError, IdempotencyKey, IdempotencyScope, RequestFingerprint, SavedResponse,
};
use obol_core::ids::{PaymentId, Uuid};
use obol_core::money::{Money, Precision};
use obol_core::payment::{Actor, DraftError, PaymentDraft, RelayOrigin, Source};
use obol_core::tenancy::Merchant;
use obol_http::auth::{AuthError, ClientIp};
use obol_http::idempotency::KeyedRequest;
use obol_store::ops::{idempotency, payments};
use obol_store::{Db, StoreError, StoreResult};
use serde_json::json;

use connector::{Account, Connector, UpstreamError};
use obol_http::crypto::OsRandom;
use obol_http::routes::Routes;
use obol_http::state::AppState;
use wire::{CommitRequest, CommitResponse, Format};

/// `ErrorCode`s of `PaymentCommit` (documented in `docs/api/yookassa.md`).
pub mod error_code {
    pub const OK: i64 = 0;
    /// The body cannot be read or a required element is missing or invalid (HTTP 400).
    pub const INVALID_REQUEST: i64 = 1;
    /// `ApiParams.Url` is not on the allow-list; nothing was contacted.
    pub const URL_NOT_ALLOWED: i64 = 2;
    /// YooKassa answered an error (its `code` and `description` are in `Message`).
    pub const UPSTREAM_REFUSED: i64 = 3;
    /// YooKassa did not answer in time (after the retries its rules allow).
    pub const UPSTREAM_TIMEOUT: i64 = 4;
    /// YooKassa could not be reached.
    pub const UPSTREAM_UNREACHABLE: i64 = 5;
    /// YooKassa's answer could not be read.
    pub const UPSTREAM_UNREADABLE: i64 = 6;
    /// `IdempotenceKey` was used with another request.
    pub const IDEMPOTENCE_KEY_REUSED: i64 = 7;
    /// The same `IdempotenceKey` is being processed by another request right now.
    pub const IDEMPOTENCE_KEY_IN_FLIGHT: i64 = 8;
    /// No or wrong merchant credentials (HTTP 401).
    pub const UNAUTHORIZED: i64 = 9;
    /// Obol failed; details are in its logs (HTTP 500).
    pub const INTERNAL: i64 = 10;
    /// Too many failed authentications from this address or with this login or token (HTTP
    /// 429, with `Retry-After`).
    pub const TOO_MANY_REQUESTS: i64 = 11;
    /// `PaymentRefund` names a payment relayed through another `ApiParams.Url` or
    /// `ApiParams.Login`: a refund goes only through the upstream that made the payment.
    pub const REFUND_UPSTREAM_MISMATCH: i64 = 12;
}

/// The most time the upstream work of one request may take, whatever is configured: the
/// server cuts every request at 30 s, and an answer must always come back in the dialect's words.
pub const UPSTREAM_BUDGET_MAX: Duration = Duration::from_secs(25);

/// Longest `IdempotenceKey` YooKassa accepts.
pub const IDEMPOTENCE_KEY_MAX: usize = 64;
/// Longest `Description` YooKassa accepts.
const DESCRIPTION_MAX: usize = 128;

/// The routes; `connector` is the one client of every upstream (so connections are reused).
pub fn router(connector: Connector) -> Routes {
    Routes::new()
        .post("/api/yookassa/PaymentCommit", commit)
        .wrap(|router| router.layer(Extension(connector)))
        .post("/notifications/yookassa/{route}", route::notification)
        .merge(sandbox::router())
}

pub fn owns_path(path: &str) -> bool {
    path == "/api/yookassa"
        || path.starts_with("/api/yookassa/")
        || path.starts_with(route::NOTIFICATION_PREFIX)
}

/// The answer for paths of this dialect that do not exist or do not take the method (JSON).
pub fn fallback(http: StatusCode, message: &str) -> Response {
    let failure = Failure {
        http,
        code: error_code::INVALID_REQUEST,
        message: message.to_owned(),
        retry_after_s: None,
    };
    reply(Format::Json, http, &failure.response(None))
}

/// An answer that is not a success.
struct Failure {
    http: StatusCode,
    code: i64,
    message: String,
    /// `Retry-After` of a 429, in seconds.
    retry_after_s: Option<u64>,
}

impl Failure {
    fn invalid(message: impl Into<String>) -> Failure {
        Failure {
            http: StatusCode::BAD_REQUEST,
            code: error_code::INVALID_REQUEST,
            message: message.into(),
            retry_after_s: None,
        }
    }

    fn business(code: i64, message: impl Into<String>) -> Failure {
        Failure {
            http: StatusCode::OK,
            code,
            message: message.into(),
            retry_after_s: None,
        }
    }

    fn internal(error: impl std::fmt::Display) -> Failure {
        tracing::error!(%error, "PaymentCommit failed");
        Failure {
            http: StatusCode::INTERNAL_SERVER_ERROR,
            code: error_code::INTERNAL,
            message: "Internal error.".to_owned(),
            retry_after_s: None,
        }
    }

    /// The answer in the format asked for, with `Retry-After` when throttled.
    fn reply(&self, format: Format, idempotence_key: Option<String>) -> Response {
        let mut answer = reply(format, self.http, &self.response(idempotence_key));
        if let Some(seconds) = self.retry_after_s {
            answer
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        answer
    }

    fn response(&self, idempotence_key: Option<String>) -> CommitResponse {
        CommitResponse {
            error_code: self.code,
            message: Some(self.message.clone()),
            idempotence_key,
            ..CommitResponse::default()
        }
    }
}

impl From<UpstreamError> for Failure {
    fn from(error: UpstreamError) -> Failure {
        let code = match &error {
            UpstreamError::Refused { .. } => error_code::UPSTREAM_REFUSED,
            UpstreamError::Timeout => error_code::UPSTREAM_TIMEOUT,
            UpstreamError::Connect(_) => error_code::UPSTREAM_UNREACHABLE,
            UpstreamError::Unreadable(_) => error_code::UPSTREAM_UNREADABLE,
        };
        let message = match error {
            UpstreamError::Refused {
                code,
                description,
                parameter,
                ..
            } => match parameter {
                Some(parameter) => format!("{code}: {description} ({parameter})"),
                None => format!("{code}: {description}"),
            },
            other => other.to_string(),
        };
        Failure::business(code, message)
    }
}

/// PaymentCommit checks its fields before the upstream is called (a positive amount, a
/// description within YooKassa's limit), and the connector refuses an upstream id that is
/// empty or too long; so a draft the core refuses is an internal error, named for the log.
impl From<DraftError> for Failure {
    fn from(error: DraftError) -> Failure {
        match error {
            DraftError::AmountNotPositive => Failure::invalid(
                "Amount must be a positive number of roubles with at most two decimals.",
            ),
            DraftError::TooLong("description") => Failure::invalid(format!(
                "Description is longer than {DESCRIPTION_MAX} characters."
            )),
            other => Failure::internal(other),
        }
    }
}

fn reply(format: Format, http: StatusCode, response: &CommitResponse) -> Response {
    let mut answer = (http, wire::render(format, response)).into_response();
    answer.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    answer
}

async fn commit(
    State(state): State<AppState>,
    Extension(connector): Extension<Connector>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header_text = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let content_type = header_text(header::CONTENT_TYPE);
    let request_format = Format::of_media_type(&content_type);
    let answer_format = Format::of_accept(&header_text(header::ACCEPT))
        .or(request_format)
        .unwrap_or(Format::Json);
    let is_form = content_type.split(';').next().is_some_and(|essence| {
        essence
            .trim()
            .eq_ignore_ascii_case("application/x-www-form-urlencoded")
    });
    let caller = Caller {
        client: client.as_deref(),
        headers: &headers,
    };
    if is_form {
        return match handle(&state, &connector, &caller, None, &body).await {
            Ok(response) => reply(answer_format, StatusCode::OK, &response),
            Err((failure, key)) => failure.reply(answer_format, key),
        };
    }
    let Some(request_format) = request_format else {
        let failure = Failure {
            http: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code: error_code::INVALID_REQUEST,
            message:
                "Content-Type must be application/json, text/json, application/xml, text/xml or application/x-www-form-urlencoded."
                    .to_owned(),
            retry_after_s: None,
        };
        return failure.reply(answer_format, None);
    };
    match handle(&state, &connector, &caller, Some(request_format), &body).await {
        Ok(response) => reply(answer_format, StatusCode::OK, &response),
        Err((failure, key)) => failure.reply(answer_format, key),
    }
}

/// Who calls: the client's address (the one rule of `obol_http::address`, trusted proxies
/// included) and the request's headers.
struct Caller<'a> {
    client: Option<&'a str>,
    headers: &'a HeaderMap,
}

async fn merchant_of(state: &AppState, caller: &Caller<'_>) -> Result<Merchant, Failure> {
    let unauthorized = || Failure {
        http: StatusCode::UNAUTHORIZED,
        code: error_code::UNAUTHORIZED,
        message: "Authenticate as a merchant: HTTP Basic api_login:api_secret, or a bearer token."
            .to_owned(),
        retry_after_s: None,
    };
    let scheme = caller
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_whitespace().next())
        .map(str::to_ascii_lowercase);
    let found = match scheme.as_deref() {
        Some("basic") => {
            obol_http::auth::merchant_from_basic(state, caller.client, caller.headers).await
        }
        Some("bearer") => {
            obol_http::auth::merchant_from_bearer(state, caller.client, caller.headers).await
        }
        _ => obol_http::auth::admit(state, caller.client).and(Err(AuthError::Unauthorized)),
    };
    found.map_err(|error| match error {
        AuthError::Unauthorized => unauthorized(),
        AuthError::Throttled(throttled) => Failure {
            http: StatusCode::TOO_MANY_REQUESTS,
            code: error_code::TOO_MANY_REQUESTS,
            message: format!(
                "Too many failed authentication attempts; try again in {} s.",
                throttled.retry_after_s
            ),
            retry_after_s: Some(throttled.retry_after_s),
        },
        AuthError::Store(error) => Failure::internal(error),
    })
}

/// Checks the request's fields: the amount in roubles with at most two decimals, the
/// upstream's address, login and password.
struct Checked {
    amount: Money,
    description: Option<String>,
    payment_refund: Option<String>,
    url: String,
    login: String,
    password: String,
}

fn check(request: &CommitRequest) -> Result<Checked, Failure> {
    let rub = Currency::parse("RUB").map_err(Failure::internal)?;
    let amount_text = request
        .amount
        .as_deref()
        .ok_or_else(|| Failure::invalid("Amount is required."))?;
    let amount = Money::parse_decimal_with(amount_text, rub, Precision::AllowTrailingZeros)
        .ok()
        .filter(|amount| amount.is_positive())
        .ok_or_else(|| {
            Failure::invalid(
                "Amount must be a positive number of roubles with at most two decimals.",
            )
        })?;
    if request
        .description
        .as_ref()
        .is_some_and(|description| description.chars().count() > DESCRIPTION_MAX)
    {
        return Err(Failure::invalid(format!(
            "Description is longer than {DESCRIPTION_MAX} characters."
        )));
    }
    let required = |value: &Option<String>, name: &str| {
        value
            .clone()
            .filter(|value| !value.trim().is_empty())
            .ok_or_else(|| Failure::invalid(format!("{name} is required.")))
    };
    let payment_refund = if request.refund {
        let id = required(&request.payment_refund, "PaymentRefund")?;
        // It becomes part of the upstream's URL: an id's characters only, no path or query.
        if id.len() > 64
            || !id
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
        {
            return Err(Failure::invalid(
                "PaymentRefund must be a payment id (letters, digits, - and _; at most 64).",
            ));
        }
        Some(id)
    } else {
        None
    };
    Ok(Checked {
        amount,
        description: request.description.clone(),
        payment_refund,
        url: required(&request.api.url, "ApiParams.Url")?,
        login: required(&request.api.login, "ApiParams.Login")?,
        password: required(&request.api.password, "ApiParams.Password")?,
    })
}

/// Whether `url` lies under one of the allowed prefixes: the same scheme, host and port, and
/// a path equal to the prefix's or below it.
pub fn is_allowed(url: &str, allowed: &[String]) -> bool {
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return false;
    };
    if !matches!(parsed.scheme(), "http" | "https")
        || parsed.username() != ""
        || parsed.password().is_some()
        || parsed.query().is_some()
        || parsed.fragment().is_some()
    {
        return false;
    }
    let normalized = parsed.as_str().trim_end_matches('/');
    allowed.iter().any(|prefix| {
        let Ok(prefix) = reqwest::Url::parse(prefix) else {
            return false;
        };
        let prefix = prefix.as_str().trim_end_matches('/');
        normalized == prefix
            || normalized
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('/'))
    })
}

type Outcome = Result<CommitResponse, (Failure, Option<String>)>;

/// `format` is the body's JSON or XML, or `None` for a form. Checks the caller and the
/// request, answers a repeat of a finished request as the first time without calling the
/// upstream, and otherwise hands the request to [`Commit`].
async fn handle(
    state: &AppState,
    connector: &Connector,
    caller: &Caller<'_>,
    format: Option<Format>,
    body: &[u8],
) -> Outcome {
    let merchant = merchant_of(state, caller).await.map_err(|f| (f, None))?;
    let request = match format {
        Some(format) => wire::parse(format, body),
        None => wire::parse_form(body),
    }
    .map_err(|error| (Failure::invalid(error.0), None))?;
    let key_text = match request.api.idempotence_key.clone() {
        Some(key) if key.len() > IDEMPOTENCE_KEY_MAX => {
            return Err((
                Failure::invalid(format!(
                    "ApiParams.IdempotenceKey is longer than {IDEMPOTENCE_KEY_MAX} characters."
                )),
                None,
            ));
        }
        Some(key) if !key.is_empty() => key,
        _ => Uuid::generate_v4(&mut OsRandom).as_str().to_owned(),
    };
    let key_for_errors = Some(key_text.clone());
    let fail = |failure: Failure| (failure, key_for_errors.clone());
    let key = IdempotencyKey::parse(&key_text).map_err(|_| {
        fail(Failure::invalid(
            "ApiParams.IdempotenceKey must be visible ASCII.",
        ))
    })?;
    let checked = check(&request).map_err(fail)?;
    let allowed = state.config.yookassa_allowed_urls_for(&state.public_url);
    if !is_allowed(&checked.url, &allowed) {
        return Err(fail(Failure::business(
            error_code::URL_NOT_ALLOWED,
            "ApiParams.Url is not an allowed YooKassa address (yookassa.allowed_urls).",
        )));
    }
    // The key comes from the body (YooKassa's ApiParams), not from a header.
    let keyed = KeyedRequest {
        scope: IdempotencyScope::new(&format!("yookassa:merchant:{}", merchant.id)),
        key,
        fingerprint: RequestFingerprint::of(
            "POST",
            "/api/yookassa/PaymentCommit",
            wire::fingerprint_text(&request, checked.amount.minor()).as_bytes(),
        ),
    };
    // A repeat of a finished request answers as the first time, without calling upstream.
    let now = state.clock.now();
    let (peek_scope, peek_key, fingerprint) =
        (keyed.scope.clone(), keyed.key.clone(), keyed.fingerprint);
    let saved = state
        .store
        .read(move |db| {
            Box::pin(async move {
                idempotency::peek(db, &peek_scope, &peek_key, fingerprint, now).await
            })
        })
        .await;
    match saved {
        Ok(Some(saved)) => return saved_response(&saved).map_err(fail),
        Ok(None) => {}
        Err(error) => return Err(fail(idempotency_failure(error))),
    }
    let commit = Commit {
        state,
        connector,
        // One budget for all the upstream work of this request (every attempt, both calls of
        // a refund), well inside the server's own request timeout.
        deadline: tokio::time::Instant::now()
            + Duration::from_millis(state.config.yookassa_request_timeout_ms)
                .min(UPSTREAM_BUDGET_MAX),
        merchant,
        checked,
        key_text,
        keyed,
    };
    match commit.checked.payment_refund.clone() {
        None => commit.payment(caller.client.map(str::to_owned)).await,
        Some(payment_refund) => commit.refund(payment_refund).await,
    }
    .map_err(fail)
}

/// A checked request not answered before: what its upstream calls and its record need.
struct Commit<'a> {
    state: &'a AppState,
    connector: &'a Connector,
    deadline: tokio::time::Instant,
    merchant: Merchant,
    checked: Checked,
    /// The key as sent (or made up), passed on to the upstream and echoed in the answer.
    key_text: String,
    keyed: KeyedRequest,
}

impl Commit<'_> {
    fn account(&self) -> Account<'_> {
        Account {
            base: &self.checked.url,
            login: &self.checked.login,
            password: &self.checked.password,
        }
    }

    /// Whether the upstream this request names is a test one: this server's own sandbox, or
    /// one the operator marked (`yookassa.test_urls`). Any other upstream moves live money.
    fn upstream_is_test(&self) -> bool {
        let test_urls = self
            .state
            .config
            .yookassa_test_urls_for(&self.state.public_url);
        is_allowed(&self.checked.url, &test_urls)
    }

    /// Creates the payment upstream and records it as the merchant's payment.
    async fn payment(self, requester_ip: Option<String>) -> Result<CommitResponse, Failure> {
        let upstream = self
            .connector
            .create_payment(
                self.deadline,
                &self.account(),
                &self.key_text,
                self.checked.amount,
                self.checked.description.as_deref(),
            )
            .await?;
        let response = CommitResponse {
            payment_id: Some(upstream.id.clone()),
            status: Some(upstream.status.clone()),
            confirmation_token: upstream.confirmation_token.clone(),
            idempotence_key: Some(self.key_text.clone()),
            ..CommitResponse::default()
        };
        // The payment's mode is its upstream's (SPEC §2): a test shop's answer says `test`,
        // and a test upstream's payments are test whatever they say.
        let test = self.upstream_is_test() || upstream.test;
        let draft = draft_of(
            &self.merchant,
            &self.checked,
            &upstream,
            &self.key_text,
            requester_ip,
            test,
        )?;
        record(self.state, self.keyed, response, move |db, outbox, now| {
            Box::pin(async move { record_payment(db, &outbox, draft, now).await })
        })
        .await
    }

    /// Refunds the payment upstream and books the refund on the payment Obol recorded for it.
    async fn refund(self, payment_refund: String) -> Result<CommitResponse, Failure> {
        self.check_refund_origin(&payment_refund).await?;
        // Learn first whether the payment was paid, so the refund can be booked on a payment
        // Obol knows as processed.
        let paid = self
            .connector
            .get_payment(self.deadline, &self.account(), &payment_refund)
            .await
            .map(|payment| payment.succeeded())
            .unwrap_or(false);
        let upstream = self
            .connector
            .create_refund(
                self.deadline,
                &self.account(),
                &self.key_text,
                &payment_refund,
                self.checked.amount,
            )
            .await?;
        let response = CommitResponse {
            payment_id: Some(payment_refund.clone()),
            refund_id: Some(upstream.id.clone()),
            status: Some(upstream.status.clone()),
            idempotence_key: Some(self.key_text.clone()),
            ..CommitResponse::default()
        };
        let (merchant_id, amount) = (self.merchant.id, self.checked.amount);
        let refunded = upstream.succeeded().then_some(amount);
        record(self.state, self.keyed, response, move |db, outbox, now| {
            Box::pin(async move {
                record_refund(
                    db,
                    &outbox,
                    merchant_id,
                    &payment_refund,
                    paid,
                    refunded,
                    now,
                )
                .await
            })
        })
        .await
    }
}

impl Commit<'_> {
    /// A payment relayed through Obol is refunded only through the upstream address and login
    /// that made it, so a refund can neither be steered to another upstream nor booked from
    /// one. Checked before any upstream call. A payment Obol never relayed is not in its books
    /// and the refund is only relayed.
    async fn check_refund_origin(&self, payment_refund: &str) -> Result<(), Failure> {
        let (merchant, reference) = (self.merchant.id, payment_refund.to_owned());
        let recorded = self
            .state
            .store
            .read(move |db| {
                Box::pin(async move { payments::find_by_reference(db, merchant, &reference).await })
            })
            .await
            .map_err(Failure::internal)?;
        let Some(payment) = recorded else {
            return Ok(());
        };
        let origin = relay_origin(payment.dialect_attributes.as_deref());
        if origin.admits(&self.checked.url, &self.checked.login) {
            Ok(())
        } else {
            Err(Failure::business(
                error_code::REFUND_UPSTREAM_MISMATCH,
                "PaymentRefund was created through another ApiParams.Url or ApiParams.Login.",
            ))
        }
    }
}

/// The origin the relay recorded with a payment, read back from its dialect attributes.
fn relay_origin(attributes: Option<&str>) -> RelayOrigin {
    let value: serde_json::Value = attributes
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or_default();
    let text = |name: &str| value.get(name).and_then(|v| v.as_str()).map(str::to_owned);
    RelayOrigin {
        url: text("upstream_url"),
        login_digest: text("upstream_login_digest"),
    }
}

fn idempotency_failure(error: StoreError) -> Failure {
    match error {
        StoreError::Idempotency(IdempotencyError::ReusedWithDifferentRequest) => Failure::business(
            error_code::IDEMPOTENCE_KEY_REUSED,
            "IdempotenceKey was used with another request.",
        ),
        StoreError::Idempotency(IdempotencyError::InFlight) => Failure::business(
            error_code::IDEMPOTENCE_KEY_IN_FLIGHT,
            "A request with this IdempotenceKey is still being processed.",
        ),
        other => Failure::internal(other),
    }
}

fn saved_response(saved: &SavedResponse) -> Result<CommitResponse, Failure> {
    let value: serde_json::Value =
        serde_json::from_slice(&saved.body).map_err(Failure::internal)?;
    let text = |name: &str| value.get(name).and_then(|v| v.as_str()).map(str::to_owned);
    Ok(CommitResponse {
        payment_id: text("PaymentId"),
        refund_id: text("RefundId"),
        status: text("Status"),
        confirmation_token: text("ConfirmationToken"),
        idempotence_key: text("IdempotenceKey"),
        error_code: value.get("ErrorCode").and_then(|v| v.as_i64()).unwrap_or(0),
        message: text("Message"),
    })
}

type Recorder = Box<
    dyn for<'a> FnOnce(
            &'a mut dyn Db,
            obol_http::callbacks::outbox::Outbox,
            obol_core::Timestamp,
        ) -> obol_store::BoxFuture<'a, StoreResult<()>>
        + Send,
>;

/// Records what the upstream did and keeps the answer under the key, in one transaction. A
/// concurrent twin that recorded first wins: its answer is returned.
async fn record<F>(
    state: &AppState,
    keyed: KeyedRequest,
    response: CommitResponse,
    operation: F,
) -> Result<CommitResponse, Failure>
where
    F: for<'a> FnOnce(
            &'a mut dyn Db,
            obol_http::callbacks::outbox::Outbox,
            obol_core::Timestamp,
        ) -> obol_store::BoxFuture<'a, StoreResult<()>>
        + Send
        + 'static,
{
    let operation: Recorder = Box::new(operation);
    let outbox = state.outbox.clone();
    let now = state.clock.now();
    let saved = SavedResponse {
        status: 200,
        content_type: "application/json".to_owned(),
        body: wire::render_json(&response),
    };
    let outcome = obol_http::idempotency::write(&state.store, now, Some(keyed), move |db| {
        Box::pin(async move {
            operation(&mut *db, outbox, now).await?;
            Ok(((), saved))
        })
    })
    .await
    .map_err(idempotency_failure)?;
    match outcome {
        obol_store::Idempotent::Fresh(_, _) => Ok(response),
        obol_store::Idempotent::Replayed(saved) => saved_response(&saved),
    }
}

fn draft_of(
    merchant: &Merchant,
    checked: &Checked,
    upstream: &connector::UpstreamPayment,
    key: &str,
    requester_ip: Option<String>,
    test: bool,
) -> Result<PaymentDraft, DraftError> {
    let origin = RelayOrigin::of_request(&checked.url, &checked.login);
    PaymentDraft::for_merchant(merchant, Source::Yookassa, checked.amount)
        .test_mode(test)
        // The upstream's payment id: unique per merchant, found again by a refund.
        .reference_id(upstream.id.clone())
        .description(checked.description.clone())
        .dialect_attributes(
            json!({
                "upstream_url": origin.url,
                "upstream_login_digest": origin.login_digest,
                "idempotence_key": key,
                "upstream_status": upstream.status,
                "confirmation_token": upstream.confirmation_token,
            })
            .to_string(),
        )
        .requester_ip(requester_ip)
        .build()
}

async fn record_payment(
    db: &mut dyn Db,
    outbox: &obol_http::callbacks::outbox::Outbox,
    draft: PaymentDraft,
    now: obol_core::Timestamp,
) -> StoreResult<()> {
    match outbox
        .insert(db, draft, PaymentId::generate(&mut OsRandom), None, now)
        .await
    {
        // The upstream answered a payment Obol already recorded (the same key, sent again
        // after its record was lost): it stays as recorded.
        Ok(_) | Err(StoreError::DuplicateReference(_)) => Ok(()),
        Err(error) => Err(error),
    }
}

/// Books a refund the upstream made on the payment Obol recorded for it (found by the
/// upstream's payment id): first the payment's receipt if the upstream says it was paid, then
/// the refund if it succeeded. A payment Obol does not know, or a refund its books refuse
/// (more than was received), is left as the upstream reports it, with a warning.
async fn record_refund(
    db: &mut dyn Db,
    outbox: &obol_http::callbacks::outbox::Outbox,
    merchant: obol_core::ids::MerchantId,
    reference: &str,
    paid: bool,
    refunded: Option<Money>,
    now: obol_core::Timestamp,
) -> StoreResult<()> {
    let Some(payment) = payments::find_by_reference(db, merchant, reference).await? else {
        tracing::warn!(payment = %reference, "a YooKassa refund of a payment not recorded here");
        return Ok(());
    };
    let steps = payment.relayed_refund(paid, refunded);
    for event in steps.catch_up {
        outbox
            .transition(db, &payment.id, event, Actor::Provider, now)
            .await?;
    }
    let Some(refund) = steps.refund else {
        return Ok(());
    };
    // The upstream made the refund; the books follow its report.
    match outbox
        .transition(db, &payment.id, refund, Actor::Provider, now)
        .await
    {
        Ok(_) => Ok(()),
        Err(StoreError::Payment(error)) => {
            tracing::warn!(payment = %payment.id, %error, "a YooKassa refund the books cannot take");
            Ok(())
        }
        Err(error) => Err(error),
    }
}
