//! The payments area: the list with its filters, search and pages, a payment's page and its
//! actions by role, callback replay, and the transactions CSV — always within the manager's
//! subtree.

use obol_core::Currency;
use obol_core::ids::{MerchantId, PaymentId, ResellerId};
use obol_core::money::Money;
use obol_core::payment::{Actor, CardPayload, Payment, PaymentEvent, PaymentStatus};
use obol_server::commands::{self, MerchantOptions};
use obol_store::ops::payments;
use obol_testkit::{CallbackReceiver, TestDatabase, TestServer, draft};
use reqwest::StatusCode;

use crate::{attribute, client, reseller, staff};

async fn merchant(server: &TestServer, reseller: i64, name: &str, webhook: Option<&str>) -> i64 {
    commands::create_merchant(
        &server.context,
        MerchantOptions {
            name: name.into(),
            reseller,
            live: false,
            forbid_public_access: false,
            webhook_url: webhook.map(str::to_owned),
        },
    )
    .await
    .unwrap()
    .id
}

async fn payment(
    server: &TestServer,
    reseller: i64,
    merchant: i64,
    minor: i64,
    reference: &str,
) -> Payment {
    let draft = draft(
        ResellerId::new(reseller),
        MerchantId::new(merchant),
        Money::from_minor(minor, Currency::USD).unwrap(),
    )
    .reference_id(Some(reference.to_owned()))
    .description(Some("tea, \"cake\"\nand =SUM(A1)".to_owned()))
    .build()
    .unwrap();
    server
        .insert_payment(draft, Some("payment_card_usd_hpp"))
        .await
}

/// Pays a payment with a card ending in 4242, through the core as the sandbox would.
async fn pay(server: &TestServer, id: &PaymentId) -> Payment {
    let outbox = server.outbox();
    let now = server.context.clock.now();
    let id = id.clone();
    server
        .context
        .store
        .write(move |db| {
            Box::pin(async move {
                outbox
                    .transition(
                        db,
                        &id,
                        PaymentEvent::AttemptStarted {
                            service_id: None,
                            method_id: None,
                        },
                        Actor::Customer,
                        now,
                    )
                    .await?;
                let card = CardPayload {
                    first6: "424242".into(),
                    last4: "4242".into(),
                    brand: "visa".into(),
                    expiry_month: 12,
                    expiry_year: 2034,
                    holder: Some("Jane Doe".into()),
                    issuer: None,
                };
                let (payment, _) = outbox
                    .transition(
                        db,
                        &id,
                        PaymentEvent::Succeeded { card: Some(card) },
                        Actor::Provider,
                        now,
                    )
                    .await?;
                Ok(payment)
            })
        })
        .await
        .unwrap()
}

async fn read(server: &TestServer, id: &PaymentId) -> Payment {
    let id = id.clone();
    server
        .context
        .store
        .read(move |db| Box::pin(async move { payments::get_payment(db, &id).await }))
        .await
        .unwrap()
        .unwrap()
}

/// The server clock's day, `YYYY-MM-DD`.
fn today(server: &TestServer) -> String {
    let civil = server.context.clock.now().to_utc_fields();
    format!("{:04}-{:02}-{:02}", civil.year, civil.month, civil.day)
}

