//! `snowsync`: the operator's command-line tool. It parses arguments, calls the engine in
//! `snowsync` (the library) and prints; nothing else lives here.

mod output;
mod progress;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use snowsync::lambda::{Budget, Job};
use snowsync::pull::PullEvent;
use snowsync::push::PushEvent;
use snowsync::runner::Mode;
use snowsync::state::{Direction, Outcome};
use snowsync::telemetry::{self, LogFormat};
use snowsync::tenant::config::{TenantConfig, TenantId};
use snowsync::tenant::schedules::ScheduleSettings;
use snowsync::tenant::secrets::{Credentials, StoredCredentials};
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

fn read_file(path: &PathBuf, what: &str) -> Result<String, SyncError> {
    std::fs::read_to_string(path)
        .map_err(|e| SyncError::config(format!("cannot read {what} {}: {e}", path.display())))
}

/// Warns on stderr when a credentials file may be read by its group or by others: it holds a
/// password or a private key (the file is read all the same).
fn warn_if_shared(path: &PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            eprintln!(
                "warning: {} is readable by {} (mode {mode:03o}) and holds a secret: chmod 600 {0}, and delete it once the tenant is added",
                path.display(),
                if mode & 0o007 != 0 { "every user" } else { "its group" },
            );
        }
    }
}

/// Reads and validates a tenant config: the one path `tenant add` and `tenant init` share.
fn read_config(path: &PathBuf) -> Result<(TenantConfig, String), SyncError> {
    let text = read_file(path, "config")?;
    let cfg = TenantConfig::parse(&text).map_err(|e| e.context(path.display()))?;
    Ok((cfg, text))
}

async fn tenant_add(deps: &Deps, config: &PathBuf, credentials: &PathBuf) -> Result<(), SyncError> {
    let (cfg, text) = read_config(config)?;
    warn_if_shared(credentials);
    let creds_text = read_file(credentials, "credentials file")?;
    let stored =
        StoredCredentials::parse(&creds_text).map_err(|e| e.context(credentials.display()))?;
    if stored.next_private_key.is_some() {
        return Err(SyncError::config(format!(
            "{}: \"next_private_key\" is a rotation's state, written by snowsync tenant rotate-key: remove it from the file",
            credentials.display()
        )));
    }
    // A key that does not decrypt or parse is caught now, not at the first scheduled run.
    if let Credentials::KeyPair {
        private_key,
        passphrase,
    } = &stored.credentials
    {
        snowsync::snowflake::keypair::load_private_key(private_key, passphrase.as_ref())
            .map_err(|e| e.context(credentials.display()))?;
    }
    deps.secrets.put_stored(&cfg.tenant, &stored).await?;
    for s in snowsync::onboard::register(deps, &cfg, &text).await? {
        println!("schedule {s}");
    }
    println!(
        "tenant {} stored: {} pull table(s), {} push export(s), secret {}",
        cfg.tenant,
        cfg.pull.len(),
        cfg.push.len(),
        cfg.tenant.secret_name()
    );
    Ok(())
}

/// `snowsync tenant init`: the customer's script on stdout (or the `--json` document), what
/// was stored on stderr.
async fn tenant_init(deps: &Deps, config: &PathBuf, as_json: bool) -> Result<(), SyncError> {
    let (cfg, text) = read_config(config)?;
    let done = snowsync::onboard::init::init(deps, &cfg, &text).await?;
    if let Err(e) = &done.egress {
        eprintln!(
            "warning: snowsync's egress IPs are unknown ({e}): the network policy has the placeholder {}; replace it with what snowsync egress-ips prints once the stack is deployed",
            snowsync::onboard::sql::EGRESS_PLACEHOLDER
        );
    }
    if as_json {
        output::print_json(&output::onboarding_json(&done));
    } else {
        print!("{}", done.script.text());
    }
    for s in &done.schedules {
        eprintln!("schedule {s}");
    }
    eprintln!(
        "tenant {} stored: {} pull table(s), {} push export(s); its private key is in secret {} (public key {}). Once the customer has run the SQL: snowsync check {}",
        cfg.tenant,
        cfg.pull.len(),
        cfg.push.len(),
        cfg.tenant.secret_name(),
        done.public_key.fingerprint(),
        cfg.tenant
    );
    Ok(())
}

