//! The storage limit of §9: durable payment creations per second straight through the store,
//! without HTTP. Bounded in count and time; it stops by itself.
//!
//! ```sh
//! cargo run --release -p obol-store --example write_throughput -- sqlite 64 20000
//! cargo run --release -p obol-store --example write_throughput -- postgres://root@127.0.0.1/test 64 20000
//! ```
//! Arguments: a backend (`sqlite` for a temporary file, or a PostgreSQL URL on whose server a
//! scratch database is created and dropped), concurrent writers, total payments.

use std::sync::Arc;
use std::time::{Duration, Instant};

use obol_core::Currency;
use obol_core::ids::{MerchantId, PaymentId, ResellerId};
use obol_core::money::Money;
use obol_core::payment::{PaymentDraft, Source};
use obol_core::{Timestamp, time::Clock};
use obol_store::Store;
use obol_store::ops::{catalog, payments, tenancy};
use obol_store::testing::{TEST_DATABASE_URL_VAR, TestDatabase, TestRandom};

/// Stop early after this long, whatever the count.
const TIME_LIMIT: Duration = Duration::from_secs(60);

struct WallClock;

impl Clock for WallClock {
    fn now(&self) -> Timestamp {
        let micros = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_micros() as i64)
            .unwrap_or_default();
        Timestamp::from_unix_micros(micros)
    }
}

#[tokio::main]
async fn main() {
    let arguments: Vec<String> = std::env::args().collect();
    let backend = arguments
        .get(1)
        .cloned()
        .unwrap_or_else(|| "sqlite".to_owned());
    let writers: usize = arguments
        .get(2)
        .and_then(|text| text.parse().ok())
        .unwrap_or(64);
    let total: usize = arguments
        .get(3)
        .and_then(|text| text.parse().ok())
        .unwrap_or(20_000);
    let database = if backend == "sqlite" {
        TestDatabase::sqlite()
    } else {
        // SAFETY of intent: the scratch database lives on the given server and is dropped after.
        unsafe { std::env::set_var(TEST_DATABASE_URL_VAR, &backend) };
        TestDatabase::postgres().await
    };
    let store = Store::open(&database.url).await.expect("open");
    let now = WallClock.now();
    store.migrate(now).await.expect("migrate");
    let reseller = store
        .write(move |db| {
            Box::pin(tenancy::create_reseller(
                db,
                obol_core::tenancy::Name::parse("Bench").unwrap(),
                ResellerId::new(1),
                now,
            ))
        })
        .await
        .unwrap();
    let merchant = store
        .write(move |db| {
            Box::pin(async move {
                tenancy::create_merchant(
                    db,
                    tenancy::NewMerchant {
                        reseller_id: reseller.id,
                        name: obol_core::tenancy::Name::parse("Bench shop").unwrap(),
                        test_mode: true,
                        public_key: "pk_test_bench".into(),
                        api_login: "bench".into(),
                        api_secret: obol_core::credentials::SecretDigest::of("bench"),
                        callback_secret_encrypted: vec![0],
                        settings: Default::default(),
                    },
                    &mut TestRandom::new(),
                    now,
                )
                .await
            })
        })
        .await
        .unwrap()
        .id;

    let store = Arc::new(store);
    let started = Instant::now();
    let per_writer = total.div_ceil(writers);
    let mut tasks = Vec::new();
    for writer in 0..writers {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            run_writer(store, merchant, writer, per_writer, started).await
        }));
    }
    let mut latencies = Vec::with_capacity(total);
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    let percentile = |fraction: f64| {
        latencies
            .get(
                ((latencies.len() as f64 * fraction) as usize)
                    .min(latencies.len().saturating_sub(1)),
            )
            .copied()
            .unwrap_or_default()
    };
    println!(
        "{} payments with durable commits on {} with {writers} writers in {:.2} s: {:.0}/s, p50 {:.2} ms, p99 {:.2} ms",
        latencies.len(),
        if backend == "sqlite" {
            "sqlite"
        } else {
            "postgres"
        },
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        percentile(0.50).as_secs_f64() * 1000.0,
        percentile(0.99).as_secs_f64() * 1000.0,
    );
}

async fn run_writer(
    store: Arc<Store>,
    merchant: MerchantId,
    writer: usize,
    count: usize,
    started: Instant,
) -> Vec<Duration> {
    let mut latencies = Vec::with_capacity(count);
    let mut random = TestRandom::new();
    let service = store
        .read(|db| {
            Box::pin(async move { catalog::get_service_by_code(db, "payment_card_usd_hpp").await })
        })
        .await
        .unwrap();
    for index in 0..count {
        if started.elapsed() > TIME_LIMIT {
            break;
        }
        let now = WallClock.now();
        let draft = PaymentDraft::builder(
            Source::MerchantApi,
            ResellerId::new(1),
            Money::from_minor(10_000, Currency::USD).unwrap(),
        )
        .merchant(merchant)
        .reference_id(format!("bench-{writer}-{index}"))
        .description("Invoice Example".to_owned())
        .metadata("{\"key\":\"value\"}".to_owned())
        .callback_url("https://example.com".to_owned())
        .locale("en".to_owned())
        .test_mode(true)
        .requester_ip("127.0.0.1".to_owned())
        .build()
        .unwrap();
        let id = PaymentId::generate(&mut random);
        let service = service.clone();
        let request_started = Instant::now();
        store
            .write(move |db| {
                Box::pin(async move {
                    payments::insert_payment(db, draft, id, service.as_ref(), now).await
                })
            })
            .await
            .unwrap();
        latencies.push(request_started.elapsed());
    }
    latencies
}