pub async fn lists_filters_searches_and_pages(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let top = reseller(&server, "Top", None).await;
    let shop = merchant(&server, top, "<script>alert(1)</script>", None).await;
    let other = merchant(&server, top, "Other", None).await;
    let mut ids = Vec::new();
    for index in 0..55 {
        let merchant = if index % 5 == 0 { other } else { shop };
        ids.push(
            payment(&server, top, merchant, 100 + index, &format!("ref-{index}"))
                .await
                .id
                .clone(),
        );
    }
    let paid = pay(&server, &ids[3]).await;
    let (viewer, _) = staff(&server, top, "viewer", "Vera").await;

    // The first page: 50 rows, newest first, each linking to its page, and a Next link.
    let (status, html) = viewer.get(&server, "/dashboard/payments").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(html.matches("href=\"/dashboard/payments/cpi_").count(), 50);
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && !html.contains("<script>"));
    let next = {
        let end = html.find("rel=\"next\"").unwrap();
        let start = html[..end].rfind("href=\"").unwrap() + 6;
        html[start..html[start..].find('"').unwrap() + start].replace("&amp;", "&")
    };
    let (_, second) = viewer.get(&server, &next).await;
    assert_eq!(second.matches("href=\"/dashboard/payments/cpi_").count(), 5);
    // Together the two pages show every payment once.
    for id in &ids {
        let link = format!("href=\"/dashboard/payments/{id}\"");
        assert_eq!(
            html.matches(&link).count() + second.matches(&link).count(),
            1
        );
    }
    assert!(!second.contains("rel=\"next\""));

    // Each filter narrows.
    let count = |html: &str| html.matches("href=\"/dashboard/payments/cpi_").count();
    let (_, html) = viewer
        .get(&server, &format!("/dashboard/payments?merchant_id={other}"))
        .await;
    assert_eq!(count(&html), 11);
    let (_, html) = viewer
        .get(&server, "/dashboard/payments?status=processed")
        .await;
    assert_eq!(count(&html), 1);
    let (_, html) = viewer.get(&server, "/dashboard/payments?mode=live").await;
    assert_eq!(count(&html), 0);
    let (_, html) = viewer
        .get(
            &server,
            "/dashboard/payments?mode=test&currency=USD&amount_from=1.50&amount_to=1.52",
        )
        .await;
    assert_eq!(count(&html), 3);
    let (_, html) = viewer
        .get(
            &server,
            &format!(
                "/dashboard/payments?from={}&to={}",
                today(&server),
                today(&server)
            ),
        )
        .await;
    assert_eq!(count(&html), 50);
    let (_, html) = viewer
        .get(&server, "/dashboard/payments?to=2000-01-01")
        .await;
    assert_eq!(count(&html), 0);
    let (status, _) = viewer
        .get(&server, "/dashboard/payments?status=nonsense")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Search by id, reference, document number, card last 4.
    for q in [ids[7].as_str().to_owned(), "ref-7".to_owned()] {
        let (_, html) = viewer
            .get(&server, &format!("/dashboard/payments?q={q}"))
            .await;
        assert_eq!(count(&html), 1, "{q}");
        assert!(html.contains(ids[7].as_str()));
    }
    let (_, html) = viewer
        .get(
            &server,
            &format!("/dashboard/payments?q={}", paid.document_id.get()),
        )
        .await;
    assert_eq!(count(&html), 1);
    let (_, html) = viewer.get(&server, "/dashboard/payments?q=4242").await;
    assert_eq!(count(&html), 1);
    assert!(html.contains(paid.id.as_str()));

    // The payment's page: attributes, history, masked card; no forms for a viewer.
    let (status, page) = viewer
        .get(&server, &format!("/dashboard/payments/{}", paid.id))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("424242******4242"));
    assert!(page.contains("processed"));
    assert!(!page.contains("/refund\""), "a viewer gets no forms");
    let (status, _, _) = viewer
        .post(
            &server,
            &format!("/dashboard/payments/{}/refund", paid.id),
            &[("amount", "")],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        read(&server, &paid.id).await.status,
        PaymentStatus::Processed
    );
}

