//! `snowsync check <tenant>`: proves, item by item, what the customer handed over, doing exactly
//! what a real run does (same login, same queries), and says how to fix each failure.

use std::fmt;

use crate::deps::Deps;
use crate::error::{ErrorKind, SyncError};
use crate::quote::{sf_string, Ident};
use crate::snowflake::destination::{destination_problems, schema_grant};
use crate::snowflake::source::source_columns;
use crate::snowflake::{int_at, text_at, Session};
use crate::tenant::config::TenantConfig;
use crate::types::SfType;

/// How an item fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Works.
    Ok,
    /// Works, with something to look at.
    Warn,
    /// Does not work; the detail says how to fix it.
    Fail,
    /// Not checked because an earlier item failed.
    Skipped,
}

/// One line of the check.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CheckLine {
    /// How it fared.
    pub status: Status,
    /// What was checked (`authentication`, `table SALES.PUBLIC.T`, ...).
    pub item: String,
    /// What was found, and the fix when it failed.
    pub detail: String,
}

impl fmt::Display for CheckLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self.status {
            Status::Ok => "ok  ",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
            Status::Skipped => "skip",
        };
        write!(f, "{s}  {:<44} {}", self.item, self.detail)
    }
}

struct Lines(Vec<CheckLine>);

impl Lines {
    fn push(&mut self, status: Status, item: impl Into<String>, detail: impl Into<String>) {
        self.0.push(CheckLine {
            status,
            item: item.into(),
            detail: detail.into(),
        });
    }
}

/// The egress IPs to name when Snowflake refuses ours (see
/// [`crate::deployment::known_egress_ips`]).
async fn egress_hint(deps: &Deps) -> String {
    match crate::deployment::known_egress_ips(&deps.lambda).await {
        Ok(ips) => format!(
            "add snowsync's egress IPs {} to the account's network policy (ALTER NETWORK POLICY ... SET ALLOWED_IP_LIST = (..., '{}'))",
            ips.join(","),
            ips.join("', '")
        ),
        Err(_) => "add snowsync's egress IPs (snowsync egress-ips) to the account's network policy".into(),
    }
}

