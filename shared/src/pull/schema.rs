//! Source columns that changed since the platform table was made (README, "Changed
//! schemas"), handled in place instead of by a full backfill:
//! - a column added: `ADD COLUMN` (in the staging table too, while a backfill is in progress),
//!   then a **column backfill** reading only the key and the added columns in keyset pages,
//!   after each run's own plan, under the same lease, resumable from its checkpoint, until
//!   every row has them; the pull's own pages carry them from the start;
//! - a column dropped: kept, marked (reported once), NULL in rows written since;
//! - a type widened so that every value converts exactly: `ALTER COLUMN ... TYPE`;
//! - any other type change: the table fails with `config`, naming the column, both types and
//!   the fix (`--backfill`).

use super::*;
use crate::postgres::{normalise_type, widens, ColumnChange, PlatformColumn};
use crate::state::Side;

/// What the schema step found and did.
#[derive(Debug, Default)]
pub(super) struct Evolution {
    /// The platform table exists and now takes the source's columns (a checkpoint written
    /// with the old columns can be resumed).
    pub(super) fits: bool,
    /// Platform columns the source no longer has (NULL in rows upserted from now on).
    pub(super) dropped: Vec<String>,
    /// What changed in this run, for the run record (`None`: nothing).
    pub(super) note: Option<String>,
}

/// How one platform table differs from the source's columns.
#[derive(Debug, Default)]
struct Diff {
    changes: Vec<ColumnChange>,
    notes: Vec<String>,
    /// Source names of the columns added.
    added: Vec<String>,
    /// Platform columns the source no longer has.
    dropped: Vec<String>,
}

/// Where a column backfill stands: the columns it fills, and the key of the last row done.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct ColumnMark {
    /// Source names of the columns being filled.
    columns: Vec<String>,
    /// Encoded key of the last row written.
    after: Option<Vec<String>>,
    /// Rows updated so far.
    rows: u64,
}

