//! The hosted card page in a real browser: headless Chromium driven through chromedriver's W3C
//! WebDriver HTTP protocol, so the page is known to work for people, not only for scripts.
//!
//! Ignored when Chromium or chromedriver was not installed when the tests were built, except
//! under CI (`CI` set), where a missing browser fails the test: `scripts/test` installs both
//! when it can.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use obol_core::Currency;
use obol_core::ids::{MerchantId, PaymentId, ResellerId};
use obol_core::money::Money;
use obol_core::payment::PaymentStatus;
use obol_store::ops::payments;
use obol_testkit::{TestDatabase, TestServer, draft};
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The W3C name of an element reference in WebDriver answers.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";
/// Chromium's start-up is the slow part; on a loaded two-core machine it can take seconds.
const DRIVER_READY_TIMEOUT: Duration = Duration::from_secs(30);
const PAGE_TIMEOUT: Duration = Duration::from_secs(30);

/// chromedriver, stopped when the test ends however it ends.
struct Driver {
    process: Child,
    base: String,
    profile: std::path::PathBuf,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
        // A session a failing test never closed leaves its Chromium running after chromedriver:
        // the browser is found by the profile only it uses.
        let _ = Command::new("pkill")
            .args(["-KILL", "-f", "--"])
            .arg(format!("--user-data-dir={}", self.profile.display()))
            .status();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free loopback port")
}

