//! The `obol` binary: parses the command line (a contract, SPEC §1) and calls the library.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use obol_server::clock::SystemClock;
use obol_server::commands::{self, CommandError, Context, MerchantOptions};
use obol_server::config::{Config, Overrides, ProcessEnvironment};
use obol_server::serve::{self, ServeOptions};
use obol_server::{demo, telemetry};
use serde::Serialize;

#[derive(Parser)]
#[command(name = "obol", version, about = "A self-hosted payment gateway")]
struct Cli {
    /// Database URL: sqlite://PATH or postgres://… (env OBOL_DATABASE_URL).
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,
    /// TOML configuration file (env OBOL_CONFIG).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Print exactly one JSON object on standard output.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        /// Address to listen on (port 0: any free port).
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
        /// Base of every link Obol hands out.
        #[arg(long, value_name = "URL")]
        public_url: Option<String>,
        /// Seed a demo tenancy on first start and print its credentials and a payment link.
        #[arg(long)]
        demo: bool,
    },
    /// Apply pending database migrations.
    Migrate,
    /// Seed a demo tenancy into the database and print its credentials.
    Demo,
    /// Resellers.
    Reseller {
        #[command(subcommand)]
        action: ResellerAction,
    },
    /// Merchants.
    Merchant {
        #[command(subcommand)]
        action: MerchantAction,
    },
    /// Managers (employees of a reseller).
    Manager {
        #[command(subcommand)]
        action: ManagerAction,
    },
    /// Customer accounts (payers of a reseller).
    #[command(name = "customer-account")]
    CustomerAccount {
        #[command(subcommand)]
        action: CustomerAccountAction,
    },
    /// P2P transfer API.
    P2p {
        #[command(subcommand)]
        action: P2pAction,
    },
    /// Softline's refund requests, carried out by an operator.
    #[command(name = "refund-request")]
    RefundRequest {
        #[command(subcommand)]
        action: RefundRequestAction,
    },
    /// Callbacks to merchants.
    Callback {
        #[command(subcommand)]
        action: CallbackAction,
    },
    /// Check the ledger and payment invariants; exit 1 on any violation.
    Verify,
    /// Balances of every account with postings, per mode and currency, or of one merchant.
    Balances {
        #[arg(long)]
        merchant: Option<i64>,
    },
}

#[derive(Subcommand)]
enum ResellerAction {
    Create {
        #[arg(long)]
        name: String,
        /// Parent reseller (default: the root reseller 1).
        #[arg(long)]
        parent: Option<i64>,
    },
}

#[derive(Subcommand)]
enum MerchantAction {
    Create(MerchantCreate),
    /// Issue a new api_secret; the old one stops at once, with every bearer token bought with it.
    RotateSecret {
        #[arg(long)]
        merchant: i64,
    },
    /// Issue a new callback secret; the old one keeps signing beside it for 24 hours.
    RotateCallbackSecret {
        #[arg(long)]
        merchant: i64,
    },
    /// Name the live route (an `[[acquirers]]` name, or `none`) that settles its live payments.
    SetAcquirer {
        #[arg(long)]
        merchant: i64,
        #[arg(long, value_name = "NAME|none")]
        acquirer: String,
    },
}

#[derive(Subcommand)]
enum RefundRequestAction {
    /// The open requests.
    List,
    /// Refund all that is left of the payment and close the request.
    Complete {
        #[arg(long)]
        id: i64,
    },
    /// Close the request without refunding.
    Reject {
        #[arg(long)]
        id: i64,
    },
}

#[derive(Subcommand)]
enum CallbackAction {
    /// Send a callback again, now (same delivery id and body).
    Replay {
        #[arg(long, value_name = "UUID")]
        delivery_id: String,
    },
}

#[derive(Args)]
struct MerchantCreate {
    #[arg(long)]
    name: String,
    #[arg(long)]
    reseller: i64,
    /// A live merchant (default: test mode, sandbox services only).
    #[arg(long)]
    live: bool,
    /// The public API and HTML form may not create invoices.
    #[arg(long)]
    forbid_public_access: bool,
    /// Default callback URL for payments that name none.
    #[arg(long, value_name = "URL")]
    webhook_url: Option<String>,
}

#[derive(Subcommand)]
enum ManagerAction {
    Create {
        #[arg(long)]
        reseller: i64,
        #[arg(long, value_parser = ["admin", "manager", "viewer"])]
        role: String,
        #[arg(long)]
        name: String,
    },
    /// Issue a new API token; the old one and its dashboard sessions stop at once.
    RotateToken {
        #[arg(long)]
        manager: i64,
    },
    /// Disable the manager: its token and dashboard sessions stop at once.
    Disable {
        #[arg(long)]
        manager: i64,
    },
}

