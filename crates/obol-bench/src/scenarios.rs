//! The HTTP scenarios: what each one sends, what it expects back, and the set-up it needs
//! (a Softline token, a P2P session with cards and a transfer, invoices to complete). Requests
//! are built from pieces prepared once; only the unique part of a body is formatted per
//! request.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use hyper::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderName, HeaderValue};
use hyper::{Method, StatusCode};
use serde_json::{Value, json};

use crate::error::{BenchError, BenchResult};
use crate::load::{self, Client, Failure, Target, Workload};
use crate::server::Credentials;

/// Every scenario, in the order a run measures them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scenario {
    Healthz,
    PaymegaCreate,
    SoftlineCreate,
    ActiveplatformCreate,
    P2pCreate,
    YookassaCreate,
    ManagerComplete,
    P2pShow,
    FullFlow,
}

impl Scenario {
    pub const ALL: [Scenario; 9] = [
        Scenario::Healthz,
        Scenario::PaymegaCreate,
        Scenario::SoftlineCreate,
        Scenario::ActiveplatformCreate,
        Scenario::P2pCreate,
        Scenario::YookassaCreate,
        Scenario::ManagerComplete,
        Scenario::P2pShow,
        Scenario::FullFlow,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Healthz => "healthz",
            Scenario::PaymegaCreate => "paymega_create",
            Scenario::SoftlineCreate => "softline_create",
            Scenario::ActiveplatformCreate => "activeplatform_create",
            Scenario::P2pCreate => "p2p_create",
            Scenario::YookassaCreate => "yookassa_create",
            Scenario::ManagerComplete => "manager_complete",
            Scenario::P2pShow => "p2p_show",
            Scenario::FullFlow => "full_flow",
        }
    }

    pub fn parse(name: &str) -> Option<Scenario> {
        Scenario::ALL
            .into_iter()
            .find(|scenario| scenario.name() == name)
    }

    /// What one iteration is, for the report.
    pub fn describe(self) -> &'static str {
        match self {
            Scenario::Healthz => "`GET /healthz`: the network limit",
            Scenario::PaymegaCreate => "`POST /api/payment-invoices` (HTTP Basic)",
            Scenario::SoftlineCreate => "`POST /v1/payment` (bearer token)",
            Scenario::ActiveplatformCreate => "`POST /api/v3/resellers/{id}/payments`",
            Scenario::P2pCreate => "`POST /api/p2p/payments/create` (DIRECT)",
            Scenario::YookassaCreate => {
                "`POST /api/yookassa/PaymentCommit` through Obol's own sandbox"
            }
            Scenario::ManagerComplete => "`PATCH /api/v3/resellers/{id}/payments/{id}` with cash",
            Scenario::P2pShow => "`POST /api/p2p/payments/show`",
            Scenario::FullFlow => {
                "one flow of 5 requests (counted as one): create with `callback_url`, open the hosted page, pay with a sandbox card, read back, refund"
            }
        }
    }
}

fn header(value: &str) -> BenchResult<HeaderValue> {
    HeaderValue::from_str(value).map_err(|error| BenchError::Invalid(format!("header: {error}")))
}

fn json_type() -> HeaderValue {
    HeaderValue::from_static("application/json")
}

fn json_api_type() -> HeaderValue {
    HeaderValue::from_static("application/vnd.api+json")
}

fn form_type() -> HeaderValue {
    HeaderValue::from_static("application/x-www-form-urlencoded")
}

/// What every scenario of one server shares: where it is, and the demo tenancy's credentials
/// as ready headers.
pub struct Context {
    pub target: Arc<Target>,
    pub credentials: Credentials,
    /// `Authorization: Basic …` of the demo merchant.
    pub basic: HeaderValue,
}

impl Context {
    pub fn new(target: Arc<Target>, credentials: Credentials) -> BenchResult<Context> {
        let basic = header(&format!(
            "Basic {}",
            STANDARD.encode(format!(
                "{}:{}",
                credentials.api_login, credentials.api_secret
            ))
        ))?;
        Ok(Context {
            target,
            credentials,
            basic,
        })
    }

    pub fn merchant_json(&self) -> Vec<(HeaderName, HeaderValue)> {
        vec![
            (AUTHORIZATION, self.basic.clone()),
            (CONTENT_TYPE, json_type()),
        ]
    }

    pub fn form() -> Vec<(HeaderName, HeaderValue)> {
        vec![(CONTENT_TYPE, form_type())]
    }

    fn manager_headers(&self) -> BenchResult<Vec<(HeaderName, HeaderValue)>> {
        Ok(vec![
            (
                HeaderName::from_static("x-api-token"),
                header(&self.credentials.manager_token)?,
            ),
            (CONTENT_TYPE, json_api_type()),
            (ACCEPT, json_api_type()),
        ])
    }

