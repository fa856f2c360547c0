//! P2P storage: clients' tariffs and signing keys, sessions, stored cards (vault token and
//! what may be shown), hosted card-form links, spent signed-request tokens, transfers and their
//! operations. A transfer is written whole by [`insert_transfer`] and [`update_transfer`]; the
//! update is versioned, so two concurrent steps of one transfer can never both succeed.
//!
//! The credentials of the P2P API — a client's `clientId`, a session's id, a card-form link's
//! token — are kept only as SHA-256 digests (lower-case hex, [`digest_text`]) and found by
//! their index: a copy of the database opens nothing.

use obol_core::Currency;
use obol_core::card::CardExpiry;
use obol_core::credentials::SecretDigest;
use obol_core::fee::{FeeRate, FeeSchedule};
use obol_core::ids::{P2pClientId, ReceiptId, Uuid};
use obol_core::money::Money;
use obol_core::p2p::{
    CardForm, CardRef, Confirmation, Operation, OperationKind, OperationStatus, P2pCard, P2pUserId,
    Transfer, TransferKind, TransferRecord, TransferStatus,
};
use obol_core::payment::{CardPayload, Resolution};
use obol_core::tenancy::{Name, P2pClient};
use obol_core::time::Timestamp;

use super::{corrupt, opt_timestamp, parse_or_corrupt, timestamp};
use crate::db::{Backend, Db, query_opt};
use crate::error::{Entity, StoreError, StoreResult, UniqueKey};
use crate::params;
use crate::value::Row;

/// Cards listed per client (or per user) at most.
pub const CARDS_LISTED_MAX: i64 = 1000;

/// How a credential's digest is stored: the lower-case hex of its 32 bytes.
pub fn digest_text(digest: &SecretDigest) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(64);
    for byte in digest.as_bytes() {
        text.push(char::from(HEX[usize::from(byte >> 4)]));
        text.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    text
}

/// Migration 10's Rust step: every `clientId` still in clear becomes its digest (SQLite has no
/// SHA-256 in SQL; PostgreSQL runs the same step, so both backends digest alike). A digest is
/// 64 hex characters and a `clientId` a 36-character UUID, so a digest is never digested again.
pub(crate) async fn digest_client_keys(db: &mut dyn Db) -> StoreResult<()> {
    let rows = db
        .query(
            "SELECT id, client_key_digest FROM p2p_clients WHERE LENGTH(client_key_digest) <> 64",
            &[],
        )
        .await?;
    for row in rows {
        let digest = SecretDigest::of(row.str("client_key_digest")?);
        db.execute(
            "UPDATE p2p_clients SET client_key_digest = $1 WHERE id = $2",
            params![digest_text(&digest), row.int("id")?],
        )
        .await?;
    }
    Ok(())
}

/// A client with what the P2P door needs about it.
#[derive(Debug, Clone)]
pub struct ClientRecord {
    pub client: P2pClient,
    pub tariff: FeeSchedule,
    /// The signing key, encrypted under the operator key.
    pub signing_key_encrypted: Vec<u8>,
}

pub(crate) const CLIENT_COLUMNS: &str = "id, name, require_signed_requests, created_at, commission_rate_e4, commission_fixed, commission_min, commission_max, signing_key_enc";

pub(crate) fn client_from_row(row: &Row) -> StoreResult<ClientRecord> {
    let rate = u32::try_from(row.int("commission_rate_e4")?)
        .map_err(|_| corrupt("client commission rate"))?;
    Ok(ClientRecord {
        client: P2pClient {
            id: P2pClientId::new(row.int("id")?),
            name: parse_or_corrupt(Name::parse(row.str("name")?), "client name")?,
            require_signed_requests: row.bool("require_signed_requests")?,
            created_at: timestamp(row.int("created_at")?),
        },
        tariff: FeeSchedule {
            rate: parse_or_corrupt(FeeRate::from_percent_e4(rate), "client commission rate")?,
            fixed_minor: row.int("commission_fixed")?,
            min_minor: row.int("commission_min")?,
            max_minor: row.int("commission_max")?,
        },
        signing_key_encrypted: row.blob("signing_key_enc")?,
    })
}

