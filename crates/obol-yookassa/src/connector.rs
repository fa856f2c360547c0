//! The upstream connector for YooKassa API v3: payments with an embedded confirmation and
//! refunds, over HTTPS (rustls) with HTTP Basic `Login:Password` and the `Idempotence-Key`
//! header. Redirects are not followed; every call ends by a deadline the caller gives, which
//! bounds all its attempts together. One client (and its connections) serves every call. Retries follow
//! YooKassa's rules: only a timeout, a refused or broken connection, an HTTP 5xx or a 202
//! ("still processing") is repeated, with the same `Idempotence-Key`, at most
//! [`ATTEMPTS_MAX`] times; an error YooKassa answered (4xx) is final.

use std::time::Duration;

use tokio::time::Instant;

use base64::Engine;
use obol_core::money::Money;
use serde_json::{Value, json};

/// Attempts of one call in all.
pub const ATTEMPTS_MAX: u32 = 3;
/// Bytes of an upstream answer read at most.
const ANSWER_BYTES_MAX: usize = 256 * 1024;

/// Why the upstream gave no usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// YooKassa answered an error object (`{type: "error", id, code, description, parameter}`).
    #[error("YooKassa refused: {code}: {description}")]
    Refused {
        http_status: u16,
        code: String,
        description: String,
        parameter: Option<String>,
    },
    #[error("YooKassa did not answer in time")]
    Timeout,
    #[error("YooKassa could not be reached: {0}")]
    Connect(String),
    #[error("YooKassa's answer is unreadable: {0}")]
    Unreadable(String),
}

/// A payment as the upstream describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamPayment {
    pub id: String,
    pub status: String,
    pub confirmation_token: Option<String>,
    /// YooKassa's `test`: the payment was made in a test shop and moves no real money.
    pub test: bool,
}

/// A refund as the upstream describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamRefund {
    pub id: String,
    pub status: String,
}

/// YooKassa's word for money that moved (a payment's or a refund's `status`).
const SUCCEEDED: &str = "succeeded";

impl UpstreamPayment {
    /// Whether YooKassa reports the payment paid.
    pub fn succeeded(&self) -> bool {
        self.status == SUCCEEDED
    }
}

impl UpstreamRefund {
    /// Whether YooKassa reports the refund done.
    pub fn succeeded(&self) -> bool {
        self.status == SUCCEEDED
    }
}

/// Where and as whom to call.
#[derive(Debug, Clone)]
pub struct Account<'a> {
    /// The API's base, `https://api.yookassa.ru/v3` (no trailing slash).
    pub base: &'a str,
    pub login: &'a str,
    pub password: &'a str,
}

#[derive(Clone)]
pub struct Connector {
    client: reqwest::Client,
    pause: Duration,
}

