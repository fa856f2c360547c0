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
    /// The live route (SPEC §4 "Live routes") whose card service this is: a route gives the
    /// live merchants it serves `payment_card_{currency}_hpp` in each of its currencies.
    /// `None`: a service of the catalog itself.
    pub route: Option<String>,
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

/// Whose payment a service would serve, and what that holder has switched on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceHolder {
    /// A merchant's payment. `linked`: the merchant has the service enabled (a
    /// `merchant_services` link).
    Merchant { test_mode: bool, linked: bool },
    /// A reseller's own payment (ActivePlatform, created by a manager): no merchant, no links.
    Reseller,
}

/// What a service is asked to serve: a payment of some holder, in test or live mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceUse {
    pub holder: ServiceHolder,
    /// The payment's own mode (a live merchant may make test invoices).
    pub test_payment: bool,
}

impl ServiceUse {
    /// A payment of `merchant` in mode `test_payment`, for a service the merchant has `linked`.
    pub fn merchant(merchant_test_mode: bool, test_payment: bool, linked: bool) -> ServiceUse {
        ServiceUse {
            holder: ServiceHolder::Merchant {
                test_mode: merchant_test_mode,
                linked,
            },
            test_payment,
        }
    }

    /// A reseller's own payment (live: SPEC "Test and live").
    pub fn reseller(test_payment: bool) -> ServiceUse {
        ServiceUse {
            holder: ServiceHolder::Reseller,
            test_payment,
        }
    }
}

/// The one rule for whether a payment may use a service. Every door (invoice creation, the
/// hosted page's choice, the prerequest list, Softline's method, the YooKassa sandbox) asks
/// this instead of combining the flags itself. All of these must hold:
///
/// 1. **Every switch is on**: `available`, `active` and `enabled`. The three flags come from
///    the seed's catalog and Obol gives none of them a meaning of its own, so any one of them
///    turned off takes the service out of use (fail closed). Before this rule the doors each
///    read two of them (`available && enabled` for invoices and the prerequest, `active &&
///    enabled && available` on the page, `available && active` in the YooKassa sandbox, none
///    for Softline); requiring all three never lets a door accept a service it refused.
/// 2. **The `test` flow serves test payments only**: it lets the payer choose the outcome, so
///    it must never settle real money.
/// 3. **Test and live never meet** (SPEC "Test and live"):
///    - a merchant in test mode uses only sandbox services it has linked;
///    - a live merchant's test invoice (made through its private API) runs in the sandbox:
///      any sandbox service, linked or not;
///    - a live merchant's live payment uses only live services it has linked;
///    - a reseller's own payment (ActivePlatform's, made by a manager: live) has no links and
///      may use the catalog's services of its own mode: a live one never reaches the sandbox,
///      so until a live route serves it, it has no online service at all.
///
/// Amount limits ([`PaymentService::check_amount`]) and a page's own options are checked
/// separately: they depend on the amount and the page, not on who may use the service.
pub fn service_usable(service: &PaymentService, usage: ServiceUse) -> bool {
    let switched_on = service.available && service.active && service.enabled;
    let flow_fits = service.flow != ServiceFlow::Test || usage.test_payment;
    let mode_fits = match usage.holder {
        ServiceHolder::Merchant {
            test_mode: true,
            linked,
        } => service.test_mode && linked,
        ServiceHolder::Merchant {
            test_mode: false,
            linked,
        } => {
            if usage.test_payment {
                service.test_mode
            } else {
                !service.test_mode && linked
            }
        }
        ServiceHolder::Reseller => service.test_mode == usage.test_payment,
    };
    switched_on && flow_fits && mode_fits
}

/// The service a code names for a payment (SPEC §4 "Live routes": one code may name the
/// sandbox's service and each live route's): among `candidates` of that code, each with
/// whether the holder has it linked, the first `usage` may use, else the first at all (for the
/// caller to refuse). `None` when nothing has that code.
pub fn service_for_code(
    candidates: Vec<(PaymentService, bool)>,
    usage: impl Fn(bool) -> ServiceUse,
) -> Option<(PaymentService, bool)> {
    let usable = candidates
        .iter()
        .position(|(service, linked)| service_usable(service, usage(*linked)));
    let mut candidates = candidates;
    match usable {
        Some(index) => Some(candidates.swap_remove(index)),
        None => candidates.into_iter().next(),
    }
}

