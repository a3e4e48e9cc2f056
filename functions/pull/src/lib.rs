//! The `pull` Lambda function's handler: parse the contract's event, run the engine within the
//! invocation's deadline, continue in a fresh invocation when a table stopped early, and return
//! the contract's result. `main.rs` only wires it to the runtime, so tests call [`handle`].

use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::Value;
use snowsync::lambda::{
    budget, diagnostic, finish_invocation, parse_event, run_id, to_value, Finished,
};
use snowsync::pull::{run_pull, PullEvent};
use snowsync::state::Direction;
use snowsync::Deps;

/// Handles one `pull` event.
///
/// # Errors
/// A `Diagnostic` typed by error kind for a malformed event or an unknown tenant or table;
/// per-table failures are reported in the result instead.
pub async fn handle(event: LambdaEvent<Value>, deps: &Deps) -> Result<Value, Diagnostic> {
    let (payload, ctx) = event.into_parts();
    let event: PullEvent = parse_event(
        payload,
        r#"{"tenant": "acme", "tables": ["T"], "mode": "incremental"|"backfill"}"#,
    )?;
    let run_id = run_id(&ctx);
    let mut report = run_pull(deps, &event, &run_id, &budget(&ctx))
        .await
        .map_err(|e| diagnostic(&e))?;
    let next = PullEvent {
        hop: event.hop + 1,
        ..event.clone()
    };
    let run = Finished {
        direction: Direction::Pull,
        tenant: &report.tenant,
        reports: &report.tables,
        schedule_period: report.schedule_period,
    };
    let continued_by = finish_invocation(deps, &ctx, run, event.hop, &next).await?;
    report.continued_by = continued_by;
    to_value(&report)
}
