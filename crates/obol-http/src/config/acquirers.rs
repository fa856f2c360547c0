//! `[[acquirers]]`: live routes, the upstream providers that settle live payments (SPEC §4
//! "Live routes"). Each is read from the file, its secret key also from the environment
//! (`OBOL_ACQUIRERS_<NAME>_SECRET_KEY`, the name upper-cased with `-` as `_`), and checked as a
//! whole when the configuration loads: a route that cannot work stops the start, never the
//! first payment.

use obol_core::Currency;
use obol_core::mode::LiveRoute;
use serde::Deserialize;

use super::{ConfigError, Environment, Secret};

/// One `[[acquirers]]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileAcquirer {
    name: String,
    kind: String,
    api_url: String,
    shop_id: String,
    secret_key: Option<String>,
    currencies: Vec<String>,
    amount_min: Option<Decimal>,
    amount_max: Option<Decimal>,
    fee_rate: Option<Decimal>,
    fee_fix: Option<Decimal>,
}

/// A decimal written as a TOML string (`"10.50"`) or integer (`10`); never a float, so the
/// amount is exactly what the operator wrote.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Decimal {
    Integer(u64),
    Text(String),
}

impl Decimal {
    fn text(self, name: &str) -> Result<String, String> {
        let text = match self {
            Decimal::Integer(value) => value.to_string(),
            Decimal::Text(text) => text.trim().to_owned(),
        };
        let (whole, fraction) = text.split_once('.').unwrap_or((text.as_str(), ""));
        let digits = |part: &str| part.bytes().all(|byte| byte.is_ascii_digit());
        if whole.is_empty() || !digits(whole) || !digits(fraction) || text.len() > 24 {
            return Err(format!(
                "{name} must be a non-negative decimal (\"10.50\" or 10), got `{text}`"
            ));
        }
        Ok(text)
    }
}

/// The connectors Obol has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcquirerKind {
    /// YooKassa API v3 (`POST /payments`, `GET /payments/{id}`, `POST /refunds`, …).
    Yookassa,
}

impl AcquirerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AcquirerKind::Yookassa => "yookassa",
        }
    }
}

/// A live route as configured.
#[derive(Debug, Clone)]
pub struct AcquirerConfig {
    /// Its name and currencies: what the route choice reads.
    pub route: LiveRoute,
    pub kind: AcquirerKind,
    /// The provider's API base (`https://api.yookassa.ru/v3`), without a trailing `/`.
    pub api_url: String,
    pub shop_id: String,
    pub secret_key: Secret<String>,
    /// Limits and fees of the route's card service, as decimal text in each currency's major
    /// unit (`fee_rate` in percent); `None`: no limit, no fee.
    pub amount_min: Option<String>,
    pub amount_max: Option<String>,
    pub fee_rate: Option<String>,
    pub fee_fix: Option<String>,
}

/// The longest route name: it appears in URLs (`/notifications/yookassa/{name}`) and accounts
/// (`clearing:{name}`).
const NAME_LENGTH_MAX: usize = 64;

/// Names a route may not take.
const RESERVED_NAMES: [&str; 4] = ["none", "sandbox", "offline", "upstream"];

/// The environment variable that may hold a route's secret key.
pub fn secret_key_variable(name: &str) -> String {
    format!(
        "OBOL_ACQUIRERS_{}_SECRET_KEY",
        name.to_ascii_uppercase().replace('-', "_")
    )
}

