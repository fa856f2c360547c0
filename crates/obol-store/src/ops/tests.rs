//! Every operation that reads rows, run once on each backend: rows are read by column name,
//! so a column a statement does not name (an alias missing, a join naming two columns alike)
//! fails here rather than in a door.

use obol_core::credentials::SecretDigest;
use obol_core::credentials::rotation::{ApiSecretRotation, CallbackSecretRotation};
use obol_core::ids::{PaymentId, ROOT_RESELLER, ResellerId, Uuid};
use obol_core::money::Money;
use obol_core::p2p::{CardForm, P2pCard, P2pUserId, SessionScope};
use obol_core::payment::{Actor, CardPayload, PaymentDraft, PaymentEvent, Source};
use obol_core::tenancy::{MerchantSettings, Name, Role};
use obol_core::{Currency, Timestamp};

use super::callbacks::{NewCallback, Signer, Subject};
use super::tenancy::NewMerchant;
use super::{
    attempts, audit, bearer, callbacks, catalog, credentials, jobs, ledger, p2p, refund_requests,
    settings, tenancy, upstream, verify,
};
use crate::Store;
use crate::db::Db;
use crate::error::StoreResult;
use crate::testing::{TestDatabase, TestRandom};

const NOW: Timestamp = Timestamp::from_unix_seconds(1_763_000_000);

fn name(text: &str) -> Name {
    Name::parse(text).unwrap()
}

fn card() -> CardPayload {
    CardPayload {
        first6: "424242".into(),
        last4: "4242".into(),
        brand: "visa".into(),
        expiry_month: 12,
        expiry_year: 2030,
        holder: Some("A HOLDER".into()),
        issuer: None,
    }
}

