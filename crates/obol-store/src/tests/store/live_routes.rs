//! Live routes (SPEC §4): the card services a route gives the live merchants it serves,
//! payments found again by their provider's id, the reconciliation worker's checks and the
//! refunds made at a provider.

use crate::on_both_backends;
use crate::ops::upstream::{self, DueCheck, UpstreamRefund, UpstreamRefundState};
use crate::ops::{catalog, ledger, payments, tenancy};
use crate::testing::{TestDatabase, TestRandom};
use crate::{Store, StoreError, UniqueKey};
use obol_core::catalog::{PaymentService, ServiceFlow};
use obol_core::ids::{MerchantId, MerchantServiceId, PaymentId};
use obol_core::ledger::AccountCode;
use obol_core::payment::{Actor, Payment, PaymentEvent, PaymentStatus};
use obol_core::{Currency, Mode, Timestamp};

use super::{NOW, assert_verified, draft, merchant, merchant_in_mode, open};

use catalog::RouteService;

fn route(name: &str, position: i64, currency: Currency, amount_max_minor: i64) -> RouteService {
    RouteService {
        route: name.to_owned(),
        position,
        currency,
        amount_min_minor: 100,
        amount_max_minor,
        fee_rate_percent_e4: 25_000,
        fee_fix_minor: 30,
    }
}

async fn sync(store: &Store, routes: Vec<RouteService>) {
    store
        .write(move |db| Box::pin(async move { catalog::sync_route_services(db, &routes).await }))
        .await
        .unwrap();
}

/// The catalog's route services, by (route, currency).
async fn route_services(store: &Store) -> Vec<PaymentService> {
    let mut services: Vec<PaymentService> = store
        .read(|db| Box::pin(catalog::list_services(db)))
        .await
        .unwrap()
        .into_iter()
        .filter(|service| service.route.is_some())
        .collect();
    services.sort_by_key(|service| (service.route.clone(), service.currency.code()));
    services
}