#[derive(Subcommand)]
enum CustomerAccountAction {
    Create {
        #[arg(long)]
        reseller: i64,
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand)]
enum P2pAction {
    /// P2P clients (wallets, bank apps).
    Client {
        #[command(subcommand)]
        action: P2pClientAction,
    },
}

#[derive(Subcommand)]
enum P2pClientAction {
    Create {
        #[arg(long)]
        name: String,
        /// Require JWT-signed request envelopes.
        #[arg(long)]
        require_signed_requests: bool,
        /// Commission rate of the client's tariff, in percent (`1.5`).
        #[arg(long, default_value = "0")]
        commission_rate: String,
        /// Fixed part of the commission, in minor units of the transfer's currency.
        #[arg(long, default_value_t = 0)]
        commission_fixed: i64,
        /// Smallest commission, in minor units.
        #[arg(long, default_value_t = 0)]
        commission_min: i64,
        /// Largest commission, in minor units (0: no maximum).
        #[arg(long, default_value_t = 0)]
        commission_max: i64,
    },
    /// Replace the client's signing key (shown once); the old key stops at once.
    #[command(name = "rotate-key")]
    RotateKey {
        /// The client's `clientId`.
        #[arg(long)]
        client_id: String,
    },
    /// Change the client's settings.
    Update {
        /// The client's `clientId`.
        #[arg(long)]
        client_id: String,
        /// Whether the client must sign every request: `true` or `false`.
        #[arg(long, action = clap::ArgAction::Set)]
        require_signed_requests: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let json = cli.json;
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            if json {
                print_json(
                    &serde_json::json!({ "error": { "code": error.code(), "message": error.to_string() } }),
                );
            }
            ExitCode::FAILURE
        }
    }
}

fn print_json(value: &impl Serialize) {
    let mut stdout = std::io::stdout().lock();
    let _ = serde_json::to_writer(&mut stdout, value);
    let _ = writeln!(stdout);
    let _ = stdout.flush();
}

/// Prints the result as JSON or as `key: value` lines.
fn print_result(json: bool, value: &impl Serialize) {
    if json {
        print_json(value);
        return;
    }
    if let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(value) {
        for (key, field) in fields {
            match field {
                serde_json::Value::String(text) => println!("{key}: {text}"),
                other => println!("{key}: {other}"),
            }
        }
    }
}