/// Writes one of everything and reads it back through each operation.
async fn read_everything(db: &mut dyn Db) -> StoreResult<()> {
    let random = &mut TestRandom::new();
    let methods = catalog::list_methods(db).await?;
    let services = catalog::list_services(db).await?;
    assert!(!methods.is_empty() && !services.is_empty());
    let service = catalog::get_service_by_code(db, &services[0].code).await?;
    assert_eq!(service.map(|service| service.id), Some(services[0].id));

    let reseller = tenancy::create_reseller(db, name("Reseller"), ROOT_RESELLER, NOW).await?;
    let manager_token = SecretDigest::of("manager-token");
    let manager = tenancy::create_manager(
        db,
        reseller.id,
        Role::parse("admin")?,
        name("Manager"),
        manager_token,
        NOW,
    )
    .await?;
    assert_eq!(tenancy::get_manager(db, manager.id).await?, manager);
    let (found, _) = tenancy::find_manager_by_token(db, manager_token)
        .await?
        .unwrap();
    assert_eq!(found, manager);

    let new = NewMerchant {
        reseller_id: reseller.id,
        name: name("Shop"),
        test_mode: true,
        public_key: "pk_test_reads".into(),
        api_login: "reads".into(),
        api_secret: SecretDigest::of("secret"),
        callback_secret_encrypted: vec![1, 2, 3],
        settings: MerchantSettings {
            default_locale: "en".into(),
            ..MerchantSettings::default()
        },
    };
    let merchant = tenancy::create_merchant(db, new, random, NOW).await?;
    let linked = catalog::merchant_services(db, merchant.id).await?;
    assert!(!linked.is_empty());
    let (by_login, _) = tenancy::find_merchant_by_login(db, "reads").await?.unwrap();
    assert_eq!(by_login, merchant);
    assert_eq!(
        tenancy::merchant_callback_secret(db, merchant.id).await?,
        vec![1, 2, 3]
    );
    credentials::rotate_callback_secret(db, merchant.id, vec![4], CallbackSecretRotation::at(NOW))
        .await?;
    assert_eq!(
        tenancy::merchant_callback_secrets(db, merchant.id, NOW).await?,
        (vec![4], Some(vec![1, 2, 3]))
    );
    let rotated = credentials::rotate_api_secret(
        db,
        merchant.id,
        SecretDigest::of("secret-2"),
        ApiSecretRotation::at(NOW),
    )
    .await?;
    assert_eq!(rotated, merchant);
    let standing =
        credentials::rotate_manager_token(db, manager.id, SecretDigest::of("manager-token-2"))
            .await?;
    assert_eq!(
        credentials::manager_standing(db, manager.id).await?,
        standing
    );
    let (_, _, found_standing) =
        tenancy::find_manager_by_token_with_standing(db, SecretDigest::of("manager-token-2"))
            .await?
            .unwrap();
    assert_eq!(found_standing, standing);
    let account = tenancy::create_customer_account(db, reseller.id, name("Payer"), NOW).await?;
    assert_eq!(
        tenancy::get_customer_account(db, account.id).await?,
        account
    );

    bearer::issue(
        db,
        merchant.id,
        SecretDigest::of("token"),
        SecretDigest::of("refresh"),
        NOW.plus_seconds(60),
        NOW.plus_seconds(120),
        NOW,
    )
    .await?;
    let holder = bearer::merchant_of_token(db, SecretDigest::of("token"), NOW).await?;
    assert_eq!(holder.map(|holder| holder.id), Some(merchant.id));
    let refreshed = bearer::consume_refresh(db, SecretDigest::of("refresh"), NOW).await?;
    assert_eq!(refreshed, Some(merchant.id));
    assert_eq!(
        bearer::revoke_merchant_tokens(db, merchant.id, NOW).await?,
        1
    );
    let disabled = credentials::disable_manager(db, manager.id, NOW).await?;
    assert_eq!(disabled.disabled_at, Some(NOW));

    let amount = Money::from_minor(1000, Currency::USD).unwrap();
    let draft = PaymentDraft::for_merchant(&merchant, Source::MerchantApi, amount)
        .build()
        .unwrap();
    let payment_id = PaymentId::generate(random);
    let payment = super::payments::insert_payment(db, draft, payment_id, None, NOW).await?;

    let attempt = attempts::create(db, &payment.id, &card(), NOW).await?;
    assert_eq!(attempts::latest(db, &payment.id).await?, Some(attempt));

    audit::record(db, manager.id, "refund", payment.id.as_str(), None, NOW).await?;
    let entries = audit::for_subject(db, payment.id.as_str()).await?;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].manager_id, manager.id);

    let request = refund_requests::open(db, &payment.id, Some("why".into()), None, NOW).await?;
    assert_eq!(refund_requests::get(db, request.id).await?, request);
    assert_eq!(refund_requests::list_open(db).await?, vec![request]);

    let callback = callbacks::enqueue(
        db,
        NewCallback {
            delivery_id: "delivery-1".into(),
            subject: Subject::Payment(payment.id.clone()),
            signer: Signer::Merchant(merchant.id),
            dialect: "paymega".into(),
            url: "http://127.0.0.1:9/".into(),
            body: b"{}".to_vec(),
            transaction_status: "created".into(),
            mode: obol_core::Mode::Test,
        },
        NOW,
    )
    .await?;
    assert_eq!(callback.sequence, 1);
    let before = Timestamp::from_unix_seconds(NOW.unix_seconds() - 1);
    assert_eq!(callbacks::next_due_at(db, before).await?, Some(NOW));
    assert_eq!(callbacks::next_due_at(db, NOW).await?, None, "due already");
    assert_eq!(callbacks::counts(db).await?, vec![("pending".into(), 1)]);
    let claimed = callbacks::claim_due(db, "node", NOW, 60, 10).await?;
    assert_eq!(claimed.len(), 1);
    let keys = callbacks::sealed_keys(db, &[claimed[0].signer], NOW).await?;
    assert!(keys.contains_key(&Signer::Merchant(merchant.id)));
    let retry = callbacks::record_attempts(
        db,
        "node",
        &[callbacks::Settled {
            callback_id: claimed[0].id,
            settlement: callbacks::Settlement::Attempted {
                attempt: callbacks::AttemptRecord {
                    started_at: NOW,
                    finished_at: NOW,
                    response_code: Some(500),
                    delivered: false,
                    error: Some("answered HTTP 500".into()),
                },
                after_failure: callbacks::AfterFailure::RetryAt(NOW),
            },
        }],
        NOW,
    )
    .await?;
    assert_eq!(retry, vec![claimed[0].id]);
    let replayed = callbacks::replay(db, "delivery-1", NOW).await?;
    assert_eq!(replayed.subject, Subject::Payment(payment.id.clone()));

    let key = SecretDigest::of(Uuid::generate_v4(random).as_str());
    let client = tenancy::create_p2p_client(db, &key, name("Client"), vec![9], true, NOW).await?;
    let record = p2p::client_by_id(db, client.id).await?;
    assert_eq!(record.client, client);
    assert_eq!(record.signing_key_encrypted, vec![9]);
    let found = p2p::client_by_key(db, &key)
        .await?
        .map(|found| found.client);
    assert_eq!(found, Some(client.clone()));
    p2p::set_signing_key(db, client.id, vec![7]).await?;
    p2p::set_require_signed_requests(db, client.id, false).await?;
    let record = p2p::client_by_id(db, client.id).await?;
    assert_eq!(record.signing_key_encrypted, vec![7]);
    assert!(!record.client.require_signed_requests);
    let user = P2pUserId::parse("user-1").unwrap();
    let session = p2p::Session {
        client_id: client.id,
        user_id: Some(user.clone()),
        created_at: NOW,
        expires_at: NOW.plus_seconds(60),
    };
    let session_key = SecretDigest::of("session");
    p2p::create_session(db, &session_key, &session).await?;
    assert_eq!(p2p::find_session(db, &session_key).await?, Some(session));
    let stored = P2pCard {
        id: Uuid::generate_v4(random),
        client_id: client.id,
        user_id: Some(user.clone()),
        token: "vault-token".into(),
        payload: card(),
        created_at: NOW,
    };
    p2p::insert_card(db, &stored).await?;
    assert_eq!(
        p2p::list_cards(db, client.id, None).await?,
        vec![stored.clone()]
    );
    assert_eq!(
        p2p::list_cards(db, client.id, Some(&user)).await?,
        vec![stored.clone()]
    );
    let form_key = SecretDigest::of("form");
    let mut form = CardForm::issue(
        &SessionScope {
            client_id: client.id,
            user_id: Some(user),
        },
        NOW,
    );
    p2p::create_card_form(db, &form_key, &form).await?;
    assert_eq!(
        p2p::find_card_form(db, &form_key).await?,
        Some(form.clone())
    );
    let through_form = P2pCard {
        id: Uuid::generate_v4(random),
        ..stored
    };
    p2p::add_card_through_form(db, &form_key, &through_form, NOW).await?;
    form.card_id = Some(through_form.id.clone());
    form.used_at = Some(NOW);
    assert_eq!(p2p::find_card_form(db, &form_key).await?, Some(form));
    assert!(p2p::spend_request_token(db, &SecretDigest::of("jwt"), NOW).await?);

    jobs::schedule(db, "payment_expiry", payment.id.as_str(), NOW, NOW).await?;
    assert_eq!(jobs::next_due_at(db, NOW).await?, Some(NOW));
    assert_eq!(jobs::pending_count(db).await?, 1);
    assert_eq!(jobs::claim_due(db, "node", NOW, 60, 10).await?.len(), 1);

    assert!(
        ledger::postings_of_payment(db, payment.id.as_str())
            .await?
            .is_empty()
    );
    assert_eq!(
        ledger::latest_refund_of_payment(db, &payment.id).await?,
        None
    );

    read_live_routes(db, reseller.id).await?;

    settings::set(db, "reads", "yes").await?;
    assert_eq!(settings::get(db, "reads").await?.as_deref(), Some("yes"));

    let report = verify::verify(db).await?;
    assert_eq!(report.payments, 2);
    assert!(report.is_clean(), "{:?}", report.violations);
    Ok(())
}