/// The client whose `clientId` has this digest.
pub async fn client_by_key(
    db: &mut dyn Db,
    key: &SecretDigest,
) -> StoreResult<Option<ClientRecord>> {
    let sql = format!("SELECT {CLIENT_COLUMNS} FROM p2p_clients WHERE client_key_digest = $1");
    query_opt(db, &sql, params![digest_text(key)])
        .await?
        .map(|row| client_from_row(&row))
        .transpose()
}

pub async fn client_by_id(db: &mut dyn Db, id: P2pClientId) -> StoreResult<ClientRecord> {
    let sql = format!("SELECT {CLIENT_COLUMNS} FROM p2p_clients WHERE id = $1");
    let row = query_opt(db, &sql, params![id.get()])
        .await?
        .ok_or(StoreError::NotFound(Entity::P2pClient))?;
    client_from_row(&row)
}

async fn update_client(
    db: &mut dyn Db,
    sql: &str,
    params: &[crate::value::Value],
) -> StoreResult<()> {
    if db.execute(sql, params).await? != 1 {
        return Err(StoreError::NotFound(Entity::P2pClient));
    }
    Ok(())
}

/// Sets a client's commission tariff.
pub async fn set_tariff(db: &mut dyn Db, id: P2pClientId, tariff: FeeSchedule) -> StoreResult<()> {
    update_client(
        db,
        "UPDATE p2p_clients SET commission_rate_e4 = $1, commission_fixed = $2, commission_min = $3, commission_max = $4 WHERE id = $5",
        params![
            i64::from(tariff.rate.percent_e4()),
            tariff.fixed_minor,
            tariff.min_minor,
            tariff.max_minor,
            id.get()
        ],
    )
    .await
}

/// Replaces a client's signing key (encrypted under the operator key): the old one signs
/// nothing more, requests or callbacks, from the next read on.
pub async fn set_signing_key(
    db: &mut dyn Db,
    id: P2pClientId,
    signing_key_encrypted: Vec<u8>,
) -> StoreResult<()> {
    update_client(
        db,
        "UPDATE p2p_clients SET signing_key_enc = $1 WHERE id = $2",
        params![signing_key_encrypted, id.get()],
    )
    .await
}

/// Whether a client must sign every request.
pub async fn set_require_signed_requests(
    db: &mut dyn Db,
    id: P2pClientId,
    required: bool,
) -> StoreResult<()> {
    update_client(
        db,
        "UPDATE p2p_clients SET require_signed_requests = $1 WHERE id = $2",
        params![required, id.get()],
    )
    .await
}

/// A client's session; its id is kept only as a digest, and is the key it is found by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub client_id: P2pClientId,
    /// The end user it acts for; `None`: the whole client.
    pub user_id: Option<P2pUserId>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

fn user_of(row: &Row) -> StoreResult<Option<P2pUserId>> {
    row.opt_text("user_id")?
        .map(|text| parse_or_corrupt(P2pUserId::parse(&text), "p2p user id"))
        .transpose()
}

fn user_text(user: Option<&P2pUserId>) -> Option<String> {
    user.map(|user| user.as_str().to_owned())
}

pub async fn create_session(
    db: &mut dyn Db,
    id: &SecretDigest,
    session: &Session,
) -> StoreResult<()> {
    db.execute(
        "INSERT INTO p2p_sessions (id_digest, client_id, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        params![
            digest_text(id),
            session.client_id.get(),
            user_text(session.user_id.as_ref()),
            session.created_at.unix_micros(),
            session.expires_at.unix_micros()
        ],
    )
    .await?;
    Ok(())
}

/// The session whose id has this digest.
pub async fn find_session(db: &mut dyn Db, id: &SecretDigest) -> StoreResult<Option<Session>> {
    let row = query_opt(
        db,
        "SELECT client_id, user_id, created_at, expires_at FROM p2p_sessions WHERE id_digest = $1",
        params![digest_text(id)],
    )
    .await?;
    row.map(|row| {
        Ok(Session {
            client_id: P2pClientId::new(row.int("client_id")?),
            user_id: user_of(&row)?,
            created_at: timestamp(row.int("created_at")?),
            expires_at: timestamp(row.int("expires_at")?),
        })
    })
    .transpose()
}

