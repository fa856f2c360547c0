//! The command-line commands (SPEC §1), as library functions: each returns a value the binary
//! prints as text or, with `--json`, as exactly one JSON object. Names of JSON fields are a
//! contract: extend, never rename.

use obol_core::credentials::SecretDigest;
use obol_core::credentials::rotation::{ApiSecretRotation, CallbackSecretRotation};
use obol_core::error::Coded;
use obol_core::ids::{CustomerAccountId, ManagerId, MerchantId, ResellerId, Uuid};
use obol_core::tenancy::{MerchantSettings, Name, Role, TenancyError};
use obol_http::admin;
use obol_store::error::Entity;
use obol_store::ops::refund_requests::RefundRequestStatus;
use obol_store::ops::{credentials, tenancy, verify};
use obol_store::{Backend, Store, StoreError};
use serde::Serialize;

use crate::clock::{SharedClock, SystemClock};
use crate::config::{Config, ConfigError};
use crate::crypto::{KeyError, OperatorKey, OsRandom};

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Invalid(String),
    #[error("cannot listen on {address}: {message}")]
    Listen { address: String, message: String },
}

impl CommandError {
    /// A stable code for `--json` error output and scripts.
    pub fn code(&self) -> &'static str {
        match self {
            CommandError::Config(_) => "config_invalid",
            CommandError::Key(_) => "operator_key",
            CommandError::Store(error) => error.code().code(),
            CommandError::Invalid(_) => "invalid_argument",
            CommandError::Listen { .. } => "listen_failed",
        }
    }
}

/// An open database (and the operator key, where one is configured or generated), for one
/// command.
pub struct Context {
    pub config: Config,
    pub store: Store,
    key: Result<OperatorKey, String>,
    pub clock: SharedClock,
}

impl Context {
    /// Validates the database URL first (an unknown scheme creates nothing), then the operator
    /// key, then opens the store and applies pending migrations.
    pub async fn open(config: Config, clock: SharedClock) -> Result<Context, CommandError> {
        let url = config.database()?;
        let uses_sqlite = matches!(url, obol_store::DatabaseUrl::Sqlite(_));
        // Only commands that encrypt or sign need the key; the others work without one.
        let key = match OperatorKey::for_config(&config, uses_sqlite) {
            Ok(key) => Ok(key),
            Err(KeyError::Missing) => Err(KeyError::Missing.to_string()),
            Err(other) => return Err(other.into()),
        };
        let store = Store::open_with(&url, &config.database).await?;
        store.without_deadline().migrate(clock.now()).await?;
        Ok(Context {
            config,
            store,
            key,
            clock,
        })
    }

    /// The operator key, or the error that says how to configure one.
    pub fn key(&self) -> Result<&OperatorKey, CommandError> {
        self.key
            .as_ref()
            .map_err(|_| CommandError::Key(KeyError::Missing))
    }

    pub async fn open_default(config: Config) -> Result<Context, CommandError> {
        Context::open(config, std::sync::Arc::new(SystemClock)).await
    }
}

fn name(text: &str, what: &str) -> Result<Name, CommandError> {
    Name::parse(text).map_err(|_| {
        CommandError::Invalid(format!("{what} must be 1 to 255 characters and not blank"))
    })
}

fn not_found_as(error: StoreError, message: String) -> CommandError {
    match error {
        StoreError::NotFound(_) => CommandError::Invalid(message),
        other => CommandError::Store(other),
    }
}

#[derive(Debug, Serialize)]
pub struct MigrateOutput {
    pub applied: Vec<i64>,
    pub version: i64,
    pub backend: &'static str,
}

pub async fn migrate(config: Config) -> Result<MigrateOutput, CommandError> {
    let url = config.database()?;
    let store = Store::open_with(&url, &config.database)
        .await?
        .without_deadline();
    let applied = store
        .migrate(obol_core::time::Clock::now(&SystemClock))
        .await?;
    let version = store.applied_versions().await?.last().copied().unwrap_or(0);
    Ok(MigrateOutput {
        applied,
        version,
        backend: url.backend_name(),
    })
}

