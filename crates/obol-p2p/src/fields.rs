//! Reading the envelope's fields into core values, with the seed's error codes.

use obol_core::Currency;
use obol_core::ids::Uuid;
use obol_core::money::{AMOUNT_MINOR_LIMIT, Money};
use obol_core::p2p::EXTERNAL_ID_MAX;
use obol_http::callbacks::guard::{self, AddressPolicy};
use obol_http::state::AppState;
use serde_json::{Map, Value};

use crate::URL_MAX;
use crate::errors::ApiError;

pub(crate) fn text<'a>(
    map: &'a Map<String, Value>,
    path: &str,
    name: &str,
    max: usize,
) -> Result<Option<&'a str>, ApiError> {
    match map.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.chars().count() <= max => Ok(Some(text.as_str())),
        Some(Value::String(_)) => Err(ApiError::validation(format!(
            "{path}.{name} is longer than {max} characters."
        ))),
        Some(_) => Err(ApiError::validation(format!(
            "{path}.{name} must be a string."
        ))),
    }
}

pub(crate) fn required_text<'a>(
    map: &'a Map<String, Value>,
    path: &str,
    name: &str,
    max: usize,
) -> Result<&'a str, ApiError> {
    text(map, path, name, max)?
        .filter(|text| !text.is_empty())
        .ok_or_else(|| ApiError::validation(format!("{path}.{name} is required.")))
}

/// An id given as a string (or a number, which some clients send for `externalId`).
pub(crate) fn loose_text(
    map: &Map<String, Value>,
    path: &str,
    name: &str,
) -> Result<Option<String>, ApiError> {
    match map.get(name) {
        Some(Value::Number(number)) if number.to_string().len() <= EXTERNAL_ID_MAX => {
            Ok(Some(number.to_string()))
        }
        Some(Value::Number(_)) => Err(ApiError::validation(format!(
            "{path}.{name} is longer than {EXTERNAL_ID_MAX} characters."
        ))),
        _ => Ok(text(map, path, name, EXTERNAL_ID_MAX)?
            .filter(|text| !text.is_empty())
            .map(str::to_owned)),
    }
}

pub(crate) fn uuid_of(map: &Map<String, Value>, path: &str, name: &str) -> Result<Uuid, ApiError> {
    let text = required_text(map, path, name, 64)?;
    Uuid::parse(text).map_err(|_| ApiError::validation(format!("{path}.{name} must be a UUID.")))
}

pub(crate) fn card_reference(
    data: &Map<String, Value>,
    name: &str,
) -> Result<Option<Map<String, Value>>, ApiError> {
    match data.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(card)) => Ok(Some(card.clone())),
        Some(_) => Err(ApiError::validation(format!(
            "data.{name} must be an object {{\"id\": \"<cardId>\"}}."
        ))),
    }
}

/// An amount in minor units: a JSON integer, positive, within Obol's limit.
pub(crate) fn amount_of(data: &Map<String, Value>) -> Result<i64, ApiError> {
    let invalid = || {
        ApiError::validation(
            "data.amount must be a positive integer number of minor units (kopecks).",
        )
    };
    match data.get("amount") {
        None | Some(Value::Null) => Err(ApiError::validation("data.amount is required.")),
        Some(Value::Number(number)) => number
            .as_i64()
            .filter(|amount| (1..=AMOUNT_MINOR_LIMIT).contains(amount))
            .ok_or_else(invalid),
        Some(_) => Err(invalid()),
    }
}

/// ISO 4217 numeric (`980`, `"980"`) or alpha-3 (`"UAH"`); UAH when absent.
pub(crate) fn currency_of(data: &Map<String, Value>) -> Result<Currency, ApiError> {
    let invalid = || {
        ApiError::validation(
            "data.currency must be an ISO 4217 code: numeric (980) or alpha-3 (UAH).",
        )
    };
    let currency = match data.get("currency") {
        None | Some(Value::Null) => Currency::from_numeric(980).map_err(|_| invalid())?,
        Some(Value::Number(number)) => number
            .as_u64()
            .and_then(|numeric| u16::try_from(numeric).ok())
            .and_then(|numeric| Currency::from_numeric(numeric).ok())
            .ok_or_else(invalid)?,
        Some(Value::String(text))
            if text.len() == 3 && text.bytes().all(|b| b.is_ascii_digit()) =>
        {
            text.parse::<u16>()
                .ok()
                .and_then(|numeric| Currency::from_numeric(numeric).ok())
                .ok_or_else(invalid)?
        }
        Some(Value::String(text)) => Currency::parse(text).map_err(|_| invalid())?,
        Some(_) => return Err(invalid()),
    };
    // A currency without minor units (XXX, XAU, …) cannot hold money.
    Money::zero(currency).map_err(|_| invalid())?;
    Ok(currency)
}

pub(crate) fn callback_url_of(
    state: &AppState,
    data: &Map<String, Value>,
) -> Result<Option<String>, ApiError> {
    let Some(url) = text(data, "data", "callbackUrl", URL_MAX)?.filter(|url| !url.is_empty())
    else {
        return Ok(None);
    };
    let policy = AddressPolicy {
        allow_private_addresses: state.config.callbacks_allow_private_addresses,
    };
    let is_http = url.starts_with("http://") || url.starts_with("https://");
    if !is_http || url.contains(char::is_whitespace) || guard::check_url(url, policy).is_err() {
        return Err(ApiError::validation(
            "data.callbackUrl must be a public http(s) URL.",
        ));
    }
    Ok(Some(url.to_owned()))
}
