//! The sandbox's lists, as YooKassa v3 serves them: `GET /payments` and `GET /refunds`, newest
//! first, only the shop's own, pages by `cursor` / `next_cursor`, filters, and YooKassa's 400
//! for a bad parameter.

use obol_testkit::{TestDatabase, TestServer, on_both_backends};
use reqwest::Method;
use serde_json::{Value, json};

use crate::sandbox::{Shop, new_payment, pay};

async fn get(shop: &Shop, server: &TestServer, path: &str) -> (u16, Value) {
    shop.send(server, Method::GET, path, None, None).await
}

fn ids(list: &Value) -> Vec<String> {
    assert_eq!(list["type"], "list", "{list}");
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect()
}

fn shop_of(merchant: &obol_server::commands::MerchantOutput) -> Shop {
    Shop {
        login: merchant.api_login.clone(),
        secret: merchant.api_secret.clone(),
    }
}

/// Every list's items are exactly what the single reads answer.
async fn assert_items_as_read(shop: &Shop, server: &TestServer, list: &Value, kind: &str) {
    for item in list["items"].as_array().unwrap() {
        let (_, single) = get(
            shop,
            server,
            &format!("/{kind}/{}", item["id"].as_str().unwrap()),
        )
        .await;
        assert_eq!(item, &single);
    }
}

