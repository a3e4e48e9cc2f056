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
//! The upper bound is the newest `ingested_at` that no open transaction can still precede:
//! `ingested_at` defaults to `now()`, the start of the inserting transaction, so a transaction
//! that commits late carries an old `ingested_at`. Reading only up to just before the oldest
//! open transaction that is writing the source table (it holds `RowExclusiveLock` on it until it
//! commits; `pg_locks` and `pg_stat_activity`) means no late commit can land behind the
//! watermark. (The platform's database user needs `pg_read_all_stats` to see other sessions'
//! transaction starts.)
//!
//! | file | what it owns |
//! |---|---|
//! | `mod.rs` | the event, the report, `run_push`, the run of one export |
//! | `columns` | each source's columns and types on both sides |
//! | `load` | a batch as `FLATTEN(PARSE_JSON(...))` inserts under the statement size limit |
//! | `destination` | the destination's privileges and columns |

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio_postgres::types::ToSql;

use crate::config::{PushSource, PushTable, TenantConfig};
use crate::deps::Deps;
use crate::error::{ErrorKind, Result, SyncError};
use crate::platform::pg_error;
use crate::pull::load_tenant;
use crate::quote::{sf_string, Ident};
use crate::runner::{
    open_session, run_object, shared_session, Budget, Mode, ObjectReport, Progress,
};
use crate::snowflake::{text_at, Session};
use crate::state::Direction;

mod columns;
mod destination;
mod load;

use columns::*;
pub(crate) use destination::{destination_problems, schema_grant};
use load::*;

/// The most bytes of SQL text in one `INSERT` (Snowflake's statement limit is 1 MiB).
const MAX_INSERT_BYTES: usize = 900 * 1024;
/// Sessions one batch may go through (fresh logins mid-batch) before the run gives up.
const MAX_BATCH_SESSIONS: u32 = 3;

/// The `push` function's event (the contract's shape).
#[derive(Debug, Clone, Serialize, Deserialize)]
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
}

/// The `push` function's result.
#[derive(Debug, Clone, Serialize)]
pub struct PushReport {
    /// The tenant.
    pub tenant: String,
    /// This invocation's run id.
    pub run_id: String,
    /// One entry per export.
    pub exports: Vec<ObjectReport>,
    /// The request id of the invocation that carries on, when an export reported `continued`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub continued_by: Option<String>,
    /// The period of the tenant's push schedule (for the lag-over-schedule metric).
    #[serde(skip)]
    pub schedule_period: Option<Duration>,
}

impl PushReport {
    /// Whether any export stopped early for the deadline.
    pub fn continued(&self) -> bool {
        crate::runner::any_continued(&self.exports)
    }
}

/// The exported position: the last `(ingested_at, id)` confirmed in Snowflake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Position {
    /// UTC, `YYYY-MM-DD HH24:MI:SS.US`.
    ingested_at: String,
    id: i64,
}

