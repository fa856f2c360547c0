//! Balances per account, mode and currency (SPEC §7, as `obol balances` prints them): the
//! accounts of the merchants, resellers and customer accounts of the manager's subtree. The
//! operator's own accounts (clearing, fees, P2P transit and cards) belong to no reseller: only
//! managers of the root reseller see them, with everything else. Any role may read.

use std::collections::HashSet;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::html;
use obol_core::ledger::AccountCode;
use obol_http::auth::ClientIp;
use obol_http::state::AppState;
use obol_store::ops::{administration, ledger};
use serde_json::{Map, Value, json};

use crate::admin;
use crate::layout;
use crate::login::operation;
use crate::texts;

struct Words {
    title: &'static str,
    account: &'static str,
    mode: &'static str,
    currency: &'static str,
    amount: &'static str,
    empty: &'static str,
}

const ENGLISH: Words = Words {
    title: "Balances",
    account: "Account",
    mode: "Mode",
    currency: "Currency",
    amount: "Balance",
    empty: "No postings yet.",
};

const RUSSIAN: Words = Words {
    title: "Балансы",
    account: "Счёт",
    mode: "Режим",
    currency: "Валюта",
    amount: "Баланс",
    empty: "Проводок пока нет.",
};

const UKRAINIAN: Words = Words {
    title: "Баланси",
    account: "Рахунок",
    mode: "Режим",
    currency: "Валюта",
    amount: "Баланс",
    empty: "Проведень поки немає.",
};

const PATH: &str = "/dashboard/balances";

pub(crate) async fn page(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Query(query): Query<admin::Query>,
) -> Response {
    let staff = match admin::viewer(&state, &headers, &query, ip).await {
        Ok(staff) => staff,
        Err(answer) => return answer.into_response(),
    };
    let scope = staff.ancestry.clone();
    let everything = staff.is_operator();
    let found = state
        .store
        .read(move |db| {
            Box::pin(async move {
                let balances = ledger::balances(db, None).await?;
                if everything {
                    return Ok(balances);
                }
                let mut own: HashSet<String> = HashSet::new();
                for (merchant, _) in administration::merchants_within(db, &scope).await? {
                    own.insert(AccountCode::merchant(merchant.id).as_str().to_owned());
                }
                for reseller in administration::resellers_within(db, &scope).await? {
                    own.insert(AccountCode::reseller(reseller.id).as_str().to_owned());
                }
                for account in administration::customer_accounts_within(db, &scope).await? {
                    own.insert(AccountCode::customer_account(account).as_str().to_owned());
                }
                Ok(balances
                    .into_iter()
                    .filter(|balance| own.contains(balance.account.as_str()))
                    .collect())
            })
        })
        .await;
    let balances = match found {
        Ok(balances) => balances,
        Err(error) => return admin::failed(&error),
    };
    let frame = staff.frame(PATH);
    let words = texts::pick(staff.language, &ENGLISH, &RUSSIAN, &UKRAINIAN);
    let body = html! {
        @if balances.is_empty() {
            p { (words.empty) }
        } @else {
            div.table { table {
                thead { tr { th { (words.account) } th { (words.mode) } th { (words.currency) } th.num { (words.amount) } } }
                tbody {
                    @for balance in &balances {
                        tr {
                            td { code { (balance.account.as_str()) } }
                            td { (balance.mode.as_str()) }
                            td { (balance.amount.currency().code()) }
                            td.num { (balance.amount.to_decimal_string()) }
                        }
                    }
                }
            } }
        }
    };
    layout::respond(StatusCode::OK, layout::document(&frame, words.title, body))
}

pub(crate) fn routes() -> obol_http::routes::Routes {
    obol_http::routes::Routes::new().get(PATH, page)
}

/// The balances' page in the OpenAPI document.
pub fn openapi_paths() -> Map<String, Value> {
    let mut paths = Map::new();
    paths.insert(
        PATH.into(),
        json!({ "get": operation("Balances per account, mode and currency in the manager's subtree", None, true) }),
    );
    paths
}
