//! Pull: Snowflake tables into the platform's PostgreSQL database, exactly.
//!
//! Per table, under its lease, one of three plans (`PlanKind`):
//! - **full refresh** (no cursor): every row into a staging table, swapped in atomically;
//! - **backfill** (a cursor table's first run, or `--backfill`): first the rows whose cursor is
//!   NULL, then every row with `cursor <= MAX(cursor)` taken when the backfill started, into a
//!   staging table swapped in at the end; the watermark becomes that upper bound;
//! - **incremental**: rows with `watermark - lookback < cursor <= MAX(cursor)` (the upper bound
//!   taken first, in the UTC-pinned session), upserted into the live table.
//!
//! Rows are read in pages of at most n rows (n bounded by rows and by the bytes per row seen),
//! in key order: `(cursor, key)` for a cursor table, the primary key otherwise. A boundary
//! pre-scan (the key of every n-th row, key columns only) cuts a phase into ranges
//! `lo < key <= hi`, so two ranges are read at once while the page before them is written; a
//! range that grew since comes back full and is read on from its largest key (keyset), and an
//! incremental run starts with one keyset page (`key > checkpoint ORDER BY key LIMIT n`), all a
//! small delta costs. A page's largest key is computed from its rows, never from the order they
//! arrived in (the client does not keep result order across chunks), and kept at the source's
//! full precision (nanoseconds, exact decimals: [`KeyValue`]). Pages are written in key order,
//! each committed in PostgreSQL first and only then recorded as the checkpoint in DynamoDB,
//! conditional on our lease: a crash between the two re-reads one page, which the upsert (or,
//! for a staging table, the discarding of rows stamped after the checkpoint) absorbs. A run
//! that finds a checkpoint carries on from it, so crashes, timeouts and deadline hops lose and
//! double nothing.
//!
//! | file | what it owns |
//! |---|---|
//! | `mod.rs` | the event, the report, `run_pull` over a tenant's tables |
//! | `plan` | plan kinds, phases, the checkpoint |
//! | `pages` | ranges, the page reader, the byte pace, the page clock |
//! | `pipeline` | the pages of one phase: pre-scans, reads, writes, checkpoints in flight |
//! | `stream` | a keyless table: one query, its result streamed part by part, resumable |
//! | `table` | the run of one table: plan or resume, phases, the quota, the swap, the watermark |
//! | `schema` | source columns added, dropped or widened: the table changed in place, column backfills |
//! | `reconcile` | rows deleted in the source: key ranges compared, removed on the platform |

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use serde::{Deserialize, Serialize};

use crate::decode::{key_value, write_copy_binary, ColumnSpec, DecodeError, KeyValue};
use crate::deps::Deps;
use crate::error::{Result, SyncError};
use crate::lambda::{Budget, Job};
use crate::postgres::{PgColumn, PgTenant, Target};
use crate::quote::Ident;
use crate::runner::{run_objects, run_planned, Invocation, Mode, Progress, RunReport};
use crate::snowflake::Session;
use crate::state::{Direction, StoredProgress};
use crate::tenant::config::{PullTable, SnowflakeConfig, TenantConfig, TenantId};
use crate::tenant::limits::{Limits, Usage};

mod pages;
mod pipeline;
mod plan;
mod ranges;
mod reconcile;
mod schema;
mod stream;
mod table;

pub use reconcile::{PullFunctionEvent, ReconcileEvent, ReconcileMode};

use crate::snowflake::source::{row_count, source_columns, PhaseQuery, SourceColumn};
use pages::*;
use pipeline::Pipeline;
use plan::*;
use table::*;

/// The `pull` function's event (the contract's shape).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
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
    /// How many times this run has already continued in a fresh invocation (0 for a new run);
    /// guards against a loop of continuations.
    #[serde(default, skip_serializing_if = "crate::runner::is_zero")]
    pub hop: u32,
    /// Answer with the run's units of work instead of running it (the state machine's first
    /// step; see [`crate::lambda`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub plan: bool,
    /// Run by the state machine, which carries a run on past the deadline itself: the result
    /// names the next event instead of the function invoking itself.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub orchestrated: bool,
    /// One key range of a table's backfill split by the plan step (`parallel_backfill`): the
    /// event names one table, and this range of its plan is the unit's work.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<RangeUnit>,
}

