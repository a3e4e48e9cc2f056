//! Per-tenant EventBridge Scheduler schedules: `tenant add` creates or updates them, `tenant
//! remove` deletes them. Each fires the pull or push function with the contract's event.
//!
//! Where things are: the functions are named `snowsync-pull` and `snowsync-push` (the stack's
//! names; `SNOWSYNC_PULL_FUNCTION` / `SNOWSYNC_PUSH_FUNCTION` override), resolved to ARNs through
//! Lambda; the schedules live in the group `snowsync` (`SNOWSYNC_SCHEDULE_GROUP`); the role the
//! scheduler assumes is `SNOWSYNC_SCHEDULER_ROLE_ARN`, by default the stack's role
//! `snowsync-scheduler` in the functions' account; failed deliveries go to
//! `SNOWSYNC_SCHEDULER_DLQ_ARN` when set. With `SNOWSYNC_PULL_STATE_MACHINE_ARN` /
//! `SNOWSYNC_PUSH_STATE_MACHINE_ARN` set (the stack's outputs), a schedule starts the
//! direction's state machine instead, which fans the run out into units of work (see
//! `infra/README.md`); the input is the same event.

use aws_sdk_scheduler::error::ProvideErrorMetadata;
use aws_sdk_scheduler::types::{
    DeadLetterConfig, FlexibleTimeWindow, FlexibleTimeWindowMode, RetryPolicy, Target,
};

use crate::deployment::function_arn;
use crate::error::{aws_error, Result, SyncError};
use crate::tenant::config::{TenantConfig, TenantId};

const NOT_DEPLOYED: &str = ": is the stack deployed (schedule group, functions)?";

/// Scheduler settings from the environment (see the module doc).
#[derive(Debug, Clone)]
pub struct ScheduleSettings {
    /// The schedule group.
    pub group: String,
    /// Pull function name or ARN.
    pub pull_function: String,
    /// Push function name or ARN.
    pub push_function: String,
    /// The role the scheduler assumes, if set explicitly.
    pub role_arn: Option<String>,
    /// The dead-letter queue of failed deliveries.
    pub dlq_arn: Option<String>,
    /// The state machine pull schedules start, when set (else the pull function).
    pub pull_state_machine: Option<String>,
    /// The state machine push schedules start, when set (else the push function).
    pub push_state_machine: Option<String>,
}

impl ScheduleSettings {
    /// Reads the settings from the environment, with the stack's defaults.
    pub fn from_env() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        Self {
            group: var("SNOWSYNC_SCHEDULE_GROUP").unwrap_or_else(|| "snowsync".into()),
            pull_function: var("SNOWSYNC_PULL_FUNCTION").unwrap_or_else(|| "snowsync-pull".into()),
            push_function: var("SNOWSYNC_PUSH_FUNCTION").unwrap_or_else(|| "snowsync-push".into()),
            role_arn: var("SNOWSYNC_SCHEDULER_ROLE_ARN"),
            dlq_arn: var("SNOWSYNC_SCHEDULER_DLQ_ARN"),
            pull_state_machine: var("SNOWSYNC_PULL_STATE_MACHINE_ARN"),
            push_state_machine: var("SNOWSYNC_PUSH_STATE_MACHINE_ARN"),
        }
    }
}

/// The name of a tenant's schedule (`snowsync-<tenant>-pull`), within EventBridge Scheduler's
/// 64 characters (a long tenant id is cut and hashed, see [`TenantId::bounded`]).
pub fn schedule_name(tenant: &TenantId, kind: &str) -> String {
    tenant.bounded("snowsync-", &format!("-{kind}"), 64)
}

/// `arn:<partition>:iam::<account>:role/snowsync-scheduler`, from a function ARN.
fn default_role(function_arn: &str) -> Option<String> {
    let parts: Vec<&str> = function_arn.split(':').collect();
    (parts.len() >= 5)
        .then(|| format!("arn:{}:iam::{}:role/snowsync-scheduler", parts[1], parts[4]))
}