/// The route services a merchant is listed, as (route, currency, link id, service).
async fn routes_of(store: &Store, merchant: MerchantId) -> Vec<(String, &'static str)> {
    let listed = store
        .read(move |db| Box::pin(catalog::merchant_services(db, merchant)))
        .await
        .unwrap();
    let mut routes: Vec<(String, &'static str)> = listed
        .into_iter()
        .filter_map(|(_, service)| Some((service.route?, service.currency.code())))
        .collect();
    routes.sort();
    routes
}

async fn route_services_follow_the_configuration(database: TestDatabase) {
    let store = open(&database).await;
    sync(
        &store,
        vec![
            route("main", 0, Currency::RUB, 50_000_000),
            route("main", 0, Currency::USD, 1_000_000),
            route("backup", 1, Currency::RUB, 20_000_000),
        ],
    )
    .await;
    let services = route_services(&store).await;
    let described: Vec<(Option<&str>, &str, &str)> = services
        .iter()
        .map(|service| {
            (
                service.route.as_deref(),
                service.code.as_str(),
                service.currency.code(),
            )
        })
        .collect();
    assert_eq!(
        described,
        [
            (Some("backup"), "payment_card_rub_hpp", "RUB"),
            (Some("main"), "payment_card_rub_hpp", "RUB"),
            (Some("main"), "payment_card_usd_hpp", "USD"),
        ],
        "known by their codes alone, one per route and currency"
    );
    for service in &services {
        assert!(!service.test_mode, "{service:?}");
        assert!(service.available && service.active && service.enabled);
        assert_eq!(service.flow, ServiceFlow::Hpp);
        assert_eq!(service.method_code, "payment_card");
        assert_eq!(service.amount_min.minor(), 100);
        assert_eq!(service.fee.rate.percent_e4(), 25_000);
        assert_eq!(service.fee.fixed_minor, 30);
    }
    assert_eq!(services[1].amount_max.minor(), 50_000_000);
    let stored: Vec<String> = store
        .read(|db| {
            Box::pin(async move {
                db.query(
                    "SELECT code FROM payment_services WHERE route IS NOT NULL ORDER BY code",
                    &[],
                )
                .await
            })
        })
        .await
        .unwrap()
        .iter()
        .map(|row| row.text("code").unwrap())
        .collect();
    assert_eq!(
        stored,
        [
            "payment_card_rub_hpp@backup",
            "payment_card_rub_hpp@main",
            "payment_card_usd_hpp@main"
        ]
    );
    // The catalog's own card service keeps its code.
    let own = store
        .read(|db| Box::pin(catalog::get_service_by_code(db, "payment_card_usd_hpp")))
        .await
        .unwrap()
        .expect("the sandbox's card service");
    assert_eq!(own.route, None);

    // Synced again with other limits, and without the backup route: the same rows change.
    sync(&store, vec![route("main", 0, Currency::RUB, 70_000_000)]).await;
    let again = route_services(&store).await;
    assert_eq!(
        again.iter().map(|service| service.id).collect::<Vec<_>>(),
        services
            .iter()
            .map(|service| service.id)
            .collect::<Vec<_>>(),
        "no row is made twice, none removed"
    );
    let availability: Vec<(Option<&str>, &str, bool, i64)> = again
        .iter()
        .map(|service| {
            (
                service.route.as_deref(),
                service.currency.code(),
                service.available,
                service.amount_max.minor(),
            )
        })
        .collect();
    assert_eq!(
        availability,
        [
            (Some("backup"), "RUB", false, 20_000_000),
            (Some("main"), "RUB", true, 70_000_000),
            (Some("main"), "USD", false, 1_000_000),
        ]
    );
    // A route configured again comes back as it was made.
    sync(
        &store,
        vec![
            route("main", 0, Currency::RUB, 70_000_000),
            route("backup", 1, Currency::RUB, 20_000_000),
        ],
    )
    .await;
    let back = route_services(&store).await;
    assert!(back[0].available && back[0].id == services[0].id);
}

async fn live_merchants_get_the_routes_serving_them(database: TestDatabase) {
    let store = open(&database).await;
    sync(
        &store,
        vec![
            route("main", 0, Currency::RUB, 50_000_000),
            route("main", 0, Currency::USD, 1_000_000),
            route("backup", 1, Currency::RUB, 50_000_000),
            route("backup", 1, Currency::EUR, 1_000_000),
        ],
    )
    .await;
    let live = merchant_in_mode(&store, false).await;
    let test = merchant(&store).await;
    let owned = |pairs: &[(&str, &'static str)]| -> Vec<(String, &'static str)> {
        pairs
            .iter()
            .map(|(route, currency)| ((*route).to_owned(), *currency))
            .collect()
    };
    // None chosen: in each currency the first route serving it.
    assert_eq!(
        routes_of(&store, live).await,
        owned(&[("backup", "EUR"), ("main", "RUB"), ("main", "USD")])
    );
    assert_eq!(
        routes_of(&store, test).await,
        [],
        "a test merchant takes no real money"
    );
    let test_services = store
        .read(move |db| Box::pin(catalog::merchant_services(db, test)))
        .await
        .unwrap();
    assert!(!test_services.is_empty(), "it keeps its sandbox services");

    // Link ids are derived from the pair, the same in every listing.
    let listed = store
        .read(move |db| Box::pin(catalog::merchant_services(db, live)))
        .await
        .unwrap();
    for (link, service) in &listed {
        assert_eq!(
            *link,
            MerchantServiceId::of_route_service(live, service.id),
            "{service:?}"
        );
    }
    let relisted = store
        .read(move |db| Box::pin(catalog::merchant_services(db, live)))
        .await
        .unwrap();
    assert_eq!(listed, relisted);

    // The route the merchant chose, and only it.
    let choose = |acquirer: Option<&'static str>| {
        let store = store.clone();
        async move {
            store
                .write(move |db| {
                    Box::pin(async move { tenancy::set_acquirer(db, live, acquirer, NOW).await })
                })
                .await
                .unwrap();
        }
    };
    choose(Some("backup")).await;
    assert_eq!(
        routes_of(&store, live).await,
        owned(&[("backup", "EUR"), ("backup", "RUB")])
    );
    choose(Some("gone")).await;
    assert_eq!(routes_of(&store, live).await, []);
    choose(None).await;

    // The first route is the first by position, not the first made.
    sync(
        &store,
        vec![
            route("main", 1, Currency::RUB, 50_000_000),
            route("main", 1, Currency::USD, 1_000_000),
            route("backup", 0, Currency::RUB, 50_000_000),
            route("backup", 0, Currency::EUR, 1_000_000),
        ],
    )
    .await;
    assert_eq!(
        routes_of(&store, live).await,
        owned(&[("backup", "EUR"), ("backup", "RUB"), ("main", "USD")])
    );
    // A route no longer configured serves nobody; the next one in its currency takes over.
    sync(&store, vec![route("main", 0, Currency::RUB, 50_000_000)]).await;
    assert_eq!(routes_of(&store, live).await, owned(&[("main", "RUB")]));
}

/// A live payment of the merchant, 100.00 USD, still `created`.
async fn live_payment(store: &Store, merchant: MerchantId) -> Payment {
    let mut draft = draft(merchant, None, 10_000);
    draft.test_mode = false;
    let id = PaymentId::generate(&mut TestRandom::new());
    store
        .write(move |db| {
            Box::pin(async move { payments::insert_payment(db, draft, id, None, NOW).await })
        })
        .await
        .unwrap()
}

async fn transition(
    store: &Store,
    id: &PaymentId,
    event: PaymentEvent,
    actor: Actor,
) -> Result<Payment, StoreError> {
    let id = id.clone();
    store
        .write(move |db| {
            Box::pin(async move {
                payments::transition(db, &id, event, actor, NOW)
                    .await
                    .map(|(payment, _)| payment)
            })
        })
        .await
}

fn sent_to(route: &str, upstream_id: &str) -> PaymentEvent {
    PaymentEvent::SentUpstream {
        route: route.to_owned(),
        upstream_id: upstream_id.to_owned(),
    }
}

async fn get(store: &Store, id: &PaymentId) -> Payment {
    let id = id.clone();
    store
        .read(move |db| Box::pin(async move { payments::get_payment(db, &id).await }))
        .await
        .unwrap()
        .expect("the payment")
}

async fn at_provider(store: &Store, route: &str, upstream_id: &str) -> Option<Payment> {
    let (route, upstream_id) = (route.to_owned(), upstream_id.to_owned());
    store
        .read(move |db| {
            Box::pin(
                async move { upstream::payment_by_upstream_id(db, &route, &upstream_id).await },
            )
        })
        .await
        .unwrap()
}

async fn payments_are_found_by_their_provider_id(database: TestDatabase) {
    let store = open(&database).await;
    let merchant = merchant_in_mode(&store, false).await;
    let created = live_payment(&store, merchant).await;
    let stored = get(&store, &created.id).await;
    assert_eq!(stored, created, "inserted and read back whole");
    assert_eq!(
        (stored.route.clone(), stored.upstream_id.clone()),
        (None, None)
    );
    assert_eq!(at_provider(&store, "main", "up-1").await, None);

    let sent = transition(
        &store,
        &created.id,
        sent_to("main", "up-1"),
        Actor::Customer,
    )
    .await
    .unwrap();
    assert_eq!(sent.route.as_deref(), Some("main"));
    assert_eq!(sent.upstream_id.as_deref(), Some("up-1"));
    assert_eq!(get(&store, &created.id).await, sent);
    assert_eq!(
        at_provider(&store, "main", "up-1").await,
        Some(sent.clone())
    );
    assert_eq!(at_provider(&store, "backup", "up-1").await, None);
    assert_eq!(at_provider(&store, "main", "up-2").await, None);

    // Every later move keeps where it was sent.
    let refused = transition(
        &store,
        &created.id,
        PaymentEvent::Succeeded { card: None },
        Actor::Customer,
    )
    .await;
    assert!(refused.is_err(), "only the provider moves it now");
    let paid = transition(
        &store,
        &created.id,
        PaymentEvent::Succeeded { card: None },
        Actor::Provider,
    )
    .await
    .unwrap();
    assert_eq!(paid.status, PaymentStatus::Processed);
    assert_eq!(
        at_provider(&store, "main", "up-1").await,
        Some(paid.clone())
    );
    let balance = |account: AccountCode| {
        let store = store.clone();
        async move {
            store
                .read(move |db| {
                    Box::pin(async move {
                        ledger::balance(db, &account, Mode::Live, Currency::USD).await
                    })
                })
                .await
                .unwrap()
                .minor()
        }
    };
    assert_eq!(balance(AccountCode::route_clearing("main")).await, -10_000);
    transition(
        &store,
        &created.id,
        PaymentEvent::Refunded {
            amount: obol_core::money::Money::from_minor(4_000, Currency::USD).unwrap(),
        },
        Actor::Provider,
    )
    .await
    .unwrap();
    assert_eq!(balance(AccountCode::route_clearing("main")).await, -6_000);
    assert_eq!(balance(AccountCode::merchant(merchant)).await, 6_000);
    assert_verified(&store).await;
}

async fn one_payment_per_provider_id_and_route(database: TestDatabase) {
    let store = open(&database).await;
    let merchant = merchant_in_mode(&store, false).await;
    let first = live_payment(&store, merchant).await;
    let second = live_payment(&store, merchant).await;
    let third = live_payment(&store, merchant).await;
    transition(&store, &first.id, sent_to("main", "up-1"), Actor::Customer)
        .await
        .unwrap();
    let taken = transition(&store, &second.id, sent_to("main", "up-1"), Actor::Customer).await;
    assert!(
        matches!(taken, Err(StoreError::Unique(UniqueKey::Other(_)))),
        "{taken:?}"
    );
    let untouched = get(&store, &second.id).await;
    assert_eq!(untouched, second, "the refused move left nothing behind");
    assert_eq!(
        at_provider(&store, "main", "up-1")
            .await
            .map(|payment| payment.id.clone()),
        Some(first.id.clone())
    );
    // The same id at another provider is another payment.
    transition(
        &store,
        &second.id,
        sent_to("backup", "up-1"),
        Actor::Customer,
    )
    .await
    .unwrap();
    transition(&store, &third.id, sent_to("main", "up-3"), Actor::Customer)
        .await
        .unwrap();
    assert_eq!(
        at_provider(&store, "backup", "up-1")
            .await
            .map(|payment| payment.id.clone()),
        Some(second.id.clone())
    );
    // Payments never sent share the empty pair freely.
    live_payment(&store, merchant).await;
    live_payment(&store, merchant).await;
}

async fn schedule(store: &Store, id: &PaymentId, due_at: Timestamp, checks: i64) {
    let id = id.clone();
    store
        .write(move |db| {
            Box::pin(async move { upstream::schedule_check(db, &id, due_at, checks).await })
        })
        .await
        .unwrap();
}

async fn due(store: &Store, now: Timestamp, limit: i64) -> Vec<DueCheck> {
    store
        .read(move |db| Box::pin(upstream::due_checks(db, now, limit)))
        .await
        .unwrap()
}

async fn claim(store: &Store, check: &DueCheck, lease_until: Timestamp) -> bool {
    let check = check.clone();
    store
        .write(move |db| {
            Box::pin(async move { upstream::claim_check(db, &check, lease_until).await })
        })
        .await
        .unwrap()
}

fn check(id: &PaymentId, due_at: Timestamp, checks: i64) -> DueCheck {
    DueCheck {
        payment_id: id.clone(),
        due_at,
        checks,
    }
}

async fn checks_are_claimed_once_until_their_lease(database: TestDatabase) {
    let store = open(&database).await;
    let merchant = merchant_in_mode(&store, false).await;
    let mut ids = Vec::new();
    for upstream_id in ["up-a", "up-b", "up-c"] {
        let payment = live_payment(&store, merchant).await;
        transition(
            &store,
            &payment.id,
            sent_to("main", upstream_id),
            Actor::Customer,
        )
        .await
        .unwrap();
        ids.push(payment.id.clone());
    }
    let (a, b, c) = (&ids[0], &ids[1], &ids[2]);
    let at = |seconds: i64| NOW.plus_seconds(seconds);
    schedule(&store, a, at(10), 0).await;
    schedule(&store, b, at(5), 2).await;
    schedule(&store, c, at(100), 0).await;
    assert_eq!(due(&store, at(4), 10).await, []);
    assert_eq!(
        due(&store, at(10), 10).await,
        [check(b, at(5), 2), check(a, at(10), 0)],
        "the oldest first"
    );
    assert_eq!(due(&store, at(10), 1).await, [check(b, at(5), 2)]);

    // Claimed: not due again until its lease runs out, and nobody else's.
    let lease = at(70);
    assert!(claim(&store, &check(b, at(5), 2), lease).await);
    assert!(!claim(&store, &check(b, at(5), 2), lease).await);
    assert_eq!(due(&store, at(10), 10).await, [check(a, at(10), 0)]);
    assert_eq!(due(&store, at(69), 10).await, [check(a, at(10), 0)]);
    assert_eq!(
        due(&store, at(70), 10).await,
        [check(a, at(10), 0), check(b, lease, 2)]
    );

    // Many nodes claiming one due look: one gets it.
    let mut claims = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        let check = check(a, at(10), 0);
        claims.push(tokio::spawn(
            async move { claim(&store, &check, at(40)).await },
        ));
    }
    let mut won = 0;
    for claimed in claims {
        if claimed.await.unwrap() {
            won += 1;
        }
    }
    assert_eq!(won, 1);
    assert_eq!(due(&store, at(39), 10).await, []);

    // Scheduled again: the next look replaces the planned one, and the old one is stale.
    schedule(&store, c, at(300), 7).await;
    assert_eq!(
        due(&store, at(100), 10).await,
        [check(a, at(40), 0), check(b, lease, 2)]
    );
    assert!(!claim(&store, &check(c, at(100), 0), at(400)).await);
    assert!(
        due(&store, at(300), 10)
            .await
            .contains(&check(c, at(300), 7))
    );

    // Finished: never due again, however late; finishing twice is harmless.
    for _ in 0..2 {
        let finished = c.clone();
        store
            .write(move |db| Box::pin(async move { upstream::finish_check(db, &finished).await }))
            .await
            .unwrap();
    }
    assert_eq!(
        due(&store, at(86_400), 10).await,
        [check(a, at(40), 0), check(b, lease, 2)]
    );
}

