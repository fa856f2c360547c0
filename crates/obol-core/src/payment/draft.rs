//! The one way from a request's fields to a [`PaymentDraft`]. Every door (Paymega's invoices,
//! Softline, ActivePlatform, the YooKassa relay and sandbox, the demo, the tests) used to write
//! the draft out as a 22-field literal and check the amount its own way; the builder fills the
//! defaults once and [`PaymentDraftBuilder::build`] checks what does not depend on a wire
//! format. A door still checks its own wire first (field types, its own limits and messages),
//! and maps a [`DraftError`] to its own body through [`Coded`].

use crate::catalog::{PaymentService, ServiceError};
use crate::error::{Coded, ErrorCode, codes};
use crate::ids::{CustomerAccountId, CustomerId, MerchantId, ResellerId};
use crate::money::Money;
use crate::tenancy::Merchant;
use crate::time::Timestamp;

use super::{DESCRIPTION_LENGTH_MAX, Flow, PaymentDraft, REFERENCE_LENGTH_MAX, ReturnUrls, Source};

/// Why a draft cannot become a payment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DraftError {
    /// Negative, or zero for anything but a card verification.
    #[error("the amount must be positive (zero only to verify a card)")]
    AmountNotPositive,
    /// An empty `reference_id`: the merchant's own id must say something.
    #[error("reference_id is empty")]
    EmptyReference,
    /// A text over its limit; the field's name.
    #[error("{0} is too long")]
    TooLong(&'static str),
    /// The amount does not fit the chosen service (currency or limits).
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl Coded for DraftError {
    fn code(&self) -> ErrorCode {
        match self {
            DraftError::AmountNotPositive => codes::AMOUNT_NOT_POSITIVE,
            DraftError::EmptyReference | DraftError::TooLong(_) => codes::FIELD_INVALID,
            DraftError::Service(error) => error.code(),
        }
    }
}

/// Collects a payment's fields; [`PaymentDraftBuilder::build`] checks them. Every field not
/// set keeps the default a door would write by hand: no merchant, customer, references,
/// description or options, `charge`, live, one-stage.
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until build() is called"]
pub struct PaymentDraftBuilder {
    draft: PaymentDraft,
    /// The service chosen at creation, if any: `build` checks the amount against it.
    service: Option<PaymentService>,
}

impl PaymentDraft {
    /// A draft of `reseller_id`'s for `amount`, coming through `source`.
    pub fn builder(source: Source, reseller_id: ResellerId, amount: Money) -> PaymentDraftBuilder {
        PaymentDraftBuilder {
            draft: PaymentDraft {
                reseller_id,
                merchant_id: None,
                customer_account_id: None,
                customer_id: None,
                reference_id: None,
                external_id: None,
                amount,
                flow: Flow::Charge,
                description: None,
                metadata: None,
                service_fields: None,
                gateway_options: None,
                page_options: None,
                dialect_attributes: None,
                return_urls: ReturnUrls::default(),
                callback_url: None,
                expires_at: None,
                source,
                locale: None,
                test_mode: false,
                requester_ip: None,
                manual_capture: false,
            },
            service: None,
        }
    }

    /// A draft of `merchant`'s: its reseller, its id, and its mode (a test merchant's payments
    /// are all test; a live merchant's test invoice sets [`PaymentDraftBuilder::test_mode`]).
    pub fn for_merchant(merchant: &Merchant, source: Source, amount: Money) -> PaymentDraftBuilder {
        PaymentDraft::builder(source, merchant.reseller_id, amount)
            .merchant(merchant.id)
            .test_mode(merchant.test_mode)
    }
}

impl PaymentDraftBuilder {
    pub fn merchant(mut self, merchant_id: MerchantId) -> Self {
        self.draft.merchant_id = Some(merchant_id);
        self
    }

    /// The reseller's payer account (ActivePlatform's `account_id`).
    pub fn customer_account(mut self, account: CustomerAccountId) -> Self {
        self.draft.customer_account_id = Some(account);
        self
    }

    /// The merchant's customer, once stored.
    pub fn customer(mut self, customer: impl Into<Option<CustomerId>>) -> Self {
        self.draft.customer_id = customer.into();
        self
    }

    /// The merchant's own id, unique per merchant (Paymega's `reference_id`).
    pub fn reference_id(mut self, reference: impl Into<Option<String>>) -> Self {
        self.draft.reference_id = reference.into();
        self
    }

    /// An id of the merchant's that need not be unique (Softline's `payment_id`).
    pub fn external_id(mut self, external: impl Into<Option<String>>) -> Self {
        self.draft.external_id = external.into();
        self
    }

    pub fn flow(mut self, flow: Flow) -> Self {
        self.draft.flow = flow;
        self
    }

    pub fn description(mut self, description: impl Into<Option<String>>) -> Self {
        self.draft.description = description.into();
        self
    }

    /// Merchant metadata as JSON text, kept as given.
    pub fn metadata(mut self, metadata: impl Into<Option<String>>) -> Self {
        self.draft.metadata = metadata.into();
        self
    }

    /// The service's extra fields as JSON text, kept as given.
    pub fn service_fields(mut self, fields: impl Into<Option<String>>) -> Self {
        self.draft.service_fields = fields.into();
        self
    }

    pub fn gateway_options(mut self, options: impl Into<Option<String>>) -> Self {
        self.draft.gateway_options = options.into();
        self
    }

    pub fn page_options(mut self, options: impl Into<Option<String>>) -> Self {
        self.draft.page_options = options.into();
        self
    }

    /// What the door keeps to answer as its seed does, as JSON text the core never reads.
    pub fn dialect_attributes(mut self, attributes: impl Into<Option<String>>) -> Self {
        self.draft.dialect_attributes = attributes.into();
        self
    }

    pub fn return_urls(mut self, urls: ReturnUrls) -> Self {
        self.draft.return_urls = urls;
        self
    }

    pub fn callback_url(mut self, url: impl Into<Option<String>>) -> Self {
        self.draft.callback_url = url.into();
        self
    }

    pub fn expires_at(mut self, at: impl Into<Option<Timestamp>>) -> Self {
        self.draft.expires_at = at.into();
        self
    }

    pub fn locale(mut self, locale: impl Into<Option<String>>) -> Self {
        self.draft.locale = locale.into();
        self
    }

    pub fn test_mode(mut self, test_mode: bool) -> Self {
        self.draft.test_mode = test_mode;
        self
    }

    pub fn requester_ip(mut self, ip: impl Into<Option<String>>) -> Self {
        self.draft.requester_ip = ip.into();
        self
    }

    /// Two-stage: hold the money when the card is approved, take it at capture.
    pub fn manual_capture(mut self, manual_capture: bool) -> Self {
        self.draft.manual_capture = manual_capture;
        self
    }

    /// The service chosen at creation: `build` checks the amount against its currency and
    /// limits. Pass the same service to [`super::Payment::create`], which takes its fee.
    pub fn service(mut self, service: &PaymentService) -> Self {
        self.service = Some(service.clone());
        self
    }

    /// Checks the draft, in this order (a door that reports one problem reports the first):
    ///
    /// 1. the amount is positive; zero only for a card verification (`verify`), which moves
    ///    no money (Paymega's `flow: verify`, Softline's recurring parent);
    /// 2. `reference_id`, when given, is not empty and at most [`REFERENCE_LENGTH_MAX`]
    ///    characters; `external_id` at most as long; the description at most
    ///    [`DESCRIPTION_LENGTH_MAX`] characters (the same limits [`super::Payment::create`]
    ///    enforces, found here before storage is touched);
    /// 3. with a service: the amount is in its currency and within its limits, except a
    ///    zero-amount verification, which is below every minimum by design.
    pub fn build(self) -> Result<PaymentDraft, DraftError> {
        let draft = self.draft;
        let zero_verification = draft.flow == Flow::Verify && draft.amount.is_zero();
        if !(draft.amount.is_positive() || zero_verification) {
            return Err(DraftError::AmountNotPositive);
        }
        if let Some(reference) = &draft.reference_id {
            if reference.is_empty() {
                return Err(DraftError::EmptyReference);
            }
            if reference.chars().count() > REFERENCE_LENGTH_MAX {
                return Err(DraftError::TooLong("reference_id"));
            }
        }
        if draft
            .external_id
            .as_ref()
            .is_some_and(|external| external.chars().count() > REFERENCE_LENGTH_MAX)
        {
            return Err(DraftError::TooLong("external_id"));
        }
        if draft
            .description
            .as_ref()
            .is_some_and(|description| description.chars().count() > DESCRIPTION_LENGTH_MAX)
        {
            return Err(DraftError::TooLong("description"));
        }
        if let Some(service) = &self.service
            && !zero_verification
        {
            service.check_amount(draft.amount)?;
        }
        Ok(draft)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::ServiceFlow;
    use crate::currency::Currency;
    use crate::fee::FeeSchedule;
    use crate::ids::{PaymentMethodId, PaymentServiceId};
    use crate::tenancy::{MerchantSettings, Name};

    fn usd(minor: i64) -> Money {
        Money::from_minor(minor, Currency::USD).unwrap()
    }

    fn card_service() -> PaymentService {
        PaymentService {
            id: PaymentServiceId::new(1),
            code: "payment_card_usd_hpp".into(),
            method_id: PaymentMethodId::new(1),
            method_code: "payment_card".into(),
            currency: Currency::USD,
            flow: ServiceFlow::Hpp,
            amount_min: usd(100),
            amount_max: usd(10_000),
            fee: FeeSchedule::free(),
            reserve_lifetime_s: 0,
            reserve_rate_percent_e4: 0,
            available: true,
            active: true,
            enabled: true,
            test_mode: true,
            fields: vec![],
            route: None,
        }
    }

    fn merchant(test_mode: bool) -> Merchant {
        Merchant {
            id: MerchantId::new(5),
            reseller_id: ResellerId::new(2),
            name: Name::parse("Shop").unwrap(),
            test_mode,
            public_key: "pk_test_x".into(),
            api_login: "login".into(),
            settings: MerchantSettings::default(),
            created_at: Timestamp::from_unix_seconds(0),
        }
    }

    #[test]
    fn defaults_are_what_the_doors_wrote_by_hand() {
        let draft = PaymentDraft::builder(Source::Manager, ResellerId::new(3), usd(500))
            .build()
            .unwrap();
        assert_eq!(draft.reseller_id, ResellerId::new(3));
        assert_eq!(draft.merchant_id, None);
        assert_eq!(draft.flow, Flow::Charge);
        assert_eq!(draft.source, Source::Manager);
        assert_eq!(draft.return_urls, ReturnUrls::default());
        assert!(!draft.test_mode && !draft.manual_capture);
        assert!(
            draft.reference_id.is_none()
                && draft.description.is_none()
                && draft.dialect_attributes.is_none()
                && draft.expires_at.is_none()
        );
    }

    #[test]
    fn a_merchants_draft_takes_its_reseller_and_mode() {
        for test_mode in [true, false] {
            let draft = PaymentDraft::for_merchant(&merchant(test_mode), Source::Form, usd(1))
                .build()
                .unwrap();
            assert_eq!(draft.reseller_id, ResellerId::new(2));
            assert_eq!(draft.merchant_id, Some(MerchantId::new(5)));
            assert_eq!(draft.test_mode, test_mode);
        }
        let test_invoice =
            PaymentDraft::for_merchant(&merchant(false), Source::MerchantApi, usd(1))
                .test_mode(true)
                .build()
                .unwrap();
        assert!(test_invoice.test_mode, "a live merchant's test invoice");
    }

    #[test]
    fn every_field_set_reaches_the_draft() {
        let at = Timestamp::from_unix_seconds(1_700_000_000);
        let draft = PaymentDraft::for_merchant(&merchant(true), Source::SoftlineApi, usd(100))
            .customer_account(CustomerAccountId::new(7))
            .reference_id("order-1".to_owned())
            .external_id(Some("42".to_owned()))
            .flow(Flow::Verify)
            .description("Payment 42".to_owned())
            .metadata("{}".to_owned())
            .service_fields("{\"status\":\"ok\"}".to_owned())
            .gateway_options("{}".to_owned())
            .page_options("{}".to_owned())
            .dialect_attributes("{\"a\":1}".to_owned())
            .return_urls(ReturnUrls {
                success: Some("https://shop.example/ok".into()),
                ..ReturnUrls::default()
            })
            .callback_url("https://shop.example/cb".to_owned())
            .expires_at(at)
            .locale("ru_RU".to_owned())
            .requester_ip("192.0.2.1".to_owned())
            .manual_capture(true)
            .build()
            .unwrap();
        assert_eq!(draft.customer_account_id, Some(CustomerAccountId::new(7)));
        assert_eq!(draft.reference_id.as_deref(), Some("order-1"));
        assert_eq!(draft.external_id.as_deref(), Some("42"));
        assert_eq!(draft.flow, Flow::Verify);
        assert_eq!(draft.description.as_deref(), Some("Payment 42"));
        assert_eq!(draft.metadata.as_deref(), Some("{}"));
        assert_eq!(draft.service_fields.as_deref(), Some("{\"status\":\"ok\"}"));
        assert_eq!(draft.gateway_options.as_deref(), Some("{}"));
        assert_eq!(draft.page_options.as_deref(), Some("{}"));
        assert_eq!(draft.dialect_attributes.as_deref(), Some("{\"a\":1}"));
        assert_eq!(
            draft.return_urls.success.as_deref(),
            Some("https://shop.example/ok")
        );
        assert_eq!(
            draft.callback_url.as_deref(),
            Some("https://shop.example/cb")
        );
        assert_eq!(draft.expires_at, Some(at));
        assert_eq!(draft.locale.as_deref(), Some("ru_RU"));
        assert_eq!(draft.requester_ip.as_deref(), Some("192.0.2.1"));
        assert!(draft.manual_capture);
    }

    #[test]
    fn build_checks_what_every_door_checks() {
        let long = |length: usize| "x".repeat(length);
        let base = || PaymentDraft::builder(Source::MerchantApi, ResellerId::new(2), usd(500));
        let cases: Vec<(&str, PaymentDraftBuilder, Result<(), DraftError>)> = vec![
            ("positive charge", base(), Ok(())),
            (
                "zero charge",
                PaymentDraft::builder(Source::MerchantApi, ResellerId::new(2), usd(0))
                    .service(&card_service()),
                Err(DraftError::AmountNotPositive),
            ),
            (
                "negative",
                PaymentDraft::builder(Source::MerchantApi, ResellerId::new(2), usd(-1)),
                Err(DraftError::AmountNotPositive),
            ),
            (
                "empty reference",
                base().reference_id(String::new()),
                Err(DraftError::EmptyReference),
            ),
            (
                "longest reference",
                base().reference_id(long(REFERENCE_LENGTH_MAX)),
                Ok(()),
            ),
            (
                "reference too long",
                base().reference_id(long(REFERENCE_LENGTH_MAX + 1)),
                Err(DraftError::TooLong("reference_id")),
            ),
            (
                "external id too long",
                base().external_id(long(REFERENCE_LENGTH_MAX + 1)),
                Err(DraftError::TooLong("external_id")),
            ),
            (
                "description too long",
                base().description(long(DESCRIPTION_LENGTH_MAX + 1)),
                Err(DraftError::TooLong("description")),
            ),
            (
                "within the service",
                base().service(&card_service()),
                Ok(()),
            ),
            (
                "below the service's minimum",
                PaymentDraft::builder(Source::MerchantApi, ResellerId::new(2), usd(99))
                    .service(&card_service()),
                Err(DraftError::Service(ServiceError::AmountBelowMinimum)),
            ),
            (
                "above the service's maximum",
                PaymentDraft::builder(Source::MerchantApi, ResellerId::new(2), usd(10_001))
                    .service(&card_service()),
                Err(DraftError::Service(ServiceError::AmountAboveMaximum)),
            ),
            (
                "another currency than the service's",
                PaymentDraft::builder(
                    Source::MerchantApi,
                    ResellerId::new(2),
                    Money::from_minor(500, Currency::EUR).unwrap(),
                )
                .service(&card_service()),
                Err(DraftError::Service(ServiceError::CurrencyMismatch)),
            ),
            (
                "zero-amount verification under a service",
                PaymentDraft::builder(Source::SoftlineApi, ResellerId::new(2), usd(0))
                    .flow(Flow::Verify)
                    .service(&card_service()),
                Ok(()),
            ),
        ];
        for (name, builder, expected) in cases {
            assert_eq!(builder.build().map(|_| ()), expected, "{name}");
        }
    }

    #[test]
    fn errors_have_catalog_codes() {
        assert_eq!(
            DraftError::AmountNotPositive.code(),
            codes::AMOUNT_NOT_POSITIVE
        );
        assert_eq!(DraftError::EmptyReference.code(), codes::FIELD_INVALID);
        assert_eq!(
            DraftError::Service(ServiceError::AmountAboveMaximum).code(),
            codes::AMOUNT_OUT_OF_RANGE
        );
    }
}
