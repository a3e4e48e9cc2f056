//! The life cycle every table pull and every push export shares: one login for the
//! invocation, then per object: take the lease, record the run, do the work, record the outcome,
//! give the lease back. A run that cannot take the lease reports `skipped_locked` and touches
//! nothing.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde::{Deserialize, Serialize};

use crate::deps::Deps;
use crate::error::{ErrorKind, Result, SyncError};
use crate::snowflake::Session;
use crate::state::{Direction, Outcome, RunRecord};
use crate::tenant::config::{TenantConfig, TenantId};

/// Whether a run continues from the watermark or re-reads everything.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// From the watermark (full refresh for tables without a cursor).
    #[default]
    Incremental,
    /// Everything again.
    Backfill,
}

impl Mode {
    /// `incremental` or `backfill`: the plan of a push, as run records name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Incremental => "incremental",
            Mode::Backfill => "backfill",
        }
    }

    /// `Backfill` when `backfill` (the CLI's `--backfill`), else `Incremental`.
    pub fn from_backfill(backfill: bool) -> Self {
        if backfill {
            Mode::Backfill
        } else {
            Mode::Incremental
        }
    }
}

/// What the work of one object reports back.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// Rows read from the source.
    pub rows_read: u64,
    /// Rows written to the destination.
    pub rows_written: u64,
    /// Pages or batches moved.
    pub pages: u64,
    /// The watermark before (encoded).
    pub watermark_before: Option<String>,
    /// The watermark after (encoded).
    pub watermark_after: Option<String>,
    /// Stopped early for the deadline: `continued`.
    pub continued: bool,
    /// The plan it followed (`full_refresh`, `backfill`, `incremental`, `reconcile`).
    pub plan: Option<&'static str>,
    /// Rows a reconciliation deleted or marked deleted.
    pub rows_deleted: Option<u64>,
    /// The source's columns that changed and what the run did about it.
    pub schema_changes: Option<String>,
}

/// Who watches runs as they go: the CLI's progress display (bars on a terminal, lines
/// otherwise). The functions have none; every call is cheap and never fails the run.
pub trait Watcher: Send + Sync + std::fmt::Debug {
    /// An object's run took its lease and starts.
    fn started(&self, object: &str);
    /// Whether an estimate of the rows to read is worth a metadata query.
    fn wants_estimate(&self) -> bool {
        false
    }
    /// About how many rows the run will read (the source's own row count).
    fn expect(&self, _object: &str, _rows: u64) {}
    /// A page or batch committed: the run's totals so far.
    fn committed(&self, object: &str, rows: u64, pages: u64);
    /// The object's run ended.
    fn finished(&self, report: &ObjectReport);
}

/// One invocation of a run: its id, how many times the run continued before it, and when the
/// invocation is killed (`None`: no deadline, the CLI).
#[derive(Debug, Clone, Copy)]
pub struct Invocation<'a> {
    /// The run id (the Lambda request id).
    pub run_id: &'a str,
    /// The event's `hop`.
    pub hop: u32,
    /// The invocation's deadline.
    pub deadline: Option<Instant>,
}

/// The contract's per-object result.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectReport {
    /// Table (`DB.SCHEMA.TABLE`) or export source.
    pub object: String,
    /// How it ended.
    pub outcome: Outcome,
    /// Rows read.
    pub rows_read: u64,
    /// Rows written.
    pub rows_written: u64,
    /// Watermark before (encoded), if any.
    pub watermark_before: Option<String>,
    /// Watermark after (encoded), if any.
    pub watermark_after: Option<String>,
    /// Pages moved.
    pub pages: u64,
    /// Rows a reconciliation deleted (or marked deleted); absent for other runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows_deleted: Option<u64>,
    /// The source's columns that changed, and what the run did (absent: none changed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema_changes: Option<String>,
    /// Wall seconds.
    pub seconds: f64,
    /// How far the destination is behind: seconds since the start of the last complete run
    /// (this one, when it completed); `None` before any complete run.
    pub lag_seconds: Option<f64>,
    /// Failure kind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<ErrorKind>,
    /// Failure message (no secrets).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A function's result (the contract's): one report per table (pull) or export (push), under
/// the key the contract gives them (`tables`, `exports`).
#[derive(Debug, Clone)]
pub struct RunReport {
    /// Pull or push.
    pub direction: Direction,
    /// The tenant.
    pub tenant: String,
    /// This invocation's run id (also in the Snowflake QUERY_TAG).
    pub run_id: String,
    /// One entry per table or export.
    pub objects: Vec<ObjectReport>,
    /// The period of the tenant's schedule for this direction (for the lag-over-schedule
    /// metric); not part of the result.
    pub schedule_period: Option<Duration>,
}

impl ObjectReport {
    /// The failure of a `failed` object, as the error it was (kind and message, the object
    /// named).
    pub fn failure(&self) -> Option<SyncError> {
        (self.outcome == Outcome::Failed).then(|| {
            SyncError::new(
                self.error_kind.unwrap_or(ErrorKind::Transient),
                format!(
                    "{}: {}",
                    self.object,
                    self.error.as_deref().unwrap_or("failed")
                ),
            )
        })
    }
}

