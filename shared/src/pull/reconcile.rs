//! Reconciliation: rows deleted in the source leave the platform table (README, "Deleted
//! rows").
//!
//! Under the table's own lease (a pull and a reconciliation of one table never overlap, so the
//! platform side holds still), the primary key is cut into ranges by the pull's boundary
//! pre-scan (key columns only). Per range `lo < key <= hi`: with integer keys, both sides'
//! fingerprints first (count and three power sums, [`crate::quote::key_fingerprint_sql`]), and a
//! range that agrees is done; otherwise the source's keys of the range, read in bounded pages
//! (`LIMIT`, the rest of a grown range read on from a page's largest key), are copied into a
//! temporary table and every platform row of the same key range without a match is deleted, or
//! marked with `_snowsync_deleted_at` (`deletes = "soft"`), in one transaction. A key the source
//! gains after its range was read is not on the platform yet (only a pull writes there), so it
//! is never removed; a key removed twice is removed once. After every range the checkpoint
//! (the range's upper key, the totals) is stored, conditional on the lease, so a crash or a
//! deadline hop re-reads at most one range.

use super::*;
use crate::postgres::{KeyRange, Removal};
use crate::state::{Side, RECONCILE_PLAN};
use crate::tenant::config::Deletes;

/// The `pull` function's event for a reconciliation:
/// `{"tenant": "acme", "tables": ["T"], "mode": "reconcile"}` (`tables` optional = every table
/// with `deletes`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconcileEvent {
    /// The tenant.
    pub tenant: String,
    /// The tables to reconcile (names as configured); absent or empty = every table with
    /// `deletes`.
    #[serde(default)]
    pub tables: Option<Vec<String>>,
    /// Always `reconcile`.
    pub mode: ReconcileMode,
    /// How many times this run has already continued in a fresh invocation.
    #[serde(default, skip_serializing_if = "crate::runner::is_zero")]
    pub hop: u32,
}

/// The one mode of a [`ReconcileEvent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReconcileMode {
    /// Find rows deleted in the source.
    Reconcile,
}

impl ReconcileEvent {
    /// A reconciliation of `tables` (all with `deletes` when empty).
    pub fn new(tenant: impl Into<String>, tables: Vec<String>) -> Self {
        Self {
            tenant: tenant.into(),
            tables: Some(tables),
            mode: ReconcileMode::Reconcile,
            hop: 0,
        }
    }
}

impl Job for ReconcileEvent {
    const DIRECTION: Direction = Direction::Pull;
    const SHAPE: &'static str = r#"{"tenant": "acme", "tables": ["T"], "mode": "reconcile"}"#;

    /// Reconciles every selected table, each under its table's lease.
    ///
    /// # Errors
    /// Only for failures before any table runs: unknown tenant, unknown table or one without
    /// `deletes`, unreadable secret.
    async fn run(&self, deps: &Deps, run_id: &str, budget: &Budget) -> Result<RunReport> {
        let cfg = deps.state.load_tenant(&self.tenant).await?;
        let names = self.tables.clone().unwrap_or_default();
        let selected = cfg.select_pull(&names)?;
        if let Some(t) = selected
            .iter()
            .find(|t| t.deletes.is_none() && !names.is_empty())
        {
            return Err(SyncError::config(format!(
                "table {} has no deletes: add deletes = \"reconcile\" (or \"soft\") to its [[pull]] entry",
                t.table
            )));
        }
        let tables = selected
            .into_iter()
            .filter(|t| t.deletes.is_some())
            .map(|t| (t.table.to_string(), t))
            .collect();
        run_planned(
            deps,
            &cfg,
            (Direction::Pull, Some(RECONCILE_PLAN)),
            Invocation {
                run_id,
                hop: self.hop,
                deadline: budget.deadline,
            },
            tables,
            |t, session| reconcile_table(deps, &cfg, t, session, run_id, budget),
        )
        .await
    }

    fn tenant(&self) -> &str {
        &self.tenant
    }

    fn hop_mut(&mut self) -> &mut u32 {
        &mut self.hop
    }

    fn planning(&self) -> bool {
        false
    }

    fn orchestrated(&self) -> bool {
        false
    }

    /// A reconciliation is one unit: its schedule invokes the function directly.
    async fn units(&self, _: &Deps, _: &TenantConfig, _: &str) -> Result<Vec<Self>> {
        Ok(vec![self.clone()])
    }
}

