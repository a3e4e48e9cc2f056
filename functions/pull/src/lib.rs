//! The `pull` Lambda function's handler: parse the contract's event, run the engine, return the
//! contract's result. `main.rs` only wires it to the runtime, so tests call [`handle`] directly.

use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::Value;
use snowsync::pull::{run_pull, PullEvent};
use snowsync::{Deps, SyncError};

/// Maps an engine error to Lambda's error shape: the type is the error kind, so retry policies
/// and alarms can tell `transient` from everything an operator must fix.
pub fn diagnostic(e: &SyncError) -> Diagnostic {
    Diagnostic {
        error_type: e.kind().as_str().to_owned(),
        error_message: e.to_string(),
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
        uuid_like()
    } else {
        ctx.request_id.clone()
    };
    let report = run_pull(deps, &event, &run_id)
        .await
        .map_err(|e| diagnostic(&e))?;
    serde_json::to_value(&report)
        .map_err(|e| diagnostic(&SyncError::transient(format!("encode result: {e}"))))
}

/// A run id for invocations without a request id (local calls).
fn uuid_like() -> String {
    format!("local-{}", chrono_free_timestamp())
}

fn chrono_free_timestamp() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}
