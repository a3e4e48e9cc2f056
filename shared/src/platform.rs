//! The platform's PostgreSQL database: where pulled tables land.
//!
//! A full refresh loads into a staging table with `COPY ... FROM STDIN` (text format, written
//! straight from the Arrow columns), builds the primary key there, and swaps it in with one
//! short transaction (drop old, rename new), so readers see the old table or the new one and
//! never an empty or half-loaded table.

use bytes::Bytes;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use futures::SinkExt;
use tokio_postgres::NoTls;

use crate::error::{ErrorKind, Result, SyncError};
use crate::quote::pg_ident;

/// The column every pulled table gets: when the row was written by snowsync.
pub const SYNCED_AT_COLUMN: &str = "_snowsync_synced_at";

/// The environment variable holding the platform database URL.
pub const DATABASE_URL_VAR: &str = "SNOWSYNC_DATABASE_URL";

/// A destination column: PostgreSQL name and type.
#[derive(Debug, Clone)]
pub struct PgColumn {
    /// The column name (the source name in lower case).
    pub name: String,
    /// The PostgreSQL type (`bigint`, `numeric(12,2)`, ...).
    pub pg_type: String,
}

/// The platform database, through a connection pool built once per process.
#[derive(Clone)]
pub struct PlatformStore {
    pool: Pool,
}

impl std::fmt::Debug for PlatformStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PlatformStore")
    }
}

pub(crate) fn pg_error(what: &str, e: tokio_postgres::Error) -> SyncError {
    // Connection-level failures are worth retrying; SQL errors with a state are not, except
    // serialization failures, deadlocks and lock timeouts.
    let kind = match e.code().map(|c| c.code()) {
        None => ErrorKind::Transient,
        Some(c)
            if c.starts_with("08")
                || c == "40001"
                || c == "40P01"
                || c == "55P03"
                || c == "57P01" =>
        {
            ErrorKind::Transient
        }
        Some(c) if c.starts_with("42501") => ErrorKind::Privilege,
        Some(_) => ErrorKind::Config,
    };
    let detail = e
        .as_db_error()
        .map(|d| d.message().to_owned())
        .unwrap_or_else(|| e.to_string());
    SyncError::new(kind, format!("{what}: PostgreSQL: {detail}")).with_source(e)
}

fn ident(name: &str) -> Result<String> {
    pg_ident(name).map_err(|e| SyncError::config(format!("PostgreSQL name: {e}")))
}

