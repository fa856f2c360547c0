//! Replacing and withdrawing credentials, on both backends: a merchant's `api_secret` (and the
//! bearer tokens bought with it), its callback secret and the day of overlap, a manager's token
//! and disabling a manager, and Softline's refresh tokens used once even when two requests race.

use std::sync::Arc;

use obol_core::credentials::SecretDigest;
use obol_core::credentials::rotation::{
    ApiSecretRotation, CALLBACK_SECRET_OVERLAP_SECONDS, CallbackSecretRotation,
};
use obol_core::ids::{ManagerId, MerchantId, ROOT_RESELLER};
use obol_core::tenancy::Role;

use crate::error::Entity;
use crate::on_both_backends;
use crate::ops::{bearer, credentials, migrate, tenancy};
use crate::testing::TestDatabase;
use crate::{Store, StoreError, params};

use super::{NOW, merchant, name, open};

const HOUR: i64 = 3600;

async fn issue_pair(store: &Store, merchant: MerchantId, token: &'static str) {
    store
        .write(move |db| {
            Box::pin(bearer::issue(
                db,
                merchant,
                SecretDigest::of(token),
                SecretDigest::of(&format!("{token}-refresh")),
                NOW.plus_seconds(24 * HOUR),
                NOW.plus_seconds(30 * 24 * HOUR),
                NOW,
            ))
        })
        .await
        .unwrap();
}

async fn holder_of(store: &Store, token: &'static str) -> Option<MerchantId> {
    store
        .read(move |db| {
            Box::pin(async move {
                bearer::merchant_of_token(db, SecretDigest::of(token), NOW.plus_seconds(60)).await
            })
        })
        .await
        .unwrap()
        .map(|merchant| merchant.id)
}

async fn refresh(store: &Store, refresh: String) -> Option<MerchantId> {
    store
        .write(move |db| {
            Box::pin(async move {
                bearer::consume_refresh(db, SecretDigest::of(&refresh), NOW.plus_seconds(60)).await
            })
        })
        .await
        .unwrap()
}

async fn secret_accepted(store: &Store, merchant: MerchantId, secret: &'static str) -> bool {
    store
        .read(move |db| {
            Box::pin(async move {
                let login = tenancy::get_merchant(db, merchant).await?.api_login;
                tenancy::find_merchant_by_login(db, &login).await
            })
        })
        .await
        .unwrap()
        .is_some_and(|(_, digest)| digest.matches(secret))
}

async fn rotating_the_api_secret_revokes_the_tokens_bought_with_it(database: TestDatabase) {
    let store = open(&database).await;
    let shop = merchant(&store).await;
    let other = merchant(&store).await;
    issue_pair(&store, shop, "first").await;
    issue_pair(&store, shop, "second").await;
    issue_pair(&store, other, "other").await;
    assert!(secret_accepted(&store, shop, "sk_test_secret").await);
    assert_eq!(holder_of(&store, "first").await, Some(shop));

    let at = NOW.plus_seconds(60);
    let rotated = store
        .write(move |db| {
            Box::pin(credentials::rotate_api_secret(
                db,
                shop,
                SecretDigest::of("sk_test_new"),
                ApiSecretRotation::at(at),
            ))
        })
        .await
        .unwrap();
    assert_eq!(rotated.id, shop);
    assert!(
        !secret_accepted(&store, shop, "sk_test_secret").await,
        "the old secret stops"
    );
    assert!(secret_accepted(&store, shop, "sk_test_new").await);
    for token in ["first", "second"] {
        assert_eq!(holder_of(&store, token).await, None, "{token} is revoked");
    }
    assert_eq!(
        refresh(&store, "first-refresh".into()).await,
        None,
        "so are the refresh tokens"
    );
    assert_eq!(
        holder_of(&store, "other").await,
        Some(other),
        "another merchant's tokens stay"
    );
    issue_pair(&store, shop, "after").await;
    assert_eq!(
        holder_of(&store, "after").await,
        Some(shop),
        "tokens bought with the new secret work"
    );

    let missing = store
        .write(move |db| {
            Box::pin(credentials::rotate_api_secret(
                db,
                MerchantId::new(999_999),
                SecretDigest::of("x"),
                ApiSecretRotation::at(at),
            ))
        })
        .await;
    assert!(matches!(
        missing,
        Err(StoreError::NotFound(Entity::Merchant))
    ));
}

async fn secrets_at(
    store: &Store,
    merchant: MerchantId,
    seconds: i64,
) -> (Vec<u8>, Option<Vec<u8>>) {
    store
        .read(move |db| {
            Box::pin(tenancy::merchant_callback_secrets(
                db,
                merchant,
                NOW.plus_seconds(seconds),
            ))
        })
        .await
        .unwrap()
}

async fn rotate_callback(store: &Store, merchant: MerchantId, sealed: Vec<u8>, seconds: i64) {
    store
        .write(move |db| {
            Box::pin(credentials::rotate_callback_secret(
                db,
                merchant,
                sealed,
                CallbackSecretRotation::at(NOW.plus_seconds(seconds)),
            ))
        })
        .await
        .unwrap();
}

