//! What must not move money: forged, duplicated and concurrent notifications, refunds that
//! race or repeat, and a provider that is down.

use std::time::Duration;

use futures_util::future::join_all;
use obol_testkit::{TestDatabase, TestServer};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{Pair, ROUTE, browser, pair};

/// A paid invoice: chosen, paid at B, back at A.
async fn paid_invoice(pair: &Pair, reference: &str) -> String {
    let id = pair.invoice(reference).await;
    let confirmation = pair.choose_card(&id).await;
    let back = pair
        .pay_at_provider(&confirmation, "4242424242424242")
        .await;
    browser().get(&back).send().await.unwrap();
    assert_eq!(pair.payment(&id).await.status.as_str(), "processed");
    id
}

async fn notify(pair: &Pair, route: &str, body: &Value) -> StatusCode {
    browser()
        .post(pair.a.url(&format!("/notifications/yookassa/{route}")))
        .json(body)
        .send()
        .await
        .unwrap()
        .status()
}

/// A forged `succeeded` for a payment B still holds as pending changes nothing; unknown
/// payments and routes, and bodies that are not notifications, neither; the same real
/// notification ten times at once settles the payment once.
pub async fn forged_and_repeated_notifications_change_nothing_they_should_not(
    database: TestDatabase,
) {
    // B does not notify A: the test posts the notifications itself.
    let pair = pair(database, false).await;
    let id = pair.invoice("order-4").await;
    let confirmation = pair.choose_card(&id).await;
    let upstream_id = pair.payment(&id).await.upstream_id.clone().unwrap();

    let forged = json!({
        "type": "notification",
        "event": "payment.succeeded",
        "object": {
            "id": upstream_id,
            "status": "succeeded",
            "paid": true,
            "amount": { "value": "100.00", "currency": "RUB" },
            "metadata": { "obol_payment_id": id },
        }
    });
    assert_eq!(notify(&pair, ROUTE, &forged).await, StatusCode::OK);
    assert_eq!(
        pair.payment(&id).await.status.as_str(),
        "pending",
        "B still holds it as pending: the forged body is not believed"
    );
    let mut unknown = forged.clone();
    unknown["object"]["id"] = json!("2f4a0b1c-000f-5000-9000-1b2c3d4e5f60");
    assert_eq!(notify(&pair, ROUTE, &unknown).await, StatusCode::OK);
    assert_eq!(
        notify(&pair, "elsewhere", &forged).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        notify(&pair, ROUTE, &json!({ "hello": "world" })).await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(pair.payment(&id).await.status.as_str(), "pending");
    assert_eq!(pair.balance("clearing:main").await, None);

    // Paid at B; its real notification (the object as B shows it) arrives ten times at once.
    pair.pay_at_provider(&confirmation, "4242424242424242")
        .await;
    let object = pair.at_provider(&format!("payments/{upstream_id}")).await;
    assert_eq!(object["status"], "succeeded");
    let real = json!({ "type": "notification", "event": "payment.succeeded", "object": object });
    let answers = join_all((0..10).map(|_| notify(&pair, ROUTE, &real))).await;
    assert!(
        answers.iter().all(|status| *status == StatusCode::OK),
        "{answers:?}"
    );
    assert_eq!(pair.payment(&id).await.status.as_str(), "processed");
    pair.processed_callback().await;
    assert_eq!(
        pair.balance("clearing:main").await.as_deref(),
        Some("-100.00"),
        "settled once"
    );
    // A replayed `succeeded` with another amount, after the fact, changes nothing either.
    let mut replayed = real.clone();
    replayed["object"]["amount"]["value"] = json!("1.00");
    assert_eq!(notify(&pair, ROUTE, &replayed).await, StatusCode::OK);
    assert_eq!(
        pair.balance("clearing:main").await.as_deref(),
        Some("-100.00")
    );
    pair.verified().await;
    pair.stop().await;
}

async fn refund(pair: &Pair, id: &str, amount: &str, key: Option<&str>) -> (StatusCode, Value) {
    let mut request = browser()
        .post(pair.a.url(&format!("/api/payment-invoices/{id}/refund")))
        .basic_auth(&pair.merchant.api_login, Some(&pair.merchant.api_secret))
        .json(
            &json!({ "data": { "type": "payment-invoices", "attributes": { "amount": amount } } }),
        );
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Refunds of the provider's refunds at B, as YooKassa's list shows them: (status, value).
async fn refunds_at_provider(pair: &Pair, upstream_id: &str) -> Vec<(String, String)> {
    let list = pair
        .at_provider(&format!("refunds?payment_id={upstream_id}"))
        .await;
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|refund| {
            (
                refund["status"].as_str().unwrap().to_owned(),
                refund["amount"]["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// A refund through Paymega's API goes to B first: B shows it, A books it once; a repeat with
/// the same `Idempotency-Key` makes no second refund; refunds racing each other never together
/// exceed what was paid.
pub async fn refunds_go_to_the_provider_first_and_are_booked_once(database: TestDatabase) {
    let pair = pair(database, true).await;
    let id = paid_invoice(&pair, "order-5").await;
    let upstream_id = pair.payment(&id).await.upstream_id.clone().unwrap();

    let (status, refunded) = refund(&pair, &id, "10.00", Some("refund-1")).await;
    assert_eq!(status, StatusCode::OK, "{refunded}");
    assert_eq!(
        refunded["data"]["attributes"]["status"],
        "partially_refunded"
    );
    let (status, repeated) = refund(&pair, &id, "10.00", Some("refund-1")).await;
    assert_eq!(status, StatusCode::OK, "{repeated}");
    assert_eq!(
        refunds_at_provider(&pair, &upstream_id).await,
        [("succeeded".to_owned(), "10.00".to_owned())],
        "one refund at the provider for one key"
    );
    assert_eq!(
        pair.payment(&id).await.refunded_amount.to_decimal_string(),
        "10.00"
    );

    // Five refunds of 30.00 race for the 90.00 left: three at most get through.
    let raced =
        futures_util::future::join_all((0..5).map(|_| refund(&pair, &id, "30.00", None))).await;
    let accepted = raced
        .iter()
        .filter(|(status, _)| *status == StatusCode::OK)
        .count();
    assert_eq!(accepted, 3, "{raced:?}");
    assert!(
        raced
            .iter()
            .all(|(status, _)| *status == StatusCode::OK
                || *status == StatusCode::UNPROCESSABLE_ENTITY),
        "{raced:?}"
    );
    let at_provider = refunds_at_provider(&pair, &upstream_id).await;
    assert_eq!(at_provider.len(), 4, "{at_provider:?}");
    let payment = pair.payment(&id).await;
    assert_eq!(payment.status.as_str(), "refunded");
    assert_eq!(payment.refunded_amount.to_decimal_string(), "100.00");
    assert_eq!(
        pair.balance("clearing:main").await.as_deref(),
        Some("0.00"),
        "all of it went back"
    );
    // B's `refund.succeeded` notifications arrive too, and book nothing more.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        pair.payment(&id).await.refunded_amount.to_decimal_string(),
        "100.00"
    );
    let (status, _) = refund(&pair, &id, "1.00", None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    pair.verified().await;
    pair.stop().await;
}

/// B is down when the merchant refunds: nothing is booked, a second refund cannot take the
/// same money, and once B is back the reconciliation worker sends the refund again with the
/// same key: B makes one refund and A books it once.
pub async fn a_refund_while_the_provider_is_down_is_retried_and_booked_once(
    database: TestDatabase,
) {
    let pair = pair(database, true).await;
    let id = paid_invoice(&pair, "order-6").await;
    let upstream_id = pair.payment(&id).await.upstream_id.clone().unwrap();
    let Pair {
        a,
        b,
        merchant,
        shop,
        callbacks,
        b_key,
        b_address,
    } = pair;
    let b_database = b.stop().await;

    let pair_a = Pair {
        a,
        b: TestServer::start(TestDatabase::sqlite()).await,
        merchant,
        shop,
        callbacks,
        b_key: b_key.clone(),
        b_address: b_address.clone(),
    };
    let (status, answer) = refund(&pair_a, &id, "40.00", None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        answer["data"]["attributes"]["status"], "processed",
        "nothing is booked while the provider cannot be asked"
    );
    let (status, _) = refund(&pair_a, &id, "70.00", None).await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "the 40.00 on its way cannot be refunded again"
    );
    assert_eq!(
        pair_a
            .payment(&id)
            .await
            .refunded_amount
            .to_decimal_string(),
        "0.00"
    );

    // B is back, at the same address with the same data.
    let Pair {
        a,
        b: stand_in,
        merchant,
        shop,
        callbacks,
        ..
    } = pair_a;
    stand_in.stop().await;
    let b = TestServer::start_with(
        b_database,
        &[("OBOL_LISTEN", &b_address), ("OBOL_SECRET_KEY", &b_key)],
    )
    .await;
    let pair = Pair {
        a,
        b,
        merchant,
        shop,
        callbacks,
        b_key,
        b_address,
    };
    pair.a.clock.advance_seconds(31);
    for _ in 0..500 {
        if pair.payment(&id).await.refunded_amount.to_decimal_string() == "40.00" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        pair.payment(&id).await.status.as_str(),
        "partially_refunded"
    );
    // Later tries find it done.
    pair.a.clock.advance_seconds(3_600);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(
        refunds_at_provider(&pair, &upstream_id).await,
        [("succeeded".to_owned(), "40.00".to_owned())]
    );
    assert_eq!(
        pair.payment(&id).await.refunded_amount.to_decimal_string(),
        "40.00",
        "booked once"
    );
    pair.verified().await;
    pair.stop().await;
}
