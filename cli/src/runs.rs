//! `snowsync pull|push` and the hidden `snowsync unit`: runs in this process, or in AWS (the
//! state machine or the function).

use snowsync::lambda::{Budget, Job};
use snowsync::runner::Mode;
use snowsync::state::{Direction, Outcome};
use snowsync::tenant::config::TenantId;
use snowsync::tenant::schedules::ScheduleSettings;
use snowsync::{Deps, SyncError};

use crate::{output, progress, Flags};

/// `snowsync unit`: one event answered as the function answers it.
pub(crate) async fn unit<J: Job>(deps: &Deps, event: &str) -> Result<serde_json::Value, SyncError> {
    let job: J = serde_json::from_str(event)
        .map_err(|e| SyncError::config(format!("event: {e}: send {}", J::SHAPE)))?;
    let run_id = format!("local-{}", uuid::Uuid::new_v4());
    snowsync::lambda::answer(&job, deps, &run_id, &Budget::default(), None).await
}

/// Runs a pull or push: in this process, printing each object's report, or with `remote` in
/// the deployed function: a backfill asynchronously (it may take many invocations), anything
/// else synchronously with its result printed.
pub(crate) async fn run_job<J: Job>(
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

/// `--remote` when the stack has the direction's state machine: a run of the tenant's every
/// table or export as the schedule starts it, fanned out into units of work (a `--table` or
/// `--source` selection invokes the function instead).
pub(crate) async fn start_execution(
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

/// Invokes the deployed function with `event` and prints what it reports.
pub(crate) async fn remote_run<E: serde::Serialize>(
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