/// One table's reconciliation, from its key columns to its last range.
async fn reconcile_table(
    deps: &Deps,
    cfg: &TenantConfig,
    t: &PullTable,
    session: Arc<Session>,
    run_id: &str,
    budget: &Budget,
) -> Result<Progress> {
    Reconcile::new(deps, cfg, t, &session, run_id)
        .await?
        .run(budget)
        .await
}

/// What the `pull` function receives: a pull, or (with `"mode": "reconcile"`) a
/// reconciliation.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum PullFunctionEvent {
    /// A pull.
    Pull(PullEvent),
    /// A reconciliation.
    Reconcile(ReconcileEvent),
}

impl<'de> Deserialize<'de> for PullFunctionEvent {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error;
        let v = serde_json::Value::deserialize(d)?;
        if v.get("mode").and_then(|m| m.as_str()) == Some("reconcile") {
            serde_json::from_value(v).map(Self::Reconcile)
        } else {
            serde_json::from_value(v).map(Self::Pull)
        }
        .map_err(D::Error::custom)
    }
}

impl Job for PullFunctionEvent {
    const DIRECTION: Direction = Direction::Pull;
    const SHAPE: &'static str =
        r#"{"tenant": "acme", "tables": ["T"], "mode": "incremental"|"backfill"|"reconcile"}"#;

    async fn run(&self, deps: &Deps, run_id: &str, budget: &Budget) -> Result<RunReport> {
        match self {
            Self::Pull(e) => e.run(deps, run_id, budget).await,
            Self::Reconcile(e) => e.run(deps, run_id, budget).await,
        }
    }

    fn tenant(&self) -> &str {
        match self {
            Self::Pull(e) => e.tenant(),
            Self::Reconcile(e) => e.tenant(),
        }
    }

    fn hop_mut(&mut self) -> &mut u32 {
        match self {
            Self::Pull(e) => e.hop_mut(),
            Self::Reconcile(e) => e.hop_mut(),
        }
    }

    fn planning(&self) -> bool {
        matches!(self, Self::Pull(e) if e.planning())
    }

    fn orchestrated(&self) -> bool {
        matches!(self, Self::Pull(e) if e.orchestrated())
    }

    async fn units(&self, deps: &Deps, cfg: &TenantConfig, run_id: &str) -> Result<Vec<Self>> {
        Ok(match self {
            Self::Pull(e) => e
                .units(deps, cfg, run_id)
                .await?
                .into_iter()
                .map(Self::Pull)
                .collect(),
            Self::Reconcile(e) => vec![Self::Reconcile(e.clone())],
        })
    }
}

/// Where an unfinished reconciliation stopped, stored after every range.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct ReconcileMark {
    /// Encoded upper key of the last range done; `None` before the first.
    after: Option<Vec<String>>,
    /// Rows deleted or marked so far.
    deleted: u64,
    /// Ranges done so far.
    ranges: u64,
    /// Ranges whose fingerprints agreed (no keys read).
    skipped: u64,
    /// Source keys read so far.
    keys_read: u64,
}

/// One table's reconciliation.
struct Reconcile<'a> {
    deps: &'a Deps,
    tenant: &'a TenantId,
    object: String,
    run_id: &'a str,
    t: &'a PullTable,
    schema: PgTenant,
    pg_table: String,
    removal: Removal,
    query: PhaseQuery,
    reader: PageReader,
    /// The key columns' specs, in key order (for the COPY of a range's keys).
    key_specs: Vec<ColumnSpec>,
    /// The platform's key column names.
    pk_pg: Vec<String>,
    /// Every key column is an integer: ranges are fingerprinted before keys are read.
    fingerprinted: bool,
}

