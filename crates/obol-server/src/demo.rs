//! The demo tenancy: a reseller, a merchant in test mode, a manager, a customer account, a
//! P2P client and an unpaid demo invoice, so a newcomer can pay with a test card at once.

use std::path::Path;

use obol_core::Currency;
use obol_core::ids::{PaymentId, ROOT_RESELLER};
use obol_core::money::Money;
use obol_core::payment::{PaymentDraft, Source};
use obol_store::ops::{catalog, payments, settings};
use serde::{Deserialize, Serialize};

use crate::commands::{self, CommandError, Context, MerchantOptions};
use crate::crypto::OsRandom;

/// Marks a database whose demo tenancy `serve --demo` already seeded.
const DEMO_SEEDED_SETTING: &str = "demo_seeded_at";

#[derive(Debug, Serialize, Deserialize)]
pub struct DemoCredentials {
    pub public_url: String,
    pub reseller: serde_json::Value,
    pub merchant: serde_json::Value,
    pub manager: serde_json::Value,
    pub customer_account: serde_json::Value,
    pub p2p_client: serde_json::Value,
    pub demo_invoice: DemoInvoice,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct DemoInvoice {
    pub id: String,
    pub amount: String,
    pub currency: String,
    pub payment_url: String,
}

fn to_value(value: impl Serialize) -> Result<serde_json::Value, CommandError> {
    serde_json::to_value(value)
        .map_err(|error| CommandError::Invalid(format!("cannot encode demo credentials: {error}")))
}

/// Seeds a new demo tenancy and returns its credentials (shown once: secrets are stored only
/// as digests or encrypted).
pub async fn seed(context: &Context, public_url: &str) -> Result<DemoCredentials, CommandError> {
    // The merchant's callback secret is encrypted under the operator key: without one, fail
    // before anything is created rather than leave half a tenancy behind.
    context.key()?;
    let reseller =
        commands::create_reseller(context, "Demo Reseller", Some(ROOT_RESELLER.get())).await?;
    let merchant = commands::create_merchant(
        context,
        MerchantOptions {
            name: "Demo Shop".to_owned(),
            reseller: reseller.id,
            ..MerchantOptions::default()
        },
    )
    .await?;
    let manager = commands::create_manager(context, reseller.id, "admin", "Demo Admin").await?;
    let customer_account =
        commands::create_customer_account(context, reseller.id, "Demo Customer").await?;
    // A tariff like a wallet's: 1 % plus 5.00, at least 10.00 (in the transfer's currency).
    let tariff = commands::P2pTariff {
        rate: "1".to_owned(),
        fixed: 500,
        min: 1000,
        max: 0,
    };
    let p2p_client =
        commands::create_p2p_client_with(context, "Demo Wallet", false, &tariff).await?;

    let now = context.clock.now();
    let amount = Money::from_minor(10_000, Currency::USD)
        .map_err(|error| CommandError::Invalid(error.to_string()))?;
    let draft = PaymentDraft::builder(
        Source::Cli,
        obol_core::ids::ResellerId::new(reseller.id),
        amount,
    )
    .merchant(obol_core::ids::MerchantId::new(merchant.id))
    .reference_id("demo-invoice-1".to_owned())
    .description("Demo invoice".to_owned())
    .expires_at(now.plus_seconds(2 * 86_400))
    .locale("en".to_owned())
    .test_mode(true)
    .build()
    .map_err(|error| CommandError::Invalid(error.to_string()))?;
    let id = PaymentId::generate(&mut OsRandom);
    let invoice = context
        .store
        .write(move |db| {
            Box::pin(async move {
                let service = catalog::get_service_by_code(db, "payment_card_usd_hpp").await?;
                payments::insert_payment(db, draft, id, service.as_ref(), now).await
            })
        })
        .await?;
    Ok(DemoCredentials {
        public_url: public_url.to_owned(),
        reseller: to_value(&reseller)?,
        merchant: to_value(&merchant)?,
        manager: to_value(&manager)?,
        customer_account: to_value(&customer_account)?,
        p2p_client: to_value(&p2p_client)?,
        demo_invoice: DemoInvoice {
            payment_url: format!("{public_url}/hpp/?cpi={}", invoice.id),
            id: invoice.id.to_string(),
            amount: invoice.amount.to_decimal_string(),
            currency: invoice.amount.currency().code().to_owned(),
        },
    })
}

/// Writes the credentials file with owner-only permissions: it holds secrets.
pub fn write_credentials(path: &Path, credentials: &DemoCredentials) -> Result<(), CommandError> {
    let text = serde_json::to_string_pretty(credentials)
        .map_err(|error| CommandError::Invalid(error.to_string()))?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|error| {
            CommandError::Invalid(format!("cannot create {}: {error}", parent.display()))
        })?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|error| {
        CommandError::Invalid(format!("cannot write {}: {error}", path.display()))
    })?;
    // `mode` applies only when the file is created; an older file is made private too.
    #[cfg(unix)]
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).map_err(
        |error| CommandError::Invalid(format!("cannot protect {}: {error}", path.display())),
    )?;
    std::io::Write::write_all(&mut file, format!("{text}\n").as_bytes())
        .map_err(|error| CommandError::Invalid(format!("cannot write {}: {error}", path.display())))
}