const ROUTE: &str = "main";

fn refund(
    key: &str,
    payment: &PaymentId,
    amount_minor: i64,
    created_at: Timestamp,
) -> UpstreamRefund {
    UpstreamRefund {
        idempotence_key: key.to_owned(),
        payment_id: payment.clone(),
        route: ROUTE.to_owned(),
        amount_minor,
        state: UpstreamRefundState::Requested,
        upstream_id: None,
        requested_by: "merchant:5".to_owned(),
        booked: false,
        tries: 0,
        next_try_at: None,
        created_at,
    }
}

async fn insert(
    store: &Store,
    refund: &UpstreamRefund,
    retry_at: Timestamp,
) -> Result<(), StoreError> {
    let refund = refund.clone();
    store
        .write(move |db| {
            Box::pin(async move { upstream::insert_refund(db, &refund, retry_at).await })
        })
        .await
}

async fn by_key(store: &Store, key: &str) -> Option<UpstreamRefund> {
    let key = key.to_owned();
    store
        .read(move |db| Box::pin(async move { upstream::refund_by_key(db, &key).await }))
        .await
        .unwrap()
}

async fn by_upstream_id(store: &Store, route: &str, upstream_id: &str) -> Option<UpstreamRefund> {
    let (route, upstream_id) = (route.to_owned(), upstream_id.to_owned());
    store
        .read(move |db| {
            Box::pin(async move { upstream::refund_by_upstream_id(db, &route, &upstream_id).await })
        })
        .await
        .unwrap()
}

