//! `snowsync tenant add|init|rotate-key`: a tenant's config, credentials and key pair, read,
//! checked and stored.

use std::path::PathBuf;

use snowsync::tenant::config::TenantConfig;
use snowsync::tenant::secrets::{Credentials, StoredCredentials};
use snowsync::{Deps, SyncError};

use crate::output;

pub(crate) fn read_file(path: &PathBuf, what: &str) -> Result<String, SyncError> {
    std::fs::read_to_string(path)
        .map_err(|e| SyncError::config(format!("cannot read {what} {}: {e}", path.display())))
}

/// Warns on stderr when a credentials file may be read by its group or by others: it holds a
/// password or a private key (the file is read all the same).
pub(crate) fn warn_if_shared(path: &PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            eprintln!(
                "warning: {} is readable by {} (mode {mode:03o}) and holds a secret: chmod 600 {0}, and delete it once the tenant is added",
                path.display(),
                if mode & 0o007 != 0 { "every user" } else { "its group" },
            );
        }
    }
}

/// Reads and validates a tenant config: the one path `tenant add` and `tenant init` share.
pub(crate) fn read_config(path: &PathBuf) -> Result<(TenantConfig, String), SyncError> {
    let text = read_file(path, "config")?;
    let cfg = TenantConfig::parse(&text).map_err(|e| e.context(path.display()))?;
    Ok((cfg, text))
}

pub(crate) async fn tenant_add(
    deps: &Deps,
    config: &PathBuf,
    credentials: &PathBuf,
) -> Result<(), SyncError> {
    let (cfg, text) = read_config(config)?;
    warn_if_shared(credentials);
    let creds_text = read_file(credentials, "credentials file")?;
    let stored =
        StoredCredentials::parse(&creds_text).map_err(|e| e.context(credentials.display()))?;
    if stored.next_private_key.is_some() {
        return Err(SyncError::config(format!(
            "{}: \"next_private_key\" is a rotation's state, written by snowsync tenant rotate-key: remove it from the file",
            credentials.display()
        )));
    }
    // A key that does not decrypt or parse is caught now, not at the first scheduled run.
    if let Credentials::KeyPair {
        private_key,
        passphrase,
    } = &stored.credentials
    {
        snowsync::snowflake::keypair::load_private_key(private_key, passphrase.as_ref())
            .map_err(|e| e.context(credentials.display()))?;
    }
    deps.secrets.put_stored(&cfg.tenant, &stored).await?;
    for s in snowsync::onboard::register(deps, &cfg, &text).await? {
        println!("schedule {s}");
    }
    println!(
        "tenant {} stored: {} pull table(s), {} push export(s), secret {}",
        cfg.tenant,
        cfg.pull.len(),
        cfg.push.len(),
        cfg.tenant.secret_name()
    );
    Ok(())
}

/// `snowsync tenant init`: the customer's script on stdout (or the `--json` document), what
/// was stored on stderr.
pub(crate) async fn tenant_init(
    deps: &Deps,
    config: &PathBuf,
    as_json: bool,
) -> Result<(), SyncError> {
    let (cfg, text) = read_config(config)?;
    let done = snowsync::onboard::init::init(deps, &cfg, &text).await?;
    if let Err(e) = &done.egress {
        eprintln!(
            "warning: snowsync's egress IPs are unknown ({e}): the network policy has the placeholder {}; replace it with what snowsync egress-ips prints once the stack is deployed",
            snowsync::onboard::sql::EGRESS_PLACEHOLDER
        );
    }
    if as_json {
        output::print_json(&output::onboarding_json(&done));
    } else {
        print!("{}", done.script.text());
    }
    for s in &done.schedules {
        eprintln!("schedule {s}");
    }
    eprintln!(
        "tenant {} stored: {} pull table(s), {} push export(s); its private key is in secret {} (public key {}). Once the customer has run the SQL: snowsync check {}",
        cfg.tenant,
        cfg.pull.len(),
        cfg.push.len(),
        cfg.tenant.secret_name(),
        done.public_key.fingerprint(),
        cfg.tenant
    );
    Ok(())
}

/// `snowsync tenant rotate-key`: the step's statement on stdout (or the `--json` document),
/// what to do next on stderr. A refused verification exits non-zero.
pub(crate) async fn rotate_key(
    deps: &Deps,
    tenant: &str,
    verify: bool,
    as_json: bool,
) -> Result<bool, SyncError> {
    use snowsync::onboard::rotate::{self, Verification};
    let (rotation, refused) = if verify {
        match rotate::verify(deps, tenant).await? {
            Verification::Switched(r) => (r, None),
            Verification::Refused { pending, error } => (pending, Some(error)),
        }
    } else {
        (rotate::start(deps, tenant).await?, None)
    };
    let next = format!("snowsync tenant rotate-key {tenant} --verify");
    if as_json {
        output::print_json(&output::rotation_json(
            &rotation,
            verify,
            refused.as_ref(),
            &next,
        ));
    } else {
        print!("{}", output::statement_text(&rotation.statement));
    }
    let key = rotation.public_key.fingerprint();
    let old = rotation.previous_key.fingerprint();
    match (&refused, rotation.step) {
        (Some(e), _) => {
            eprintln!(
                "error: the new key {key} does not log in yet ({}: {e}); nothing changed and runs still use the current key: have the customer run the ALTER USER above, then {next}",
                e.kind()
            );
            return Ok(false);
        }
        (None, snowsync::onboard::rotate::Step::Verified) => eprintln!(
            "tenant {tenant}: the new key {key} logged in and is now in use ({}); have the customer run the statement above to drop the old key {old}",
            rotation.slot.parameter()
        ),
        (None, _) if rotation.generated => eprintln!(
            "tenant {tenant}: next key {key} generated and kept as pending in secret {}; runs still use the current key {old}. Have the customer run the statement above, then: {next}",
            rotation.tenant.secret_name()
        ),
        (None, _) => eprintln!(
            "tenant {tenant}: a rotation is in progress already; its pending key {key} is printed again (runs still use {old}). Once the customer has run the statement above: {next}"
        ),
    }
    Ok(true)
}
