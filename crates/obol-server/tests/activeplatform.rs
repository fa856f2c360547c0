//! The ActivePlatform dialect over real HTTP, on SQLite and PostgreSQL: negotiation, scope,
//! roles, creation, completion by id (with the seed's answers) and by document number (with
//! corrections), reads, lists, expiry, and the audit trail.

use obol_server::commands;
use obol_store::testing::inspect;
use obol_testkit::{TestDatabase, TestServer, on_both_backends};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

const MEDIA: &str = "application/vnd.api+json";

struct Tenancy {
    parent: i64,
    child: i64,
    sibling: i64,
    account: i64,
    admin: String,
    manager: String,
    viewer: String,
    child_manager: String,
}

async fn tenancy(server: &TestServer) -> Tenancy {
    let context = &server.context;
    let parent = commands::create_reseller(context, "Parent", None)
        .await
        .unwrap()
        .id;
    let child = commands::create_reseller(context, "Child", Some(parent))
        .await
        .unwrap()
        .id;
    let sibling = commands::create_reseller(context, "Sibling", None)
        .await
        .unwrap()
        .id;
    let account = commands::create_customer_account(context, parent, "Payer")
        .await
        .unwrap()
        .id;
    let token = |reseller: i64, role: &'static str| async move {
        commands::create_manager(context, reseller, role, "M")
            .await
            .unwrap()
            .api_token
    };
    Tenancy {
        parent,
        child,
        sibling,
        account,
        admin: token(parent, "admin").await,
        manager: token(parent, "manager").await,
        viewer: token(parent, "viewer").await,
        child_manager: token(child, "manager").await,
    }
}

