//! Pull: Snowflake tables into the platform's PostgreSQL database.
//!
//! Each run reads the table's columns from `INFORMATION_SCHEMA`, maps their types (see
//! [`crate::sf_types`]), and reads the rows in bounded keyset pages ordered by the primary key:
//! `WHERE key > <largest key of the previous page> ORDER BY key LIMIT n`. A page's bound is the
//! largest key among the rows it holds, never "the last row received" (the Snowflake client does
//! not keep result order across chunks). Pages are decoded from Arrow straight into PostgreSQL
//! COPY text and loaded into a staging table, which is swapped in atomically at the end.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::arrow_decode::{key_value, write_copy_text, ColumnSpec, KeyValue};
use crate::config::{PullTable, TenantConfig, TenantId};
use crate::deps::Deps;
use crate::error::{Result, SyncError};
use crate::platform::PgColumn;
use crate::quote::{sf_string, Ident};
use crate::runner::{run_object, Mode, ObjectReport, Progress};
use crate::sf_types::SfType;
use crate::snowflake::{int_at, text_at, Session};
use crate::state::Direction;

/// The `pull` function's event (the contract's shape).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullEvent {
    /// The tenant.
    pub tenant: String,
    /// The tables to pull (names as configured); absent or empty = all configured tables.
    #[serde(default)]
    pub tables: Option<Vec<String>>,
    /// `incremental` (default) or `backfill`.
    #[serde(default)]
    pub mode: Mode,
}

/// The `pull` function's result.
#[derive(Debug, Clone, Serialize)]
pub struct PullReport {
    /// The tenant.
    pub tenant: String,
    /// This invocation's run id (also in the Snowflake QUERY_TAG).
    pub run_id: String,
    /// One entry per table.
    pub tables: Vec<ObjectReport>,
}

/// A source column as the run reads it.
#[derive(Debug, Clone)]
struct SourceColumn {
    ident: Ident,
    sf_type: SfType,
}

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
    TenantConfig::parse(&text).map_err(|e| e.context(format!("stored config of tenant {id}")))
}

/// Runs a pull for the event: every selected table, each under its own lease, sharing one
/// Snowflake session. Table failures are reported per table.
///
/// # Errors
/// Only for failures before any table runs: unknown tenant, unknown table, unreadable secret.
pub async fn run_pull(deps: &Deps, event: &PullEvent, run_id: &str) -> Result<PullReport> {
    let cfg = load_tenant(deps, &event.tenant).await?;
    let names = event.tables.clone().unwrap_or_default();
    let tables = cfg.select_pull(&names)?;
    let creds = deps.secrets.get(&cfg.tenant).await?;
    let tag = format!("snowsync tenant={} run={run_id}", cfg.tenant);
    let span = tracing::info_span!("pull", tenant = %cfg.tenant, run_id);
    let _enter = span.enter();

    // One login per invocation. If it fails, every table reports that failure.
    let session = Session::connect(&cfg.snowflake, &creds, &deps.endpoint, &tag).await;
    let mut reports = Vec::with_capacity(tables.len());
    for t in tables {
        let object = t.table.to_string();
        let report = run_object(
            deps,
            &cfg.tenant,
            Direction::Pull,
            &object,
            run_id,
            || async {
                let session = session
                    .as_ref()
                    .map_err(|e| SyncError::new(e.kind(), e.message().to_owned()))?;
                pull_table(deps, &cfg, t, session, event.mode).await
            },
        )
        .await;
        reports.push(report);
    }
    Ok(PullReport {
        tenant: cfg.tenant.to_string(),
        run_id: run_id.to_owned(),
        tables: reports,
    })
}

