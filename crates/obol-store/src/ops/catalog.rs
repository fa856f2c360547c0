//! Payment methods and services, and the services a merchant has enabled.

use std::collections::HashMap;

use obol_core::Currency;
use obol_core::catalog::{Localized, PaymentMethod, PaymentService, ServiceField, ServiceFlow};
use obol_core::fee::{FeeRate, FeeSchedule};
use obol_core::ids::{MerchantId, MerchantServiceId, PaymentMethodId, PaymentServiceId};
use obol_core::money::Money;

use super::{corrupt, parse_or_corrupt};
use crate::db::{Db, query_opt};
use crate::error::StoreResult;
use crate::params;
use crate::value::Row;

const METHOD_COLUMNS: &str =
    "id, code, name_en, name_ru, name_uk, category, logo_url, icon_url, online";

fn method_from_row(row: &Row) -> StoreResult<PaymentMethod> {
    Ok(PaymentMethod {
        id: PaymentMethodId::new(row.int(0)?),
        code: row.text(1)?,
        name: Localized {
            en: row.text(2)?,
            ru: row.text(3)?,
            uk: row.text(4)?,
        },
        category: row.text(5)?,
        logo_url: row.opt_text(6)?,
        icon_url: row.opt_text(7)?,
        online: row.bool(8)?,
    })
}

pub async fn list_methods(db: &mut dyn Db) -> StoreResult<Vec<PaymentMethod>> {
    let sql = format!("SELECT {METHOD_COLUMNS} FROM payment_methods ORDER BY id");
    db.query(&sql, &[])
        .await?
        .iter()
        .map(method_from_row)
        .collect()
}

pub async fn get_method(
    db: &mut dyn Db,
    id: PaymentMethodId,
) -> StoreResult<Option<PaymentMethod>> {
    let sql = format!("SELECT {METHOD_COLUMNS} FROM payment_methods WHERE id = $1");
    query_opt(db, &sql, params![id.get()])
        .await?
        .map(|row| method_from_row(&row))
        .transpose()
}

const SERVICE_COLUMNS: &str = "s.id, s.code, s.method_id, m.code, s.currency, s.flow, s.amount_min, s.amount_max, s.fee_rate_e4, s.fee_fix, \
                               s.fee_min, s.fee_max, s.reserve_lifetime_s, s.reserve_rate_e4, s.available, s.active, s.enabled, s.test_mode";

fn service_from_row(row: &Row) -> StoreResult<PaymentService> {
    let currency = parse_or_corrupt(Currency::parse(&row.text(4)?), "service currency")?;
    let money = |minor: i64| parse_or_corrupt(Money::from_minor(minor, currency), "service amount");
    let rate = u32::try_from(row.int(8)?).map_err(|_| corrupt("fee rate"))?;
    Ok(PaymentService {
        id: PaymentServiceId::new(row.int(0)?),
        code: row.text(1)?,
        method_id: PaymentMethodId::new(row.int(2)?),
        method_code: row.text(3)?,
        currency,
        flow: ServiceFlow::parse(&row.text(5)?).ok_or_else(|| corrupt("service flow"))?,
        amount_min: money(row.int(6)?)?,
        amount_max: money(row.int(7)?)?,
        fee: FeeSchedule {
            rate: parse_or_corrupt(FeeRate::from_percent_e4(rate), "fee rate")?,
            fixed_minor: row.int(9)?,
            min_minor: row.int(10)?,
            max_minor: row.int(11)?,
        },
        reserve_lifetime_s: row.int(12)?,
        reserve_rate_percent_e4: u32::try_from(row.int(13)?)
            .map_err(|_| corrupt("reserve rate"))?,
        available: row.bool(14)?,
        active: row.bool(15)?,
        enabled: row.bool(16)?,
        test_mode: row.bool(17)?,
        fields: Vec::new(),
    })
}

async fn attach_fields(db: &mut dyn Db, services: &mut [PaymentService]) -> StoreResult<()> {
    if services.is_empty() {
        return Ok(());
    }
    let rows = db
        .query(
            "SELECT service_id, key, field_type, label_en, label_ru, label_uk, hint_en, hint_ru, hint_uk, example, regexp, required, position \
             FROM service_fields ORDER BY service_id, position, key",
            &[],
        )
        .await?;
    let mut by_service: HashMap<i64, Vec<ServiceField>> = HashMap::new();
    for row in rows {
        by_service
            .entry(row.int(0)?)
            .or_default()
            .push(ServiceField {
                key: row.text(1)?,
                field_type: row.text(2)?,
                label: Localized {
                    en: row.text(3)?,
                    ru: row.text(4)?,
                    uk: row.text(5)?,
                },
                hint: Localized {
                    en: row.text(6)?,
                    ru: row.text(7)?,
                    uk: row.text(8)?,
                },
                example: row.opt_text(9)?,
                regexp: row.opt_text(10)?,
                required: row.bool(11)?,
                position: row.int(12)?,
            });
    }
    for service in services {
        service.fields = by_service.remove(&service.id.get()).unwrap_or_default();
    }
    Ok(())
}

pub async fn list_services(db: &mut dyn Db) -> StoreResult<Vec<PaymentService>> {
    let sql = format!(
        "SELECT {SERVICE_COLUMNS} FROM payment_services s JOIN payment_methods m ON m.id = s.method_id ORDER BY s.id"
    );
    let mut services = db
        .query(&sql, &[])
        .await?
        .iter()
        .map(service_from_row)
        .collect::<StoreResult<Vec<_>>>()?;
    attach_fields(db, &mut services).await?;
    Ok(services)
}

pub async fn get_service_by_code(
    db: &mut dyn Db,
    code: &str,
) -> StoreResult<Option<PaymentService>> {
    let sql = format!(
        "SELECT {SERVICE_COLUMNS} FROM payment_services s JOIN payment_methods m ON m.id = s.method_id WHERE s.code = $1"
    );
    let Some(row) = query_opt(db, &sql, params![code]).await? else {
        return Ok(None);
    };
    let mut services = vec![service_from_row(&row)?];
    attach_fields(db, &mut services).await?;
    Ok(services.pop())
}

/// The services a merchant has enabled, with the id of each link (`comcps_…`).
pub async fn merchant_services(
    db: &mut dyn Db,
    merchant: MerchantId,
) -> StoreResult<Vec<(MerchantServiceId, PaymentService)>> {
    let sql = format!(
        "SELECT {SERVICE_COLUMNS}, ms.id FROM merchant_services ms JOIN payment_services s ON s.id = ms.service_id \
         JOIN payment_methods m ON m.id = s.method_id WHERE ms.merchant_id = $1 AND ms.enabled = TRUE ORDER BY s.id"
    );
    let rows = db.query(&sql, params![merchant.get()]).await?;
    let mut links = Vec::with_capacity(rows.len());
    let mut services = Vec::with_capacity(rows.len());
    for row in &rows {
        links.push(parse_or_corrupt(
            MerchantServiceId::parse(&row.text(18)?),
            "merchant service id",
        )?);
        services.push(service_from_row(row)?);
    }
    attach_fields(db, &mut services).await?;
    Ok(links.into_iter().zip(services).collect())
}