/// Removes up to `limit` sessions that ended before `before`, and up to `limit` spent request
/// tokens and card-form links each that ran out before `now`; returns how many rows went.
pub async fn purge_expired(
    db: &mut dyn Db,
    now: Timestamp,
    sessions_ended_before: Timestamp,
    limit: i64,
) -> StoreResult<u64> {
    let mut removed = db
        .execute(
            "DELETE FROM p2p_sessions WHERE id_digest IN (SELECT id_digest FROM p2p_sessions WHERE expires_at < $1 LIMIT $2)",
            params![sessions_ended_before.unix_micros(), limit],
        )
        .await?;
    removed += db
        .execute(
            "DELETE FROM p2p_used_tokens WHERE token_digest IN (SELECT token_digest FROM p2p_used_tokens WHERE expires_at < $1 LIMIT $2)",
            params![now.unix_micros(), limit],
        )
        .await?;
    removed += db
        .execute(
            "DELETE FROM p2p_card_forms WHERE token_digest IN (SELECT token_digest FROM p2p_card_forms WHERE expires_at < $1 LIMIT $2)",
            params![now.unix_micros(), limit],
        )
        .await?;
    Ok(removed)
}

/// Records a signed request's token (by digest) as spent until `expires_at`; `false` when it
/// was spent already. The primary key makes the first of two concurrent requests — on one
/// node or several — the only one to get `true`.
pub async fn spend_request_token(
    db: &mut dyn Db,
    token: &SecretDigest,
    expires_at: Timestamp,
) -> StoreResult<bool> {
    let inserted = db
        .execute(
            "INSERT INTO p2p_used_tokens (token_digest, expires_at) VALUES ($1, $2) ON CONFLICT (token_digest) DO NOTHING",
            params![digest_text(token), expires_at.unix_micros()],
        )
        .await?;
    Ok(inserted == 1)
}

/// Stores a new card-form link under its token's digest.
pub async fn create_card_form(
    db: &mut dyn Db,
    token: &SecretDigest,
    form: &CardForm,
) -> StoreResult<()> {
    db.execute(
        "INSERT INTO p2p_card_forms (token_digest, client_id, user_id, card_id, created_at, expires_at, used_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        params![
            digest_text(token),
            form.client_id.get(),
            user_text(form.user_id.as_ref()),
            form.card_id.as_ref().map(|id| id.as_str().to_owned()),
            form.created_at.unix_micros(),
            form.expires_at.unix_micros(),
            form.used_at.map(Timestamp::unix_micros)
        ],
    )
    .await?;
    Ok(())
}

/// The card-form link whose token has this digest.
pub async fn find_card_form(
    db: &mut dyn Db,
    token: &SecretDigest,
) -> StoreResult<Option<CardForm>> {
    let row = query_opt(
        db,
        "SELECT client_id, user_id, card_id, created_at, expires_at, used_at FROM p2p_card_forms WHERE token_digest = $1",
        params![digest_text(token)],
    )
    .await?;
    row.map(|row| {
        Ok(CardForm {
            client_id: P2pClientId::new(row.int("client_id")?),
            user_id: user_of(&row)?,
            card_id: row
                .opt_text("card_id")?
                .map(|id| parse_or_corrupt(Uuid::parse(&id), "card id"))
                .transpose()?,
            created_at: timestamp(row.int("created_at")?),
            expires_at: timestamp(row.int("expires_at")?),
            used_at: opt_timestamp(row.opt_int("used_at")?),
        })
    })
    .transpose()
}

/// Adds the card a card-form link was used for, and spends the link, in one step: `Conflict`
/// (and nothing written, once the transaction rolls back) when the link was used meanwhile or
/// ran out. The condition is in the `UPDATE`, so of two posts at once only one adds a card.
pub async fn add_card_through_form(
    db: &mut dyn Db,
    token: &SecretDigest,
    card: &P2pCard,
    now: Timestamp,
) -> StoreResult<()> {
    insert_card(db, card).await?;
    let spent = db
        .execute(
            "UPDATE p2p_card_forms SET used_at = $1, card_id = $2 WHERE token_digest = $3 AND used_at IS NULL AND expires_at > $1",
            params![now.unix_micros(), card.id.as_str(), digest_text(token)],
        )
        .await?;
    if spent != 1 {
        return Err(StoreError::Conflict);
    }
    Ok(())
}

const CARD_COLUMNS: &str = "id, client_id, user_id, token, first6, last4, brand, issuer, expiry_month, expiry_year, holder, created_at";

