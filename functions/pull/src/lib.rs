//! The `pull` Lambda function's handler: parse the contract's event, run the engine within the
//! invocation's deadline, continue in a fresh invocation when a table stopped early, and return
//! the contract's result. `main.rs` only wires it to the runtime, so tests call [`handle`].

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lambda_runtime::{Context, Diagnostic, LambdaEvent};
use serde_json::Value;
use snowsync::pull::{run_pull, Budget, PullEvent};
use snowsync::runner::{continue_in_fresh_invocation, MAX_HOPS};
use snowsync::{Deps, SyncError};

/// Maps an engine error to Lambda's error shape: the type is the error kind, so retry policies
/// and alarms can tell `transient` from everything an operator must fix.
pub fn diagnostic(e: &SyncError) -> Diagnostic {
    Diagnostic {
        error_type: e.kind().as_str().to_owned(),
        error_message: e.to_string(),
    }
}

/// The invocation's deadline as an `Instant` (the context gives epoch milliseconds).
pub fn budget(ctx: &Context) -> Budget {
    if ctx.deadline == 0 {
        return Budget::default();
    }
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let left = u128::from(ctx.deadline).saturating_sub(now_ms);
    Budget {
        deadline: Some(Instant::now() + Duration::from_millis(u64::try_from(left).unwrap_or(0))),
    }
}

/// Handles one `pull` event.
///
/// # Errors
/// A `Diagnostic` of type `config` for a malformed event or unknown tenant or table; per-table
/// failures are reported in the result instead.
pub async fn handle(event: LambdaEvent<Value>, deps: &Deps) -> Result<Value, Diagnostic> {
    let (payload, ctx) = event.into_parts();
    let event: PullEvent = serde_json::from_value(payload).map_err(|e| {
        diagnostic(&SyncError::config(format!(
            "pull event: {e}: send {{\"tenant\": \"acme\", \"tables\": [\"T\"], \"mode\": \"incremental\"|\"backfill\"}}"
        )))
    })?;
    let run_id = if ctx.request_id.is_empty() {
        format!("local-{}", uuid_free_id())
    } else {
        ctx.request_id.clone()
    };
    let mut report = run_pull(deps, &event, &run_id, &budget(&ctx))
        .await
        .map_err(|e| diagnostic(&e))?;
    if report.continued() {
        if event.hop >= MAX_HOPS {
            tracing::error!(tenant = %event.tenant, hop = event.hop, "run continued {MAX_HOPS} times; waiting for the next schedule to carry on");
        } else {
            let next = PullEvent {
                hop: event.hop + 1,
                ..event.clone()
            };
            let payload = serde_json::to_value(&next)
                .map_err(|e| diagnostic(&SyncError::transient(format!("encode event: {e}"))))?;
            let id =
                continue_in_fresh_invocation(&deps.lambda, &ctx.invoked_function_arn, &payload)
                    .await
                    .map_err(|e| diagnostic(&e))?;
            tracing::info!(tenant = %event.tenant, hop = next.hop, request_id = %id, "continuing in a fresh invocation");
            report.continued_by = Some(id);
        }
    }
    serde_json::to_value(&report)
        .map_err(|e| diagnostic(&SyncError::transient(format!("encode result: {e}"))))
}

fn uuid_free_id() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}
