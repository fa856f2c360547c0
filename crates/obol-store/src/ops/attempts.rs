//! Card attempts waiting for the customer's 3-D Secure answer. Only what may be kept of the
//! card is stored (first 6 / last 4, brand, expiry, holder, issuer).

use obol_core::ids::PaymentId;
use obol_core::payment::CardPayload;
use obol_core::time::Timestamp;

use super::{parse_or_corrupt, timestamp};
use crate::db::{Db, query_one, query_opt};
use crate::error::{Entity, StoreResult};
use crate::params;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptStatus {
    /// Waiting for the customer's 3-D Secure answer.
    Challenge,
    Approved,
    Declined,
}

impl AttemptStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptStatus::Challenge => "challenge",
            AttemptStatus::Approved => "approved",
            AttemptStatus::Declined => "declined",
        }
    }

    fn parse(text: &str) -> Option<AttemptStatus> {
        match text {
            "challenge" => Some(AttemptStatus::Challenge),
            "approved" => Some(AttemptStatus::Approved),
            "declined" => Some(AttemptStatus::Declined),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub id: i64,
    pub payment_id: PaymentId,
    pub status: AttemptStatus,
    pub card: CardPayload,
    pub created_at: Timestamp,
}

pub async fn create(
    db: &mut dyn Db,
    payment: &PaymentId,
    card: &CardPayload,
    now: Timestamp,
) -> StoreResult<Attempt> {
    let row = query_one(
        db,
        "INSERT INTO payment_attempts (payment_id, status, card_first6, card_last4, card_brand, card_expiry_month, card_expiry_year, card_holder, \
         card_issuer, created_at, updated_at) VALUES ($1, 'challenge', $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING id",
        params![
            payment.as_str(),
            card.first6.as_str(),
            card.last4.as_str(),
            card.brand.as_str(),
            i64::from(card.expiry_month),
            i64::from(card.expiry_year),
            card.holder.clone(),
            card.issuer.clone(),
            now.unix_micros()
        ],
        Entity::Attempt,
    )
    .await?;
    Ok(Attempt {
        id: row.int("id")?,
        payment_id: payment.clone(),
        status: AttemptStatus::Challenge,
        card: card.clone(),
        created_at: now,
    })
}

/// The payment's latest attempt.
pub async fn latest(db: &mut dyn Db, payment: &PaymentId) -> StoreResult<Option<Attempt>> {
    let row = query_opt(
        db,
        "SELECT id, payment_id, status, card_first6, card_last4, card_brand, card_expiry_month, card_expiry_year, card_holder, card_issuer, created_at \
         FROM payment_attempts WHERE payment_id = $1 ORDER BY id DESC LIMIT 1",
        params![payment.as_str()],
    )
    .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(Attempt {
        id: row.int("id")?,
        payment_id: parse_or_corrupt(PaymentId::parse(row.str("payment_id")?), "attempt payment")?,
        status: AttemptStatus::parse(row.str("status")?)
            .ok_or_else(|| super::corrupt("attempt status"))?,
        card: CardPayload {
            first6: row.text("card_first6")?,
            last4: row.text("card_last4")?,
            brand: row.text("card_brand")?,
            expiry_month: u8::try_from(row.int("card_expiry_month")?).unwrap_or_default(),
            expiry_year: u16::try_from(row.int("card_expiry_year")?).unwrap_or_default(),
            holder: row.opt_text("card_holder")?,
            issuer: row.opt_text("card_issuer")?,
        },
        created_at: timestamp(row.int("created_at")?),
    }))
}

/// Closes a challenge; `false` when it was not open any more (answered twice).
pub async fn close(
    db: &mut dyn Db,
    id: i64,
    status: AttemptStatus,
    now: Timestamp,
) -> StoreResult<bool> {
    let changed = db
        .execute(
            "UPDATE payment_attempts SET status = $1, updated_at = $2 WHERE id = $3 AND status = 'challenge'",
            params![status.as_str(), now.unix_micros(), id],
        )
        .await?;
    Ok(changed == 1)
}