fn card_from_row(row: &Row) -> StoreResult<P2pCard> {
    let month = u8::try_from(row.int("expiry_month")?).map_err(|_| corrupt("card expiry"))?;
    let year = u16::try_from(row.int("expiry_year")?).map_err(|_| corrupt("card expiry"))?;
    Ok(P2pCard {
        id: parse_or_corrupt(Uuid::parse(row.str("id")?), "card id")?,
        client_id: P2pClientId::new(row.int("client_id")?),
        user_id: user_of(row)?,
        token: row.text("token")?,
        payload: CardPayload {
            first6: row.text("first6")?,
            last4: row.text("last4")?,
            brand: row.text("brand")?,
            issuer: row.opt_text("issuer")?,
            expiry_month: month,
            expiry_year: year,
            holder: row.opt_text("holder")?,
        },
        created_at: timestamp(row.int("created_at")?),
    })
}

pub async fn insert_card(db: &mut dyn Db, card: &P2pCard) -> StoreResult<()> {
    db.execute(
        "INSERT INTO p2p_cards (id, client_id, user_id, token, first6, last4, brand, issuer, expiry_month, expiry_year, holder, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        params![
            card.id.as_str(),
            card.client_id.get(),
            user_text(card.user_id.as_ref()),
            card.token.as_str(),
            card.payload.first6.as_str(),
            card.payload.last4.as_str(),
            card.payload.brand.as_str(),
            card.payload.issuer.clone(),
            i64::from(card.payload.expiry_month),
            i64::from(card.payload.expiry_year),
            card.payload.holder.clone(),
            card.created_at.unix_micros()
        ],
    )
    .await?;
    Ok(())
}

/// A card of `client` (another client's card is not found).
pub async fn get_card(
    db: &mut dyn Db,
    client: P2pClientId,
    id: &Uuid,
) -> StoreResult<Option<P2pCard>> {
    let sql = format!("SELECT {CARD_COLUMNS} FROM p2p_cards WHERE id = $1 AND client_id = $2");
    query_opt(db, &sql, params![id.as_str(), client.get()])
        .await?
        .map(|row| card_from_row(&row))
        .transpose()
}

/// A client's cards, or only one user's of them, in the order they were added.
pub async fn list_cards(
    db: &mut dyn Db,
    client: P2pClientId,
    user: Option<&P2pUserId>,
) -> StoreResult<Vec<P2pCard>> {
    let rows = match user {
        None => {
            let sql = format!(
                "SELECT {CARD_COLUMNS} FROM p2p_cards WHERE client_id = $1 ORDER BY seq LIMIT {CARDS_LISTED_MAX}"
            );
            db.query(&sql, params![client.get()]).await?
        }
        Some(user) => {
            let sql = format!(
                "SELECT {CARD_COLUMNS} FROM p2p_cards WHERE client_id = $1 AND user_id = $2 ORDER BY seq LIMIT {CARDS_LISTED_MAX}"
            );
            db.query(&sql, params![client.get(), user.as_str()]).await?
        }
    };
    rows.iter().map(card_from_row).collect()
}

/// The expiry of a stored card, as the acquirer needs it.
pub fn card_expiry(card: &P2pCard) -> CardExpiry {
    CardExpiry {
        month: card.payload.expiry_month,
        year: card.payload.expiry_year,
    }
}

const TRANSFER_COLUMNS: &str = "id, receipt_id, client_id, external_id, kind, status, description, callback_url, currency, amount, commission, \
     pending_amount, return_amount, return_commission, card_from_id, card_from_masked, card_to_id, card_to_masked, confirmation, wrong_codes, \
     expires_at, created_at, updated_at, version";

fn money(minor: i64, currency: Currency) -> StoreResult<Money> {
    parse_or_corrupt(Money::from_minor(minor, currency), "transfer amount")
}