pub async fn refunds_completes_and_needs_csrf(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let top = reseller(&server, "Top", None).await;
    let shop = merchant(&server, top, "Shop", None).await;
    let paid = payment(&server, top, shop, 1_000, "r-1").await;
    pay(&server, &paid.id).await;
    let open = payment(&server, top, shop, 700, "r-2").await;
    let (manager, _) = staff(&server, top, "manager", "Mia").await;
    let page = format!("/dashboard/payments/{}", paid.id);

    let (_, html) = manager.get(&server, &page).await;
    assert!(html.contains(&format!(
        "action=\"/dashboard/payments/{}/refund\"",
        paid.id
    )));
    assert!(html.contains("name=\"amount\""));

    // Missing or wrong CSRF: 403, nothing moves.
    let refund_url = format!("{page}/refund");
    for form in [
        vec![("amount", "1.00")],
        vec![("amount", "1.00"), ("csrf_token", "forged")],
    ] {
        let response = client()
            .post(server.url(&refund_url))
            .header("cookie", &manager.cookie)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
    }

    // A partial refund, too much, then the rest.
    let (status, location, _) = manager
        .post(&server, &refund_url, &[("amount", "3.00")])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some(page.as_str()));
    let after = read(&server, &paid.id).await;
    assert_eq!(after.status, PaymentStatus::PartiallyRefunded);
    assert_eq!(after.refunded_amount.minor(), 300);
    let (status, _, html) = manager
        .post(&server, &refund_url, &[("amount", "8.00")])
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("exceeds"), "{html}");
    let (status, _, _) = manager.post(&server, &refund_url, &[("amount", "")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let after = read(&server, &paid.id).await;
    assert_eq!(after.status, PaymentStatus::Refunded);
    assert_eq!(after.refunded_amount.minor(), 1_000);
    let (_, html) = manager.get(&server, &page).await;
    assert!(html.contains("payment.refund"), "audited");

    // Complete an open payment with an offline method.
    let open_page = format!("/dashboard/payments/{}", open.id);
    let (_, html) = manager.get(&server, &open_page).await;
    let method = attribute(&html, "<option value=\"");
    let (status, _, _) = manager
        .post(
            &server,
            &format!("{open_page}/complete"),
            &[("payment_method_id", "999999")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, location, _) = manager
        .post(
            &server,
            &format!("{open_page}/complete"),
            &[("payment_method_id", &method)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "method {method}");
    assert_eq!(location.as_deref(), Some(open_page.as_str()));
    let completed = read(&server, &open.id).await;
    assert_eq!(completed.status, PaymentStatus::Processed);
    assert_eq!(
        completed.completed_by.map(|id| id.get()),
        Some(manager.manager_id)
    );
    let report = commands::verify(&server.context).await.unwrap();
    assert!(report.ok, "{:?}", report.violations);
}

pub async fn scope_hides_parents_and_siblings(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let parent = reseller(&server, "Parent", None).await;
    let child = reseller(&server, "Child", Some(parent)).await;
    let sibling = reseller(&server, "Sibling", Some(parent)).await;
    let parent_shop = merchant(&server, parent, "Parent shop", None).await;
    let child_shop = merchant(&server, child, "Child shop", None).await;
    let sibling_shop = merchant(&server, sibling, "Sibling shop", None).await;
    let parents = payment(&server, parent, parent_shop, 100, "p").await;
    let childs = payment(&server, child, child_shop, 200, "c").await;
    let siblings = payment(&server, sibling, sibling_shop, 300, "s").await;
    let (manager, _) = staff(&server, child, "manager", "Kid").await;

    let (_, html) = manager.get(&server, "/dashboard/payments").await;
    assert!(html.contains(childs.id.as_str()));
    assert!(!html.contains(parents.id.as_str()));
    assert!(!html.contains(siblings.id.as_str()));
    let (_, html) = manager.get(&server, "/dashboard/payments?q=p").await;
    assert!(!html.contains(parents.id.as_str()));
    for outside in [&parents.id, &siblings.id] {
        let (status, _) = manager
            .get(&server, &format!("/dashboard/payments/{outside}"))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _, _) = manager
            .post(
                &server,
                &format!("/dashboard/payments/{outside}/refund"),
                &[("amount", "")],
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    let (status, _) = manager
        .get(&server, "/dashboard/payments/cpi_0000000000000000")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, csv) = manager
        .get(
            &server,
            &format!(
                "/dashboard/reports/transactions.csv?from={}&to={}",
                today(&server),
                today(&server)
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(csv.contains(childs.id.as_str()));
    assert!(!csv.contains(parents.id.as_str()));
    assert!(!csv.contains(siblings.id.as_str()));
}

pub async fn transactions_csv(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let top = reseller(&server, "Top", None).await;
    let shop = merchant(&server, top, "Shop, \"Ltd\"", None).await;
    let other = merchant(&server, top, "Other", None).await;
    let first = payment(&server, top, shop, 1_234, "=HYPERLINK(\"x\")").await;
    pay(&server, &first.id).await;
    let second = payment(&server, top, shop, 500, "plain,ref").await;
    let third = payment(&server, top, other, 42, "-7").await;
    let (viewer, _) = staff(&server, top, "viewer", "Vera").await;
    let (status, page) = viewer.get(&server, "/dashboard/reports").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("/dashboard/reports/transactions.csv"));

    let path = format!(
        "/dashboard/reports/transactions.csv?from={}&to={}",
        today(&server),
        today(&server)
    );
    let response = client()
        .get(server.url(&path))
        .header("cookie", &viewer.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = response.text().await.unwrap();
    let header = csv.lines().next().unwrap();
    assert!(header.starts_with(
        "payment_id,created_at,merchant_id,reference_id,status,mode,amount,currency,fee,processed_amount,refunded_amount,method"
    ));
    let row_of = |id: &PaymentId| {
        let start = csv.find(id.as_str()).unwrap();
        csv[start..].split("\r\n").next().unwrap().to_owned()
    };
    let paid = row_of(&first.id);
    assert!(
        paid.contains(&format!(
            ",{shop},\"'=HYPERLINK(\"\"x\"\")\",processed,test,12.34,USD,"
        )),
        "{paid}"
    );
    assert!(
        paid.contains(",12.34,0.00,payment_card,") || paid.contains(",12.34,0.00,"),
        "{paid}"
    );
    assert!(paid.contains("\"Shop, \"\"Ltd\"\"\""), "{paid}");
    assert!(
        paid.contains("\"tea, \"\"cake\"\"\nand =SUM(A1)\""),
        "{paid}"
    );
    assert!(row_of(&second.id).contains(",\"plain,ref\",pending,test,5.00,USD,"));
    assert!(row_of(&third.id).contains(",'-7,pending,test,0.42,USD,"));
    // One row per payment: header + 3 rows (the description holds a line break inside quotes).
    assert_eq!(csv.matches("\r\n").count(), 4);

    let (_, only) = viewer
        .get(&server, &format!("{path}&merchant_id={other}"))
        .await;
    assert!(only.contains(third.id.as_str()) && !only.contains(first.id.as_str()));
    let (_, none) = viewer
        .get(
            &server,
            "/dashboard/reports/transactions.csv?from=2000-01-01&to=2000-01-02",
        )
        .await;
    assert_eq!(none.matches("\r\n").count(), 1);
    let (status, _) = viewer
        .get(&server, "/dashboard/reports/transactions.csv?from=x&to=y")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

pub async fn replays_a_callback(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let receiver = CallbackReceiver::start().await;
    let top = reseller(&server, "Top", None).await;
    let shop = merchant(&server, top, "Shop", Some(receiver.url())).await;
    let created = payment(&server, top, shop, 1_000, "cb-1").await;
    pay(&server, &created.id).await;
    let first = receiver.wait_for(1).await;
    let delivery = first[0].header("x-obol-delivery-id");
    let (manager, _) = staff(&server, top, "manager", "Mia").await;
    let page = format!("/dashboard/payments/{}", created.id);
    // Wait until the attempt is recorded, then the page shows it with a replay form.
    let mut html = String::new();
    for _ in 0..50 {
        html = manager.get(&server, &page).await.1;
        if html.contains(">200<") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(html.contains(">200<"), "{html}");
    let action = format!("/dashboard/callbacks/{delivery}/replay");
    assert!(html.contains(&format!("action=\"{action}\"")), "{html}");

    let (viewer, _) = staff(&server, top, "viewer", "Vera").await;
    let (status, _, _) = viewer.post(&server, &action, &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let count = receiver.count();
    let (status, location, _) = manager.post(&server, &action, &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some(page.as_str()));
    let again = receiver.wait_for(count + 1).await;
    assert_eq!(again.last().unwrap().header("x-obol-delivery-id"), delivery);
    let (_, html) = manager.get(&server, &page).await;
    assert!(html.contains("callback.replay"));
}