impl TableRun<'_> {
    /// Compares the platform table with the source's columns and changes it in place.
    ///
    /// # Errors
    /// `config` for a type change that does not convert exactly; a classified PostgreSQL or
    /// DynamoDB error otherwise.
    pub(super) async fn evolve(&self) -> Result<Evolution> {
        let platform = &self.deps.platform;
        let mut found = None;
        // The live table, and the staging table of a backfill in progress: each takes the
        // change; the first found says what changed.
        for target in [Target::Live, Target::Staging] {
            let Some(have) = platform
                .table_columns(&self.schema, &self.pg_table, target)
                .await?
            else {
                continue;
            };
            let diff = self.diff(&have)?;
            if !diff.changes.is_empty() {
                tracing::info!(table = %self.t.table, changes = %diff.notes.join("; "), "the source's columns changed: changing the platform table in place");
                platform
                    .alter_columns(&self.schema, &self.pg_table, target, &diff.changes)
                    .await?;
            }
            found.get_or_insert(diff);
        }
        let Some(diff) = found else {
            return Ok(Evolution::default());
        };
        if !diff.added.is_empty() {
            let mut mark = self.column_mark().await?.unwrap_or_default();
            for a in &diff.added {
                if !mark.columns.contains(a) {
                    mark.columns.push(a.clone());
                }
            }
            // Rows done before hold only the earlier columns: the backfill starts over.
            mark.after = None;
            self.columns_side().save(&mark).await?;
        }
        Ok(Evolution {
            fits: true,
            dropped: diff.dropped,
            note: (!diff.notes.is_empty()).then(|| diff.notes.join("; ")),
        })
    }

    /// How the platform table `have` differs from the source's columns.
    ///
    /// # Errors
    /// `config` for a type change that does not convert exactly.
    fn diff(&self, have: &[PlatformColumn]) -> Result<Diff> {
        let mut diff = Diff::default();
        for (c, source) in self.pg_cols.iter().zip(&self.cols) {
            match have.iter().find(|h| h.name == c.name) {
                None => {
                    diff.changes.push(ColumnChange::Add(c.clone()));
                    diff.notes.push(format!("added {}", source.ident));
                    diff.added.push(source.ident.name().to_owned());
                }
                Some(h) if h.pg_type != normalise_type(&c.pg_type) => {
                    if !widens(&h.pg_type, &c.pg_type) {
                        return Err(SyncError::config(format!(
                            "column {} of {} changed type from {} (in the platform) to {} ({} in the source), which does not convert exactly: run snowsync pull {} --table {} --backfill",
                            source.ident, self.t.table, h.pg_type, c.pg_type, source.sf_type, self.tenant, self.t.table.table.name()
                        )));
                    }
                    diff.changes.push(ColumnChange::Retype(c.clone()));
                    diff.notes.push(format!(
                        "widened {} from {} to {}",
                        source.ident, h.pg_type, c.pg_type
                    ));
                }
                Some(_) => {}
            }
        }
        for h in have {
            if self.pg_cols.iter().any(|c| c.name == h.name) {
                continue;
            }
            diff.dropped.push(h.name.clone());
            if !h.dropped {
                diff.changes.push(ColumnChange::MarkDropped(h.name.clone()));
                diff.notes.push(format!(
                    "dropped {} (kept, NULL in rows written from now on)",
                    h.name
                ));
            }
        }
        Ok(diff)
    }

    pub(super) fn columns_side(&self) -> SideJob<'_> {
        SideJob {
            deps: self.deps,
            tenant: self.tenant,
            object: &self.object,
            run_id: self.run_id,
            side: Side::ColumnBackfill,
        }
    }

    async fn column_mark(&self) -> Result<Option<ColumnMark>> {
        let stored = self
            .deps
            .state
            .progress(self.tenant, Direction::Pull, &self.object)
            .await?;
        Ok(SideJob::parse(stored.columns_checkpoint.as_deref()))
    }

    /// Fills the columns added to the source in the rows written before, page by page in key
    /// order, from its checkpoint on (`stored`, as the run read it), until done or the deadline. Returns the rows updated in
    /// this run and whether the deadline stopped it.
    ///
    /// # Errors
    /// A failed read or write; pages written before it stay checkpointed.
    pub(super) async fn column_backfill(
        &self,
        stored: Option<&str>,
        budget: &Budget,
        clock: &mut PageClock,
    ) -> Result<(u64, bool)> {
        let Some(mut mark) = SideJob::parse::<ColumnMark>(stored) else {
            return Ok((0, false));
        };
        // The key, then the columns being filled (those the source still has).
        let mut cols: Vec<SourceColumn> = Vec::new();
        for k in &self.t.primary_key {
            cols.extend(self.cols.iter().find(|c| &c.ident == k).cloned());
        }
        for name in &mark.columns {
            cols.extend(self.cols.iter().find(|c| c.ident.name() == name).cloned());
        }
        let keys = self.t.primary_key.len();
        if self.t.primary_key.is_empty() || cols.len() == keys {
            // Nothing left to fill (a keyless table is replaced on every run anyway).
            self.columns_side().complete().await?;
            return Ok((0, false));
        }
        let specs: Vec<ColumnSpec> = cols.iter().map(SourceColumn::spec).collect();
        let pg_cols: Vec<PgColumn> = cols.iter().map(SourceColumn::pg_column).collect();
        let query = PhaseQuery::new(&cols, None, &self.t.primary_key, false, None, None);
        let reader = PageReader {
            session: Arc::clone(self.session),
            key_specs: specs[..keys].iter().cloned().enumerate().collect(),
            table: self.t.table.to_string().into(),
            primary_key: self.pk_pg.join(", ").into(),
        };
        let table = self.t.table.sql();
        let after = decode_tuple(mark.after.as_ref(), "column checkpoint")?;
        let limit = self.deps.settings.page_rows.max(1);
        let mut written = 0;
        // One page read ahead: the next is read (on its own task) while this one is written.
        let read = |after: Option<Vec<KeyValue>>| {
            let range = Range {
                lo: after,
                hi: None,
                limit,
            };
            reader.read(
                query.page_sql(&table, range.lo.as_deref(), None, limit),
                range,
            )
        };
        let mut next = Box::pin(read(after));
        loop {
            let (_, page) = next.as_mut().await;
            let page = page?;
            let rows = page.rows;
            let max = page.max.clone();
            if rows >= limit {
                next = Box::pin(read(max.clone()));
            }
            let buf = encode_copy(page.batches, specs.clone(), self.t.table.to_string(), 0).await?;
            if rows > 0 {
                written += self
                    .deps
                    .platform
                    .update_columns(
                        &self.schema,
                        &self.pg_table,
                        &self.pk_pg,
                        &pg_cols,
                        buf.into(),
                    )
                    .await?;
            }
            if rows < limit {
                self.columns_side().complete().await?;
                mark.rows += written;
                tracing::info!(table = %self.t.table, rows = mark.rows, columns = %mark.columns.join(", "), "column backfill done");
                return Ok((written, false));
            }
            mark.after = max
                .as_ref()
                .map(|m| m.iter().map(KeyValue::encode).collect());
            self.columns_side()
                .save(&ColumnMark {
                    rows: mark.rows + written,
                    ..mark.clone()
                })
                .await?;
            if budget.should_stop(clock.lap()) {
                return Ok((written, true));
            }
        }
    }
}