/// Creates or updates the tenant's pull, push and reconcile schedules, and deletes one whose expression
/// was removed from the config. Idempotent.
///
/// # Errors
/// A classified Scheduler or Lambda error.
pub async fn sync_tenant(
    scheduler: &aws_sdk_scheduler::Client,
    lambda: &aws_sdk_lambda::Client,
    settings: &ScheduleSettings,
    cfg: &TenantConfig,
) -> Result<Vec<String>> {
    let mut done = Vec::new();
    let plan = [
        (
            "pull",
            cfg.schedule.pull.as_deref(),
            &settings.pull_function,
            !cfg.pull.is_empty(),
        ),
        (
            "push",
            cfg.schedule.push.as_deref(),
            &settings.push_function,
            !cfg.push.is_empty(),
        ),
        (
            "reconcile",
            cfg.schedule.reconcile.as_deref(),
            &settings.pull_function,
            cfg.pull.iter().any(|t| t.deletes.is_some()),
        ),
    ];
    for (kind, expression, function, has_work) in plan {
        let name = schedule_name(&cfg.tenant, kind);
        let Some(expression) = expression.filter(|_| has_work) else {
            delete(scheduler, settings, &name).await?;
            continue;
        };
        // A reconciliation is one unit of work: its schedule invokes the function itself.
        let machine = match kind {
            "pull" => settings.pull_state_machine.as_ref(),
            "push" => settings.push_state_machine.as_ref(),
            _ => None,
        };
        let arn = match machine {
            Some(machine) => machine.clone(),
            None => function_arn(lambda, function).await?,
        };
        let role = settings
            .role_arn
            .clone()
            .or_else(|| default_role(&arn))
            .ok_or_else(|| {
                SyncError::config("set SNOWSYNC_SCHEDULER_ROLE_ARN to the scheduler's role")
            })?;
        let mode = match kind {
            "reconcile" => "reconcile",
            _ => "incremental",
        };
        let input = serde_json::json!({ "tenant": cfg.tenant.as_str(), "mode": mode });
        let mut target = Target::builder()
            .arn(&arn)
            .role_arn(role)
            .input(input.to_string())
            .retry_policy(
                RetryPolicy::builder()
                    .maximum_retry_attempts(2)
                    .maximum_event_age_in_seconds(3600)
                    .build(),
            );
        if let Some(dlq) = &settings.dlq_arn {
            target = target.dead_letter_config(DeadLetterConfig::builder().arn(dlq).build());
        }
        let target = target
            .build()
            .map_err(|e| SyncError::config(format!("schedule {name}: {e}")))?;
        let window = FlexibleTimeWindow::builder()
            .mode(FlexibleTimeWindowMode::Off)
            .build()
            .map_err(|e| SyncError::config(format!("schedule {name}: {e}")))?;
        let description = format!("snowsync {kind} of tenant {}", cfg.tenant);
        let created = scheduler
            .create_schedule()
            .name(&name)
            .group_name(&settings.group)
            .schedule_expression(expression)
            .schedule_expression_timezone(&cfg.schedule.timezone)
            .description(&description)
            .flexible_time_window(window.clone())
            .target(target.clone())
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(e) if e.code() == Some("ConflictException") => {
                scheduler
                    .update_schedule()
                    .name(&name)
                    .group_name(&settings.group)
                    .schedule_expression(expression)
                    .schedule_expression_timezone(&cfg.schedule.timezone)
                    .description(&description)
                    .flexible_time_window(window)
                    .target(target)
                    .send()
                    .await
                    .map_err(|e| {
                        aws_error(
                            "EventBridge Scheduler",
                            &format!("update schedule {name}"),
                            NOT_DEPLOYED,
                            e.into_service_error(),
                        )
                    })?;
            }
            Err(e) => {
                return Err(aws_error(
                    "EventBridge Scheduler",
                    &format!("create schedule {name}"),
                    NOT_DEPLOYED,
                    e.into_service_error(),
                ))
            }
        }
        done.push(format!("{name}: {expression} ({})", cfg.schedule.timezone));
    }
    Ok(done)
}

async fn delete(
    scheduler: &aws_sdk_scheduler::Client,
    settings: &ScheduleSettings,
    name: &str,
) -> Result<()> {
    match scheduler
        .delete_schedule()
        .name(name)
        .group_name(&settings.group)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(()),
        Err(e) => Err(aws_error(
            "EventBridge Scheduler",
            &format!("delete schedule {name}"),
            NOT_DEPLOYED,
            e.into_service_error(),
        )),
    }
}

/// Deletes every schedule of a tenant (absent is fine).
///
/// # Errors
/// A classified Scheduler error.
pub async fn delete_tenant(
    scheduler: &aws_sdk_scheduler::Client,
    settings: &ScheduleSettings,
    tenant: &TenantId,
) -> Result<()> {
    for kind in ["pull", "push", "reconcile"] {
        delete(scheduler, settings, &schedule_name(tenant, kind)).await?;
    }
    Ok(())
}