async fn call(
    server: &TestServer,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = Client::new()
        .request(method, server.url(path))
        .header("X-Api-Token", token)
        .header("Accept", MEDIA);
    if let Some(body) = body {
        request = request.header("Content-Type", MEDIA).body(body.to_string());
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn new_payment(account: i64, total: &str) -> Value {
    json!({ "data": { "attributes": { "account_id": account, "total": total, "currency_code": "USD", "comment": "cash", "purpose": "Hosting" } } })
}

fn completion(method: i64) -> Value {
    json!({ "data": { "attributes": { "payment_method_id": method } } })
}

async fn create(server: &TestServer, tenancy: &Tenancy, total: &str) -> String {
    let (status, body) = call(
        server,
        Method::POST,
        &format!("/api/v3/resellers/{}/payments", tenancy.parent),
        &tenancy.manager,
        Some(new_payment(tenancy.account, total)),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["data"]["id"].as_str().unwrap().to_owned()
}

async fn negotiation_scope_and_roles(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let t = tenancy(&server).await;
    let no_accept = Client::new()
        .get(server.url("/api/v3/managers/me"))
        .header("X-Api-Token", &t.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(no_accept.status(), StatusCode::NOT_ACCEPTABLE);
    assert_eq!(
        no_accept.json::<Value>().await.unwrap(),
        json!({ "errors": { "title": "Not Acceptable", "status": "406" } })
    );
    let wrong_type = Client::new()
        .post(server.url(&format!("/api/v3/resellers/{}/payments", t.parent)))
        .header("X-Api-Token", &t.admin)
        .header("Accept", MEDIA)
        .header("Content-Type", "application/json")
        .body(new_payment(t.account, "1").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_type.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (status, body) = call(&server, Method::GET, "/api/v3/managers/me", "wrong", None).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::UNAUTHORIZED,
            json!({ "errors": { "title": "Unauthorized", "status": "401" } })
        )
    );
    let (status, me) = call(&server, Method::GET, "/api/v3/managers/me", &t.viewer, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["data"]["type"], "managers");
    assert_eq!(me["data"]["attributes"]["role"], "viewer");
    assert_eq!(me["data"]["attributes"]["reseller_id"], t.parent);

    let id = create(&server, &t, "10").await;
    // The child's manager sees neither its parent nor a sibling: 404, for reads and writes.
    for path in [
        format!("/api/v3/resellers/{}", t.parent),
        format!("/api/v3/resellers/{}", t.sibling),
        "/api/v3/resellers/999999".to_owned(),
        format!("/api/v3/resellers/{}/payments/{id}", t.parent),
    ] {
        let (status, body) = call(&server, Method::GET, &path, &t.child_manager, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert_eq!(
            body,
            json!({ "errors": { "title": "Not found", "status": "404" } })
        );
    }
    let (status, _) = call(
        &server,
        Method::PATCH,
        &format!("/api/v3/resellers/{}/payments/{id}", t.parent),
        &t.child_manager,
        Some(completion(2)),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "never a change outside the scope"
    );
    // The parent's manager sees its child.
    let (status, child) = call(
        &server,
        Method::GET,
        &format!("/api/v3/resellers/{}", t.child),
        &t.manager,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(child["data"]["attributes"]["parent_id"], t.parent);
    assert_eq!(child["data"]["attributes"]["general"]["name"], "Child");
    // A payment under the child is not the parent's: 404 on the parent's path.
    let (status, _) = call(
        &server,
        Method::GET,
        &format!("/api/v3/resellers/{}/payments/{id}", t.child),
        &t.manager,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Viewers read, and only read.
    let (status, _) = call(
        &server,
        Method::GET,
        &format!("/api/v3/resellers/{}/payments/{id}", t.parent),
        &t.viewer,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = call(
        &server,
        Method::PATCH,
        &format!("/api/v3/resellers/{}/payments/{id}", t.parent),
        &t.viewer,
        Some(completion(2)),
    )
    .await;
    assert_eq!(
        (status, body),
        (
            StatusCode::FORBIDDEN,
            json!({ "errors": { "title": "Forbidden", "status": "403" } })
        )
    );
    let (status, _) = call(
        &server,
        Method::POST,
        &format!("/api/v3/resellers/{}/payments", t.parent),
        &t.viewer,
        Some(new_payment(t.account, "1")),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, methods) = call(
        &server,
        Method::GET,
        &format!("/api/v3/resellers/{}/payment_methods", t.parent),
        &t.viewer,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        methods["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|method| method["id"] == "2" && method["attributes"]["name"] == "Cash")
    );
    server.stop().await;
}

async fn completion_by_id_answers_as_the_seed(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let t = tenancy(&server).await;
    let id = create(&server, &t, "99.0").await;
    let path = format!("/api/v3/resellers/{}/payments/{id}", t.parent);
    let (status, read) = call(&server, Method::GET, &path, &t.manager, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read["data"]["attributes"]["status"], "waiting_for_payment");
    let (status, body) = call(
        &server,
        Method::PATCH,
        &path,
        &t.manager,
        Some(completion(2)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let data = &body["data"];
    assert_eq!(data["id"], id.as_str());
    assert_eq!(data["type"], "payments");
    let attributes = &data["attributes"];
    for key in [
        "created_at",
        "updated_at",
        "account_id",
        "discount_amount",
        "total",
        "currency_code",
        "comment",
        "status",
        "document_id",
        "expiration_date",
        "payment_method_id",
        "requester_ip",
        "manager_id",
        "purpose",
        "external_total",
        "external_currency",
        "due_date",
        "payment_method_name",
        "closed_at",
    ] {
        assert!(attributes.get(key).is_some(), "attribute {key}");
    }
    assert_eq!(attributes["status"], "completed");
    assert_eq!(attributes["total"], "99.0");
    assert_eq!(attributes["discount_amount"], "0.0");
    assert_eq!(attributes["payment_method_id"], 2);
    assert_eq!(attributes["payment_method_name"], "Cash");
    assert_eq!(attributes["account_id"], t.account);
    assert!(attributes["document_id"].is_string());
    assert!(attributes["manager_id"].is_i64());
    let created_at = attributes["created_at"].as_str().unwrap();
    assert_eq!(
        created_at.len(),
        "2019-11-01T04:30:47.797788+0300".len(),
        "{created_at}"
    );
    assert!(attributes["closed_at"].is_string());
    let relationships = &data["relationships"];
    assert_eq!(
        relationships["payment_method"]["data"],
        json!({ "id": "2", "type": "payment_methods" })
    );
    assert_eq!(
        relationships["account"]["data"],
        json!({ "id": t.account.to_string(), "type": "accounts" })
    );
    assert_eq!(
        relationships["reseller"]["data"],
        json!({ "id": t.parent.to_string(), "type": "resellers" })
    );
    for empty in ["orders", "invoices", "corrections"] {
        assert_eq!(relationships[empty]["data"], json!([]));
    }
    let (status, again) = call(
        &server,
        Method::PATCH,
        &path,
        &t.manager,
        Some(completion(2)),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        again,
        json!({ "errors": { "title": "Only payments with \"waiting for payment/expired\" status can be completed.", "status": "422" } })
    );
    let (status, _) = call(
        &server,
        Method::PATCH,
        &path,
        &t.manager,
        Some(completion(999)),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // Concurrent completions of one payment: exactly one succeeds.
    let other = create(&server, &t, "5").await;
    let other_path = format!("/api/v3/resellers/{}/payments/{other}", t.parent);
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let (url, token) = (server.url(&other_path), t.manager.clone());
        tasks.push(tokio::spawn(async move {
            Client::new()
                .patch(url)
                .header("X-Api-Token", token)
                .header("Accept", MEDIA)
                .header("Content-Type", MEDIA)
                .body(completion(2).to_string())
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    let mut wins = 0;
    for task in tasks {
        if task.await.unwrap() == StatusCode::OK {
            wins += 1;
        }
    }
    assert_eq!(wins, 1);
    let store = server.context.store.clone();
    let trail = store
        .read(|db| Box::pin(inspect::audit_count(db, "payment.complete")))
        .await
        .unwrap();
    assert_eq!(trail, 2, "every completion is recorded");
    assert!(commands::verify(&server.context).await.unwrap().ok);
    server.stop().await;
}

async fn completion_by_document_books_corrections(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let t = tenancy(&server).await;
    let document_of = |body: &Value| {
        body["data"]["attributes"]["document_id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let partial = create(&server, &t, "100.0").await;
    let (_, read) = call(
        &server,
        Method::GET,
        &format!("/api/v3/resellers/{}/payments/{partial}", t.parent),
        &t.manager,
        None,
    )
    .await;
    let document = document_of(&read);
    let by_document = |document: String, body: Value| {
        let server = &server;
        let token = t.manager.clone();
        let parent = t.parent;
        async move {
            call(
                server,
                Method::POST,
                &format!("/api/v3/resellers/{parent}/payments/{document}"),
                &token,
                Some(body),
            )
            .await
        }
    };
    let (status, body) = by_document(document.clone(), json!({ "data": { "attributes": { "payment_method_id": 3, "amount": "40.00", "currency_code": "USD", "external_transaction_id": "ext-1" } } })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"]["attributes"]["status"], "waiting_for_payment",
        "a smaller amount leaves the status"
    );
    assert_eq!(
        body["data"]["relationships"]["corrections"]["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let (status, _) = by_document(
        document.clone(),
        json!({ "data": { "attributes": { "payment_method_id": 3, "currency_code": "EUR" } } }),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a currency that does not match"
    );
    let (_, over) = by_document(
        document.clone(),
        json!({ "data": { "attributes": { "payment_method_id": 3, "amount": "120.00" } } }),
    )
    .await;
    assert_eq!(
        over["data"]["attributes"]["status"], "completed",
        "a larger one completes it"
    );
    assert_eq!(
        over["data"]["relationships"]["corrections"]["data"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "and books the excess"
    );
    let (_, after) = by_document(
        document,
        json!({ "data": { "attributes": { "payment_method_id": 3, "amount": "10.00" } } }),
    )
    .await;
    assert_eq!(after["data"]["attributes"]["status"], "completed");
    assert_eq!(
        after["data"]["relationships"]["corrections"]["data"]
            .as_array()
            .unwrap()
            .len(),
        3,
        "a completed payment takes the whole amount as a correction"
    );
    let balance = server
        .context
        .store
        .read({
            let account = t.account;
            move |db| {
                Box::pin(async move {
                    obol_store::ops::ledger::balance(
                        db,
                        &obol_core::ledger::AccountCode::customer_account(
                            obol_core::ids::CustomerAccountId::new(account),
                        ),
                        obol_core::Mode::Live,
                        obol_core::Currency::USD,
                    )
                    .await
                })
            }
        })
        .await
        .unwrap();
    assert_eq!(balance.minor(), 4_000 + 2_000 + 1_000);
    assert!(commands::verify(&server.context).await.unwrap().ok);
    // `include=corrections` returns each correction as a resource (SPEC §3.3).
    let (status, included) = call(
        &server,
        Method::GET,
        &format!(
            "/api/v3/resellers/{}/payments/{partial}?include=corrections",
            t.parent
        ),
        &t.manager,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{included}");
    let resources = included["included"].as_array().unwrap();
    let listed: Vec<&Value> = included["data"]["relationships"]["corrections"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|reference| &reference["id"])
        .collect();
    assert_eq!(resources.len(), 3, "{included}");
    let amounts: Vec<&str> = resources
        .iter()
        .map(|resource| {
            assert_eq!(resource["type"], "corrections");
            assert!(listed.contains(&&resource["id"]), "{resource}");
            assert_eq!(resource["attributes"]["currency_code"], "USD");
            assert_eq!(
                resource["attributes"]["comment"],
                format!(
                    "Accounting of the amount received on the basis of {} from an external system.",
                    read["data"]["attributes"]["document_id"].as_str().unwrap()
                )
            );
            resource["attributes"]["amount"].as_str().unwrap()
        })
        .collect();
    assert_eq!(amounts, ["40.0", "20.0", "10.0"]);
    // A retried request with its Idempotency-Key books its correction once.
    let retried = create(&server, &t, "50.0").await;
    let (_, retried_read) = call(
        &server,
        Method::GET,
        &format!("/api/v3/resellers/{}/payments/{retried}", t.parent),
        &t.manager,
        None,
    )
    .await;
    let retried_document = document_of(&retried_read);
    let send = || {
        Client::new()
            .post(server.url(&format!(
                "/api/v3/resellers/{}/payments/{retried_document}",
                t.parent
            )))
            .header("X-Api-Token", &t.manager)
            .header("Accept", MEDIA)
            .header("Content-Type", MEDIA)
            .header("Idempotency-Key", "ext-42")
            .body(
                json!({ "data": { "attributes": { "payment_method_id": 3, "amount": "10.00" } } })
                    .to_string(),
            )
            .send()
    };
    let first: Value = send().await.unwrap().json().await.unwrap();
    let second: Value = send().await.unwrap().json().await.unwrap();
    assert_eq!(first, second, "the first answer again");
    assert_eq!(
        second["data"]["relationships"]["corrections"]["data"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "one correction, not two"
    );
    let (status, _) = by_document(
        "999999999".to_owned(),
        json!({ "data": { "attributes": { "payment_method_id": 3 } } }),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    server.stop().await;
}

async fn reads_lists_and_expiry(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let t = tenancy(&server).await;
    let first = create(&server, &t, "1").await;
    create(&server, &t, "2").await;
    let (_, body) = call(
        &server,
        Method::POST,
        &format!("/api/v3/resellers/{}/payments", t.parent),
        &t.manager,
        Some(json!({ "data": { "attributes": { "account_id": t.account, "total": "3", "currency_code": "USD", "expiration_date": "2025-11-23T13:13:20.000000+0000" } } })),
    )
    .await;
    let third = body["data"]["id"].as_str().unwrap().to_owned();
    assert!(body["data"]["attributes"]["expiration_date"].is_string());
    call(
        &server,
        Method::PATCH,
        &format!("/api/v3/resellers/{}/payments/{first}", t.parent),
        &t.manager,
        Some(completion(2)),
    )
    .await;

    let (status, page) = call(
        &server,
        Method::GET,
        &format!(
            "/api/v3/resellers/{}/payments?page[size]=2&sort=id",
            t.parent
        ),
        &t.viewer,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["meta"]["total"], 3);
    assert_eq!(page["meta"]["pages"], 2);
    assert_eq!(page["data"][0]["id"], first.as_str());
    assert!(page["links"]["next"].is_string());
    let (_, completed) = call(
        &server,
        Method::GET,
        &format!(
            "/api/v3/resellers/{}/payments?filter[status]=completed",
            t.parent
        ),
        &t.viewer,
        None,
    )
    .await;
    assert_eq!(completed["data"].as_array().unwrap().len(), 1);
    let (_, by_account) = call(
        &server,
        Method::GET,
        &format!(
            "/api/v3/resellers/{}/payments?filter[account_id]={}&sort=-id",
            t.parent, t.account
        ),
        &t.viewer,
        None,
    )
    .await;
    assert_eq!(by_account["data"][0]["id"], third.as_str());
    let (status, _) = call(
        &server,
        Method::GET,
        &format!("/api/v3/resellers/{}/payments?sort=nonsense", t.parent),
        &t.viewer,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (_, included) = call(&server, Method::GET, &format!("/api/v3/resellers/{}/payments/{first}?include=account,reseller,payment_method,corrections", t.parent), &t.viewer, None).await;
    let types: Vec<&str> = included["included"]
        .as_array()
        .unwrap()
        .iter()
        .map(|member| member["type"].as_str().unwrap())
        .collect();
    assert!(
        types.contains(&"accounts")
            && types.contains(&"resellers")
            && types.contains(&"payment_methods"),
        "{types:?}"
    );
    assert!(
        included["data"]["links"]["payment_page"]
            .as_str()
            .unwrap()
            .contains("/hpp/?cpi=cpi_")
    );

    // At its expiration date the payment expires, and can still be completed.
    server.clock.advance_seconds(3600);
    let path = format!("/api/v3/resellers/{}/payments/{third}", t.parent);
    let mut status_now = Value::Null;
    for _ in 0..400 {
        status_now = call(&server, Method::GET, &path, &t.viewer, None).await.1["data"]["attributes"]["status"].clone();
        if status_now == "expired" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(status_now, "expired");
    let (status, completed) = call(
        &server,
        Method::PATCH,
        &path,
        &t.manager,
        Some(completion(2)),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(completed["data"]["attributes"]["status"], "completed");
    server.stop().await;
}

/// A manager's payment is live (SPEC §2 "Test and live"): its page offers no sandbox card
/// form and says online payment is not available; a card posted to it anyway is refused and
/// changes nothing; a manager still completes it offline, in live accounts.
async fn a_managers_live_payment_is_never_paid_by_the_sandbox(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let t = tenancy(&server).await;
    let id = create(&server, &t, "25.0").await;
    let path = format!("/api/v3/resellers/{}/payments/{id}", t.parent);
    let (_, read) = call(&server, Method::GET, &path, &t.manager, None).await;
    let page_url = read["data"]["links"]["payment_page"]
        .as_str()
        .unwrap()
        .to_owned();
    let browser = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = browser
        .get(&page_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Online payment is not available"),
        "the page says so: {page}"
    );
    for absent in [
        "payment_card_usd_hpp",
        "test_usd_test",
        "card_number",
        "<form",
    ] {
        assert!(!page.contains(absent), "no {absent} on the page: {page}");
    }
    // The form's CSRF token is not on the page, but an attacker may hold one from elsewhere:
    // the card step refuses a live payment before its token would even matter.
    let cpi = page_url.split("cpi=").nth(1).unwrap().to_owned();
    let csrf = obol_server::tokens::issue(
        &server.context.key().unwrap().clone(),
        obol_server::tokens::purpose::CSRF,
        &cpi,
        obol_core::time::Clock::now(server.clock.as_ref()).plus_seconds(600),
    );
    for (step, form) in [
        ("choose", vec![("service", "payment_card_usd_hpp")]),
        (
            "pay",
            vec![
                ("card_number", "4242424242424242"),
                ("card_expiry", "12/39"),
                ("card_cvv", "123"),
            ],
        ),
        (
            "pay",
            vec![
                ("card_number", "4000000000000002"),
                ("card_expiry", "12/39"),
                ("card_cvv", "123"),
            ],
        ),
        ("test", vec![("status", "processed")]),
    ] {
        let mut form = form;
        form.push(("csrf_token", csrf.as_str()));
        let answer = browser
            .post(server.url(&format!("/hpp/{step}?cpi={cpi}")))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::FORBIDDEN, "{step}");
    }
    let (_, after) = call(&server, Method::GET, &path, &t.viewer, None).await;
    assert_eq!(after["data"]["attributes"]["status"], "waiting_for_payment");
    let (status, completed) = call(
        &server,
        Method::PATCH,
        &path,
        &t.manager,
        Some(completion(2)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{completed}");
    assert_eq!(completed["data"]["attributes"]["status"], "completed");
    let balances = commands::balances(&server.context, None).await.unwrap();
    assert!(
        balances
            .balances
            .iter()
            .all(|balance| balance.mode == "live"),
        "{balances:?}"
    );
    assert!(commands::verify(&server.context).await.unwrap().ok);
    server.stop().await;
}

on_both_backends!(
    negotiation_scope_and_roles,
    a_managers_live_payment_is_never_paid_by_the_sandbox,
    completion_by_id_answers_as_the_seed,
    completion_by_document_books_corrections,
    reads_lists_and_expiry
);
