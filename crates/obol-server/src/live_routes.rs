//! The live routes' card services (SPEC §4 "Live routes"): each `[[acquirers]]` route gives the
//! live merchants it serves `payment_card_{currency}_hpp` in each of its currencies, with the
//! limits and fees its optional keys set. They are written into the catalog at start, so every
//! door lists and uses them like any service.

use obol_core::fee::FeeRate;
use obol_core::money::AMOUNT_MINOR_LIMIT;
use obol_core::money::Money;
use obol_http::config::AcquirerConfig;
use obol_store::Store;
use obol_store::ops::catalog::{self, RouteService};

use crate::commands::CommandError;

/// The catalog rows the configured routes call for; an amount or fee that does not fit a
/// currency (more fraction digits than it has) stops the start.
pub fn route_services(routes: &[AcquirerConfig]) -> Result<Vec<RouteService>, CommandError> {
    let mut services = Vec::new();
    for (position, route) in routes.iter().enumerate() {
        let name = &route.route.name;
        let invalid = |key: &str, text: &str| {
            CommandError::Invalid(format!("acquirer `{name}`: {key} `{text}` does not fit"))
        };
        let fee_rate = match &route.fee_rate {
            Some(text) => FeeRate::parse_percent(text)
                .map_err(|_| invalid("fee_rate", text))?
                .percent_e4(),
            None => 0,
        };
        for currency in &route.route.currencies {
            let minor = |key: &str, value: &Option<String>, default: i64| match value {
                Some(text) => Money::parse_decimal(text, *currency)
                    .map(|money| money.minor())
                    .map_err(|_| invalid(key, text)),
                None => Ok(default),
            };
            let amount_min = minor("amount_min", &route.amount_min, 1)?.max(1);
            let amount_max = minor("amount_max", &route.amount_max, AMOUNT_MINOR_LIMIT)?;
            if amount_max < amount_min {
                return Err(CommandError::Invalid(format!(
                    "acquirer `{name}`: amount_max is below amount_min"
                )));
            }
            services.push(RouteService {
                route: name.clone(),
                position: i64::try_from(position).unwrap_or(i64::MAX),
                currency: *currency,
                amount_min_minor: amount_min,
                amount_max_minor: amount_max,
                fee_rate_percent_e4: fee_rate,
                fee_fix_minor: minor("fee_fix", &route.fee_fix, 0)?,
            });
        }
    }
    Ok(services)
}

/// Writes the configured routes' services into the catalog (and retires those of routes no
/// longer configured).
pub async fn sync(store: &Store, routes: &[AcquirerConfig]) -> Result<(), CommandError> {
    let services = route_services(routes)?;
    store
        .write(move |db| Box::pin(async move { catalog::sync_route_services(db, &services).await }))
        .await
        .map_err(CommandError::from)
}
