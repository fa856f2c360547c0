//! Resellers, managers, merchants, customer accounts and P2P clients.

use obol_core::credentials::SecretDigest;
use obol_core::credentials::rotation::{ManagerStanding, previous_callback_secret_signs};
use obol_core::ids::{
    CustomerAccountId, ManagerId, MerchantId, MerchantServiceId, P2pClientId, RandomSource,
    ResellerId,
};
use obol_core::tenancy::{
    Ancestry, CustomerAccount, Manager, Merchant, MerchantSettings, Name, P2pClient, Reseller, Role,
};
use obol_core::time::Timestamp;

use super::{corrupt, opt_timestamp, parse_or_corrupt, timestamp};
use crate::db::{Db, query_one, query_opt};
use crate::error::{Entity, StoreError, StoreResult, UniqueKey};
use crate::params;
use crate::value::Row;

pub(crate) const RESELLER_COLUMNS: &str = "id, parent_id, name, ancestry, created_at, updated_at";

pub(crate) fn reseller_from_row(row: &Row) -> StoreResult<Reseller> {
    Ok(Reseller {
        id: ResellerId::new(row.int("id")?),
        parent_id: row.opt_int("parent_id")?.map(ResellerId::new),
        name: parse_or_corrupt(Name::parse(row.str("name")?), "reseller name")?,
        ancestry: Ancestry::decode(row.str("ancestry")?)
            .ok_or_else(|| corrupt("reseller ancestry"))?,
        created_at: timestamp(row.int("created_at")?),
        updated_at: timestamp(row.int("updated_at")?),
    })
}

pub async fn get_reseller(db: &mut dyn Db, id: ResellerId) -> StoreResult<Reseller> {
    let sql = format!("SELECT {RESELLER_COLUMNS} FROM resellers WHERE id = $1");
    reseller_from_row(&query_one(db, &sql, params![id.get()], Entity::Reseller).await?)
}

pub async fn create_reseller(
    db: &mut dyn Db,
    name: Name,
    parent_id: ResellerId,
    now: Timestamp,
) -> StoreResult<Reseller> {
    let parent = get_reseller(db, parent_id).await?;
    let row = query_one(
        db,
        "INSERT INTO resellers (parent_id, name, ancestry, created_at, updated_at) VALUES ($1, $2, '', $3, $3) RETURNING id",
        params![parent_id.get(), name.as_str(), now.unix_micros()],
        Entity::Reseller,
    )
    .await?;
    let id = ResellerId::new(row.int("id")?);
    let ancestry = parent.ancestry.child(id);
    db.execute(
        "UPDATE resellers SET ancestry = $1 WHERE id = $2",
        params![ancestry.encode(), id.get()],
    )
    .await?;
    Ok(Reseller {
        id,
        parent_id: Some(parent_id),
        name,
        ancestry,
        created_at: now,
        updated_at: now,
    })
}

pub(crate) const MANAGER_COLUMNS: &str = "id, reseller_id, role, name, created_at";

pub(crate) fn manager_from_row(row: &Row) -> StoreResult<Manager> {
    Ok(Manager {
        id: ManagerId::new(row.int("id")?),
        reseller_id: ResellerId::new(row.int("reseller_id")?),
        role: parse_or_corrupt(Role::parse(row.str("role")?), "manager role")?,
        name: parse_or_corrupt(Name::parse(row.str("name")?), "manager name")?,
        created_at: timestamp(row.int("created_at")?),
    })
}

pub async fn create_manager(
    db: &mut dyn Db,
    reseller_id: ResellerId,
    role: Role,
    name: Name,
    token: SecretDigest,
    now: Timestamp,
) -> StoreResult<Manager> {
    get_reseller(db, reseller_id).await?;
    let row = query_one(
        db,
        "INSERT INTO managers (reseller_id, role, name, token_digest, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        params![reseller_id.get(), role.as_str(), name.as_str(), token.as_bytes().to_vec(), now.unix_micros()],
        Entity::Manager,
    )
    .await?;
    Ok(Manager {
        id: ManagerId::new(row.int("id")?),
        reseller_id,
        role,
        name,
        created_at: now,
    })
}

