//! The run of one table: plan or resume, its phases (each through a [`Pipeline`]), the swap,
//! the watermark; and what a page needs of the table (its query, reader, size, write).

use super::*;

/// The run of one table: plan (or resume), keyset pages, commit, watermark.
#[derive(Clone)]
pub(super) struct TableRun<'a> {
    pub(super) deps: &'a Deps,
    pub(super) tenant: &'a TenantId,
    pub(super) object: String,
    pub(super) run_id: &'a str,
    pub(super) t: &'a PullTable,
    pub(super) session: &'a Arc<Session>,
    pub(super) cols: Vec<SourceColumn>,
    pub(super) specs: Vec<ColumnSpec>,
    pub(super) pg_cols: Vec<PgColumn>,
    pub(super) pk_pg: Vec<String>,
    /// The tenant's schema, and the role every write of the run switches to.
    pub(super) schema: PgTenant,
    pub(super) pg_table: String,
    /// The tenant's quotas, checked before each page is written.
    pub(super) limits: Limits,
    /// The tenant's Snowflake settings, for the sessions of range workers.
    pub(super) snowflake: &'a SnowflakeConfig,
    /// The invocation's deadline, for the sessions of range workers.
    pub(super) deadline: Option<Instant>,
    /// Platform columns the source dropped: NULL in rows upserted from now on.
    pub(super) dropped: Vec<String>,
}

