//! Resellers, merchants and their credentials.

use crate::StoreError;
use crate::on_both_backends;
use crate::ops::{catalog, tenancy};
use crate::testing::{TestDatabase, TestRandom};
use obol_core::credentials::{IssuedSecret, SecretDigest};
use obol_core::ids::{ROOT_RESELLER, ResellerId, Uuid};
use obol_core::tenancy::Role;

use super::{NOW, merchant, name, open};

async fn reseller_tree_and_credentials(database: TestDatabase) {
    let store = open(&database).await;
    let child = store
        .write(|db| {
            Box::pin(tenancy::create_reseller(
                db,
                name("Child"),
                ROOT_RESELLER,
                NOW,
            ))
        })
        .await
        .unwrap();
    let grandchild = store
        .write(move |db| {
            Box::pin(tenancy::create_reseller(
                db,
                name("Grandchild"),
                child.id,
                NOW,
            ))
        })
        .await
        .unwrap();
    assert!(grandchild.is_within(ROOT_RESELLER) && grandchild.is_within(child.id));
    assert_eq!(
        grandchild.ancestry.ids(),
        &[ROOT_RESELLER, child.id, grandchild.id]
    );
    let missing = store
        .write(|db| {
            Box::pin(tenancy::create_reseller(
                db,
                name("Orphan"),
                ResellerId::new(999_999),
                NOW,
            ))
        })
        .await;
    assert!(matches!(
        missing,
        Err(StoreError::NotFound(crate::error::Entity::Reseller))
    ));

    let token = IssuedSecret::generate(&mut TestRandom::new(), "");
    let digest = token.digest();
    let manager = store
        .write(move |db| {
            Box::pin(tenancy::create_manager(
                db,
                grandchild.id,
                Role::Viewer,
                name("Ann"),
                digest,
                NOW,
            ))
        })
        .await
        .unwrap();
    let found = store
        .read(move |db| Box::pin(tenancy::find_manager_by_token(db, digest)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.0, manager);
    assert!(found.1.is_within(child.id));
    let wrong = SecretDigest::of("not-the-token");
    assert!(
        store
            .read(move |db| Box::pin(tenancy::find_manager_by_token(db, wrong)))
            .await
            .unwrap()
            .is_none()
    );

    let merchant_id = merchant(&store).await;
    let shop = store
        .read(move |db| Box::pin(tenancy::get_merchant(db, merchant_id)))
        .await
        .unwrap();
    let login = shop.api_login.clone();
    let (found, secret) = store
        .read(move |db| Box::pin(async move { tenancy::find_merchant_by_login(db, &login).await }))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, merchant_id);
    assert!(secret.matches("sk_test_secret") && !secret.matches("sk_test_other"));
    let services = store
        .read(move |db| Box::pin(catalog::merchant_services(db, merchant_id)))
        .await
        .unwrap();
    assert_eq!(
        services.len(),
        8,
        "a test-mode merchant gets every sandbox service"
    );

    let account = store
        .write(move |db| {
            Box::pin(tenancy::create_customer_account(
                db,
                child.id,
                name("Payer"),
                NOW,
            ))
        })
        .await
        .unwrap();
    assert_eq!(account.reseller_id, child.id);
    let key = Uuid::generate_v4(&mut TestRandom::new());
    let key = obol_core::credentials::SecretDigest::of(key.as_str());
    let client = store
        .write(move |db| {
            Box::pin(async move {
                tenancy::create_p2p_client(db, &key, name("Wallet"), vec![9; 40], true, NOW).await
            })
        })
        .await
        .unwrap();
    assert!(client.require_signed_requests);
    // The same client key again hits the key's unique index: a typed conflict on both backends.
    let again = store
        .write(move |db| {
            Box::pin(async move {
                tenancy::create_p2p_client(db, &key, name("Wallet 2"), vec![9; 40], true, NOW).await
            })
        })
        .await;
    assert!(matches!(again, Err(StoreError::Conflict)), "{again:?}");
}

on_both_backends!(reseller_tree_and_credentials);
