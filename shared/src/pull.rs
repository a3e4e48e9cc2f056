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

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use serde::{Deserialize, Serialize};

use crate::config::{PullTable, TenantConfig, TenantId};
use crate::decode::{key_value, write_copy_binary, ColumnSpec, DecodeError, KeyValue};
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
    /// The most bytes one of its values can take in a page, from its declared length.
    pub(crate) max_bytes: usize,
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
    let session = open_session(deps, &cfg, run_id, budget).await?;
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

/// Reads the table's columns from its database's INFORMATION_SCHEMA, in table order (sorted
/// here by ordinal: a chunked result comes in parts, and nothing may depend on its order).
async fn describe(session: &Session, t: &PullTable) -> Result<Vec<Described>> {
    let sql = format!(
        "SELECT COLUMN_NAME, DATA_TYPE, NUMERIC_PRECISION, NUMERIC_SCALE, ORDINAL_POSITION, CHARACTER_MAXIMUM_LENGTH FROM {}.INFORMATION_SCHEMA.COLUMNS WHERE TABLE_SCHEMA = {} AND TABLE_NAME = {} ORDER BY ORDINAL_POSITION",
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
            out.push((
                int_at(b, 4, row),
                Described {
                    name: Ident::from_exact(&name),
                    ty,
                    length: int_at(b, 5, row),
                },
            ));
        }
    }
    out.sort_by_key(|(ordinal, _)| *ordinal);
    Ok(out.into_iter().map(|(_, d)| d).collect())
}

