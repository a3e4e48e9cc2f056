//! A pulled table in the platform database: its staging table, pages written by binary COPY
//! (or upserted), its key, and the atomic swap.

use bytes::Bytes;
use futures::SinkExt;
use tokio_postgres::CopyInSink;

use super::*;

/// A destination column: PostgreSQL name and type.
#[derive(Debug, Clone)]
pub struct PgColumn {
    /// The column name (the source name in lower case).
    pub name: String,
    /// The PostgreSQL type (`bigint`, `numeric(12,2)`, ...).
    pub pg_type: String,
}

/// A duplicate key in a staging table: the configured key is not unique in the source.
fn not_unique(what: &str, primary_key: &[String]) -> SyncError {
    SyncError::config(format!(
        "{what}: the configured primary key ({}) is not unique in the source: fix primary_key in [[pull]]",
        primary_key.join(", ")
    ))
}

/// A short, stable staging-table name for `table` (fits PostgreSQL's 63-byte limit).
pub(super) fn staging_name(table: &str) -> String {
    // FNV-1a: stable across builds, unlike std's hasher.
    let mut h: u32 = 0x811c_9dc5;
    for b in table.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    let mut prefix: String = String::new();
    for c in table.chars() {
        if prefix.len() + c.len_utf8() > 38 {
            break;
        }
        prefix.push(c);
    }
    format!("_snowsync_load_{prefix}_{h:08x}")
}

impl PlatformStore {
    /// Creates (or recreates, empty) the staging table of `schema.table`, with `columns`,
    /// [`SYNCED_AT_COLUMN`] and no key yet (built by [`Platform::swap_in`]), in the tenant's
    /// schema ([`PlatformStore::ensure_tenant`] made it) and under its role, as every write of
    /// this file.
    ///
    /// # Errors
    /// A classified PostgreSQL error.
    pub async fn prepare_staging(
        &self,
        schema: &PgTenant,
        table: &str,
        columns: &[PgColumn],
    ) -> Result<()> {
        self.create_staging(schema, table, columns, false).await
    }

    /// [`Platform::prepare_staging`] for a backfill read in key ranges by workers of their own
    /// ([`Target::Range`]): every row is tagged with its range (a column whose default is the
    /// writing transaction's `snowsync.range` setting), so a resumed range discards only its
    /// own rows past its checkpoint. The swap drops the tag (a catalog change, no rewrite).
    ///
    /// # Errors
    /// A classified PostgreSQL error.
    pub async fn prepare_ranges(
        &self,
        schema: &PgTenant,
        table: &str,
        columns: &[PgColumn],
    ) -> Result<()> {
        self.create_staging(schema, table, columns, true).await
    }

    async fn create_staging(
        &self,
        schema: &PgTenant,
        table: &str,
        columns: &[PgColumn],
        ranges: bool,
    ) -> Result<()> {
        let client = self.tenant_client(schema).await?;
        let schema_q = ident(schema.schema())?;
        let stage_q = format!("{schema_q}.{}", ident(&staging_name(table))?);
        let mut cols = Vec::with_capacity(columns.len() + 2);
        for c in columns {
            cols.push(format!("{} {}", ident(&c.name)?, c.pg_type));
        }
        cols.push(format!(
            "{} timestamptz NOT NULL DEFAULT now()",
            ident(SYNCED_AT_COLUMN)?
        ));
        if ranges {
            cols.push(format!(
                "{} smallint NOT NULL DEFAULT current_setting('{RANGE_SETTING}')::smallint",
                ident(RANGE_COLUMN)?
            ));
        }
        // No primary key yet: pages go in by plain COPY (no index to maintain row by row),
        // and the key is built once, by sorting, before the last pages (`build_key`). No
        // autovacuum either: its ANALYZE of a table being filled is wasted work, and the lock it
        // holds makes the key build wait a second (deadlock_timeout) until it gives up. The
        // swap turns autovacuum back on and analyzes the table itself.
        let ddl = format!(
            "DROP TABLE IF EXISTS {stage_q}; \
             CREATE TABLE {stage_q} ({}) WITH (autovacuum_enabled = false)",
            cols.join(", ")
        );
        client
            .batch_execute(&ddl)
            .await
            .map_err(|e| pg_error(&format!("create staging table for {schema}.{table}"), e))
    }

