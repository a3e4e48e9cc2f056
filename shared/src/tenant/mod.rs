//! The tenant: who the customer is and what was agreed with them.
//!
//! | file | what it owns |
//! |---|---|
//! | [`access`] | tenant-scoped AWS sessions: the role assumed per run with the tenant's tag |
//! | [`config`] | the tenant config (TOML), typed and validated at the edge |
//! | [`limits`] | quotas: the rows and bytes a tenant may hold in the platform database |
//! | [`names`] | the tenant id, the Snowflake account, a table's name |
//! | [`secrets`] | credentials, in memory only as secrets; Secrets Manager storage |
//! | [`schedules`] | per-tenant EventBridge Scheduler schedules |
//!
//! A run gets its tenant's config one way: [`crate::state::StateStore::load_tenant`], from the
//! state table, parsed again through [`config::TenantConfig::parse`].

pub mod access;
pub mod config;
pub mod limits;
pub mod names;
pub mod schedules;
pub mod secrets;