impl Connector {
    pub fn new() -> Result<Connector, reqwest::Error> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .no_proxy()
            .user_agent(concat!("Obol/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Connector {
            client,
            pause: Duration::from_millis(200),
        })
    }

    /// `POST {base}/payments`: `amount`, `capture: true`, an embedded confirmation.
    pub async fn create_payment(
        &self,
        deadline: Instant,
        account: &Account<'_>,
        idempotence_key: &str,
        amount: Money,
        description: Option<&str>,
    ) -> Result<UpstreamPayment, UpstreamError> {
        let mut body = json!({
            "amount": { "value": amount.to_decimal_string(), "currency": amount.currency().code() },
            "capture": true,
            "confirmation": { "type": "embedded" },
        });
        if let Some(description) = description {
            body["description"] = json!(description);
        }
        let answer = self
            .call(
                deadline,
                account,
                "payments",
                Some(idempotence_key),
                Some(&body),
            )
            .await?;
        payment_of(&answer)
    }

    /// `GET {base}/payments/{id}`.
    pub async fn get_payment(
        &self,
        deadline: Instant,
        account: &Account<'_>,
        id: &str,
    ) -> Result<UpstreamPayment, UpstreamError> {
        let answer = self
            .call(deadline, account, &format!("payments/{id}"), None, None)
            .await?;
        payment_of(&answer)
    }

    /// `POST {base}/refunds` of `amount` of `payment_id`.
    pub async fn create_refund(
        &self,
        deadline: Instant,
        account: &Account<'_>,
        idempotence_key: &str,
        payment_id: &str,
        amount: Money,
    ) -> Result<UpstreamRefund, UpstreamError> {
        let body = json!({
            "payment_id": payment_id,
            "amount": { "value": amount.to_decimal_string(), "currency": amount.currency().code() },
        });
        let answer = self
            .call(
                deadline,
                account,
                "refunds",
                Some(idempotence_key),
                Some(&body),
            )
            .await?;
        Ok(UpstreamRefund {
            id: text(&answer, "id")?,
            status: text(&answer, "status")?,
        })
    }

    pub(crate) async fn call(
        &self,
        deadline: Instant,
        account: &Account<'_>,
        path: &str,
        idempotence_key: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Value, UpstreamError> {
        let url = format!("{}/{path}", account.base.trim_end_matches('/'));
        let credentials = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", account.login, account.password));
        let mut last = UpstreamError::Timeout;
        for attempt in 1..=ATTEMPTS_MAX {
            if attempt > 1 {
                let pause = self.pause * (attempt - 1);
                if Instant::now() + pause >= deadline {
                    break;
                }
                tokio::time::sleep(pause).await;
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                break;
            }
            let mut request = match body {
                Some(body) => self
                    .client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body.to_string()),
                None => self.client.get(&url),
            }
            .header("authorization", format!("Basic {credentials}"))
            .timeout(remaining);
            if let Some(key) = idempotence_key {
                request = request.header("idempotence-key", key);
            }
            match self.once(request).await {
                Ok(answer) => return Ok(answer),
                Err(Attempt::Final(error)) => return Err(error),
                Err(Attempt::Retry(error)) => last = error,
            }
        }
        Err(last)
    }

    async fn once(&self, request: reqwest::RequestBuilder) -> Result<Value, Attempt> {
        let response = request.send().await.map_err(|error| {
            Attempt::Retry(if error.is_timeout() {
                UpstreamError::Timeout
            } else {
                UpstreamError::Connect(describe(&error))
            })
        })?;
        let status = response.status().as_u16();
        let bytes = read_bounded(response).await.map_err(|error| match error {
            // An answer too large will be as large again: not repeated.
            UpstreamError::Unreadable(_) => Attempt::Final(error),
            other => Attempt::Retry(other),
        })?;
        if status == 202 || status >= 500 {
            return Err(Attempt::Retry(match error_of(status, &bytes) {
                Some(error) => error,
                None => UpstreamError::Unreadable(format!("HTTP {status}")),
            }));
        }
        if !(200..300).contains(&status) {
            return Err(Attempt::Final(error_of(status, &bytes).unwrap_or_else(
                || UpstreamError::Unreadable(format!("HTTP {status} without an error object")),
            )));
        }
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(value @ Value::Object(_)) => Ok(value),
            _ => Err(Attempt::Final(UpstreamError::Unreadable(
                "the answer is not a JSON object".to_owned(),
            ))),
        }
    }
}

enum Attempt {
    Retry(UpstreamError),
    Final(UpstreamError),
}

async fn read_bounded(mut response: reqwest::Response) -> Result<Vec<u8>, UpstreamError> {
    let mut bytes = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if bytes.len() + chunk.len() > ANSWER_BYTES_MAX {
                    return Err(UpstreamError::Unreadable(
                        "the answer is too large".to_owned(),
                    ));
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(bytes),
            Err(error) if error.is_timeout() => return Err(UpstreamError::Timeout),
            Err(error) => return Err(UpstreamError::Connect(describe(&error))),
        }
    }
}

fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// YooKassa's error object, if the answer is one.
fn error_of(status: u16, bytes: &[u8]) -> Option<UpstreamError> {
    let value: Value = serde_json::from_slice(bytes).ok()?;
    if value.get("type").and_then(Value::as_str) != Some("error") {
        return None;
    }
    Some(UpstreamError::Refused {
        http_status: status,
        code: value.get("code")?.as_str()?.to_owned(),
        description: value
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        parameter: value
            .get("parameter")
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}

fn text(value: &Value, name: &str) -> Result<String, UpstreamError> {
    value
        .get(name)
        .and_then(Value::as_str)
        .filter(|text| !text.is_empty() && text.len() <= 255)
        .map(str::to_owned)
        .ok_or_else(|| UpstreamError::Unreadable(format!("the answer has no `{name}`")))
}

fn payment_of(value: &Value) -> Result<UpstreamPayment, UpstreamError> {
    Ok(UpstreamPayment {
        id: text(value, "id")?,
        status: text(value, "status")?,
        confirmation_token: value
            .get("confirmation")
            .and_then(|confirmation| confirmation.get("confirmation_token"))
            .and_then(Value::as_str)
            .map(str::to_owned),
        test: value.get("test").and_then(Value::as_bool).unwrap_or(false),
    })
}