/// A live route's services, a live payment sent to it, its checks and its refunds.
async fn read_live_routes(db: &mut dyn Db, reseller: ResellerId) -> StoreResult<()> {
    catalog::sync_route_services(
        db,
        &[catalog::RouteService {
            route: "main".into(),
            position: 0,
            currency: Currency::RUB,
            amount_min_minor: 100,
            amount_max_minor: 10_000_000,
            fee_rate_percent_e4: 0,
            fee_fix_minor: 0,
        }],
    )
    .await?;
    let new = NewMerchant {
        reseller_id: reseller,
        name: name("Live shop"),
        test_mode: false,
        public_key: "pk_live_reads".into(),
        api_login: "reads-live".into(),
        api_secret: SecretDigest::of("secret"),
        callback_secret_encrypted: vec![1, 2, 3],
        settings: MerchantSettings {
            default_locale: "en".into(),
            ..MerchantSettings::default()
        },
    };
    let merchant = tenancy::create_merchant(db, new, &mut TestRandom::new(), NOW).await?;
    let routed = catalog::merchant_services(db, merchant.id).await?;
    assert_eq!(routed.len(), 1);
    assert_eq!(routed[0].1.route.as_deref(), Some("main"));

    let amount = Money::from_minor(1000, Currency::RUB).unwrap();
    let draft = PaymentDraft::for_merchant(&merchant, Source::MerchantApi, amount)
        .build()
        .unwrap();
    let id = PaymentId::generate(&mut TestRandom::new());
    let payment = super::payments::insert_payment(db, draft, id, None, NOW).await?;
    let sent = PaymentEvent::SentUpstream {
        route: "main".into(),
        upstream_id: "up-reads".into(),
    };
    let (sent, _) =
        super::payments::transition(db, &payment.id, sent, Actor::Customer, NOW).await?;
    assert_eq!(
        upstream::payment_by_upstream_id(db, "main", "up-reads").await?,
        Some(sent)
    );
    upstream::schedule_check(db, &payment.id, NOW, 0).await?;
    assert_eq!(upstream::due_checks(db, NOW, 10).await?.len(), 1);

    let refund = upstream::UpstreamRefund {
        idempotence_key: "refund-reads".into(),
        payment_id: payment.id.clone(),
        route: "main".into(),
        amount_minor: 100,
        state: upstream::UpstreamRefundState::Pending,
        upstream_id: Some("refund-up-reads".into()),
        requested_by: "operator".into(),
        booked: false,
        tries: 1,
        next_try_at: Some(NOW),
        created_at: NOW,
    };
    upstream::insert_refund(db, &refund, NOW).await?;
    assert_eq!(
        upstream::refund_by_key(db, "refund-reads").await?,
        Some(refund.clone())
    );
    assert_eq!(
        upstream::refund_by_upstream_id(db, "main", "refund-up-reads").await?,
        Some(refund.clone())
    );
    assert_eq!(
        upstream::refunds_of_payment(db, &payment.id).await?,
        vec![refund.clone()]
    );
    assert_eq!(upstream::due_refunds(db, NOW, 10).await?, vec![refund]);
    Ok(())
}

async fn every_read_finds_its_columns(database: TestDatabase) {
    let store = Store::open(&database.url).await.expect("open");
    store.migrate(NOW).await.expect("migrate");
    store
        .write(|db| Box::pin(read_everything(db)))
        .await
        .expect("every operation reads its rows");
}

crate::on_both_backends!(every_read_finds_its_columns);
