//! YooKassa's official Python library against the sandbox's lists and notifications: it lists
//! payments and refunds (`Payment.list`, `Refund.list`), and its `WebhookNotificationFactory`
//! parses every notification the shop's webhook received. Ignored when the tests were built
//! without the library (`OBOL_YOOKASSA_PYTHON`; scripts/test sets it).

use obol_testkit::{CallbackReceiver, TestDatabase, TestServer};
use serde_json::Value;

use crate::notifications::shop_with_webhook;

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/python/yookassa_lists_notifications.py"
);

/// Runs the script with `args`; it must succeed and print one JSON line.
async fn run(args: Vec<String>) -> Value {
    // Built to run (the variable was set): without it the test fails.
    let python = std::env::var_os("OBOL_YOOKASSA_PYTHON")
        .expect("OBOL_YOOKASSA_PYTHON must name a python with the yookassa library");
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .arg(SCRIPT)
            .args(args)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

async fn lists_and_notifications(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let receiver = CallbackReceiver::start().await;
    let (merchant, _) = shop_with_webhook(&server, receiver.url()).await;
    let seen = run(vec![
        "flow".into(),
        server.base.clone(),
        merchant.api_login.clone(),
        merchant.api_secret.clone(),
    ])
    .await;
    let held = seen["held_id"].clone();
    let single = seen["single_id"].clone();
    // Newest first, one per page, the last page without a cursor.
    assert_eq!(seen["first_type"], "list");
    assert_eq!(seen["first_ids"], Value::Array(vec![single.clone()]));
    assert_eq!(seen["first_has_cursor"], true);
    assert_eq!(seen["second_ids"], Value::Array(vec![held.clone()]));
    assert_eq!(seen["second_cursor"], Value::Null);
    assert_eq!(
        seen["succeeded_ids"],
        Value::Array(vec![single.clone(), held.clone()])
    );
    assert_eq!(seen["pending_count"], 0);
    assert_eq!(
        seen["refund_payments"],
        Value::Array(vec![single.clone(), held.clone()])
    );
    assert_eq!(
        seen["refund_amounts"],
        serde_json::json!(["10.00", "30.00"])
    );
    assert_eq!(seen["held_refunds"], serde_json::json!(["30.00"]));

    // The held payment: held, captured, refunded; the other: paid, refunded.
    let received = receiver.wait_for(5).await;
    let bodies: Vec<String> = received
        .iter()
        .map(|delivery| String::from_utf8(delivery.body.clone()).unwrap())
        .collect();
    // Named by the server's port, so that tests running side by side never share it.
    let port = server
        .base
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_owned();
    let file = std::env::temp_dir().join(format!("obol-yookassa-notifications-{port}.json"));
    std::fs::write(&file, serde_json::to_vec(&bodies).unwrap()).unwrap();
    let parsed = run(vec!["parse".into(), file.display().to_string()]).await;
    std::fs::remove_file(&file).unwrap();
    let parsed = parsed["notifications"].as_array().unwrap().clone();
    let summary: Vec<(String, String, Value, String)> = parsed
        .iter()
        .map(|entry| {
            let subject = if entry["class"] == "RefundResponse" {
                entry["payment_id"].clone()
            } else {
                entry["id"].clone()
            };
            (
                entry["event"].as_str().unwrap().to_owned(),
                entry["class"].as_str().unwrap().to_owned(),
                subject,
                entry["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    // In order per payment (payments are delivered independently of each other).
    let of = |subject: &Value| -> Vec<(String, String, String)> {
        summary
            .iter()
            .filter(|entry| &entry.2 == subject)
            .map(|(event, class, _, status)| (event.clone(), class.clone(), status.clone()))
            .collect()
    };
    let expected = |entries: &[(&str, &str, &str)]| -> Vec<(String, String, String)> {
        entries
            .iter()
            .map(|(event, class, status)| {
                (
                    (*event).to_owned(),
                    (*class).to_owned(),
                    (*status).to_owned(),
                )
            })
            .collect()
    };
    assert_eq!(
        of(&held),
        expected(&[
            (
                "payment.waiting_for_capture",
                "PaymentResponse",
                "waiting_for_capture"
            ),
            ("payment.succeeded", "PaymentResponse", "succeeded"),
            ("refund.succeeded", "RefundResponse", "succeeded"),
        ])
    );
    assert_eq!(
        of(&single),
        expected(&[
            ("payment.succeeded", "PaymentResponse", "succeeded"),
            ("refund.succeeded", "RefundResponse", "succeeded"),
        ])
    );
    let refund_amount = |subject: &Value| {
        parsed
            .iter()
            .find(|entry| entry["class"] == "RefundResponse" && &entry["payment_id"] == subject)
            .map(|entry| entry["amount"].clone())
    };
    assert_eq!(refund_amount(&held), Some(Value::from("30.00")));
    assert_eq!(refund_amount(&single), Some(Value::from("10.00")));
    assert!(parsed.iter().all(|entry| entry["type"] == "notification"));
    server.stop().await;
}

/// On both backends, each ignored when the tests were built without the library.
mod lists_and_notifications_on {
    use obol_testkit::TestDatabase;

    obol_testkit::requires! { [yookassa_python]
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn sqlite() {
            super::lists_and_notifications(TestDatabase::sqlite()).await;
        }
    }

    obol_testkit::requires! { [yookassa_python, postgres]
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn postgres() {
            super::lists_and_notifications(TestDatabase::postgres().await).await;
        }
    }
}