/// Reads the table's columns from its database's INFORMATION_SCHEMA, in table order.
async fn describe(
    session: &Session,
    t: &PullTable,
) -> Result<Vec<(Ident, Result<SfType, String>)>> {
    let sql = format!(
        "SELECT COLUMN_NAME, DATA_TYPE, NUMERIC_PRECISION, NUMERIC_SCALE FROM {}.INFORMATION_SCHEMA.COLUMNS WHERE TABLE_SCHEMA = {} AND TABLE_NAME = {} ORDER BY ORDINAL_POSITION",
        t.table.database.sql(),
        sf_string(t.table.schema.name()),
        sf_string(t.table.table.name())
    );
    let batches = session.query(&sql).await?;
    let mut out = Vec::new();
    for b in &batches {
        for row in 0..b.num_rows() {
            let name = text_at(b, 0, row).unwrap_or_default();
            let data_type = text_at(b, 1, row).unwrap_or_default();
            let ty = SfType::from_information_schema(
                &data_type,
                int_at(b, 2, row),
                int_at(b, 3, row),
                None,
            )
            .map_err(|e| e.to_string());
            out.push((Ident::from_exact(&name), ty));
        }
    }
    Ok(out)
}

/// Resolves the configured columns against the table's, with types.
async fn source_columns(session: &Session, t: &PullTable) -> Result<Vec<SourceColumn>> {
    let described = describe(session, t).await?;
    if described.is_empty() {
        return Err(SyncError::missing(format!(
            "table {} does not exist or the role cannot see it: check the name in [[pull]] and grant SELECT on it (and USAGE on its database and schema) to the role",
            t.table
        )));
    }
    let find = |want: &Ident| described.iter().find(|(name, _)| name == want);
    let wanted: Vec<&(Ident, Result<SfType, String>)> = match &t.columns {
        Some(cols) => cols
            .iter()
            .map(|c| {
                find(c).ok_or_else(|| {
                    SyncError::missing(format!(
                        "column {c} does not exist in table {}: fix [[pull]] columns (the table has {})",
                        t.table,
                        described.iter().map(|(n, _)| n.name()).collect::<Vec<_>>().join(", ")
                    ))
                })
            })
            .collect::<Result<_>>()?,
        None => described.iter().collect(),
    };
    for key in t.primary_key.iter().chain(t.cursor.iter()) {
        if find(key).is_none() {
            return Err(SyncError::missing(format!(
                "column {key} (cursor or primary key) does not exist in table {}",
                t.table
            )));
        }
    }
    let mut cols = Vec::with_capacity(wanted.len());
    for (ident, ty) in wanted {
        let sf_type = ty.clone().map_err(|e| {
            SyncError::config(format!(
                "column {ident} of {}: {e}; leave it out with [[pull]] columns",
                t.table
            ))
        })?;
        let lower = ident.name().to_lowercase();
        if cols
            .iter()
            .any(|c: &SourceColumn| c.ident.name().to_lowercase() == lower)
        {
            return Err(SyncError::config(format!(
                "columns {ident} of {} differ only in case, but PostgreSQL column names are lower case: pull only one of them with [[pull]] columns",
                t.table
            )));
        }
        cols.push(SourceColumn {
            ident: ident.clone(),
            sf_type,
        });
    }
    Ok(cols)
}

/// `(k1 > v1) OR (k1 = v1 AND k2 > v2) OR ...`: rows strictly after `bound` in key order.
fn keyset_after(keys: &[Ident], bound: &[KeyValue]) -> String {
    let mut terms = Vec::with_capacity(keys.len());
    for i in 0..keys.len() {
        let mut parts: Vec<String> = (0..i)
            .map(|j| format!("{} = {}", keys[j].sql(), bound[j].sf_literal()))
            .collect();
        parts.push(format!("{} > {}", keys[i].sql(), bound[i].sf_literal()));
        terms.push(format!("({})", parts.join(" AND ")));
    }
    terms.join(" OR ")
}

