//! The dashboard's payments list at 1,000,000 payments (SPEC §7): a fresh database is filled
//! with a million payments over a three-level reseller tree and 50 merchants, spread over 90
//! days, and the list's page is read exactly as the dashboard reads it
//! (`ops::search::payments`, 50 a page) under several filters, each 20 times; then the plan of
//! each query is printed, to show which indexes it uses.
//!
//! ```sh
//! cargo run --release -p obol-store --example dashboard_list
//! OBOL_TEST_DATABASE_URL=postgres://root@127.0.0.1:5432/test \
//!     cargo run --release -p obol-store --example dashboard_list
//! ```
//! SQLite always (a temporary file); PostgreSQL too when `OBOL_TEST_DATABASE_URL` is set (a
//! scratch database on that server, dropped after). An optional argument sets the count.

use std::time::{Duration, Instant};

use obol_core::Currency;
use obol_core::ids::{PaymentId, RandomSource, ResellerId};
use obol_core::payment::{PaymentStatus, Source};
use obol_core::tenancy::{Name, Reseller};
use obol_core::{Timestamp, time::Clock};
use obol_store::Store;
use obol_store::ops::search::{self, Cursor, PaymentFilter, SearchText};
use obol_store::ops::tenancy;
use obol_store::testing::bulk::{self, BulkPayment};
use obol_store::testing::{TEST_DATABASE_URL_VAR, TestDatabase, TestRandom};

/// What the dashboard reads a page at a time (`obol_dashboard::payments::PAGE_SIZE`).
const PAGE_SIZE: i64 = 50;
/// Rows per write transaction while filling.
const BATCH: usize = 50_000;
const RUNS: usize = 20;
const DEEP_PAGES: usize = 200;
const DAYS: i64 = 90;
const MERCHANTS: usize = 50;

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

/// A small deterministic generator for the data's shape (xorshift).
struct Dice(u64);

impl Dice {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}

#[tokio::main]
async fn main() {
    let total: usize = std::env::args()
        .nth(1)
        .and_then(|text| text.parse().ok())
        .unwrap_or(1_000_000);
    run("sqlite", TestDatabase::sqlite(), total).await;
    if std::env::var(TEST_DATABASE_URL_VAR).is_ok_and(|url| !url.is_empty()) {
        run("postgres", TestDatabase::postgres().await, total).await;
    }
}

/// The tree: the root (1), two children, three grandchildren; merchants spread over all six.
struct Tree {
    root: Reseller,
    /// A grandchild: its manager sees only its own payments.
    child: Reseller,
    merchants: Vec<(i64, i64)>,
}

