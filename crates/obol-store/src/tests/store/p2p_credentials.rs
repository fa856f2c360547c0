//! P2P credentials at rest: spent signed-request tokens and card-form links are taken once,
//! also by requests that race, and the lifecycle sweep removes them once they ran out.

use obol_core::credentials::SecretDigest;
use obol_core::ids::{P2pClientId, Uuid};
use obol_core::p2p::{CardForm, P2pCard, P2pUserId, SessionScope};
use obol_core::payment::CardPayload;

use super::{NOW, name, open};
use crate::ops::{p2p, tenancy};
use crate::testing::{TestDatabase, TestRandom};
use crate::{Store, StoreError, on_both_backends};

async fn client(store: &Store) -> P2pClientId {
    store
        .write(|db| {
            Box::pin(async move {
                let key = SecretDigest::of(Uuid::generate_v4(&mut TestRandom::new()).as_str());
                tenancy::create_p2p_client(db, &key, name("Wallet"), vec![1], false, NOW).await
            })
        })
        .await
        .unwrap()
        .id
}

fn card(client: P2pClientId, user: Option<&str>) -> P2pCard {
    P2pCard {
        id: Uuid::generate_v4(&mut TestRandom::new()),
        client_id: client,
        user_id: user.map(|user| P2pUserId::parse(user).unwrap()),
        token: "vt".to_owned(),
        payload: CardPayload {
            first6: "411111".to_owned(),
            last4: "1111".to_owned(),
            brand: "visa".to_owned(),
            issuer: None,
            expiry_month: 12,
            expiry_year: 2030,
            holder: None,
        },
        created_at: NOW,
    }
}

async fn count(store: &Store, table: &'static str) -> i64 {
    store
        .read(move |db| {
            Box::pin(async move {
                db.query(&format!("SELECT COUNT(*) FROM {table}"), &[])
                    .await?[0]
                    .int(0)
            })
        })
        .await
        .unwrap()
}

async fn a_signed_request_token_is_spent_once(database: TestDatabase) {
    let store = open(&database).await;
    let token = SecretDigest::of("1:header.payload");
    // Two nodes (or two connections of one) accept the same token at once: one wins.
    let spend = || {
        let store = store.clone();
        async move {
            store
                .write(move |db| {
                    Box::pin(async move {
                        p2p::spend_request_token(db, &token, NOW.plus_seconds(21)).await
                    })
                })
                .await
                .unwrap()
        }
    };
    let (first, second) = tokio::join!(spend(), spend());
    assert!(
        first ^ second,
        "exactly one of two racing requests is accepted"
    );
    assert!(!spend().await, "and the token stays spent");
    let other = SecretDigest::of("1:header.other-payload");
    assert!(
        store
            .write(move |db| Box::pin(async move {
                p2p::spend_request_token(db, &other, NOW.plus_seconds(21)).await
            }))
            .await
            .unwrap()
    );
}

async fn a_card_form_adds_one_card(database: TestDatabase) {
    let store = open(&database).await;
    let client = client(&store).await;
    let form_key = SecretDigest::of("form-token");
    let scope = SessionScope {
        client_id: client,
        user_id: Some(P2pUserId::parse("alice").unwrap()),
    };
    let form = CardForm::issue(&scope, NOW);
    store
        .write(move |db| Box::pin(async move { p2p::create_card_form(db, &form_key, &form).await }))
        .await
        .unwrap();
    let post = |card: P2pCard| {
        let store = store.clone();
        async move {
            store
                .write(move |db| {
                    Box::pin(async move {
                        p2p::add_card_through_form(db, &form_key, &card, NOW.plus_seconds(1)).await
                    })
                })
                .await
        }
    };
    let (first, second) = tokio::join!(
        post(card(client, Some("alice"))),
        post(card(client, Some("alice")))
    );
    assert!(
        first.is_ok() ^ second.is_ok(),
        "one card per link: {first:?} {second:?}"
    );
    for outcome in [&first, &second] {
        if let Err(error) = outcome {
            assert!(matches!(error, StoreError::Conflict), "{error:?}");
        }
    }
    assert_eq!(
        count(&store, "p2p_cards").await,
        1,
        "the loser's card was rolled back"
    );
    let late = post(card(client, Some("alice"))).await;
    assert!(matches!(late, Err(StoreError::Conflict)), "{late:?}");

    // A link that ran out adds nothing either.
    let stale_key = SecretDigest::of("stale-token");
    let stale = CardForm::issue(&scope, NOW.plus_seconds(-15 * 60));
    let new_card = card(client, Some("alice"));
    let outcome = store
        .write(move |db| {
            Box::pin(async move {
                p2p::create_card_form(db, &stale_key, &stale).await?;
                p2p::add_card_through_form(db, &stale_key, &new_card, NOW).await
            })
        })
        .await;
    assert!(matches!(outcome, Err(StoreError::Conflict)), "{outcome:?}");
    assert_eq!(count(&store, "p2p_cards").await, 1);
}

async fn the_sweep_removes_what_ran_out(database: TestDatabase) {
    let store = open(&database).await;
    let client = client(&store).await;
    store
        .write(move |db| {
            Box::pin(async move {
                let scope = SessionScope::whole_client(client);
                for (name, at) in [("old", NOW.plus_seconds(-3600)), ("new", NOW)] {
                    p2p::create_card_form(
                        db,
                        &SecretDigest::of(name),
                        &CardForm::issue(&scope, at),
                    )
                    .await?;
                    p2p::spend_request_token(db, &SecretDigest::of(name), at.plus_seconds(21))
                        .await?;
                    let session = p2p::Session {
                        client_id: client,
                        user_id: None,
                        created_at: at,
                        expires_at: at.plus_seconds(3600),
                    };
                    p2p::create_session(db, &SecretDigest::of(name), &session).await?;
                }
                Ok(())
            })
        })
        .await
        .unwrap();
    let removed = store
        .write(|db| {
            Box::pin(async move { p2p::purge_expired(db, NOW, NOW.plus_seconds(60), 100).await })
        })
        .await
        .unwrap();
    assert_eq!(removed, 3, "the old session, token and form");
    for table in ["p2p_sessions", "p2p_used_tokens", "p2p_card_forms"] {
        assert_eq!(count(&store, table).await, 1, "{table}");
    }
    let found = store
        .read(|db| Box::pin(async move { p2p::find_card_form(db, &SecretDigest::of("new")).await }))
        .await
        .unwrap();
    assert!(found.is_some());
}

on_both_backends!(
    a_signed_request_token_is_spent_once,
    a_card_form_adds_one_card,
    the_sweep_removes_what_ran_out,
);