/// The manager holding a token (by its digest) and the ancestry of its reseller, if the token
/// is accepted (the manager is not disabled).
pub async fn find_manager_by_token(
    db: &mut dyn Db,
    token: SecretDigest,
) -> StoreResult<Option<(Manager, Ancestry)>> {
    Ok(find_manager_by_token_with_standing(db, token)
        .await?
        .map(|(manager, ancestry, _)| (manager, ancestry)))
}

/// [`find_manager_by_token`] with where the manager stands: a dashboard sign-in keeps the
/// token's generation, so that the session ends when the token is rotated.
pub async fn find_manager_by_token_with_standing(
    db: &mut dyn Db,
    token: SecretDigest,
) -> StoreResult<Option<(Manager, Ancestry, ManagerStanding)>> {
    let sql = "SELECT m.id, m.reseller_id, m.role, m.name, m.created_at, m.disabled_at, m.token_generation, r.ancestry \
               FROM managers m JOIN resellers r ON r.id = m.reseller_id WHERE m.token_digest = $1";
    let Some(row) = query_opt(db, sql, params![token.as_bytes().to_vec()]).await? else {
        return Ok(None);
    };
    let standing = ManagerStanding {
        disabled_at: opt_timestamp(row.opt_int("disabled_at")?),
        token_generation: row.int("token_generation")?,
    };
    if !standing.accepts_token() {
        return Ok(None);
    }
    let ancestry =
        Ancestry::decode(row.str("ancestry")?).ok_or_else(|| corrupt("reseller ancestry"))?;
    Ok(Some((manager_from_row(&row)?, ancestry, standing)))
}

pub async fn get_manager(db: &mut dyn Db, id: ManagerId) -> StoreResult<Manager> {
    let sql = format!("SELECT {MANAGER_COLUMNS} FROM managers WHERE id = $1");
    manager_from_row(&query_one(db, &sql, params![id.get()], Entity::Manager).await?)
}

/// What creating a merchant needs; secrets arrive already digested or encrypted.
pub struct NewMerchant {
    pub reseller_id: ResellerId,
    pub name: Name,
    pub test_mode: bool,
    pub public_key: String,
    pub api_login: String,
    pub api_secret: SecretDigest,
    pub callback_secret_encrypted: Vec<u8>,
    pub settings: MerchantSettings,
}

pub(crate) const MERCHANT_COLUMNS: &str = "id, reseller_id, name, test_mode, public_key, api_login, forbid_public_access, webhook_url, default_locale, acquirer, created_at";

pub(crate) fn merchant_from_row(row: &Row) -> StoreResult<Merchant> {
    Ok(Merchant {
        id: MerchantId::new(row.int("id")?),
        reseller_id: ResellerId::new(row.int("reseller_id")?),
        name: parse_or_corrupt(Name::parse(row.str("name")?), "merchant name")?,
        test_mode: row.bool("test_mode")?,
        public_key: row.text("public_key")?,
        api_login: row.text("api_login")?,
        settings: MerchantSettings {
            forbid_public_access: row.bool("forbid_public_access")?,
            webhook_url: row.opt_text("webhook_url")?,
            default_locale: row.text("default_locale")?,
            acquirer: row.opt_text("acquirer")?,
        },
        created_at: timestamp(row.int("created_at")?),
    })
}

