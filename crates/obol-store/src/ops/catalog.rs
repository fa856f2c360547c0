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

/// Between a live route's service's code and its route, as stored (`payment_card_rub_hpp@main`):
/// service codes are unique, and every route has its own card service per currency.
pub const ROUTE_CODE_SEPARATOR: char = '@';

const METHOD_COLUMNS: &str =
    "id, code, name_en, name_ru, name_uk, category, logo_url, icon_url, online";

fn method_from_row(row: &Row) -> StoreResult<PaymentMethod> {
    Ok(PaymentMethod {
        id: PaymentMethodId::new(row.int("id")?),
        code: row.text("code")?,
        name: Localized {
            en: row.text("name_en")?,
            ru: row.text("name_ru")?,
            uk: row.text("name_uk")?,
        },
        category: row.text("category")?,
        logo_url: row.opt_text("logo_url")?,
        icon_url: row.opt_text("icon_url")?,
        online: row.bool("online")?,
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

/// A service's columns, with its method's code (`payment_services s JOIN payment_methods m`).
const SERVICE_COLUMNS: &str = "s.id, s.code, s.method_id, m.code AS method_code, s.currency, s.flow, s.amount_min, s.amount_max, s.fee_rate_e4, s.fee_fix, \
                               s.fee_min, s.fee_max, s.reserve_lifetime_s, s.reserve_rate_e4, s.available, s.active, s.enabled, s.test_mode, s.route";

fn service_from_row(row: &Row) -> StoreResult<PaymentService> {
    let currency = parse_or_corrupt(Currency::parse(row.str("currency")?), "service currency")?;
    let money = |minor: i64| parse_or_corrupt(Money::from_minor(minor, currency), "service amount");
    let rate = u32::try_from(row.int("fee_rate_e4")?).map_err(|_| corrupt("fee rate"))?;
    Ok(PaymentService {
        id: PaymentServiceId::new(row.int("id")?),
        // A route's service is stored as `{code}@{route}` (codes are unique); it is known by
        // its code alone.
        code: match row.str("code")?.split_once(ROUTE_CODE_SEPARATOR) {
            Some((code, _)) => code.to_owned(),
            None => row.text("code")?,
        },
        method_id: PaymentMethodId::new(row.int("method_id")?),
        method_code: row.text("method_code")?,
        currency,
        flow: ServiceFlow::parse(row.str("flow")?).ok_or_else(|| corrupt("service flow"))?,
        amount_min: money(row.int("amount_min")?)?,
        amount_max: money(row.int("amount_max")?)?,
        fee: FeeSchedule {
            rate: parse_or_corrupt(FeeRate::from_percent_e4(rate), "fee rate")?,
            fixed_minor: row.int("fee_fix")?,
            min_minor: row.int("fee_min")?,
            max_minor: row.int("fee_max")?,
        },
        reserve_lifetime_s: row.int("reserve_lifetime_s")?,
        reserve_rate_percent_e4: u32::try_from(row.int("reserve_rate_e4")?)
            .map_err(|_| corrupt("reserve rate"))?,
        available: row.bool("available")?,
        active: row.bool("active")?,
        enabled: row.bool("enabled")?,
        test_mode: row.bool("test_mode")?,
        fields: Vec::new(),
        route: row.opt_text("route")?,
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
            .entry(row.int("service_id")?)
            .or_default()
            .push(ServiceField {
                key: row.text("key")?,
                field_type: row.text("field_type")?,
                label: Localized {
                    en: row.text("label_en")?,
                    ru: row.text("label_ru")?,
                    uk: row.text("label_uk")?,
                },
                hint: Localized {
                    en: row.text("hint_en")?,
                    ru: row.text("hint_ru")?,
                    uk: row.text("hint_uk")?,
                },
                example: row.opt_text("example")?,
                regexp: row.opt_text("regexp")?,
                required: row.bool("required")?,
                position: row.int("position")?,
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

/// One service by id, with its fields: what a payment's callback needs of the catalog,
/// without reading all of it inside the write.
pub async fn get_service(
    db: &mut dyn Db,
    id: PaymentServiceId,
) -> StoreResult<Option<PaymentService>> {
    let sql = format!(
        "SELECT {SERVICE_COLUMNS} FROM payment_services s JOIN payment_methods m ON m.id = s.method_id WHERE s.id = $1"
    );
    let Some(row) = query_opt(db, &sql, params![id.get()]).await? else {
        return Ok(None);
    };
    let mut services = vec![service_from_row(&row)?];
    attach_fields(db, &mut services).await?;
    Ok(services.pop())
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

/// The services a merchant has enabled, with the id of each link (`comcps_…`); a live
/// merchant also has the card services of the live routes serving it (SPEC §4): those of the
/// route it chose (`obol merchant set-acquirer`), else in each currency the first configured
/// route's.
pub async fn merchant_services(
    db: &mut dyn Db,
    merchant: MerchantId,
) -> StoreResult<Vec<(MerchantServiceId, PaymentService)>> {
    let sql = format!(
        "SELECT {SERVICE_COLUMNS}, ms.id AS link_id FROM merchant_services ms JOIN payment_services s ON s.id = ms.service_id \
         JOIN payment_methods m ON m.id = s.method_id WHERE ms.merchant_id = $1 AND ms.enabled = TRUE ORDER BY s.id"
    );
    let rows = db.query(&sql, params![merchant.get()]).await?;
    let mut links = Vec::with_capacity(rows.len());
    let mut services = Vec::with_capacity(rows.len());
    for row in &rows {
        links.push(parse_or_corrupt(
            MerchantServiceId::parse(row.str("link_id")?),
            "merchant service id",
        )?);
        services.push(service_from_row(row)?);
    }
    for service in route_services_of(db, merchant).await? {
        links.push(MerchantServiceId::of_route_service(merchant, service.id));
        services.push(service);
    }
    attach_fields(db, &mut services).await?;
    Ok(links.into_iter().zip(services).collect())
}

/// The live routes' card services a merchant has: none for a test merchant.
async fn route_services_of(
    db: &mut dyn Db,
    merchant: MerchantId,
) -> StoreResult<Vec<PaymentService>> {
    let Some(row) = query_opt(
        db,
        "SELECT test_mode, acquirer FROM merchants WHERE id = $1",
        params![merchant.get()],
    )
    .await?
    else {
        return Ok(Vec::new());
    };
    if row.bool("test_mode")? {
        return Ok(Vec::new());
    }
    let chosen = row.opt_text("acquirer")?;
    let sql = format!(
        "SELECT {SERVICE_COLUMNS} FROM payment_services s JOIN payment_methods m ON m.id = s.method_id \
         WHERE s.route IS NOT NULL AND s.available = TRUE ORDER BY s.route_position, s.id"
    );
    let mut chosen_services: Vec<PaymentService> = Vec::new();
    for row in db.query(&sql, &[]).await? {
        let service = service_from_row(&row)?;
        let fits = match &chosen {
            Some(chosen) => service.route.as_deref() == Some(chosen.as_str()),
            None => !chosen_services
                .iter()
                .any(|taken| taken.currency == service.currency),
        };
        if fits {
            chosen_services.push(service);
        }
    }
    Ok(chosen_services)
}

/// A live route's card service in one currency, as the configuration describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteService {
    pub route: String,
    /// The route's place in the configuration: with no route named, a merchant's payments in a
    /// currency go to the first route serving it.
    pub position: i64,
    pub currency: Currency,
    pub amount_min_minor: i64,
    pub amount_max_minor: i64,
    pub fee_rate_percent_e4: u32,
    pub fee_fix_minor: i64,
}

/// Makes the catalog's route services what the configuration says: each route's card service
/// per currency exists with its limits and fees, and those of routes (or currencies) no longer
/// configured are no longer available (their rows stay: payments refer to them).
pub async fn sync_route_services(db: &mut dyn Db, routes: &[RouteService]) -> StoreResult<()> {
    let card = query_opt(
        db,
        "SELECT id FROM payment_methods WHERE code = 'payment_card'",
        &[],
    )
    .await?
    .ok_or_else(|| corrupt("the payment_card method is missing"))?
    .int("id")?;
    db.execute(
        "UPDATE payment_services SET available = FALSE WHERE route IS NOT NULL",
        &[],
    )
    .await?;
    for route in routes {
        let code = format!(
            "payment_card_{}_hpp{ROUTE_CODE_SEPARATOR}{}",
            route.currency.code().to_ascii_lowercase(),
            route.route
        );
        db.execute(
            "INSERT INTO payment_services (code, method_id, currency, flow, amount_min, amount_max, fee_rate_e4, fee_fix, test_mode, route, route_position, available) \
             VALUES ($1, $2, $3, 'hpp', $4, $5, $6, $7, FALSE, $8, $9, TRUE) \
             ON CONFLICT (code) DO UPDATE SET amount_min = excluded.amount_min, amount_max = excluded.amount_max, fee_rate_e4 = excluded.fee_rate_e4, \
             fee_fix = excluded.fee_fix, route_position = excluded.route_position, available = TRUE",
            params![
                code.as_str(),
                card,
                route.currency.code(),
                route.amount_min_minor,
                route.amount_max_minor,
                i64::from(route.fee_rate_percent_e4),
                route.fee_fix_minor,
                route.route.as_str(),
                route.position
            ],
        )
        .await?;
    }
    Ok(())
}

/// Every service linked to a merchant, switched on or not, with the link's id; a live route's
/// services are the route's to give and are not listed.
pub async fn merchant_service_links(
    db: &mut dyn Db,
    merchant: MerchantId,
) -> StoreResult<Vec<(MerchantServiceId, PaymentService, bool)>> {
    let sql = format!(
        "SELECT {SERVICE_COLUMNS}, ms.id AS link_id, ms.enabled AS link_enabled FROM merchant_services ms \
         JOIN payment_services s ON s.id = ms.service_id JOIN payment_methods m ON m.id = s.method_id \
         WHERE ms.merchant_id = $1 ORDER BY s.id"
    );
    let rows = db.query(&sql, params![merchant.get()]).await?;
    let mut links = Vec::with_capacity(rows.len());
    for row in &rows {
        links.push((
            parse_or_corrupt(
                MerchantServiceId::parse(row.str("link_id")?),
                "merchant service id",
            )?,
            service_from_row(row)?,
            row.bool("link_enabled")?,
        ));
    }
    Ok(links)
}

/// Switches a merchant's linked services on (those in `enabled`) and off (the others).
pub async fn set_merchant_services_enabled(
    db: &mut dyn Db,
    merchant: MerchantId,
    enabled: &[MerchantServiceId],
) -> StoreResult<()> {
    for (link, _, was) in merchant_service_links(db, merchant).await? {
        let now = enabled.contains(&link);
        if now != was {
            db.execute(
                "UPDATE merchant_services SET enabled = $1 WHERE id = $2 AND merchant_id = $3",
                params![now, link.as_str(), merchant.get()],
            )
            .await?;
        }
    }
    Ok(())
}
