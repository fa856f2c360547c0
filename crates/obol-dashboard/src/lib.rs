//! The operator dashboard (SPEC §7): server-rendered pages for the operator's and resellers'
//! staff — managers, signed in with their API token — over the same core and store as every
//! door. A manager sees and acts on its reseller's subtree only, by its role; every action is
//! in the audit log.
//!
//! Pages are rendered with `maud`, which escapes every value by default, and work without
//! JavaScript. The contract of SPEC §7 (paths, form field names, the CSV's columns) is fixed:
//! tests and scripts drive these pages without a browser.
//!
//! - [`session`]: sign-in sessions (server-side, the cookie carries a random id), the staff
//!   member a request comes from, CSRF tokens.
//! - [`layout`]: the frame every page shares; [`texts`]: its words in `en`, `ru`, `uk`.
//! - [`login`]: sign-in and sign-out; [`overview`]: the first page.
//! - [`payments`]: the payments list (and the area's routes); [`payment`]: a payment's page
//!   and actions; [`reports`]: the transactions CSV.

mod admin;
pub mod audit;
pub mod balances;
pub mod door;
pub mod layout;
pub mod login;
pub mod managers;
pub mod merchant_services;
pub mod merchants;
pub mod overview;
pub mod p2p_clients;
pub mod payment;
pub mod payments;
pub mod refund_requests;
pub mod reports;
pub mod resellers;
pub mod session;
pub mod texts;
pub mod transfers;

use axum::middleware;
use obol_http::page::security_headers;
use obol_http::routes::Routes;

/// Every dashboard path is under this prefix.
pub const PREFIX: &str = "/dashboard";

/// The dashboard's routes.
pub fn router() -> Routes {
    Routes::new()
        .get("/dashboard", overview::page)
        .get("/dashboard/login", login::form)
        .post("/dashboard/login", login::submit)
        .post("/dashboard/logout", login::logout)
        .get("/dashboard/transfers", transfers::page)
        .merge(payments::routes())
        .merge(merchants::routes())
        .merge(merchant_services::routes())
        .merge(resellers::routes())
        .merge(managers::routes())
        .merge(balances::routes())
        .merge(audit::routes())
        .merge(p2p_clients::routes())
        .merge(refund_requests::routes())
        .wrap(|router| router.layer(middleware::map_response(security_headers)))
}

pub fn owns_path(path: &str) -> bool {
    path == PREFIX || path.starts_with("/dashboard/")
}