impl<'a> Reconcile<'a> {
    async fn new(
        deps: &'a Deps,
        cfg: &'a TenantConfig,
        t: &'a PullTable,
        session: &Arc<Session>,
        run_id: &'a str,
    ) -> Result<Self> {
        let cols = source_columns(session, t).await?;
        let key_cols: Vec<SourceColumn> = t
            .primary_key
            .iter()
            .filter_map(|k| cols.iter().find(|c| &c.ident == k).cloned())
            .collect();
        let key_specs: Vec<ColumnSpec> = key_cols.iter().map(SourceColumn::spec).collect();
        let schema = PgTenant::of(&cfg.tenant);
        let pg_table = t.table.pg_table();
        let pg_cols: Vec<PgColumn> = cols.iter().map(SourceColumn::pg_column).collect();
        let platform = &deps.platform;
        if !platform
            .has_table(&schema, &pg_table, Target::Live, &pg_cols)
            .await?
        {
            return Err(SyncError::config(format!(
                "{}: the platform table {schema}.{pg_table} is missing or its columns differ from the source's: run snowsync pull {} --table {} first",
                t.table, cfg.tenant, t.table.table.name()
            )));
        }
        let removal = match t.deletes {
            Some(Deletes::Soft) => Removal::Mark,
            _ => Removal::Delete,
        };
        if removal == Removal::Mark {
            platform.ensure_deleted_at(&schema, &pg_table).await?;
        }
        Ok(Self {
            deps,
            tenant: &cfg.tenant,
            object: t.table.to_string(),
            run_id,
            t,
            schema,
            pg_table,
            removal,
            query: PhaseQuery::new(&key_cols, None, &t.primary_key, false, None, None),
            reader: PageReader {
                session: Arc::clone(session),
                key_specs: key_specs.iter().cloned().enumerate().collect(),
                table: t.table.to_string().into(),
                primary_key: t
                    .primary_key
                    .iter()
                    .map(|k| k.name().to_owned())
                    .collect::<Vec<_>>()
                    .join(", ")
                    .into(),
            },
            fingerprinted: key_cols
                .iter()
                .all(|c| matches!(c.sf_type, crate::types::SfType::Number { scale: 0, .. })),
            key_specs,
            pk_pg: t
                .primary_key
                .iter()
                .map(|k| k.name().to_lowercase())
                .collect(),
        })
    }

    /// Every range from the checkpoint on; returns whether the deadline stopped it.
    async fn run(&self, budget: &Budget) -> Result<Progress> {
        let state = &self.deps.state;
        let stored = state
            .progress(self.tenant, Direction::Pull, &self.object)
            .await?;
        let mut mark = SideJob::parse::<ReconcileMark>(stored.reconcile_checkpoint.as_deref())
            .filter(|m| m.after.as_ref().is_none_or(|a| a.len() == self.pk_pg.len()))
            .unwrap_or_default();
        if mark.ranges > 0 {
            tracing::info!(table = %self.t.table, ranges = mark.ranges, "resuming the unfinished reconciliation from its checkpoint");
        }
        let mut frontier = decode_tuple(mark.after.as_ref(), "reconcile checkpoint")?;
        let per_range = self.deps.settings.page_rows.max(1);
        let table = self.t.table.sql();
        let mut clock = PageClock::new();
        let mut continued = false;
        'scan: loop {
            let sql = self
                .query
                .boundary_sql(&table, frontier.as_deref(), per_range, SCAN_PAGES);
            let bounds = self.reader.boundaries(&sql).await?;
            let last = bounds.len() < SCAN_PAGES;
            let his = bounds.into_iter().map(Some).chain(last.then_some(None));
            for hi in his {
                self.range(
                    &table,
                    frontier.as_deref(),
                    hi.as_deref(),
                    per_range,
                    &mut mark,
                )
                .await?;
                mark.ranges += 1;
                mark.after = hi
                    .as_ref()
                    .map(|h| h.iter().map(KeyValue::encode).collect());
                if let Some(w) = &self.deps.watcher {
                    w.committed(&self.object, mark.keys_read, mark.ranges);
                }
                let Some(hi) = hi else { break 'scan };
                frontier = Some(hi);
                self.side().save(&mark).await?;
                if budget.should_stop(clock.lap()) {
                    continued = true;
                    break 'scan;
                }
            }
        }
        if !continued {
            self.side().complete().await?;
            tracing::info!(table = %self.t.table, ranges = mark.ranges, skipped = mark.skipped, keys = mark.keys_read, deleted = mark.deleted, "reconciled");
        }
        Ok(Progress {
            rows_read: mark.keys_read,
            pages: mark.ranges,
            continued,
            plan: Some(RECONCILE_PLAN),
            rows_deleted: Some(mark.deleted),
            watermark_before: stored.watermark.clone(),
            watermark_after: stored.watermark,
            ..Progress::default()
        })
    }