/// `snowsync tenant rotate-key`: the step's statement on stdout (or the `--json` document),
/// what to do next on stderr. A refused verification exits non-zero.
async fn rotate_key(
    deps: &Deps,
    tenant: &str,
    verify: bool,
    as_json: bool,
) -> Result<bool, SyncError> {
    use snowsync::onboard::rotate::{self, Verification};
    let (rotation, refused) = if verify {
        match rotate::verify(deps, tenant).await? {
            Verification::Switched(r) => (r, None),
            Verification::Refused { pending, error } => (pending, Some(error)),
        }
    } else {
        (rotate::start(deps, tenant).await?, None)
    };
    let next = format!("snowsync tenant rotate-key {tenant} --verify");
    if as_json {
        output::print_json(&output::rotation_json(
            &rotation,
            verify,
            refused.as_ref(),
            &next,
        ));
    } else {
        print!("{}", output::statement_text(&rotation.statement));
    }
    let key = rotation.public_key.fingerprint();
    let old = rotation.previous_key.fingerprint();
    match (&refused, rotation.step) {
        (Some(e), _) => {
            eprintln!(
                "error: the new key {key} does not log in yet ({}: {e}); nothing changed and runs still use the current key: have the customer run the ALTER USER above, then {next}",
                e.kind()
            );
            return Ok(false);
        }
        (None, snowsync::onboard::rotate::Step::Verified) => eprintln!(
            "tenant {tenant}: the new key {key} logged in and is now in use ({}); have the customer run the statement above to drop the old key {old}",
            rotation.slot.parameter()
        ),
        (None, _) if rotation.generated => eprintln!(
            "tenant {tenant}: next key {key} generated and kept as pending in secret {}; runs still use the current key {old}. Have the customer run the statement above, then: {next}",
            rotation.tenant.secret_name()
        ),
        (None, _) => eprintln!(
            "tenant {tenant}: a rotation is in progress already; its pending key {key} is printed again (runs still use {old}). Once the customer has run the statement above: {next}"
        ),
    }
    Ok(true)
}

/// `snowsync status`: every tenant's (or one tenant's) tables and exports.
async fn status(deps: &Deps, tenant: Option<String>, as_json: bool) -> Result<(), SyncError> {
    let tenants = match tenant {
        Some(t) => vec![t],
        None => deps.state.list_tenants().await?,
    };
    let mut all = Vec::with_capacity(tenants.len());
    for t in tenants {
        let id = TenantId::parse(&t)?;
        let mut rows = deps.state.statuses(&id).await?;
        rows.sort_by(|a, b| {
            (a.direction.as_str(), &a.object).cmp(&(b.direction.as_str(), &b.object))
        });
        let (periods, limits, deletes) = match deps.state.load_tenant(&t).await {
            Ok(cfg) => {
                let period = |e: &Option<String>| {
                    e.as_deref()
                        .and_then(snowsync::tenant::config::Schedule::period)
                };
                let deletes = cfg
                    .pull
                    .iter()
                    .filter_map(|p| Some((p.table.to_string(), p.deletes?.as_str())))
                    .collect();
                (
                    (period(&cfg.schedule.pull), period(&cfg.schedule.push)),
                    cfg.limits,
                    deletes,
                )
            }
            Err(_) => ((None, None), Default::default(), Vec::new()),
        };
        // Status still shows the runs when the platform database cannot be measured.
        let usage = match deps
            .platform
            .usage(&snowsync::postgres::PgTenant::of(&id), None)
            .await
        {
            Ok(u) => Some(u),
            Err(e) => {
                eprintln!("warning: usage of tenant {id} unknown: {e}");
                None
            }
        };
        all.push(output::TenantStatus {
            tenant: t,
            rows,
            periods,
            usage,
            limits: limits.or(deps.settings.default_limits),
            deletes,
        });
    }
    if as_json {
        output::print_json(&output::status_json(&all));
    } else {
        println!("{}", output::status_table(&all));
        println!("{}", output::usage_table(&all));
    }
    Ok(())
}

/// `snowsync runs`: a tenant's run records, newest first.
async fn runs(
    deps: &Deps,
    tenant: &str,
    object: Option<&str>,
    limit: usize,
    as_json: bool,
) -> Result<(), SyncError> {
    let id = TenantId::parse(tenant)?;
    let mut runs = deps.state.runs(&id).await?;
    if let Some(o) = object {
        let o = o.to_uppercase();
        runs.retain(|r| {
            let name = r.object.to_uppercase();
            name == o || name.rsplit('.').next() == Some(o.as_str())
        });
    }
    runs.sort_by_key(|r| std::cmp::Reverse(r.started_at));
    runs.truncate(limit);
    if as_json {
        output::print_json(&serde_json::json!({
            "tenant": id.as_str(),
            "runs": runs.iter().map(output::run_json).collect::<Vec<_>>(),
        }));
    } else if runs.is_empty() {
        println!("no runs recorded for tenant {id}");
    } else {
        println!("{}", output::runs_table(&runs));
    }
    Ok(())
}