    /// A set-up call (outside any timed window): JSON in, JSON out, `status` expected.
    async fn call(
        &self,
        method: Method,
        path: &str,
        headers: &[(HeaderName, HeaderValue)],
        body: &Value,
        status: StatusCode,
    ) -> BenchResult<Value> {
        let mut client = Client::new(Arc::clone(&self.target));
        let request = load::request(method, path, headers, body.to_string())
            .map_err(|_| BenchError::answer(path, "the request could not be built"))?;
        let answer = client
            .send(request)
            .await
            .map_err(|failure| BenchError::answer(path, failure.label()))?;
        if answer.status != status {
            return Err(BenchError::answer(
                path,
                format!("{}: {}", answer.status, answer.text()),
            ));
        }
        serde_json::from_slice(&answer.body)
            .map_err(|error| BenchError::answer(path, format!("{error}: {}", answer.text())))
    }
}

/// Builds the request of iteration `index` on `connection`.
type MakeRequest = Box<dyn Fn(usize, u64) -> hyper::Request<load::Body> + Send + Sync + 'static>;

/// A scenario of one request per iteration.
pub(crate) struct Repeat {
    make: MakeRequest,
    status: StatusCode,
    /// What a successful answer's body contains, when the status alone does not say.
    needle: Option<&'static [u8]>,
}

impl Workload for Repeat {
    /// The connection and how many requests it made.
    type State = (usize, u64);

    fn state(&self, connection: usize) -> BenchResult<(usize, u64)> {
        Ok((connection, 0))
    }

    async fn iterate(
        &self,
        client: &mut Client,
        state: &mut (usize, u64),
        _measured: bool,
    ) -> Option<Result<(), Failure>> {
        state.1 += 1;
        let request = (self.make)(state.0, state.1);
        Some(
            client
                .expect(request, self.status, self.needle)
                .await
                .map(drop),
        )
    }
}

impl Repeat {
    /// The same request every time (its body is shared, not copied).
    fn fixed(
        method: Method,
        path: &str,
        headers: Vec<(HeaderName, HeaderValue)>,
        body: Bytes,
        status: StatusCode,
        needle: Option<&'static [u8]>,
    ) -> BenchResult<Repeat> {
        let uri = load::uri(path)?;
        Ok(Repeat {
            make: Box::new(move |_, _| {
                load::request_to(method.clone(), uri.clone(), &headers, body.clone())
            }),
            status,
            needle,
        })
    }

    /// A request whose body `body` makes from the connection and the iteration.
    fn varying(
        method: Method,
        path: &str,
        headers: Vec<(HeaderName, HeaderValue)>,
        body: impl Fn(usize, u64) -> String + Send + Sync + 'static,
        status: StatusCode,
        needle: Option<&'static [u8]>,
    ) -> BenchResult<Repeat> {
        let uri = load::uri(path)?;
        Ok(Repeat {
            make: Box::new(move |connection, index| {
                load::request_to(
                    method.clone(),
                    uri.clone(),
                    &headers,
                    body(connection, index),
                )
            }),
            status,
            needle,
        })
    }
}

pub fn healthz() -> BenchResult<Repeat> {
    Repeat::fixed(
        Method::GET,
        "/healthz",
        Vec::new(),
        Bytes::new(),
        StatusCode::OK,
        None,
    )
}