/// Which key range of a split backfill a unit reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RangeUnit {
    /// The range, from 0.
    pub index: u16,
    /// How many ranges the plan has.
    pub of: u16,
}

impl Job for PullEvent {
    const DIRECTION: Direction = Direction::Pull;
    /// Runs a pull for the event: every selected table, each under its own lease, sharing one
    /// Snowflake session. Table failures are reported per table.
    ///
    /// # Errors
    /// Only for failures before any table runs: unknown tenant, unknown table, unreadable secret.
    async fn run(&self, deps: &Deps, run_id: &str, budget: &Budget) -> Result<RunReport> {
        let cfg = deps.state.load_tenant(&self.tenant).await?;
        let names = self.tables.clone().unwrap_or_default();
        let selected = cfg.select_pull(&names)?;
        // A range unit's one object is its range of the table.
        let objects = match self.range {
            Some(range) => {
                let [t] = <[&PullTable; 1]>::try_from(selected).map_err(|_| {
                    SyncError::config(format!(
                        "event: a range unit names one table: send {}",
                        Self::SHAPE
                    ))
                })?;
                vec![(format!("{}#{}", t.table, range.index), t)]
            }
            None => selected
                .into_iter()
                .map(|t| (t.table.to_string(), t))
                .collect(),
        };
        run_objects(
            deps,
            &cfg,
            Direction::Pull,
            Invocation {
                run_id,
                hop: self.hop,
                deadline: budget.deadline,
            },
            objects,
            |t, session| {
                let cfg = &cfg;
                async move {
                    match self.range {
                        Some(range) => {
                            pull_range(deps, cfg, t, session, range, run_id, budget).await
                        }
                        None => pull_table(deps, cfg, t, session, self.mode, run_id, budget).await,
                    }
                }
            },
        )
        .await
    }

    const SHAPE: &'static str =
        r#"{"tenant": "acme", "tables": ["T"], "mode": "incremental"|"backfill"}"#;

    fn tenant(&self) -> &str {
        &self.tenant
    }

    fn hop_mut(&mut self) -> &mut u32 {
        &mut self.hop
    }

    fn planning(&self) -> bool {
        self.plan
    }

    fn orchestrated(&self) -> bool {
        self.orchestrated
    }

    /// One unit per selected table; a table with `parallel_backfill` whose run is a backfill
    /// or full refresh is split here, one unit per key range.
    async fn units(&self, deps: &Deps, cfg: &TenantConfig, run_id: &str) -> Result<Vec<Self>> {
        let names = self.tables.clone().unwrap_or_default();
        let mut units = Vec::new();
        for t in cfg.select_pull(&names)? {
            let unit = PullEvent {
                tenant: self.tenant.clone(),
                tables: Some(vec![t.table.to_string()]),
                mode: self.mode,
                orchestrated: true,
                ..PullEvent::default()
            };
            let ranges = if t.parallel_backfill > 1 {
                split_table(deps, cfg, t, self.mode, run_id).await?
            } else {
                None
            };
            match ranges {
                Some(of) => units.extend((0..of).map(|index| PullEvent {
                    range: Some(RangeUnit { index, of }),
                    ..unit.clone()
                })),
                None => units.push(unit),
            }
        }
        Ok(units)
    }
}

/// One table's pull: plan or resume, pages, commit. See the module doc.
async fn pull_table(
    deps: &Deps,
    cfg: &TenantConfig,
    t: &PullTable,
    session: Arc<Session>,
    mode: Mode,
    run_id: &str,
    budget: &Budget,
) -> Result<Progress> {
    let mut run = table_run(deps, cfg, t, &session, run_id, budget, t.table.to_string()).await?;
    deps.platform.ensure_tenant(&run.schema).await?;
    // A table read whole (a backfill, or no cursor: replaced on every run) takes the source's
    // columns as they are; only incremental runs change the platform table in place.
    let evolution = if mode == Mode::Incremental && t.cursor.is_some() {
        run.evolve().await?
    } else {
        schema::Evolution::default()
    };
    run.dropped.clone_from(&evolution.dropped);
    run.run(mode, budget, evolution).await
}