fn transfer_from_row(row: &Row) -> StoreResult<TransferRecord> {
    let currency = parse_or_corrupt(Currency::parse(row.str("currency")?), "transfer currency")?;
    let card_to = match (row.opt_text("card_to_id")?, row.opt_text("card_to_masked")?) {
        (Some(id), Some(masked)) => Some(CardRef {
            id: parse_or_corrupt(Uuid::parse(&id), "card id")?,
            masked,
        }),
        _ => None,
    };
    Ok(TransferRecord {
        id: parse_or_corrupt(Uuid::parse(row.str("id")?), "transfer id")?,
        receipt_id: parse_or_corrupt(ReceiptId::parse(row.str("receipt_id")?), "receipt id")?,
        client_id: P2pClientId::new(row.int("client_id")?),
        external_id: row.opt_text("external_id")?,
        kind: TransferKind::parse(row.str("kind")?).ok_or_else(|| corrupt("transfer kind"))?,
        status: TransferStatus::parse(row.str("status")?)
            .ok_or_else(|| corrupt("transfer status"))?,
        description: row.opt_text("description")?,
        callback_url: row.opt_text("callback_url")?,
        amount: money(row.int("amount")?, currency)?,
        commission: money(row.int("commission")?, currency)?,
        pending: money(row.int("pending_amount")?, currency)?,
        returned: row
            .opt_int("return_amount")?
            .map(|minor| money(minor, currency))
            .transpose()?,
        returned_commission: row
            .opt_int("return_commission")?
            .map(|minor| money(minor, currency))
            .transpose()?,
        card_from: CardRef {
            id: parse_or_corrupt(Uuid::parse(row.str("card_from_id")?), "card id")?,
            masked: row.text("card_from_masked")?,
        },
        card_to,
        confirmation: row
            .opt_text("confirmation")?
            .map(|text| Confirmation::parse(&text).ok_or_else(|| corrupt("confirmation")))
            .transpose()?,
        wrong_codes: u32::try_from(row.int("wrong_codes")?).map_err(|_| corrupt("wrong codes"))?,
        expires_at: opt_timestamp(row.opt_int("expires_at")?),
        created_at: timestamp(row.int("created_at")?),
        updated_at: timestamp(row.int("updated_at")?),
        version: row.int("version")?,
        operations: Vec::new(),
    })
}

fn operation_from_row(row: &Row, currency: Currency) -> StoreResult<Operation> {
    Ok(Operation {
        id: parse_or_corrupt(Uuid::parse(row.str("id")?), "operation id")?,
        kind: OperationKind::parse(row.str("kind")?).ok_or_else(|| corrupt("operation kind"))?,
        status: OperationStatus::parse(row.str("status")?)
            .ok_or_else(|| corrupt("operation status"))?,
        amount: money(row.int("amount")?, currency)?,
        commission: money(row.int("commission")?, currency)?,
        external_id: row.opt_text("external_id")?,
        card_id: row
            .opt_text("card_id")?
            .map(|id| parse_or_corrupt(Uuid::parse(&id), "card id"))
            .transpose()?,
        reason: row
            .opt_text("reason")?
            .map(|text| Resolution::parse(&text).ok_or_else(|| corrupt("operation reason")))
            .transpose()?,
        created_at: timestamp(row.int("created_at")?),
        updated_at: timestamp(row.int("updated_at")?),
    })
}

async fn load_operations(db: &mut dyn Db, transfer: &mut TransferRecord) -> StoreResult<()> {
    let rows = db
        .query(
            "SELECT id, kind, status, amount, commission, external_id, card_id, reason, created_at, updated_at \
             FROM p2p_operations WHERE transfer_id = $1 ORDER BY position",
            params![transfer.id.as_str()],
        )
        .await?;
    let currency = transfer.amount.currency();
    transfer.operations = rows
        .iter()
        .map(|row| operation_from_row(row, currency))
        .collect::<StoreResult<_>>()?;
    Ok(())
}

async fn write_operations(db: &mut dyn Db, transfer: &Transfer) -> StoreResult<()> {
    for (position, operation) in transfer.operations.iter().enumerate() {
        db.execute(
            "INSERT INTO p2p_operations (id, transfer_id, position, kind, status, amount, commission, external_id, card_id, reason, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (id) DO UPDATE SET status = excluded.status, reason = excluded.reason, updated_at = excluded.updated_at",
            params![
                operation.id.as_str(),
                transfer.id.as_str(),
                position as i64,
                operation.kind.as_str(),
                operation.status.as_str(),
                operation.amount.minor(),
                operation.commission.minor(),
                operation.external_id.clone(),
                operation.card_id.as_ref().map(|id| id.as_str().to_owned()),
                operation.reason.map(|reason| reason.as_str().to_owned()),
                operation.created_at.unix_micros(),
                operation.updated_at.unix_micros()
            ],
        )
        .await?;
    }
    Ok(())
}