    /// Whether `schema.table` (or its staging table) exists with these columns (names and
    /// types; more are fine), so pages can be written into it.
    ///
    /// # Errors
    /// A classified PostgreSQL error.
    pub async fn has_table(
        &self,
        schema: &PgTenant,
        table: &str,
        target: Target,
        columns: &[PgColumn],
    ) -> Result<bool> {
        let client = self.tenant_client(schema).await?;
        let name = target.table_name(table);
        let rows = client
            .query(
                "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a \
                 JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
                &[&schema.schema(), &name],
            )
            .await
            .map_err(|e| pg_error(&format!("inspect {schema}.{name}"), e))?;
        // Columns beyond the source's (the soft-delete mark, a column the source dropped, kept,
        // a ranged staging table's range tag)
        // do not change what a page fits; nor does the order (an added column comes last).
        let have: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        let mut want: Vec<(String, String)> = columns
            .iter()
            .map(|c| (c.name.clone(), normalise_type(&c.pg_type)))
            .collect();
        want.push((
            SYNCED_AT_COLUMN.to_owned(),
            "timestamp with time zone".to_owned(),
        ));
        Ok(want.iter().all(|w| have.contains(w)))
    }

    /// Writes one page given as binary COPY tuples ([`crate::decode::write_copy_binary`]).
    ///
    /// - Into a staging table (full refresh, backfill) the page is copied straight in, in a
    ///   transaction whose start time stamps its rows (`_snowsync_synced_at`); the stamp is
    ///   returned for the checkpoint (see [`Platform::discard_staged_after`]). Should the staging
    ///   table already have its key (a swap that failed after building it) and the row be there,
    ///   the page is upserted instead.
    /// - Into the live table (incremental) a keyed page is upserted: copied into a temporary
    ///   table, then `INSERT ... ON CONFLICT DO UPDATE`, in one transaction, so a page written
    ///   twice (a retry, a resumed run, a lookback overlap) changes nothing.
    /// - Without a key the page is copied straight in.
    ///
    /// `nulled` are columns the source dropped: an upserted row gets NULL there.
    ///
    /// Returns the rows written and, for a staging table, the page's stamp.
    ///
    /// # Errors
    /// A classified PostgreSQL error; `config` when the source key is not unique within a page.
    pub async fn write_page(
        &self,
        schema: &PgTenant,
        table: &str,
        target: Target,
        (columns, nulled): (&[PgColumn], &[String]),
        primary_key: &[String],
        data: Bytes,
    ) -> Result<(u64, Option<String>)> {
        let mut client = self.tenant_client(schema).await?;
        let name = target.table_name(table);
        let what = format!("load {schema}.{name}");
        let target_q = format!("{}.{}", ident(schema.schema())?, ident(&name)?);
        let col_list = columns
            .iter()
            .map(|c| ident(&c.name))
            .collect::<Result<Vec<_>>>()?
            .join(", ");
        if primary_key.is_empty() || target.is_staging() {
            let tx = client.transaction().await.map_err(|e| pg_error(&what, e))?;
            if let Target::Range(i) = target {
                tx.batch_execute(&format!("SET LOCAL {RANGE_SETTING} = '{i}'"))
                    .await
                    .map_err(|e| pg_error(&what, e))?;
            }
            let stamp: String = tx
                // UTC, fixed format: the same text whatever the session's DateStyle/TimeZone.
                .query_one(
                    "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')",
                    &[],
                )
                .await
                .map_err(|e| pg_error(&what, e))?
                .get(0);
            let sink = tx
                .copy_in::<_, Bytes>(&format!(
                    "COPY {target_q} ({col_list}) FROM STDIN (FORMAT binary)"
                ))
                .await
                .map_err(|e| pg_error(&what, e))?;
            // A staging table with its key (built before the last pages, see `build_key`)
            // refuses a row twice: a resume discards the rows past its checkpoint first, so
            // that is a key not unique in the source.
            let n = send_copy(sink, data).await.map_err(|e| {
                if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) {
                    not_unique(&what, primary_key)
                } else {
                    pg_error(&what, e)
                }
            })?;
            tx.commit().await.map_err(|e| pg_error(&what, e))?;
            return Ok((n, Some(stamp)));
        }
        let tx = client.transaction().await.map_err(|e| pg_error(&what, e))?;
        tx.batch_execute(&format!(
            "CREATE TEMP TABLE _snowsync_page (LIKE {target_q} INCLUDING DEFAULTS) ON COMMIT DROP"
        ))
        .await
        .map_err(|e| pg_error(&what, e))?;
        let sink = tx
            .copy_in::<_, Bytes>(&format!(
                "COPY _snowsync_page ({col_list}) FROM STDIN (FORMAT binary)"
            ))
            .await
            .map_err(|e| pg_error(&what, e))?;
        send_copy(sink, data)
            .await
            .map_err(|e| pg_error(&what, e))?;
        let updates = columns
            .iter()
            .filter(|c| !primary_key.contains(&c.name))
            .map(|c| ident(&c.name).map(|q| format!("{q} = EXCLUDED.{q}")))
            .chain(
                nulled
                    .iter()
                    .map(|c| ident(c).map(|q| format!("{q} = NULL"))),
            )
            .chain(std::iter::once(
                ident(SYNCED_AT_COLUMN).map(|q| format!("{q} = now()")),
            ))
            .collect::<Result<Vec<_>>>()?
            .join(", ");
        let n = tx
            .execute(
                &format!(
                    "INSERT INTO {target_q} ({col_list}) SELECT {col_list} FROM _snowsync_page \
                     ON CONFLICT ({}) DO UPDATE SET {updates}",
                    idents(primary_key)?
                ),
                &[],
            )
            .await
            .map_err(|e| {
                let err = pg_error(&what, e);
                if err.message().contains("cannot affect row a second time") {
                    SyncError::config(format!(
                        "{what}: the configured primary key ({}) is not unique in the source: fix primary_key in [[pull]]",
                        primary_key.join(", ")
                    ))
                } else {
                    err
                }
            })?;
        tx.commit().await.map_err(|e| pg_error(&what, e))?;
        Ok((n, None))
    }

    /// Removes from the staging table every row stamped after `stamp` (every row when `None`):
    /// pages committed after the checkpoint being resumed, which the run reads again.
    ///
    /// # Errors
    /// A classified PostgreSQL error.
    pub async fn discard_staged_after(
        &self,
        schema: &PgTenant,
        table: &str,
        target: Target,
        stamp: Option<&str>,
    ) -> Result<()> {
        let client = self.tenant_client(schema).await?;
        let stage_q = format!(
            "{}.{}",
            ident(schema.schema())?,
            ident(&staging_name(table))?
        );
        let what = format!("discard uncheckpointed rows of {schema}.{table}");
        let n = client
            .execute(
                &format!(
                    "DELETE FROM {stage_q} WHERE ($1::text IS NULL OR {} > ($1::text || '+00')::timestamptz){}",
                    ident(SYNCED_AT_COLUMN)?,
                    match target {
                        Target::Range(i) => format!(" AND {} = {i}", ident(RANGE_COLUMN)?),
                        _ => String::new(),
                    }
                ),
                &[&stamp],
            )
            .await
            .map_err(|e| pg_error(&what, e))?;
        if n > 0 {
            tracing::info!(table, rows = n, "discarded staged rows past the checkpoint");
        }
        Ok(())
    }

    /// Drops the staging table of `schema.table`, if there is one: a run that stops for good
    /// (over its quota) gives its space back, and the next run starts over.
    ///
    /// # Errors
    /// A classified PostgreSQL error.
    pub async fn drop_staging(&self, schema: &PgTenant, table: &str) -> Result<()> {
        let client = self.tenant_client(schema).await?;
        let stage_q = format!(
            "{}.{}",
            ident(schema.schema())?,
            ident(&staging_name(table))?
        );
        client
            .batch_execute(&format!("DROP TABLE IF EXISTS {stage_q}"))
            .await
            .map_err(|e| pg_error(&format!("drop the staging table of {schema}.{table}"), e))
    }

    /// Builds the staging table's primary key in one sort, unless it is there already (a
    /// pull builds it before its last pages, so the build overlaps their reading; a failed
    /// swap leaves it). A duplicate here is a key that is not unique in the source.
    ///
    /// # Errors
    /// `config` for a key not unique in the source; a classified PostgreSQL error otherwise.
    pub async fn build_key(
        &self,
        schema: &PgTenant,
        table: &str,
        primary_key: &[String],
    ) -> Result<()> {
        if primary_key.is_empty() {
            return Ok(());
        }
        let mut client = self.tenant_client(schema).await?;
        let schema_q = ident(schema.schema())?;
        let stage = staging_name(table);
        let stage_q = ident(&stage)?;
        let pkey = format!("{stage}_pkey");
        let what = format!("build the primary key of {schema}.{table}");
        let built = client
            .query_opt(
                "SELECT 1 FROM pg_constraint WHERE conname = $1 AND conrelid = $2::text::regclass",
                &[&pkey, &format!("{schema_q}.{stage_q}")],
            )
            .await
            .map_err(|e| pg_error(&what, e))?
            .is_some();
        if built {
            return Ok(());
        }
        // The sort gets at least 256 MB for this build alone: with PostgreSQL's 64 MB default
        // a million-row key spills to disk (0.40 s against 0.27 s here).
        let sql = format!(
            "SELECT set_config('maintenance_work_mem', GREATEST(setting::bigint, 262144)::text || 'kB', true) \
             FROM pg_settings WHERE name = 'maintenance_work_mem'; \
             ALTER TABLE {schema_q}.{stage_q} ADD CONSTRAINT {} PRIMARY KEY ({})",
            ident(&pkey)?,
            idents(primary_key)?
        );
        let build = async {
            let tx = client.transaction().await?;
            tx.batch_execute(&sql).await?;
            tx.commit().await
        };
        build.await.map_err(|e| {
            if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) {
                not_unique(&what, primary_key)
            } else {
                pg_error(&what, e)
            }
        })
    }

    /// Swaps the staging table in for `schema.table` in one transaction (drop the old table,
    /// rename the new one and its key), so readers see the old rows or the new, never neither.
    ///
    /// # Errors
    /// A classified PostgreSQL error; the live table is untouched on error.
    pub async fn swap_in(
        &self,
        schema: &PgTenant,
        table: &str,
        primary_key: &[String],
    ) -> Result<()> {
        let started = std::time::Instant::now();
        self.build_key(schema, table, primary_key).await?;
        let client = self.tenant_client(schema).await?;
        let schema_q = ident(schema.schema())?;
        let stage = staging_name(table);
        let stage_q = ident(&stage)?;
        let table_q = ident(table)?;
        let built_ms = started.elapsed().as_millis() as u64;
        let rename_index = if !primary_key.is_empty() {
            format!(
                "ALTER INDEX {schema_q}.{} RENAME TO {};",
                ident(&format!("{stage}_pkey"))?,
                ident(&format!("{table}_pkey"))?
            )
        } else {
            String::new()
        };
        client
            .batch_execute(&format!(
                "BEGIN; ALTER TABLE {schema_q}.{stage_q} RESET (autovacuum_enabled), DROP COLUMN IF EXISTS {}; \
                 DROP TABLE IF EXISTS {schema_q}.{table_q}; ALTER TABLE {schema_q}.{stage_q} RENAME TO {table_q}; {rename_index} COMMIT;",
                ident(RANGE_COLUMN)?
            ))
            .await
            .map_err(|e| pg_error(&format!("swap in {schema}.{table}"), e))?;
        // Fresh statistics for readers' plans; not worth failing the run over.
        if let Err(e) = client
            .batch_execute(&format!("ANALYZE {schema_q}.{table_q}"))
            .await
        {
            tracing::warn!(error = %e, table, "ANALYZE after the swap failed");
        }
        tracing::debug!(
            table,
            key_ms = built_ms,
            total_ms = started.elapsed().as_millis() as u64,
            "swapped in"
        );
        Ok(())
    }
}
/// Which table a page goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The table readers use (incremental upserts).
    Live,
    /// The staging table of a full refresh or backfill, swapped in at the end.
    Staging,
    /// One key range's rows of a backfill's staging table (see [`Platform::prepare_ranges`]).
    Range(u16),
}

