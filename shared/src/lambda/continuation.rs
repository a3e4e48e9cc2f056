//! Continuing a run in a fresh invocation: the same event, one hop further, invoked
//! asynchronously on our own function, up to [`MAX_HOPS`] times.

use super::Job;
use crate::deps::Deps;
use crate::error::{Result, SyncError};

/// The most fresh invocations one run may continue in before it waits for its next schedule
/// (a guard against a loop; a 1M-row backfill needs a handful).
pub const MAX_HOPS: u32 = 100;

/// `job` one hop further, unless the run already continued [`MAX_HOPS`] times (then the next
/// schedule carries on).
pub(super) fn next_hop<J: Job>(job: &J) -> Option<J> {
    let mut next = job.clone();
    let hop = *next.hop_mut();
    if hop >= MAX_HOPS {
        tracing::error!(
            hop,
            "run continued {MAX_HOPS} times; the next schedule carries on"
        );
        return None;
    }
    *next.hop_mut() = hop + 1;
    Some(next)
}

/// Invokes `function` (our own ARN, from the Lambda context) with `next` (the event one hop
/// further, from [`next_hop`]), asynchronously. Returns the new invocation's request id.
///
/// # Errors
/// `transient` when Lambda refuses or cannot be reached; `privilege` when the role may not
/// invoke itself.
pub(super) async fn continue_run<J: Job>(deps: &Deps, function: &str, next: &J) -> Result<String> {
    let payload = serde_json::to_value(next)
        .map_err(|e| SyncError::transient(format!("encode event: {e}")))?;
    let (id, _) = crate::deployment::invoke_for(
        &deps.lambda,
        function,
        &payload,
        true,
        &format!("continue in a fresh invocation of {function}"),
        "",
    )
    .await?;
    tracing::info!(request_id = %id, "continuing in a fresh invocation");
    Ok(id)
}