/// Checks a tenant end to end. Never fails itself: every problem is a line.
///
/// # Errors
/// Only when the tenant is unknown or its stored config does not parse.
pub async fn check_tenant(deps: &Deps, tenant: &str) -> Result<Vec<CheckLine>, SyncError> {
    let cfg = deps.state.load_tenant(tenant).await?;
    let mut out = Lines(Vec::new());
    let sf = &cfg.snowflake;
    out.push(
        Status::Ok,
        "config",
        format!(
            "{} pull table(s), {} push export(s)",
            cfg.pull.len(),
            cfg.push.len()
        ),
    );
    let creds = match deps.secrets.get(&cfg.tenant).await {
        Ok(c) => {
            out.push(
                Status::Ok,
                "credentials",
                format!("secret {}", cfg.tenant.secret_name()),
            );
            c
        }
        Err(e) => {
            out.push(
                Status::Fail,
                "credentials",
                format!("{e}: run snowsync tenant add again with the credentials file"),
            );
            return Ok(out.0);
        }
    };
    let tag = format!("snowsync check tenant={}", cfg.tenant);
    let session = match Session::connect(sf, &creds, &deps.endpoint, &tag, None).await {
        Ok(s) => {
            out.push(Status::Ok, "account reachable", deps.endpoint.describe(sf));
            out.push(
                Status::Ok,
                "authentication",
                format!("user {} logged in to {}", sf.user, sf.account),
            );
            s
        }
        Err(e) => {
            let (reach, auth) = match e.kind() {
                ErrorKind::Transient => (
                    (Status::Fail, e.to_string()),
                    (Status::Skipped, "not attempted".to_owned()),
                ),
                ErrorKind::NetworkPolicy => {
                    // Snowflake's own words, then the IPs to add.
                    let refusal = e
                        .message()
                        .split("; ")
                        .next()
                        .unwrap_or_default()
                        .to_owned();
                    (
                        (Status::Ok, deps.endpoint.describe(sf)),
                        (
                            Status::Fail,
                            format!("{refusal}; {}", egress_hint(deps).await),
                        ),
                    )
                }
                _ => (
                    (Status::Ok, deps.endpoint.describe(sf)),
                    (Status::Fail, e.to_string()),
                ),
            };
            out.push(reach.0, "account reachable", reach.1);
            out.push(auth.0, "authentication", auth.1);
            return Ok(out.0);
        }
    };
    check_context(&session, &cfg, &mut out).await;
    for t in &cfg.pull {
        check_pull_table(&session, t, &mut out).await;
        check_deletes(deps, &cfg, t, &mut out).await;
    }
    for p in &cfg.push {
        let item = format!("push {} -> {}", p.source.as_str(), p.table);
        let probe = Ident::from_exact(format!(
            "SNOWSYNC_CHECK_{}",
            p.source.as_str().to_uppercase()
        ));
        let create = format!(
            "CREATE TEMPORARY TABLE IF NOT EXISTS {} (X NUMBER(38,0))",
            probe.sql()
        );
        match session.execute(&create).await {
            Ok(()) => {
                let _ = session
                    .execute(&format!("DROP TABLE IF EXISTS {}", probe.sql()))
                    .await;
            }
            Err(e) if e.kind() == ErrorKind::Privilege => {
                out.push(
                    Status::Fail,
                    item,
                    format!(
                        "cannot create tables in {}.{}: {} TO ROLE {}",
                        p.table.database,
                        p.table.schema,
                        schema_grant(&p.table),
                        cfg.snowflake.role_label()
                    ),
                );
                continue;
            }
            Err(e) => {
                out.push(Status::Fail, item, e.to_string());
                continue;
            }
        }
        match destination_problems(&session, p).await {
            Ok(None) => out.push(Status::Ok, item, "destination will be created on the first push"),
            Ok(Some(shape)) if !shape.incompatible.is_empty() => out.push(Status::Fail, item, format!("destination has incompatible columns: {}; fix or drop it, or choose another table", shape.incompatible.join(", "))),
            Ok(Some(shape)) if !shape.missing.is_empty() => out.push(
                Status::Warn,
                item,
                format!(
                    "destination lacks {}: the next push adds them (ALTER TABLE ADD COLUMN, which needs the table's OWNERSHIP for role {})",
                    shape.missing.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", "),
                    cfg.snowflake.role_label()
                ),
            ),
            Ok(Some(_)) => out.push(
                Status::Ok,
                item,
                format!("destination exists with the expected columns; the role needs SELECT, INSERT, UPDATE on it (GRANT SELECT, INSERT, UPDATE ON TABLE {} TO ROLE {})", p.table.sql(), cfg.snowflake.role_label()),
            ),
            Err(e) => out.push(Status::Fail, item, e.to_string()),
        }
    }
    session.close().await;
    Ok(out.0)
}

/// Role, warehouse, database and schema, as the session sees them.
async fn check_context(session: &Session, cfg: &TenantConfig, out: &mut Lines) {
    let sf = &cfg.snowflake;
    match session
        .query("SELECT CURRENT_ROLE(), CURRENT_WAREHOUSE()")
        .await
    {
        Ok(b) if !b.is_empty() && b[0].num_rows() > 0 => {
            let role = text_at(&b[0], 0, 0).unwrap_or_default();
            match &sf.role {
                Some(r) if !role.eq_ignore_ascii_case(r.name()) => out.push(
                    Status::Fail,
                    "role",
                    format!(
                        "session runs as {role}, not {r}: GRANT ROLE {} TO USER {}",
                        r.sql(),
                        sf.user
                    ),
                ),
                _ => out.push(
                    Status::Ok,
                    "role",
                    if role.is_empty() {
                        "(default)".into()
                    } else {
                        role
                    },
                ),
            }
            match text_at(&b[0], 1, 0) {
                Some(w) if !w.is_empty() => out.push(Status::Ok, "warehouse", w),
                _ => out.push(
                    Status::Fail,
                    "warehouse",
                    format!("{} does not exist or is not granted: GRANT USAGE ON WAREHOUSE {} TO ROLE {}", sf.warehouse, sf.warehouse.sql(), cfg.snowflake.role_label()),
                ),
            }
        }
        Ok(_) => out.push(Status::Warn, "role", "could not read CURRENT_ROLE()"),
        Err(e) => out.push(
            Status::Warn,
            "role",
            format!("could not read CURRENT_ROLE(): {e}"),
        ),
    }
    let sql = format!(
        "SELECT COUNT(*) FROM {}.INFORMATION_SCHEMA.SCHEMATA WHERE SCHEMA_NAME = {}",
        sf.database.sql(),
        sf_string(sf.schema.name())
    );
    match session.query(&sql).await {
        Ok(b) => {
            out.push(Status::Ok, "database", sf.database.to_string());
            if b.first().and_then(|b| int_at(b, 0, 0)).unwrap_or(0) > 0 {
                out.push(
                    Status::Ok,
                    "schema",
                    format!("{}.{}", sf.database, sf.schema),
                );
            } else {
                out.push(
                    Status::Fail,
                    "schema",
                    format!("{}.{} does not exist or is not visible: GRANT USAGE ON SCHEMA {}.{} TO ROLE {}", sf.database, sf.schema, sf.database.sql(), sf.schema.sql(), cfg.snowflake.role_label()),
                );
            }
        }
        Err(e) => out.push(
            Status::Fail,
            "database",
            format!(
                "{e}; GRANT USAGE ON DATABASE {} TO ROLE {}",
                sf.database.sql(),
                cfg.snowflake.role_label()
            ),
        ),
    }
}

