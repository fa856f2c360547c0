//! Payment methods and payment services: what a customer can pay with, in which currency,
//! through which flow, within which limits, at what fee, with which extra fields.

use std::collections::BTreeMap;

use regex::Regex;

use crate::currency::Currency;
use crate::error::{Coded, ErrorCode, codes};
use crate::fee::FeeSchedule;
use crate::ids::{PaymentMethodId, PaymentServiceId};
use crate::money::Money;

/// Text in the three languages of the pages and the seeds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Localized {
    pub en: String,
    pub ru: String,
    pub uk: String,
}

impl Localized {
    pub fn new(en: &str, ru: &str, uk: &str) -> Localized {
        Localized {
            en: en.to_owned(),
            ru: ru.to_owned(),
            uk: uk.to_owned(),
        }
    }

    /// The text for a locale (`ru`, `uk`, `ru_RU`, …), English otherwise.
    pub fn get(&self, locale: &str) -> &str {
        match locale.get(..2) {
            Some("ru") => &self.ru,
            Some("uk") => &self.uk,
            _ => &self.en,
        }
    }
}

/// A way to pay: a card, a wallet, cash, a bank transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentMethod {
    pub id: PaymentMethodId,
    /// `payment_card`, `applepay`, `googlepay`, `test`, `cash`, `bank_transfer`, …
    pub code: String,
    pub name: Localized,
    /// `payment_card`, `wallet`, `alternative`, `offline`, …
    pub category: String,
    pub logo_url: Option<String>,
    pub icon_url: Option<String>,
    /// Online methods are paid by a customer on a page; offline ones are recorded by a manager.
    pub online: bool,
}

/// Codes that other systems use for a method, and the method they mean.
pub const METHOD_ALIASES: &[(&str, &str)] = &[("CreditCard", "payment_card")];

/// The method code an alias stands for, or the code itself.
pub fn canonical_method_code(code: &str) -> &str {
    METHOD_ALIASES
        .iter()
        .find(|(alias, _)| *alias == code)
        .map_or(code, |(_, canonical)| canonical)
}

/// How a service takes the money.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceFlow {
    /// The customer pays on Obol's hosted page.
    Hpp,
    /// The sandbox `test` method: a field chooses the outcome.
    Test,
    /// Recorded by a manager (cash, bank transfer).
    Offline,
}

impl ServiceFlow {
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceFlow::Hpp => "hpp",
            ServiceFlow::Test => "test",
            ServiceFlow::Offline => "offline",
        }
    }

    pub fn parse(text: &str) -> Option<ServiceFlow> {
        match text {
            "hpp" => Some(ServiceFlow::Hpp),
            "test" => Some(ServiceFlow::Test),
            "offline" => Some(ServiceFlow::Offline),
            _ => None,
        }
    }
}

/// The code of a service: `{method}_{currency}_{flow}`, lower case (`payment_card_usd_hpp`).
pub fn service_code(method_code: &str, currency: Currency, flow: ServiceFlow) -> String {
    format!(
        "{}_{}_{}",
        method_code,
        currency.code().to_ascii_lowercase(),
        flow.as_str()
    )
}

/// One extra field of a service (the seed's `fields[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceField {
    pub key: String,
    /// `string` in every seed example.
    pub field_type: String,
    pub label: Localized,
    pub hint: Localized,
    pub example: Option<String>,
    pub regexp: Option<String>,
    pub required: bool,
    pub position: i64,
}

/// A method in a currency with a flow, with its limits and fees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentService {
    pub id: PaymentServiceId,
    pub code: String,
    pub method_id: PaymentMethodId,
    pub method_code: String,
    pub currency: Currency,
    pub flow: ServiceFlow,
    pub amount_min: Money,
    pub amount_max: Money,
    pub fee: FeeSchedule,
    pub reserve_lifetime_s: i64,
    pub reserve_rate_percent_e4: u32,
    pub available: bool,
    pub active: bool,
    pub enabled: bool,
    pub test_mode: bool,
    pub fields: Vec<ServiceField>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    #[error("amount is below the service's minimum")]
    AmountBelowMinimum,
    #[error("amount is above the service's maximum")]
    AmountAboveMaximum,
    #[error("currency differs from the service's")]
    CurrencyMismatch,
    #[error("service fields are invalid")]
    Fields(BTreeMap<String, FieldProblem>),
}

/// What is wrong with one service field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldProblem {
    Missing,
    DoesNotMatch,
    Unknown,
}

impl Coded for ServiceError {
    fn code(&self) -> ErrorCode {
        match self {
            ServiceError::AmountBelowMinimum | ServiceError::AmountAboveMaximum => {
                codes::AMOUNT_OUT_OF_RANGE
            }
            ServiceError::CurrencyMismatch => codes::CURRENCY_MISMATCH,
            ServiceError::Fields(_) => codes::FIELD_INVALID,
        }
    }
}

/// Longest value accepted for one service field.
pub const SERVICE_FIELD_VALUE_MAX: usize = 1024;

impl PaymentService {
    /// Whether `amount` is in the service's currency and within its limits (inclusive).
    pub fn check_amount(&self, amount: Money) -> Result<(), ServiceError> {
        if amount.currency() != self.currency {
            return Err(ServiceError::CurrencyMismatch);
        }
        if amount.minor() < self.amount_min.minor() {
            return Err(ServiceError::AmountBelowMinimum);
        }
        if amount.minor() > self.amount_max.minor() {
            return Err(ServiceError::AmountAboveMaximum);
        }
        Ok(())
    }