impl RunReport {
    /// Whether any object stopped early for the deadline.
    pub fn continued(&self) -> bool {
        self.objects.iter().any(|r| r.outcome == Outcome::Continued)
    }
}

impl Serialize for RunReport {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("tenant", &self.tenant)?;
        m.serialize_entry("run_id", &self.run_id)?;
        m.serialize_entry(self.direction.objects_key(), &self.objects)?;
        m.end()
    }
}

/// Runs a tenant's selected objects (`(name, object)` pairs), each under its own lease through
/// [`run_object`], at most the tenant's `max_parallel` at once (or the CLI's `--parallel`):
/// that many workers, each with its own Snowflake session (logged in to last until the
/// invocation's deadline), take the next object as they finish one. `work` runs one object.
/// The reports keep the order of `objects`. A run with nothing selected never connects.
///
/// # Errors
/// Only for failures before any object runs (an unreadable secret); a login failure is the
/// failure of every object its worker takes instead.
pub(crate) async fn run_objects<O, F, Fut>(
    deps: &Deps,
    cfg: &TenantConfig,
    direction: Direction,
    invocation: Invocation<'_>,
    objects: Vec<(String, O)>,
    work: F,
) -> Result<RunReport>
where
    F: Fn(O, Arc<Session>) -> Fut,
    Fut: Future<Output = Result<Progress>>,
{
    run_planned(deps, cfg, (direction, None), invocation, objects, work).await
}