pub(super) fn load(
    tables: Vec<FileAcquirer>,
    environment: &dyn Environment,
) -> Result<Vec<AcquirerConfig>, ConfigError> {
    let invalid = |message: String| ConfigError::Invalid {
        name: "acquirers",
        message,
    };
    let mut routes: Vec<AcquirerConfig> = Vec::with_capacity(tables.len());
    for table in tables {
        let name = table.name;
        let name_fits = !name.is_empty()
            && name.len() <= NAME_LENGTH_MAX
            && name.bytes().all(|byte| {
                byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-' || byte == b'_'
            });
        // `none` unsets a merchant's route; the others name the built-in clearing accounts a
        // route's `clearing:{name}` must never share.
        if !name_fits || RESERVED_NAMES.contains(&name.as_str()) {
            return Err(invalid(format!(
                "a route's name must be 1 to {NAME_LENGTH_MAX} of a-z, 0-9, - and _ (and not none, sandbox, offline or upstream), got `{name}`"
            )));
        }
        if routes.iter().any(|route| route.route.name == name) {
            return Err(invalid(format!("two routes are named `{name}`")));
        }
        let kind = match table.kind.as_str() {
            "yookassa" => AcquirerKind::Yookassa,
            other => {
                return Err(invalid(format!(
                    "route `{name}`: unknown kind `{other}` (known: yookassa)"
                )));
            }
        };
        let api_url = table.api_url.trim().trim_end_matches('/').to_owned();
        let parsed = reqwest::Url::parse(&api_url)
            .map_err(|_| invalid(format!("route `{name}`: api_url `{api_url}` is not a URL")))?;
        if !matches!(parsed.scheme(), "http" | "https")
            || parsed.host_str().is_none()
            || !parsed.username().is_empty()
            || parsed.password().is_some()
            || parsed.query().is_some()
            || parsed.fragment().is_some()
        {
            return Err(invalid(format!(
                "route `{name}`: api_url must be an http(s) URL with a host and no credentials, query or fragment"
            )));
        }
        if table.shop_id.trim().is_empty() {
            return Err(invalid(format!("route `{name}`: shop_id is required")));
        }
        let variable = secret_key_variable(&name);
        let secret_key = environment
            .get(&variable)
            .or(table.secret_key)
            .filter(|key| !key.trim().is_empty())
            .ok_or_else(|| {
                invalid(format!(
                    "route `{name}`: secret_key is required (in the file or in {variable})"
                ))
            })?;
        if table.currencies.is_empty() {
            return Err(invalid(format!(
                "route `{name}`: currencies must name at least one currency"
            )));
        }
        let mut currencies = Vec::with_capacity(table.currencies.len());
        for code in &table.currencies {
            let currency = Currency::parse(code.trim())
                .map_err(|_| invalid(format!("route `{name}`: unknown currency `{code}`")))?;
            if !currencies.contains(&currency) {
                currencies.push(currency);
            }
        }
        let decimal = |value: Option<Decimal>, key: &str| {
            value
                .map(|value| value.text(&format!("route `{name}`: {key}")))
                .transpose()
                .map_err(invalid)
        };
        routes.push(AcquirerConfig {
            amount_min: decimal(table.amount_min, "amount_min")?,
            amount_max: decimal(table.amount_max, "amount_max")?,
            fee_rate: decimal(table.fee_rate, "fee_rate")?,
            fee_fix: decimal(table.fee_fix, "fee_fix")?,
            route: LiveRoute { name, currencies },
            kind,
            api_url,
            shop_id: table.shop_id.trim().to_owned(),
            secret_key: Secret::new(secret_key.trim().to_owned()),
        });
    }
    Ok(routes)
}

