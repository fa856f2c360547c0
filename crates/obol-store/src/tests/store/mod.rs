//! The storage suite: every scenario runs on SQLite and on PostgreSQL, each in its own
//! database.

use crate::ops::tenancy::NewMerchant;
use crate::ops::{payments, tenancy, verify};
use crate::testing::{self, TestDatabase, TestRandom};
use crate::{Store, StoreError};
use obol_core::credentials::SecretDigest;
use obol_core::ids::{MerchantId, PaymentId, ROOT_RESELLER, ResellerId, Uuid};
use obol_core::money::Money;
use obol_core::payment::{Actor, PaymentDraft, PaymentEvent};
use obol_core::tenancy::{MerchantSettings, Name};
use obol_core::{Currency, Timestamp};

mod books;
mod callbacks;
mod connections;
mod credentials;
mod job_queue;
mod live_routes;
mod migrations;
mod p2p_credentials;
mod payment_flow;
mod resellers;
mod writes;

const NOW: Timestamp = Timestamp::from_unix_seconds(1_763_000_000);

async fn open(database: &TestDatabase) -> Store {
    let store = Store::open(&database.url).await.expect("open");
    store.migrate(NOW).await.expect("migrate");
    store
}

fn name(text: &str) -> Name {
    Name::parse(text).unwrap()
}

async fn merchant(store: &Store) -> MerchantId {
    merchant_in_mode(store, true).await
}

/// A merchant of a new reseller: a test merchant (sandbox services, test invoices) or a live one.
async fn merchant_in_mode(store: &Store, test_mode: bool) -> MerchantId {
    let reseller = store
        .write(|db| {
            Box::pin(tenancy::create_reseller(
                db,
                name("Reseller"),
                ROOT_RESELLER,
                NOW,
            ))
        })
        .await
        .unwrap();
    let new = NewMerchant {
        reseller_id: reseller.id,
        name: name("Shop"),
        test_mode,
        public_key: format!(
            "pk_{}_{}",
            if test_mode { "test" } else { "live" },
            Uuid::generate_v4(&mut TestRandom::new())
                .as_str()
                .replace('-', "")
        ),
        api_login: format!(
            "m{}",
            Uuid::generate_v4(&mut TestRandom::new())
                .as_str()
                .replace('-', "")
        ),
        api_secret: SecretDigest::of("sk_test_secret"),
        callback_secret_encrypted: vec![1, 2, 3, 4, 5, 6],
        settings: MerchantSettings {
            default_locale: "en".into(),
            ..MerchantSettings::default()
        },
    };
    store
        .write(move |db| {
            Box::pin(
                async move { tenancy::create_merchant(db, new, &mut TestRandom::new(), NOW).await },
            )
        })
        .await
        .unwrap()
        .id
}

fn draft(merchant: MerchantId, reference: Option<&str>, minor: i64) -> PaymentDraft {
    testing::draft(
        ResellerId::new(2),
        merchant,
        Money::from_minor(minor, Currency::USD).unwrap(),
    )
    .reference_id(reference.map(str::to_owned))
    .description(Some("Invoice".to_owned()))
    .metadata(Some("{\"key\":\"value\"}".to_owned()))
    .locale(Some("en".to_owned()))
    .requester_ip(Some("127.0.0.1".to_owned()))
    .build()
    .expect("a valid draft")
}

async fn create_payment(
    store: &Store,
    merchant: MerchantId,
    reference: Option<&str>,
    minor: i64,
) -> Result<obol_core::payment::Payment, StoreError> {
    let draft = draft(merchant, reference, minor);
    let id = PaymentId::generate(&mut TestRandom::new());
    store
        .write(move |db| {
            Box::pin(async move { payments::insert_payment(db, draft, id, None, NOW).await })
        })
        .await
}

async fn apply(
    store: &Store,
    id: &PaymentId,
    event: PaymentEvent,
) -> Result<obol_core::payment::Payment, StoreError> {
    let id = id.clone();
    store
        .write(move |db| {
            Box::pin(async move {
                payments::transition(db, &id, event, Actor::Provider, NOW)
                    .await
                    .map(|(payment, _)| payment)
            })
        })
        .await
}

async fn processed_payment(store: &Store, merchant: MerchantId, minor: i64) -> PaymentId {
    let payment = create_payment(store, merchant, None, minor).await.unwrap();
    apply(
        store,
        &payment.id,
        PaymentEvent::AttemptStarted {
            service_id: None,
            method_id: None,
        },
    )
    .await
    .unwrap();
    apply(store, &payment.id, PaymentEvent::Succeeded { card: None })
        .await
        .unwrap();
    payment.id.clone()
}

async fn assert_verified(store: &Store) {
    let report = store.read(|db| Box::pin(verify::verify(db))).await.unwrap();
    assert!(report.is_clean(), "violations: {:?}", report.violations);
}
