//! The `push` Lambda function's handler. Until the push engine lands it validates the
//! contract's event and refuses to run, so a schedule pointing at it fails loudly.

use lambda_runtime::{Diagnostic, LambdaEvent};
use serde::Deserialize;
use serde_json::Value;

/// The contract's push event.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushEvent {
    /// The tenant.
    pub tenant: String,
    /// `actions` and/or `stages`; absent = all configured.
    #[serde(default)]
    pub sources: Option<Vec<String>>,
    /// `incremental` or `backfill`.
    #[serde(default)]
    pub mode: Option<String>,
}

/// Validates the event, then reports that push is not available in this build.
///
/// # Errors
/// Always: `config` for a malformed event, otherwise `config` saying push is not built yet.
pub async fn handle(event: LambdaEvent<Value>) -> Result<Value, Diagnostic> {
    let parsed: PushEvent = serde_json::from_value(event.payload).map_err(|e| Diagnostic {
        error_type: "config".into(),
        error_message: format!("push event: {e}"),
    })?;
    Err(Diagnostic {
        error_type: "config".into(),
        error_message: format!(
            "push for tenant {} is not available in this build of snowsync",
            parsed.tenant
        ),
    })
}