impl Target {
    pub(super) fn table_name(self, table: &str) -> String {
        match self {
            Target::Live => table.to_owned(),
            Target::Staging | Target::Range(_) => staging_name(table),
        }
    }

    /// Whether pages go into a staging table (swapped in at the end).
    pub fn is_staging(self) -> bool {
        self != Target::Live
    }
}

/// The column tagging a ranged staging table's rows with their range.
const RANGE_COLUMN: &str = "_snowsync_range";

/// The transaction setting a ranged page's rows take their tag from.
const RANGE_SETTING: &str = "snowsync.range";

fn idents(names: &[String]) -> Result<String> {
    Ok(names
        .iter()
        .map(|c| ident(c))
        .collect::<Result<Vec<_>>>()?
        .join(", "))
}

/// How `format_type` spells the types we create.
pub fn normalise_type(t: &str) -> String {
    match t {
        "time" => "time without time zone".into(),
        "timestamp" => "timestamp without time zone".into(),
        "timestamptz" => "timestamp with time zone".into(),
        other => other.to_owned(),
    }
}

/// Sends one binary COPY stream: header, the page's tuples, trailer.
pub(super) async fn send_copy(
    sink: CopyInSink<Bytes>,
    data: Bytes,
) -> std::result::Result<u64, tokio_postgres::Error> {
    use crate::decode::{BINARY_HEADER, BINARY_TRAILER};
    futures::pin_mut!(sink);
    for chunk in [
        Bytes::from_static(BINARY_HEADER),
        data,
        Bytes::from_static(BINARY_TRAILER),
    ] {
        sink.feed(chunk).await?;
    }
    sink.finish().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_names_fit_and_differ() {
        let a = staging_name(&"x".repeat(63));
        let b = staging_name(&format!("{}y", "x".repeat(62)));
        assert!(a.len() <= 63 && b.len() <= 63);
        assert_ne!(a, b);
        assert_eq!(staging_name("opportunities"), staging_name("opportunities"));
    }
}
