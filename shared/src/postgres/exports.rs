//! What a push reads from the platform: a tenant's rows of one source, in `(ingested_at, id)`
//! order, past a position and up to a bound no open transaction can still precede.
//!
//! The bound is the newest `ingested_at` that no open transaction can still precede:
//! `ingested_at` defaults to `now()`, the start of the inserting transaction, so a transaction
//! that commits late carries an old `ingested_at`. Reading only up to just before the oldest
//! open transaction that is writing the source table (it holds `RowExclusiveLock` on it until it
//! commits; `pg_locks` and `pg_stat_activity`) means no late commit can land behind the
//! watermark. (The platform's database user needs `pg_read_all_stats` to see other sessions'
//! transaction starts.)
//!
//! A batch is read with sorts and bitmap scans off for its transaction ([`ORDERED_INDEX_ONLY`]):
//! the `(tenant, ingested_at, id)` index gives the rows in order, and `LIMIT` stops it after a
//! batch. Without statistics on the tenant's rows (a large tenant just loaded, before autovacuum
//! analyses the table) the planner estimated a few thousand rows and chose a bitmap scan and an
//! external sort of every row past the position instead: 7.1 s for a batch in the middle of 10M
//! rows, against 85 ms through the index.

use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::*;
use crate::export::{columns, Position};
use crate::tenant::config::{PushSource, TenantId};

/// Settings of a batch's transaction that leave the planner only the ordered index path.
const ORDERED_INDEX_ONLY: &str = "SET LOCAL enable_sort = off; SET LOCAL enable_bitmapscan = off";

/// Reads one source's batches for one tenant, up to the bound taken when it opened. Each row
/// holds the source's columns as exact text (`c0`, `c1`, ... in [`columns`] order), then the
/// row's position (`ingested_at` as UTC text, `id`).
pub(crate) struct ExportReader {
    client: Object,
    source: PushSource,
    tenant: String,
    upper: String,
    sql: String,
    limit: i64,
}

impl ExportReader {
    /// Takes the bound and prepares the batch query (`limit` rows a batch); `None` when the
    /// tenant has no rows of `source` yet.
    ///
    /// # Errors
    /// `transient` when the database cannot be reached; a classified PostgreSQL error.
    pub(crate) async fn open(
        store: &PlatformStore,
        tenant: &TenantId,
        source: PushSource,
        limit: usize,
    ) -> Result<Option<Self>> {
        let client = store.client().await?;
        let table = source.as_str();
        let bound = format!(
            "SELECT to_char(LEAST(\
               (SELECT max(ingested_at) FROM platform.{table} WHERE tenant = $1), \
               (SELECT min(a.xact_start) - interval '1 microsecond' FROM pg_locks l \
                 JOIN pg_stat_activity a ON a.pid = l.pid \
                 WHERE l.relation = 'platform.{table}'::regclass AND l.mode = 'RowExclusiveLock' \
                   AND l.pid <> pg_backend_pid())\
             ) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')"
        );
        let row = client
            .query_one(&bound, &[&tenant.as_str()])
            .await
            .map_err(|e| pg_error("read the push upper bound", e))?;
        let Some(upper) = row.get::<_, Option<String>>(0) else {
            return Ok(None);
        };
        let select = columns(source)
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{} AS c{i}", c.kind.pg_text(c.pg)))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {select}, to_char(ingested_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') AS position_at, id AS position_id \
             FROM platform.{table} WHERE tenant = $1 AND ingested_at <= ($2::text || '+00')::timestamptz \
             AND ($3::text IS NULL OR (ingested_at, id) > (($3::text || '+00')::timestamptz, $4::bigint)) \
             ORDER BY ingested_at, id LIMIT $5"
        );
        Ok(Some(Self {
            client,
            source,
            tenant: tenant.as_str().to_owned(),
            upper,
            sql,
            limit: i64::try_from(limit.max(1)).unwrap_or(i64::MAX),
        }))
    }

    /// Whether a batch of `rows` rows was full, so more may follow.
    pub(crate) fn full(&self, rows: usize) -> bool {
        i64::try_from(rows).unwrap_or(i64::MAX) >= self.limit
    }

    /// The next batch after `after` (from the start when `None`).
    ///
    /// # Errors
    /// A classified PostgreSQL error.
    pub(crate) async fn read(&mut self, after: Option<&Position>) -> Result<Vec<Row>> {
        let after_ts = after.map(|p| p.ingested_at.clone());
        let after_id = after.map_or(0, |p| p.id);
        let params: [&(dyn ToSql + Sync); 5] =
            [&self.tenant, &self.upper, &after_ts, &after_id, &self.limit];
        let what = format!("read platform.{}", self.source.as_str());
        let tx = self
            .client
            .transaction()
            .await
            .map_err(|e| pg_error(&what, e))?;
        tx.batch_execute(ORDERED_INDEX_ONLY)
            .await
            .map_err(|e| pg_error(&what, e))?;
        let rows = tx
            .query(&self.sql, &params)
            .await
            .map_err(|e| pg_error(&what, e))?;
        tx.commit().await.map_err(|e| pg_error(&what, e))?;
        Ok(rows)
    }
}
