//! The limits measured beside the scenarios (SPEC §9): how many durable writes per second the
//! disk allows (4 KiB + `fdatasync`), and the storage limit: the database writes of a Paymega
//! invoice creation done straight through `obol-store`, with the same concurrency and no HTTP.

use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use obol_core::Currency;
use obol_core::credentials::SecretDigest;
use obol_core::ids::{MerchantId, PaymentId, ResellerId};
use obol_core::money::Money;
use obol_core::payment::{PaymentDraft, Source};
use obol_core::tenancy::Name;
use obol_core::time::Clock;
use obol_core::{Mode, Timestamp};
use obol_store::ops::callbacks::{self, NewCallback, Signer, Subject};
use obol_store::ops::{catalog, payments, tenancy};
use obol_store::testing::TestRandom;
use obol_store::{DatabaseUrl, Store};

use crate::error::{BenchError, BenchResult};
use crate::load::{Failure, Tally, Window};

/// A storage write not done within this counts as failed: it bounds the run even against a
/// database that stops answering.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// The fsync probe stops after this many writes whatever the time (a disk that does not
/// really sync would otherwise loop millions of times).
const FSYNC_WRITES_MAX: u64 = 2_000_000;

/// Durable 4 KiB writes per second to a file in `directory`, for about `duration`.
pub fn fsync_rate(directory: &Path, duration: Duration) -> BenchResult<f64> {
    let path = directory.join("fsync-probe");
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|error| BenchError::file(&path, error))?;
    let block = [0x5Au8; 4096];
    // The first write allocates the block; the loop then rewrites it, as a database rewrites
    // its log's pages.
    file.write_all(&block)
        .and_then(|()| file.sync_all())
        .map_err(|error| BenchError::file(&path, error))?;
    let started = Instant::now();
    let mut writes = 0u64;
    while started.elapsed() < duration && writes < FSYNC_WRITES_MAX {
        file.write_all_at(&block, 0)
            .and_then(|()| file.sync_data())
            .map_err(|error| BenchError::file(&path, error))?;
        writes += 1;
    }
    let elapsed = started.elapsed().as_secs_f64();
    drop(file);
    let _ = std::fs::remove_file(&path);
    Ok(if elapsed > 0.0 {
        writes as f64 / elapsed
    } else {
        0.0
    })
}

struct WallClock;

impl Clock for WallClock {
    fn now(&self) -> Timestamp {
        let micros = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| i64::try_from(elapsed.as_micros()).unwrap_or(i64::MAX))
            .unwrap_or_default();
        Timestamp::from_unix_micros(micros)
    }
}

/// Where the storage limit's callbacks would go: nothing delivers them (no worker runs).
const CALLBACK_URL: &str = "http://127.0.0.1:9/callback";