/// Runs a pull or push: in this process, printing each object's report, or with `remote` in
/// the deployed function: a backfill asynchronously (it may take many invocations), anything
/// else synchronously with its result printed.
/// `snowsync unit`: one event answered as the function answers it.
async fn unit<J: Job>(deps: &Deps, event: &str) -> Result<serde_json::Value, SyncError> {
    let job: J = serde_json::from_str(event)
        .map_err(|e| SyncError::config(format!("event: {e}: send {}", J::SHAPE)))?;
    let run_id = format!("local-{}", uuid::Uuid::new_v4());
    snowsync::lambda::answer(&job, deps, &run_id, &Budget::default(), None).await
}

async fn run_job<J: Job>(
    deps: &Deps,
    job: J,
    remote: bool,
    backfill: bool,
    flags: Flags,
) -> Result<bool, SyncError> {
    let direction = J::DIRECTION;
    if remote {
        let settings = ScheduleSettings::from_env();
        let function = match direction {
            Direction::Pull => settings.pull_function,
            Direction::Push => settings.push_function,
        };
        return remote_run(deps, &function, &job, backfill, direction.objects_key()).await;
    }
    let run_id = uuid::Uuid::new_v4().to_string();
    let mut deps = deps.clone();
    deps.watcher = progress::watcher(flags.quiet);
    let report = job.run(&deps, &run_id, &Budget::default()).await?;
    if flags.json {
        output::print_json(&serde_json::to_value(&report).unwrap_or_default());
        return Ok(!report.objects.iter().any(|r| r.outcome == Outcome::Failed));
    }
    if report.objects.is_empty() {
        println!(
            "tenant {} has no [[{}]] {}: nothing to do",
            report.tenant,
            direction.as_str(),
            direction.objects_key()
        );
    }
    Ok(output::print_reports(&report.objects))
}

/// Invokes the deployed function with `event` and prints what it reports.
/// `--remote` when the stack has the direction's state machine: a run of the tenant's every
/// table or export as the schedule starts it, fanned out into units of work (a `--table` or
/// `--source` selection invokes the function instead).
async fn start_execution(
    machine: &str,
    tenant: &str,
    mode: Mode,
    flags: Flags,
) -> Result<bool, SyncError> {
    TenantId::parse(tenant)?;
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let input = serde_json::json!({ "tenant": tenant, "mode": mode.as_str() });
    let started = aws_sdk_sfn::Client::new(&config)
        .start_execution()
        .state_machine_arn(machine)
        .name(format!("manual-{}", uuid::Uuid::new_v4().simple()))
        .input(input.to_string())
        .send()
        .await
        .map_err(|e| {
            snowsync::error::aws_error(
                "Step Functions",
                &format!("start an execution of {machine}"),
                ": is the stack deployed, and SNOWSYNC_PULL_STATE_MACHINE_ARN / SNOWSYNC_PUSH_STATE_MACHINE_ARN its outputs?",
                e.into_service_error(),
            )
        })?;
    let execution = started.execution_arn();
    if flags.json {
        output::print_json(&serde_json::json!({ "tenant": tenant, "execution_arn": execution }));
    } else {
        println!("started {execution} (follow it in the Step Functions console, or with snowsync status)");
    }
    Ok(true)
}

async fn remote_run<E: serde::Serialize>(
    deps: &Deps,
    function: &str,
    event: &E,
    asynchronous: bool,
    results: &str,
) -> Result<bool, SyncError> {
    let payload =
        serde_json::to_value(event).map_err(|e| SyncError::config(format!("encode event: {e}")))?;
    let (id, result) =
        snowsync::deployment::invoke(&deps.lambda, function, &payload, asynchronous).await?;
    match result {
        None => {
            println!(
                "invoked {function} asynchronously: request {id} (follow it with snowsync status)"
            );
            Ok(true)
        }
        Some(v) => {
            println!("{function} request {id}:");
            let mut ok = true;
            for r in v[results].as_array().into_iter().flatten() {
                let outcome = r["outcome"].as_str().unwrap_or("?");
                ok &= outcome != "failed";
                println!(
                    "{:<40} {:<15} read {:>10}  written {:>10}  {}",
                    r["object"].as_str().unwrap_or("?"),
                    outcome,
                    r["rows_read"],
                    r["rows_written"],
                    r["error"].as_str().unwrap_or("")
                );
            }
            Ok(ok)
        }
    }
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
