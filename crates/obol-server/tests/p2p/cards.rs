//! Card confirmation: 3-D Secure, LOOKUP codes, declines at send and receive, the hosted card form.

use obol_store::testing::inspect;
use obol_testkit::{TestDatabase, TestServer, hidden_value, on_both_backends};
use reqwest::Client;
use reqwest::redirect::Policy;
use serde_json::json;

use crate::{
    DECLINED, LOOKUP, THREE_DS, VISA, assert_verified, operations, pairs, transfer, wallet,
};

async fn three_ds_approve_and_reject(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let wallet = wallet(&server, false, "0").await;
    let from = wallet.add_card(&server, THREE_DS).await;
    let to = wallet.add_card(&server, VISA).await;
    let browser = Client::builder().redirect(Policy::none()).build().unwrap();
    for (decision, outcome) in [("approve", "FINISHED"), ("reject", "REJECTED")] {
        let created = wallet
            .create(&server, transfer(&from, Some(&to), 500, "DIRECT"))
            .await;
        let created = &created["data"];
        assert_eq!(created["status"], "NEEDS_CONFIRMATION");
        assert_eq!(created["confirmation"]["type"], "3DS");
        assert_eq!(operations(created), pairs(&[("SEND", "PROCESSING")]));
        let url = created["confirmation"]["url"].as_str().unwrap();
        assert!(url.starts_with(&server.base), "{url}");
        let page = browser.get(url).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        assert!(html.contains("<form method=\"post\">"));
        assert!(html.contains("name=\"decision\" value=\"approve\""));
        let csrf = hidden_value(&html, "csrf_token");
        let forged = browser
            .post(url)
            .form(&[("csrf_token", "forged"), ("decision", decision)])
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status(), 403);
        let answered = browser
            .post(url)
            .form(&[("csrf_token", csrf.as_str()), ("decision", decision)])
            .send()
            .await
            .unwrap();
        assert_eq!(answered.status(), 303);
        let id = created["id"].as_str().unwrap();
        let shown = wallet.show(&server, id).await;
        assert_eq!(shown["status"], outcome);
        if outcome == "REJECTED" {
            assert_eq!(operations(&shown), pairs(&[("SEND", "REJECTED")]));
        }
        let result = browser.get(url).send().await.unwrap().text().await.unwrap();
        assert!(result.contains(&format!("data-status=\"{outcome}\"")));
    }
    assert_verified(&server).await;
    server.stop().await;
}