async fn the_previous_callback_secret_signs_for_a_day(database: TestDatabase) {
    let store = open(&database).await;
    let shop = merchant(&store).await;
    let original = vec![1, 2, 3, 4, 5, 6];
    assert_eq!(secrets_at(&store, shop, 0).await, (original.clone(), None));
    rotate_callback(&store, shop, vec![7], 0).await;
    assert_eq!(
        secrets_at(&store, shop, 0).await,
        (vec![7], Some(original.clone()))
    );
    assert_eq!(
        secrets_at(&store, shop, CALLBACK_SECRET_OVERLAP_SECONDS - 1).await,
        (vec![7], Some(original.clone())),
        "still within the day"
    );
    assert_eq!(
        secrets_at(&store, shop, CALLBACK_SECRET_OVERLAP_SECONDS).await,
        (vec![7], None),
        "a day later only the new secret signs"
    );
    // A second rotation keeps the secret it replaces, for a day from then.
    rotate_callback(&store, shop, vec![8], HOUR).await;
    assert_eq!(
        secrets_at(&store, shop, CALLBACK_SECRET_OVERLAP_SECONDS + HOUR - 1).await,
        (vec![8], Some(vec![7]))
    );
    let missing = store
        .write(|db| {
            Box::pin(credentials::rotate_callback_secret(
                db,
                MerchantId::new(999_999),
                vec![9],
                CallbackSecretRotation::at(NOW),
            ))
        })
        .await;
    assert!(matches!(
        missing,
        Err(StoreError::NotFound(Entity::Merchant))
    ));
}

async fn manager_by(store: &Store, token: &'static str) -> Option<ManagerId> {
    store
        .read(move |db| {
            Box::pin(
                async move { tenancy::find_manager_by_token(db, SecretDigest::of(token)).await },
            )
        })
        .await
        .unwrap()
        .map(|(manager, _)| manager.id)
}

async fn a_managers_token_is_rotated_and_the_manager_disabled(database: TestDatabase) {
    let store = open(&database).await;
    let manager = store
        .write(|db| {
            Box::pin(tenancy::create_manager(
                db,
                ROOT_RESELLER,
                Role::Admin,
                name("Ann"),
                SecretDigest::of("token-1"),
                NOW,
            ))
        })
        .await
        .unwrap()
        .id;
    let before = store
        .read(move |db| Box::pin(credentials::manager_standing(db, manager)))
        .await
        .unwrap();
    assert_eq!(before.token_generation, 1);
    assert!(before.accepts_token());
    assert_eq!(manager_by(&store, "token-1").await, Some(manager));

    let rotated = store
        .write(move |db| {
            Box::pin(credentials::rotate_manager_token(
                db,
                manager,
                SecretDigest::of("token-2"),
            ))
        })
        .await
        .unwrap();
    assert_eq!(rotated.token_generation, 2);
    assert_eq!(
        manager_by(&store, "token-1").await,
        None,
        "the old token stops"
    );
    assert_eq!(manager_by(&store, "token-2").await, Some(manager));
    assert!(
        !rotated.session_stands(before.token_generation),
        "a session of the old token ends"
    );

    let at = NOW.plus_seconds(60);
    let disabled = store
        .write(move |db| Box::pin(credentials::disable_manager(db, manager, at)))
        .await
        .unwrap();
    assert_eq!(disabled.disabled_at, Some(at));
    assert_eq!(
        manager_by(&store, "token-2").await,
        None,
        "a disabled manager's token stops"
    );
    let standing = store
        .read(move |db| Box::pin(credentials::manager_standing(db, manager)))
        .await
        .unwrap();
    assert!(!standing.session_stands(standing.token_generation));
    let again = store
        .write(move |db| {
            Box::pin(credentials::disable_manager(
                db,
                manager,
                at.plus_seconds(60),
            ))
        })
        .await
        .unwrap();
    assert_eq!(
        again.disabled_at,
        Some(at),
        "disabling again keeps the first time"
    );
    store
        .write(move |db| {
            Box::pin(credentials::rotate_manager_token(
                db,
                manager,
                SecretDigest::of("token-3"),
            ))
        })
        .await
        .unwrap();
    assert_eq!(
        manager_by(&store, "token-3").await,
        None,
        "a rotation does not enable a disabled manager"
    );

    let unknown = ManagerId::new(999_999);
    let rotate = store
        .write(move |db| {
            Box::pin(credentials::rotate_manager_token(
                db,
                unknown,
                SecretDigest::of("x"),
            ))
        })
        .await;
    assert!(matches!(rotate, Err(StoreError::NotFound(Entity::Manager))));
    let disable = store
        .write(move |db| Box::pin(credentials::disable_manager(db, unknown, NOW)))
        .await;
    assert!(matches!(
        disable,
        Err(StoreError::NotFound(Entity::Manager))
    ));
}

/// Requests racing with one refresh token (at most the PostgreSQL pool's size, since on
/// PostgreSQL every one holds its transaction open until all have begun).
const RACERS: usize = 8;