/// A callback body of about the size of a Paymega invoice callback (the private invoice).
fn callback_body() -> Vec<u8> {
    let mut body = String::from(
        r#"{"data":{"type":"payment-invoices","id":"cpi_bench","attributes":{"status":"process_pending","resolution":"ok","amount":100,"currency":"USD","#,
    );
    while body.len() < 1_800 {
        body.push_str(r#""padding":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx","#);
    }
    body.push_str(r#""test_mode":true}}}"#);
    body.into_bytes()
}

/// The storage limit's result for one kind of write.
pub struct StorageRun {
    pub tally: Tally,
    pub seconds: f64,
}

/// Opens (and migrates) the store at `url` and creates a reseller and a test merchant.
pub async fn prepare_store(url: &DatabaseUrl) -> BenchResult<(Store, MerchantId)> {
    let store = Store::open(url).await?;
    let now = WallClock.now();
    store.migrate(now).await?;
    let reseller_name = Name::parse("Bench")
        .map_err(|error| BenchError::Invalid(format!("reseller name: {error}")))?;
    let merchant_name = Name::parse("Bench shop")
        .map_err(|error| BenchError::Invalid(format!("merchant name: {error}")))?;
    let reseller = store
        .write(move |db| {
            Box::pin(tenancy::create_reseller(
                db,
                reseller_name,
                ResellerId::new(1),
                now,
            ))
        })
        .await?;
    let merchant = store
        .write(move |db| {
            Box::pin(async move {
                tenancy::create_merchant(
                    db,
                    tenancy::NewMerchant {
                        reseller_id: reseller.id,
                        name: merchant_name,
                        test_mode: true,
                        public_key: "pk_test_bench".into(),
                        api_login: "bench".into(),
                        api_secret: SecretDigest::of("bench"),
                        callback_secret_encrypted: vec![0],
                        settings: Default::default(),
                    },
                    &mut TestRandom::new(),
                    now,
                )
                .await
            })
        })
        .await?;
    Ok((store, merchant.id))
}

/// `writers` concurrent writers, each creating payments one after the other for `window`
/// (`with_callback`: each creation also enqueues its callback, in the same transaction, as a
/// creation with a `callback_url` does).
pub async fn storage_limit(
    store: &Store,
    merchant: MerchantId,
    writers: usize,
    window: Window,
    with_callback: bool,
    label: &str,
) -> BenchResult<StorageRun> {
    let service = store
        .read(|db| {
            Box::pin(async move { catalog::get_service_by_code(db, "payment_card_usd_hpp").await })
        })
        .await?;
    let body: Arc<[u8]> = callback_body().into();
    let started = Instant::now();
    let measure_from = started + window.warm_up;
    let stop_at = measure_from + window.measure;
    let mut tasks = Vec::with_capacity(writers);
    for writer in 0..writers {
        let (store, service, body) = (store.clone(), service.clone(), Arc::clone(&body));
        let prefix = format!("{label}-{writer}");
        let mut tally = Tally::new()?;
        tasks.push(tokio::spawn(async move {
            let mut random = TestRandom::new();
            let mut index = 0u64;
            let mut ended = Instant::now();
            loop {
                let request_started = Instant::now();
                if request_started >= stop_at {
                    break;
                }
                index += 1;
                let outcome = create(
                    &store,
                    merchant,
                    format!("{prefix}-{index}"),
                    PaymentId::generate(&mut random),
                    service.clone(),
                    with_callback.then(|| Arc::clone(&body)),
                )
                .await;
                ended = Instant::now();
                if request_started >= measure_from {
                    tally.record(ended - request_started, outcome);
                }
            }
            (tally, ended)
        }));
    }
    let mut tally = Tally::new()?;
    let mut last = measure_from;
    for task in tasks {
        let (writer_tally, ended) = task
            .await
            .map_err(|error| BenchError::Invalid(format!("a storage writer: {error}")))?;
        tally.merge(&writer_tally)?;
        last = last.max(ended);
    }
    Ok(StorageRun {
        tally,
        seconds: last
            .min(stop_at)
            .saturating_duration_since(measure_from)
            .as_secs_f64(),
    })
}

/// One creation's writes in one durable transaction.
async fn create(
    store: &Store,
    merchant: MerchantId,
    reference: String,
    id: PaymentId,
    service: Option<obol_core::catalog::PaymentService>,
    callback_body: Option<Arc<[u8]>>,
) -> Result<(), Failure> {
    let amount = Money::from_minor(10_000, Currency::USD).map_err(|_| Failure::Request)?;
    let draft = PaymentDraft::builder(Source::MerchantApi, ResellerId::new(1), amount)
        .merchant(merchant)
        .reference_id(reference)
        .description("Invoice Example".to_owned())
        .metadata("{\"key\":\"value\"}".to_owned())
        .locale("en".to_owned())
        .test_mode(true)
        .requester_ip("127.0.0.1".to_owned())
        .callback_url(callback_body.is_some().then(|| CALLBACK_URL.to_owned()))
        .build()
        .map_err(|_| Failure::Request)?;
    let now = WallClock.now();
    let write = store.write(move |db| {
        Box::pin(async move {
            let payment = payments::insert_payment(db, draft, id, service.as_ref(), now).await?;
            // What the outbox reads in the same transaction before it writes a callback (or
            // finds it has nowhere to send one): the merchant's webhook URL, else the catalog
            // and the payment's earlier callbacks for the body.
            let Some(body) = callback_body else {
                tenancy::get_merchant(db, merchant).await?;
                return Ok(());
            };
            catalog::list_services(db).await?;
            callbacks::for_payment(db, &payment.id).await?;
            let callback = NewCallback {
                delivery_id: format!("bench-{}", payment.id),
                subject: Subject::Payment(payment.id.clone()),
                signer: Signer::Merchant(merchant),
                dialect: "paymega".to_owned(),
                url: CALLBACK_URL.to_owned(),
                body: body.to_vec(),
                transaction_status: "process_pending".to_owned(),
                mode: Mode::Test,
            };
            callbacks::enqueue(db, callback, now).await?;
            Ok(())
        })
    });
    match tokio::time::timeout(WRITE_TIMEOUT, write).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(Failure::Store),
        Err(_) => Err(Failure::Connection),
    }
}