    /// One range `lo < key <= hi`: skipped when the fingerprints agree, else its source keys
    /// page by page, each page's key span reconciled on the platform.
    async fn range(
        &self,
        table: &str,
        lo: Option<&[KeyValue]>,
        hi: Option<&[KeyValue]>,
        per_range: usize,
        mark: &mut ReconcileMark,
    ) -> Result<()> {
        if self.fingerprinted && self.fingerprints_agree(table, lo, hi).await? {
            mark.skipped += 1;
            return Ok(());
        }
        let limit = per_range + per_range / 16 + 1;
        let mut from = lo.map(<[KeyValue]>::to_vec);
        loop {
            let sql = self.query.page_sql(table, from.as_deref(), hi, limit);
            let page = self.reader.read_page(&sql).await?;
            let full = page.rows >= limit;
            // A full page covers the keys up to its largest; the rest of the range follows.
            let upto = if full {
                page.max.clone()
            } else {
                hi.map(<[KeyValue]>::to_vec)
            };
            mark.keys_read += page.rows as u64;
            let keys = encode_copy(
                page.batches,
                self.key_specs.clone(),
                self.t.table.to_string(),
                page.rows * 16,
            )
            .await?;
            let bounds = PgBounds::of(from.as_deref(), upto.as_deref())?;
            mark.deleted += self
                .deps
                .platform
                .remove_gone(
                    &self.schema,
                    &self.pg_table,
                    bounds.range(&self.pk_pg),
                    keys.into(),
                    self.removal,
                )
                .await?;
            if !full {
                return Ok(());
            }
            from = upto;
        }
    }

    /// Whether the source's and the platform's fingerprints of the range agree.
    async fn fingerprints_agree(
        &self,
        table: &str,
        lo: Option<&[KeyValue]>,
        hi: Option<&[KeyValue]>,
    ) -> Result<bool> {
        let batches = self
            .reader
            .session
            .query(&self.query.fingerprint_sql(table, lo, hi))
            .await?;
        let Some(b) = batches.iter().find(|b| b.num_rows() > 0) else {
            return Ok(false);
        };
        let source: Option<Vec<i128>> = (0..4)
            .map(|i| crate::snowflake::whole_at(b, i, 0))
            .collect();
        let bounds = PgBounds::of(lo, hi)?;
        let platform = self
            .deps
            .platform
            .key_fingerprint(
                &self.schema,
                &self.pg_table,
                bounds.range(&self.pk_pg),
                self.removal,
            )
            .await?;
        Ok(source.as_ref() == Some(&platform))
    }

    fn side(&self) -> SideJob<'_> {
        SideJob {
            deps: self.deps,
            tenant: self.tenant,
            object: &self.object,
            run_id: self.run_id,
            side: Side::Reconcile,
        }
    }
}

/// A range's bounds as PostgreSQL literals.
struct PgBounds {
    lo: Option<Vec<String>>,
    hi: Option<Vec<String>>,
}

impl PgBounds {
    fn of(lo: Option<&[KeyValue]>, hi: Option<&[KeyValue]>) -> Result<Self> {
        let literals = |bound: Option<&[KeyValue]>| {
            bound
                .map(|b| {
                    b.iter()
                        .map(|v| v.pg_literal().map_err(|e| SyncError::config(e.to_string())))
                        .collect::<Result<Vec<_>>>()
                })
                .transpose()
        };
        Ok(Self {
            lo: literals(lo)?,
            hi: literals(hi)?,
        })
    }

    fn range<'b>(&'b self, keys: &'b [String]) -> KeyRange<'b> {
        KeyRange {
            keys,
            lo: self.lo.as_deref(),
            hi: self.hi.as_deref(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pull_function_tells_a_reconciliation_from_a_pull() {
        let event: PullFunctionEvent =
            serde_json::from_str(r#"{"tenant": "acme", "mode": "reconcile"}"#).expect("parse");
        assert!(matches!(&event, PullFunctionEvent::Reconcile(e) if e.tables.is_none()));
        assert_eq!(
            serde_json::to_value(&event).expect("encode"),
            serde_json::json!({"tenant": "acme", "tables": null, "mode": "reconcile"})
        );
        for mode in [r#""mode": "backfill","#, ""] {
            let text = format!(r#"{{{mode} "tenant": "acme", "tables": ["T"]}}"#);
            let event: PullFunctionEvent = serde_json::from_str(&text).expect("parse");
            assert!(matches!(event, PullFunctionEvent::Pull(_)), "{text}");
        }
        let e = serde_json::from_str::<PullFunctionEvent>(
            r#"{"tenant": "acme", "mode": "reconcile", "limit": 3}"#,
        )
        .expect_err("unknown field");
        assert!(e.to_string().contains("unknown field `limit`"), "{e}");
    }
}
