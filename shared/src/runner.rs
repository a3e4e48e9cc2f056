//! The life cycle every table pull and every push export shares: take the lease, record the
//! run, do the work, record the outcome, give the lease back. A run that cannot take the lease
//! reports `skipped_locked` and touches nothing.

use std::future::Future;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chrono::Utc;
use serde::{Deserialize, Serialize};

use crate::deps::Deps;
use crate::error::{ErrorKind, Result};
use crate::state::{Direction, Outcome, RunRecord};
use crate::tenant::config::TenantId;

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
    /// `Backfill` when `backfill` (the CLI's `--backfill`), else `Incremental`.
    pub fn from_backfill(backfill: bool) -> Self {
        if backfill {
            Mode::Backfill
        } else {
            Mode::Incremental
        }
    }
}

/// Logs in once for a run: reads the tenant's credentials and connects with the run's query
/// tag. The outer error is for failures before any object runs (unreadable secret); a login
/// failure is returned inside, so every object can report it as its own failure.
///
/// # Errors
/// A classified Secrets Manager error.
pub(crate) async fn open_session(
    deps: &Deps,
    cfg: &crate::tenant::config::TenantConfig,
    run_id: &str,
    budget: &Budget,
) -> Result<Result<std::sync::Arc<crate::snowflake::Session>>> {
    let creds = deps.secrets.get(&cfg.tenant).await?;
    let tag = format!("snowsync tenant={} run={run_id}", cfg.tenant);
    Ok(crate::snowflake::Session::connect(
        &cfg.snowflake,
        &creds,
        &deps.endpoint,
        &tag,
        budget.deadline,
    )
    .await
    .map(std::sync::Arc::new))
}

/// The run's shared session, or its login failure as this object's failure.
///
/// # Errors
/// The login failure, with its kind and message.
pub(crate) fn shared_session(
    session: &Result<std::sync::Arc<crate::snowflake::Session>>,
) -> Result<&std::sync::Arc<crate::snowflake::Session>> {
    session
        .as_ref()
        .map_err(|e| crate::SyncError::new(e.kind(), e.message().to_owned()))
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

/// Whether any object stopped early for the deadline.
pub fn any_continued(reports: &[ObjectReport]) -> bool {
    reports.iter().any(|r| r.outcome == Outcome::Continued)
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
    direction: Direction,
    object: &str,
    run_id: &str,
    work: F,
) -> ObjectReport
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Progress>>,
{
    let started = Instant::now();
    let started_at = Utc::now();
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
    };
    let report = |record: &RunRecord, lag_seconds: Option<f64>| ObjectReport {
        object: object.to_owned(),
        outcome: record.outcome,
        rows_read: record.rows_read,
        rows_written: record.rows_written,
        watermark_before: record.watermark_before.clone(),
        watermark_after: record.watermark_after.clone(),
        pages: record.pages,
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
    report(&record, lag_seconds)
}

/// How much of a run's time is left, from the Lambda deadline.
#[derive(Debug, Clone, Copy, Default)]
pub struct Budget {
    /// When the invocation is killed; `None` = no deadline (the CLI).
    pub deadline: Option<Instant>,
}

impl Budget {
    /// The budget of a Lambda invocation whose deadline is `deadline_ms` milliseconds since the
    /// epoch (the runtime's `Context::deadline`); 0 means none.
    pub fn from_deadline_ms(deadline_ms: u64) -> Self {
        if deadline_ms == 0 {
            return Self::default();
        }
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default();
        let left = u128::from(deadline_ms).saturating_sub(now_ms);
        Self {
            deadline: Some(
                Instant::now() + Duration::from_millis(u64::try_from(left).unwrap_or(0)),
            ),
        }
    }

    /// The least time kept in hand when deciding whether to read another page.
    pub const MIN_MARGIN: Duration = Duration::from_secs(10);

    /// Whether to stop before the next page: the time left is below twice the slowest page
    /// seen so far (reading, writing and checkpointing it), and never below [`Self::MIN_MARGIN`].
    pub fn should_stop(&self, slowest_page: Duration) -> bool {
        self.deadline.is_some_and(|d| {
            d.saturating_duration_since(Instant::now()) < (slowest_page * 2).max(Self::MIN_MARGIN)
        })
    }
}

/// The most fresh invocations one run may continue in before it waits for its next schedule
/// (a guard against a loop; a 1M-row backfill needs a handful).
pub const MAX_HOPS: u32 = 100;

/// Continues a run in a fresh asynchronous invocation of `function` (our own ARN, from the
/// Lambda context) with `payload`. Returns the new invocation's request id.
///
/// # Errors
/// `transient` when Lambda refuses or cannot be reached; `privilege` when the role may not
/// invoke itself.
pub async fn continue_in_fresh_invocation(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    payload: &serde_json::Value,
) -> Result<String> {
    use aws_sdk_lambda::operation::RequestId;
    use aws_sdk_lambda::primitives::Blob;
    use aws_sdk_lambda::types::InvocationType;
    let out = lambda
        .invoke()
        .function_name(function)
        .invocation_type(InvocationType::Event)
        .payload(Blob::new(payload.to_string()))
        .send()
        .await
        .map_err(|e| {
            crate::error::aws_error(
                "Lambda",
                &format!("continue in a fresh invocation of {function}"),
                "",
                e.into_service_error(),
            )
        })?;
    Ok(out.request_id().unwrap_or("unknown").to_owned())
}
