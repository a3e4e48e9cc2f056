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
//! Rows are read in keyset pages, `WHERE (cursor, key) > <largest tuple of the previous page>
//! ORDER BY cursor, key LIMIT n`, with n bounded by rows and by the bytes per row seen. A page's
//! bound is computed from the rows it holds, never from the order they arrived in (the client
//! does not keep result order across chunks), and kept at the source's full precision
//! (nanoseconds, exact decimals: [`KeyValue`]). Each page is committed in PostgreSQL first and
//! only then recorded as the checkpoint in DynamoDB, conditional on our lease: a crash between
//! the two re-reads one page, which the upsert absorbs. A run that finds a checkpoint carries on
//! from it, so crashes, timeouts and deadline hops lose and double nothing.

use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use serde::{Deserialize, Serialize};

use crate::arrow_decode::{key_value, write_copy_binary, ColumnSpec, KeyValue};
use crate::config::{PullTable, TenantConfig, TenantId};
use crate::deps::Deps;
use crate::error::{Result, SyncError};
use crate::platform::{PgColumn, Target};
use crate::quote::{sf_string, Ident};
pub use crate::runner::Budget;
use crate::runner::{open_session, run_object, shared_session, Mode, ObjectReport, Progress};
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
    /// How many times this run has already continued in a fresh invocation (0 for a new run);
    /// guards against a loop of continuations.
    #[serde(default, skip_serializing_if = "crate::runner::is_zero")]
    pub hop: u32,
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
    /// The request id of the invocation that carries on, when a table reported `continued`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub continued_by: Option<String>,
    /// The period of the tenant's pull schedule (for the lag-over-schedule metric).
    #[serde(skip)]
    pub schedule_period: Option<Duration>,
}

impl PullReport {
    /// Whether any table stopped early for the deadline.
    pub fn continued(&self) -> bool {
        crate::runner::any_continued(&self.tables)
    }
}

/// A source column as the run reads it.
#[derive(Debug, Clone)]
pub(crate) struct SourceColumn {
    pub(crate) ident: Ident,
    pub(crate) sf_type: SfType,
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
    let cfg = TenantConfig::parse(&text)
        .map_err(|e| e.context(format!("stored config of tenant {id}")))?;
    // Isolation: the secret read and the schema written derive from cfg.tenant, so a config
    // stored under one tenant must never name another.
    if cfg.tenant != id {
        return Err(SyncError::config(format!(
            "stored config of tenant {id} names tenant {}: refusing to run; fix it with snowsync tenant add <config.toml> for {id}",
            cfg.tenant
        )));
    }
    Ok(cfg)
}

