//! `snowsync`: the operator's command-line tool. It parses arguments, calls the engine in
//! `snowsync` (the library) and prints; nothing else lives here.

mod history;
mod output;
mod progress;
mod runs;
mod tenants;

use history::{runs, status};
use runs::{run_job, start_execution, unit};
use tenants::{rotate_key, tenant_add, tenant_init};

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use snowsync::pull::PullEvent;
use snowsync::push::PushEvent;
use snowsync::runner::Mode;
use snowsync::telemetry::{self, LogFormat};
use snowsync::tenant::config::TenantId;
use snowsync::tenant::schedules::ScheduleSettings;
use snowsync::{Deps, SyncError};

#[derive(Parser)]
#[command(
    name = "snowsync",
    version,
    about = "Operate snowsync: onboard tenants, run pulls and pushes, watch status"
)]
struct Cli {
    /// Print one JSON document instead of text (README, "Machine-readable output").
    #[arg(long, global = true)]
    json: bool,
    /// No progress display while pulls and pushes run.
    #[arg(long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

/// The global flags a run's output follows.
#[derive(Debug, Clone, Copy)]
struct Flags {
    json: bool,
    quiet: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Onboard, list, show and remove tenants.
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// Prove a tenant's setup: login, role, warehouse, database, schema, tables, columns,
    /// cursor and key, push privileges; one line each, with the fix when it fails.
    Check {
        /// The tenant.
        tenant: String,
    },
    /// Run a pull now, in this process.
    Pull {
        /// The tenant.
        tenant: String,
        /// Only these tables (repeatable); default all configured.
        #[arg(long = "table")]
        tables: Vec<String>,
        /// Re-read everything instead of continuing from the watermark.
        #[arg(long)]
        backfill: bool,
        /// Invoke the deployed function instead (asynchronously for a backfill).
        #[arg(long)]
        remote: bool,
        /// Pull this many tables at once (default: the tenant's `max_parallel`).
        #[arg(long, value_name = "K", value_parser = clap::value_parser!(u16).range(1..=64), conflicts_with = "remote")]
        parallel: Option<u16>,
    },
    /// Find rows deleted in the source and remove them from the platform (tables with
    /// `deletes`), in this process.
    Reconcile {
        /// The tenant.
        tenant: String,
        /// Only these tables (repeatable); default every table with `deletes`.
        #[arg(long = "table")]
        tables: Vec<String>,
    },
    /// Run a push now, in this process.
    Push {
        /// The tenant.
        tenant: String,
        /// Only this source (repeatable): actions or stages; default all configured.
        #[arg(long = "source")]
        sources: Vec<String>,
        /// Re-export everything (rows already there are updated, never doubled).
        #[arg(long)]
        backfill: bool,
        /// Invoke the deployed function instead (asynchronously for a backfill).
        #[arg(long)]
        remote: bool,
    },
    /// Print the deployed stack's fixed egress IPs (for the customer's network policy).
    EgressIps,
    /// List a tenant's past runs, newest first: start, duration, plan, outcome, rows, pages,
    /// watermarks, hops.
    Runs {
        /// The tenant.
        tenant: String,
        /// Only this table (DB.SCHEMA.TABLE, or its last part) or export (actions, stages).
        #[arg(long)]
        table: Option<String>,
        /// At most this many runs.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Answer one event of the pull or push function in this process, as the deployed
    /// function does (a plan, a unit, its next event): what the state machine's units run.
    #[command(hide = true)]
    Unit {
        /// `pull` or `push`.
        #[arg(value_parser = ["pull", "push"])]
        function: String,
        /// The event, as JSON.
        event: String,
    },
    /// Show every tenant's tables and exports: last run, outcome, rows, watermark, lag.
    Status {
        /// Only this tenant.
        tenant: Option<String>,
    },
}

#[derive(Subcommand)]
enum TenantCommand {
    /// Validate a config and credentials, store the secret and the config, create or update
    /// the tenant's schedules. Idempotent.
    Add {
        /// The tenant config (TOML).
        config: PathBuf,
        /// The credentials (JSON): {"password": ...} or {"private_key": ..., "private_key_passphrase": ...}
        /// (and "key_slot": 2 when the key is the user's RSA_PUBLIC_KEY_2; see rotate-key).
        #[arg(long)]
        credentials: PathBuf,
    },
    /// Onboard a tenant without handing over a secret: generate its key pair (the private key
    /// goes straight into Secrets Manager), store the config and create the schedules as `add`
    /// does, and print the SQL the customer runs (role, grants, user with the public key,
    /// network policy). Refused for an existing tenant: see rotate-key.
    Init {
        /// The tenant config (TOML).
        config: PathBuf,
    },
    /// Rotate a tenant's key pair without downtime, through the user's second key slot. Step
    /// 1 (no flag) generates the next key and prints the ALTER USER that registers it; step 2
    /// (--verify) logs in with it, switches to it, and prints the ALTER USER that drops the old
    /// key.
    RotateKey {
        /// The tenant.
        tenant: String,
        /// Step 2: log in with the next key and, when that works, make it the key in use.
        #[arg(long)]
        verify: bool,
    },
    /// List onboarded tenants.
    List,
    /// Print a tenant's stored config (never its credentials).
    Show {
        /// The tenant.
        tenant: String,
    },
    /// Delete a tenant's schedules, config, secret and state (pulled data stays in PostgreSQL).
    Remove {
        /// The tenant.
        tenant: String,
        /// Also drop the tenant's PostgreSQL schema (its pulled tables) and role. Refused, with
        /// nothing dropped, when anything outside the schema depends on its tables.
        #[arg(long)]
        purge: bool,
    },
}

async fn run(cli: Cli) -> Result<bool, SyncError> {
    let deps = Deps::from_env().await?;
    let as_json = cli.json;
    let flags = Flags {
        json: cli.json,
        quiet: cli.quiet,
    };
    match cli.command {
        Command::Tenant { command } => match command {
            TenantCommand::Add {
                config,
                credentials,
            } => {
                tenant_add(&deps, &config, &credentials).await?;
            }
            TenantCommand::Init { config } => tenant_init(&deps, &config, as_json).await?,
            TenantCommand::RotateKey { tenant, verify } => {
                return rotate_key(&deps, &tenant, verify, as_json).await;
            }
            TenantCommand::List => {
                let tenants = deps.state.list_tenants().await?;
                if as_json {
                    output::print_json(&serde_json::json!({ "tenants": tenants }));
                } else {
                    let mut rows = Vec::with_capacity(tenants.len());
                    for tenant in tenants {
                        let config = deps.state.load_tenant(&tenant).await.ok();
                        rows.push(output::TenantRow { tenant, config });
                    }
                    println!("{}", output::tenants_table(&rows));
                }
            }
            TenantCommand::Show { tenant } => {
                let id = TenantId::parse(&tenant)?;
                let text =
                    deps.state.get_config(&id).await?.ok_or_else(|| {
                        SyncError::config(format!("tenant {id} is not onboarded"))
                    })?;
                let has_secret = deps.secrets.exists(&id).await?;
                if as_json {
                    output::print_json(&serde_json::json!({
                        "tenant": id.as_str(),
                        "secret": id.secret_name(),
                        "secret_present": has_secret,
                        "config": text,
                    }));
                    return Ok(true);
                }
                println!(
                    "# secret {}: {}",
                    id.secret_name(),
                    if has_secret { "present" } else { "MISSING" }
                );
                print!("{text}");
                if !text.ends_with('\n') {
                    println!();
                }
            }
            TenantCommand::Remove { tenant, purge } => {
                let id = TenantId::parse(&tenant)?;
                // Data first: a refused purge leaves the tenant whole, to retry once fixed.
                let purged = if purge {
                    let pg = snowsync::postgres::PgTenant::of(&id);
                    Some((deps.platform.purge_tenant(&pg).await?, pg))
                } else {
                    None
                };
                snowsync::tenant::schedules::delete_tenant(
                    &deps.scheduler,
                    &snowsync::tenant::schedules::ScheduleSettings::from_env(),
                    &id,
                )
                .await?;
                deps.state.delete_tenant(&id).await?;
                deps.secrets.delete(&id).await?;
                match purged {
                    None => println!(
                        "tenant {id} removed (schedules, config, secret, state); pulled data stays in schema {} (--purge drops it)",
                        id.pg_schema()
                    ),
                    Some((p, pg)) => println!(
                        "tenant {id} removed (schedules, config, secret, state); dropped schema {} ({} tables) and role {}",
                        if p.schema { pg.schema() } else { "(none)" },
                        p.tables.len(),
                        if p.role { pg.role() } else { "(none)" },
                    ),
                }
            }
        },
        Command::Pull {
            tenant,
            tables,
            backfill,
            remote,
            parallel,
        } => {
            let machine = ScheduleSettings::from_env().pull_state_machine;
            if let Some(machine) = machine.filter(|_| remote && tables.is_empty()) {
                return start_execution(&machine, &tenant, Mode::from_backfill(backfill), flags)
                    .await;
            }
            let job = PullEvent {
                tenant,
                tables: Some(tables),
                mode: Mode::from_backfill(backfill),
                hop: 0,
                ..Default::default()
            };
            let mut deps = deps.clone();
            deps.settings.parallel = parallel.map(usize::from);
            return run_job(&deps, job, remote, backfill, flags).await;
        }
        Command::Reconcile { tenant, tables } => {
            let job = snowsync::pull::ReconcileEvent::new(tenant, tables);
            return run_job(&deps, job, false, false, flags).await;
        }
        Command::Push {
            tenant,
            sources,
            backfill,
            remote,
        } => {
            let machine = ScheduleSettings::from_env().push_state_machine;
            if let Some(machine) = machine.filter(|_| remote && sources.is_empty()) {
                return start_execution(&machine, &tenant, Mode::from_backfill(backfill), flags)
                    .await;
            }
            let job = PushEvent {
                tenant,
                sources: Some(sources),
                mode: Mode::from_backfill(backfill),
                hop: 0,
                ..Default::default()
            };
            return run_job(&deps, job, remote, backfill, flags).await;
        }
        Command::Unit { function, event } => {
            let result = if function == "pull" {
                unit::<snowsync::pull::PullFunctionEvent>(&deps, &event).await?
            } else {
                unit::<PushEvent>(&deps, &event).await?
            };
            output::print_json(&result);
        }
        Command::Status { tenant } => status(&deps, tenant, as_json).await?,
        Command::Runs {
            tenant,
            table,
            limit,
        } => runs(&deps, &tenant, table.as_deref(), limit, as_json).await?,
        Command::EgressIps => {
            let function = ScheduleSettings::from_env().pull_function;
            for ip in snowsync::deployment::egress_ips(&deps.lambda, &function).await? {
                println!("{ip}");
            }
        }
        Command::Check { tenant } => {
            let lines = snowsync::check::check_tenant(&deps, &tenant).await?;
            let failed = lines
                .iter()
                .filter(|l| l.status == snowsync::check::Status::Fail)
                .count();
            if as_json {
                output::print_json(&serde_json::json!({
                    "tenant": tenant,
                    "ok": failed == 0,
                    "checks": lines,
                }));
                return Ok(failed == 0);
            }
            for l in &lines {
                println!("{l}");
            }
            if failed > 0 {
                eprintln!("error: {failed} check(s) failed for tenant {tenant}");
                return Ok(false);
            }
        }
    }
    Ok(true)
}

#[tokio::main]
async fn main() -> ExitCode {
    telemetry::init(LogFormat::Text, "warn");
    let cli = Cli::parse();
    match run(cli).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