/// Runs a push for the event: every selected export under its own lease, sharing one
/// Snowflake session. A tenant without `[[push]]` never connects to Snowflake.
///
/// # Errors
/// Only for failures before any export runs: unknown tenant or source, unreadable secret,
/// unreachable platform database.
pub async fn run_push(
    deps: &Deps,
    event: &PushEvent,
    run_id: &str,
    budget: &Budget,
) -> Result<PushReport> {
    let cfg = load_tenant(deps, &event.tenant).await?;
    let selected = select_push(&cfg, event.sources.as_deref().unwrap_or_default())?;
    let mut report = PushReport {
        tenant: cfg.tenant.to_string(),
        run_id: run_id.to_owned(),
        exports: Vec::new(),
        continued_by: None,
        schedule_period: cfg
            .schedule
            .push
            .as_deref()
            .and_then(crate::config::Schedule::period),
    };
    if selected.is_empty() {
        return Ok(report);
    }
    deps.platform.migrate().await?;
    let span = tracing::info_span!("push", tenant = %cfg.tenant, run_id);
    let _enter = span.enter();
    let session = open_session(deps, &cfg, run_id, budget).await?;
    for p in selected {
        let object = p.source.as_str().to_owned();
        let r = run_object(
            deps,
            &cfg.tenant,
            Direction::Push,
            &object,
            run_id,
            || async {
                let session = shared_session(&session)?;
                Export {
                    deps,
                    cfg: &cfg,
                    p,
                    session,
                    run_id,
                    object: &object,
                }
                .run(event.mode, budget)
                .await
            },
        )
        .await;
        report.exports.push(r);
    }
    Ok(report)
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
    fn role(&self) -> String {
        self.cfg.snowflake.role.as_ref().map_or_else(
            || "(the user's default role)".to_owned(),
            |r| r.name().to_owned(),
        )
    }

    /// Turns a privilege error into one that names the grant to give.
    fn grant_hint(&self, e: SyncError, grant: &str) -> SyncError {
        if e.kind() == ErrorKind::Privilege {
            SyncError::new(
                ErrorKind::Privilege,
                format!(
                    "role {} may not write the push destination {}: {grant} TO ROLE {} ({})",
                    self.role(),
                    self.p.table,
                    self.role(),
                    e.message()
                ),
            )
        } else {
            e
        }
    }

    /// Creates the destination when missing; checks an existing one's columns.
    async fn ensure_destination(&self, cols: &[Column]) -> Result<()> {
        let t = &self.p.table;
        match destination_problems(self.session, self.p).await? {
            Some(problems) if problems.is_empty() => Ok(()),
            Some(problems) => Err(SyncError::config(format!(
                "push destination {t} exists with incompatible columns: {}; snowsync never alters a table: fix or drop it, or set [[push]] table to a new name",
                problems.join(", ")
            ))),
            None => {
                let mut defs: Vec<String> = cols
                    .iter()
                    .map(|c| {
                        let not_null = if c.name == "ID" { " NOT NULL" } else { "" };
                        format!("{} {}{not_null}", Ident::from_exact(c.name).sql(), c.kind.sf_type())
                    })
                    .collect();
                defs.push(format!("{} TIMESTAMP_TZ", Ident::from_exact("EXPORTED_AT").sql()));
                let ddl = format!("CREATE TABLE IF NOT EXISTS {} ({})", t.sql(), defs.join(", "));
                self.session
                    .execute(&ddl)
                    .await
                    .map_err(|e| self.grant_hint(e, &schema_grant(t)))?;
                tracing::info!(table = %t, "created the push destination");
                Ok(())
            }
        }
    }

    /// The newest `ingested_at` (UTC text) every row up to which is committed, or `None`.
    async fn upper_bound(&self, client: &deadpool_postgres::Object) -> Result<Option<String>> {
        let sql = format!(
            "SELECT to_char(LEAST(\
               (SELECT max(ingested_at) FROM platform.{0} WHERE tenant = $1), \
               (SELECT min(a.xact_start) - interval '1 microsecond' FROM pg_locks l \
                 JOIN pg_stat_activity a ON a.pid = l.pid \
                 WHERE l.relation = 'platform.{0}'::regclass AND l.mode = 'RowExclusiveLock' \
                   AND l.pid <> pg_backend_pid())\
             ) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')",
            self.p.source.as_str()
        );
        let row = client
            .query_one(&sql, &[&self.cfg.tenant.as_str()])
            .await
            .map_err(|e| pg_error("read the push upper bound", e))?;
        Ok(row.get(0))
    }

    async fn run(&self, mode: Mode, budget: &Budget) -> Result<Progress> {
        let cols = columns(self.p.source);
        self.ensure_destination(cols).await?;
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
        let client = self.deps.platform.client().await?;
        let Some(upper) = self.upper_bound(&client).await? else {
            return Ok(Progress {
                watermark_before: stored.watermark.clone(),
                watermark_after: stored.watermark,
                ..Progress::default()
            });
        };
        let select = cols
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{} AS c{i}", c.kind.pg_text(c.pg)))
            .collect::<Vec<_>>()
            .join(", ");
        let read = format!(
            "SELECT {select}, to_char(ingested_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') AS position_at, id AS position_id \
             FROM platform.{} WHERE tenant = $1 AND ingested_at <= ($2::text || '+00')::timestamptz \
             AND ($3::text IS NULL OR (ingested_at, id) > (($3::text || '+00')::timestamptz, $4::bigint)) \
             ORDER BY ingested_at, id LIMIT $5",
            self.p.source.as_str()
        );
        let stage = Ident::from_exact(format!(
            "SNOWSYNC_PUSH_{}",
            self.p.source.as_str().to_uppercase()
        ));
        let stage_defs = cols
            .iter()
            .map(|c| {
                format!(
                    "{} {}",
                    Ident::from_exact(c.name).sql(),
                    c.kind.stage_type()
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let insert_grant = format!(
            "GRANT SELECT, INSERT, UPDATE ON TABLE {}",
            self.p.table.sql()
        );
        let schema_grant = schema_grant(&self.p.table);
        self.session
            .execute_setup(&format!(
                "CREATE TEMPORARY TABLE IF NOT EXISTS {} ({stage_defs})",
                stage.sql()
            ))
            .await
            .map_err(|e| self.grant_hint(e, &schema_grant))?;
        let merge = self.merge_sql(cols, &stage);
        let names = cols
            .iter()
            .map(|c| Ident::from_exact(c.name).sql())
            .collect::<Vec<_>>()
            .join(", ");
        let casts = cols
            .iter()
            .enumerate()
            .map(|(i, c)| format!("value[{i}]::VARCHAR::{}", c.kind.stage_type()))
            .collect::<Vec<_>>()
            .join(", ");
        let load = Load {
            head: format!(
                "INSERT INTO {} ({names}) SELECT {casts} FROM TABLE(FLATTEN(INPUT => PARSE_JSON(",
                stage.sql()
            ),
        };

        let mut progress = Progress {
            watermark_before: stored.watermark.clone(),
            ..Progress::default()
        };
        let limit = i64::try_from(self.deps.settings.push_batch_rows.max(1)).unwrap_or(i64::MAX);
        let read_batch = |after: Option<Position>| {
            let (client, read, upper) = (&client, &read, &upper);
            async move {
                let after_ts = after.as_ref().map(|p| p.ingested_at.clone());
                let after_id = after.as_ref().map_or(0, |p| p.id);
                let params: [&(dyn ToSql + Sync); 5] = [
                    &self.cfg.tenant.as_str(),
                    upper,
                    &after_ts,
                    &after_id,
                    &limit,
                ];
                client
                    .query(read, &params)
                    .await
                    .map_err(|e| pg_error(&format!("read platform.{}", self.p.source.as_str()), e))
            }
        };
        // Pipelined: while batch k loads into Snowflake and merges, batch k+1 (which starts
        // after k's last position) is read from PostgreSQL. At most two batches are held.
        let mut slowest = Duration::ZERO;
        let mut started = Instant::now();
        let mut next = Some(read_batch(position.clone()).await?);
        while let Some(rows) = next.take() {
            if rows.is_empty() {
                break;
            }
            let (statements, last) = load
                .statements(&rows, cols)
                .map_err(|e| e.context(format!("platform.{}", self.p.source.as_str())))?;
            let n = rows.len() as u64;
            let more = rows.len() >= usize::try_from(limit).unwrap_or(usize::MAX);
            drop(rows);
            let encoded = serde_json::to_string(&last)
                .map_err(|e| SyncError::transient(format!("encode watermark: {e}")))?;
            let send = async {
                // A fresh login mid-batch (the session expired past renewal) recreates the
                // temporary table empty: the batch is loaded and merged again (MERGE by ID
                // makes the repeat harmless) until one session saw it through.
                let mut attempts = 0;
                loop {
                    let epoch = self.session.epoch();
                    self.session
                        .execute(&format!("DELETE FROM {}", stage.sql()))
                        .await
                        .map_err(|e| self.grant_hint(e, &schema_grant))?;
                    for s in &statements {
                        self.session
                            .execute(s)
                            .await
                            .map_err(|e| self.grant_hint(e, &schema_grant))?;
                    }
                    self.session
                        .execute(&merge)
                        .await
                        .map_err(|e| self.grant_hint(e, &insert_grant))?;
                    if self.session.epoch() == epoch {
                        break;
                    }
                    attempts += 1;
                    if attempts >= MAX_BATCH_SESSIONS {
                        return Err(SyncError::transient(format!(
                            "the Snowflake session was lost {attempts} times while loading one batch; the next run retries it"
                        )));
                    }
                    tracing::info!(
                        export = self.object,
                        "Snowflake session logged in afresh mid-batch; loading the batch again"
                    );
                }
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
                let (sent, read) = tokio::join!(send, read_batch(Some(last.clone())));
                sent?;
                next = Some(read?);
            } else {
                send.await?;
            }
            progress.rows_read += n;
            progress.rows_written += n;
            progress.pages += 1;
            progress.watermark_after = Some(encoded);
            slowest = slowest.max(started.elapsed());
            started = Instant::now();
            tracing::debug!(
                export = self.object,
                rows = n,
                statements = statements.len(),
                "batch merged"
            );
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

    fn merge_sql(&self, cols: &[Column], stage: &Ident) -> String {
        let q = |n: &str| Ident::from_exact(n).sql();
        let source_cols = cols
            .iter()
            .map(|c| match c.kind {
                Kind::Json => format!("PARSE_JSON({}) AS {}", q(c.name), q(c.name)),
                _ => q(c.name),
            })
            .collect::<Vec<_>>()
            .join(", ");
        let updates = cols
            .iter()
            .filter(|c| c.name != "ID")
            .map(|c| format!("{} = s.{}", q(c.name), q(c.name)))
            .chain(std::iter::once(format!(
                "{} = CURRENT_TIMESTAMP()",
                q("EXPORTED_AT")
            )))
            .collect::<Vec<_>>()
            .join(", ");
        let names = cols
            .iter()
            .map(|c| q(c.name))
            .chain(std::iter::once(q("EXPORTED_AT")))
            .collect::<Vec<_>>()
            .join(", ");
        let values = cols
            .iter()
            .map(|c| format!("s.{}", q(c.name)))
            .chain(std::iter::once("CURRENT_TIMESTAMP()".to_owned()))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "MERGE INTO {dest} d USING (SELECT {source_cols} FROM {stage} \
             QUALIFY ROW_NUMBER() OVER (PARTITION BY {id} ORDER BY {ing} DESC) = 1) s \
             ON d.{id} = s.{id} \
             WHEN MATCHED THEN UPDATE SET {updates} \
             WHEN NOT MATCHED THEN INSERT ({names}) VALUES ({values})",
            dest = self.p.table.sql(),
            stage = stage.sql(),
            id = q("ID"),
            ing = q("INGESTED_AT"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_checked_before_they_are_sent() {
        assert!(Kind::Int.check("-42").is_ok());
        assert!(Kind::Decimal.check("12.50").is_ok());
        assert!(Kind::Decimal.check("1; DROP TABLE x").is_err());
        assert!(Kind::Int.check("").is_err());
        assert!(Kind::Int.check("4-2").is_err());
        // Text, timestamps and JSON travel as JSON strings inside one quoted literal.
        assert!(Kind::Text.check("it's \"q\" \\ \u{0}").is_ok());
    }
}
