//! The hosted payment pages over real HTTP, driven like an integrator's script would: plain
//! GETs and form POSTs, CSRF tokens read from the HTML, redirects not followed. Every scenario
//! runs on SQLite and on PostgreSQL.

use obol_core::Currency;
use obol_core::ids::{MerchantId, PaymentId, ResellerId};
use obol_core::money::Money;
use obol_core::payment::{Actor, Payment, PaymentEvent, PaymentStatus, Resolution, ReturnUrls};
use obol_server::commands;
use obol_store::ops::{attempts, payments};
use obol_testkit::{TestDatabase, TestServer, draft, on_both_backends};

/// Digits of the test cards, none of which may ever appear in a page or the database.
const CARD_DIGITS: [&str; 6] = [
    "4242424242424242",
    "4242424242424241",
    "4000000000000002",
    "4000000000009995",
    "4000000000000119",
    "4000000000003220",
];

struct Shop {
    server: TestServer,
    client: reqwest::Client,
    reseller: i64,
    merchant: i64,
}

async fn shop(database: TestDatabase) -> Shop {
    let server = TestServer::start(database).await;
    let merchant = server.merchant_named("Corner Shop", false, false).await;
    Shop {
        server,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        reseller: merchant.reseller_id,
        merchant: merchant.id,
    }
}

fn shop_urls() -> ReturnUrls {
    ReturnUrls {
        default: Some("https://shop.example/back".into()),
        success: Some("https://shop.example/ok".into()),
        fail: Some("https://shop.example/fail".into()),
        pending: Some("https://shop.example/pending".into()),
    }
}

/// An answer, with the body checked for card numbers on the way.
struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Answer {
    fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
    }

    fn csrf(&self) -> String {
        let marker = "name=\"csrf_token\" value=\"";
        let start = self.body.find(marker).expect("a csrf token") + marker.len();
        let end = self.body[start..].find('"').unwrap() + start;
        self.body[start..end].to_owned()
    }

    fn has_card_form(&self) -> bool {
        self.body.contains("name=\"card_number\"")
    }
}

struct Invoice<'a> {
    service: Option<&'a str>,
    return_urls: ReturnUrls,
    locale: Option<&'a str>,
    page_options: Option<&'a str>,
}

impl Default for Invoice<'_> {
    fn default() -> Self {
        Invoice {
            service: Some("payment_card_usd_hpp"),
            return_urls: shop_urls(),
            locale: None,
            page_options: None,
        }
    }
}

impl Shop {
    fn url(&self, path: &str) -> String {
        self.server.url(path)
    }

    async fn answer(response: reqwest::Response) -> Answer {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.text().await.unwrap();
        for digits in CARD_DIGITS {
            assert!(!body.contains(digits), "a card number in a page: {body}");
        }
        Answer {
            status,
            headers,
            body,
        }
    }

    async fn get(&self, path: &str) -> Answer {
        Shop::answer(self.client.get(self.url(path)).send().await.unwrap()).await
    }