impl TableRun<'_> {
    pub(super) fn spec_index(&self, ident: &Ident) -> Option<usize> {
        self.cols.iter().position(|c| &c.ident == ident)
    }

    /// `MAX(cursor)` now, read in the UTC-pinned session at full precision.
    pub(super) async fn upper_bound(&self, cursor: &Ident) -> Result<Option<KeyValue>> {
        let i = self
            .spec_index(cursor)
            .ok_or_else(|| SyncError::missing(format!("cursor {cursor} is not read")))?;
        let spec = &self.specs[i];
        let sql = format!(
            "SELECT MAX({}) AS {} FROM {}",
            cursor.sql(),
            cursor.sql(),
            self.t.table.sql()
        );
        let batches = self.session.query(&sql).await?;
        let one = ColumnSpec {
            name: spec.name.clone(),
            sf_type: spec.sf_type,
        };
        for b in &batches {
            if b.num_rows() > 0 {
                let v = key_value(b, 0, &one, 0)
                    .map_err(|e| SyncError::config(format!("decode MAX({cursor}): {e}")))?;
                return Ok((!matches!(v, KeyValue::Null)).then_some(v));
            }
        }
        Ok(None)
    }

    pub(super) async fn new_plan(
        &self,
        mode: Mode,
        watermark: Option<&KeyValue>,
    ) -> Result<Checkpoint> {
        let columns = self
            .cols
            .iter()
            .map(|c| c.ident.name().to_owned())
            .collect();
        let Some(cursor) = &self.t.cursor else {
            return Ok(Checkpoint::start(
                PlanKind::FullRefresh,
                Phase::Main,
                None,
                None,
                columns,
            ));
        };
        let upper = self.upper_bound(cursor).await?;
        let live_ok = self
            .deps
            .platform
            .has_table(&self.schema, &self.pg_table, Target::Live, &self.pg_cols)
            .await?;
        let incremental = mode == Mode::Incremental && watermark.is_some() && live_ok;
        if mode == Mode::Incremental && watermark.is_some() && !live_ok {
            tracing::info!(table = %self.t.table, "destination table missing or its columns changed: backfilling");
        }
        let (kind, phase, lower) = match (incremental, watermark) {
            (true, Some(w)) => {
                let lower = if self.t.lookback.is_zero() {
                    w.clone()
                } else {
                    minus_lookback(w, self.t.lookback, cursor)?
                };
                (PlanKind::Incremental, Phase::Main, Some(lower.encode()))
            }
            _ => (PlanKind::Backfill, Phase::NullCursor, None),
        };
        Ok(Checkpoint::start(
            kind,
            phase,
            upper.map(|u| u.encode()),
            lower,
            columns,
        ))
    }

    /// The query of the checkpoint's phase (a range's main phase ends at its stop).
    pub(super) fn phase_query(&self, cp: &Checkpoint) -> Result<PhaseQuery> {
        let stop = match (&cp.stop, cp.phase) {
            (Some(stop), Phase::Main) => Some(
                stop.iter()
                    .map(|v| decode_key(v, "range bound"))
                    .collect::<Result<Vec<_>>>()?,
            ),
            _ => None,
        };
        Ok(PhaseQuery::new(
            &self.cols,
            self.t.cursor.as_ref(),
            &self.t.primary_key,
            cp.phase == Phase::NullCursor,
            decode_opt(&cp.lower, "lower bound")?.as_ref(),
            decode_opt(&cp.upper, "upper bound")?.as_ref(),
        )
        .until(stop.as_deref()))
    }

    /// The checkpoint's key bound (rows after it are still to read), checked against the keys.
    pub(super) fn resume_after(
        &self,
        cp: &Checkpoint,
        keys: &[Ident],
    ) -> Result<Option<Vec<KeyValue>>> {
        let Some(after) = &cp.after else {
            return Ok(None);
        };
        let bound = after
            .iter()
            .map(|v| decode_key(v, "checkpoint"))
            .collect::<Result<Vec<_>>>()?;
        if bound.len() != keys.len() {
            return Err(SyncError::config(
                "stored checkpoint does not fit the table's key: run snowsync pull --backfill",
            ));
        }
        Ok(Some(bound))
    }

    /// The reader of a phase's pages, ordered by `keys`.
    pub(super) fn reader(&self, keys: &[Ident]) -> PageReader {
        PageReader {
            session: Arc::clone(self.session),
            key_specs: keys
                .iter()
                .filter_map(|k| self.spec_index(k).map(|i| (i, self.specs[i].clone())))
                .collect(),
            table: self.t.table.to_string().into(),
            primary_key: self
                .t
                .primary_key
                .iter()
                .map(Ident::name)
                .collect::<Vec<_>>()
                .join(", ")
                .into(),
        }
    }

    /// Encodes a page's rows as binary COPY tuples (see [`encode_copy`]).
    pub(super) async fn encode(
        &self,
        batches: Vec<RecordBatch>,
        capacity: usize,
    ) -> Result<Vec<u8>> {
        encode_copy(
            batches,
            self.specs.clone(),
            self.t.table.to_string(),
            capacity,
        )
        .await
    }

    pub(super) async fn save(&self, cp: &Checkpoint) -> Result<()> {
        let text = serde_json::to_string(cp)
            .map_err(|e| SyncError::transient(format!("encode checkpoint: {e}")))?;
        self.deps
            .state
            .save_checkpoint(
                self.tenant,
                Direction::Pull,
                &self.object,
                self.run_id,
                &text,
                self.deps.settings.lease_ttl,
            )
            .await
    }

    /// The rows of the next page: as many as fit the byte budget, judged by the last page
    /// encoded. Arrow's own sizes are no guide: every column of an IPC batch reports the whole
    /// shared buffer.
    pub(super) fn page_rows(&self, pace: &Pace) -> usize {
        let settings = &self.deps.settings;
        let per_row = pace.measured().unwrap_or(pace.declared_row_bytes);
        // A row larger than the budget is read alone.
        (settings.page_bytes / per_row).clamp(1, settings.page_rows.max(1))
    }

    /// Pages read at once: [`READ_AHEAD`], or one when a page is expected to fill more than half
    /// the byte budget (wide or huge rows), so that the pages held stay within a few budgets.
    pub(super) fn read_ahead(&self, pace: &Pace) -> usize {
        let per_row = pace.measured().unwrap_or(pace.declared_row_bytes);
        let page = self.page_rows(pace).saturating_mul(per_row);
        if page > self.deps.settings.page_bytes / 2 {
            1
        } else {
            READ_AHEAD
        }
    }

    /// Whether pages must wait for a measured row size: until one page is encoded, the
    /// declared sizes allow fewer rows than a full page, so pre-scans (which plan many pages
    /// of one size) wait for the first page to be written.
    pub(super) fn unmeasured_and_bounded(&self, pace: &Pace) -> bool {
        pace.measured().is_none() && self.page_rows(pace) < self.deps.settings.page_rows.max(1)
    }

    /// Encodes, writes and checkpoints one page (`saved` is the checkpoint once it is in).
    pub(super) async fn write(
        &self,
        page: Page,
        target: Target,
        mut saved: Checkpoint,
        finished: bool,
        build_key: bool,
        pace: &Pace,
    ) -> Result<(u64, Option<String>)> {
        if build_key {
            let started = Instant::now();
            self.deps
                .platform
                .build_key(&self.schema, &self.pg_table, &self.pk_pg)
                .await?;
            tracing::debug!(table = %self.t.table, ms = started.elapsed().as_millis() as u64, "staging key built");
        }
        let rows = page.rows;
        let per_row = pace
            .bytes_per_row
            .load(std::sync::atomic::Ordering::Relaxed);
        let started = Instant::now();
        let buf = self
            .encode(page.batches, rows.saturating_mul(per_row + per_row / 8))
            .await?;
        let bytes = buf.len();
        if let Some(per_row) = bytes.checked_div(rows) {
            pace.bytes_per_row
                .store(per_row.max(1), std::sync::atomic::Ordering::Relaxed);
        }
        saved.bytes_per_row = pace.measured().unwrap_or(0);
        let (written, stamp) = if rows > 0 {
            self.within_quota(target, &saved, rows, bytes).await?;
            self.deps
                .platform
                .write_page(
                    &self.schema,
                    &self.pg_table,
                    target,
                    (&self.pg_cols, &self.dropped),
                    &self.pk_pg,
                    buf.into(),
                )
                .await?
        } else {
            (0, None)
        };
        if stamp.is_some() {
            saved.staged_at.clone_from(&stamp);
        }
        if !finished {
            self.save(&saved).await?;
        }
        tracing::debug!(table = %self.t.table, page = saved.pages, rows, bytes, write_ms = started.elapsed().as_millis() as u64, "page committed");
        Ok((written, saved.staged_at))
    }

    /// Whether the tenant may hold this page too (see [`Limits::check`]): the schema's usage, with
    /// this run's own staging rows counted exactly (the checkpoint's, as PostgreSQL has no
    /// statistics for a table being filled), plus the page. A full refresh's staging table sits
    /// beside the live one, so both count. Over a limit, the staging table is dropped (its space
    /// given back, the next run starting over) and the table fails with `quota`.
    async fn within_quota(
        &self,
        target: Target,
        saved: &Checkpoint,
        rows: usize,
        bytes: usize,
    ) -> Result<()> {
        if !self.limits.any() {
            return Ok(());
        }
        let platform = &self.deps.platform;
        let staging = target.is_staging();
        let mut held = platform
            .usage(&self.schema, staging.then_some(self.pg_table.as_str()))
            .await?;
        if staging {
            // `saved` counts this page already.
            held.rows += saved.rows.saturating_sub(rows as u64);
        }
        let page = Usage {
            rows: rows as u64,
            bytes: bytes as u64,
        };
        let Err(e) = self.limits.check(self.tenant.as_str(), held, page) else {
            return Ok(());
        };
        if staging {
            if let Err(drop) = platform.drop_staging(&self.schema, &self.pg_table).await {
                tracing::warn!(error = %drop, table = %self.t.table, "could not drop the staging table over quota");
            }
        }
        Err(e)
    }

    /// A page's write came back: the checkpoint takes its staging stamp, the progress its rows,
    /// the watcher hears of it. Returns the slowest page so far (for the deadline).
    pub(super) fn page_written(
        &self,
        wrote: Result<(u64, Option<String>)>,
        cp: &mut Checkpoint,
        progress: &mut Progress,
        clock: &mut PageClock,
    ) -> Result<Duration> {
        let (written, staged_at) = wrote?;
        cp.staged_at = staged_at;
        progress.rows_written += written;
        if let Some(w) = &self.deps.watcher {
            w.committed(&self.object, progress.rows_written, progress.pages);
        }
        Ok(clock.lap())
    }

    /// Reads the checkpoint's phase and those after it through a [`Pipeline`] each; returns
    /// whether the deadline stopped it (its checkpoint saved).
    pub(super) async fn phases(
        &self,
        cp: &mut Checkpoint,
        pace: &Pace,
        progress: &mut Progress,
        budget: &Budget,
        clock: &mut PageClock,
    ) -> Result<bool> {
        let target = target_of(cp);
        // Nothing to read on the main phase when the table had no non-NULL cursor.
        let skip_main = self.t.cursor.is_some() && cp.upper.is_none();
        loop {
            if cp.phase == Phase::Main && skip_main {
                return Ok(false);
            }
            let pipeline = Pipeline::new(self, cp, target, skip_main, pace)?;
            if pipeline.run(cp, progress, budget, clock).await? {
                return Ok(true);
            }
            if cp.phase == Phase::Main || skip_main {
                return Ok(false);
            }
            cp.phase = Phase::Main;
            cp.after = None;
        }
    }

    /// Swaps the filled staging table in, once: the checkpoint first says every row is read,
    /// so a run that finds it with the staging table gone knows the swap committed.
    async fn swap(&self, cp: &mut Checkpoint) -> Result<()> {
        let platform = &self.deps.platform;
        if cp.read_all {
            let staged = platform
                .has_table(&self.schema, &self.pg_table, Target::Staging, &self.pg_cols)
                .await?;
            if !staged {
                tracing::info!(table = %self.t.table, "the swap had committed before the run was interrupted: recording its watermark");
                return Ok(());
            }
        } else {
            cp.read_all = true;
            self.save(cp).await?;
        }
        platform
            .swap_in(&self.schema, &self.pg_table, &self.pk_pg)
            .await
    }

    /// The run's checkpoint: the stored one when it can be resumed, else a new plan (saved,
    /// its staging table prepared, split into ranges with `parallel_backfill`). `fits`: the
    /// platform tables took the source's column changes, so a checkpoint taken with other
    /// columns still resumes.
    pub(super) async fn plan_or_resume(
        &self,
        mode: Mode,
        fits: bool,
    ) -> Result<(StoredProgress, Checkpoint)> {
        let stored = self
            .deps
            .state
            .progress(self.tenant, Direction::Pull, &self.object)
            .await?;
        let watermark = decode_opt(&stored.watermark, "watermark")?;
        let columns = self.column_names();
        let resumable = stored
            .checkpoint
            .as_deref()
            .and_then(|c| serde_json::from_str::<Checkpoint>(c).ok())
            // Columns changed since the checkpoint: the platform tables took the change.
            .filter(|cp| cp.columns == columns || fits)
            .filter(|cp| mode == Mode::Incremental || cp.kind != PlanKind::Incremental);
        let platform = &self.deps.platform;
        let staged =
            || platform.has_table(&self.schema, &self.pg_table, Target::Staging, &self.pg_cols);
        let cp = match resumable {
            Some(cp) if cp.kind == PlanKind::Incremental => Some(cp),
            // A checkpoint from before `staged_at` existed cannot say which staged rows it
            // covers: such a run starts over.
            Some(cp) if cp.format < CHECKPOINT_FORMAT => None,
            // Read to the end: the staging table waits for its swap, or the live table holds
            // what the swap brought in (one or the other, or the run starts over).
            Some(cp) if cp.read_all => {
                let found = staged().await?
                    || platform
                        .has_table(&self.schema, &self.pg_table, Target::Live, &self.pg_cols)
                        .await?;
                found.then_some(cp)
            }
            // Read in ranges: each range resumes from its own checkpoint.
            Some(cp) if cp.ranges.is_some() => staged().await?.then_some(cp),
            Some(cp) => {
                let staged = staged().await?;
                if staged {
                    platform
                        .discard_staged_after(
                            &self.schema,
                            &self.pg_table,
                            Target::Staging,
                            cp.staged_at.as_deref(),
                        )
                        .await?;
                }
                staged.then_some(cp)
            }
            None => None,
        };
        if let Some(cp) = cp {
            tracing::info!(table = %self.t.table, "resuming the unfinished run from its checkpoint");
            return Ok((stored, cp));
        }
        let mut cp = self.new_plan(mode, watermark.as_ref()).await?;
        if cp.kind != PlanKind::Incremental {
            self.split(&mut cp, self.t.parallel_backfill).await?;
            if cp.ranges.is_some() {
                platform
                    .prepare_ranges(&self.schema, &self.pg_table, &self.pg_cols)
                    .await?;
            } else {
                platform
                    .prepare_staging(&self.schema, &self.pg_table, &self.pg_cols)
                    .await?;
            }
        }
        self.save(&cp).await?;
        Ok((stored, cp))
    }

    /// The source columns the run reads, by name (what a checkpoint keeps).
    pub(super) fn column_names(&self) -> Vec<String> {
        self.cols
            .iter()
            .map(|c| c.ident.name().to_owned())
            .collect()
    }

    pub(super) async fn run(
        &self,
        mode: Mode,
        budget: &Budget,
        evolution: schema::Evolution,
    ) -> Result<Progress> {
        let (stored, mut cp) = self.plan_or_resume(mode, evolution.fits).await?;
        // A run whose columns changed since it started (the platform tables took the change;
        // its checkpoint keeps the columns it started with): the rows it wrote before miss
        // the columns added, which a column backfill fills once it is done, even after a
        // backfill's swap.
        let reshaped = cp.columns != self.column_names();
        let mut clock = PageClock::new();
        let mut progress = if cp.ranges.is_some() && !cp.read_all {
            self.run_ranges(&mut cp, stored.watermark.clone(), budget)
                .await?
        } else {
            self.read(&mut cp, &stored, budget, &mut clock).await?
        };
        progress.schema_changes = evolution.note;
        if progress.continued {
            return Ok(progress);
        }
        if cp.kind == PlanKind::Incremental || reshaped {
            // Columns added to the source, filled in the rows written before them.
            let (rows, more) = self
                .column_backfill(stored.columns_checkpoint.as_deref(), budget, &mut clock)
                .await?;
            progress.rows_written += rows;
            progress.continued = more;
        } else {
            // A table read whole has every column: no column backfill is left.
            self.columns_side().complete().await?;
        }
        Ok(progress)
    }

    /// Reads the plan's rows (keyless: its one result streamed; else its phases' pages) and,
    /// unless the deadline stopped it, finishes it.
    async fn read(
        &self,
        cp: &mut Checkpoint,
        stored: &StoredProgress,
        budget: &Budget,
        clock: &mut PageClock,
    ) -> Result<Progress> {
        let mut progress = Progress {
            watermark_before: stored.watermark.clone(),
            plan: Some(cp.kind.as_str()),
            ..Progress::default()
        };
        // A watcher showing progress gets the rows a whole read will take, from the source's own
        // count (an incremental run's delta has no such estimate).
        if let Some(w) = self.deps.watcher.as_ref().filter(|w| w.wants_estimate()) {
            if cp.kind != PlanKind::Incremental && !cp.read_all {
                if let Ok(Some(rows)) = row_count(self.session, self.t).await {
                    w.expect(&self.object, rows.saturating_sub(cp.rows));
                }
            }
        }
        let pace = Pace::new(&self.cols, cp.bytes_per_row);
        // A keyless table has no order to page by: one query, its result streamed.
        let continued = if cp.read_all {
            false
        } else if self.t.cursor.is_none() && self.t.primary_key.is_empty() {
            self.stream(cp, &mut progress, budget, clock, &pace).await?
        } else {
            self.phases(cp, &pace, &mut progress, budget, clock).await?
        };
        if continued {
            progress.continued = true;
            progress.watermark_after.clone_from(&stored.watermark);
            return Ok(progress);
        }
        (progress.watermark_after, progress.rows_deleted) =
            self.finish(cp, stored.watermark.clone()).await?;
        Ok(progress)
    }

    /// Every row of the plan is in: the swap (for a staging table), the rows the source flags
    /// deleted removed, then the new watermark stored and the checkpoint dropped. Returns the
    /// new watermark and the rows removed.
    pub(super) async fn finish(
        &self,
        cp: &mut Checkpoint,
        stored_watermark: Option<String>,
    ) -> Result<(Option<String>, Option<u64>)> {
        if cp.kind != PlanKind::Incremental {
            // One long step (the key build, `ANALYZE`) with no checkpoint write to extend the
            // lease: it is kept while the swap runs.
            let object = (self.tenant, Direction::Pull, self.object.as_str());
            let ttl = self.deps.settings.lease_ttl;
            self.deps
                .state
                .holding(object, self.run_id, ttl, self.swap(cp))
                .await?;
        }
        let new_watermark = match cp.kind {
            PlanKind::FullRefresh => None,
            // A backfill holds exactly the source up to its upper bound.
            PlanKind::Backfill => cp.upper.clone().or(stored_watermark),
            // Never move backwards (rows above the old watermark may have been deleted).
            PlanKind::Incremental => {
                let watermark = decode_opt(&stored_watermark, "watermark")?;
                let upper = decode_opt(&cp.upper, "upper bound")?;
                match (watermark, upper) {
                    (Some(w), Some(u)) if u > w => Some(u.encode()),
                    (Some(w), _) => Some(w.encode()),
                    (None, u) => u.map(|u| u.encode()),
                }
            }
        };
        let deleted = self.remove_flagged().await?;
        self.deps
            .state
            .complete_progress(
                self.tenant,
                Direction::Pull,
                &self.object,
                self.run_id,
                new_watermark.as_deref(),
            )
            .await?;
        Ok((new_watermark, deleted))
    }
}