/// The table's `deletes` mode and its last reconciliation (nothing without `deletes`).
async fn check_deletes(
    deps: &Deps,
    cfg: &TenantConfig,
    t: &crate::tenant::config::PullTable,
    out: &mut Lines,
) {
    let Some(mode) = t.deletes else { return };
    let item = format!("  deletes {}", mode.as_str());
    let last = deps
        .state
        .statuses(&cfg.tenant)
        .await
        .ok()
        .into_iter()
        .flatten()
        .find(|s| s.object == t.table.to_string())
        .and_then(|s| s.last_reconcile);
    match last {
        Some(r) => out.push(
            Status::Ok,
            item,
            format!(
                "last reconciled {} ({}, {} row(s) deleted)",
                r.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
                r.outcome.as_str(),
                r.rows_deleted.unwrap_or(0)
            ),
        ),
        None => out.push(
            Status::Ok,
            item,
            format!(
                "not reconciled yet: snowsync reconcile {} --table {}{}",
                cfg.tenant,
                t.table.table.name(),
                if cfg.schedule.reconcile.is_none() {
                    " (no [schedule] reconcile set)"
                } else {
                    ""
                }
            ),
        ),
    }
}

async fn check_pull_table(
    session: &Session,
    t: &crate::tenant::config::PullTable,
    out: &mut Lines,
) {
    let item = format!("table {}", t.table);
    let cols = match source_columns(session, t).await {
        Ok(c) => c,
        Err(e) => {
            out.push(Status::Fail, item, e.to_string());
            return;
        }
    };
    out.push(
        Status::Ok,
        item,
        format!("{} column(s) readable", cols.len()),
    );
    if let Some(configured) = &t.columns {
        for c in configured {
            out.push(Status::Ok, format!("  column {c}"), "exists");
        }
    }
    for k in &t.primary_key {
        out.push(Status::Ok, format!("  key {k}"), "exists");
    }
    if let Some(cursor) = &t.cursor {
        let item = format!("  cursor {cursor}");
        let ty = cols.iter().find(|c| &c.ident == cursor).map(|c| c.sf_type);
        let typed = matches!(
            ty,
            Some(
                SfType::TimestampNtz { .. }
                    | SfType::TimestampLtz { .. }
                    | SfType::TimestampTz { .. }
                    | SfType::Date
                    | SfType::Number { .. }
            )
        );
        let nulls = session
            .query(&format!(
                "SELECT COUNT(*) FROM {} WHERE {} IS NULL",
                t.table.sql(),
                cursor.sql()
            ))
            .await
            .ok()
            .and_then(|b| b.first().and_then(|b| int_at(b, 0, 0)))
            .unwrap_or(0);
        let ty_text = ty.map_or_else(|| "?".to_owned(), |t| t.to_string());
        if !typed {
            out.push(Status::Warn, item, format!("is {ty_text}: a cursor should be a timestamp or a number that grows with every change"));
        } else if nulls > 0 {
            out.push(
                Status::Warn,
                item,
                format!("{ty_text}; {nulls} row(s) have a NULL cursor: only backfills read them"),
            );
        } else {
            out.push(Status::Ok, item, ty_text);
        }
    }
}