/// [`run_objects`] for runs whose plan is known before they start (a reconciliation: its
/// records, failed ones too, are kept apart from the pulls', see [`crate::state::RECONCILE_PLAN`]).
///
/// # Errors
/// As [`run_objects`].
pub(crate) async fn run_planned<O, F, Fut>(
    deps: &Deps,
    cfg: &TenantConfig,
    (direction, plan): (Direction, Option<&'static str>),
    invocation: Invocation<'_>,
    objects: Vec<(String, O)>,
    work: F,
) -> Result<RunReport>
where
    F: Fn(O, Arc<Session>) -> Fut,
    Fut: Future<Output = Result<Progress>>,
{
    let run_id = invocation.run_id;
    let mut report = RunReport {
        direction,
        tenant: cfg.tenant.to_string(),
        run_id: run_id.to_owned(),
        objects: Vec::with_capacity(objects.len()),
        schedule_period: match direction {
            Direction::Pull => cfg.schedule.pull.as_deref(),
            Direction::Push => cfg.schedule.push.as_deref(),
        }
        .and_then(crate::tenant::config::Schedule::period),
    };
    if objects.is_empty() {
        return Ok(report);
    }
    let span =
        tracing::info_span!("run", direction = direction.as_str(), tenant = %cfg.tenant, run_id);
    let _enter = span.enter();
    let creds = deps.secrets.get(&cfg.tenant).await?;
    let tag = format!("snowsync tenant={} run={run_id}", cfg.tenant);
    let workers = deps.settings.parallel.unwrap_or(cfg.max_parallel);
    // One login per worker; if it fails, every object the worker takes reports it.
    let login = || async {
        Session::connect(
            &cfg.snowflake,
            &creds,
            &deps.endpoint,
            &tag,
            invocation.deadline,
        )
        .await
        .map(Arc::new)
    };
    let work = &work;
    report.objects = in_workers(
        objects,
        workers,
        login,
        |session, (name, object)| async move {
            run_object(
                deps,
                &cfg.tenant,
                (direction, plan),
                &name,
                invocation,
                || async { work(object, opened(&session)?).await },
            )
            .await
        },
    )
    .await;
    Ok(report)
}

/// Runs `items` on at most `workers` workers at once (at least one): each opens its session
/// once (`open`, only when it has an item), takes the next item as it finishes one, and closes
/// its session when none is left. The results keep the order of `items`.
pub(crate) async fn in_workers<I, OF, W, WF, R>(
    items: Vec<I>,
    workers: usize,
    open: impl Fn() -> OF,
    work: W,
) -> Vec<R>
where
    OF: Future<Output = Result<Arc<Session>>>,
    W: Fn(Arc<Result<Arc<Session>>>, I) -> WF,
    WF: Future<Output = R>,
{
    let workers = workers.clamp(1, items.len().max(1));
    let queue = std::sync::Mutex::new(items.into_iter().enumerate());
    let next = || queue.lock().unwrap_or_else(|e| e.into_inner()).next();
    let worker = || async {
        let mut done = Vec::new();
        let Some(mut item) = next() else {
            return done;
        };
        let session = Arc::new(open().await);
        loop {
            let (i, it) = item;
            done.push((i, work(Arc::clone(&session), it).await));
            match next() {
                Some(n) => item = n,
                None => break,
            }
        }
        if let Ok(s) = &*session {
            s.close().await;
        }
        done
    };
    let mut done: Vec<(usize, R)> = futures::future::join_all((0..workers).map(|_| worker()))
        .await
        .into_iter()
        .flatten()
        .collect();
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

/// A worker's session, or the failure of its login as the failure of the object it takes.
pub(crate) fn opened(session: &Result<Arc<Session>>) -> Result<Arc<Session>> {
    session
        .as_ref()
        .map(Arc::clone)
        .map_err(|e| SyncError::new(e.kind(), e.message().to_owned()))
}

/// For `skip_serializing_if`: a zero hop count is left out of events.
pub(crate) fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Runs `work` for one object under its lease and records the run. Failures of `work` become a
/// `failed` report, never an `Err`: one table's failure does not stop the others.
pub async fn run_object<F, Fut>(
    deps: &Deps,
    tenant: &TenantId,
    (direction, plan): (Direction, Option<&'static str>),
    object: &str,
    invocation: Invocation<'_>,
    work: F,
) -> ObjectReport
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Progress>>,
{
    let started = Instant::now();
    let started_at = Utc::now();
    let run_id = invocation.run_id;
    let mut record = RunRecord {
        tenant: tenant.to_string(),
        direction,
        object: object.to_owned(),
        run_id: run_id.to_owned(),
        started_at,
        finished_at: None,
        outcome: Outcome::Running,
        rows_read: 0,
        rows_written: 0,
        pages: 0,
        watermark_before: None,
        watermark_after: None,
        error_kind: None,
        error: None,
        plan: plan.map(str::to_owned),
        hop: invocation.hop,
        rows_deleted: None,
        schema_changes: None,
    };
    let report = |record: &RunRecord, lag_seconds: Option<f64>| ObjectReport {
        object: object.to_owned(),
        outcome: record.outcome,
        rows_read: record.rows_read,
        rows_written: record.rows_written,
        watermark_before: record.watermark_before.clone(),
        watermark_after: record.watermark_after.clone(),
        pages: record.pages,
        rows_deleted: record.rows_deleted,
        schema_changes: record.schema_changes.clone(),
        seconds: started.elapsed().as_secs_f64(),
        lag_seconds,
        error_kind: record.error_kind,
        error: record.error.clone(),
    };
    let fail = |record: &mut RunRecord, kind: ErrorKind, message: String| {
        record.outcome = Outcome::Failed;
        record.error_kind = Some(kind);
        record.error = Some(message);
        record.finished_at = Some(Utc::now());
    };

    match deps
        .state
        .acquire_lease(tenant, direction, object, run_id, deps.settings.lease_ttl)
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            tracing::info!(%tenant, object, "another run holds the lease; skipping");
            record.outcome = Outcome::SkippedLocked;
            record.finished_at = Some(Utc::now());
            return report(&record, None);
        }
        Err(e) => {
            tracing::warn!(%tenant, object, error = %e, "could not take the lease");
            fail(&mut record, e.kind(), e.to_string());
            return report(&record, None);
        }
    }
    if let Err(e) = deps.state.record_run(tenant, &record).await {
        tracing::warn!(%tenant, object, error = %e, "could not record the run start");
    }
    if let Some(w) = &deps.watcher {
        w.started(object);
    }

    match work().await {
        Ok(p) => {
            record.outcome = if p.continued {
                Outcome::Continued
            } else {
                Outcome::Complete
            };
            record.rows_read = p.rows_read;
            record.rows_written = p.rows_written;
            record.pages = p.pages;
            record.watermark_before = p.watermark_before;
            record.watermark_after = p.watermark_after;
            record.plan = p.plan.map(str::to_owned).or(record.plan);
            record.rows_deleted = p.rows_deleted;
            record.schema_changes = p.schema_changes;
            record.finished_at = Some(Utc::now());
            tracing::info!(
                %tenant, object, outcome = record.outcome.as_str(), rows_read = record.rows_read,
                rows_written = record.rows_written, pages = record.pages,
                seconds = started.elapsed().as_secs_f64(), "run finished"
            );
        }
        Err(e) => {
            tracing::warn!(%tenant, object, kind = %e.kind(), error = %e, "run failed");
            fail(&mut record, e.kind(), e.to_string());
        }
    }
    let lag_seconds = if record.outcome == Outcome::Complete {
        Some(started.elapsed().as_secs_f64())
    } else {
        deps.state
            .progress(tenant, direction, object)
            .await
            .ok()
            .and_then(|p| p.last_complete_started_at)
            .map(|t| (Utc::now() - t).num_milliseconds() as f64 / 1000.0)
    };
    if let Err(e) = deps.state.record_run(tenant, &record).await {
        tracing::warn!(%tenant, object, error = %e, "could not record the run outcome");
    }
    if let Err(e) = deps
        .state
        .release_lease(tenant, direction, object, run_id)
        .await
    {
        tracing::warn!(%tenant, object, error = %e, "could not release the lease; it expires by itself");
    }
    let report = report(&record, lag_seconds);
    if let Some(w) = &deps.watcher {
        w.finished(&report);
    }
    report
}