#[derive(Debug, Serialize)]
pub struct ResellerOutput {
    pub id: i64,
    pub name: String,
    pub parent_id: Option<i64>,
}

pub async fn create_reseller(
    context: &Context,
    name_text: &str,
    parent: Option<i64>,
) -> Result<ResellerOutput, CommandError> {
    let name = name(name_text, "--name")?;
    let parent_id = ResellerId::new(parent.unwrap_or(obol_core::ids::ROOT_RESELLER.get()));
    let now = context.clock.now();
    let reseller = context
        .store
        .write(move |db| Box::pin(tenancy::create_reseller(db, name, parent_id, now)))
        .await
        .map_err(|error| {
            not_found_as(error, format!("parent reseller {parent_id} does not exist"))
        })?;
    Ok(ResellerOutput {
        id: reseller.id.get(),
        name: reseller.name.to_string(),
        parent_id: reseller.parent_id.map(ResellerId::get),
    })
}

/// Options of `merchant create`.
#[derive(Debug, Clone, Default)]
pub struct MerchantOptions {
    pub name: String,
    pub reseller: i64,
    pub live: bool,
    pub forbid_public_access: bool,
    pub webhook_url: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct MerchantOutput {
    pub id: i64,
    pub name: String,
    pub reseller_id: i64,
    pub test_mode: bool,
    pub public_key: String,
    pub api_login: String,
    pub api_secret: String,
    pub callback_secret: String,
    pub forbid_public_access: bool,
    pub webhook_url: Option<String>,
}

fn check_webhook_url(url: &str) -> Result<(), CommandError> {
    if obol_http::admin::webhook_url_valid(url) {
        Ok(())
    } else {
        Err(CommandError::Invalid(format!(
            "--webhook-url must be an http:// or https:// URL, got `{url}`"
        )))
    }
}

pub async fn create_merchant(
    context: &Context,
    options: MerchantOptions,
) -> Result<MerchantOutput, CommandError> {
    let name = name(&options.name, "--name")?;
    if let Some(url) = &options.webhook_url {
        check_webhook_url(url)?;
    }
    let reseller_id = ResellerId::parse(&options.reseller.to_string()).map_err(|_| {
        CommandError::Invalid(format!("reseller {} does not exist", options.reseller))
    })?;
    let (new, secrets) = admin::new_merchant(
        context.key()?,
        reseller_id,
        name,
        options.live,
        MerchantSettings {
            forbid_public_access: options.forbid_public_access,
            webhook_url: options.webhook_url.clone(),
            default_locale: "en".to_owned(),
            acquirer: None,
        },
    );
    let now = context.clock.now();
    let merchant = context
        .store
        .write(move |db| {
            Box::pin(async move { tenancy::create_merchant(db, new, &mut OsRandom, now).await })
        })
        .await
        .map_err(|error| not_found_as(error, format!("reseller {reseller_id} does not exist")))?;
    Ok(MerchantOutput {
        id: merchant.id.get(),
        name: merchant.name.to_string(),
        reseller_id: merchant.reseller_id.get(),
        test_mode: merchant.test_mode,
        public_key: merchant.public_key,
        api_login: merchant.api_login,
        api_secret: secrets.api_secret.expose().to_owned(),
        callback_secret: secrets.callback_secret.expose().to_owned(),
        forbid_public_access: merchant.settings.forbid_public_access,
        webhook_url: merchant.settings.webhook_url,
    })
}

#[derive(Debug, Serialize)]
pub struct ManagerOutput {
    pub id: i64,
    pub reseller_id: i64,
    pub role: &'static str,
    pub name: String,
    pub api_token: String,
}

pub async fn create_manager(
    context: &Context,
    reseller: i64,
    role: &str,
    name_text: &str,
) -> Result<ManagerOutput, CommandError> {
    let role = Role::parse(role).map_err(|_: TenancyError| {
        CommandError::Invalid(format!(
            "unknown role `{role}`: use admin, manager or viewer"
        ))
    })?;
    let name = name(name_text, "--name")?;
    let reseller_id = ResellerId::parse(&reseller.to_string())
        .map_err(|_| CommandError::Invalid(format!("reseller {reseller} does not exist")))?;
    let token = admin::manager_token();
    let digest = token.digest();
    let now = context.clock.now();
    let manager = context
        .store
        .write(move |db| {
            Box::pin(tenancy::create_manager(
                db,
                reseller_id,
                role,
                name,
                digest,
                now,
            ))
        })
        .await
        .map_err(|error| not_found_as(error, format!("reseller {reseller_id} does not exist")))?;
    Ok(ManagerOutput {
        id: manager.id.get(),
        reseller_id: manager.reseller_id.get(),
        role: manager.role.as_str(),
        name: manager.name.to_string(),
        api_token: token.expose().to_owned(),
    })
}

#[derive(Debug, Serialize)]
pub struct CustomerAccountOutput {
    pub id: i64,
    pub reseller_id: i64,
    pub name: String,
}

pub async fn create_customer_account(
    context: &Context,
    reseller: i64,
    name_text: &str,
) -> Result<CustomerAccountOutput, CommandError> {
    let name = name(name_text, "--name")?;
    let reseller_id = ResellerId::parse(&reseller.to_string())
        .map_err(|_| CommandError::Invalid(format!("reseller {reseller} does not exist")))?;
    let now = context.clock.now();
    let account = context
        .store
        .write(move |db| Box::pin(tenancy::create_customer_account(db, reseller_id, name, now)))
        .await
        .map_err(|error| not_found_as(error, format!("reseller {reseller_id} does not exist")))?;
    Ok(CustomerAccountOutput {
        id: CustomerAccountId::get(account.id),
        reseller_id: account.reseller_id.get(),
        name: account.name.to_string(),
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct P2pClientOutput {
    pub client_id: String,
    pub signing_key: String,
    pub name: String,
    pub require_signed_requests: bool,
    pub tariff: P2pTariffOutput,
}

/// A P2P client's commission tariff as given on the command line.
#[derive(Debug, Clone, Default)]
pub struct P2pTariff {
    /// Percent, as decimal text (`1.5`).
    pub rate: String,
    pub fixed: i64,
    pub min: i64,
    pub max: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct P2pTariffOutput {
    pub rate: String,
    pub fixed: i64,
    pub min: i64,
    pub max: i64,
}

/// A P2P client without commission.
pub async fn create_p2p_client(
    context: &Context,
    name_text: &str,
    require_signed_requests: bool,
) -> Result<P2pClientOutput, CommandError> {
    let free = P2pTariff {
        rate: "0".to_owned(),
        ..P2pTariff::default()
    };
    create_p2p_client_with(context, name_text, require_signed_requests, &free).await
}

pub async fn create_p2p_client_with(
    context: &Context,
    name_text: &str,
    require_signed_requests: bool,
    tariff: &P2pTariff,
) -> Result<P2pClientOutput, CommandError> {
    let name = name(name_text, "--name")?;
    let schedule = obol_core::fee::FeeSchedule {
        rate: obol_core::fee::FeeRate::parse_percent(&tariff.rate).map_err(|_| {
            CommandError::Invalid(
                "--commission-rate must be a percentage between 0 and 100 with at most four decimals".to_owned(),
            )
        })?,
        fixed_minor: tariff.fixed,
        min_minor: tariff.min,
        max_minor: tariff.max,
    };
    schedule.validate().map_err(|_| {
        CommandError::Invalid(
            "--commission-fixed, --commission-min and --commission-max must be non-negative, with min <= max when max > 0".to_owned(),
        )
    })?;
    // The clientId is shown once, here: the database keeps only its digest.
    let (client_key, key_digest) = admin::p2p_client_id();
    let admin::SealedSecret {
        secret: signing_key,
        sealed: encrypted,
    } = admin::p2p_signing_key(context.key()?);
    let now = context.clock.now();
    let client = context
        .store
        .write(move |db| {
            Box::pin(async move {
                let client = tenancy::create_p2p_client(
                    db,
                    &key_digest,
                    name,
                    encrypted,
                    require_signed_requests,
                    now,
                )
                .await?;
                obol_store::ops::p2p::set_tariff(db, client.id, schedule).await?;
                Ok(client)
            })
        })
        .await?;
    Ok(P2pClientOutput {
        client_id: client_key.as_str().to_owned(),
        signing_key: signing_key.expose().to_owned(),
        name: client.name.to_string(),
        require_signed_requests: client.require_signed_requests,
        tariff: P2pTariffOutput {
            rate: schedule.rate.to_percent_string(),
            fixed: schedule.fixed_minor,
            min: schedule.min_minor,
            max: schedule.max_minor,
        },
    })
}

/// `p2p client rotate-key`: the client's new signing key, shown once.
#[derive(Debug, Serialize)]
pub struct P2pKeyOutput {
    pub client_id: String,
    pub signing_key: String,
}

/// `p2p client update`.
#[derive(Debug, Serialize)]
pub struct P2pClientUpdateOutput {
    pub client_id: String,
    pub require_signed_requests: bool,
}

/// The client a `--client-id` names (by its digest: the database has no clear ids), and the id
/// as the client spells it (a UUID, lower case).
async fn p2p_client_named(
    context: &Context,
    client_id: &str,
) -> Result<(obol_core::ids::P2pClientId, String), CommandError> {
    let unknown = || CommandError::Invalid(format!("P2P client {client_id} does not exist"));
    // Longer than any credential: refused before any digest or look-up.
    if client_id.len() > 256 {
        return Err(unknown());
    }
    let key = Uuid::parse(client_id.trim()).map_err(|_| unknown())?;
    let digest = SecretDigest::of(key.as_str());
    let found = context
        .store
        .read(move |db| {
            Box::pin(async move { obol_store::ops::p2p::client_by_key(db, &digest).await })
        })
        .await?
        .ok_or_else(unknown)?;
    Ok((found.client.id, key.as_str().to_owned()))
}

/// Replaces a P2P client's signing key: the old one signs no request and no callback from now
/// on (callbacks still waiting are signed with the new one when they are sent).
pub async fn rotate_p2p_signing_key(
    context: &Context,
    client_id: &str,
) -> Result<P2pKeyOutput, CommandError> {
    let operator_key = context.key()?;
    let (id, client_id) = p2p_client_named(context, client_id).await?;
    let admin::SealedSecret {
        secret: signing_key,
        sealed: encrypted,
    } = admin::p2p_signing_key(operator_key);
    context
        .store
        .write(move |db| {
            Box::pin(async move { obol_store::ops::p2p::set_signing_key(db, id, encrypted).await })
        })
        .await?;
    Ok(P2pKeyOutput {
        client_id,
        signing_key: signing_key.expose().to_owned(),
    })
}

/// Sets whether a P2P client must sign its requests.
pub async fn update_p2p_client(
    context: &Context,
    client_id: &str,
    require_signed_requests: bool,
) -> Result<P2pClientUpdateOutput, CommandError> {
    let (id, client_id) = p2p_client_named(context, client_id).await?;
    context
        .store
        .write(move |db| {
            Box::pin(async move {
                obol_store::ops::p2p::set_require_signed_requests(db, id, require_signed_requests)
                    .await
            })
        })
        .await?;
    Ok(P2pClientUpdateOutput {
        client_id,
        require_signed_requests,
    })
}

#[derive(Debug, Serialize)]
pub struct VerifyOutput {
    pub ok: bool,
    pub backend: &'static str,
    pub payments: i64,
    pub transactions: i64,
    pub postings: i64,
    pub violations: Vec<ViolationOutput>,
}

#[derive(Debug, Serialize)]
pub struct ViolationOutput {
    pub check: &'static str,
    pub detail: String,
}

pub async fn verify(context: &Context) -> Result<VerifyOutput, CommandError> {
    // Over a large database the checks take longer than a request's deadline may.
    let report = context
        .store
        .without_deadline()
        .read(|db| Box::pin(verify::verify(db)))
        .await?;
    Ok(VerifyOutput {
        ok: report.is_clean(),
        backend: match context.store.backend() {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        },
        payments: report.payments,
        transactions: report.transactions,
        postings: report.postings,
        violations: report
            .violations
            .into_iter()
            .map(|violation| ViolationOutput {
                check: violation.check,
                detail: violation.detail,
            })
            .collect(),
    })
}

/// What `merchant rotate-secret` prints: exactly these fields (SPEC §1).
#[derive(Debug, Serialize)]
pub struct RotatedApiSecretOutput {
    pub id: i64,
    pub api_login: String,
    pub api_secret: String,
}

/// A merchant id from the command line; one that cannot exist is reported like an unknown one.
fn merchant_id(merchant: i64) -> Result<MerchantId, CommandError> {
    MerchantId::parse(&merchant.to_string())
        .map_err(|_| CommandError::Invalid(format!("merchant {merchant} does not exist")))
}

fn manager_id(manager: i64) -> Result<ManagerId, CommandError> {
    ManagerId::parse(&manager.to_string())
        .map_err(|_| CommandError::Invalid(format!("manager {manager} does not exist")))
}

/// Issues a new `api_secret` for a merchant and prints it once. The old secret stops at once
/// (within the few seconds a node may believe a verified credential), and every bearer token
/// bought with it is revoked (the core's [`ApiSecretRotation`]).
pub async fn rotate_api_secret(
    context: &Context,
    merchant: i64,
) -> Result<RotatedApiSecretOutput, CommandError> {
    let id = merchant_id(merchant)?;
    let now = context.clock.now();
    let current = context
        .store
        .read(move |db| Box::pin(tenancy::get_merchant(db, id)))
        .await
        .map_err(|error| not_found_as(error, format!("merchant {merchant} does not exist")))?;
    // The prefix says the merchant's mode, as at creation.
    let secret = admin::api_secret(current.test_mode);
    let digest = secret.digest();
    let rotated = context
        .store
        .write(move |db| {
            Box::pin(credentials::rotate_api_secret(
                db,
                id,
                digest,
                ApiSecretRotation::at(now),
            ))
        })
        .await
        .map_err(|error| not_found_as(error, format!("merchant {merchant} does not exist")))?;
    Ok(RotatedApiSecretOutput {
        id: rotated.id.get(),
        api_login: rotated.api_login,
        api_secret: secret.expose().to_owned(),
    })
}

/// What `merchant rotate-callback-secret` prints: `id` and `callback_secret` (SPEC §1's
/// convention), and the two fields this command printed before them (`merchant_id`, and until
/// when the previous secret keeps signing, in Unix seconds), kept since outputs are extended,
/// never renamed.
#[derive(Debug, Serialize)]
pub struct RotatedCallbackSecretOutput {
    pub id: i64,
    pub callback_secret: String,
    pub merchant_id: i64,
    pub previous_secret_valid_until: i64,
}

/// Issues a new callback secret for a merchant and prints it once; the old one keeps signing
/// beside it (a second `v1`) for the core's overlap of 24 hours, so receivers can switch
/// without losing a callback ([`CallbackSecretRotation`]).
pub async fn rotate_callback_secret(
    context: &Context,
    merchant: i64,
) -> Result<RotatedCallbackSecretOutput, CommandError> {
    let id = merchant_id(merchant)?;
    let admin::SealedSecret { secret, sealed } = admin::callback_secret(context.key()?);
    let rotation = CallbackSecretRotation::at(context.clock.now());
    context
        .store
        .write(move |db| {
            Box::pin(credentials::rotate_callback_secret(
                db, id, sealed, rotation,
            ))
        })
        .await
        .map_err(|error| not_found_as(error, format!("merchant {merchant} does not exist")))?;
    Ok(RotatedCallbackSecretOutput {
        id: merchant,
        callback_secret: secret.expose().to_owned(),
        merchant_id: merchant,
        previous_secret_valid_until: rotation.previous_until.unix_seconds(),
    })
}

/// What `manager rotate-token` prints: exactly these fields (SPEC §1).
#[derive(Debug, Serialize)]
pub struct RotatedManagerTokenOutput {
    pub id: i64,
    pub api_token: String,
}

/// Issues a new API token for a manager and prints it once; the old token and the dashboard
/// sessions made with it stop at once.
pub async fn rotate_manager_token(
    context: &Context,
    manager: i64,
) -> Result<RotatedManagerTokenOutput, CommandError> {
    let id = manager_id(manager)?;
    let token = admin::manager_token();
    let digest = token.digest();
    context
        .store
        .write(move |db| Box::pin(credentials::rotate_manager_token(db, id, digest)))
        .await
        .map_err(|error| not_found_as(error, format!("manager {manager} does not exist")))?;
    Ok(RotatedManagerTokenOutput {
        id: manager,
        api_token: token.expose().to_owned(),
    })
}

/// What `manager disable` prints: exactly these fields (SPEC §1).
#[derive(Debug, Serialize)]
pub struct DisabledManagerOutput {
    pub id: i64,
    pub disabled: bool,
}

/// Disables a manager: its token and its dashboard sessions stop at once. Disabling a disabled
/// manager succeeds and changes nothing.
pub async fn disable_manager(
    context: &Context,
    manager: i64,
) -> Result<DisabledManagerOutput, CommandError> {
    let id = manager_id(manager)?;
    let now = context.clock.now();
    let standing = context
        .store
        .write(move |db| Box::pin(credentials::disable_manager(db, id, now)))
        .await
        .map_err(|error| not_found_as(error, format!("manager {manager} does not exist")))?;
    Ok(DisabledManagerOutput {
        id: manager,
        disabled: !standing.accepts_token(),
    })
}

#[derive(Debug, Serialize)]
pub struct ReplayOutput {
    pub delivery_id: String,
    pub payment_id: String,
    pub url: String,
    pub status: &'static str,
}

/// Sends a callback again (same delivery id and body), now.
pub async fn replay_callback(
    context: &Context,
    delivery_id: &str,
) -> Result<ReplayOutput, CommandError> {
    let delivery = delivery_id.to_owned();
    let now = context.clock.now();
    let callback = context
        .store
        .write(move |db| {
            Box::pin(async move { obol_store::ops::callbacks::replay(db, &delivery, now).await })
        })
        .await
        .map_err(|error| not_found_as(error, format!("callback {delivery_id} does not exist")))?;
    Ok(ReplayOutput {
        delivery_id: callback.delivery_id,
        payment_id: callback.subject.as_str().to_owned(),
        url: callback.url,
        status: callback.status.as_str(),
    })
}

#[derive(Debug, Serialize)]
pub struct RefundRequestOutput {
    pub id: i64,
    pub payment_id: String,
    pub order_id: Option<i64>,
    pub amount: Option<String>,
    pub currency: Option<String>,
    pub description: Option<String>,
    pub email: Option<String>,
    pub status: String,
}

#[derive(Debug, Serialize)]
pub struct RefundRequestList {
    pub refund_requests: Vec<RefundRequestOutput>,
}

/// Softline's open refund requests, oldest first.
pub async fn list_refund_requests(context: &Context) -> Result<RefundRequestList, CommandError> {
    let requests = context
        .store
        .read(|db| {
            Box::pin(async move {
                let mut out = Vec::new();
                for request in obol_store::ops::refund_requests::list_open(db).await? {
                    let payment =
                        obol_store::ops::payments::get_payment(db, &request.payment_id).await?;
                    out.push(RefundRequestOutput {
                        id: request.id,
                        payment_id: request.payment_id.to_string(),
                        order_id: payment.as_ref().map(|payment| payment.order_id.get()),
                        amount: payment.as_ref().map(|payment| {
                            payment
                                .refundable_rest()
                                .map(|left| left.to_decimal_string())
                                .unwrap_or_default()
                        }),
                        currency: payment
                            .as_ref()
                            .map(|payment| payment.amount.currency().code().to_owned()),
                        description: request.description,
                        email: request.email,
                        status: request.status.as_str().to_owned(),
                    });
                }
                Ok(out)
            })
        })
        .await?;
    Ok(RefundRequestList {
        refund_requests: requests,
    })
}

/// A refund request of a payment a live route settled is carried out at its provider first
/// (SPEC §4): all that is left is refunded there and booked when the provider says so. A
/// provider that refuses stops the command with nothing changed; one that cannot be reached
/// leaves the refund to be retried by the servers' reconciliation worker.
async fn refund_at_provider(
    context: &Context,
    id: i64,
    public_url: &std::sync::Arc<str>,
    registry: &std::sync::Arc<obol_http::door::Registry>,
) -> Result<(), CommandError> {
    let payment = context
        .store
        .read(move |db| {
            Box::pin(async move {
                let request = obol_store::ops::refund_requests::get(db, id).await?;
                if request.status != RefundRequestStatus::Open {
                    return Ok(None);
                }
                obol_store::ops::payments::get_payment(db, &request.payment_id).await
            })
        })
        .await;
    let payment = match payment {
        Ok(Some(payment)) if payment.route.is_some() => payment,
        // Not a routed payment, or no such request: the usual path answers.
        _ => return Ok(()),
    };
    let state = crate::serve::app_state(
        context.config.clone(),
        context.store.clone(),
        context.clock.clone(),
        context.key()?.clone(),
        std::sync::Arc::clone(public_url),
        std::sync::Arc::clone(registry),
    );
    obol_http::upstream::refund(
        &state,
        &payment.id,
        None,
        &obol_core::payment::Actor::Operator,
        None,
    )
    .await
    .map(|_| ())
    .map_err(|error| CommandError::Invalid(format!("the payment provider did not refund: {error}")))
}

/// Carries out (refunds all that is left, which makes a Softline payment `deleted` and sends
/// `product.returned`) or rejects a refund request.
pub async fn close_refund_request(
    context: &Context,
    id: i64,
    reject: bool,
) -> Result<RefundRequestOutput, CommandError> {
    let public_url: std::sync::Arc<str> = context
        .config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", context.config.listen))
        .into();
    let registry = crate::doors::registry().map_err(|error| {
        CommandError::Invalid(format!("cannot build the upstream HTTP client: {error}"))
    })?;
    if !reject {
        refund_at_provider(context, id, &public_url, &registry).await?;
    }
    let outbox =
        obol_http::callbacks::outbox::Outbox::new(public_url, context.key()?.clone(), registry);
    let now = context.clock.now();
    let closed = context
        .store
        .write(move |db| {
            Box::pin(async move {
                let request = obol_store::ops::refund_requests::get(db, id).await?;
                if request.status != RefundRequestStatus::Open {
                    return Err(StoreError::Conflict);
                }
                let payment = obol_store::ops::payments::get_payment(db, &request.payment_id)
                    .await?
                    .ok_or(StoreError::NotFound(Entity::Payment))?;
                // A payment a live route settled was refunded at its provider already.
                if !reject && payment.route.is_none() {
                    // All that is left; the core refuses a payment that holds no money.
                    let refund = payment.refund_event(None).map_err(StoreError::Payment)?;
                    outbox
                        .transition(
                            db,
                            &payment.id,
                            refund,
                            obol_core::payment::Actor::Operator,
                            now,
                        )
                        .await?;
                }
                obol_store::ops::refund_requests::close(
                    db,
                    id,
                    if reject {
                        RefundRequestStatus::Rejected
                    } else {
                        RefundRequestStatus::Done
                    },
                    now,
                )
                .await?;
                let request = obol_store::ops::refund_requests::get(db, id).await?;
                Ok(RefundRequestOutput {
                    id: request.id,
                    payment_id: request.payment_id.to_string(),
                    order_id: Some(payment.order_id.get()),
                    amount: None,
                    currency: Some(payment.amount.currency().code().to_owned()),
                    description: request.description,
                    email: request.email,
                    status: request.status.as_str().to_owned(),
                })
            })
        })
        .await;
    match closed {
        Ok(output) => Ok(output),
        Err(StoreError::NotFound(_)) => Err(CommandError::Invalid(format!(
            "refund request {id} does not exist"
        ))),
        Err(StoreError::Conflict) => Err(CommandError::Invalid(format!(
            "refund request {id} is not open"
        ))),
        Err(other) => Err(other.into()),
    }
}

#[derive(Debug, Serialize)]
pub struct BalancesOutput {
    pub balances: Vec<BalanceOutput>,
}

/// One account's balance in one mode and currency (SPEC §1 `obol balances`).
#[derive(Debug, Serialize)]
pub struct BalanceOutput {
    pub account: String,
    pub mode: &'static str,
    pub currency: String,
    /// Decimal text in the currency's exponent (`"123.45"`, `"-7.00"`).
    pub amount: String,
}

/// Every account with postings, per mode and currency; with `merchant`, that merchant's
/// account only (an unknown merchant is an error).
pub async fn balances(
    context: &Context,
    merchant: Option<i64>,
) -> Result<BalancesOutput, CommandError> {
    let account = match merchant {
        None => None,
        Some(id) => {
            let merchant_id = obol_core::ids::MerchantId::parse(&id.to_string())
                .map_err(|_| CommandError::Invalid(format!("merchant {id} does not exist")))?;
            context
                .store
                .read(move |db| Box::pin(tenancy::get_merchant(db, merchant_id)))
                .await
                .map_err(|error| not_found_as(error, format!("merchant {id} does not exist")))?;
            Some(obol_core::ledger::AccountCode::merchant(merchant_id))
        }
    };
    let balances = context
        .store
        .read(move |db| {
            Box::pin(async move { obol_store::ops::ledger::balances(db, account.as_ref()).await })
        })
        .await?;
    Ok(BalancesOutput {
        balances: balances
            .into_iter()
            .map(|balance| BalanceOutput {
                account: balance.account.as_str().to_owned(),
                mode: balance.mode.as_str(),
                currency: balance.amount.currency().code().to_owned(),
                amount: balance.amount.to_decimal_string(),
            })
            .collect(),
    })
}

/// What `merchant set-acquirer` prints.
#[derive(Debug, Serialize)]
pub struct SetAcquirerOutput {
    pub id: i64,
    /// The live route now named for the merchant's live payments; `null`: the first route
    /// serving each payment's currency.
    pub acquirer: Option<String>,
}

/// Names the live route (an `[[acquirers]]` name of the configuration) that settles a
/// merchant's live payments, or `none` to fall back to the first route serving each payment's
/// currency (SPEC §4). An unknown route name is refused: routes are configured, not invented.
pub async fn set_acquirer(
    context: &Context,
    merchant: i64,
    acquirer: &str,
) -> Result<SetAcquirerOutput, CommandError> {
    let id = merchant_id(merchant)?;
    let chosen = match admin::acquirer_choice(&context.config, acquirer) {
        Ok(chosen) => chosen,
        Err(known) => {
            return Err(CommandError::Invalid(format!(
                "acquirer `{acquirer}` is not configured (configured: {}; or `none`)",
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            )));
        }
    };
    let now = context.clock.now();
    let stored = chosen.clone();
    let merchant_row = context
        .store
        .write(move |db| {
            Box::pin(async move { tenancy::set_acquirer(db, id, stored.as_deref(), now).await })
        })
        .await
        .map_err(|error| not_found_as(error, format!("merchant {merchant} does not exist")))?;
    Ok(SetAcquirerOutput {
        id: merchant,
        acquirer: merchant_row.settings.acquirer,
    })
}
