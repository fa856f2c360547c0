//! Customers of merchants (`cus_…`), found again by the merchant's `reference_id`.

use obol_core::customer::{Address, Customer, CustomerDraft};
use obol_core::ids::{CustomerId, MerchantId};
use obol_core::time::Timestamp;

use super::{parse_or_corrupt, timestamp};
use crate::db::{Db, query_opt};
use crate::error::StoreResult;
use crate::params;
use crate::value::Row;

const COLUMNS: &str = "id, merchant_id, reference_id, name, email, phone, metadata, country, region, city, full_address, postcode, created_at, updated_at";

fn from_row(row: &Row) -> StoreResult<Customer> {
    Ok(Customer {
        id: parse_or_corrupt(CustomerId::parse(row.str("id")?), "customer id")?,
        merchant_id: MerchantId::new(row.int("merchant_id")?),
        reference_id: row.text("reference_id")?,
        name: row.opt_text("name")?,
        email: row.opt_text("email")?,
        phone: row.opt_text("phone")?,
        metadata: row.opt_text("metadata")?,
        address: Address {
            country: row.opt_text("country")?,
            region: row.opt_text("region")?,
            city: row.opt_text("city")?,
            full_address: row.opt_text("full_address")?,
            postcode: row.opt_text("postcode")?,
        },
        created_at: timestamp(row.int("created_at")?),
        updated_at: timestamp(row.int("updated_at")?),
    })
}

pub async fn get(db: &mut dyn Db, id: &CustomerId) -> StoreResult<Option<Customer>> {
    let sql = format!("SELECT {COLUMNS} FROM customers WHERE id = $1");
    query_opt(db, &sql, params![id.as_str()])
        .await?
        .map(|row| from_row(&row))
        .transpose()
}

pub async fn find_by_reference(
    db: &mut dyn Db,
    merchant: MerchantId,
    reference: &str,
) -> StoreResult<Option<Customer>> {
    let sql =
        format!("SELECT {COLUMNS} FROM customers WHERE merchant_id = $1 AND reference_id = $2");
    query_opt(db, &sql, params![merchant.get(), reference])
        .await?
        .map(|row| from_row(&row))
        .transpose()
}

/// The merchant's customer with this reference, created or updated from the draft.
pub async fn upsert(
    db: &mut dyn Db,
    merchant: MerchantId,
    draft: CustomerDraft,
    new_id: CustomerId,
    now: Timestamp,
) -> StoreResult<Customer> {
    let customer = match find_by_reference(db, merchant, &draft.reference_id).await? {
        Some(existing) => existing.merged(draft, now),
        None => Customer {
            id: new_id,
            merchant_id: merchant,
            reference_id: draft.reference_id,
            name: draft.name,
            email: draft.email,
            phone: draft.phone,
            metadata: draft.metadata,
            address: draft.address,
            created_at: now,
            updated_at: now,
        },
    };
    // Two requests naming a new customer at once: the second waits for the first (the unique
    // key) and then updates the row the first created.
    let rows = db
        .query(
            "INSERT INTO customers (id, merchant_id, reference_id, name, email, phone, metadata, country, region, city, full_address, postcode, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
             ON CONFLICT (merchant_id, reference_id) DO UPDATE SET name = excluded.name, email = excluded.email, phone = excluded.phone, \
             metadata = excluded.metadata, country = excluded.country, region = excluded.region, city = excluded.city, \
             full_address = excluded.full_address, postcode = excluded.postcode, updated_at = excluded.updated_at RETURNING id",
            params![
                customer.id.as_str(),
                merchant.get(),
                customer.reference_id.as_str(),
                customer.name.clone(),
                customer.email.clone(),
                customer.phone.clone(),
                customer.metadata.clone(),
                customer.address.country.clone(),
                customer.address.region.clone(),
                customer.address.city.clone(),
                customer.address.full_address.clone(),
                customer.address.postcode.clone(),
                customer.created_at.unix_micros(),
                now.unix_micros()
            ],
        )
        .await?;
    let id = match rows.first() {
        Some(row) => parse_or_corrupt(CustomerId::parse(row.str("id")?), "customer id")?,
        None => customer.id.clone(),
    };
    Ok(Customer { id, ..customer })
}