impl PaymentService {
    /// Whether a customer pays this service online (on a page); an offline service (cash, a
    /// bank transfer) is recorded by a manager instead and is never offered on a page.
    pub fn is_online(&self) -> bool {
        self.flow != ServiceFlow::Offline
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
pub(crate) mod tests {
    use super::*;

    #[test]
    fn a_code_names_the_service_its_payment_may_use() {
        let sandbox = PaymentService {
            flow: ServiceFlow::Hpp,
            ..test_service()
        };
        let route = PaymentService {
            id: PaymentServiceId::new(9),
            test_mode: false,
            route: Some("main".to_owned()),
            ..sandbox.clone()
        };
        let live = |linked| ServiceUse::merchant(false, false, linked);
        let test = |linked| ServiceUse::merchant(true, true, linked);
        let both = || vec![(sandbox.clone(), false), (route.clone(), true)];
        assert_eq!(
            service_for_code(both(), live).map(|(service, _)| service.id),
            Some(route.id),
            "a live merchant's live payment: the route's"
        );
        let linked_sandbox = vec![(sandbox.clone(), true), (route.clone(), false)];
        assert_eq!(
            service_for_code(linked_sandbox, test).map(|(service, _)| service.id),
            Some(sandbox.id),
            "a test merchant: the sandbox's"
        );
        assert_eq!(
            service_for_code(vec![(sandbox.clone(), false)], live).map(|(service, _)| service.id),
            Some(sandbox.id),
            "nothing usable: the first, for the caller to refuse"
        );
        assert_eq!(service_for_code(Vec::new(), live), None);
    }

    pub(crate) fn test_service() -> PaymentService {
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
            route: None,
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

    /// One service in every combination that matters, against every kind of payment.
    #[test]
    fn one_rule_decides_which_services_a_payment_may_use() {
        struct Case {
            name: &'static str,
            switches: (bool, bool, bool),
            sandbox: bool,
            flow: ServiceFlow,
            usage: ServiceUse,
            usable: bool,
        }
        let on = (true, true, true);
        let test_merchant = |linked| ServiceUse::merchant(true, true, linked);
        let live_merchant_test_invoice = |linked| ServiceUse::merchant(false, true, linked);
        let live_merchant_live_invoice = |linked| ServiceUse::merchant(false, false, linked);
        let cases = [
            Case {
                name: "test merchant, linked sandbox card",
                switches: on,
                sandbox: true,
                flow: ServiceFlow::Hpp,
                usage: test_merchant(true),
                usable: true,
            },
            Case {
                name: "test merchant, unlinked sandbox card",
                switches: on,
                sandbox: true,
                flow: ServiceFlow::Hpp,
                usage: test_merchant(false),
                usable: false,
            },
            Case {
                name: "test merchant, linked live service",
                switches: on,
                sandbox: false,
                flow: ServiceFlow::Hpp,
                usage: test_merchant(true),
                usable: false,
            },
            Case {
                name: "test merchant, the test method",
                switches: on,
                sandbox: true,
                flow: ServiceFlow::Test,
                usage: test_merchant(true),
                usable: true,
            },
            Case {
                name: "live merchant's test invoice, unlinked sandbox service",
                switches: on,
                sandbox: true,
                flow: ServiceFlow::Test,
                usage: live_merchant_test_invoice(false),
                usable: true,
            },
            Case {
                name: "live merchant's test invoice, live service",
                switches: on,
                sandbox: false,
                flow: ServiceFlow::Hpp,
                usage: live_merchant_test_invoice(true),
                usable: false,
            },
            Case {
                name: "live invoice, linked live service",
                switches: on,
                sandbox: false,
                flow: ServiceFlow::Hpp,
                usage: live_merchant_live_invoice(true),
                usable: true,
            },
            Case {
                name: "live invoice, unlinked live service",
                switches: on,
                sandbox: false,
                flow: ServiceFlow::Hpp,
                usage: live_merchant_live_invoice(false),
                usable: false,
            },
            Case {
                name: "live invoice, linked sandbox service",
                switches: on,
                sandbox: true,
                flow: ServiceFlow::Hpp,
                usage: live_merchant_live_invoice(true),
                usable: false,
            },
            Case {
                name: "live invoice, a live test-flow service",
                switches: on,
                sandbox: false,
                flow: ServiceFlow::Test,
                usage: live_merchant_live_invoice(true),
                usable: false,
            },
            Case {
                // A manager's payment is live: test cards never pay it.
                name: "reseller's payment, sandbox card",
                switches: on,
                sandbox: true,
                flow: ServiceFlow::Hpp,
                usage: ServiceUse::reseller(false),
                usable: false,
            },
            Case {
                name: "reseller's payment, the test method",
                switches: on,
                sandbox: true,
                flow: ServiceFlow::Test,
                usage: ServiceUse::reseller(false),
                usable: false,
            },
            Case {
                // A live route's card service (SPEC §4) pays it.
                name: "reseller's payment, live service",
                switches: on,
                sandbox: false,
                flow: ServiceFlow::Hpp,
                usage: ServiceUse::reseller(false),
                usable: true,
            },
            Case {
                name: "not available",
                switches: (false, true, true),
                sandbox: true,
                flow: ServiceFlow::Hpp,
                usage: test_merchant(true),
                usable: false,
            },
            Case {
                name: "not active",
                switches: (true, false, true),
                sandbox: true,
                flow: ServiceFlow::Hpp,
                usage: test_merchant(true),
                usable: false,
            },
            Case {
                name: "not enabled",
                switches: (true, true, false),
                sandbox: true,
                flow: ServiceFlow::Hpp,
                usage: test_merchant(true),
                usable: false,
            },
        ];
        for case in cases {
            let mut service = test_service();
            (service.available, service.active, service.enabled) = case.switches;
            service.test_mode = case.sandbox;
            service.flow = case.flow;
            assert_eq!(
                service_usable(&service, case.usage),
                case.usable,
                "{}",
                case.name
            );
        }
    }

    #[test]
    fn offline_services_are_not_paid_online() {
        let mut service = test_service();
        assert!(service.is_online());
        service.flow = ServiceFlow::Offline;
        assert!(!service.is_online());
    }

    #[test]
    fn localized_text_falls_back_to_english() {
        let text = Localized::new("Status", "Статус", "Статус");
        assert_eq!(text.get("ru_RU"), "Статус");
        assert_eq!(text.get("es_MX"), "Status");
    }
}