/// The plan step's split of a table's backfill into key ranges (see `ranges`): under the
/// table's lease, the run's plan is made (or the unfinished one found) and left for the range
/// units. Returns how many ranges it has, `None` when the run is not split (an incremental run,
/// a small table) or another run holds the table.
async fn split_table(
    deps: &Deps,
    cfg: &TenantConfig,
    t: &PullTable,
    mode: Mode,
    run_id: &str,
) -> Result<Option<u16>> {
    let object = t.table.to_string();
    let state = &deps.state;
    if !state
        .acquire_lease(
            &cfg.tenant,
            Direction::Pull,
            &object,
            run_id,
            deps.settings.lease_ttl,
        )
        .await?
    {
        return Ok(None);
    }
    let planned = async {
        let creds = deps.secrets.get(&cfg.tenant).await?;
        let tag = format!("snowsync tenant={} run={run_id}", cfg.tenant);
        let session =
            Arc::new(Session::connect(&cfg.snowflake, &creds, &deps.endpoint, &tag, None).await?);
        let plan = async {
            let run = table_run(
                deps,
                cfg,
                t,
                &session,
                run_id,
                &Budget::default(),
                object.clone(),
            )
            .await?;
            deps.platform.ensure_tenant(&run.schema).await?;
            // A backfill's plan takes the source's columns as they are.
            run.plan_or_resume(mode, false).await
        }
        .await;
        session.close().await;
        let (_, cp) = plan?;
        Ok::<_, SyncError>(
            cp.ranges
                .filter(|_| !cp.read_all)
                .and_then(|p| u16::try_from(p.len()).ok()),
        )
    }
    .await;
    if let Err(e) = state
        .release_lease(&cfg.tenant, Direction::Pull, &object, run_id)
        .await
    {
        tracing::warn!(error = %e, object, "could not release the table's lease; it expires by itself");
    }
    planned
}

/// A range unit: range `range.index` of the table's split backfill, then the swap if it was
/// the last range read. A table with no split plan (already swapped in, or never split) has
/// nothing left for the unit.
async fn pull_range(
    deps: &Deps,
    cfg: &TenantConfig,
    t: &PullTable,
    session: Arc<Session>,
    range: RangeUnit,
    run_id: &str,
    budget: &Budget,
) -> Result<Progress> {
    let object = format!("{}#{}", t.table, range.index);
    let run = table_run(deps, cfg, t, &session, run_id, budget, object).await?;
    let table_cp = deps
        .state
        .progress(&cfg.tenant, Direction::Pull, &t.table.to_string())
        .await?
        .checkpoint
        .and_then(|c| serde_json::from_str::<Checkpoint>(&c).ok())
        .filter(|cp| cp.ranges.as_ref().map(RangePlan::len) == Some(usize::from(range.of)));
    let Some(table_cp) = table_cp else {
        tracing::info!(table = %t.table, range = range.index, "the table has no split backfill in progress: nothing to read");
        return Ok(Progress::default());
    };
    let mut progress = run
        .read_range(&table_cp, usize::from(range.index), budget)
        .await?;
    if !progress.continued && run.finish_if_last().await? {
        tracing::info!(table = %t.table, "every range read: swapped in");
        progress.watermark_after = table_cp.upper;
    }
    Ok(progress)
}

/// The run of `t` as `object` (the table, or one of its ranges).
async fn table_run<'a>(
    deps: &'a Deps,
    cfg: &'a TenantConfig,
    t: &'a PullTable,
    session: &'a Arc<Session>,
    run_id: &'a str,
    budget: &Budget,
    object: String,
) -> Result<TableRun<'a>> {
    let cols = source_columns(session, t).await?;
    let specs = cols.iter().map(SourceColumn::spec).collect();
    let pg_cols = cols.iter().map(SourceColumn::pg_column).collect();
    Ok(TableRun {
        deps,
        tenant: &cfg.tenant,
        object,
        run_id,
        t,
        session,
        cols,
        specs,
        pg_cols,
        pk_pg: t
            .primary_key
            .iter()
            .map(|k| k.name().to_lowercase())
            .collect(),
        schema: PgTenant::of(&cfg.tenant),
        pg_table: t.table.pg_table(),
        limits: cfg.limits.or(deps.settings.default_limits),
        snowflake: &cfg.snowflake,
        deadline: budget.deadline,
        dropped: Vec::new(),
    })
}