    /// Checks the given field values against the service's definitions: required ones
    /// present and non-empty, every value matching its `regexp`, no unknown keys.
    pub fn check_fields(&self, values: &BTreeMap<String, String>) -> Result<(), ServiceError> {
        let mut problems = BTreeMap::new();
        for field in &self.fields {
            match values.get(&field.key) {
                None => {
                    if field.required {
                        problems.insert(field.key.clone(), FieldProblem::Missing);
                    }
                }
                Some(value) if value.is_empty() && field.required => {
                    problems.insert(field.key.clone(), FieldProblem::Missing);
                }
                Some(value) => {
                    if value.len() > SERVICE_FIELD_VALUE_MAX
                        || !field_matches(field.regexp.as_deref(), value)
                    {
                        problems.insert(field.key.clone(), FieldProblem::DoesNotMatch);
                    }
                }
            }
        }
        for key in values.keys() {
            if !self.fields.iter().any(|field| &field.key == key) {
                problems.insert(key.clone(), FieldProblem::Unknown);
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ServiceError::Fields(problems))
        }
    }
}

/// Whether a merchant may use a service for an invoice. A merchant in test mode uses only
/// sandbox services; a live merchant's `test_mode: true` invoice runs in the sandbox (any
/// sandbox service); a live invoice needs a live service the merchant has enabled.
pub fn service_allowed(
    merchant_test_mode: bool,
    invoice_test_mode: bool,
    service: &PaymentService,
    enabled_for_merchant: bool,
) -> bool {
    if !service.available || !service.enabled {
        return false;
    }
    if merchant_test_mode {
        return service.test_mode && enabled_for_merchant;
    }
    if invoice_test_mode {
        service.test_mode
    } else {
        !service.test_mode && enabled_for_merchant
    }
}

fn field_matches(pattern: Option<&str>, value: &str) -> bool {
    match pattern {
        None => true,
        // A pattern that does not compile matches nothing: a broken definition must not let
        // arbitrary input through.
        Some(pattern) => Regex::new(pattern)
            .map(|regex| regex.is_match(value))
            .unwrap_or(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_service() -> PaymentService {
        PaymentService {
            id: PaymentServiceId::new(1),
            code: service_code("test", Currency::USD, ServiceFlow::Test),
            method_id: PaymentMethodId::new(6),
            method_code: "test".into(),
            currency: Currency::USD,
            flow: ServiceFlow::Test,
            amount_min: Money::from_minor(1, Currency::USD).unwrap(),
            amount_max: Money::from_minor(999_999_900, Currency::USD).unwrap(),
            fee: FeeSchedule::free(),
            reserve_lifetime_s: 0,
            reserve_rate_percent_e4: 0,
            available: true,
            active: true,
            enabled: true,
            test_mode: true,
            fields: vec![ServiceField {
                key: "status".into(),
                field_type: "string".into(),
                label: Localized::new("Status", "Статус", "Статус"),
                hint: Localized::new("Enter Status", "Введите статус", "Введіть статус"),
                example: None,
                regexp: Some("^[a-zA-Z_]*$".into()),
                required: true,
                position: 0,
            }],
        }
    }

    #[test]
    fn service_codes_follow_the_pattern() {
        assert_eq!(
            service_code("payment_card", Currency::USD, ServiceFlow::Hpp),
            "payment_card_usd_hpp"
        );
        assert_eq!(test_service().code, "test_usd_test");
        assert_eq!(canonical_method_code("CreditCard"), "payment_card");
        assert_eq!(canonical_method_code("cash"), "cash");
    }

    #[test]
    fn amounts_are_checked_inclusively() {
        let service = test_service();
        let usd = |minor| Money::from_minor(minor, Currency::USD).unwrap();
        assert_eq!(service.check_amount(usd(1)), Ok(()));
        assert_eq!(
            service.check_amount(usd(0)),
            Err(ServiceError::AmountBelowMinimum)
        );
        assert_eq!(service.check_amount(usd(999_999_900)), Ok(()));
        assert_eq!(
            service.check_amount(usd(999_999_901)),
            Err(ServiceError::AmountAboveMaximum)
        );
        assert_eq!(
            service.check_amount(Money::from_minor(100, Currency::EUR).unwrap()),
            Err(ServiceError::CurrencyMismatch)
        );
    }

    #[test]
    fn fields_are_checked_against_definitions() {
        let service = test_service();
        let values = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(key, value)| (key.to_string(), value.to_string()))
                .collect::<BTreeMap<_, _>>()
        };
        assert_eq!(
            service.check_fields(&values(&[("status", "processed")])),
            Ok(())
        );
        let missing = service.check_fields(&values(&[])).unwrap_err();
        assert_eq!(
            missing,
            ServiceError::Fields(BTreeMap::from([(
                "status".to_string(),
                FieldProblem::Missing
            )]))
        );
        let wrong = service
            .check_fields(&values(&[("status", "pro cessed!"), ("extra", "x")]))
            .unwrap_err();
        assert_eq!(
            wrong,
            ServiceError::Fields(BTreeMap::from([
                ("extra".to_string(), FieldProblem::Unknown),
                ("status".to_string(), FieldProblem::DoesNotMatch)
            ]))
        );
    }

    #[test]
    fn localized_text_falls_back_to_english() {
        let text = Localized::new("Status", "Статус", "Статус");
        assert_eq!(text.get("ru_RU"), "Статус");
        assert_eq!(text.get("es_MX"), "Status");
    }
}
