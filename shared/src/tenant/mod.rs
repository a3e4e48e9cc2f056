//! The tenant: who the customer is and what was agreed with them.
//!
//! | file | what it owns |
//! |---|---|
//! | [`config`] | the tenant config (TOML), typed and validated at the edge |
//! | [`names`] | the tenant id, the Snowflake account, a table's name |
//! | [`secrets`] | credentials, in memory only as secrets; Secrets Manager storage |
//! | [`schedules`] | per-tenant EventBridge Scheduler schedules |
//!
//! [`load_tenant`] is the one way a run gets its tenant's config: from the state table, parsed
//! again through [`config::TenantConfig::parse`].

pub mod config;
pub mod names;
pub mod schedules;
pub mod secrets;

use crate::deps::Deps;
use crate::error::{Result, SyncError};
use config::{TenantConfig, TenantId};

/// Loads and validates a tenant's config from the state table.
///
/// # Errors
/// `config` when the tenant is not onboarded or its stored config no longer validates.
pub async fn load_tenant(deps: &Deps, tenant: &str) -> Result<TenantConfig> {
    let id = TenantId::parse(tenant)?;
    let text = deps.state.get_config(&id).await?.ok_or_else(|| {
        SyncError::config(format!(
            "tenant {id} is not onboarded: run snowsync tenant add <config.toml> --credentials <file.json>"
        ))
    })?;
    let cfg = TenantConfig::parse(&text)
        .map_err(|e| e.context(format!("stored config of tenant {id}")))?;
    // Isolation: the secret read and the schema written derive from cfg.tenant, so a config
    // stored under one tenant must never name another.
    if cfg.tenant != id {
        return Err(SyncError::config(format!(
            "stored config of tenant {id} names tenant {}: refusing to run; fix it with snowsync tenant add <config.toml> for {id}",
            cfg.tenant
        )));
    }
    Ok(cfg)
}