async fn lookup_codes(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let wallet = wallet(&server, false, "0").await;
    let from = wallet.add_card(&server, LOOKUP).await;
    let to = wallet.add_card(&server, VISA).await;
    let created = wallet
        .create(&server, transfer(&from, Some(&to), 700, "DIRECT"))
        .await;
    assert_eq!(created["data"]["status"], "NEEDS_CONFIRMATION");
    assert_eq!(created["data"]["confirmation"]["type"], "LOOKUP");
    let id = created["data"]["id"].as_str().unwrap();
    let wrong = wallet.confirm(&server, id, "000000").await;
    assert_eq!(wrong["status"], 0);
    assert_eq!(wrong["error"]["code"], "INVALID_CONFIRMATION_CODE");
    let right = wallet.confirm(&server, id, "123456").await;
    assert_eq!(right["status"], 1, "{right}");
    assert_eq!(right["data"]["status"], "FINISHED");

    let created = wallet
        .create(&server, transfer(&from, Some(&to), 700, "DIRECT"))
        .await;
    let id = created["data"]["id"].as_str().unwrap();
    for attempt in 1..=3 {
        let wrong = wallet.confirm(&server, id, "111111").await;
        let expected = if attempt < 3 {
            "INVALID_CONFIRMATION_CODE"
        } else {
            "CONFIRMATION_ATTEMPTS_EXCEEDED"
        };
        assert_eq!(wrong["error"]["code"], expected, "attempt {attempt}");
    }
    assert_eq!(wallet.show(&server, id).await["status"], "REJECTED");
    let late = wallet.confirm(&server, id, "123456").await;
    assert_eq!(late["error"]["code"], "INVALID_PAYMENT_STATUS");

    // The same code on the hosted page: a wrong one shows the form again, the right one sends.
    let created = wallet
        .create(&server, transfer(&from, Some(&to), 700, "DIRECT"))
        .await;
    let url = created["data"]["confirmation"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    let browser = Client::builder().redirect(Policy::none()).build().unwrap();
    let html = browser
        .get(&url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("name=\"code\""));
    let csrf = hidden_value(&html, "csrf_token");
    let wrong = browser
        .post(&url)
        .form(&[("csrf_token", csrf.as_str()), ("code", "000000")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 200);
    assert!(wrong.text().await.unwrap().contains("role=\"alert\""));
    let right = browser
        .post(&url)
        .form(&[("csrf_token", csrf.as_str()), ("code", "123456")])
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 303);
    assert_eq!(wallet.show(&server, &id).await["status"], "FINISHED");

    // The right code after the 15-minute window: refused, and the transfer is rejected.
    let created = wallet
        .create(&server, transfer(&from, Some(&to), 700, "DIRECT"))
        .await;
    let id = created["data"]["id"].as_str().unwrap();
    server.clock.advance_seconds(15 * 60);
    let overdue = wallet.confirm(&server, id, "123456").await;
    assert_eq!(overdue["error"]["code"], "INVALID_PAYMENT_STATUS");
    let shown = wallet.show(&server, id).await;
    assert_eq!(shown["status"], "REJECTED");
    assert_eq!(operations(&shown), pairs(&[("SEND", "REJECTED")]));
    assert_verified(&server).await;
    server.stop().await;
}

async fn declines_at_send_and_receive(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let wallet = wallet(&server, false, "2").await;
    let good = wallet.add_card(&server, VISA).await;
    let bad = wallet.add_card(&server, DECLINED).await;

    let rejected = wallet
        .create(&server, transfer(&bad, Some(&good), 1_000, "DIRECT"))
        .await;
    assert_eq!(rejected["status"], 1);
    assert_eq!(rejected["data"]["status"], "REJECTED");
    assert_eq!(
        operations(&rejected["data"]),
        pairs(&[("SEND", "REJECTED")])
    );

    let returned = wallet
        .create(&server, transfer(&good, Some(&bad), 1_000, "DIRECT"))
        .await;
    let returned = &returned["data"];
    assert_eq!(returned["status"], "RETURNED");
    assert_eq!(returned["returnAmount"], 1_000);
    assert_eq!(returned["returnCommissionAmount"], 20);
    assert_eq!(returned["pendingAmount"], 0);
    assert_eq!(
        operations(returned),
        pairs(&[
            ("SEND", "FINISHED"),
            ("RECEIVE", "REJECTED"),
            ("RETURN", "FINISHED")
        ])
    );

    let bucket = wallet
        .create(&server, transfer(&good, None, 1_000, "BUCKET"))
        .await;
    let id = bucket["data"]["id"].as_str().unwrap();
    let refused = wallet.receive(&server, id, &bad, 500).await;
    assert_eq!(refused["status"], 1, "{refused}");
    assert_eq!(refused["data"]["status"], "PROCESSING");
    assert_eq!(refused["data"]["pendingAmount"], 1_000);
    assert_eq!(
        operations(&refused["data"]),
        pairs(&[("SEND", "FINISHED"), ("RECEIVE", "REJECTED")])
    );
    assert_verified(&server).await;
    server.stop().await;
}

async fn hosted_card_form(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let wallet = wallet(&server, false, "0").await;
    let browser = Client::builder().redirect(Policy::none()).build().unwrap();
    let url = wallet.card_form_link(&server).await;
    let page = browser.get(&url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    for name in ["card_number", "card_expiry", "card_holder", "csrf_token"] {
        assert!(html.contains(&format!("name=\"{name}\"")), "{name}");
    }
    let csrf = hidden_value(&html, "csrf_token");
    let invalid = browser
        .post(&url)
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("card_number", "4111111111111112"),
            ("card_expiry", "12/30"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(invalid.status(), 422);
    assert!(!invalid.text().await.unwrap().contains("4111111111111112"));
    let saved = browser
        .post(&url)
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("card_number", "4111 1111 1111 1111"),
            ("card_expiry", "12/30"),
            ("card_holder", "LESYA UKRAINKA"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), 303);
    let location = saved.headers()["location"].to_str().unwrap().to_owned();
    let added = browser
        .get(server.url(&location))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(added.contains("4111111111"));
    let listed = wallet
        .call(&server, "/api/p2p/cards/list", json!({}), json!({}))
        .await;
    let card = &listed["data"][0];
    assert!(added.contains(card["cardId"].as_str().unwrap()));
    assert_eq!(card["panMasked"], "4111111111");
    assert_eq!(card["holder"], "LESYA UKRAINKA");
    // Only the vault token and the mask are stored.
    let tokens: Vec<String> = server
        .context
        .store
        .read(|db| Box::pin(inspect::stored_card_fields(db)))
        .await
        .unwrap();
    assert!(
        tokens
            .iter()
            .all(|stored| !stored.contains("4111111111111111"))
    );
    server.stop().await;
}

on_both_backends!(
    three_ds_approve_and_reject,
    lookup_codes,
    declines_at_send_and_receive,
    hosted_card_form,
);
