//! `POST /v1/payment`: the seed's fields, limits and rules, read into a payment draft. The
//! errors come in the seed's two groups: 111, 110 and 6000 first and alone; then every 6010,
//! 6020, 6030, 6060, 6080, 6090 and 6100 found, together.

use obol_core::Currency;
use obol_core::catalog::PaymentService;
use obol_core::money::{Money, Precision};
use obol_core::payment::{Flow, Payment, PaymentDraft, ReturnUrls, Source};
use obol_core::tenancy::Merchant;
use serde_json::{Map, Value, json};

use super::errors::{self, invalid_field};

/// Longest text in the seed's limited fields.
const TEXT_LENGTH_MAX: usize = 255;
/// Locales Obol knows (SPEC §3.2: at least these), and the ones the hosted page speaks.
pub const KNOWN_LOCALES: &[&str] = &["ru_RU", "en_EN", "es_MX", "uk_UA", "en_US"];
/// The hosted page's language for a locale (others fall back to English).
pub fn page_language(locale: &str) -> &'static str {
    match locale.get(..2) {
        Some("ru") => "ru",
        Some("uk") => "uk",
        _ => "en",
    }
}

/// Softline's method codes and what they are in Obol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SoftlineMethod {
    /// A card on the hosted page: the card service of the currency; supports recurring.
    CreditCard,
    /// An invoice for a company, paid by bank transfer (RUB); needs `customer.company_name`.
    LegalEntityInvoice,
}

impl SoftlineMethod {
    pub fn parse(code: &str) -> Option<SoftlineMethod> {
        match code {
            "CreditCard" => Some(SoftlineMethod::CreditCard),
            "LegalEntityInvoice" => Some(SoftlineMethod::LegalEntityInvoice),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            SoftlineMethod::CreditCard => "CreditCard",
            SoftlineMethod::LegalEntityInvoice => "LegalEntityInvoice",
        }
    }
}

/// Whether the merchant asked for a recurring card payment, from the record this door kept on
/// the payment at creation (its `dialect_attributes`); an unreadable record answers no. The
/// core decides the rest ([`Payment::card_verification_allowed`]).
pub fn recurring_card(payment: &Payment) -> bool {
    #[derive(serde::Deserialize)]
    struct Kept {
        payment_method: Option<String>,
        #[serde(default)]
        recurring_indicator: bool,
    }
    payment
        .dialect_attributes
        .as_deref()
        .and_then(|text| serde_json::from_str::<Kept>(text).ok())
        .is_some_and(|kept| {
            kept.recurring_indicator
                && kept
                    .payment_method
                    .as_deref()
                    .and_then(SoftlineMethod::parse)
                    == Some(SoftlineMethod::CreditCard)
        })
}

const TOP_LEVEL_FIELDS: &[&str] = &[
    "currency",
    "amount",
    "return_success_url",
    "payment_method",
    "recurring_indicator",
    "payment_id",
    "payment_description",
    "locale",
    "customer",
    "additional_data",
];
const CUSTOMER_FIELDS: &[&str] = &[
    "email",
    "first_name",
    "last_name",
    "phone",
    "company_name",
    "vat_number",
    "company_billing_address",
    "company_delivery_address",
    "kpp",
];

/// A checked request, ready to be created.
pub struct CheckedPayment {
    pub draft: PaymentDraft,
    pub service: Option<PaymentService>,
}

fn is_email(text: &str) -> bool {
    let Some((name, domain)) = text.split_once('@') else {
        return false;
    };
    let Some((host, zone)) = domain.rsplit_once('.') else {
        return false;
    };
    !name.is_empty()
        && !host.is_empty()
        && zone.len() >= 2
        && zone.chars().all(|character| character.is_alphabetic())
        && !text.contains(char::is_whitespace)
        && !domain.contains('@')
        && text.len() <= TEXT_LENGTH_MAX
}

fn digits(text: &str, lengths: &[usize]) -> bool {
    lengths.contains(&text.len()) && text.bytes().all(|byte| byte.is_ascii_digit())
}

