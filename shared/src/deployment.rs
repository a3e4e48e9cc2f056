//! What the CLI asks of the deployed stack: function ARNs, the egress IPs, remote runs.
//!
//! The stack sets `SNOWSYNC_EGRESS_IPS` (its NAT gateways' Elastic IPs) in the functions'
//! environment, so the CLI reads them from the pull function's configuration: one Lambda call,
//! the same permissions as `--remote`.

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;

use crate::error::{aws_error, Result, SyncError};

const NOT_DEPLOYED: &str = ": deploy infra/ or set SNOWSYNC_PULL_FUNCTION / SNOWSYNC_PUSH_FUNCTION";

/// The environment variable holding the egress IPs (comma-separated).
pub const EGRESS_IPS_VAR: &str = "SNOWSYNC_EGRESS_IPS";

/// Resolves a function name to its ARN (an ARN is returned as is).
///
/// # Errors
/// `missing_object` when no such function is deployed.
pub async fn function_arn(lambda: &aws_sdk_lambda::Client, name: &str) -> Result<String> {
    if name.starts_with("arn:") {
        return Ok(name.to_owned());
    }
    let out = lambda
        .get_function()
        .function_name(name)
        .send()
        .await
        .map_err(|e| {
            aws_error(
                "Lambda",
                &format!("function {name}"),
                NOT_DEPLOYED,
                e.into_service_error(),
            )
        })?;
    out.configuration()
        .and_then(|c| c.function_arn())
        .map(str::to_owned)
        .ok_or_else(|| SyncError::transient(format!("function {name}: Lambda returned no ARN")))
}

/// The deployed stack's egress IPs, from the function's environment.
///
/// # Errors
/// `missing_object` when the function is not deployed or carries no egress IPs.
pub async fn egress_ips(lambda: &aws_sdk_lambda::Client, function: &str) -> Result<Vec<String>> {
    let out = lambda
        .get_function_configuration()
        .function_name(function)
        .send()
        .await
        .map_err(|e| {
            aws_error(
                "Lambda",
                &format!("function {function}"),
                NOT_DEPLOYED,
                e.into_service_error(),
            )
        })?;
    let ips = out
        .environment()
        .and_then(|e| e.variables())
        .and_then(|v| v.get(EGRESS_IPS_VAR))
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    if ips.is_empty() {
        return Err(SyncError::missing(format!(
            "function {function} has no {EGRESS_IPS_VAR}: is it deployed from infra/template.yaml?"
        )));
    }
    Ok(ips)
}

/// The egress IPs to name to a customer: `SNOWSYNC_EGRESS_IPS` when set (an operator outside
/// the deployment's account, or a test), else the deployed stack's ([`egress_ips`] of the pull
/// function).
///
/// # Errors
/// `missing_object` when neither is there.
pub async fn known_egress_ips(lambda: &aws_sdk_lambda::Client) -> Result<Vec<String>> {
    if let Ok(ips) = std::env::var(EGRESS_IPS_VAR) {
        let ips: Vec<String> = ips
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        if !ips.is_empty() {
            return Ok(ips);
        }
    }
    let function = crate::tenant::schedules::ScheduleSettings::from_env().pull_function;
    egress_ips(lambda, &function).await
}

/// Invokes a deployed function with `payload`: asynchronously (returns the request id at once)
/// or synchronously (returns the request id and the function's result).
///
/// # Errors
/// A classified Lambda error; a function error (its `Diagnostic`) as a `transient` error
/// carrying the function's message.
pub async fn invoke(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    payload: &serde_json::Value,
    asynchronous: bool,
) -> Result<(String, Option<serde_json::Value>)> {
    invoke_for(
        lambda,
        function,
        payload,
        asynchronous,
        &format!("invoke {function}"),
        NOT_DEPLOYED,
    )
    .await
}

/// As [`invoke`], with `what` and `hint` naming the purpose in an error.
pub(crate) async fn invoke_for(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    payload: &serde_json::Value,
    asynchronous: bool,
    what: &str,
    hint: &str,
) -> Result<(String, Option<serde_json::Value>)> {
    use aws_sdk_lambda::operation::RequestId;
    let out = lambda
        .invoke()
        .function_name(function)
        .invocation_type(if asynchronous {
            InvocationType::Event
        } else {
            InvocationType::RequestResponse
        })
        .payload(Blob::new(payload.to_string()))
        .send()
        .await
        .map_err(|e| aws_error("Lambda", what, hint, e.into_service_error()))?;
    let id = out.request_id().unwrap_or("unknown").to_owned();
    if asynchronous {
        return Ok((id, None));
    }
    let body: serde_json::Value = out
        .payload()
        .and_then(|p| serde_json::from_slice(p.as_ref()).ok())
        .unwrap_or(serde_json::Value::Null);
    if let Some(err) = out.function_error() {
        let kind = body["errorType"].as_str().unwrap_or(err);
        let message = body["errorMessage"].as_str().unwrap_or("no message");
        return Err(SyncError::transient(format!(
            "function {function} failed ({kind}): {message} (request {id})"
        )));
    }
    Ok((id, Some(body)))
}