async fn update(
    store: &Store,
    key: &str,
    state: UpstreamRefundState,
    upstream_id: Option<&str>,
    next_try_at: Option<Timestamp>,
) {
    let (key, upstream_id) = (key.to_owned(), upstream_id.map(str::to_owned));
    store
        .write(move |db| {
            Box::pin(async move {
                upstream::update_refund(
                    db,
                    &key,
                    state,
                    upstream_id.as_deref(),
                    next_try_at,
                    NOW.plus_seconds(1),
                )
                .await
            })
        })
        .await
        .unwrap();
}

async fn mark_booked(store: &Store, key: &str) -> bool {
    let key = key.to_owned();
    store
        .write(move |db| Box::pin(async move { upstream::mark_refund_booked(db, &key, NOW).await }))
        .await
        .unwrap()
}

async fn refunds_round_trip_and_book_once(database: TestDatabase) {
    let store = open(&database).await;
    let merchant = merchant_in_mode(&store, false).await;
    let payment = live_payment(&store, merchant).await;
    let first = refund("key-1", &payment.id, 3_000, NOW);
    insert(&store, &first, NOW.plus_seconds(60)).await.unwrap();
    let stored = by_key(&store, "key-1").await.expect("recorded");
    assert_eq!(
        stored,
        UpstreamRefund {
            tries: 1,
            next_try_at: Some(NOW.plus_seconds(60)),
            ..first.clone()
        },
        "recorded as one try, due again once its answer could be lost"
    );
    assert_eq!(by_key(&store, "key-2").await, None);
    assert_eq!(by_upstream_id(&store, ROUTE, "re-1").await, None);
    assert!(stored.state.in_flight());

    update(
        &store,
        "key-1",
        UpstreamRefundState::Pending,
        Some("re-1"),
        Some(NOW.plus_seconds(120)),
    )
    .await;
    let pending = by_upstream_id(&store, ROUTE, "re-1")
        .await
        .expect("found by its provider id");
    assert_eq!(pending.idempotence_key, "key-1");
    assert_eq!(pending.state, UpstreamRefundState::Pending);
    assert_eq!(pending.next_try_at, Some(NOW.plus_seconds(120)));
    assert_eq!(by_upstream_id(&store, "backup", "re-1").await, None);

    // An answer without the provider's id keeps the one known.
    update(&store, "key-1", UpstreamRefundState::Succeeded, None, None).await;
    let done = by_key(&store, "key-1").await.unwrap();
    assert_eq!(done.upstream_id.as_deref(), Some("re-1"));
    assert_eq!(done.state, UpstreamRefundState::Succeeded);
    assert_eq!(done.next_try_at, None);
    assert!(!done.state.in_flight());

    assert!(mark_booked(&store, "key-1").await, "booked once");
    assert!(!mark_booked(&store, "key-1").await, "never twice");
    assert!(!mark_booked(&store, "key-unknown").await);
    assert!(by_key(&store, "key-1").await.unwrap().booked);

    // One refund per key, and one per provider id on a route.
    assert!(matches!(
        insert(&store, &first, NOW).await,
        Err(StoreError::Unique(_))
    ));
    let outside = UpstreamRefund {
        upstream_id: Some("re-1".to_owned()),
        state: UpstreamRefundState::Pending,
        ..refund("provider-re-1", &payment.id, 1_000, NOW.plus_seconds(-10))
    };
    assert!(matches!(
        insert(&store, &outside, NOW).await,
        Err(StoreError::Unique(_))
    ));
    let elsewhere = UpstreamRefund {
        route: "backup".to_owned(),
        ..outside.clone()
    };
    insert(&store, &elsewhere, NOW).await.unwrap();
    assert_eq!(
        by_upstream_id(&store, "backup", "re-1")
            .await
            .map(|refund| refund.idempotence_key),
        Some("provider-re-1".to_owned())
    );

    let id = payment.id.clone();
    let of_payment = store
        .read(move |db| Box::pin(async move { upstream::refunds_of_payment(db, &id).await }))
        .await
        .unwrap();
    assert_eq!(
        of_payment
            .iter()
            .map(|refund| refund.idempotence_key.as_str())
            .collect::<Vec<_>>(),
        ["provider-re-1", "key-1"],
        "oldest first"
    );
}