    async fn get_with_language(&self, path: &str, accept_language: &str) -> Answer {
        let response = self
            .client
            .get(self.url(path))
            .header("accept-language", accept_language)
            .send()
            .await
            .unwrap();
        Shop::answer(response).await
    }

    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let response = self
            .client
            .post(self.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_body(fields))
            .send()
            .await
            .unwrap();
        Shop::answer(response).await
    }

    async fn invoice(&self, invoice: Invoice<'_>) -> PaymentId {
        let now = self.server.context.clock.now();
        let draft = draft(
            ResellerId::new(self.reseller),
            MerchantId::new(self.merchant),
            Money::from_minor(1_000, Currency::USD).unwrap(),
        )
        .description(Some("Order #42 <tea & cake>".to_owned()))
        .page_options(invoice.page_options.map(str::to_owned))
        .return_urls(invoice.return_urls)
        .expires_at(now.plus_seconds(3_600))
        .locale(invoice.locale.map(str::to_owned))
        .build()
        .expect("a valid draft");
        self.server
            .insert_payment(draft, invoice.service)
            .await
            .id
            .clone()
    }

    async fn payment(&self, id: &PaymentId) -> Payment {
        let id = id.clone();
        self.server
            .context
            .store
            .read(move |db| Box::pin(async move { payments::get_payment(db, &id).await }))
            .await
            .unwrap()
            .unwrap()
    }

    /// Opens the entry page and submits the card form.
    async fn pay(&self, id: &PaymentId, number: &str, expiry: &str) -> Answer {
        let page = self.get(&format!("/hpp/?cpi={id}")).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.has_card_form(), "{}", page.body);
        self.post(
            &format!("/hpp/pay?cpi={id}"),
            &[
                ("csrf_token", &page.csrf()),
                ("card_number", number),
                ("card_expiry", expiry),
                ("card_cvv", "123"),
                ("card_holder", "Jane Doe"),
            ],
        )
        .await
    }

    async fn verify_clean(&self) {
        let report = commands::verify(&self.server.context).await.unwrap();
        assert!(report.ok, "{:?}", report.violations);
    }

    /// Stops the server and, on SQLite, checks that no card number reached the database file.
    async fn finish(self) {
        self.verify_clean().await;
        // Stopped and closed, so that every write has reached the files read below.
        let database = self.server.stop().await;
        if let Some(path) = database.url_text.strip_prefix("sqlite://") {
            let path = std::path::PathBuf::from(path);
            let main = std::fs::read(&path).expect("the SQLite file exists");
            assert!(!main.is_empty());
            for file in [path.clone(), path.with_extension("db-wal")] {
                if let Ok(bytes) = std::fs::read(&file) {
                    for digits in CARD_DIGITS {
                        assert!(
                            !bytes
                                .windows(digits.len())
                                .any(|window| window == digits.as_bytes()),
                            "{digits} found in {}",
                            file.display()
                        );
                    }
                }
            }
        }
    }
}

fn form_body(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(key, value)| format!("{}={}", encode(key), encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// `application/x-www-form-urlencoded` encoding, enough for these tests.
fn encode(text: &str) -> String {
    let mut encoded = String::new();
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                encoded.push(byte as char)
            }
            b' ' => encoded.push('+'),
            _ => encoded.push_str(&format!("%{byte:02X}")),
        }
    }
    encoded
}

async fn card_payment_succeeds_once(database: TestDatabase) {
    let shop = shop(database).await;
    let id = shop.invoice(Invoice::default()).await;

    let page = shop.get(&format!("/hpp/?cpi={id}")).await;
    assert_eq!(page.status, 200);
    for (name, value) in [
        (
            "content-security-policy",
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data: https:; frame-ancestors 'none'; base-uri 'none'",
        ),
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
        ("content-type", "text/html; charset=utf-8"),
    ] {
        assert_eq!(page.headers[name], value, "{name}");
    }
    for expected in [
        "<html lang=\"en\">",
        "Corner Shop",
        "10.00 USD",
        "Order #42 &lt;tea &amp; cake&gt;",
        &format!("action=\"/hpp/pay?cpi={id}&amp;lang=en\""),
        "name=\"card_expiry\"",
        "name=\"card_cvv\"",
        "name=\"card_holder\"",
        "<label for=\"card_number\">",
    ] {
        assert!(page.body.contains(expected), "{expected}: {}", page.body);
    }

    let paid = shop.pay(&id, "4242 4242 4242 4242", "12/30").await;
    assert_eq!(paid.status, 303, "{}", paid.body);
    assert_eq!(paid.location(), "https://shop.example/ok");
    let payment = shop.payment(&id).await;
    assert_eq!(payment.status, PaymentStatus::Processed);
    let card = payment.card.clone().expect("card payload");
    assert_eq!(
        (
            card.first6.as_str(),
            card.last4.as_str(),
            card.brand.as_str()
        ),
        ("424242", "4242", "visa")
    );
    assert_eq!(card.holder.as_deref(), Some("Jane Doe"));

    // Paid: the page shows the status, never the form, and a second post changes nothing.
    let after = shop.get(&format!("/hpp/?cpi={id}")).await;
    assert_eq!(after.status, 200);
    assert!(!after.has_card_form(), "{}", after.body);
    assert!(after.body.contains("data-status=\"processed\""));
    let again = shop
        .post(
            &format!("/hpp/pay?cpi={id}"),
            &[
                ("csrf_token", &page.csrf()),
                ("card_number", "4000000000000002"),
                ("card_expiry", "12/30"),
                ("card_cvv", "123"),
            ],
        )
        .await;
    assert_eq!(again.status, 409, "{}", again.body);
    assert!(!again.has_card_form());
    let unchanged = shop.payment(&id).await;
    assert_eq!(unchanged.status, PaymentStatus::Processed);
    assert_eq!(unchanged.version, payment.version);
    assert_eq!(
        again.headers["x-frame-options"], "DENY",
        "headers on every answer"
    );
    shop.finish().await;
}

