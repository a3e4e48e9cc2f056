//! A backfill read in key ranges, each by a worker of its own (`parallel_backfill = K`).
//!
//! The plan splits the main phase at the keys of every (rows / K)-th row (one key-only query),
//! into K ranges `splits[i-1] < key <= splits[i]`; the first range also reads the NULL-cursor
//! rows. Every range is an object of its own (`DB.SCHEMA.TABLE#i`): its own lease, checkpoint
//! and run record, its pages in its own share of the one staging table (rows tagged with the
//! range, so a resumed range discards only its own rows past its checkpoint). A range read to
//! its end says so in its checkpoint (`read_all`). The swap happens once, under the table's
//! lease, when every range of the plan says so: whoever finishes last and takes the lease
//! swaps; two finishing together race for the lease and one wins; a finisher killed before
//! the swap leaves it to the next run of the table or of any range, and one killed after it
//! leaves the table's `read_all` checkpoint, which the next run completes (see `swap`).
//!
//! In process (`snowsync pull`) the table's run reads the ranges not yet read, up to
//! `--parallel` (else K) at once, each with its own Snowflake session; a function invoked
//! directly (no state machine) reads them one at a time. Under the state machine
//! the plan step splits the table and every range is a unit of work (a Lambda invocation) of
//! its own.

use super::*;
use crate::runner::{in_workers, opened, run_object, Invocation, ObjectReport};
use crate::state::Outcome;