/// A full refresh of one table: keyset pages by primary key (or one read without a key) into a
/// staging table, swapped in at the end.
async fn pull_table(
    deps: &Deps,
    cfg: &TenantConfig,
    t: &PullTable,
    session: &Session,
    _mode: Mode,
) -> Result<Progress> {
    let started = Instant::now();
    let cols = source_columns(session, t).await?;
    let specs: Vec<ColumnSpec> = cols
        .iter()
        .map(|c| ColumnSpec {
            name: c.ident.name().to_owned(),
            sf_type: c.sf_type,
        })
        .collect();
    let pg_cols: Vec<PgColumn> = cols
        .iter()
        .map(|c| PgColumn {
            name: c.ident.name().to_lowercase(),
            pg_type: c.sf_type.pg_type(),
        })
        .collect();
    let key_idx: Vec<usize> = t
        .primary_key
        .iter()
        .filter_map(|k| cols.iter().position(|c| &c.ident == k))
        .collect();
    let pk_pg: Vec<String> = t
        .primary_key
        .iter()
        .map(|k| k.name().to_lowercase())
        .collect();
    let select = cols
        .iter()
        .map(|c| c.sf_type.select_expr(&c.ident))
        .collect::<Vec<_>>()
        .join(", ");
    let order = t
        .primary_key
        .iter()
        .map(Ident::sql)
        .collect::<Vec<_>>()
        .join(", ");

    let mut load = deps
        .platform
        .begin_full_refresh(
            &cfg.tenant.pg_schema(),
            &t.table.pg_table(),
            &pg_cols,
            &pk_pg,
        )
        .await?;
    let mut progress = Progress::default();
    let page_rows = deps.settings.page_rows.max(1);
    let mut bound: Option<Vec<KeyValue>> = None;
    loop {
        let sql = if key_idx.is_empty() {
            format!("SELECT {select} FROM {}", t.table.sql())
        } else {
            let filter = bound
                .as_ref()
                .map(|b| format!(" WHERE {}", keyset_after(&t.primary_key, b)))
                .unwrap_or_default();
            format!(
                "SELECT {select} FROM {}{filter} ORDER BY {order} LIMIT {page_rows}",
                t.table.sql()
            )
        };
        let batches = session.query(&sql).await?;
        let mut buf = Vec::new();
        let mut rows = 0usize;
        let mut page_max: Option<Vec<KeyValue>> = None;
        for b in &batches {
            rows += write_copy_text(b, &specs, &mut buf)
                .map_err(|e| SyncError::config(format!("decode {}: {e}", t.table)))?;
            if key_idx.is_empty() {
                continue;
            }
            for row in 0..b.num_rows() {
                let key = key_idx
                    .iter()
                    .map(|&i| key_value(b, i, &specs[i], row))
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(|e| SyncError::config(format!("decode key of {}: {e}", t.table)))?;
                if key.iter().any(|k| matches!(k, KeyValue::Null)) {
                    return Err(SyncError::config(format!(
                        "table {} has a row whose primary key ({}) is NULL: fix primary_key in [[pull]] or the data",
                        t.table,
                        t.primary_key.iter().map(Ident::name).collect::<Vec<_>>().join(", ")
                    )));
                }
                if page_max.as_ref().is_none_or(|m| key > *m) {
                    page_max = Some(key);
                }
            }
        }
        if rows > 0 {
            progress.rows_written += load.copy_page(buf.into()).await?;
        }
        progress.rows_read += rows as u64;
        progress.pages += 1;
        tracing::debug!(table = %t.table, page = progress.pages, rows, "page loaded");
        if key_idx.is_empty() || rows < page_rows {
            break;
        }
        bound = page_max;
    }
    load.commit().await?;
    tracing::info!(
        table = %t.table,
        rows = progress.rows_read,
        seconds = started.elapsed().as_secs_f64(),
        "full refresh swapped in"
    );
    Ok(progress)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyset_predicate_expands_tuples() {
        let keys = vec![Ident::from_exact("A"), Ident::from_exact("b")];
        let bound = vec![KeyValue::Int(5), KeyValue::Text("x'y".into())];
        assert_eq!(
            keyset_after(&keys, &bound),
            r#"("A" > 5) OR ("A" = 5 AND "b" > 'x''y')"#
        );
    }
}