async fn sandbox_cards_decline_as_documented(database: TestDatabase) {
    let shop = shop(database).await;
    for (number, expiry, resolution) in [
        ("4000000000000002", "12/30", Resolution::Declined),
        ("4000000000009995", "12/30", Resolution::InsufficientFunds),
        ("4000000000000119", "12/30", Resolution::ProcessingError),
        ("4242424242424242", "10/25", Resolution::ExpiredCard),
    ] {
        let id = shop.invoice(Invoice::default()).await;
        let answer = shop.pay(&id, number, expiry).await;
        assert_eq!(answer.status, 303, "{number}: {}", answer.body);
        assert_eq!(answer.location(), "https://shop.example/fail", "{number}");
        let payment = shop.payment(&id).await;
        assert_eq!(
            (payment.status, payment.resolution),
            (PaymentStatus::Failed, resolution),
            "{number}"
        );
        assert_eq!(
            payment.card.clone().expect("card payload").last4,
            &number[12..]
        );
    }
    // Without return URLs the customer lands on the result page, in the page's language.
    let id = shop
        .invoice(Invoice {
            return_urls: ReturnUrls::default(),
            ..Invoice::default()
        })
        .await;
    let answer = shop.pay(&id, "4000000000000002", "12/30").await;
    assert_eq!(answer.location(), format!("/hpp/result?cpi={id}&lang=en"));
    let result = shop.get(answer.location()).await;
    assert_eq!(result.status, 200);
    assert!(result.body.contains("Payment failed"), "{}", result.body);
    assert!(result.body.contains("The payment was declined."));
    shop.finish().await;
}

async fn three_ds_challenge_approve_and_reject(database: TestDatabase) {
    let shop = shop(database).await;
    for (decision, status, resolution, location) in [
        (
            "approve",
            PaymentStatus::Processed,
            Resolution::Ok,
            "https://shop.example/ok",
        ),
        (
            "reject",
            PaymentStatus::Failed,
            Resolution::ThreeDsFailed,
            "https://shop.example/fail",
        ),
    ] {
        let id = shop.invoice(Invoice::default()).await;
        let answer = shop.pay(&id, "4000 0000 0000 3220", "12/30").await;
        assert_eq!(answer.status, 303, "{}", answer.body);
        assert_eq!(answer.location(), format!("/hpp/3ds?cpi={id}&lang=en"));
        assert_eq!(shop.payment(&id).await.status, PaymentStatus::Pending);

        // The entry page leads to the waiting challenge.
        let entry = shop.get(&format!("/hpp/?cpi={id}")).await;
        assert_eq!(entry.status, 303);
        assert_eq!(entry.location(), format!("/hpp/3ds?cpi={id}&lang=en"));

        let challenge = shop.get(&format!("/hpp/3ds?cpi={id}")).await;
        assert_eq!(challenge.status, 200);
        assert!(challenge.body.contains("400000******3220"));
        assert!(
            challenge
                .body
                .contains("name=\"decision\" value=\"approve\"")
        );
        assert!(
            challenge
                .body
                .contains("name=\"decision\" value=\"reject\"")
        );
        assert!(
            challenge
                .body
                .contains(&format!("method=\"post\" action=\"/hpp/3ds?cpi={id}"))
        );

        let answered = shop
            .post(
                &format!("/hpp/3ds?cpi={id}"),
                &[("csrf_token", &challenge.csrf()), ("decision", decision)],
            )
            .await;
        assert_eq!(answered.status, 303, "{}", answered.body);
        assert_eq!(answered.location(), location);
        let payment = shop.payment(&id).await;
        assert_eq!((payment.status, payment.resolution), (status, resolution));
        assert_eq!(payment.card.clone().expect("card payload").first6, "400000");

        let twice = shop
            .post(
                &format!("/hpp/3ds?cpi={id}"),
                &[("csrf_token", &challenge.csrf()), ("decision", "approve")],
            )
            .await;
        assert_eq!(twice.status, 409, "answered once");
        assert_eq!(shop.payment(&id).await.version, payment.version);
        let attempt = {
            let id = id.clone();
            shop.server
                .context
                .store
                .read(move |db| Box::pin(async move { attempts::latest(db, &id).await }))
                .await
                .unwrap()
                .unwrap()
        };
        assert_ne!(attempt.status, attempts::AttemptStatus::Challenge);
    }
    shop.finish().await;
}

