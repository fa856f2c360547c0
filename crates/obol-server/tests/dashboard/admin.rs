//! The administration area: merchants, resellers, managers, P2P clients, balances, the audit
//! log and refund requests — what an admin may do, what a manager or viewer may not, and that a
//! child reseller's staff sees nothing of its parent or siblings.

use obol_server::commands::{self, MerchantOptions};
use obol_testkit::{TestDatabase, TestServer};
use reqwest::StatusCode;

use crate::{Staff, attribute, client, reseller, staff};

fn secret_after(html: &str, name: &str) -> String {
    let marker = format!("data-secret=\"{name}\">");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("{name} in {html}"))
        + marker.len();
    html[start..start + html[start..].find('<').unwrap()].to_owned()
}

async fn paymega(server: &TestServer, login: &str, secret: &str) -> StatusCode {
    client()
        .get(server.url("/api/payment-invoices"))
        .basic_auth(login, Some(secret))
        .send()
        .await
        .unwrap()
        .status()
}

async fn me(server: &TestServer, token: &str) -> StatusCode {
    client()
        .get(server.url("/api/v3/managers/me"))
        .header("X-Api-Token", token)
        .header("Accept", "application/vnd.api+json")
        .send()
        .await
        .unwrap()
        .status()
}

/// Posts without any CSRF token.
async fn post_without_csrf(staff: &Staff, server: &TestServer, path: &str) -> StatusCode {
    client()
        .post(server.url(path))
        .header("cookie", &staff.cookie)
        .form(&[("name", "x")])
        .send()
        .await
        .unwrap()
        .status()
}

async fn merchant(server: &TestServer, reseller: i64, name: &str) -> commands::MerchantOutput {
    commands::create_merchant(
        &server.context,
        MerchantOptions {
            name: name.into(),
            reseller,
            ..MerchantOptions::default()
        },
    )
    .await
    .unwrap()
}