/// Creates a merchant; one in test mode gets every sandbox service enabled.
pub async fn create_merchant(
    db: &mut dyn Db,
    new: NewMerchant,
    random: &mut (dyn RandomSource + Send),
    now: Timestamp,
) -> StoreResult<Merchant> {
    get_reseller(db, new.reseller_id).await?;
    let row = query_one(
        db,
        "INSERT INTO merchants (reseller_id, name, test_mode, public_key, api_login, api_secret_digest, callback_secret_enc, forbid_public_access, \
         webhook_url, default_locale, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) RETURNING id",
        params![
            new.reseller_id.get(),
            new.name.as_str(),
            new.test_mode,
            new.public_key.as_str(),
            new.api_login.as_str(),
            new.api_secret.as_bytes().to_vec(),
            new.callback_secret_encrypted,
            new.settings.forbid_public_access,
            new.settings.webhook_url.clone(),
            new.settings.default_locale.as_str(),
            now.unix_micros()
        ],
        Entity::Merchant,
    )
    .await?;
    let id = MerchantId::new(row.int("id")?);
    if new.test_mode {
        let services = db
            .query(
                "SELECT id FROM payment_services WHERE test_mode = TRUE ORDER BY id",
                &[],
            )
            .await?;
        for service in services {
            let link = MerchantServiceId::generate(random);
            db.execute(
                "INSERT INTO merchant_services (id, merchant_id, service_id, enabled, created_at) VALUES ($1, $2, $3, TRUE, $4)",
                params![link.as_str(), id.get(), service.int("id")?, now.unix_micros()],
            )
            .await?;
        }
    }
    Ok(Merchant {
        id,
        reseller_id: new.reseller_id,
        name: new.name,
        test_mode: new.test_mode,
        public_key: new.public_key,
        api_login: new.api_login,
        settings: new.settings,
        created_at: now,
    })
}

/// Names the live route that settles a merchant's live payments (`None`: the first route
/// serving each payment's currency). Whether the name is a configured route is the caller's
/// to check: routes live in the configuration, not in the database.
pub async fn set_acquirer(
    db: &mut dyn Db,
    id: MerchantId,
    acquirer: Option<&str>,
    now: Timestamp,
) -> StoreResult<Merchant> {
    let changed = db
        .execute(
            "UPDATE merchants SET acquirer = $1, updated_at = $2 WHERE id = $3",
            params![acquirer.map(str::to_owned), now.unix_micros(), id.get()],
        )
        .await?;
    if changed == 0 {
        return Err(StoreError::NotFound(Entity::Merchant));
    }
    get_merchant(db, id).await
}

pub async fn get_merchant(db: &mut dyn Db, id: MerchantId) -> StoreResult<Merchant> {
    let sql = format!("SELECT {MERCHANT_COLUMNS} FROM merchants WHERE id = $1");
    merchant_from_row(&query_one(db, &sql, params![id.get()], Entity::Merchant).await?)
}

/// Where a merchant's callbacks go by default: one column, read inside the writes that enqueue
/// callbacks (every creation asks, so it reads nothing else).
pub async fn merchant_webhook_url(db: &mut dyn Db, id: MerchantId) -> StoreResult<Option<String>> {
    query_one(
        db,
        "SELECT webhook_url FROM merchants WHERE id = $1",
        params![id.get()],
        Entity::Merchant,
    )
    .await?
    .opt_text("webhook_url")
}

/// A merchant by its API login, with the digest its secret must match.
pub async fn find_merchant_by_login(
    db: &mut dyn Db,
    login: &str,
) -> StoreResult<Option<(Merchant, SecretDigest)>> {
    let sql =
        format!("SELECT {MERCHANT_COLUMNS}, api_secret_digest FROM merchants WHERE api_login = $1");
    let Some(row) = query_opt(db, &sql, params![login]).await? else {
        return Ok(None);
    };
    let digest = SecretDigest::try_from_slice(&row.blob("api_secret_digest")?)
        .ok_or_else(|| corrupt("secret digest"))?;
    Ok(Some((merchant_from_row(&row)?, digest)))
}