async fn form_errors_csrf_and_bad_requests(database: TestDatabase) {
    let shop = shop(database).await;
    let id = shop.invoice(Invoice::default()).await;
    let page = shop.get(&format!("/hpp/?cpi={id}")).await;
    let csrf = page.csrf();
    let version_before = shop.payment(&id).await.version;
    let pay_path = format!("/hpp/pay?cpi={id}");

    for (number, expiry, cvv, message) in [
        (
            "4242 4242 4242 4241",
            "12/30",
            "123",
            "The card number is invalid.",
        ),
        (
            "4242424242424242",
            "13/30",
            "123",
            "The expiry date is invalid",
        ),
        (
            "4242424242424242",
            "12/30",
            "12",
            "The security code must be",
        ),
    ] {
        let answer = shop
            .post(
                &pay_path,
                &[
                    ("csrf_token", &csrf),
                    ("card_number", number),
                    ("card_expiry", expiry),
                    ("card_cvv", cvv),
                    ("card_holder", "Jane"),
                ],
            )
            .await;
        assert_eq!(answer.status, 422, "{number} {expiry} {cvv}");
        assert!(answer.body.contains(message), "{}", answer.body);
        assert!(
            answer.body.contains("name=\"card_number\" value=\"\""),
            "the number field is empty again"
        );
        assert!(answer.body.contains("name=\"card_cvv\" value=\"\""));
    }
    let payment = shop.payment(&id).await;
    assert_eq!(payment.status, PaymentStatus::Pending);
    assert_eq!(
        payment.version, version_before,
        "no payment attempt was made"
    );
    assert!(payment.card.is_none());

    let card = [
        ("card_number", "4242424242424242"),
        ("card_expiry", "12/30"),
        ("card_cvv", "123"),
    ];
    let missing = shop.post(&pay_path, &card).await;
    assert_eq!(missing.status, 403);
    let other = shop.invoice(Invoice::default()).await;
    let other_csrf = shop.get(&format!("/hpp/?cpi={other}")).await.csrf();
    let mut wrong = card.to_vec();
    wrong.push(("csrf_token", &other_csrf));
    assert_eq!(
        shop.post(&pay_path, &wrong).await.status,
        403,
        "another payment's token"
    );
    let mut garbage = card.to_vec();
    garbage.push(("csrf_token", "not-a-token"));
    assert_eq!(shop.post(&pay_path, &garbage).await.status, 403);
    assert_eq!(shop.payment(&id).await.status, PaymentStatus::Pending);

    let json = shop
        .client
        .post(shop.url(&pay_path))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(json.status(), 400);
    assert_eq!(json.headers()["x-frame-options"], "DENY");

    for path in [
        "/hpp/?cpi=cpi_0000000000000000".to_owned(),
        "/hpp/?cpi=nonsense".to_owned(),
        "/hpp/".to_owned(),
        "/hpp/result?cpi=%ZZ".to_owned(),
    ] {
        let answer = shop.get(&path).await;
        assert_eq!(answer.status, 404, "{path}");
        assert!(answer.body.contains("Payment not found"));
    }
    shop.finish().await;
}