async fn setup(store: &Store, now: Timestamp) -> Tree {
    let root = store
        .read(|db| Box::pin(tenancy::get_reseller(db, ResellerId::new(1))))
        .await
        .unwrap();
    let mut resellers = vec![root.clone()];
    for (name, parent) in [("A", 0), ("B", 0), ("A1", 1), ("A2", 1), ("B1", 2)] {
        let parent = resellers[parent].id;
        let reseller = store
            .write(move |db| {
                Box::pin(tenancy::create_reseller(
                    db,
                    Name::parse(name).unwrap(),
                    parent,
                    now,
                ))
            })
            .await
            .unwrap();
        resellers.push(reseller);
    }
    let mut merchants = Vec::new();
    for index in 0..MERCHANTS {
        let reseller = resellers[index % resellers.len()].id;
        let merchant = store
            .write(move |db| {
                Box::pin(async move {
                    tenancy::create_merchant(
                        db,
                        tenancy::NewMerchant {
                            reseller_id: reseller,
                            name: Name::parse(&format!("Shop {index}")).unwrap(),
                            test_mode: false,
                            public_key: format!("pk_bench_{index}"),
                            api_login: format!("bench{index}"),
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
            .unwrap();
        merchants.push((merchant.id.get(), reseller.get()));
    }
    Tree {
        root,
        child: resellers[3].clone(),
        merchants,
    }
}

const STATUSES: [(PaymentStatus, u64); 8] = [
    (PaymentStatus::Processed, 600),
    (PaymentStatus::Failed, 150),
    (PaymentStatus::Created, 80),
    (PaymentStatus::Expired, 70),
    (PaymentStatus::Pending, 50),
    (PaymentStatus::Refunded, 30),
    (PaymentStatus::PartiallyRefunded, 15),
    (PaymentStatus::Deleted, 5),
];

async fn fill(store: &Store, tree: &Tree, total: usize, now: Timestamp) -> (String, String) {
    let start = now.plus_seconds(-DAYS * 86_400).unix_micros();
    let step = DAYS * 86_400 * 1_000_000 / total as i64;
    let mut dice = Dice(0x2545_F491_4F6C_DD1D);
    let mut random = TestRandom::new();
    let mut reference = String::new();
    let mut last4 = String::new();
    let mut written = 0;
    while written < total {
        let count = BATCH.min(total - written);
        let mut rows = Vec::with_capacity(count);
        for index in written..written + count {
            let (merchant, reseller) = tree.merchants[dice.below(MERCHANTS as u64) as usize];
            let mut roll = dice.below(1000);
            let status = STATUSES
                .iter()
                .find(|(_, share)| {
                    let found = roll < *share;
                    roll = roll.saturating_sub(*share);
                    found
                })
                .map_or(PaymentStatus::Processed, |(status, _)| *status);
            let currency = [Currency::USD, Currency::EUR, Currency::RUB, Currency::UAH]
                [dice.below(4) as usize];
            let number = 10_000_000 + index as i64;
            let reference_id = (dice.below(10) < 7).then(|| format!("order-{number}"));
            let card_last4 = (dice.below(2) == 0).then(|| format!("{:04}", dice.below(10_000)));
            // Searched for: the first of each past the middle.
            if index >= total / 2 {
                if reference.is_empty() {
                    reference = reference_id.clone().unwrap_or_default();
                }
                if last4.is_empty() {
                    last4 = card_last4.clone().unwrap_or_default();
                }
            }
            rows.push(BulkPayment {
                id: PaymentId::generate(&mut random as &mut dyn RandomSource),
                number,
                reseller_id: reseller,
                merchant_id: Some(merchant),
                reference_id,
                currency,
                amount: 100 + dice.below(1_000_000) as i64,
                status,
                card_last4,
                source: [Source::MerchantApi, Source::Form, Source::PublicApi]
                    [dice.below(3) as usize],
                test_mode: dice.below(5) == 0,
                created_at: Timestamp::from_unix_micros(
                    start + index as i64 * step + dice.below(step as u64) as i64,
                ),
            });
        }
        store
            .write(move |db| Box::pin(async move { bulk::insert_payments(db, &rows).await }))
            .await
            .unwrap();
        written += count;
    }
    store.write(|db| Box::pin(bulk::analyze(db))).await.unwrap();
    (reference, last4)
}

async fn page(
    store: &Store,
    filter: &PaymentFilter,
    after: Option<&Cursor>,
) -> search::PaymentsPage {
    let filter = filter.clone();
    let after = after.cloned();
    store
        .read(move |db| {
            Box::pin(async move { search::payments(db, &filter, after.as_ref(), PAGE_SIZE).await })
        })
        .await
        .unwrap()
}

async fn time_case(
    store: &Store,
    label: &str,
    filter: &PaymentFilter,
    after: Option<&Cursor>,
) -> (usize, Duration) {
    let rows = page(store, filter, after).await.payments.len();
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let started = Instant::now();
        page(store, filter, after).await;
        times.push(started.elapsed());
    }
    times.sort_unstable();
    let p50 = times[RUNS / 2];
    println!(
        "  {label:<44} {rows:>3} rows  p50 {:>7.2} ms  max {:>7.2} ms",
        ms(p50),
        ms(times[RUNS - 1])
    );
    (rows, p50)
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

async fn run(backend: &str, database: TestDatabase, total: usize) {
    let store = Store::open(&database.url).await.expect("open");
    let now = WallClock.now();
    store.migrate(now).await.expect("migrate");
    let tree = setup(&store, now).await;
    let started = Instant::now();
    let (reference, last4) = fill(&store, &tree, total, now).await;
    println!(
        "{backend}: {total} payments, {} resellers in 3 levels, {MERCHANTS} merchants, {DAYS} days: filled in {:.1} s",
        6,
        started.elapsed().as_secs_f64()
    );

    let root = PaymentFilter {
        scope: tree.root.ancestry.encode(),
        ..PaymentFilter::default()
    };
    let day = 86_400;
    let cases: Vec<(String, PaymentFilter)> = vec![
        ("root admin, no filter".into(), root.clone()),
        (
            "status = failed".into(),
            PaymentFilter {
                status: Some(PaymentStatus::Failed),
                ..root.clone()
            },
        ),
        (
            "status = partially_refunded (1.5%)".into(),
            PaymentFilter {
                status: Some(PaymentStatus::PartiallyRefunded),
                ..root.clone()
            },
        ),
        (
            "merchant_id".into(),
            PaymentFilter {
                merchant_id: Some(tree.merchants[7].0),
                ..root.clone()
            },
        ),
        (
            "date range (7 days, 30 days ago)".into(),
            PaymentFilter {
                created_from: Some(now.plus_seconds(-37 * day)),
                created_before: Some(now.plus_seconds(-30 * day)),
                ..root.clone()
            },
        ),
        (
            format!("search reference id ({reference})"),
            PaymentFilter {
                search: SearchText::parse(&reference),
                ..root.clone()
            },
        ),
        (
            format!("search card last4 ({last4})"),
            PaymentFilter {
                search: SearchText::parse(&last4),
                ..root.clone()
            },
        ),
        (
            "child reseller's manager (3rd level)".into(),
            PaymentFilter {
                scope: tree.child.ancestry.encode(),
                ..PaymentFilter::default()
            },
        ),
    ];
    for (label, filter) in &cases {
        time_case(&store, label, filter, None).await;
    }

    // A deep page: follow the cursor DEEP_PAGES pages, then time that page.
    let walk = Instant::now();
    let mut cursor = None;
    for _ in 0..DEEP_PAGES {
        cursor = page(&store, &root, cursor.as_ref()).await.next;
    }
    let walked = walk.elapsed();
    time_case(
        &store,
        &format!("page {} (after following the cursor)", DEEP_PAGES + 1),
        &root,
        cursor.as_ref(),
    )
    .await;
    println!(
        "  ({DEEP_PAGES} pages followed in {:.0} ms, {:.2} ms a page)",
        ms(walked),
        ms(walked) / DEEP_PAGES as f64
    );

    for (label, filter) in &cases {
        let filter = filter.clone();
        let plan = store
            .read(move |db| {
                Box::pin(
                    async move { bulk::explain_payments_page(db, &filter, None, PAGE_SIZE).await },
                )
            })
            .await
            .unwrap();
        println!("  plan, {label}:");
        for line in plan {
            println!("    {line}");
        }
    }
    let plan = store
        .read(move |db| {
            Box::pin(async move {
                bulk::explain_payments_page(db, &root, cursor.as_ref(), PAGE_SIZE).await
            })
        })
        .await
        .unwrap();
    println!("  plan, page {}:", DEEP_PAGES + 1);
    for line in plan {
        println!("    {line}");
    }
    drop(store);
    drop(database);
}
