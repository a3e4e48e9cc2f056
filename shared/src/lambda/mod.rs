//! The functions' edge, one for both directions: parse the contract's event, run the job within
//! the invocation's deadline, emit metrics, continue in a fresh invocation when an object
//! stopped early, and return the contract's result. The `pull` and `push` binaries are one
//! line each: [`serve`] for their [`Job`].
//!
//! | file | what it owns |
//! |---|---|
//! | `mod.rs` | [`Job`], [`serve`] and [`handle`], errors as `Diagnostic`s |
//! | [`budget`] | the invocation's time, and when a run stops to continue |
//! | `continuation` | the fresh invocation a run continues in, and the bound on hops |

use std::future::Future;

use lambda_runtime::{Context, Diagnostic, LambdaEvent};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::deps::Deps;
use crate::error::{Result, SyncError};
use crate::runner::RunReport;
use crate::state::Direction;
use crate::telemetry::emit_metrics;
use crate::tenant::config::TenantConfig;

pub mod budget;
mod continuation;

pub use budget::Budget;
pub use continuation::MAX_HOPS;

/// What a function runs: its event (the contract's shape) and how to run it.
pub trait Job: DeserializeOwned + Serialize + Clone + Send + Sync {
    /// Pull or push.
    const DIRECTION: Direction;

    /// The event's shape, named in the error for a malformed one.
    const SHAPE: &'static str;

    /// The tenant the event names, as written (validated by [`handle`]).
    fn tenant(&self) -> &str;

    /// How many times this run has already continued in a fresh invocation (the event's
    /// `hop`, one more in the event a continuation is invoked with).
    fn hop_mut(&mut self) -> &mut u32;

    /// Whether the event asks for the run's units of work instead of running it.
    fn planning(&self) -> bool;

    /// Whether the event comes from the state machine, which carries a run on past the
    /// deadline itself.
    fn orchestrated(&self) -> bool;

    /// The run's units of work: one event per table, export or key range, each run on its
    /// own (`run_id` holds what the plan takes a lease of).
    ///
    /// # Errors
    /// A `config` error naming a table or source the tenant does not configure; what the
    /// split of a table's backfill meets.
    fn units(
        &self,
        deps: &Deps,
        cfg: &TenantConfig,
        run_id: &str,
    ) -> impl Future<Output = Result<Vec<Self>>> + Send;

    /// Runs the event; per-object failures are reported in the result.
    fn run(
        &self,
        deps: &Deps,
        run_id: &str,
        budget: &Budget,
    ) -> impl Future<Output = Result<RunReport>> + Send;
}

/// Lambda's error shape: the type is the error kind, so retry policies and alarms can tell
/// `transient` from everything an operator must fix.
impl From<SyncError> for Diagnostic {
    fn from(e: SyncError) -> Self {
        Diagnostic {
            error_type: e.kind().as_str().to_owned(),
            error_message: e.to_string(),
        }
    }
}

/// A function's process: JSON logs, the clients built once per cold start, then every event
/// of `J` through [`handle`].
///
/// # Errors
/// When the clients cannot be built (a missing setting) or the runtime API fails.
pub async fn serve<J: Job>() -> std::result::Result<(), lambda_runtime::Error> {
    crate::telemetry::init(
        crate::telemetry::LogFormat::Json,
        "info,aws_config=warn,aws_smithy_runtime=warn",
    );
    let deps = Deps::from_env().await?;
    let deps = &deps;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: LambdaEvent<Value>| async move { handle::<J>(event, deps).await },
    ))
    .await
}

/// Handles one event of `J`: the function's whole life per invocation.
///
/// # Errors
/// A `Diagnostic` typed by error kind for a malformed event or an unknown tenant, table or
/// source, or when Lambda refuses the continuation; per-object failures are reported in the
/// result instead.
pub async fn handle<J: Job>(
    event: LambdaEvent<Value>,
    deps: &Deps,
) -> std::result::Result<Value, Diagnostic> {
    let (payload, ctx) = event.into_parts();
    let job: J = serde_json::from_value(payload)
        .map_err(|e| SyncError::config(format!("event: {e}: send {}", J::SHAPE)))?;
    let run_id = run_id(&ctx);
    let budget = Budget::from_deadline_ms(ctx.deadline);
    Ok(answer(
        &job,
        deps,
        &run_id,
        &budget,
        Some(&ctx.invoked_function_arn),
    )
    .await?)
}

/// Answers one event of `J`, as the function does (`function`: its own ARN, to continue in a
/// fresh invocation and to emit metrics; `None` in process, where `snowsync unit` answers the
/// state machine's events the same way): the plan of a `plan` event, else the run's result,
/// with `next_event` for an orchestrated run that stopped near its deadline.
///
/// # Errors
/// For a malformed tenant or an unknown tenant, table or source, or when Lambda refuses the
/// continuation; per-object failures are reported in the result instead.
pub async fn answer<J: Job>(
    job: &J,
    deps: &Deps,
    run_id: &str,
    budget: &Budget,
    function: Option<&str>,
) -> Result<Value> {
    // One tenant session per invocation: every tenant read and write of the run goes through
    // it (with SNOWSYNC_TENANT_ROLE_ARN set; unset, the process's own credentials).
    let tenant = crate::tenant::config::TenantId::parse(job.tenant())?;
    let scoped = deps.for_tenant(&tenant).await?;
    if job.planning() {
        return plan(job, &scoped, run_id).await;
    }
    let report = job.run(&scoped, run_id, budget).await?;
    if function.is_some() {
        for r in &report.objects {
            emit_metrics(
                &report.tenant,
                report.direction.as_str(),
                r,
                report.schedule_period,
            );
        }
    }
    // The state machine retries or dead-letters a unit by its invocation's error type.
    if job.orchestrated() {
        if let Some(failure) = report
            .objects
            .iter()
            .find_map(crate::runner::ObjectReport::failure)
        {
            return Err(failure);
        }
    }
    let next = report
        .continued()
        .then(|| continuation::next_hop(job))
        .flatten();
    let mut result = serde_json::to_value(&report)
        .map_err(|e| SyncError::transient(format!("encode result: {e}")))?;
    match (next, function) {
        (Some(next), _) if job.orchestrated() => {
            result["next_event"] = serde_json::to_value(&next)
                .map_err(|e| SyncError::transient(format!("encode event: {e}")))?;
        }
        (Some(next), Some(function)) => {
            let id = continuation::continue_run(deps, function, &next).await?;
            result["continued_by"] = Value::String(id);
        }
        _ => {}
    }
    Ok(result)
}

/// The state machine's first step: the tenant's units of work (one unit event per table or
/// export, each marked `orchestrated`) and how many may run at once.
async fn plan<J: Job>(job: &J, deps: &Deps, run_id: &str) -> Result<Value> {
    let cfg = deps.state.load_tenant(job.tenant()).await?;
    let units = job.units(deps, &cfg, run_id).await?;
    Ok(serde_json::json!({
        "tenant": cfg.tenant.as_str(),
        "max_parallel": cfg.max_parallel,
        "units": units,
    }))
}

/// The run id: the Lambda request id (a local id when there is none).
fn run_id(ctx: &Context) -> String {
    if ctx.request_id.is_empty() {
        format!("local-{}", uuid::Uuid::new_v4())
    } else {
        ctx.request_id.clone()
    }
}