/// Writes a new transfer and its operations.
pub async fn insert_transfer(db: &mut dyn Db, transfer: &Transfer) -> StoreResult<()> {
    db.execute(
        "INSERT INTO p2p_transfers (id, receipt_id, client_id, external_id, kind, status, description, callback_url, currency, amount, commission, \
         pending_amount, return_amount, return_commission, card_from_id, card_from_masked, card_to_id, card_to_masked, confirmation, wrong_codes, \
         expires_at, created_at, updated_at, version) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24)",
        params![
            transfer.id.as_str(),
            transfer.receipt_id.as_str(),
            transfer.client_id.get(),
            transfer.external_id.clone(),
            transfer.kind.as_str(),
            transfer.status.as_str(),
            transfer.description.clone(),
            transfer.callback_url.clone(),
            transfer.amount.currency().code(),
            transfer.amount.minor(),
            transfer.commission.minor(),
            transfer.pending.minor(),
            transfer.returned.map(Money::minor),
            transfer.returned_commission.map(Money::minor),
            transfer.card_from.id.as_str(),
            transfer.card_from.masked.as_str(),
            transfer.card_to.as_ref().map(|card| card.id.as_str().to_owned()),
            transfer.card_to.as_ref().map(|card| card.masked.clone()),
            transfer.confirmation.map(|kind| kind.as_str().to_owned()),
            i64::from(transfer.wrong_codes),
            transfer.expires_at.map(Timestamp::unix_micros),
            transfer.created_at.unix_micros(),
            transfer.updated_at.unix_micros(),
            transfer.version
        ],
    )
    .await
    .map_err(|error| {
        if matches!(error, StoreError::Unique(UniqueKey::P2pTransferReceipt)) {
            StoreError::Conflict
        } else {
            error
        }
    })?;
    write_operations(db, transfer).await
}

/// Writes a changed transfer if nobody changed it since it was read (`transfer.version`);
/// returns it with its new version.
pub async fn update_transfer(db: &mut dyn Db, transfer: &Transfer) -> StoreResult<Transfer> {
    let changed = db
        .execute(
            "UPDATE p2p_transfers SET status = $1, pending_amount = $2, return_amount = $3, return_commission = $4, card_to_id = $5, \
             card_to_masked = $6, confirmation = $7, wrong_codes = $8, expires_at = $9, updated_at = $10, version = version + 1 \
             WHERE id = $11 AND version = $12",
            params![
                transfer.status.as_str(),
                transfer.pending.minor(),
                transfer.returned.map(Money::minor),
                transfer.returned_commission.map(Money::minor),
                transfer.card_to.as_ref().map(|card| card.id.as_str().to_owned()),
                transfer.card_to.as_ref().map(|card| card.masked.clone()),
                transfer.confirmation.map(|kind| kind.as_str().to_owned()),
                i64::from(transfer.wrong_codes),
                transfer.expires_at.map(Timestamp::unix_micros),
                transfer.updated_at.unix_micros(),
                transfer.id.as_str(),
                transfer.version
            ],
        )
        .await?;
    if changed != 1 {
        return Err(StoreError::Conflict);
    }
    write_operations(db, transfer).await?;
    Ok(transfer.persisted())
}

/// A transfer with its operations; `lock` takes a row lock on PostgreSQL (inside a write).
pub async fn get_transfer(db: &mut dyn Db, id: &Uuid, lock: bool) -> StoreResult<Option<Transfer>> {
    let lock = if lock && db.backend() == Backend::Postgres {
        " FOR UPDATE"
    } else {
        ""
    };
    let sql = format!("SELECT {TRANSFER_COLUMNS} FROM p2p_transfers WHERE id = $1{lock}");
    let Some(row) = query_opt(db, &sql, params![id.as_str()]).await? else {
        return Ok(None);
    };
    let mut transfer = transfer_from_row(&row)?;
    load_operations(db, &mut transfer).await?;
    Ok(Some(Transfer::restore(transfer)))
}

/// A transfer by its receipt id.
pub async fn find_by_receipt(
    db: &mut dyn Db,
    receipt: &ReceiptId,
) -> StoreResult<Option<Transfer>> {
    let sql = format!("SELECT {TRANSFER_COLUMNS} FROM p2p_transfers WHERE receipt_id = $1");
    let Some(row) = query_opt(db, &sql, params![receipt.as_str()]).await? else {
        return Ok(None);
    };
    let mut transfer = transfer_from_row(&row)?;
    load_operations(db, &mut transfer).await?;
    Ok(Some(Transfer::restore(transfer)))
}