/// Runs one command. Long on purpose: one `match` arm per command of the CLI contract
/// (docs/CLI.md), each only calling `obol_server` and printing its output; splitting it would
/// scatter the contract over functions that each hold one call.
async fn run(cli: Cli) -> Result<ExitCode, CommandError> {
    let mut overrides = Overrides {
        config_file: cli.config.clone(),
        database_url: cli.database_url.clone(),
        ..Overrides::default()
    };
    if let Command::Serve {
        listen, public_url, ..
    } = &cli.command
    {
        overrides.listen = listen.clone();
        overrides.public_url = public_url.clone();
    }
    let config = Config::load(&overrides, &ProcessEnvironment)?;
    let is_serve = matches!(cli.command, Command::Serve { .. });
    telemetry::init(config.log_format, if is_serve { "info" } else { "warn" });
    let json = cli.json;
    match cli.command {
        Command::Serve { demo, .. } => {
            let stop_requested = serve::shutdown_signal();
            let (running, demo_text) =
                serve::start(config, Arc::new(SystemClock), &ServeOptions { demo }).await?;
            if let Some(text) = demo_text {
                print!("{text}");
            }
            println!("listening on http://{}", running.address);
            let _ = std::io::stdout().flush();
            stop_requested.await;
            running.stop().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate => {
            let output = commands::migrate(config).await?;
            print_result(json, &output);
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo => {
            let public_url = config
                .public_url
                .clone()
                .unwrap_or_else(|| format!("http://{}", config.listen));
            let context = Context::open_default(config).await?;
            let credentials = demo::seed(&context, &public_url).await?;
            if json {
                print_json(&credentials);
            } else {
                print!("{}", demo::describe(&credentials, None));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Reseller {
            action: ResellerAction::Create { name, parent },
        } => {
            let context = Context::open_default(config).await?;
            print_result(
                json,
                &commands::create_reseller(&context, &name, parent).await?,
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Merchant {
            action: MerchantAction::Create(options),
        } => {
            let context = Context::open_default(config).await?;
            let options = MerchantOptions {
                name: options.name,
                reseller: options.reseller,
                live: options.live,
                forbid_public_access: options.forbid_public_access,
                webhook_url: options.webhook_url,
            };
            print_result(json, &commands::create_merchant(&context, options).await?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Merchant {
            action: MerchantAction::SetAcquirer { merchant, acquirer },
        } => {
            let context = Context::open_default(config).await?;
            print_result(
                json,
                &commands::set_acquirer(&context, merchant, &acquirer).await?,
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Merchant {
            action: MerchantAction::RotateSecret { merchant },
        } => {
            let context = Context::open_default(config).await?;
            print_result(
                json,
                &commands::rotate_api_secret(&context, merchant).await?,
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Merchant {
            action: MerchantAction::RotateCallbackSecret { merchant },
        } => {
            let context = Context::open_default(config).await?;
            print_result(
                json,
                &commands::rotate_callback_secret(&context, merchant).await?,
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::RefundRequest { action } => {
            let context = Context::open_default(config).await?;
            match action {
                RefundRequestAction::List => {
                    print_result(json, &commands::list_refund_requests(&context).await?)
                }
                RefundRequestAction::Complete { id } => print_result(
                    json,
                    &commands::close_refund_request(&context, id, false).await?,
                ),
                RefundRequestAction::Reject { id } => print_result(
                    json,
                    &commands::close_refund_request(&context, id, true).await?,
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Callback {
            action: CallbackAction::Replay { delivery_id },
        } => {
            let context = Context::open_default(config).await?;
            print_result(
                json,
                &commands::replay_callback(&context, &delivery_id).await?,
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Manager {
            action:
                ManagerAction::Create {
                    reseller,
                    role,
                    name,
                },
        } => {
            let context = Context::open_default(config).await?;
            print_result(
                json,
                &commands::create_manager(&context, reseller, &role, &name).await?,
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Manager {
            action: ManagerAction::RotateToken { manager },
        } => {
            let context = Context::open_default(config).await?;
            print_result(
                json,
                &commands::rotate_manager_token(&context, manager).await?,
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Manager {
            action: ManagerAction::Disable { manager },
        } => {
            let context = Context::open_default(config).await?;
            print_result(json, &commands::disable_manager(&context, manager).await?);
            Ok(ExitCode::SUCCESS)
        }
        Command::CustomerAccount {
            action: CustomerAccountAction::Create { reseller, name },
        } => {
            let context = Context::open_default(config).await?;
            print_result(
                json,
                &commands::create_customer_account(&context, reseller, &name).await?,
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::P2p {
            action:
                P2pAction::Client {
                    action:
                        P2pClientAction::Create {
                            name,
                            require_signed_requests,
                            commission_rate,
                            commission_fixed,
                            commission_min,
                            commission_max,
                        },
                },
        } => {
            let context = Context::open_default(config).await?;
            let tariff = commands::P2pTariff {
                rate: commission_rate,
                fixed: commission_fixed,
                min: commission_min,
                max: commission_max,
            };
            print_result(
                json,
                &commands::create_p2p_client_with(
                    &context,
                    &name,
                    require_signed_requests,
                    &tariff,
                )
                .await?,
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::P2p {
            action:
                P2pAction::Client {
                    action: P2pClientAction::RotateKey { client_id },
                },
        } => {
            let context = Context::open_default(config).await?;
            print_result(
                json,
                &commands::rotate_p2p_signing_key(&context, &client_id).await?,
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::P2p {
            action:
                P2pAction::Client {
                    action:
                        P2pClientAction::Update {
                            client_id,
                            require_signed_requests,
                        },
                },
        } => {
            let context = Context::open_default(config).await?;
            print_result(
                json,
                &commands::update_p2p_client(&context, &client_id, require_signed_requests).await?,
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify => {
            let context = Context::open_default(config).await?;
            let report = commands::verify(&context).await?;
            if json {
                print_json(&report);
            } else {
                println!(
                    "checked {} payments, {} ledger transactions, {} postings on {}",
                    report.payments, report.transactions, report.postings, report.backend
                );
                for violation in &report.violations {
                    println!("VIOLATION {}: {}", violation.check, violation.detail);
                }
                println!(
                    "{}",
                    if report.ok {
                        "ok: no violations"
                    } else {
                        "FAILED: invariants are violated"
                    }
                );
            }
            Ok(if report.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Balances { merchant } => {
            let context = Context::open_default(config).await?;
            let output = commands::balances(&context, merchant).await?;
            if json {
                print_json(&output);
            } else {
                for balance in &output.balances {
                    println!(
                        "{:<32} {:<4} {} {}",
                        balance.account, balance.mode, balance.amount, balance.currency
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