async fn payment_lists(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let shop = shop_of(&server.merchant(false, false).await);
    let other = shop_of(&server.merchant(false, false).await);

    // Twelve payments a minute apart, oldest first; the other shop makes one.
    let mut made = Vec::new();
    for index in 0..12 {
        let capture = index != 1;
        let (status, created) = shop
            .send(
                &server,
                Method::POST,
                "/payments",
                None,
                Some(new_payment(&format!("{}.00", index + 1), capture)),
            )
            .await;
        assert_eq!(status, 200, "{created}");
        made.push(created);
        server.clock.advance_seconds(60);
    }
    let (_, foreign) = other
        .send(
            &server,
            Method::POST,
            "/payments",
            None,
            Some(new_payment("1.00", true)),
        )
        .await;
    let token = |payment: &Value| {
        payment["confirmation"]["confirmation_token"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    // The first succeeds, the second is held, the third is declined.
    pay(&server, &token(&made[0]), "4242424242424242").await;
    pay(&server, &token(&made[1]), "4242424242424242").await;
    pay(&server, &token(&made[2]), "4000000000000002").await;
    let newest_first: Vec<String> = made
        .iter()
        .rev()
        .map(|payment| payment["id"].as_str().unwrap().to_owned())
        .collect();

    // Ten by default, newest first, then the rest; the last page has no cursor.
    let (status, first) = get(&shop, &server, "/payments").await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(ids(&first), newest_first[..10]);
    assert_items_as_read(&shop, &server, &first, "payments").await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, second) = get(&shop, &server, &format!("/payments?cursor={cursor}")).await;
    assert_eq!(ids(&second), newest_first[10..]);
    assert!(second.get("next_cursor").is_none(), "{second}");

    // Pages of five cover every payment once.
    let mut seen = Vec::new();
    let mut path = "/payments?limit=5".to_owned();
    loop {
        let (_, page) = get(&shop, &server, &path).await;
        assert!(ids(&page).len() <= 5);
        seen.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/payments?limit=5&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, newest_first);
    let (_, all) = get(&shop, &server, "/payments?limit=100").await;
    assert_eq!(ids(&all), newest_first);
    assert!(all.get("next_cursor").is_none());

    // Statuses in YooKassa's words.
    let (_, succeeded) = get(&shop, &server, "/payments?status=succeeded").await;
    assert_eq!(ids(&succeeded), vec![newest_first[11].clone()]);
    assert_eq!(succeeded["items"][0]["status"], "succeeded");
    let (_, held) = get(&shop, &server, "/payments?status=waiting_for_capture").await;
    assert_eq!(ids(&held), vec![newest_first[10].clone()]);
    let (_, canceled) = get(&shop, &server, "/payments?status=canceled").await;
    assert_eq!(ids(&canceled), vec![newest_first[9].clone()]);
    let (_, pending) = get(&shop, &server, "/payments?status=pending&limit=100").await;
    assert_eq!(ids(&pending), newest_first[..9]);
    assert!(
        pending["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|item| item["status"] == "pending")
    );

    // Creation time: the fourth payment was made three minutes after the first.
    let fourth = made[3]["created_at"].as_str().unwrap().to_owned();
    let start = made[0]["created_at"].as_str().unwrap().to_owned();
    let (_, from) = get(
        &shop,
        &server,
        &format!("/payments?limit=100&created_at.gte={fourth}"),
    )
    .await;
    assert_eq!(ids(&from), newest_first[..9]);
    let (_, after) = get(
        &shop,
        &server,
        &format!("/payments?limit=100&created_at.gt={fourth}"),
    )
    .await;
    assert_eq!(ids(&after), newest_first[..8]);
    let (_, until) = get(
        &shop,
        &server,
        &format!("/payments?created_at.lte={fourth}&created_at.gte={start}"),
    )
    .await;
    assert_eq!(ids(&until), newest_first[8..]);
    let (_, before) = get(&shop, &server, &format!("/payments?created_at.lt={fourth}")).await;
    assert_eq!(ids(&before), newest_first[9..]);
    // With an offset, the same instant.
    let (_, offset) = get(
        &shop,
        &server,
        &format!(
            "/payments?created_at.lt={}",
            fourth.replace('Z', "%2B00:00")
        ),
    )
    .await;
    assert_eq!(ids(&offset), newest_first[9..]);

    // Only the shop's own: the other shop sees its one payment.
    let (_, theirs) = get(&other, &server, "/payments").await;
    assert_eq!(
        ids(&theirs),
        vec![foreign["id"].as_str().unwrap().to_owned()]
    );
    // A cursor belongs to its shop's list: another shop's is refused.
    let (status, error) = get(&other, &server, &format!("/payments?cursor={cursor}")).await;
    assert_eq!((status, error["parameter"].clone()), (400, json!("cursor")));
    let (_, mine) = get(&shop, &server, "/payments?limit=100").await;
    assert!(!ids(&mine).contains(&foreign["id"].as_str().unwrap().to_owned()));

    // Bad parameters: YooKassa's 400 naming the parameter.
    for (query, parameter) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("cursor=not-a-cursor", "cursor"),
        ("status=paid", "status"),
        ("created_at.gte=yesterday", "created_at.gte"),
        ("created_at.gt=2025-13-01T00:00:00Z", "created_at.gt"),
        ("created_at.lte=1700000000", "created_at.lte"),
        ("created_at.lt=", "created_at.lt"),
    ] {
        let (status, error) = get(&shop, &server, &format!("/payments?{query}")).await;
        assert_eq!(status, 400, "{query}: {error}");
        assert_eq!(error["type"], "error");
        assert_eq!(error["code"], "invalid_request", "{query}");
        assert_eq!(error["parameter"], parameter, "{query}");
    }
    // A refunds cursor does not page payments.
    let refund_cursor = {
        use base64::Engine;
        let payments = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(cursor)
            .unwrap();
        let text = String::from_utf8(payments)
            .unwrap()
            .replacen("payments", "refunds", 1);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
    };
    let (status, _) = get(&shop, &server, &format!("/payments?cursor={refund_cursor}")).await;
    assert_eq!(status, 400);
    let stranger = Shop {
        login: shop.login.clone(),
        secret: "wrong".into(),
    };
    let (status, refused) = get(&stranger, &server, "/payments").await;
    assert_eq!(
        (status, refused["code"].clone()),
        (401, json!("invalid_credentials"))
    );
    server.stop().await;
}

/// A refund of `value` a minute after the last thing that happened.
async fn refund(server: &TestServer, owner: &Shop, payment: &str, value: &str) -> Value {
    server.clock.advance_seconds(60);
    let body = json!({ "payment_id": payment, "amount": { "value": value, "currency": "RUB" } });
    let (status, refund) = owner
        .send(server, Method::POST, "/refunds", None, Some(body))
        .await;
    assert_eq!(status, 200, "{refund}");
    refund
}

async fn refund_lists(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let shop = shop_of(&server.merchant(false, false).await);
    let other = shop_of(&server.merchant(false, false).await);
    let mut paid = Vec::new();
    for owner in [&shop, &shop, &other] {
        let (_, created) = owner
            .send(
                &server,
                Method::POST,
                "/payments",
                None,
                Some(new_payment("100.00", true)),
            )
            .await;
        pay(
            &server,
            created["confirmation"]["confirmation_token"]
                .as_str()
                .unwrap(),
            "4242424242424242",
        )
        .await;
        paid.push(created["id"].as_str().unwrap().to_owned());
    }
    let first = refund(&server, &shop, &paid[0], "10.00").await;
    let second = refund(&server, &shop, &paid[1], "20.00").await;
    let third = refund(&server, &shop, &paid[0], "30.00").await;
    let foreign = refund(&server, &other, &paid[2], "5.00").await;
    let id = |refund: &Value| refund["id"].as_str().unwrap().to_owned();

    let (status, all) = get(&shop, &server, "/refunds").await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(ids(&all), vec![id(&third), id(&second), id(&first)]);
    assert!(all.get("next_cursor").is_none());
    assert_eq!(all["items"][0], third);
    assert_items_as_read(&shop, &server, &all, "refunds").await;

    let (_, page) = get(&shop, &server, "/refunds?limit=2").await;
    assert_eq!(ids(&page), vec![id(&third), id(&second)]);
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, rest) = get(&shop, &server, &format!("/refunds?limit=2&cursor={cursor}")).await;
    assert_eq!(ids(&rest), vec![id(&first)]);
    assert!(rest.get("next_cursor").is_none());

    let (_, of_payment) = get(&shop, &server, &format!("/refunds?payment_id={}", paid[0])).await;
    assert_eq!(ids(&of_payment), vec![id(&third), id(&first)]);
    // Another shop's payment lists nothing of it.
    let (_, of_foreign) = get(&shop, &server, &format!("/refunds?payment_id={}", paid[2])).await;
    assert_eq!(ids(&of_foreign), Vec::<String>::new());
    let (_, theirs) = get(&other, &server, "/refunds").await;
    assert_eq!(ids(&theirs), vec![id(&foreign)]);

    let at = second["created_at"].as_str().unwrap();
    let (_, since) = get(&shop, &server, &format!("/refunds?created_at.gte={at}")).await;
    assert_eq!(ids(&since), vec![id(&third), id(&second)]);
    let (_, until) = get(&shop, &server, &format!("/refunds?created_at.lt={at}")).await;
    assert_eq!(ids(&until), vec![id(&first)]);
    let (_, succeeded) = get(&shop, &server, "/refunds?status=succeeded").await;
    assert_eq!(ids(&succeeded).len(), 3);
    let (_, canceled) = get(&shop, &server, "/refunds?status=canceled").await;
    assert_eq!(ids(&canceled), Vec::<String>::new());

    for (query, parameter) in [
        ("limit=0", "limit"),
        ("limit=1000", "limit"),
        ("cursor=bm9wZQ", "cursor"),
        ("status=waiting_for_capture", "status"),
        ("payment_id=nope", "payment_id"),
        ("created_at.gte=today", "created_at.gte"),
    ] {
        let (status, error) = get(&shop, &server, &format!("/refunds?{query}")).await;
        assert_eq!(status, 400, "{query}: {error}");
        assert_eq!(error["code"], "invalid_request");
        assert_eq!(error["parameter"], parameter, "{query}");
    }
    server.stop().await;
}

