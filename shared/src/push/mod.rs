//! Push: the platform's actions and stage data into a table in the customer's Snowflake,
//! exactly once.
//!
//! Per export, under its lease: make sure the destination exists with the contract's columns
//! (created when missing; an existing table with incompatible columns is an error naming them,
//! never altered), take the upper bound, then move batches of the tenant's rows in
//! `(ingested_at, id)` order past the watermark:
//! 1. read up to `push_batch_rows` rows from PostgreSQL;
//! 2. empty the session's temporary table and fill it with `INSERT ... SELECT` over
//!    `FLATTEN(PARSE_JSON('<rows>'))`, each statement under 1 MiB (Snowflake's limit), while
//!    the next batch is read from PostgreSQL;
//! 3. `MERGE` it into the destination by `ID`, de-duplicated by `ID` within the batch;
//! 4. only after Snowflake confirms the `MERGE`, advance the watermark (conditional on the lease).
//!
//! The client retries requests, and a crash can land between steps 3 and 4: both re-send rows
//! that are already there, and the `MERGE` by `ID` turns that into an update, never a second row.
//!
//! | where | what it owns |
//! |---|---|
//! | `push/mod.rs` | the event, the report, `run_push`, the batches of one export and its watermark |
//! | [`crate::export`] | each source's columns and types on both sides, the position |
//! | [`crate::postgres::ExportReader`] | the batches read from PostgreSQL, and the upper bound |
//! | [`crate::snowflake::destination`] | the destination: DDL, grants, load, `MERGE` |

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::deps::Deps;
use crate::error::{Result, SyncError};
use crate::export::{columns, Position};
use crate::lambda::{Budget, Job};
use crate::postgres::ExportReader;
use crate::runner::{run_objects, Invocation, Mode, Progress, RunReport};
use crate::snowflake::destination::{Batch, Destination};
use crate::snowflake::file::BatchFile;
use crate::snowflake::Session;
use crate::state::Direction;
use crate::tenant::config::{PushTable, TenantConfig};

/// The `push` function's event (the contract's shape).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushEvent {
    /// The tenant.
    pub tenant: String,
    /// `actions` and/or `stages`; absent or empty = every configured export.
    #[serde(default)]
    pub sources: Option<Vec<String>>,
    /// `incremental` (default) or `backfill` (re-export everything; the MERGE keeps it single).
    #[serde(default)]
    pub mode: Mode,
    /// How many times this run has continued in a fresh invocation.
    #[serde(default, skip_serializing_if = "crate::runner::is_zero")]
    pub hop: u32,
    /// Answer with the run's units of work instead (see [`crate::pull::PullEvent::plan`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub plan: bool,
    /// Run by the state machine (see [`crate::pull::PullEvent::orchestrated`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub orchestrated: bool,
}

impl Job for PushEvent {
    const DIRECTION: Direction = Direction::Push;
    /// Runs a push for the event: every selected export under its own lease, sharing one
    /// Snowflake session. A tenant without `[[push]]` never connects to Snowflake.
    ///
    /// # Errors
    /// Only for failures before any export runs: unknown tenant or source, unreadable secret,
    /// unreachable platform database.
    async fn run(&self, deps: &Deps, run_id: &str, budget: &Budget) -> Result<RunReport> {
        let cfg = deps.state.load_tenant(&self.tenant).await?;
        let exports: Vec<_> = select_push(&cfg, self.sources.as_deref().unwrap_or_default())?
            .into_iter()
            .map(|p| (p.source.as_str().to_owned(), p))
            .collect();
        if !exports.is_empty() {
            deps.platform.migrate().await?;
        }
        run_objects(
            deps,
            &cfg,
            Direction::Push,
            Invocation {
                run_id,
                hop: self.hop,
                deadline: budget.deadline,
            },
            exports,
            |p, session| {
                let cfg = &cfg;
                async move {
                    Export {
                        deps,
                        cfg,
                        p,
                        session: &session,
                        run_id,
                        object: p.source.as_str(),
                    }
                    .run(self.mode, budget)
                    .await
                }
            },
        )
        .await
    }

    const SHAPE: &'static str =
        r#"{"tenant": "acme", "sources": ["actions"], "mode": "incremental"|"backfill"}"#;

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

    /// One unit per selected export.
    async fn units(&self, _: &Deps, cfg: &TenantConfig, _: &str) -> Result<Vec<Self>> {
        Ok(
            select_push(cfg, self.sources.as_deref().unwrap_or_default())?
                .into_iter()
                .map(|p| PushEvent {
                    tenant: self.tenant.clone(),
                    sources: Some(vec![p.source.as_str().to_owned()]),
                    mode: self.mode,
                    hop: 0,
                    plan: false,
                    orchestrated: true,
                })
                .collect(),
        )
    }
}