async fn due_refunds(store: &Store, now: Timestamp) -> Vec<String> {
    store
        .read(move |db| Box::pin(upstream::due_refunds(db, now, 10)))
        .await
        .unwrap()
        .into_iter()
        .map(|refund| refund.idempotence_key)
        .collect()
}

async fn refunds_are_retried_by_one_node(database: TestDatabase) {
    let store = open(&database).await;
    let merchant = merchant_in_mode(&store, false).await;
    let payment = live_payment(&store, merchant).await;
    let at = |seconds: i64| NOW.plus_seconds(seconds);
    insert(&store, &refund("late", &payment.id, 1_000, NOW), at(60))
        .await
        .unwrap();
    insert(&store, &refund("soon", &payment.id, 1_000, NOW), at(30))
        .await
        .unwrap();
    insert(&store, &refund("final", &payment.id, 1_000, NOW), at(10))
        .await
        .unwrap();
    update(
        &store,
        "final",
        UpstreamRefundState::Succeeded,
        Some("re-final"),
        None,
    )
    .await;
    assert_eq!(due_refunds(&store, at(29)).await, Vec::<String>::new());
    assert_eq!(due_refunds(&store, at(60)).await, ["soon", "late"]);

    let soon = by_key(&store, "soon").await.unwrap();
    let take = |refund: UpstreamRefund, lease_until: Timestamp| {
        let store = store.clone();
        async move {
            store
                .write(move |db| {
                    Box::pin(async move { upstream::claim_refund(db, &refund, lease_until).await })
                })
                .await
                .unwrap()
        }
    };
    assert!(take(soon.clone(), at(90)).await);
    assert!(
        !take(soon.clone(), at(90)).await,
        "the row it read is stale now"
    );
    let claimed = by_key(&store, "soon").await.unwrap();
    assert_eq!((claimed.tries, claimed.next_try_at), (2, Some(at(90))));
    assert_eq!(due_refunds(&store, at(60)).await, ["late"]);
    assert_eq!(due_refunds(&store, at(90)).await, ["late", "soon"]);
    let final_refund = by_key(&store, "final").await.unwrap();
    assert!(
        !take(final_refund, at(90)).await,
        "a final refund is never tried again"
    );
    assert_eq!(by_key(&store, "final").await.unwrap().tries, 1);
}

on_both_backends!(
    route_services_follow_the_configuration,
    live_merchants_get_the_routes_serving_them,
    payments_are_found_by_their_provider_id,
    one_payment_per_provider_id_and_route,
    checks_are_claimed_once_until_their_lease,
    refunds_round_trip_and_book_once,
    refunds_are_retried_by_one_node,
);