pub async fn merchants_are_created_changed_and_rotated_by_admins(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let top = reseller(&server, "Top", None).await;
    let (admin, _) = staff(&server, top, "admin", "Ada").await;

    // Created through the form: the secrets are shown once, on the answer.
    let (status, _, html) = admin
        .post(
            &server,
            "/dashboard/merchants",
            &[
                ("name", "<script>alert(1)</script>"),
                ("reseller_id", &top.to_string()),
                ("webhook_url", "https://shop.example/hook"),
                ("forbid_public_access", "true"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && !html.contains("<script>"));
    let login = secret_after(&html, "API login");
    let secret = secret_after(&html, "API secret");
    let callback_secret = secret_after(&html, "Callback secret");
    assert!(secret.starts_with("sk_test_"), "{secret}");
    assert!(callback_secret.starts_with("whsec_") || !callback_secret.is_empty());
    assert_eq!(paymega(&server, &login, &secret).await, StatusCode::OK);

    // The list shows it, as text; its page shows no secret again.
    let (status, list) = admin.get(&server, "/dashboard/merchants").await;
    assert_eq!(status, StatusCode::OK);
    assert!(list.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && !list.contains("<script>"));
    let href = attribute(&list, "href=\"/dashboard/merchants/");
    let id: i64 = href.parse().unwrap();
    let path = format!("/dashboard/merchants/{id}");
    let (status, page) = admin.get(&server, &path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!page.contains(&secret) && !page.contains(&callback_secret));
    assert!(page.contains("https://shop.example/hook"));
    assert!(page.contains(&format!("action=\"{path}/rotate-secret\"")));

    // Settings: 303 back to the page; a bad URL or an unknown route is shown again with 422.
    let (status, location, _) = admin
        .post(
            &server,
            &format!("{path}/settings"),
            &[
                ("webhook_url", "https://shop.example/new"),
                ("acquirer", "none"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some(path.as_str()));
    let (_, page) = admin.get(&server, &path).await;
    assert!(page.contains("https://shop.example/new"));
    let (status, _, page) = admin
        .post(
            &server,
            &format!("{path}/settings"),
            &[("webhook_url", "ftp://x")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("http://"), "{page}");
    let (status, _, _) = admin
        .post(
            &server,
            &format!("{path}/settings"),
            &[("acquirer", "nowhere")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _, _) = admin
        .post(
            &server,
            "/dashboard/merchants",
            &[("name", " "), ("reseller_id", "1")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // Rotation: the new secret shown once works at once, the old one stops at once.
    let (status, _, html) = admin
        .post(&server, &format!("{path}/rotate-secret"), &[])
        .await;
    assert_eq!(status, StatusCode::OK);
    let new = secret_after(&html, "API secret");
    assert_ne!(new, secret);
    assert_eq!(
        paymega(&server, &login, &secret).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(paymega(&server, &login, &new).await, StatusCode::OK);
    let (_, page) = admin.get(&server, &path).await;
    assert!(!page.contains(&new), "shown once only");

    let (status, _, html) = admin
        .post(&server, &format!("{path}/rotate-callback-secret"), &[])
        .await;
    assert_eq!(status, StatusCode::OK);
    let rotated = secret_after(&html, "Callback secret");
    assert_ne!(rotated, callback_secret);

    // Without the CSRF token: 403, nothing changes.
    assert_eq!(
        post_without_csrf(&admin, &server, &format!("{path}/rotate-secret")).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(paymega(&server, &login, &new).await, StatusCode::OK);
}

pub async fn managers_and_viewers_cannot_administer(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let top = reseller(&server, "Top", None).await;
    let shop = merchant(&server, top, "Shop").await;
    let path = format!("/dashboard/merchants/{}", shop.id);
    for role in ["manager", "viewer"] {
        let (member, _) = staff(&server, top, role, role).await;
        let (status, page) = member.get(&server, &path).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            !page.contains("rotate-secret") && !page.contains("/settings"),
            "no forms"
        );
        let (_, list) = member.get(&server, "/dashboard/merchants").await;
        assert!(!list.contains("name=\"reseller_id\""), "no creation form");
        let (_, tree) = member.get(&server, "/dashboard/resellers").await;
        assert!(!tree.contains("name=\"parent_id\""));
        for action in ["rotate-secret", "rotate-callback-secret", "settings"] {
            let (status, _, _) = member.post(&server, &format!("{path}/{action}"), &[]).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{role} {action}");
        }
        let (status, _, _) = member
            .post(
                &server,
                "/dashboard/merchants",
                &[("name", "New"), ("reseller_id", &top.to_string())],
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _, _) = member
            .post(
                &server,
                "/dashboard/resellers",
                &[("name", "New"), ("parent_id", &top.to_string())],
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = member.get(&server, "/dashboard/managers").await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _, _) = member
            .post(
                &server,
                "/dashboard/managers",
                &[
                    ("name", "New"),
                    ("role", "admin"),
                    ("reseller_id", &top.to_string()),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _, _) = member
            .post(
                &server,
                &format!("/dashboard/managers/{}/disable", member.manager_id),
                &[],
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    // The secret did not change.
    assert_eq!(
        paymega(&server, &shop.api_login, &shop.api_secret).await,
        StatusCode::OK
    );
}

pub async fn a_child_resellers_staff_sees_nothing_above_or_beside(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let top = reseller(&server, "Top", None).await;
    let child = reseller(&server, "Child", Some(top)).await;
    let sibling = reseller(&server, "Sibling", Some(top)).await;
    let above = merchant(&server, top, "Above").await;
    let beside = merchant(&server, sibling, "Beside").await;
    let own = merchant(&server, child, "Own").await;
    let (admin, _) = staff(&server, child, "admin", "Child admin").await;
    let sibling_manager = commands::create_manager(&server.context, sibling, "viewer", "Sib")
        .await
        .unwrap();
    let top_manager = commands::create_manager(&server.context, top, "admin", "Top admin")
        .await
        .unwrap();

    let (_, list) = admin.get(&server, "/dashboard/merchants").await;
    assert!(list.contains("Own") && !list.contains("Above") && !list.contains("Beside"));
    assert_eq!(
        admin
            .get(&server, &format!("/dashboard/merchants/{}", own.id))
            .await
            .0,
        StatusCode::OK
    );
    for other in [&above, &beside] {
        let path = format!("/dashboard/merchants/{}", other.id);
        assert_eq!(admin.get(&server, &path).await.0, StatusCode::NOT_FOUND);
        let (status, _, _) = admin
            .post(&server, &format!("{path}/rotate-secret"), &[])
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(
            paymega(&server, &other.api_login, &other.api_secret).await,
            StatusCode::OK
        );
    }
    assert_eq!(
        admin.get(&server, "/dashboard/merchants/999999").await.0,
        StatusCode::NOT_FOUND
    );
    // Creating under a reseller outside the subtree is refused like a missing one.
    let (status, _, _) = admin
        .post(
            &server,
            "/dashboard/merchants",
            &[("name", "Sneaky"), ("reseller_id", &sibling.to_string())],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _, _) = admin
        .post(
            &server,
            "/dashboard/resellers",
            &[("name", "Sneaky"), ("parent_id", &top.to_string())],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, tree) = admin.get(&server, "/dashboard/resellers").await;
    assert!(tree.contains("Child") && !tree.contains("Sibling") && !tree.contains("Top"));

    // Managers above and beside: not listed, 404 on every action.
    let (_, managers) = admin.get(&server, "/dashboard/managers").await;
    assert!(!managers.contains("Sib") && !managers.contains("Top admin"));
    for id in [sibling_manager.id, top_manager.id] {
        for action in ["rotate-token", "disable"] {
            let (status, _, _) = admin
                .post(&server, &format!("/dashboard/managers/{id}/{action}"), &[])
                .await;
            assert_eq!(status, StatusCode::NOT_FOUND);
        }
    }
    assert_eq!(
        me(&server, &sibling_manager.api_token).await,
        StatusCode::OK
    );

    // A child of its own reseller it may create; it appears in its tree.
    let (status, location, _) = admin
        .post(
            &server,
            "/dashboard/resellers",
            &[("name", "Grandchild"), ("parent_id", &child.to_string())],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/dashboard/resellers"));
    let (_, tree) = admin.get(&server, "/dashboard/resellers").await;
    assert!(tree.contains("Grandchild"));
}

pub async fn admins_create_rotate_and_disable_managers(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let top = reseller(&server, "Top", None).await;
    let (admin, _) = staff(&server, top, "admin", "Ada").await;

    let (status, _, html) = admin
        .post(
            &server,
            "/dashboard/managers",
            &[
                ("name", "Bob"),
                ("role", "manager"),
                ("reseller_id", &top.to_string()),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let token = secret_after(&html, "API token");
    assert_eq!(me(&server, &token).await, StatusCode::OK);
    let (_, list) = admin.get(&server, "/dashboard/managers").await;
    assert!(list.contains("Bob") && !list.contains(&token));

    // Bob signs in; his token is replaced: the old token and his session stop at once.
    let response = crate::sign_in(&server, &token).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let bob = Staff {
        cookie,
        manager_id: 0,
    };
    assert_eq!(bob.get(&server, "/dashboard").await.0, StatusCode::OK);
    let row = &list[list.find("Bob").unwrap()..];
    let bob_id: i64 = attribute(row, "action=\"/dashboard/managers/")
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let (status, _, html) = admin
        .post(
            &server,
            &format!("/dashboard/managers/{bob_id}/rotate-token"),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let new = secret_after(&html, "API token");
    assert_eq!(me(&server, &token).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me(&server, &new).await, StatusCode::OK);
    assert_eq!(
        bob.get(&server, "/dashboard").await.0,
        StatusCode::SEE_OTHER
    );

    // Disabled: the new token and a new session stop at once.
    let response = crate::sign_in(&server, &new).await;
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let bob = Staff {
        cookie,
        manager_id: bob_id,
    };
    assert_eq!(bob.get(&server, "/dashboard").await.0, StatusCode::OK);
    let (status, location, _) = admin
        .post(
            &server,
            &format!("/dashboard/managers/{bob_id}/disable"),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/dashboard/managers"));
    assert_eq!(
        bob.get(&server, "/dashboard").await.0,
        StatusCode::SEE_OTHER
    );
    assert_eq!(me(&server, &new).await, StatusCode::UNAUTHORIZED);
    let (_, list) = admin.get(&server, "/dashboard/managers").await;
    assert!(list.contains("disabled"));

    // Not itself; a bad role is shown again with 422; no CSRF token: 403.
    let (status, _, _) = admin
        .post(
            &server,
            &format!("/dashboard/managers/{}/disable", admin.manager_id),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _, _) = admin
        .post(
            &server,
            "/dashboard/managers",
            &[
                ("name", "Eve"),
                ("role", "root"),
                ("reseller_id", &top.to_string()),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        post_without_csrf(&admin, &server, "/dashboard/managers").await,
        StatusCode::FORBIDDEN
    );
}

pub async fn p2p_clients_are_the_root_resellers(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let (admin, _) = staff(&server, 1, "admin", "Root admin").await;
    let (viewer, _) = staff(&server, 1, "viewer", "Root viewer").await;
    let child = reseller(&server, "Child", None).await;
    let (outsider, _) = staff(&server, child, "admin", "Child admin").await;

    let (status, _, html) = admin
        .post(
            &server,
            "/dashboard/p2p-clients",
            &[
                ("name", "<b>Wallet</b>"),
                ("require_signed_requests", "true"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let client_id = secret_after(&html, "clientId");
    let key = secret_after(&html, "Signing key");
    assert_eq!(client_id.len(), 36, "{client_id}");
    let (status, list) = admin.get(&server, "/dashboard/p2p-clients").await;
    assert_eq!(status, StatusCode::OK);
    assert!(list.contains("&lt;b&gt;Wallet&lt;/b&gt;"));
    assert!(
        !list.contains(&client_id) && !list.contains(&key),
        "shown once"
    );
    let row = &list[list.find("Wallet").unwrap()..];
    let id: i64 = attribute(row, "action=\"/dashboard/p2p-clients/")
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();

    let (status, _, html) = admin
        .post(
            &server,
            &format!("/dashboard/p2p-clients/{id}/rotate-key"),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(secret_after(&html, "Signing key"), key);
    let (status, location, _) = admin
        .post(
            &server,
            &format!("/dashboard/p2p-clients/{id}/signed-requests"),
            &[("require_signed_requests", "false")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/dashboard/p2p-clients"));
    let (_, list) = admin.get(&server, "/dashboard/p2p-clients").await;
    assert!(list.contains("Require signatures"), "{list}");

    // A root viewer reads but gets no form, and 403 on a POST.
    let (status, list) = viewer.get(&server, "/dashboard/p2p-clients").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        list.contains("Wallet") && !list.contains("rotate-key") && !list.contains("name=\"name\"")
    );
    let (status, _, _) = viewer
        .post(
            &server,
            &format!("/dashboard/p2p-clients/{id}/rotate-key"),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Staff of any other reseller: as if there were none.
    assert_eq!(
        outsider.get(&server, "/dashboard/p2p-clients").await.0,
        StatusCode::NOT_FOUND
    );
    let (status, _, _) = outsider
        .post(
            &server,
            &format!("/dashboard/p2p-clients/{id}/rotate-key"),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = outsider
        .post(&server, "/dashboard/p2p-clients", &[("name", "Sneaky")])
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        post_without_csrf(&admin, &server, "/dashboard/p2p-clients").await,
        StatusCode::FORBIDDEN
    );
}

pub async fn every_action_is_in_the_audit_log_of_its_subtree(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let top = reseller(&server, "Top", None).await;
    let child = reseller(&server, "Child", Some(top)).await;
    let (admin, _) = staff(&server, top, "admin", "Ada").await;
    let (child_admin, _) = staff(&server, child, "admin", "Cid").await;
    let shop = merchant(&server, top, "Shop").await;
    let (status, _, _) = admin
        .post(
            &server,
            &format!("/dashboard/merchants/{}/rotate-secret", shop.id),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let (status, log) = admin.get(&server, "/dashboard/audit").await;
    assert_eq!(status, StatusCode::OK);
    let rotation = log.find("merchant.rotate_secret").expect("recorded");
    let row = &log[log[..rotation].rfind("<tr>").unwrap()..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(row.contains("Ada"), "{row}");
    assert!(row.contains(&format!("merchant:{}", shop.id)), "{row}");
    assert!(row.contains("127.0.0.1"), "{row}");
    assert!(
        log.contains("dashboard.sign_in") && log.contains("Cid"),
        "the subtree's too"
    );
    // Newest first.
    assert!(rotation < log.find("dashboard.sign_in").unwrap());

    // The child's admin sees only its own subtree's entries.
    let (_, log) = child_admin.get(&server, "/dashboard/audit").await;
    assert!(log.contains("Cid") && !log.contains("merchant.rotate_secret") && !log.contains("Ada"));
    assert_eq!(
        admin.get(&server, "/dashboard/audit?before=x").await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        admin.get(&server, "/dashboard/audit?before=1").await.0,
        StatusCode::OK
    );

    // Balances: the page answers for everyone; only root staff see the operator's accounts.
    let (status, _) = child_admin.get(&server, "/dashboard/balances").await;
    assert_eq!(status, StatusCode::OK);
    let (root, _) = staff(&server, 1, "viewer", "Root").await;
    assert_eq!(
        root.get(&server, "/dashboard/balances").await.0,
        StatusCode::OK
    );
}

/// An open refund request for a new (unpaid) payment of a merchant of `reseller`.
async fn refund_request(server: &TestServer, reseller: i64) -> i64 {
    use obol_core::Currency;
    use obol_core::ids::{MerchantId, ResellerId};
    use obol_core::money::Money;

    let shop = merchant(server, reseller, "Shop").await;
    let draft = obol_testkit::draft(
        ResellerId::new(reseller),
        MerchantId::new(shop.id),
        Money::from_minor(11_250, Currency::RUB).unwrap(),
    )
    .build()
    .unwrap();
    let payment = server.insert_payment(draft, None).await.id.clone();
    let now = obol_core::time::Clock::now(&*server.clock);
    server
        .context
        .store
        .write(move |db| {
            Box::pin(async move {
                obol_store::ops::refund_requests::open(
                    db,
                    &payment,
                    Some("Broken".into()),
                    None,
                    now,
                )
                .await
            })
        })
        .await
        .unwrap()
        .id
}

pub async fn refund_requests_are_rejected_or_carried_out_in_scope(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let top = reseller(&server, "Top", None).await;
    let sibling = reseller(&server, "Sibling", None).await;
    let own = refund_request(&server, top).await;
    let other = refund_request(&server, sibling).await;
    let (manager, _) = staff(&server, top, "manager", "Mia").await;
    let (viewer, _) = staff(&server, top, "viewer", "Vic").await;

    let (status, list) = manager.get(&server, "/dashboard/refund-requests").await;
    assert_eq!(status, StatusCode::OK);
    assert!(list.contains(&format!(
        "action=\"/dashboard/refund-requests/{own}/carry-out\""
    )));
    assert!(
        !list.contains(&format!("/dashboard/refund-requests/{other}/")),
        "not its sibling's"
    );
    assert!(list.contains("Broken"));
    let (_, list) = viewer.get(&server, "/dashboard/refund-requests").await;
    assert!(
        list.contains("Broken") && !list.contains("carry-out"),
        "no forms"
    );
    let (status, _, _) = viewer
        .post(
            &server,
            &format!("/dashboard/refund-requests/{own}/reject"),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    for action in ["carry-out", "reject"] {
        let (status, _, _) = manager
            .post(
                &server,
                &format!("/dashboard/refund-requests/{other}/{action}"),
                &[],
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    // Nothing was paid: carrying it out is refused with the page again, never a 5xx.
    let (status, _, page) = manager
        .post(
            &server,
            &format!("/dashboard/refund-requests/{own}/carry-out"),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("no money"), "{page}");
    assert_eq!(
        post_without_csrf(
            &manager,
            &server,
            &format!("/dashboard/refund-requests/{own}/reject")
        )
        .await,
        StatusCode::FORBIDDEN
    );
    let (status, location, _) = manager
        .post(
            &server,
            &format!("/dashboard/refund-requests/{own}/reject"),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/dashboard/refund-requests"));
    let (_, list) = manager.get(&server, "/dashboard/refund-requests").await;
    assert!(!list.contains("Broken"), "closed");
    let (status, _, _) = manager
        .post(
            &server,
            &format!("/dashboard/refund-requests/{own}/reject"),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "no longer open");
    let (_, log) = manager.get(&server, "/dashboard/audit").await;
    assert!(
        log.contains("refund_request.reject") && log.contains(&format!("refund_request:{own}"))
    );
}