impl TableRun<'_> {
    /// The object a range of this table is run and recorded as.
    pub(super) fn range_object(&self, i: usize) -> String {
        format!("{}#{i}", self.t.table)
    }

    /// Splits a new backfill or full refresh plan into `k` ranges, when the table has a key
    /// and more rows than one range needs; `cp` keeps the plan (see [`Checkpoint::ranges`]).
    pub(super) async fn split(&self, cp: &mut Checkpoint, k: usize) -> Result<()> {
        let mut main = cp.clone();
        main.phase = Phase::Main;
        let query = self.phase_query(&main)?;
        if !query.keyed() || k < 2 || (self.t.cursor.is_some() && cp.upper.is_none()) {
            return Ok(());
        }
        let table = self.t.table.sql();
        let counted = self
            .session
            .query(&format!(
                "SELECT COUNT(*) FROM {table}{}",
                query.where_clause(None, None)
            ))
            .await?;
        let rows = counted
            .first()
            .filter(|b| b.num_rows() > 0)
            .and_then(|b| crate::snowflake::int_at(b, 0, 0))
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(0);
        let reader = self.reader(&query.keys);
        let splits = if rows <= self.deps.settings.split_exact_rows {
            // Exact quantiles: the key of every (rows / k)-th row, one sort of the keys.
            let per_range = rows.div_ceil(k).max(1);
            reader
                .boundaries(&query.boundary_sql(&table, None, per_range, k - 1))
                .await?
        } else {
            // A table too big to sort its keys for a plan: the quantiles of a uniform sample.
            let percent =
                (crate::deps::SPLIT_SAMPLE_ROWS as f64 * 100.0 / rows as f64).clamp(0.0001, 100.0);
            let sample = reader
                .boundaries(&format!(
                    "SELECT {} FROM {table} SAMPLE BERNOULLI ({percent:.4}){}",
                    query.order(),
                    query.where_clause(None, None)
                ))
                .await?;
            (1..k)
                .filter_map(|i| sample.get(i * sample.len() / k).cloned())
                .collect()
        };
        let mut splits: Vec<Vec<String>> = splits
            .into_iter()
            .take(k - 1)
            .map(|key| key.iter().map(KeyValue::encode).collect())
            .collect();
        splits.dedup();
        tracing::info!(table = %self.t.table, rows, ranges = splits.len() + 1, "backfill split into key ranges");
        cp.ranges = Some(RangePlan {
            id: uuid::Uuid::new_v4().simple().to_string(),
            splits,
        });
        Ok(())
    }

    /// The checkpoint of range `i` of `plan`, if it has one (a checkpoint of an earlier plan's
    /// range does not count).
    async fn range_checkpoint(&self, plan: &RangePlan, i: usize) -> Result<Option<Checkpoint>> {
        let stored = self
            .deps
            .state
            .progress(self.tenant, Direction::Pull, &self.range_object(i))
            .await?;
        Ok(stored
            .checkpoint
            .as_deref()
            .and_then(|c| serde_json::from_str::<Checkpoint>(c).ok())
            .filter(|cp| cp.range.as_ref() == Some(&(plan.id.clone(), i as u16))))
    }

    /// Whether every range of `plan` is read to its end.
    async fn ranges_read(&self, plan: &RangePlan) -> Result<bool> {
        for i in 0..plan.len() {
            if !self
                .range_checkpoint(plan, i)
                .await?
                .is_some_and(|cp| cp.read_all)
            {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Reads range `i` of the table's ranged checkpoint `table_cp`, as the object
    /// [`Self::range_object`] (this run's `object` must be it): resumes its checkpoint or
    /// starts it, reads its phases into its share of the staging table, and marks it read.
    pub(super) async fn read_range(
        &self,
        table_cp: &Checkpoint,
        i: usize,
        budget: &Budget,
    ) -> Result<Progress> {
        let plan = table_cp
            .ranges
            .as_ref()
            .ok_or_else(|| SyncError::transient("the table's backfill is not split into ranges"))?;
        let target = Target::Range(i as u16);
        let mut cp = match self.range_checkpoint(plan, i).await? {
            Some(cp) => {
                self.deps
                    .platform
                    .discard_staged_after(
                        &self.schema,
                        &self.pg_table,
                        target,
                        cp.staged_at.as_deref(),
                    )
                    .await?;
                cp
            }
            None => {
                let (lo, stop) = plan.bounds(i);
                let mut cp = Checkpoint::start(
                    table_cp.kind,
                    if i == 0 { table_cp.phase } else { Phase::Main },
                    table_cp.upper.clone(),
                    None,
                    table_cp.columns.clone(),
                );
                cp.after = lo;
                cp.stop = stop;
                cp.range = Some((plan.id.clone(), i as u16));
                // Rows of a first page committed before its checkpoint was stored.
                self.deps
                    .platform
                    .discard_staged_after(&self.schema, &self.pg_table, target, None)
                    .await?;
                self.save(&cp).await?;
                cp
            }
        };
        let mut progress = Progress {
            plan: Some(cp.kind.as_str()),
            ..Progress::default()
        };
        if cp.read_all {
            return Ok(progress);
        }
        let pace = Pace::new(&self.cols, cp.bytes_per_row);
        let mut clock = PageClock::new();
        if self
            .phases(&mut cp, &pace, &mut progress, budget, &mut clock)
            .await?
        {
            progress.continued = true;
            return Ok(progress);
        }
        cp.read_all = true;
        self.save(&cp).await?;
        Ok(progress)
    }

    /// In process: reads the ranges of `table_cp` not yet read, up to `--parallel` (else all)
    /// at once, each under its own lease with its own session, then swaps once every range is
    /// read. The table's own lease is held by this run.
    pub(super) async fn run_ranges(
        &self,
        table_cp: &mut Checkpoint,
        stored_watermark: Option<String>,
        budget: &Budget,
    ) -> Result<Progress> {
        let plan = table_cp.ranges.clone().unwrap_or_else(|| RangePlan {
            id: String::new(),
            splits: Vec::new(),
        });
        let mut todo = Vec::new();
        for i in 0..plan.len() {
            if !self
                .range_checkpoint(&plan, i)
                .await?
                .is_some_and(|cp| cp.read_all)
            {
                todo.push(i);
            }
        }
        // The CLI reads the ranges at once (or `--parallel` of them); a function invoked
        // directly one at a time, so its memory stays one worker's (under the state machine
        // every range is an invocation of its own instead).
        let workers = self
            .deps
            .settings
            .parallel
            .unwrap_or(if self.deadline.is_some() {
                1
            } else {
                plan.len()
            });
        let invocation = Invocation {
            run_id: self.run_id,
            hop: 0,
            deadline: budget.deadline,
        };
        let plan_cp = &*table_cp;
        let login = || async { self.worker_session().await.map(Arc::new) };
        let reports: Vec<ObjectReport> =
            in_workers(todo, workers, login, |session, i| async move {
                let object = self.range_object(i);
                run_object(
                    self.deps,
                    self.tenant,
                    (Direction::Pull, None),
                    &object,
                    invocation,
                    || async {
                        let session = opened(&session)?;
                        let range = TableRun {
                            session: &session,
                            object: object.clone(),
                            ..self.clone()
                        };
                        range.read_range(plan_cp, i, budget).await
                    },
                )
                .await
            })
            .await;
        let mut progress = Progress {
            watermark_before: stored_watermark.clone(),
            plan: Some(table_cp.kind.as_str()),
            ..Progress::default()
        };
        for r in &reports {
            progress.rows_read += r.rows_read;
            progress.rows_written += r.rows_written;
            progress.pages += r.pages;
        }
        if let Some(failure) = reports.iter().find_map(ObjectReport::failure) {
            return Err(failure);
        }
        if reports.iter().any(|r| r.outcome == Outcome::Continued) {
            progress.continued = true;
            progress.watermark_after = stored_watermark;
            return Ok(progress);
        }
        if !self.ranges_read(&plan).await? {
            return Err(SyncError::transient(format!(
                "{}: other workers are reading some of its key ranges: the table is swapped in when the last of them finishes",
                self.t.table
            )));
        }
        (progress.watermark_after, progress.rows_deleted) =
            self.finish(table_cp, stored_watermark).await?;
        self.forget_ranges(&plan).await;
        Ok(progress)
    }

    /// A range unit's end (under the state machine): when every range of the table's plan is
    /// read and the table's lease is free, takes it, swaps once and stores the watermark.
    /// Returns whether this run swapped.
    pub(super) async fn finish_if_last(&self) -> Result<bool> {
        let state = &self.deps.state;
        let table = self.t.table.to_string();
        let ttl = self.deps.settings.lease_ttl;
        if !state
            .acquire_lease(self.tenant, Direction::Pull, &table, self.run_id, ttl)
            .await?
        {
            return Ok(false);
        }
        let owner = TableRun {
            object: table.clone(),
            ..self.clone()
        };
        let result = owner.finish_ranged_table().await;
        if let Err(e) = state
            .release_lease(self.tenant, Direction::Pull, &table, self.run_id)
            .await
        {
            tracing::warn!(error = %e, table, "could not release the table's lease; it expires by itself");
        }
        result
    }

    /// Under the table's lease: swaps the ranged plan in if every range is read.
    async fn finish_ranged_table(&self) -> Result<bool> {
        let stored = self
            .deps
            .state
            .progress(self.tenant, Direction::Pull, &self.object)
            .await?;
        let Some(mut cp) = stored
            .checkpoint
            .as_deref()
            .and_then(|c| serde_json::from_str::<Checkpoint>(c).ok())
            .filter(|cp| cp.ranges.is_some())
        else {
            return Ok(false);
        };
        let Some(plan) = cp.ranges.clone() else {
            return Ok(false);
        };
        if !self.ranges_read(&plan).await? {
            return Ok(false);
        }
        self.finish(&mut cp, stored.watermark).await?;
        self.forget_ranges(&plan).await;
        // Read whole, the table has every column, unless they changed while it was read
        // (then the next incremental run's column backfill fills them).
        if cp.columns == self.column_names() {
            self.columns_side().complete().await?;
        }
        Ok(true)
    }

    /// Clears the ranges' checkpoints once the table is swapped in (best effort: a later plan
    /// ignores an earlier plan's ranges anyway).
    async fn forget_ranges(&self, plan: &RangePlan) {
        let state = &self.deps.state;
        let ttl = self.deps.settings.lease_ttl;
        for i in 0..plan.len() {
            let object = self.range_object(i);
            let cleared = async {
                if state
                    .acquire_lease(self.tenant, Direction::Pull, &object, self.run_id, ttl)
                    .await?
                {
                    state
                        .complete_progress(self.tenant, Direction::Pull, &object, self.run_id, None)
                        .await?;
                    state
                        .release_lease(self.tenant, Direction::Pull, &object, self.run_id)
                        .await?;
                }
                Ok::<_, SyncError>(())
            };
            if let Err(e) = cleared.await {
                tracing::warn!(error = %e, object, "could not clear a range's checkpoint");
            }
        }
    }

    /// A Snowflake session of its own for a range worker.
    async fn worker_session(&self) -> Result<Session> {
        let creds = self.deps.secrets.get(self.tenant).await?;
        let tag = format!("snowsync tenant={} run={}", self.tenant, self.run_id);
        Session::connect(
            self.snowflake,
            &creds,
            &self.deps.endpoint,
            &tag,
            self.deadline,
        )
        .await
    }
}