/// Card types are YooKassa's own names only (strict clients refuse others): Maestro shows as
/// MasterCard, and every brand the sandbox knows has its YooKassa name.
async fn card_types_are_yookassas(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let shop = shop_of(&server.merchant(false, false).await);
    let cards = [
        ("4242424242424242", "Visa"),
        ("5555555555554444", "MasterCard"),
        ("6759649826438453", "MasterCard"),
        ("2200000000000004", "Mir"),
        ("378282246310005", "AmericanExpress"),
        ("3530111333300000", "JCB"),
        ("6200000000000005", "UnionPay"),
        ("6011111111111117", "DiscoverCard"),
    ];
    for (card, _) in cards {
        let (_, created) = shop
            .send(
                &server,
                Method::POST,
                "/payments",
                None,
                Some(new_payment("1.00", true)),
            )
            .await;
        pay(
            &server,
            created["confirmation"]["confirmation_token"]
                .as_str()
                .unwrap(),
            card,
        )
        .await;
    }
    let (_, all) = get(&shop, &server, "/payments?limit=100").await;
    let mut seen: Vec<(String, String)> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            let card = &item["payment_method"]["card"];
            (
                card["first6"].as_str().unwrap().to_owned(),
                card["card_type"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    seen.reverse();
    let expected: Vec<(String, String)> = cards
        .iter()
        .map(|(card, kind)| (card[..6].to_owned(), (*kind).to_owned()))
        .collect();
    assert_eq!(seen, expected);
    server.stop().await;
}

on_both_backends!(payment_lists, refund_lists, card_types_are_yookassas);
