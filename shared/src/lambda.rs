//! What the `pull` and `push` functions share at the Lambda edge: the event's deadline, errors
//! as `Diagnostic`s typed by kind, metrics, and continuing a run in a fresh invocation.

use lambda_runtime::{Context, Diagnostic};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::deps::Deps;
use crate::error::SyncError;
use crate::runner::{continue_in_fresh_invocation, Budget, ObjectReport, MAX_HOPS};
use crate::state::Direction;
use crate::telemetry::emit_metrics;

/// Maps an engine error to Lambda's error shape: the type is the error kind, so retry policies
/// and alarms can tell `transient` from everything an operator must fix.
pub fn diagnostic(e: &SyncError) -> Diagnostic {
    Diagnostic {
        error_type: e.kind().as_str().to_owned(),
        error_message: e.to_string(),
    }
}

/// Parses an event, naming the expected shape on error.
///
/// # Errors
/// A `config` diagnostic.
pub fn parse_event<E: DeserializeOwned>(payload: Value, shape: &str) -> Result<E, Diagnostic> {
    serde_json::from_value(payload)
        .map_err(|e| diagnostic(&SyncError::config(format!("event: {e}: send {shape}"))))
}

/// The run id: the Lambda request id (a local id when there is none).
pub fn run_id(ctx: &Context) -> String {
    if ctx.request_id.is_empty() {
        format!("local-{}", uuid::Uuid::new_v4())
    } else {
        ctx.request_id.clone()
    }
}

/// The invocation's time budget.
pub fn budget(ctx: &Context) -> Budget {
    Budget::from_deadline_ms(ctx.deadline)
}

/// What an invocation ran, for [`finish_invocation`].
#[derive(Debug, Clone, Copy)]
pub struct Finished<'a> {
    /// Pull or push.
    pub direction: Direction,
    /// The tenant.
    pub tenant: &'a str,
    /// One report per table or export.
    pub reports: &'a [ObjectReport],
    /// The tenant's schedule period for this direction, if scheduled.
    pub schedule_period: Option<std::time::Duration>,
}

/// Ends an invocation: emits each table's or export's metrics (CloudWatch EMF on stdout) and,
/// when one stopped early (`continued`), invokes this function again asynchronously with `next`
/// (the same event, `hop` + 1) unless `hop` reached [`MAX_HOPS`]. Returns the new invocation's
/// request id.
///
/// # Errors
/// A diagnostic when Lambda refuses the invocation.
pub async fn finish_invocation<E: Serialize>(
    deps: &Deps,
    ctx: &Context,
    run: Finished<'_>,
    hop: u32,
    next: &E,
) -> Result<Option<String>, Diagnostic> {
    for r in run.reports {
        emit_metrics(run.tenant, run.direction.as_str(), r, run.schedule_period);
    }
    if !crate::runner::any_continued(run.reports) {
        return Ok(None);
    }
    if hop >= MAX_HOPS {
        tracing::error!(
            hop,
            "run continued {MAX_HOPS} times; the next schedule carries on"
        );
        return Ok(None);
    }
    let payload = serde_json::to_value(next)
        .map_err(|e| diagnostic(&SyncError::transient(format!("encode event: {e}"))))?;
    let id = continue_in_fresh_invocation(&deps.lambda, &ctx.invoked_function_arn, &payload)
        .await
        .map_err(|e| diagnostic(&e))?;
    tracing::info!(hop = hop + 1, request_id = %id, "continuing in a fresh invocation");
    Ok(Some(id))
}

/// Encodes a result.
///
/// # Errors
/// A `transient` diagnostic (never expected).
pub fn to_value<R: Serialize>(report: &R) -> Result<Value, Diagnostic> {
    serde_json::to_value(report)
        .map_err(|e| diagnostic(&SyncError::transient(format!("encode result: {e}"))))
}