pub async fn find_merchant_by_public_key(
    db: &mut dyn Db,
    public_key: &str,
) -> StoreResult<Option<Merchant>> {
    let sql = format!("SELECT {MERCHANT_COLUMNS} FROM merchants WHERE public_key = $1");
    query_opt(db, &sql, params![public_key])
        .await?
        .map(|row| merchant_from_row(&row))
        .transpose()
}

/// The merchant's callback secret, still encrypted under the operator key.
pub async fn merchant_callback_secret(db: &mut dyn Db, id: MerchantId) -> StoreResult<Vec<u8>> {
    query_one(
        db,
        "SELECT callback_secret_enc FROM merchants WHERE id = $1",
        params![id.get()],
        Entity::Merchant,
    )
    .await?
    .blob("callback_secret_enc")
}

pub async fn create_customer_account(
    db: &mut dyn Db,
    reseller_id: ResellerId,
    name: Name,
    now: Timestamp,
) -> StoreResult<CustomerAccount> {
    get_reseller(db, reseller_id).await?;
    let row = query_one(
        db,
        "INSERT INTO customer_accounts (reseller_id, name, created_at) VALUES ($1, $2, $3) RETURNING id",
        params![reseller_id.get(), name.as_str(), now.unix_micros()],
        Entity::CustomerAccount,
    )
    .await?;
    Ok(CustomerAccount {
        id: CustomerAccountId::new(row.int("id")?),
        reseller_id,
        name,
        created_at: now,
    })
}

pub async fn get_customer_account(
    db: &mut dyn Db,
    id: CustomerAccountId,
) -> StoreResult<CustomerAccount> {
    let row = query_one(
        db,
        "SELECT id, reseller_id, name, created_at FROM customer_accounts WHERE id = $1",
        params![id.get()],
        Entity::CustomerAccount,
    )
    .await?;
    Ok(CustomerAccount {
        id: CustomerAccountId::new(row.int("id")?),
        reseller_id: ResellerId::new(row.int("reseller_id")?),
        name: parse_or_corrupt(Name::parse(row.str("name")?), "account name")?,
        created_at: timestamp(row.int("created_at")?),
    })
}

/// A new P2P client, found from now on by the digest of its `clientId` (the clear id is shown
/// once, by the caller, and stored nowhere).
pub async fn create_p2p_client(
    db: &mut dyn Db,
    client_key: &SecretDigest,
    name: Name,
    signing_key_encrypted: Vec<u8>,
    require_signed_requests: bool,
    now: Timestamp,
) -> StoreResult<P2pClient> {
    let row = query_one(
        db,
        "INSERT INTO p2p_clients (client_key_digest, name, signing_key_enc, require_signed_requests, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        params![super::p2p::digest_text(client_key), name.as_str(), signing_key_encrypted, require_signed_requests, now.unix_micros()],
        Entity::P2pClient,
    )
    .await
    .map_err(|error| if matches!(error, StoreError::Unique(UniqueKey::P2pClientKey)) { StoreError::Conflict } else { error })?;
    Ok(P2pClient {
        id: P2pClientId::new(row.int("id")?),
        name,
        require_signed_requests,
        created_at: now,
    })
}

/// The merchant's callback secrets, sealed: the current one, and the previous one while it
/// still signs after a rotation (the core's overlap).
pub async fn merchant_callback_secrets(
    db: &mut dyn Db,
    id: MerchantId,
    now: Timestamp,
) -> StoreResult<(Vec<u8>, Option<Vec<u8>>)> {
    let row = query_one(
        db,
        "SELECT callback_secret_enc, previous_callback_secret_enc, previous_callback_secret_until FROM merchants WHERE id = $1",
        params![id.get()],
        Entity::Merchant,
    )
    .await?;
    let previous = match (
        row.opt_blob("previous_callback_secret_enc")?,
        opt_timestamp(row.opt_int("previous_callback_secret_until")?),
    ) {
        (Some(secret), Some(until)) if previous_callback_secret_signs(until, now) => Some(secret),
        _ => None,
    };
    Ok((row.blob("callback_secret_enc")?, previous))
}
