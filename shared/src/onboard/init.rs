//! `snowsync tenant init`: a new tenant's key pair made here, its private key stored, its
//! config and schedules stored as `tenant add` stores them, and the customer's script.

use crate::deps::Deps;
use crate::error::{Result, SyncError};
use crate::onboard::keys::{self, PublicKey};
use crate::onboard::sql::{self, Egress, Names, Script};
use crate::tenant::config::{TenantConfig, TenantId};
use crate::tenant::secrets::{Credentials, StoredCredentials};

/// What `tenant init` did and what the customer runs.
#[derive(Debug)]
pub struct Onboarding {
    /// The tenant.
    pub tenant: TenantId,
    /// The Snowflake objects the script creates.
    pub names: Names,
    /// The public half of the stored key.
    pub public_key: PublicKey,
    /// The network policy's IPs, or why they are unknown.
    pub egress: std::result::Result<Vec<String>, SyncError>,
    /// The customer's script.
    pub script: Script,
    /// The schedules created or updated.
    pub schedules: Vec<String>,
}

/// The one-line refusal for a tenant that exists already: init never replaces a key.
fn exists(tenant: &TenantId) -> SyncError {
    SyncError::config(format!(
        "tenant {tenant} is already onboarded (secret {} or its config exists): init never replaces a live key; rotate it with snowsync tenant rotate-key {tenant}, or snowsync tenant remove {tenant} first to start over",
        tenant.secret_name()
    ))
}

/// Onboards a tenant from a config validated by [`TenantConfig::parse`] (`text` is stored as
/// written): generates its key pair, creates its secret (refused when the tenant exists),
/// stores the config, creates its schedules, and builds the customer's script.
///
/// # Errors
/// `config` when the tenant exists already; a classified AWS error.
pub async fn init(deps: &Deps, cfg: &TenantConfig, text: &str) -> Result<Onboarding> {
    let tenant = &cfg.tenant;
    if deps.state.get_config(tenant).await?.is_some() || deps.secrets.exists(tenant).await? {
        return Err(exists(tenant));
    }
    let (private_key, public_key) = keys::generate().await?;
    let stored = StoredCredentials::new(Credentials::KeyPair {
        private_key,
        passphrase: None,
    });
    // Created only if absent: a concurrent init cannot replace the key either.
    if !deps.secrets.create(tenant, &stored).await? {
        return Err(exists(tenant));
    }
    let schedules = super::register(deps, cfg, text).await?;
    let egress = crate::deployment::known_egress_ips(&deps.lambda).await;
    let names = Names::of(cfg);
    let script = sql::onboarding(
        cfg,
        &names,
        &public_key,
        &egress
            .as_ref()
            .map_or(Egress::Unknown, |ips| Egress::Ips(ips.clone())),
    );
    Ok(Onboarding {
        tenant: tenant.clone(),
        names,
        public_key,
        egress,
        script,
        schedules,
    })
}