/// Reads and checks the body. `available` is the services the merchant may use. Long on
/// purpose: the seed fixes the order of its errors, and that order is the order of the
/// statements here, read top to bottom; split into helpers, it would have to be
/// reassembled in the reader's head.
pub fn check(
    body: &[u8],
    content_type: Option<&str>,
    merchant: &Merchant,
    available: &[PaymentService],
) -> Result<CheckedPayment, Vec<(u32, String)>> {
    let first = |error: (u32, &str)| vec![(error.0, error.1.to_owned())];
    if !content_type.is_some_and(|value| {
        value
            .trim()
            .to_ascii_lowercase()
            .starts_with("application/json")
    }) {
        return Err(first(errors::CONTENT_TYPE_INVALID));
    }
    let object: Map<String, Value> = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => object,
        _ => return Err(first(errors::JSON_INVALID)),
    };
    // 6000 comes first and alone: a well-formed currency the merchant cannot take.
    let currency = match object.get("currency") {
        Some(Value::String(code)) => Currency::parse(code).ok(),
        _ => None,
    };
    if let Some(currency) = currency
        && !available.iter().any(|service| service.currency == currency)
    {
        return Err(first(errors::UNABLE_TO_GENERATE));
    }

    let mut problems: Vec<(u32, String)> = Vec::new();
    let invalid =
        |field: &str, problems: &mut Vec<(u32, String)>| problems.push(invalid_field(field));
    for key in object.keys() {
        if !TOP_LEVEL_FIELDS.contains(&key.as_str()) {
            invalid(key, &mut problems);
        }
    }
    let text = |key: &str, problems: &mut Vec<(u32, String)>, required: bool| -> Option<String> {
        match object.get(key) {
            None if !required => None,
            Some(Value::String(value))
                if value.chars().count() <= TEXT_LENGTH_MAX && !(required && value.is_empty()) =>
            {
                Some(value.clone())
            }
            _ => {
                problems.push(invalid_field(key));
                None
            }
        }
    };
    if currency.is_none() {
        invalid("currency", &mut problems);
    }
    let recurring = match object.get("recurring_indicator") {
        None => false,
        Some(Value::Bool(value)) => *value,
        Some(_) => {
            invalid("recurring_indicator", &mut problems);
            false
        }
    };
    let amount_text = match object.get("amount") {
        Some(Value::Number(number)) => Some(number.to_string()),
        Some(Value::String(text)) => Some(text.clone()),
        _ => None,
    };
    let amount_format_ok = amount_text.as_deref().is_some_and(|text| {
        let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
        !whole.is_empty()
            && whole.bytes().all(|byte| byte.is_ascii_digit())
            && fraction.len() <= 2
            && fraction.bytes().all(|byte| byte.is_ascii_digit())
            && !(text.contains('.') && fraction.is_empty())
    });
    let amount = match (currency, amount_text.as_deref()) {
        (Some(currency), Some(text)) if amount_format_ok => {
            match Money::parse_decimal_with(text, currency, Precision::AllowTrailingZeros) {
                Ok(amount) => Some(amount),
                Err(_) => {
                    invalid("amount", &mut problems);
                    None
                }
            }
        }
        (_, Some(_)) if amount_format_ok => None,
        _ => {
            invalid("amount", &mut problems);
            None
        }
    };
    if amount.is_some_and(Money::is_zero) && !recurring {
        problems.push((errors::ZERO_AMOUNT.0, errors::ZERO_AMOUNT.1.to_owned()));
    }
    let return_success_url = text("return_success_url", &mut problems, true);
    if return_success_url
        .as_deref()
        .is_some_and(|url| !(url.starts_with("http://") || url.starts_with("https://")))
    {
        invalid("return_success_url", &mut problems);
    }
    let method_code = text("payment_method", &mut problems, true);
    let payment_id = text("payment_id", &mut problems, true);
    if payment_id.as_deref().is_some_and(|id| {
        !id.bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
    }) {
        invalid("payment_id", &mut problems);
    }
    let description = text("payment_description", &mut problems, false);
    let locale = match object.get("locale") {
        None => None,
        Some(Value::String(locale)) if KNOWN_LOCALES.contains(&locale.as_str()) => {
            Some(locale.clone())
        }
        Some(Value::String(_)) => {
            problems.push((
                errors::LOCALE_NOT_FOUND.0,
                errors::LOCALE_NOT_FOUND.1.to_owned(),
            ));
            None
        }
        Some(_) => {
            invalid("locale", &mut problems);
            None
        }
    };
    let mut customer_out = Map::new();
    match object.get("customer") {
        Some(Value::Object(customer)) => {
            for key in customer.keys() {
                if !CUSTOMER_FIELDS.contains(&key.as_str()) {
                    invalid(&format!("customer.{key}"), &mut problems);
                }
            }
            for key in CUSTOMER_FIELDS {
                let required = matches!(*key, "email" | "first_name" | "last_name");
                match customer.get(*key) {
                    None if !required => {}
                    Some(Value::String(value))
                        if value.chars().count() <= TEXT_LENGTH_MAX
                            && !(required && value.is_empty()) =>
                    {
                        let valid = match *key {
                            "email" => {
                                if !is_email(value) {
                                    problems.push((
                                        errors::EMAIL_INVALID.0,
                                        errors::EMAIL_INVALID.1.to_owned(),
                                    ));
                                }
                                true
                            }
                            "vat_number" => digits(value, &[10, 12]),
                            "kpp" => digits(value, &[9]),
                            _ => true,
                        };
                        if valid {
                            customer_out.insert((*key).to_owned(), Value::String(value.clone()));
                        } else {
                            invalid(&format!("customer.{key}"), &mut problems);
                        }
                    }
                    _ => invalid(&format!("customer.{key}"), &mut problems),
                }
            }
        }
        _ => invalid("customer", &mut problems),
    }
    let additional_data = match object.get("additional_data") {
        None => None,
        Some(Value::Object(data)) => Some(Value::Object(data.clone())),
        Some(_) => {
            invalid("additional_data", &mut problems);
            None
        }
    };

    // The method, for the currency and amount.
    let method = method_code.as_deref().map(SoftlineMethod::parse);
    let mut service = None;
    match (method, currency) {
        (Some(None), _) => problems.push((
            errors::METHOD_UNAVAILABLE.0,
            errors::METHOD_UNAVAILABLE.1.to_owned(),
        )),
        (Some(Some(SoftlineMethod::CreditCard)), Some(currency)) => {
            service = available
                .iter()
                .find(|service| {
                    service.currency == currency && service.method_code == "payment_card"
                })
                .cloned();
            match (&service, amount) {
                (None, _) => problems.push((
                    errors::METHOD_UNAVAILABLE.0,
                    errors::METHOD_UNAVAILABLE.1.to_owned(),
                )),
                (Some(service), Some(amount))
                    if !amount.is_zero() && service.check_amount(amount).is_err() =>
                {
                    problems.push((errors::METHOD_AMOUNT.0, errors::METHOD_AMOUNT.1.to_owned()))
                }
                _ => {}
            }
        }
        (Some(Some(SoftlineMethod::LegalEntityInvoice)), Some(currency)) => {
            if currency != Currency::RUB || !customer_out.contains_key("company_name") {
                problems.push((
                    errors::METHOD_UNAVAILABLE.0,
                    errors::METHOD_UNAVAILABLE.1.to_owned(),
                ));
            } else if recurring {
                problems.push((
                    errors::METHOD_RECURRING.0,
                    errors::METHOD_RECURRING.1.to_owned(),
                ));
            }
        }
        _ => {}
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let (Some(amount), Some(method), Some(payment_id), Some(return_success_url)) =
        (amount, method.flatten(), payment_id, return_success_url)
    else {
        return Err(vec![invalid_field("amount")]);
    };
    let attributes = json!({
        "payment_method": method.code(),
        "recurring_indicator": recurring,
        "customer": customer_out,
        "additional_data": additional_data,
    });
    let draft = PaymentDraft::for_merchant(merchant, Source::SoftlineApi, amount)
        .external_id(payment_id.clone())
        .flow(if amount.is_zero() {
            Flow::Verify
        } else {
            Flow::Charge
        })
        .description(description.unwrap_or_else(|| format!("Payment {payment_id}")))
        .dialect_attributes(attributes.to_string())
        .return_urls(ReturnUrls {
            success: Some(return_success_url),
            ..ReturnUrls::default()
        })
        .locale(locale);
    let draft = match &service {
        Some(service) => draft.service(service),
        None => draft,
    }
    .build()
    .map_err(|error| vec![errors::draft_error(&error)])?;
    Ok(CheckedPayment { draft, service })
}