/// The first route whose `api_url` is this server's own YooKassa sandbox (reached through
/// `public_url` or the bound address): a live route may never settle live money with test
/// cards.
pub fn route_to_own_sandbox<'a>(
    routes: &'a [AcquirerConfig],
    own_bases: &[String],
) -> Option<&'a AcquirerConfig> {
    let normalized = |url: &str| {
        reqwest::Url::parse(url)
            .map(|url| {
                format!(
                    "{}://{}:{}{}",
                    url.scheme(),
                    match url
                        .host_str()
                        .unwrap_or_default()
                        .to_ascii_lowercase()
                        .as_str()
                    {
                        "localhost" | "[::1]" => "127.0.0.1".to_owned(),
                        host => host.to_owned(),
                    },
                    url.port_or_known_default().unwrap_or_default(),
                    url.path().trim_end_matches('/')
                )
            })
            .unwrap_or_else(|_| url.to_owned())
    };
    routes.iter().find(|route| {
        let target = normalized(&route.api_url);
        own_bases.iter().any(|base| {
            let sandbox = normalized(&format!("{}/sandbox", base.trim_end_matches('/')));
            target == sandbox || target.starts_with(&format!("{sandbox}/"))
        })
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn tables(text: &str) -> Vec<FileAcquirer> {
        #[derive(Deserialize)]
        struct File {
            acquirers: Vec<FileAcquirer>,
        }
        toml::from_str::<File>(text).unwrap().acquirers
    }

    const MAIN: &str = "[[acquirers]]\nname = \"yookassa-main\"\nkind = \"yookassa\"\n\
        api_url = \"https://api.yookassa.ru/v3/\"\nshop_id = \"123456\"\ncurrencies = [\"RUB\"]\n\
        amount_min = 1\nfee_rate = \"2.8\"\n";

    #[test]
    fn a_route_takes_its_secret_from_the_environment_first() {
        let environment: HashMap<String, String> = [(
            "OBOL_ACQUIRERS_YOOKASSA_MAIN_SECRET_KEY".to_owned(),
            "live_from_env".to_owned(),
        )]
        .into();
        let routes = load(tables(MAIN), &environment).unwrap();
        assert_eq!(routes.len(), 1);
        let route = &routes[0];
        assert_eq!(route.route.name, "yookassa-main");
        assert_eq!(route.route.currencies, [Currency::parse("RUB").unwrap()]);
        assert_eq!(route.api_url, "https://api.yookassa.ru/v3", "no trailing /");
        assert_eq!(route.secret_key.expose(), "live_from_env");
        assert_eq!(route.amount_min.as_deref(), Some("1"));
        assert_eq!(route.fee_rate.as_deref(), Some("2.8"));
        assert_eq!(
            secret_key_variable("yookassa-main"),
            "OBOL_ACQUIRERS_YOOKASSA_MAIN_SECRET_KEY"
        );
    }

    #[test]
    fn a_route_that_cannot_work_is_refused() {
        let none: HashMap<String, String> = HashMap::new();
        let with = |extra: &str| format!("{MAIN}secret_key = \"k\"\n{extra}");
        assert!(load(tables(&with("")), &none).is_ok());
        for (text, problem) in [
            (MAIN.to_owned(), "secret_key is required"),
            (MAIN.replace("yookassa-main", "Main Route"), "name"),
            (
                MAIN.replace("name = \"yookassa-main\"", "name = \"none\""),
                "name",
            ),
            (
                with("").replace("kind = \"yookassa\"", "kind = \"stripe\""),
                "unknown kind",
            ),
            (
                with("").replace("[\"RUB\"]", "[\"RUR\"]"),
                "unknown currency",
            ),
            (with("").replace("[\"RUB\"]", "[]"), "at least one currency"),
            (with("").replace("https://api", "ftp://api"), "http(s)"),
            (
                with("").replace("https://api", "https://user:pw@api"),
                "credentials",
            ),
            (with("").replace("\"2.8\"", "\"2,8\""), "fee_rate"),
            (format!("{}\n{}", with(""), with("")), "two routes"),
        ] {
            let error = load(tables(&text), &none).unwrap_err().to_string();
            assert!(error.contains(problem), "{problem}: {error}");
        }
    }

    #[test]
    fn the_servers_own_sandbox_is_found_however_it_is_spelled() {
        let none: HashMap<String, String> = HashMap::new();
        let route = |url: &str| {
            load(
                tables(
                    &format!("{MAIN}secret_key = \"k\"\n")
                        .replace("https://api.yookassa.ru/v3/", url),
                ),
                &none,
            )
            .unwrap()
        };
        let own = [
            "https://pay.example.com".to_owned(),
            "http://127.0.0.1:8080".to_owned(),
        ];
        for url in [
            "https://pay.example.com/sandbox/yookassa/v3",
            "HTTPS://PAY.example.com:443/sandbox/yookassa/v3/",
            "http://localhost:8080/sandbox/yookassa/v3",
            "http://127.0.0.1:8080/sandbox",
        ] {
            assert!(route_to_own_sandbox(&route(url), &own).is_some(), "{url}");
        }
        for url in [
            "https://api.yookassa.ru/v3",
            "http://127.0.0.1:8081/sandbox/yookassa/v3",
            "https://pay.example.com/sandboxes/v3",
        ] {
            assert!(route_to_own_sandbox(&route(url), &own).is_none(), "{url}");
        }
    }
}