/// Runs a pull for the event: every selected table, each under its own lease, sharing one
/// Snowflake session. Table failures are reported per table.
///
/// # Errors
/// Only for failures before any table runs: unknown tenant, unknown table, unreadable secret.
pub async fn run_pull(
    deps: &Deps,
    event: &PullEvent,
    run_id: &str,
    budget: &Budget,
) -> Result<PullReport> {
    let cfg = load_tenant(deps, &event.tenant).await?;
    let names = event.tables.clone().unwrap_or_default();
    let tables = cfg.select_pull(&names)?;
    let span = tracing::info_span!("pull", tenant = %cfg.tenant, run_id);
    let _enter = span.enter();
    // One login per invocation. If it fails, every table reports that failure.
    let session = open_session(deps, &cfg, run_id).await?;
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
                let session = shared_session(&session)?;
                pull_table(deps, &cfg, t, session, event.mode, run_id, budget).await
            },
        )
        .await;
        reports.push(report);
    }
    Ok(PullReport {
        tenant: cfg.tenant.to_string(),
        run_id: run_id.to_owned(),
        tables: reports,
        continued_by: None,
        schedule_period: cfg
            .schedule
            .pull
            .as_deref()
            .and_then(crate::config::Schedule::period),
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
pub(crate) async fn source_columns(session: &Session, t: &PullTable) -> Result<Vec<SourceColumn>> {
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

/// What a run of one table does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum PlanKind {
    /// No cursor: read everything into the staging table, swap it in.
    FullRefresh,
    /// Cursor table, first run or `--backfill`: everything up to the upper bound into the
    /// staging table, swap it in, watermark = upper bound.
    Backfill,
    /// Cursor table: rows after the watermark (minus lookback) up to the upper bound, upserted
    /// into the live table.
    Incremental,
}

/// One page read from Snowflake, its keys decoded, waiting to be encoded and written.
struct Page {
    /// The rows as the client returned them.
    batches: Vec<RecordBatch>,
    rows: usize,
    /// The largest key tuple among the rows (None when the page is empty).
    max: Option<Vec<KeyValue>>,
    /// Whether the page was ordered by a key (a keyless table is read in one query).
    keyed: bool,
    /// The row limit the page was read with: fewer rows means the phase is done.
    limit: usize,
}

/// Which rows a backfill is reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Phase {
    /// Rows whose cursor is NULL (backfills only; keyset by primary key).
    NullCursor,
    /// Rows with a cursor up to the upper bound (keyset by cursor, then primary key); or every
    /// row of a full refresh (keyset by primary key).
    Main,
}

/// Where an unfinished run stopped, stored in DynamoDB after every committed page. A run that
/// finds one (after a crash, a timeout or a deadline hop) carries on from it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Checkpoint {
    kind: PlanKind,
    phase: Phase,
    /// Encoded upper bound of the cursor (`MAX(cursor)` when the run started); `None` when the
    /// table had no non-NULL cursor then.
    upper: Option<String>,
    /// Encoded exclusive lower bound of an incremental run (watermark minus lookback).
    lower: Option<String>,
    /// Encoded key tuple of the last committed row in the current phase.
    after: Option<Vec<String>>,
    /// The source columns the run reads (a changed table restarts the run).
    columns: Vec<String>,
    /// Rows and pages so far, over every invocation of the run.
    rows: u64,
    /// Pages so far.
    pages: u64,
    /// The `_snowsync_synced_at` (transaction start) of the last page committed into the
    /// staging table before this checkpoint. Rows stamped later belong to a page committed
    /// after it (a crash between the commit and the checkpoint) and are discarded on resume,
    /// so the staging table never holds a row twice.
    #[serde(default)]
    staged_at: Option<String>,
    /// The checkpoint's format: 2 since `staged_at` (0 when absent).
    #[serde(default)]
    format: u8,
}

/// The current [`Checkpoint::format`].
const CHECKPOINT_FORMAT: u8 = 2;

impl Checkpoint {
    /// A new run's plan, before its first page.
    fn start(
        kind: PlanKind,
        phase: Phase,
        upper: Option<String>,
        lower: Option<String>,
        columns: Vec<String>,
    ) -> Self {
        Self {
            kind,
            phase,
            upper,
            lower,
            after: None,
            columns,
            rows: 0,
            pages: 0,
            staged_at: None,
            format: CHECKPOINT_FORMAT,
        }
    }
}

fn decode_key(s: &str, what: &str) -> Result<KeyValue> {
    KeyValue::decode(s).map_err(|e| {
        SyncError::config(format!(
            "stored {what} is unreadable ({e}): run snowsync pull --backfill to reset it"
        ))
    })
}

fn decode_opt(s: &Option<String>, what: &str) -> Result<Option<KeyValue>> {
    s.as_deref().map(|v| decode_key(v, what)).transpose()
}

/// `value - lookback` for a timestamp or date cursor.
fn minus_lookback(value: &KeyValue, lookback: Duration, cursor: &Ident) -> Result<KeyValue> {
    let nanos = i128::try_from(lookback.as_nanos()).unwrap_or(i128::MAX);
    Ok(match value {
        KeyValue::TimestampNtz(n) => KeyValue::TimestampNtz(n - nanos),
        KeyValue::TimestampLtz(n) => KeyValue::TimestampLtz(n - nanos),
        KeyValue::TimestampTz {
            nanos: n,
            offset_minutes,
        } => KeyValue::TimestampTz {
            nanos: n - nanos,
            offset_minutes: *offset_minutes,
        },
        KeyValue::Date(d) => {
            let days = lookback.as_secs().div_ceil(86_400);
            KeyValue::Date(d.saturating_sub(i32::try_from(days).unwrap_or(i32::MAX)))
        }
        _ => {
            return Err(SyncError::config(format!(
                "lookback needs a timestamp or date cursor, but {cursor} is not one: remove lookback from [[pull]]"
            )))
        }
    })
}