impl TableRun<'_> {
    /// With `deleted_column`, the rows the source flags deleted leave the platform table (or
    /// are marked, with `deletes = "soft"`) once every page is in: before the watermark moves,
    /// so a run killed in between does it again. Returns the rows removed.
    async fn remove_flagged(&self) -> Result<Option<u64>> {
        let Some(column) = &self.t.deleted_column else {
            return Ok(None);
        };
        let platform = &self.deps.platform;
        let removal = if self.t.deletes == Some(crate::tenant::config::Deletes::Soft) {
            platform
                .ensure_deleted_at(&self.schema, &self.pg_table)
                .await?;
            crate::postgres::Removal::Mark
        } else {
            crate::postgres::Removal::Delete
        };
        platform
            .remove_flagged(
                &self.schema,
                &self.pg_table,
                &column.name().to_lowercase(),
                removal,
            )
            .await
            .map(Some)
    }
}

/// Encodes a page's rows (`specs` describe its columns) as binary COPY tuples, on a blocking
/// thread (it is the CPU-bound part of a page), while the async side waits on Snowflake for
/// the next page. `capacity` sizes the buffer from the last page, so it does not grow (copy,
/// fault) as it fills.
pub(super) async fn encode_copy(
    batches: Vec<RecordBatch>,
    specs: Vec<ColumnSpec>,
    table: String,
    capacity: usize,
) -> Result<Vec<u8>> {
    tokio::task::spawn_blocking(move || {
        let mut buf = Vec::with_capacity(capacity);
        for b in &batches {
            write_copy_binary(b, &specs, &mut buf)
                .map_err(|e| SyncError::config(format!("decode {table}: {e}")))?;
        }
        Ok(buf)
    })
    .await
    .map_err(|e| SyncError::transient(format!("encode a page: {e}")))?
}

/// Where a plan's pages go: an incremental run upserts into the live table, the others fill
/// the staging table that is swapped in at the end (a range its own share of it).
pub(super) fn target_of(cp: &Checkpoint) -> Target {
    match (cp.kind, &cp.range) {
        (PlanKind::Incremental, _) => Target::Live,
        (_, Some((_, i))) => Target::Range(*i),
        _ => Target::Staging,
    }
}