fn select_push<'a>(cfg: &'a TenantConfig, names: &[String]) -> Result<Vec<&'a PushTable>> {
    if names.is_empty() {
        return Ok(cfg.push.iter().collect());
    }
    names
        .iter()
        .map(|n| {
            cfg.push
                .iter()
                .find(|p| p.source.as_str().eq_ignore_ascii_case(n))
                .ok_or_else(|| {
                    SyncError::config(format!(
                        "source {n:?} is not pushed for tenant {}: configure a [[push]] with source = \"actions\" or \"stages\"",
                        cfg.tenant
                    ))
                })
        })
        .collect()
}

/// One export's run.
struct Export<'a> {
    deps: &'a Deps,
    cfg: &'a TenantConfig,
    p: &'a PushTable,
    session: &'a Session,
    run_id: &'a str,
    object: &'a str,
}

impl Export<'_> {
    async fn run(&self, mode: Mode, budget: &Budget) -> Result<Progress> {
        let destination = Destination::new(self.session, self.p, self.cfg.snowflake.role.as_ref());
        destination.ensure().await?;
        let stored = self
            .deps
            .state
            .progress(&self.cfg.tenant, Direction::Push, self.object)
            .await?;
        let position: Option<Position> = match (mode, &stored.watermark) {
            (Mode::Incremental, Some(w)) => Some(serde_json::from_str(w).map_err(|_| {
                SyncError::config(
                    "stored push watermark is unreadable: run snowsync push --backfill",
                )
            })?),
            _ => None,
        };
        let reader = ExportReader::open(
            &self.deps.platform,
            &self.cfg.tenant,
            self.p.source,
            self.deps.settings.push_batch_rows,
        )
        .await?;
        let Some(mut reader) = reader else {
            return Ok(Progress {
                watermark_before: stored.watermark.clone(),
                watermark_after: stored.watermark,
                plan: Some(mode.as_str()),
                ..Progress::default()
            });
        };
        destination.open_stage().await?;

        let mut progress = Progress {
            watermark_before: stored.watermark.clone(),
            plan: Some(mode.as_str()),
            ..Progress::default()
        };
        // Pipelined: while batch k is written, loaded into Snowflake and merged, batch k+1
        // (which starts after k's last position) is read from PostgreSQL. At most two batches
        // are held.
        let mut slowest = Duration::ZERO;
        let mut started = Instant::now();
        let mut next = Some(reader.read(position.as_ref()).await?);
        while let Some(rows) = next.take() {
            let Some(last_row) = rows.last() else {
                break;
            };
            // Rows come in position order: the last is the batch's end.
            let last = Position::of_row(last_row, columns(self.p.source).len());
            let n = rows.len() as u64;
            let more = reader.full(rows.len());
            let bulk = rows.len() >= self.deps.settings.push_bulk_min_rows;
            let encoded = serde_json::to_string(&last)
                .map_err(|e| SyncError::transient(format!("encode watermark: {e}")))?;
            let send = async {
                let batch = self.batch(&destination, rows, bulk).await?;
                destination.load_and_merge(&batch).await?;
                // Snowflake confirmed: only now does the watermark move.
                self.deps
                    .state
                    .complete_progress(
                        &self.cfg.tenant,
                        Direction::Push,
                        self.object,
                        self.run_id,
                        Some(&encoded),
                    )
                    .await
            };
            let stop = more && budget.should_stop(slowest);
            if more && !stop {
                let (sent, read) = tokio::join!(send, reader.read(Some(&last)));
                sent?;
                next = Some(read?);
            } else {
                send.await?;
            }
            progress.rows_read += n;
            progress.rows_written += n;
            progress.pages += 1;
            if let Some(w) = &self.deps.watcher {
                w.committed(self.object, progress.rows_written, progress.pages);
            }
            progress.watermark_after = Some(encoded);
            slowest = slowest.max(started.elapsed());
            started = Instant::now();
            tracing::debug!(export = self.object, rows = n, bulk, "batch merged");
            if stop {
                progress.continued = true;
                return Ok(progress);
            }
        }
        if progress.watermark_after.is_none() {
            progress.watermark_after = stored.watermark;
        }
        Ok(progress)
    }

    /// The batch as it will be loaded: a gzip CSV file (written on a blocking thread, so the
    /// next batch's read goes on meanwhile) for a bulk batch, `INSERT`s for a small one.
    async fn batch(
        &self,
        destination: &Destination<'_>,
        rows: Vec<tokio_postgres::Row>,
        bulk: bool,
    ) -> Result<Batch> {
        let context = |e: SyncError| e.context(format!("platform.{}", self.p.source.as_str()));
        if !bulk {
            let (statements, _) = destination.statements(&rows).map_err(context)?;
            return Ok(Batch::Statements(statements));
        }
        let source = self.p.source;
        let file = tokio::task::spawn_blocking(move || {
            BatchFile::build(source.as_str(), &rows, columns(source))
        })
        .await
        .map_err(|e| SyncError::transient(format!("writing a push batch file failed: {e}")))?
        .map_err(context)?;
        Ok(Batch::File(file))
    }
}