/// A short, stable staging-table name for `table` (fits PostgreSQL's 63-byte limit).
fn staging_name(table: &str) -> String {
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
    /// Builds the pool from a `postgres://` URL. Connections open on first use.
    ///
    /// # Errors
    /// A `config` error when the URL does not parse (the URL itself is not echoed: it may hold a password).
    pub fn connect(url: &str) -> Result<Self> {
        let pg: tokio_postgres::Config = url.parse().map_err(|_| {
            SyncError::config(format!(
                "{DATABASE_URL_VAR} is not a PostgreSQL URL: write postgres://user:password@host:port/database"
            ))
        })?;
        let mgr = Manager::from_config(
            pg,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(mgr)
            .max_size(8)
            .build()
            .map_err(|e| SyncError::config("could not build the PostgreSQL pool").with_source(e))?;
        Ok(Self { pool })
    }

    /// Builds the pool from `SNOWSYNC_DATABASE_URL`.
    ///
    /// # Errors
    /// A `config` error when the variable is missing or malformed.
    pub fn from_env() -> Result<Self> {
        let url = std::env::var(DATABASE_URL_VAR).map_err(|_| {
            SyncError::config(format!(
                "{DATABASE_URL_VAR} is not set: point it at the platform database (locally: eval \"$(scripts/stack env)\")"
            ))
        })?;
        Self::connect(&url)
    }

    /// A pooled connection.
    ///
    /// # Errors
    /// `transient` when the database cannot be reached.
    pub async fn client(&self) -> Result<Object> {
        self.pool.get().await.map_err(|e| {
            SyncError::transient(format!("could not connect to the platform database: {e}"))
        })
    }

    /// Starts a full refresh of `schema.table`: creates the schema when missing and an empty
    /// staging table with `columns` and [`SYNCED_AT_COLUMN`].
    ///
    /// # Errors
    /// A classified PostgreSQL error.
    pub async fn begin_full_refresh(
        &self,
        schema: &str,
        table: &str,
        columns: &[PgColumn],
        primary_key: &[String],
    ) -> Result<FullRefresh> {
        let client = self.client().await?;
        let schema_q = ident(schema)?;
        let stage = staging_name(table);
        let stage_q = format!("{schema_q}.{}", ident(&stage)?);
        let mut cols = Vec::with_capacity(columns.len() + 1);
        for c in columns {
            cols.push(format!("{} {}", ident(&c.name)?, c.pg_type));
        }
        cols.push(format!(
            "{} timestamptz NOT NULL DEFAULT now()",
            ident(SYNCED_AT_COLUMN)?
        ));
        let ddl = format!(
            "CREATE SCHEMA IF NOT EXISTS {schema_q}; DROP TABLE IF EXISTS {stage_q}; CREATE TABLE {stage_q} ({})",
            cols.join(", ")
        );
        client
            .batch_execute(&ddl)
            .await
            .map_err(|e| pg_error(&format!("create staging table for {schema}.{table}"), e))?;
        let copy = format!(
            "COPY {stage_q} ({}) FROM STDIN",
            columns
                .iter()
                .map(|c| ident(&c.name))
                .collect::<Result<Vec<_>>>()?
                .join(", ")
        );
        Ok(FullRefresh {
            client,
            schema: schema.to_owned(),
            table: table.to_owned(),
            stage,
            copy,
            primary_key: primary_key.to_vec(),
            rows: 0,
        })
    }
}

/// A full refresh under way: pages are copied into the staging table, then swapped in.
pub struct FullRefresh {
    client: Object,
    schema: String,
    table: String,
    stage: String,
    copy: String,
    primary_key: Vec<String>,
    rows: u64,
}

impl FullRefresh {
    /// Copies one page given as COPY text (tab-separated lines) into the staging table.
    ///
    /// # Errors
    /// A classified PostgreSQL error, e.g. a value PostgreSQL rejects.
    pub async fn copy_page(&mut self, data: Bytes) -> Result<u64> {
        let what = format!("load {}.{}", self.schema, self.table);
        let sink = self
            .client
            .copy_in::<_, Bytes>(&self.copy)
            .await
            .map_err(|e| pg_error(&what, e))?;
        futures::pin_mut!(sink);
        sink.send(data).await.map_err(|e| pg_error(&what, e))?;
        let n = sink.finish().await.map_err(|e| pg_error(&what, e))?;
        self.rows += n;
        Ok(n)
    }

    /// Builds the primary key on the staging table and swaps it in for the live table in one
    /// transaction. Returns the rows loaded.
    ///
    /// # Errors
    /// A classified PostgreSQL error; e.g. `config` when the source key is not unique. The
    /// live table is untouched on error.
    pub async fn commit(self) -> Result<u64> {
        let schema_q = ident(&self.schema)?;
        let stage_q = ident(&self.stage)?;
        let table_q = ident(&self.table)?;
        let what = format!("swap in {}.{}", self.schema, self.table);
        if !self.primary_key.is_empty() {
            let cols = self
                .primary_key
                .iter()
                .map(|c| ident(c))
                .collect::<Result<Vec<_>>>()?
                .join(", ");
            let pkey = ident(&format!("{}_pkey", self.stage))?;
            self.client
                .batch_execute(&format!(
                    "ALTER TABLE {schema_q}.{stage_q} ADD CONSTRAINT {pkey} PRIMARY KEY ({cols})"
                ))
                .await
                .map_err(|e| {
                    let mut err = pg_error(&what, e);
                    if err.kind() == ErrorKind::Config {
                        err = err.context(format!(
                            "the configured primary key ({}) is not unique or has NULLs in the source",
                            self.primary_key.join(", ")
                        ));
                    }
                    err
                })?;
        }
        let rename_index = if self.primary_key.is_empty() {
            String::new()
        } else {
            format!(
                "ALTER INDEX {schema_q}.{} RENAME TO {};",
                ident(&format!("{}_pkey", self.stage))?,
                ident(&format!("{}_pkey", self.table))?
            )
        };
        self.client
            .batch_execute(&format!(
                "BEGIN; DROP TABLE IF EXISTS {schema_q}.{table_q}; ALTER TABLE {schema_q}.{stage_q} RENAME TO {table_q}; {rename_index} COMMIT;"
            ))
            .await
            .map_err(|e| pg_error(&what, e))?;
        // Fresh statistics for readers' plans; not worth failing the run over.
        if let Err(e) = self
            .client
            .batch_execute(&format!("ANALYZE {schema_q}.{table_q}"))
            .await
        {
            tracing::warn!(error = %e, table = %self.table, "ANALYZE after the swap failed");
        }
        Ok(self.rows)
    }
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