/// A refresh in its own transaction. With `gate` (PostgreSQL) the transaction first waits
/// until every racer has begun its own, so all the statements meet in the database at once:
/// a check made by reading and then writing would let several through here.
async fn refresh_racing(
    store: &Store,
    refresh: &'static str,
    gate: Option<Arc<tokio::sync::Barrier>>,
) -> Option<MerchantId> {
    store
        .write(move |db| {
            Box::pin(async move {
                if let Some(gate) = gate {
                    db.execute("SELECT 1", &[]).await?;
                    gate.wait().await;
                }
                bearer::consume_refresh(db, SecretDigest::of(refresh), NOW.plus_seconds(60)).await
            })
        })
        .await
        .unwrap()
}

async fn a_refresh_token_works_once_even_when_requests_race(database: TestDatabase) {
    let store = open(&database).await;
    let shop = merchant(&store).await;
    issue_pair(&store, shop, "older").await;
    issue_pair(&store, shop, "raced").await;
    // SQLite's one writer takes each write in turn (an operation may not wait inside it), so
    // there the racers are only released together; PostgreSQL runs them side by side.
    let start = Arc::new(tokio::sync::Barrier::new(RACERS));
    let gate = (store.backend() == crate::Backend::Postgres)
        .then(|| Arc::new(tokio::sync::Barrier::new(RACERS)));
    let racers: Vec<_> = (0..RACERS)
        .map(|_| {
            let (store, start, gate) = (store.clone(), start.clone(), gate.clone());
            tokio::spawn(async move {
                start.wait().await;
                refresh_racing(&store, "raced-refresh", gate).await
            })
        })
        .collect();
    let mut winners = 0;
    for racer in racers {
        if let Some(merchant) = racer.await.unwrap() {
            assert_eq!(merchant, shop);
            winners += 1;
        }
    }
    assert_eq!(winners, 1, "exactly one refresh wins");
    assert_eq!(refresh(&store, "raced-refresh".into()).await, None);
    assert_eq!(
        holder_of(&store, "raced").await,
        Some(shop),
        "the access token issued with it keeps working"
    );
    assert_eq!(
        holder_of(&store, "older").await,
        Some(shop),
        "so do older tokens"
    );
    assert_eq!(
        refresh(&store, "older-refresh".into()).await,
        Some(shop),
        "and their own refresh tokens"
    );
    store
        .write(move |db| {
            Box::pin(bearer::issue(
                db,
                shop,
                SecretDigest::of("late"),
                SecretDigest::of("late-refresh"),
                NOW.plus_seconds(10),
                NOW.plus_seconds(20),
                NOW,
            ))
        })
        .await
        .unwrap();
    assert_eq!(
        refresh(&store, "late-refresh".into()).await,
        None,
        "an expired refresh token is refused"
    );
}

/// A database made before migration 11 keeps its managers and tokens working after it.
async fn credentials_made_before_the_migration_keep_working(database: TestDatabase) {
    let store = Store::open(&database.url).await.expect("open");
    store
        .write(|db| Box::pin(migrate::migrate_up_to(db, NOW, 8)))
        .await
        .unwrap();
    let shop = merchant(&store).await;
    store
        .write(move |db| {
            Box::pin(async move {
                db.execute(
                    "INSERT INTO managers (reseller_id, role, name, token_digest, created_at) VALUES (1, 'admin', 'Old', $1, 0)",
                    params![SecretDigest::of("old-manager").as_bytes().to_vec()],
                )
                .await?;
                db.execute(
                    "INSERT INTO bearer_tokens (merchant_id, token_digest, refresh_digest, expires_at, refresh_expires_at, created_at) \
                     VALUES ($1, $2, $3, $4, $5, 0)",
                    params![
                        shop.get(),
                        SecretDigest::of("old").as_bytes().to_vec(),
                        SecretDigest::of("old-refresh").as_bytes().to_vec(),
                        NOW.plus_seconds(HOUR).unix_micros(),
                        NOW.plus_seconds(2 * HOUR).unix_micros()
                    ],
                )
                .await?;
                Ok(())
            })
        })
        .await
        .unwrap();
    let applied = store.migrate(NOW).await.unwrap();
    assert!(applied.contains(&11), "{applied:?}");
    let manager = manager_by(&store, "old-manager")
        .await
        .expect("still accepted");
    let standing = store
        .read(move |db| Box::pin(credentials::manager_standing(db, manager)))
        .await
        .unwrap();
    assert_eq!(standing.token_generation, 1);
    assert_eq!(standing.disabled_at, None);
    assert_eq!(holder_of(&store, "old").await, Some(shop));
    assert_eq!(refresh(&store, "old-refresh".into()).await, Some(shop));
    assert_eq!(refresh(&store, "old-refresh".into()).await, None);
    assert_eq!(holder_of(&store, "old").await, Some(shop));
}

on_both_backends!(
    rotating_the_api_secret_revokes_the_tokens_bought_with_it,
    the_previous_callback_secret_signs_for_a_day,
    a_managers_token_is_rotated_and_the_manager_disabled,
    a_refresh_token_works_once_even_when_requests_race,
    credentials_made_before_the_migration_keep_working,
);
