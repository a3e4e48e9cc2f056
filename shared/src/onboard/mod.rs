//! Onboarding where no secret travels: snowsync makes the tenant's key pair, keeps the private
//! half in Secrets Manager, and hands the customer only SQL with the public half; rotations go
//! through the user's second key slot so runs never stop (README, "Onboarding without handing
//! over a secret").
//!
//! | file | what it owns |
//! |---|---|
//! | [`keys`] | generating a key pair; a public key as Snowflake takes and shows it |
//! | [`sql`] | the customer's SQL: role, grants, user, network policy; the rotation's two statements |
//! | [`init`] | `snowsync tenant init` |
//! | [`rotate`] | `snowsync tenant rotate-key` and its state in the tenant's secret |

pub mod init;
pub mod keys;
pub mod rotate;
pub mod sql;

use crate::deps::Deps;
use crate::error::Result;
use crate::tenant::config::TenantConfig;
use crate::tenant::schedules::{sync_tenant, ScheduleSettings};

/// Stores a validated config (its original text) and creates or updates the tenant's schedules:
/// what `tenant add` and `tenant init` share. Returns the schedules' names.
///
/// # Errors
/// A classified DynamoDB, Scheduler or Lambda error.
pub async fn register(deps: &Deps, cfg: &TenantConfig, text: &str) -> Result<Vec<String>> {
    deps.state.put_config(&cfg.tenant, text).await?;
    sync_tenant(
        &deps.scheduler,
        &deps.lambda,
        &ScheduleSettings::from_env(),
        cfg,
    )
    .await
}