/// For `serve --demo`: seeds the demo tenancy on the first start only; later starts read the
/// credentials written then. Returns `None` when the database was seeded but the file is gone.
pub async fn ensure_seeded(
    context: &Context,
    public_url: &str,
) -> Result<Option<DemoCredentials>, CommandError> {
    let seeded = context
        .store
        .read(|db| Box::pin(settings::get(db, DEMO_SEEDED_SETTING)))
        .await?;
    let path = context.config.demo_credentials_path();
    if seeded.is_some() {
        return Ok(std::fs::read_to_string(&path)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .map(|mut credentials: DemoCredentials| {
                // The port may differ from the first start's: links follow the current address.
                if credentials.public_url != public_url {
                    credentials.demo_invoice.payment_url = credentials
                        .demo_invoice
                        .payment_url
                        .replacen(&credentials.public_url, public_url, 1);
                    credentials.public_url = public_url.to_owned();
                }
                credentials
            }));
    }
    let credentials = seed(context, public_url).await?;
    write_credentials(&path, &credentials)?;
    let at = context.clock.now().unix_micros().to_string();
    context
        .store
        .write(move |db| Box::pin(async move { settings::set(db, DEMO_SEEDED_SETTING, &at).await }))
        .await?;
    Ok(Some(credentials))
}

/// The dashboard's address, on the server the demo invoice's link points at.
fn dashboard_url(payment_url: &str) -> String {
    let base = payment_url
        .find("/hpp")
        .map_or(payment_url, |index| &payment_url[..index]);
    format!("{base}/dashboard")
}

/// The credentials as a person reads them; `written_to` names the file that also holds them.
pub fn describe(credentials: &DemoCredentials, written_to: Option<&Path>) -> String {
    let heading = match written_to {
        Some(path) => format!("Demo tenancy (also written to {}):", path.display()),
        None => "Demo tenancy (shown once: its secrets are stored only as digests or encrypted):"
            .to_owned(),
    };
    let field = |value: &serde_json::Value, key: &str| {
        value
            .get(key)
            .map(|field| field.to_string().trim_matches('"').to_owned())
            .unwrap_or_default()
    };
    format!(
        "{heading}\n  \
         reseller          #{reseller}\n  \
         merchant          #{merchant} public_key={public_key}\n                    api_login={api_login} api_secret={api_secret}\n                    callback_secret={callback_secret}\n  \
         manager (admin)   #{manager} api_token={api_token}\n  \
         customer account  #{account}\n  \
         P2P client        client_id={client_id} signing_key={signing_key}\n\
         Pay the demo invoice ({amount} {currency}): {url}\n  \
         test card 4242 4242 4242 4242, any future expiry, any CVV\n\
         Dashboard: {dashboard}\n  \
         sign in with the manager's api_token: {api_token}\n",
        reseller = field(&credentials.reseller, "id"),
        merchant = field(&credentials.merchant, "id"),
        public_key = field(&credentials.merchant, "public_key"),
        api_login = field(&credentials.merchant, "api_login"),
        api_secret = field(&credentials.merchant, "api_secret"),
        callback_secret = field(&credentials.merchant, "callback_secret"),
        manager = field(&credentials.manager, "id"),
        api_token = field(&credentials.manager, "api_token"),
        account = field(&credentials.customer_account, "id"),
        client_id = field(&credentials.p2p_client, "client_id"),
        signing_key = field(&credentials.p2p_client, "signing_key"),
        amount = credentials.demo_invoice.amount,
        currency = credentials.demo_invoice.currency,
        url = credentials.demo_invoice.payment_url,
        dashboard = dashboard_url(&credentials.demo_invoice.payment_url),
    )
}
