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
use crate::state::Direction;
use crate::tenant::config::{PullTable, TenantConfig, TenantId};
use crate::tenant::limits::{Limits, Usage};

mod pages;
mod pipeline;
mod plan;
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
    /// How many times this run has already continued in a fresh invocation (0 for a new run);
    /// guards against a loop of continuations.
    #[serde(default, skip_serializing_if = "crate::runner::is_zero")]
    pub hop: u32,
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
        let tables = cfg
            .select_pull(&names)?
            .into_iter()
            .map(|t| (t.table.to_string(), t))
            .collect();
        run_objects(
            deps,
            &cfg,
            Direction::Pull,
            Invocation {
                run_id,
                hop: self.hop,
                deadline: budget.deadline,
            },
            tables,
            |t, session| pull_table(deps, &cfg, t, session, self.mode, run_id, budget),
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
    let cols = source_columns(&session, t).await?;
    let specs = cols.iter().map(SourceColumn::spec).collect();
    let pg_cols = cols.iter().map(SourceColumn::pg_column).collect();
    let mut run = TableRun {
        deps,
        tenant: &cfg.tenant,
        object: t.table.to_string(),
        run_id,
        t,
        session: &session,
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
        dropped: Vec::new(),
    };
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