/// The run of one table: plan (or resume), keyset pages, commit, watermark.
struct TableRun<'a> {
    deps: &'a Deps,
    tenant: &'a TenantId,
    object: String,
    run_id: &'a str,
    t: &'a PullTable,
    session: &'a Session,
    cols: Vec<SourceColumn>,
    specs: Vec<ColumnSpec>,
    pg_cols: Vec<PgColumn>,
    pk_pg: Vec<String>,
    schema: String,
    pg_table: String,
}

impl TableRun<'_> {
    fn spec_index(&self, ident: &Ident) -> Option<usize> {
        self.cols.iter().position(|c| &c.ident == ident)
    }

    /// `MAX(cursor)` now, read in the UTC-pinned session at full precision.
    async fn upper_bound(&self, cursor: &Ident) -> Result<Option<KeyValue>> {
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

    async fn new_plan(&self, mode: Mode, watermark: Option<&KeyValue>) -> Result<Checkpoint> {
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

    /// The page query of the checkpoint's phase, and the key columns it is ordered by.
    fn page_sql(&self, cp: &Checkpoint, limit: usize) -> Result<(String, Vec<Ident>)> {
        let select = self
            .cols
            .iter()
            .map(|c| c.sf_type.select_expr(&c.ident))
            .collect::<Vec<_>>()
            .join(", ");
        let mut keys: Vec<Ident> = Vec::new();
        let mut filters: Vec<String> = Vec::new();
        match (&self.t.cursor, cp.phase) {
            (Some(cursor), Phase::NullCursor) => {
                filters.push(format!("{} IS NULL", cursor.sql()));
            }
            (Some(cursor), Phase::Main) => {
                keys.push(cursor.clone());
                filters.push(format!("{} IS NOT NULL", cursor.sql()));
                if let Some(upper) = decode_opt(&cp.upper, "upper bound")? {
                    filters.push(format!("{} <= {}", cursor.sql(), upper.sf_literal()));
                }
                if let Some(lower) = decode_opt(&cp.lower, "lower bound")? {
                    filters.push(format!("{} > {}", cursor.sql(), lower.sf_literal()));
                }
            }
            (None, _) => {}
        }
        keys.extend(self.t.primary_key.iter().cloned());
        if let Some(after) = &cp.after {
            let bound = after
                .iter()
                .map(|v| decode_key(v, "checkpoint"))
                .collect::<Result<Vec<_>>>()?;
            if bound.len() != keys.len() {
                return Err(SyncError::config(
                    "stored checkpoint does not fit the table's key: run snowsync pull --backfill",
                ));
            }
            filters.push(format!("({})", keyset_after(&keys, &bound)));
        }
        let mut sql = format!("SELECT {select} FROM {}", self.t.table.sql());
        if !filters.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&filters.join(" AND "));
        }
        if !keys.is_empty() {
            let order = keys.iter().map(Ident::sql).collect::<Vec<_>>().join(", ");
            sql.push_str(&format!(" ORDER BY {order} LIMIT {limit}"));
        }
        Ok((sql, keys))
    }

    /// Reads one keyset page of the checkpoint's phase and finds its largest key (the next
    /// page's bound; the crate does not keep result order). Only the key columns are decoded
    /// here, so the next query can go out while this page is encoded and written.
    async fn query_page(&self, cp: &Checkpoint, limit: usize) -> Result<Page> {
        let (sql, keys) = self.page_sql(cp, limit)?;
        let key_idx: Vec<usize> = keys.iter().filter_map(|k| self.spec_index(k)).collect();
        let batches = self.session.query(&sql).await?;
        let mut rows = 0usize;
        let mut max: Option<Vec<KeyValue>> = None;
        for b in &batches {
            rows += b.num_rows();
            for row in 0..b.num_rows() {
                let key = key_idx
                    .iter()
                    .map(|&i| key_value(b, i, &self.specs[i], row))
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(|e| {
                        SyncError::config(format!("decode key of {}: {e}", self.t.table))
                    })?;
                if key.iter().any(|k| matches!(k, KeyValue::Null)) {
                    return Err(SyncError::config(format!(
                        "table {} has a row whose primary key ({}) is NULL: fix primary_key in [[pull]] or the data",
                        self.t.table,
                        self.t.primary_key.iter().map(Ident::name).collect::<Vec<_>>().join(", ")
                    )));
                }
                if max.as_ref().is_none_or(|m| key > *m) {
                    max = Some(key);
                }
            }
        }
        Ok(Page {
            batches,
            rows,
            max,
            keyed: !keys.is_empty(),
            limit,
        })
    }

    /// Encodes a page's rows as binary COPY tuples, on a blocking thread (it is the CPU-bound
    /// part of a page), while the async side waits on Snowflake for the next page.
    async fn encode(&self, batches: Vec<RecordBatch>, capacity: usize) -> Result<Vec<u8>> {
        let specs = self.specs.clone();
        let table = self.t.table.to_string();
        tokio::task::spawn_blocking(move || {
            // Sized from the last page, so the buffer does not grow (copy, fault) as it fills.
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

    async fn save(&self, cp: &Checkpoint) -> Result<()> {
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

    async fn run(&self, mode: Mode, budget: &Budget) -> Result<Progress> {
        let stored = self
            .deps
            .state
            .progress(self.tenant, Direction::Pull, &self.object)
            .await?;
        let watermark = decode_opt(&stored.watermark, "watermark")?;
        let columns: Vec<String> = self
            .cols
            .iter()
            .map(|c| c.ident.name().to_owned())
            .collect();
        let resumable = stored
            .checkpoint
            .as_deref()
            .and_then(|c| serde_json::from_str::<Checkpoint>(c).ok())
            .filter(|cp| cp.columns == columns)
            .filter(|cp| mode == Mode::Incremental || cp.kind != PlanKind::Incremental);
        let mut cp = match resumable {
            Some(cp) if cp.kind == PlanKind::Incremental => Some(cp),
            // A checkpoint from before `staged_at` existed cannot say which staged rows it
            // covers: such a run starts over.
            Some(cp) if cp.format < CHECKPOINT_FORMAT => None,
            Some(cp) => {
                let staged = self
                    .deps
                    .platform
                    .has_table(&self.schema, &self.pg_table, Target::Staging, &self.pg_cols)
                    .await?;
                if staged {
                    self.deps
                        .platform
                        .discard_staged_after(&self.schema, &self.pg_table, cp.staged_at.as_deref())
                        .await?;
                }
                staged.then_some(cp)
            }
            None => None,
        };
        let resumed = cp.is_some();
        if resumed {
            tracing::info!(table = %self.t.table, "resuming the unfinished run from its checkpoint");
        }
        let mut cp = match cp.take() {
            Some(cp) => cp,
            None => {
                let cp = self.new_plan(mode, watermark.as_ref()).await?;
                if cp.kind != PlanKind::Incremental {
                    self.deps
                        .platform
                        .prepare_staging(&self.schema, &self.pg_table, &self.pg_cols)
                        .await?;
                }
                self.save(&cp).await?;
                cp
            }
        };
        let target = if cp.kind == PlanKind::Incremental {
            Target::Live
        } else {
            Target::Staging
        };
        let mut progress = Progress {
            watermark_before: stored.watermark.clone(),
            ..Progress::default()
        };
        // Nothing to read on the main phase when the table had no non-NULL cursor.
        let skip_main = self.t.cursor.is_some() && cp.upper.is_none();
        let settings = &self.deps.settings;
        let most = settings.page_rows.max(1);
        // Pipelined: once page k's rows are in and its largest key is known, page k+1's query
        // goes out; meanwhile page k is encoded (on a blocking thread), written to PostgreSQL
        // and checkpointed. At most two pages are held at once: memory stays flat.
        let mut limit = most;
        // Bytes per row of the last page encoded (0 = none yet).
        let bytes_per_row = std::sync::atomic::AtomicUsize::new(0);
        let mut slowest = Duration::ZERO;
        let mut page_started = Instant::now();
        let mut next = if cp.phase == Phase::Main && skip_main {
            None
        } else {
            Some(self.query_page(&cp, limit).await?)
        };
        while let Some(page) = next.take() {
            let rows = page.rows;
            progress.rows_read += rows as u64;
            progress.pages += 1;
            cp.rows += rows as u64;
            cp.pages += 1;
            let mut finished = false;
            if !page.keyed || rows < page.limit {
                if cp.phase == Phase::NullCursor {
                    cp.phase = Phase::Main;
                    cp.after = None;
                    finished = skip_main;
                } else {
                    finished = true;
                }
            } else {
                cp.after = page.max.map(|k| k.iter().map(KeyValue::encode).collect());
            }
            // The next page's size: as many rows as fit the byte budget, judged by the last
            // page encoded (this one is encoded while the next is read). Arrow's own sizes are
            // no guide: every column of an IPC batch reports the whole shared buffer.
            let per_row = bytes_per_row.load(std::sync::atomic::Ordering::Relaxed);
            if per_row > 0 {
                limit = (settings.page_bytes / per_row.max(1)).clamp(most.min(100), most);
            }
            let batches = page.batches;
            let write = async {
                let per_row = bytes_per_row.load(std::sync::atomic::Ordering::Relaxed);
                let buf = self
                    .encode(batches, rows.saturating_mul(per_row + per_row / 8))
                    .await?;
                let bytes = buf.len();
                if let Some(per_row) = bytes.checked_div(rows) {
                    bytes_per_row.store(per_row.max(1), std::sync::atomic::Ordering::Relaxed);
                }
                let (written, stamp) = if rows > 0 {
                    self.deps
                        .platform
                        .write_page(
                            &self.schema,
                            &self.pg_table,
                            target,
                            &self.pg_cols,
                            &self.pk_pg,
                            buf.into(),
                        )
                        .await?
                } else {
                    (0, None)
                };
                let mut saved = cp.clone();
                if stamp.is_some() {
                    saved.staged_at.clone_from(&stamp);
                }
                if !finished {
                    self.save(&saved).await?;
                }
                tracing::debug!(table = %self.t.table, page = cp.pages, rows, bytes, "page committed");
                Ok::<(u64, Option<String>), SyncError>((written, saved.staged_at))
            };
            // Read ahead unless this was the last page or the deadline is near.
            let stop = !finished && budget.should_stop(slowest);
            let (written, staged_at) = if finished || stop {
                write.await?
            } else {
                let (fetched, written) = tokio::join!(self.query_page(&cp, limit), write);
                let written = written?;
                next = Some(fetched?);
                written
            };
            cp.staged_at = staged_at;
            progress.rows_written += written;
            slowest = slowest.max(page_started.elapsed());
            page_started = Instant::now();
            if stop {
                progress.continued = true;
                progress.watermark_after = stored.watermark;
                return Ok(progress);
            }
        }
        if target == Target::Staging {
            self.deps
                .platform
                .swap_in(&self.schema, &self.pg_table, &self.pk_pg)
                .await?;
        }
        let new_watermark = match cp.kind {
            PlanKind::FullRefresh => None,
            // A backfill holds exactly the source up to its upper bound.
            PlanKind::Backfill => cp.upper.clone().or(stored.watermark),
            // Never move backwards (rows above the old watermark may have been deleted).
            PlanKind::Incremental => {
                let upper = decode_opt(&cp.upper, "upper bound")?;
                match (watermark, upper) {
                    (Some(w), Some(u)) if u > w => Some(u.encode()),
                    (Some(w), _) => Some(w.encode()),
                    (None, u) => u.map(|u| u.encode()),
                }
            }
        };
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
        progress.watermark_after = new_watermark;
        Ok(progress)
    }
}

/// One table's pull: plan or resume, pages, commit. See the module doc.
async fn pull_table(
    deps: &Deps,
    cfg: &TenantConfig,
    t: &PullTable,
    session: &Session,
    mode: Mode,
    run_id: &str,
    budget: &Budget,
) -> Result<Progress> {
    let cols = source_columns(session, t).await?;
    let specs = cols
        .iter()
        .map(|c| ColumnSpec {
            name: c.ident.name().to_owned(),
            sf_type: c.sf_type,
        })
        .collect();
    let pg_cols = cols
        .iter()
        .map(|c| PgColumn {
            name: c.ident.name().to_lowercase(),
            pg_type: c.sf_type.pg_type(),
        })
        .collect();
    let run = TableRun {
        deps,
        tenant: &cfg.tenant,
        object: t.table.to_string(),
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
        schema: cfg.tenant.pg_schema(),
        pg_table: t.table.pg_table(),
    };
    run.run(mode, budget).await
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