async fn start_driver(client: &reqwest::Client) -> Driver {
    let port = free_port();
    let process = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let profile = std::env::temp_dir().join(format!("obol-browser-{}-{port}", std::process::id()));
    let driver = Driver {
        process,
        base: format!("http://127.0.0.1:{port}"),
        profile,
    };
    let deadline = Instant::now() + DRIVER_READY_TIMEOUT;
    loop {
        if let Ok(response) = client.get(format!("{}/status", driver.base)).send().await
            && let Ok(status) = response.json::<Value>().await
            && status["value"]["ready"] == true
        {
            return driver;
        }
        assert!(Instant::now() < deadline, "chromedriver did not get ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One WebDriver command; answers its `value`, failing the test on a WebDriver error.
async fn command(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    body: Option<Value>,
) -> Value {
    let mut request = client.request(method, &url);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("chromedriver answers");
    let status = response.status();
    let answer: Value = response.json().await.expect("a JSON answer");
    assert!(status.is_success(), "{url}: {status} {answer}");
    answer["value"].clone()
}

async fn find(client: &reqwest::Client, session: &str, css: &str) -> String {
    let found = command(
        client,
        reqwest::Method::POST,
        format!("{session}/element"),
        Some(json!({ "using": "css selector", "value": css })),
    )
    .await;
    found[ELEMENT_KEY]
        .as_str()
        .unwrap_or_else(|| panic!("no element {css}: {found}"))
        .to_owned()
}

async fn type_into(client: &reqwest::Client, session: &str, css: &str, text: &str) {
    let element = find(client, session, css).await;
    command(
        client,
        reqwest::Method::POST,
        format!("{session}/element/{element}/value"),
        Some(json!({ "text": text })),
    )
    .await;
}

async fn body_text(client: &reqwest::Client, session: &str) -> String {
    let body = find(client, session, "body").await;
    command(
        client,
        reqwest::Method::GET,
        format!("{session}/element/{body}/text"),
        None,
    )
    .await
    .as_str()
    .unwrap_or_default()
    .to_owned()
}

/// A headless Chromium session; its URL.
async fn new_session(client: &reqwest::Client, driver: &Driver) -> String {
    let created = command(
        client,
        reqwest::Method::POST,
        format!("{}/session", driver.base),
        Some(
            json!({ "capabilities": { "alwaysMatch": { "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--no-first-run",
                "--disable-breakpad",
                format!("--user-data-dir={}", driver.profile.display()),
            ],
        } } } }),
        ),
    )
    .await;
    format!(
        "{}/session/{}",
        driver.base,
        created["sessionId"].as_str().expect("a session id")
    )
}

/// Waits until the browser's location contains `part`; the location.
async fn wait_for_url(client: &reqwest::Client, session: &str, part: &str) -> String {
    let deadline = Instant::now() + PAGE_TIMEOUT;
    loop {
        let location = command(client, reqwest::Method::GET, format!("{session}/url"), None).await;
        let location = location.as_str().unwrap_or_default().to_owned();
        if location.contains(part) {
            return location;
        }
        assert!(
            Instant::now() < deadline,
            "never reached {part}: {location}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn click(client: &reqwest::Client, session: &str, css: &str) {
    let element = find(client, session, css).await;
    command(
        client,
        reqwest::Method::POST,
        format!("{session}/element/{element}/click"),
        Some(json!({})),
    )
    .await;
}

async fn card_invoice(server: &TestServer) -> PaymentId {
    let merchant = server.merchant_named("Browser Shop", false, false).await;
    // No return URL: the customer ends on Obol's result page, which the test reads.
    let draft = draft(
        ResellerId::new(merchant.reseller_id),
        MerchantId::new(merchant.id),
        Money::from_minor(2_500, Currency::USD).unwrap(),
    )
    .description(Some("A pot of tea".to_owned()))
    .build()
    .expect("a valid draft");
    server
        .insert_payment(draft, Some("payment_card_usd_hpp"))
        .await
        .id
        .clone()
}

obol_testkit::requires! { [browser]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_pays_by_card_in_a_real_browser() {
    // Built to run (the browser was there, or CI is set): a missing browser fails.
    assert!(
        Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists(),
        "{CHROMIUM} and {CHROMEDRIVER} are required"
    );
    let server = TestServer::start(TestDatabase::sqlite()).await;
    let id = card_invoice(&server).await;

    let client = reqwest::Client::new();
    let driver = start_driver(&client).await;
    let session = new_session(&client, &driver).await;

    command(
        &client,
        reqwest::Method::POST,
        format!("{session}/url"),
        Some(json!({ "url": server.url(&format!("/hpp/?cpi={id}")) })),
    )
    .await;
    let form = body_text(&client, &session).await;
    assert!(form.contains("Browser Shop"), "{form}");
    assert!(form.contains("25.00 USD"), "{form}");
    // A test payment says so, in words a customer sees.
    assert!(form.contains("Test mode"), "{form}");
    assert!(form.contains("4000 0000 0000 3220"), "{form}");
    // A 320 px phone: the page fits, nothing scrolls sideways, the number field spans it.
    command(
        &client,
        reqwest::Method::POST,
        format!("{session}/goog/cdp/execute"),
        Some(json!({
            "cmd": "Emulation.setDeviceMetricsOverride",
            "params": { "width": 320, "height": 640, "deviceScaleFactor": 2, "mobile": true },
        })),
    )
    .await;
    // WebDriver's own script (the page's CSP forbids the page any).
    let widths = command(
        &client,
        reqwest::Method::POST,
        format!("{session}/execute/sync"),
        Some(json!({
            "script": "const root = document.documentElement; \
                       const number = document.querySelector('input[name=card_number]'); \
                       return [window.innerWidth, root.scrollWidth, number.getBoundingClientRect().width];",
            "args": [],
        })),
    )
    .await;
    let width = |index: usize| widths[index].as_f64().unwrap_or_default();
    assert_eq!(width(0), 320.0, "{widths}");
    assert!(width(1) <= 320.0, "the page scrolls sideways at 320 px: {widths}");
    assert!(width(2) >= 270.0, "the number field is not page-wide: {widths}");
    type_into(
        &client,
        &session,
        "input[name=card_number]",
        "4242 4242 4242 4242",
    )
    .await;
    type_into(&client, &session, "input[name=card_expiry]", "12/30").await;
    type_into(&client, &session, "input[name=card_cvv]", "123").await;
    let pay = find(&client, &session, "form button[type=submit]").await;
    command(
        &client,
        reqwest::Method::POST,
        format!("{session}/element/{pay}/click"),
        Some(json!({})),
    )
    .await;

    wait_for_url(&client, &session, "/hpp/result").await;
    let result = body_text(&client, &session).await;
    assert!(result.contains("Payment successful"), "{result}");
    assert!(!result.contains("4242424242424242"));
    command(&client, reqwest::Method::DELETE, session, None).await;
    drop(driver);

    let payment = {
        let id = id.clone();
        server
            .context
            .store
            .read(move |db| Box::pin(async move { payments::get_payment(db, &id).await }))
            .await
            .unwrap()
            .unwrap()
    };
    assert_eq!(payment.status, PaymentStatus::Processed);
    assert_eq!(payment.card.clone().expect("card payload").last4, "4242");
    server.stop().await;
}
}

obol_testkit::requires! { [browser]
/// A live payment through a live route, in a real browser: A's page → the card method →
/// server B (Obol's YooKassa sandbox playing the provider) → the card entered there → back to
/// A, which reads the outcome from B and shows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_pays_a_live_payment_at_the_provider_in_a_real_browser() {
    assert!(
        Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists(),
        "{CHROMIUM} and {CHROMEDRIVER} are required"
    );
    let b = TestServer::start(TestDatabase::sqlite()).await;
    let shop = b.merchant_named("Provider Shop", false, false).await;
    let file = format!(
        "[[acquirers]]\nname = \"main\"\nkind = \"yookassa\"\napi_url = \"{}/sandbox/yookassa/v3\"\n\
         shop_id = \"{}\"\nsecret_key = \"{}\"\ncurrencies = [\"RUB\"]\n",
        b.base, shop.api_login, shop.api_secret
    );
    let a = TestServer::start_with_file(TestDatabase::sqlite(), &[], Some(&file)).await;
    let merchant = a.merchant_named("Live Shop", true, false).await;
    let rub = Currency::parse("RUB").unwrap();
    let live = draft(
        ResellerId::new(merchant.reseller_id),
        MerchantId::new(merchant.id),
        Money::from_minor(25_000, rub).unwrap(),
    )
    .test_mode(false)
    .description(Some("A samovar".to_owned()))
    .build()
    .expect("a valid draft");
    let id = a.insert_payment(live, None).await.id.clone();

    let client = reqwest::Client::new();
    let driver = start_driver(&client).await;
    let session = new_session(&client, &driver).await;
    command(
        &client,
        reqwest::Method::POST,
        format!("{session}/url"),
        Some(json!({ "url": a.url(&format!("/hpp/?cpi={id}")) })),
    )
    .await;
    let choice = body_text(&client, &session).await;
    assert!(choice.contains("Live Shop"), "{choice}");
    assert!(choice.contains("250.00 RUB"), "{choice}");
    click(&client, &session, "form button[type=submit]").await;
    // Now at the provider: its own card form.
    wait_for_url(&client, &session, &b.url("/hpp/")).await;
    type_into(
        &client,
        &session,
        "input[name=card_number]",
        "5555 5555 5555 4444",
    )
    .await;
    type_into(&client, &session, "input[name=card_expiry]", "12/30").await;
    type_into(&client, &session, "input[name=card_cvv]", "123").await;
    click(&client, &session, "form button[type=submit]").await;
    // Back at A's result page, through /hpp/return.
    let location = wait_for_url(&client, &session, &a.url("/hpp/result")).await;
    assert!(location.contains(id.as_str()), "{location}");
    let result = body_text(&client, &session).await;
    assert!(result.contains("Payment successful"), "{result}");
    command(&client, reqwest::Method::DELETE, session, None).await;
    drop(driver);

    let payment = {
        let id = id.clone();
        a.context
            .store
            .read(move |db| Box::pin(async move { payments::get_payment(db, &id).await }))
            .await
            .unwrap()
            .unwrap()
    };
    assert_eq!(payment.status, PaymentStatus::Processed);
    assert_eq!(payment.route.as_deref(), Some("main"));
    assert_eq!(payment.card.clone().expect("card payload").last4, "4444");
    a.stop().await;
    b.stop().await;
}
}