/// A Paymega invoice body with a unique `reference_id`.
pub fn paymega_invoice(reference: &str, callback_url: Option<&str>) -> String {
    let callback = callback_url
        .map(|url| format!(r#","callback_url":"{url}""#))
        .unwrap_or_default();
    format!(
        r#"{{"data":{{"attributes":{{"reference_id":"{reference}","amount":100,"currency":"USD","service":"payment_card_usd_hpp"{callback}}}}}}}"#
    )
}

pub fn paymega_create(context: &Context) -> BenchResult<Repeat> {
    Repeat::varying(
        Method::POST,
        "/api/payment-invoices",
        context.merchant_json(),
        |connection, index| paymega_invoice(&format!("pc-{connection}-{index}"), None),
        StatusCode::CREATED,
        None,
    )
}

/// Softline: a bearer token from `POST /v1/login_check` first (outside the timed window).
pub async fn softline_create(context: &Context) -> BenchResult<Repeat> {
    let answer = context
        .call(
            Method::POST,
            "/v1/login_check",
            &[(CONTENT_TYPE, json_type())],
            &json!({ "username": context.credentials.api_login, "password": context.credentials.api_secret }),
            StatusCode::OK,
        )
        .await?;
    let token = answer["token"]
        .as_str()
        .ok_or_else(|| BenchError::answer("/v1/login_check", answer.to_string()))?;
    Repeat::varying(
        Method::POST,
        "/v1/payment",
        vec![
            (AUTHORIZATION, header(&format!("Bearer {token}"))?),
            (CONTENT_TYPE, json_type()),
        ],
        |connection, index| {
            format!(
                r#"{{"currency":"RUB","amount":"112.50","return_success_url":"https://shop.example/ok","payment_method":"CreditCard","payment_id":"sl-{connection}-{index}","customer":{{"email":"customer@example.com","first_name":"Ivan","last_name":"Petrov"}}}}"#
            )
        },
        StatusCode::OK,
        Some(b"\"payment_url\""),
    )
}

fn activeplatform_payment(context: &Context) -> String {
    format!(
        r#"{{"data":{{"attributes":{{"account_id":{},"total":"10.0","currency_code":"USD","comment":"bench","purpose":"Hosting"}}}}}}"#,
        context.credentials.customer_account_id
    )
}

fn activeplatform_path(context: &Context) -> String {
    format!(
        "/api/v3/resellers/{}/payments",
        context.credentials.reseller_id
    )
}

pub fn activeplatform_create(context: &Context) -> BenchResult<Repeat> {
    Repeat::fixed(
        Method::POST,
        &activeplatform_path(context),
        context.manager_headers()?,
        Bytes::from(activeplatform_payment(context)),
        StatusCode::CREATED,
        None,
    )
}

/// The demo P2P client's session, two cards and one finished DIRECT transfer.
pub struct P2pSetup {
    session: String,
    card_from: String,
    card_to: String,
    transfer: String,
}

async fn p2p_call(context: &Context, path: &str, body: Value) -> BenchResult<Value> {
    let answer = context
        .call(
            Method::POST,
            path,
            &[(CONTENT_TYPE, json_type())],
            &body,
            StatusCode::OK,
        )
        .await?;
    if answer["status"] != 1 {
        return Err(BenchError::answer(path, answer.to_string()));
    }
    Ok(answer)
}

fn text_at(answer: &Value, pointer: &str, what: &str) -> BenchResult<String> {
    answer
        .pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| BenchError::answer(what, answer.to_string()))
}

pub async fn p2p_setup(context: &Context) -> BenchResult<P2pSetup> {
    let opened = p2p_call(
        context,
        "/api/sessions/create",
        json!({ "params": { "clientId": context.credentials.p2p_client_id } }),
    )
    .await?;
    let session = text_at(&opened, "/data/id", "/api/sessions/create")?;
    let mut cards = Vec::new();
    for pan in ["4111111111111111", "5555555555554444"] {
        let added = p2p_call(
            context,
            "/api/p2p/cards/add",
            json!({ "params": { "sessionId": session }, "data": { "pan": pan, "expiry": "12/30" } }),
        )
        .await?;
        cards.push(text_at(&added, "/data/cardId", "/api/p2p/cards/add")?);
    }
    let [card_from, card_to] = <[String; 2]>::try_from(cards)
        .map_err(|_| BenchError::Invalid("two cards expected".to_owned()))?;
    let created = p2p_call(
        context,
        "/api/p2p/payments/create",
        json!({ "params": { "sessionId": session }, "data": p2p_transfer("p2p-setup", &card_from, &card_to) }),
    )
    .await?;
    let transfer = text_at(&created, "/data/id", "/api/p2p/payments/create")?;
    Ok(P2pSetup {
        session,
        card_from,
        card_to,
        transfer,
    })
}

fn p2p_transfer(external_id: &str, from: &str, to: &str) -> Value {
    json!({ "externalId": external_id, "cardFrom": { "id": from, "securityCode": "123" }, "cardTo": { "id": to },
            "amount": 10000, "currency": 980, "description": "bench", "type": "DIRECT" })
}

pub fn p2p_create(setup: &P2pSetup) -> BenchResult<Repeat> {
    let (session, from, to) = (
        setup.session.clone(),
        setup.card_from.clone(),
        setup.card_to.clone(),
    );
    Repeat::varying(
        Method::POST,
        "/api/p2p/payments/create",
        vec![(CONTENT_TYPE, json_type())],
        move |connection, index| {
            format!(
                r#"{{"params":{{"sessionId":"{session}"}},"data":{{"externalId":"p2p-{connection}-{index}","cardFrom":{{"id":"{from}","securityCode":"123"}},"cardTo":{{"id":"{to}"}},"amount":10000,"currency":980,"description":"bench","type":"DIRECT"}}}}"#
            )
        },
        StatusCode::OK,
        Some(b"\"status\":1"),
    )
}

pub fn p2p_show(setup: &P2pSetup) -> BenchResult<Repeat> {
    let body =
        json!({ "params": { "sessionId": setup.session, "id": setup.transfer }, "data": {} });
    Repeat::fixed(
        Method::POST,
        "/api/p2p/payments/show",
        vec![(CONTENT_TYPE, json_type())],
        Bytes::from(body.to_string()),
        StatusCode::OK,
        Some(b"\"status\":1"),
    )
}

/// `PaymentCommit` relayed to this server's own YooKassa sandbox (on the default allow-list),
/// the demo merchant being both the caller and the sandbox shop.
pub fn yookassa_create(context: &Context) -> BenchResult<Repeat> {
    let body = json!({ "Refund": false, "Amount": 5, "Description": "Bench",
                       "ApiParams": { "Url": format!("{}/sandbox/yookassa/v3", context.target.base_url()),
                                      "Login": context.credentials.api_login,
                                      "Password": context.credentials.api_secret } });
    Repeat::fixed(
        Method::POST,
        "/api/yookassa/PaymentCommit",
        context.merchant_json(),
        Bytes::from(body.to_string()),
        StatusCode::OK,
        Some(b"\"ErrorCode\":0"),
    )
}

/// Creates ActivePlatform payments and keeps their ids (the set-up of `manager_complete`).
pub(crate) struct Precreate {
    request: Repeat,
}

impl Precreate {
    pub fn new(context: &Context) -> BenchResult<Precreate> {
        Ok(Precreate {
            request: activeplatform_create(context)?,
        })
    }
}

#[derive(serde::Deserialize)]
struct Created {
    data: CreatedData,
}

#[derive(serde::Deserialize)]
struct CreatedData {
    id: String,
}

impl Workload for Precreate {
    type State = Vec<String>;

    fn state(&self, _connection: usize) -> BenchResult<Vec<String>> {
        Ok(Vec::new())
    }

    async fn iterate(
        &self,
        client: &mut Client,
        ids: &mut Vec<String>,
        _measured: bool,
    ) -> Option<Result<(), Failure>> {
        let request = (self.request.make)(0, 0);
        let answer = match client.expect(request, StatusCode::CREATED, None).await {
            Ok(answer) => answer,
            Err(failure) => return Some(Err(failure)),
        };
        Some(match serde_json::from_slice::<Created>(&answer.body) {
            Ok(created) => {
                ids.push(created.data.id);
                Ok(())
            }
            Err(_) => Err(Failure::Body(answer.status.as_u16())),
        })
    }
}

/// Completes pre-created payments with the offline method `cash` (id 2), each once.
pub(crate) struct ManagerComplete {
    ids: Vec<String>,
    next: AtomicUsize,
    prefix: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
}

impl ManagerComplete {
    pub fn new(context: &Context, ids: Vec<String>) -> BenchResult<ManagerComplete> {
        Ok(ManagerComplete {
            ids,
            next: AtomicUsize::new(0),
            prefix: format!("{}/", activeplatform_path(context)),
            headers: context.manager_headers()?,
            body: Bytes::from_static(br#"{"data":{"attributes":{"payment_method_id":2}}}"#),
        })
    }
}

impl Workload for ManagerComplete {
    type State = ();

    fn state(&self, _connection: usize) -> BenchResult<()> {
        Ok(())
    }

    async fn iterate(
        &self,
        client: &mut Client,
        _state: &mut (),
        _measured: bool,
    ) -> Option<Result<(), Failure>> {
        let id = self.ids.get(self.next.fetch_add(1, Ordering::Relaxed))?;
        let request = match load::request(
            Method::PATCH,
            &format!("{}{id}", self.prefix),
            &self.headers,
            self.body.clone(),
        ) {
            Ok(request) => request,
            Err(failure) => return Some(Err(failure)),
        };
        Some(
            client
                .expect(request, StatusCode::OK, Some(b"\"completed\""))
                .await
                .map(drop),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_names_round_trip() {
        for scenario in Scenario::ALL {
            assert_eq!(Scenario::parse(scenario.name()), Some(scenario));
        }
        assert_eq!(Scenario::parse("nope"), None);
    }

    #[test]
    fn invoice_bodies_are_json() {
        let body = paymega_invoice("pc-1-2", Some("http://127.0.0.1:9/callbacks"));
        let value: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(value["data"]["attributes"]["reference_id"], "pc-1-2");
        assert_eq!(
            value["data"]["attributes"]["callback_url"],
            "http://127.0.0.1:9/callbacks"
        );
        let value: Value = serde_json::from_str(&paymega_invoice("x", None)).unwrap();
        assert!(value["data"]["attributes"].get("callback_url").is_none());
    }
}
