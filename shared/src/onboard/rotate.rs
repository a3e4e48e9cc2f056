//! `snowsync tenant rotate-key`: a new key without a minute of downtime, in two steps the
//! operator runs, each printing the customer's one statement.
//!
//! 1. `rotate-key <t>` generates the next key and keeps it in the tenant's secret as
//!    `next_private_key`; runs go on with the current key. The customer registers the next
//!    key in the user's free slot (`RSA_PUBLIC_KEY_2` when the current key is in
//!    `RSA_PUBLIC_KEY`, and back), so both keys log in. Run again, it prints the same key.
//! 2. `rotate-key <t> --verify` logs in with the next key, through the runs' own login. Only
//!    when that succeeds does the next key become the current one (`key_slot` names its slot);
//!    the customer then unsets the old slot. A refused login changes nothing.
//!
//! The state lives in the secret because that is where runs read the key: a run sees either
//! the old key (still registered) or the new one (verified), never a key Snowflake refuses.

use crate::deps::Deps;
use crate::error::{Result, SyncError};
use crate::onboard::keys::{self, PublicKey};
use crate::onboard::sql::{self, Statement};
use crate::quote::Ident;
use crate::snowflake::Session;
use crate::tenant::config::{TenantConfig, TenantId};
use crate::tenant::secrets::{Credentials, KeySlot, StoredCredentials};

/// Where a rotation stands after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The next key waits for the customer to register it.
    Register,
    /// The next key logged in and is now the current one; the old slot can go.
    Verified,
}

impl Step {
    /// `register` or `verified`.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Register => "register",
            Step::Verified => "verified",
        }
    }
}

/// One step of a rotation: what the customer runs now.
#[derive(Debug)]
pub struct Rotation {
    /// The tenant.
    pub tenant: TenantId,
    /// Where the rotation stands.
    pub step: Step,
    /// The slot the new key is (to be) registered in.
    pub slot: KeySlot,
    /// The new key's public half.
    pub public_key: PublicKey,
    /// The public half of the key in use before the rotation.
    pub previous_key: PublicKey,
    /// Whether this command generated the new key (`false`: it re-printed a pending one).
    pub generated: bool,
    /// The customer's statement for this step.
    pub statement: Statement,
}

/// The outcome of `rotate-key --verify`.
#[derive(Debug)]
pub enum Verification {
    /// The new key logged in and is now the one runs use.
    Switched(Rotation),
    /// The new key did not log in: nothing changed, the registration is still to be done.
    Refused {
        /// Step 1 again, with its statement.
        pending: Rotation,
        /// Why the login failed.
        error: SyncError,
    },
}

/// A tenant's config and secret, with the current key's public half; refused for a password.
async fn load(deps: &Deps, tenant: &str) -> Result<(TenantConfig, StoredCredentials, PublicKey)> {
    let cfg = deps.state.load_tenant(tenant).await?;
    let stored = deps.secrets.get_stored(&cfg.tenant).await?;
    let Credentials::KeyPair {
        private_key,
        passphrase,
    } = &stored.credentials
    else {
        return Err(SyncError::config(format!(
            "tenant {tenant} logs in with a password: rotate-key rotates key pairs; move it to a key pair with snowsync tenant add <config> --credentials <file with \"private_key\">"
        )));
    };
    let previous = PublicKey::of_pem(private_key, passphrase.as_ref())
        .map_err(|e| e.context(format!("secret {}", cfg.tenant.secret_name())))?;
    Ok((cfg, stored, previous))
}

fn user(cfg: &TenantConfig) -> Ident {
    sql::user_ident(&cfg.snowflake.user)
}

/// Step 1: the next key, generated and stored as pending unless one is pending already, and
/// the statement registering it in the free slot.
///
/// # Errors
/// `config` for an unknown tenant or a password tenant; a classified AWS error.
pub async fn start(deps: &Deps, tenant: &str) -> Result<Rotation> {
    let (cfg, mut stored, previous_key) = load(deps, tenant).await?;
    let (public_key, generated) = match &stored.next_private_key {
        Some(next) => (PublicKey::of_pem(next, None)?, false),
        None => {
            let (pem, public) = keys::generate().await?;
            stored.next_private_key = Some(pem);
            deps.secrets.put_stored(&cfg.tenant, &stored).await?;
            (public, true)
        }
    };
    let slot = stored.key_slot.other();
    Ok(Rotation {
        statement: sql::register_key(&user(&cfg), slot, &public_key),
        tenant: cfg.tenant,
        step: Step::Register,
        slot,
        public_key,
        previous_key,
        generated,
    })
}

/// Step 2: a login with the pending key through the runs' own login path; when it succeeds
/// the pending key becomes the current one and the statement retiring the old slot is
/// returned, otherwise nothing changes.
///
/// # Errors
/// `config` when no rotation is in progress; a classified AWS error.
pub async fn verify(deps: &Deps, tenant: &str) -> Result<Verification> {
    let (cfg, stored, previous_key) = load(deps, tenant).await?;
    let Some(next) = stored.next_private_key.clone() else {
        return Err(SyncError::config(format!(
            "tenant {tenant} has no key rotation in progress: start one with snowsync tenant rotate-key {tenant}"
        )));
    };
    let public_key = PublicKey::of_pem(&next, None)?;
    let user = user(&cfg);
    let next_creds = Credentials::KeyPair {
        private_key: next,
        passphrase: None,
    };
    let tag = format!("snowsync rotate-key tenant={}", cfg.tenant);
    let login = Session::connect(&cfg.snowflake, &next_creds, &deps.endpoint, &tag, None).await;
    let slot = stored.key_slot.other();
    if let Ok(session) = &login {
        session.close().await;
    }
    if let Err(error) = login {
        return Ok(Verification::Refused {
            pending: Rotation {
                statement: sql::register_key(&user, slot, &public_key),
                tenant: cfg.tenant,
                step: Step::Register,
                slot,
                public_key,
                previous_key,
                generated: false,
            },
            error,
        });
    }
    let switched = StoredCredentials {
        credentials: next_creds,
        key_slot: slot,
        next_private_key: None,
    };
    deps.secrets.put_stored(&cfg.tenant, &switched).await?;
    Ok(Verification::Switched(Rotation {
        statement: sql::retire_key(&user, stored.key_slot),
        tenant: cfg.tenant,
        step: Step::Verified,
        slot,
        public_key,
        previous_key,
        generated: false,
    }))
}