async fn closed_payments_show_their_status(database: TestDatabase) {
    let shop = shop(database).await;
    let id = shop.invoice(Invoice::default()).await;
    let csrf = shop.get(&format!("/hpp/?cpi={id}")).await.csrf();
    {
        let id = id.clone();
        let now = shop.server.context.clock.now();
        shop.server
            .context
            .store
            .write(move |db| {
                Box::pin(async move {
                    payments::transition(
                        db,
                        &id,
                        PaymentEvent::Expired,
                        Actor::Job("payment_expiry".into()),
                        now,
                    )
                    .await
                })
            })
            .await
            .unwrap();
    }
    let page = shop.get(&format!("/hpp/?cpi={id}")).await;
    assert_eq!(page.status, 200);
    assert!(!page.has_card_form());
    assert!(page.body.contains("Payment expired"), "{}", page.body);
    let late = shop
        .post(
            &format!("/hpp/pay?cpi={id}"),
            &[
                ("csrf_token", &csrf),
                ("card_number", "4242424242424242"),
                ("card_expiry", "12/30"),
                ("card_cvv", "123"),
            ],
        )
        .await;
    assert_eq!(late.status, 409);
    assert!(!late.has_card_form());
    assert!(late.body.contains("This payment can no longer be paid."));
    assert_eq!(shop.payment(&id).await.status, PaymentStatus::Expired);
    shop.finish().await;
}