/// A column as `INFORMATION_SCHEMA.COLUMNS` describes it.
struct Described {
    name: Ident,
    ty: Result<SfType, String>,
    /// `CHARACTER_MAXIMUM_LENGTH`: characters of text, bytes of binary.
    length: Option<i64>,
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
    let find = |want: &Ident| described.iter().find(|d| &d.name == want);
    let wanted: Vec<&Described> = match &t.columns {
        Some(cols) => cols
            .iter()
            .map(|c| {
                find(c).ok_or_else(|| {
                    SyncError::missing(format!(
                        "column {c} does not exist in table {}: fix [[pull]] columns (the table has {})",
                        t.table,
                        described.iter().map(|d| d.name.name()).collect::<Vec<_>>().join(", ")
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
    for Described {
        name: ident,
        ty,
        length,
    } in wanted
    {
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
            max_bytes: sf_type.max_value_bytes(*length),
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

/// `(k1 < v1) OR (k1 = v1 AND k2 < v2) OR ... OR (k1 = v1 AND ... AND kn = vn)`: rows at or
/// before `bound` in key order.
fn keyset_upto(keys: &[Ident], bound: &[KeyValue]) -> String {
    let eq = |j: usize| format!("{} = {}", keys[j].sql(), bound[j].sf_literal());
    let mut terms = Vec::with_capacity(keys.len() + 1);
    for i in 0..keys.len() {
        let mut parts: Vec<String> = (0..i).map(eq).collect();
        parts.push(format!("{} < {}", keys[i].sql(), bound[i].sf_literal()));
        terms.push(format!("({})", parts.join(" AND ")));
    }
    terms.push(format!(
        "({})",
        (0..keys.len()).map(eq).collect::<Vec<_>>().join(" AND ")
    ));
    terms.join(" OR ")
}

/// Pages read at once: while one is written, the next two are read (Snowflake runs a session's
/// statements concurrently; the emulator queues them), so the warehouse never waits on us.
/// Pages that fill more than half the byte budget are read one at a time (see
/// `TableRun::read_ahead`): memory, not speed, is what binds them.
const READ_AHEAD: usize = 2;

/// Pages one boundary pre-scan plans ahead.
const SCAN_PAGES: usize = 16;

/// A key range of one phase: rows with `lo < key <= hi` (`None`: from the phase's start, to its
/// end). The pre-scan cuts ranges of `n` rows each; a read of one is `LIMIT n + n/16 + 1`, so a
/// range that grew since (rows written meanwhile) comes back full and is read on from the
/// page's largest key.
#[derive(Debug, Clone)]
struct Range {
    lo: Option<Vec<KeyValue>>,
    hi: Option<Vec<KeyValue>>,
    /// The most rows a read of it returns; that many means more may follow.
    limit: usize,
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
}

/// What finished while a phase's pages move (see `TableRun::read_phase`).
enum Event {
    /// A boundary pre-scan: the boundaries, and the rows per range it asked for.
    Scanned(Result<(Vec<Vec<KeyValue>>, usize)>),
    /// A page of a range, read.
    Read(Range, Result<Page>),
    /// A page written and checkpointed: rows written, the staging stamp it left.
    Wrote(Result<(u64, Option<String>)>),
}

/// How big the run's pages are: bytes per row of the last page encoded (0 = none yet), set by
/// the page being written while the next pages are planned; before any, the most a row can
/// take by its columns' declared sizes.
struct Pace {
    bytes_per_row: std::sync::atomic::AtomicUsize,
    declared_row_bytes: usize,
}

impl Pace {
    fn new(cols: &[SourceColumn], measured: usize) -> Self {
        Self {
            bytes_per_row: std::sync::atomic::AtomicUsize::new(measured),
            declared_row_bytes: cols.iter().map(|c| c.max_bytes).sum::<usize>().max(1),
        }
    }

    /// Bytes per row of the last page encoded, if any was.
    fn measured(&self) -> Option<usize> {
        Some(
            self.bytes_per_row
                .load(std::sync::atomic::Ordering::Relaxed),
        )
        .filter(|&b| b > 0)
    }
}

/// The slowest page so far (for the deadline), and when the current one started.
struct PageClock {
    slowest: Duration,
    started: Instant,
}

impl PageClock {
    fn new() -> Self {
        Self {
            slowest: Duration::ZERO,
            started: Instant::now(),
        }
    }

    /// A page is done: the slowest page so far, this one included.
    fn lap(&mut self) -> Duration {
        self.slowest = self.slowest.max(self.started.elapsed());
        self.started = Instant::now();
        self.slowest
    }
}

/// What the pages of one phase read: the select list, the phase's filters, and the key columns
/// its pages are ordered by (none for a keyless table: it is read in one query). Built once per
/// phase.
struct PhaseQuery {
    select: String,
    filters: Vec<String>,
    keys: Vec<Ident>,
}

impl PhaseQuery {
    fn keyed(&self) -> bool {
        !self.keys.is_empty()
    }

    /// `WHERE` of the phase and of `lo < key <= hi`.
    fn where_clause(&self, lo: Option<&[KeyValue]>, hi: Option<&[KeyValue]>) -> String {
        let mut filters = self.filters.clone();
        if let Some(lo) = lo {
            filters.push(format!("({})", keyset_after(&self.keys, lo)));
        }
        if let Some(hi) = hi {
            filters.push(format!("({})", keyset_upto(&self.keys, hi)));
        }
        if filters.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", filters.join(" AND "))
        }
    }

    fn order(&self) -> String {
        self.keys
            .iter()
            .map(Ident::sql)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The query of one page of a range.
    fn page_sql(&self, table: &str, range: &Range) -> String {
        let mut sql = format!("SELECT {} FROM {table}", self.select);
        sql.push_str(&self.where_clause(range.lo.as_deref(), range.hi.as_deref()));
        if self.keyed() {
            sql.push_str(&format!(" ORDER BY {} LIMIT {}", self.order(), range.limit));
        }
        sql
    }

    /// The boundary pre-scan: the keys of every `per_page`-th row after `lo`, for
    /// [`SCAN_PAGES`] pages. It reads only the key columns, so it costs a fraction of a page;
    /// its ranges can then be read two at a time instead of each waiting for the last one's
    /// largest key.
    fn boundary_sql(&self, table: &str, lo: Option<&[KeyValue]>, per_page: usize) -> String {
        let k = self.order();
        let filter = self.where_clause(lo, None);
        let rows = per_page.saturating_mul(SCAN_PAGES);
        format!(
            "SELECT {k} FROM (SELECT {k}, ROW_NUMBER() OVER (ORDER BY {k}) AS \"_SNOWSYNC_RN\" \
             FROM (SELECT {k} FROM {table}{filter} ORDER BY {k} LIMIT {rows})) \
             WHERE MOD(\"_SNOWSYNC_RN\", {per_page}) = 0"
        )
    }
}

/// Awaits the future if there is one; never finishes otherwise (a `select!` branch that waits).
async fn maybe<F: std::future::Future + Unpin>(f: &mut Option<F>) -> F::Output {
    match f {
        Some(f) => f.await,
        None => std::future::pending().await,
    }
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
    /// Bytes per row of the last page encoded, so a continued run sizes its first page as
    /// measured instead of by the declared sizes (0 = not measured).
    #[serde(default)]
    bytes_per_row: usize,
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
            bytes_per_row: 0,
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

/// A spawned task that is aborted when dropped (a run that stops early leaves no read behind).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> std::future::Future for AbortOnDrop<T> {
    type Output = std::result::Result<T, tokio::task::JoinError>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0).poll(cx)
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The key tuple of one row: `specs` pairs each key column's index in the batch with its spec.
fn row_key(
    b: &RecordBatch,
    specs: &[(usize, ColumnSpec)],
    row: usize,
) -> std::result::Result<Vec<KeyValue>, DecodeError> {
    specs
        .iter()
        .map(|(i, spec)| key_value(b, *i, spec, row))
        .collect()
}

/// What a page read needs on a task of its own; cheap to clone, one per phase.
#[derive(Clone)]
struct PageReader {
    session: Arc<Session>,
    /// The key columns: their index in a page's batches, and their spec.
    key_specs: Arc<[(usize, ColumnSpec)]>,
    table: Arc<str>,
    /// The configured primary key, for the NULL-key error.
    primary_key: Arc<str>,
}

impl PageReader {
    /// One page of a range, with the range it belongs to. The read runs as a task of its own,
    /// so the client's parsing of a response (JSON, base64, Arrow) runs beside the writes
    /// instead of holding up the run's task.
    fn read(
        &self,
        sql: String,
        range: Range,
    ) -> impl std::future::Future<Output = (Range, Result<Page>)> {
        let reader = self.clone();
        let task = AbortOnDrop(tokio::spawn(tracing::Instrument::in_current_span(
            async move { reader.read_page(&sql).await },
        )));
        async move {
            let page = task
                .await
                .unwrap_or_else(|e| Err(SyncError::transient(format!("read a page: {e}"))));
            (range, page)
        }
    }

    /// Reads one page and finds its largest key (the client does not keep result order). Only
    /// the key columns are decoded here; the page is encoded and written later.
    async fn read_page(&self, sql: &str) -> Result<Page> {
        let table = &*self.table;
        let asked = Instant::now();
        let batches = self.session.query(sql).await?;
        let answered = asked.elapsed();
        let mut rows = 0usize;
        let mut max: Option<Vec<KeyValue>> = None;
        for b in &batches {
            rows += b.num_rows();
            for row in 0..b.num_rows() {
                let key = row_key(b, &self.key_specs, row)
                    .map_err(|e| SyncError::config(format!("decode key of {table}: {e}")))?;
                if key.iter().any(|k| matches!(k, KeyValue::Null)) {
                    return Err(SyncError::config(format!(
                        "table {table} has a row whose primary key ({}) is NULL: fix primary_key in [[pull]] or the data",
                        self.primary_key
                    )));
                }
                if max.as_ref().is_none_or(|m| key > *m) {
                    max = Some(key);
                }
            }
        }
        tracing::debug!(
            table,
            rows,
            query_ms = answered.as_millis() as u64,
            "page read"
        );
        Ok(Page { batches, rows, max })
    }

    /// Runs a boundary pre-scan (its columns are the key columns, in order); the boundaries in
    /// key order (the client keeps no order).
    async fn boundaries(&self, sql: &str) -> Result<Vec<Vec<KeyValue>>> {
        let specs: Vec<(usize, ColumnSpec)> = self
            .key_specs
            .iter()
            .enumerate()
            .map(|(j, (_, spec))| (j, spec.clone()))
            .collect();
        let asked = Instant::now();
        let batches = self.session.query(sql).await?;
        let mut out = Vec::new();
        for b in &batches {
            for row in 0..b.num_rows() {
                out.push(row_key(b, &specs, row).map_err(|e| {
                    SyncError::config(format!("decode a key boundary of {}: {e}", self.table))
                })?);
            }
        }
        out.sort();
        out.dedup();
        tracing::debug!(table = %self.table, boundaries = out.len(), query_ms = asked.elapsed().as_millis() as u64, "pre-scan");
        Ok(out)
    }
}

/// The run of one table: plan (or resume), keyset pages, commit, watermark.
struct TableRun<'a> {
    deps: &'a Deps,
    tenant: &'a TenantId,
    object: String,
    run_id: &'a str,
    t: &'a PullTable,
    session: &'a Arc<Session>,
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

    /// The query parts of the checkpoint's phase.
    fn phase_query(&self, cp: &Checkpoint) -> Result<PhaseQuery> {
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
        let select = self
            .cols
            .iter()
            .map(|c| c.sf_type.select_expr(&c.ident))
            .collect::<Vec<_>>()
            .join(", ");
        Ok(PhaseQuery {
            select,
            filters,
            keys,
        })
    }

    /// The checkpoint's key bound (rows after it are still to read), checked against the keys.
    fn resume_after(&self, cp: &Checkpoint, keys: &[Ident]) -> Result<Option<Vec<KeyValue>>> {
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
    fn reader(&self, keys: &[Ident]) -> PageReader {
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

    /// The rows of the next page: as many as fit the byte budget, judged by the last page
    /// encoded. Arrow's own sizes are no guide: every column of an IPC batch reports the whole
    /// shared buffer.
    fn page_rows(&self, pace: &Pace) -> usize {
        let settings = &self.deps.settings;
        let per_row = pace.measured().unwrap_or(pace.declared_row_bytes);
        // A row larger than the budget is read alone.
        (settings.page_bytes / per_row).clamp(1, settings.page_rows.max(1))
    }

    /// Pages read at once: [`READ_AHEAD`], or one when a page is expected to fill more than half
    /// the byte budget (wide or huge rows), so that the pages held stay within a few budgets.
    fn read_ahead(&self, pace: &Pace) -> usize {
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
    fn unmeasured_and_bounded(&self, pace: &Pace) -> bool {
        pace.measured().is_none() && self.page_rows(pace) < self.deps.settings.page_rows.max(1)
    }

    /// Encodes, writes and checkpoints one page (`saved` is the checkpoint once it is in).
    async fn write(
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
        if stamp.is_some() {
            saved.staged_at.clone_from(&stamp);
        }
        if !finished {
            self.save(&saved).await?;
        }
        tracing::debug!(table = %self.t.table, page = saved.pages, rows, bytes, write_ms = started.elapsed().as_millis() as u64, "page committed");
        Ok((written, saved.staged_at))
    }

    /// Reads and writes every page of the checkpoint's phase from its checkpoint on; returns
    /// whether the deadline stopped it (its checkpoint saved).
    ///
    /// Boundary pre-scans cut the phase into ranges of n rows, and [`READ_AHEAD`] ranges are
    /// read while the page before them is encoded, written and checkpointed. An incremental
    /// run's first page is a keyset page (`key > checkpoint ORDER BY key LIMIT n`) instead, so
    /// a small delta costs one query; the pre-scans start once it comes back full. Pages are
    /// written in key order, so the checkpoint is always "everything up to here". At most
    /// `READ_AHEAD + 2` pages are held at once (read or being read, one waiting, one being
    /// written), plus a range's continuation, and two more while the staging key is built.
    #[allow(clippy::too_many_arguments)]
    async fn read_phase(
        &self,
        cp: &mut Checkpoint,
        target: Target,
        skip_main: bool,
        budget: &Budget,
        progress: &mut Progress,
        pace: &Pace,
        clock: &mut PageClock,
    ) -> Result<bool> {
        use futures::stream::{FuturesOrdered, StreamExt};
        let q = self.phase_query(cp)?;
        let reader = self.reader(&q.keys);
        let table = self.t.table.sql();
        // Ranges handed out so far end here; a pre-scan starts from it.
        let mut frontier = self.resume_after(cp, &q.keys)?;
        // The main phase of a backfill or full refresh (usually big) starts with a pre-scan: its
        // first page is then a cheap range read too. An incremental run (usually a small delta)
        // and a backfill's NULL-cursor rows (usually none) start with one keyset page, which is
        // all that fewer rows than a page cost.
        let scan_first = target == Target::Staging
            && cp.phase == Phase::Main
            && q.keyed()
            && !self.unmeasured_and_bounded(pace);
        let mut ranges = std::collections::VecDeque::new();
        if !scan_first {
            ranges.push_back(Range {
                lo: frontier.clone(),
                hi: None,
                limit: self.page_rows(pace),
            });
        }
        // Whether the phase's last range (`hi: None`) is handed out: no pre-scan is needed.
        let mut planned = !scan_first;
        let mut reads = FuturesOrdered::new();
        // Pages read, in key order, with whether each came back full.
        let mut ready: std::collections::VecDeque<(Range, Page, bool)> =
            std::collections::VecDeque::new();
        let mut writing = None;
        let mut scanning = None;
        // Whether the page being written is the run's last (no deadline check after it).
        let mut finishing = false;
        // The staging table's key is built before the last pages are written, so that its sort
        // runs while they are read instead of after (as the swap would).
        let mut key_built = self.pk_pg.is_empty() || target != Target::Staging;
        let mut building = false;
        loop {
            if !planned
                && scanning.is_none()
                && ranges.len() < self.read_ahead(pace)
                && !self.unmeasured_and_bounded(pace)
            {
                let per_page = self.page_rows(pace);
                let sql = q.boundary_sql(&table, frontier.as_deref(), per_page);
                let reader = &reader;
                scanning = Some(Box::pin(async move {
                    reader.boundaries(&sql).await.map(|b| (b, per_page))
                }));
            }
            // READ_AHEAD reads in flight, and one page read ahead of the writer; while the
            // writer builds the key (a few hundred ms), two more, so reading does not stall.
            let read_ahead = self.read_ahead(pace);
            let ahead = if building { read_ahead + 2 } else { read_ahead };
            while reads.len() < read_ahead && reads.len() + ready.len() <= ahead {
                let Some(range) = ranges.pop_front() else {
                    break;
                };
                reads.push_back(reader.read(q.page_sql(&table, &range), range));
            }
            if writing.is_none() {
                if let Some((range, page, full)) = ready.pop_front() {
                    cp.rows += page.rows as u64;
                    cp.pages += 1;
                    progress.rows_read += page.rows as u64;
                    progress.pages += 1;
                    let bound = if full {
                        page.max.as_ref()
                    } else {
                        range.hi.as_ref()
                    };
                    // No bound: the phase's last page. The checkpoint moves on to the next
                    // phase, or the run is finished (the watermark write follows, no checkpoint).
                    let last = bound.is_none();
                    if let Some(bound) = bound {
                        cp.after = Some(bound.iter().map(KeyValue::encode).collect());
                    }
                    let mut saved = cp.clone();
                    let finished = last && (cp.phase == Phase::Main || skip_main);
                    if last && !finished {
                        saved.phase = Phase::Main;
                        saved.after = None;
                    }
                    finishing = finished;
                    building = !key_built
                        && planned
                        && scanning.is_none()
                        && cp.phase == Phase::Main
                        && reads.len() + ready.len() + ranges.len() <= READ_AHEAD;
                    key_built |= building;
                    writing = Some(Box::pin(
                        self.write(page, target, saved, finished, building, pace),
                    ));
                }
            }
            if writing.is_none() && reads.is_empty() && scanning.is_none() && ranges.is_empty() {
                return Ok(false);
            }
            let event = tokio::select! {
                Some((range, page)) = reads.next(), if !reads.is_empty() => Event::Read(range, page),
                wrote = maybe(&mut writing) => Event::Wrote(wrote),
                scanned = maybe(&mut scanning) => Event::Scanned(scanned),
            };
            match event {
                Event::Scanned(scanned) => {
                    scanning = None;
                    let (bounds, per_page) = scanned?;
                    let limit = per_page + per_page / 16 + 1;
                    planned = bounds.len() < SCAN_PAGES;
                    for hi in bounds {
                        ranges.push_back(Range {
                            lo: frontier.replace(hi.clone()),
                            hi: Some(hi),
                            limit,
                        });
                    }
                    if planned {
                        ranges.push_back(Range {
                            lo: frontier.clone(),
                            hi: None,
                            limit,
                        });
                    }
                }
                Event::Read(range, page) => {
                    let page = page?;
                    let full = q.keyed() && page.rows >= range.limit;
                    if full {
                        // The range holds more rows than it did (or, for a first keyset page,
                        // the phase goes on). Read on from this page's largest key.
                        if range.hi.is_some() {
                            let cont = Range {
                                lo: page.max.clone(),
                                ..range.clone()
                            };
                            reads.push_front(reader.read(q.page_sql(&table, &cont), cont));
                        } else {
                            frontier.clone_from(&page.max);
                            planned = false;
                        }
                    }
                    ready.push_back((range, page, full));
                }
                Event::Wrote(wrote) => {
                    writing = None;
                    building = false;
                    let (written, staged_at) = wrote?;
                    cp.staged_at = staged_at;
                    progress.rows_written += written;
                    let slowest = clock.lap();
                    // Stop at any page boundary but the run's last, a phase's end included.
                    if !finishing && budget.should_stop(slowest) {
                        return Ok(true);
                    }
                }
            }
        }
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
        let pace = Pace::new(&self.cols, cp.bytes_per_row);
        let mut clock = PageClock::new();
        loop {
            if cp.phase == Phase::Main && skip_main {
                break;
            }
            if self
                .read_phase(
                    &mut cp,
                    target,
                    skip_main,
                    budget,
                    &mut progress,
                    &pace,
                    &mut clock,
                )
                .await?
            {
                progress.continued = true;
                progress.watermark_after = stored.watermark;
                return Ok(progress);
            }
            if cp.phase == Phase::Main || skip_main {
                break;
            }
            cp.phase = Phase::Main;
            cp.after = None;
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
    session: &Arc<Session>,
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
        assert_eq!(
            keyset_upto(&keys, &bound),
            r#"("A" < 5) OR ("A" = 5 AND "b" < 'x''y') OR ("A" = 5 AND "b" = 'x''y')"#
        );
    }

    /// `keyset_after(lo)` and `keyset_upto(hi)` together hold exactly the tuples in `(lo, hi]`,
    /// checked against tuple order for every tuple of a small grid.
    #[test]
    fn range_predicates_select_exactly_the_half_open_range() {
        let keys = vec![Ident::from_exact("A"), Ident::from_exact("B")];
        let grid: Vec<Vec<i64>> = (0..4)
            .flat_map(|a| (0..4).map(move |b| vec![a, b]))
            .collect();
        // Evaluates a predicate of the form these functions write, for one tuple.
        let eval = |sql: &str, t: &[i64]| -> bool {
            sql.split(" OR ").any(|term| {
                term.trim_matches(|c| c == '(' || c == ')')
                    .split(" AND ")
                    .all(|cmp| {
                        let parts: Vec<&str> = cmp.split(' ').collect();
                        let v = if parts[0] == "\"A\"" { t[0] } else { t[1] };
                        let n: i64 = parts[2].parse().expect("int");
                        match parts[1] {
                            ">" => v > n,
                            "<" => v < n,
                            "=" => v == n,
                            op => panic!("{op}"),
                        }
                    })
            })
        };
        let kv = |t: &[i64]| {
            t.iter()
                .map(|&v| KeyValue::Int(v.into()))
                .collect::<Vec<_>>()
        };
        for lo in &grid {
            for hi in &grid {
                let after = keyset_after(&keys, &kv(lo));
                let upto = keyset_upto(&keys, &kv(hi));
                for t in &grid {
                    assert_eq!(
                        eval(&after, t) && eval(&upto, t),
                        lo < t && t <= hi,
                        "{t:?} in ({lo:?}, {hi:?}]: {after} AND {upto}"
                    );
                }
            }
        }
    }
}