async fn method_choice_leads_to_the_card_form(database: TestDatabase) {
    let shop = shop(database).await;
    let id = shop
        .invoice(Invoice {
            service: None,
            ..Invoice::default()
        })
        .await;
    let page = shop.get(&format!("/hpp/?cpi={id}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Choose a payment method"));
    assert!(
        page.body
            .contains("name=\"service\" value=\"payment_card_usd_hpp\"")
    );
    assert!(
        page.body
            .contains("name=\"service\" value=\"test_usd_test\"")
    );
    assert!(
        !page.body.contains("_eur_"),
        "only the payment's currency: {}",
        page.body
    );

    let hidden = shop
        .invoice(Invoice {
            service: None,
            page_options: Some(r#"{"hide_methods":["test"],"theme":"dark"}"#),
            ..Invoice::default()
        })
        .await;
    let filtered = shop.get(&format!("/hpp/?cpi={hidden}")).await;
    assert!(filtered.body.contains("value=\"payment_card_usd_hpp\""));
    assert!(!filtered.body.contains("value=\"test_usd_test\""));
    assert!(filtered.body.contains("<body class=\"dark\">"));
    let shown = shop
        .invoice(Invoice {
            service: None,
            page_options: Some(r#"{"show_methods":["test"]}"#),
            ..Invoice::default()
        })
        .await;
    let only_test = shop.get(&format!("/hpp/?cpi={shown}")).await;
    assert!(!only_test.body.contains("value=\"payment_card_usd_hpp\""));
    assert!(only_test.body.contains("value=\"test_usd_test\""));

    let choose_path = format!("/hpp/choose?cpi={id}");
    let unknown = shop
        .post(
            &choose_path,
            &[
                ("csrf_token", &page.csrf()),
                ("service", "cash_usd_offline"),
            ],
        )
        .await;
    assert_eq!(unknown.status, 400);
    assert_eq!(shop.payment(&id).await.status, PaymentStatus::Created);

    let chosen = shop
        .post(
            &choose_path,
            &[
                ("csrf_token", &page.csrf()),
                ("service", "payment_card_usd_hpp"),
            ],
        )
        .await;
    assert_eq!(chosen.status, 303, "{}", chosen.body);
    assert_eq!(chosen.location(), format!("/hpp/?cpi={id}&lang=en"));
    let payment = shop.payment(&id).await;
    assert_eq!(payment.status, PaymentStatus::Pending);
    assert!(payment.service_id.is_some());
    let paid = shop.pay(&id, "4242424242424242", "12/30").await;
    assert_eq!(paid.location(), "https://shop.example/ok");
    assert_eq!(shop.payment(&id).await.status, PaymentStatus::Processed);
    shop.finish().await;
}

async fn test_method_chooses_the_outcome(database: TestDatabase) {
    let shop = shop(database).await;
    for (status, expected, resolution, location) in [
        (
            "processed",
            PaymentStatus::Processed,
            Resolution::Ok,
            "https://shop.example/ok",
        ),
        (
            "process_failed",
            PaymentStatus::Failed,
            Resolution::Declined,
            "https://shop.example/fail",
        ),
        (
            "process_pending",
            PaymentStatus::Pending,
            Resolution::Ok,
            "https://shop.example/pending",
        ),
    ] {
        let id = shop
            .invoice(Invoice {
                service: Some("test_usd_test"),
                ..Invoice::default()
            })
            .await;
        let page = shop.get(&format!("/hpp/?cpi={id}")).await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains("name=\"status\""), "{}", page.body);
        assert!(!page.has_card_form());
        let path = format!("/hpp/test?cpi={id}");
        let invalid = shop
            .post(
                &path,
                &[("csrf_token", &page.csrf()), ("status", "no way!")],
            )
            .await;
        assert_eq!(invalid.status, 422);
        let answer = shop
            .post(&path, &[("csrf_token", &page.csrf()), ("status", status)])
            .await;
        assert_eq!(answer.status, 303, "{}", answer.body);
        assert_eq!(answer.location(), location);
        let payment = shop.payment(&id).await;
        assert_eq!((payment.status, payment.resolution), (expected, resolution));
        assert!(payment.card.is_none());
    }
    shop.finish().await;
}

async fn pages_speak_the_customers_language(database: TestDatabase) {
    let shop = shop(database).await;
    let id = shop.invoice(Invoice::default()).await;
    let russian = shop.get(&format!("/hpp/?cpi={id}&lang=ru")).await;
    assert!(russian.body.contains("<html lang=\"ru\">"));
    assert!(russian.body.contains("Номер карты"), "{}", russian.body);
    assert!(russian.body.contains("Оплатить"));

    let by_browser = shop
        .get_with_language(&format!("/hpp/?cpi={id}"), "uk-UA,uk;q=0.9,en;q=0.5")
        .await;
    assert!(by_browser.body.contains("<html lang=\"uk\">"));
    assert!(by_browser.body.contains("Номер картки"));

    let by_locale = shop
        .invoice(Invoice {
            locale: Some("ru_RU"),
            ..Invoice::default()
        })
        .await;
    let page = shop
        .get_with_language(&format!("/hpp/?cpi={by_locale}"), "uk")
        .await;
    assert!(
        page.body.contains("<html lang=\"ru\">"),
        "the payment's locale wins"
    );

    // A form error speaks the page's language too.
    let answer = shop
        .post(
            &format!("/hpp/pay?cpi={id}&lang=ru"),
            &[
                ("csrf_token", &russian.csrf()),
                ("card_number", "1234"),
                ("card_expiry", "12/30"),
                ("card_cvv", "123"),
            ],
        )
        .await;
    assert_eq!(answer.status, 422);
    assert!(
        answer.body.contains("Неверный номер карты."),
        "{}",
        answer.body
    );
    let missing = shop.get("/hpp/?cpi=nonsense&lang=uk").await;
    assert!(missing.body.contains("Платіж не знайдено"));
    shop.finish().await;
}

/// What a good checkout gives a customer, on top of the form contract: a test payment says so
/// and lists the sandbox's cards (a live one never), a language switch that stays on the
/// payment, values shown as text, inputs labelled for autofill, the brand recognised.
async fn pages_show_test_mode_languages_and_brands(database: TestDatabase) {
    let shop = shop(database).await;
    let hostile = shop
        .server
        .merchant_named("<script>alert(1)</script>", false, false)
        .await;
    let draft = draft(
        ResellerId::new(hostile.reseller_id),
        MerchantId::new(hostile.id),
        Money::from_minor(1_000, Currency::USD).unwrap(),
    )
    .description(Some(r#"A "special" "><img src=x> offer"#.to_owned()))
    .build()
    .expect("a valid draft");
    let id = shop
        .server
        .insert_payment(draft, Some("payment_card_usd_hpp"))
        .await
        .id
        .clone();
    let page = shop.get(&format!("/hpp/?cpi={id}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let body = &page.body;
    // The test banner, with every sandbox card grouped as people read it.
    assert!(body.contains("class=\"test-banner\""), "{body}");
    for card in [
        "4242 4242 4242 4242",
        "4000 0000 0000 0002",
        "4000 0000 0000 9995",
        "4000 0000 0000 3220",
        "4000 0000 0000 0119",
    ] {
        assert!(body.contains(card), "{card}: {body}");
    }
    // Escaped: the merchant's name and the description are text, not markup.
    assert!(!body.contains("<script>alert(1)</script>"), "{body}");
    assert!(
        body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{body}"
    );
    assert!(!body.contains("<img"), "{body}");
    assert!(body.contains("A &quot;special&quot; &quot;&gt;&lt;img src=x&gt; offer"));
    // The language switch stays on this payment.
    for code in ["en", "ru", "uk"] {
        assert!(
            body.contains(&format!("href=\"/hpp/?cpi={id}&amp;lang={code}\"")),
            "{code}: {body}"
        );
    }
    // Labels tied to inputs, autofill tokens, a numeric keypad, the accepted brands.
    for (name, autocomplete) in [
        ("card_number", "cc-number"),
        ("card_expiry", "cc-exp"),
        ("card_cvv", "cc-csc"),
        ("card_holder", "cc-name"),
    ] {
        assert!(body.contains(&format!("<label for=\"{name}\">")), "{name}");
        assert!(
            body.contains(&format!("id=\"{name}\" name=\"{name}\"")),
            "{name}"
        );
        assert!(
            body.contains(&format!("autocomplete=\"{autocomplete}\"")),
            "{name}"
        );
    }
    assert!(body.contains("inputmode=\"numeric\""));
    assert!(body.contains("data-brand=\"mastercard\""));

    // After a form error: the alert, the brand the number showed (never the number).
    let refused = shop
        .post(
            &format!("/hpp/pay?cpi={id}&lang=uk"),
            &[
                ("csrf_token", &page.csrf()),
                ("card_number", "4242 4242 4242 4241"),
                ("card_expiry", "12/30"),
                ("card_cvv", "123"),
            ],
        )
        .await;
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("role=\"alert\""));
    assert!(
        refused
            .body
            .contains("class=\"recognised\" data-brand=\"visa\""),
        "{}",
        refused.body
    );
    assert!(
        refused
            .body
            .contains(&format!("href=\"/hpp/?cpi={id}&amp;lang=ru\""))
    );

    // The 3-D Secure page names the stored card's brand and switches language in place.
    let challenged = shop.pay(&id, "4000000000003220", "12/30").await;
    assert_eq!(challenged.status, 303, "{}", challenged.body);
    let challenge = shop.get(&format!("/hpp/3ds?cpi={id}&lang=ru")).await;
    assert!(challenge.body.contains("<html lang=\"ru\">"));
    assert!(
        challenge
            .body
            .contains("<strong class=\"brand\">Visa</strong>"),
        "{}",
        challenge.body
    );
    assert!(
        challenge
            .body
            .contains(&format!("href=\"/hpp/3ds?cpi={id}&amp;lang=uk\""))
    );
    assert!(challenge.body.contains("class=\"test-banner\""));

    // A live payment never shows the banner.
    let live_merchant = shop.server.merchant_named("Live Shop", true, false).await;
    let live = obol_testkit::draft(
        ResellerId::new(live_merchant.reseller_id),
        MerchantId::new(live_merchant.id),
        Money::from_minor(1_000, Currency::USD).unwrap(),
    )
    .test_mode(false)
    .build()
    .expect("a valid draft");
    let live_id = shop.server.insert_payment(live, None).await.id.clone();
    let live_page = shop.get(&format!("/hpp/?cpi={live_id}")).await;
    assert_eq!(live_page.status, 200, "{}", live_page.body);
    assert!(live_page.body.contains("Live Shop"));
    assert!(
        !live_page.body.contains("class=\"test-banner\""),
        "{}",
        live_page.body
    );
    assert!(!live_page.body.contains("4242 4242"));
    shop.finish().await;
}

on_both_backends!(
    card_payment_succeeds_once,
    sandbox_cards_decline_as_documented,
    three_ds_challenge_approve_and_reject,
    form_errors_csrf_and_bad_requests,
    closed_payments_show_their_status,
    method_choice_leads_to_the_card_form,
    test_method_chooses_the_outcome,
    pages_speak_the_customers_language,
    pages_show_test_mode_languages_and_brands,
);
