//! What a reconciliation asks of a pulled table: the fingerprint of a key range, and the rows
//! of a range whose key the source no longer has, deleted or marked (`_snowsync_deleted_at`);
//! and the rows the source itself flags deleted (`deleted_column`).

use bytes::Bytes;

use super::tables::send_copy;
use super::*;

/// The column a soft-deleting table gets: when snowsync found the row gone from the source.
pub const DELETED_AT_COLUMN: &str = "_snowsync_deleted_at";

/// A key range of a pulled table as PostgreSQL literals: rows with `lo < key <= hi` (`None`:
/// open on that side).
#[derive(Debug, Clone, Copy)]
pub struct KeyRange<'a> {
    /// The primary key columns (PostgreSQL names).
    pub keys: &'a [String],
    /// The exclusive lower bound, one literal per key column.
    pub lo: Option<&'a [String]>,
    /// The inclusive upper bound.
    pub hi: Option<&'a [String]>,
}

impl KeyRange<'_> {
    /// `WHERE` of the range over `alias.` columns (`TRUE` when open on both sides).
    fn predicate(&self, alias: &str) -> Result<String> {
        let cols = self
            .keys
            .iter()
            .map(|k| ident(k).map(|q| format!("{alias}.{q}")))
            .collect::<Result<Vec<_>>>()?;
        let mut parts = vec!["TRUE".to_owned()];
        if let Some(lo) = self.lo {
            parts.push(format!("({})", crate::quote::keyset_after(&cols, lo)));
        }
        if let Some(hi) = self.hi {
            parts.push(format!("({})", crate::quote::keyset_upto(&cols, hi)));
        }
        Ok(parts.join(" AND "))
    }
}

/// Creates the temporary table `temp` (dropped at commit) with the columns `list` of `table`
/// (quoted, as their types are there), and copies `data` (binary COPY tuples) into it.
///
/// # Errors
/// A classified PostgreSQL error, about `what`.
pub(super) async fn copy_into_temp(
    tx: &tokio_postgres::Transaction<'_>,
    (temp, table, list): (&str, &str, &str),
    data: Bytes,
    what: &str,
) -> Result<u64> {
    tx.batch_execute(&format!(
        "CREATE TEMP TABLE {temp} ON COMMIT DROP AS SELECT {list} FROM {table} WITH NO DATA"
    ))
    .await
    .map_err(|e| pg_error(what, e))?;
    let sink = tx
        .copy_in::<_, Bytes>(&format!("COPY {temp} ({list}) FROM STDIN (FORMAT binary)"))
        .await
        .map_err(|e| pg_error(what, e))?;
    send_copy(sink, data).await.map_err(|e| pg_error(what, e))
}

/// How rows gone from the source leave the platform table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// `DELETE`.
    Delete,
    /// Set [`DELETED_AT_COLUMN`] (and clear it for a key that came back).
    Mark,
}

impl PlatformStore {
    /// Gives `schema.table` its [`DELETED_AT_COLUMN`] if it has none (soft deletes).
    ///
    /// # Errors
    /// A classified PostgreSQL error.
    pub async fn ensure_deleted_at(&self, schema: &PgTenant, table: &str) -> Result<()> {
        let client = self.tenant_client(schema).await?;
        client
            .batch_execute(&format!(
                "ALTER TABLE {}.{} ADD COLUMN IF NOT EXISTS {} timestamptz",
                ident(schema.schema())?,
                ident(table)?,
                ident(DELETED_AT_COLUMN)?
            ))
            .await
            .map_err(|e| pg_error(&format!("add {DELETED_AT_COLUMN} to {schema}.{table}"), e))
    }

    /// The fingerprint of the range's live rows (not those marked deleted), as
    /// [`crate::quote::key_fingerprint_sql`] defines it; compared with the source's.
    ///
    /// # Errors
    /// A classified PostgreSQL error.
    pub async fn key_fingerprint(
        &self,
        schema: &PgTenant,
        table: &str,
        range: KeyRange<'_>,
        removal: Removal,
    ) -> Result<Vec<i128>> {
        let client = self.tenant_client(schema).await?;
        let cols = range
            .keys
            .iter()
            .map(|k| ident(k).map(|q| format!("t.{q}")))
            .collect::<Result<Vec<_>>>()?;
        let live = if removal == Removal::Mark {
            format!(" AND t.{} IS NULL", ident(DELETED_AT_COLUMN)?)
        } else {
            String::new()
        };
        let from_where = format!(
            "{}.{} t WHERE {}{live}",
            ident(schema.schema())?,
            ident(table)?,
            range.predicate("t")?
        );
        let sql = crate::quote::key_fingerprint_sql(&cols, "numeric", &from_where);
        let sql = format!(
            "SELECT coalesce(a, 0)::text, coalesce(b, 0)::text, coalesce(c, 0)::text, coalesce(d, 0)::text FROM ({sql}) f(a, b, c, d)"
        );
        let row = client
            .query_one(&sql, &[])
            .await
            .map_err(|e| pg_error(&format!("fingerprint keys of {schema}.{table}"), e))?;
        (0..4)
            .map(|i| {
                row.get::<_, String>(i).parse::<i128>().map_err(|_| {
                    SyncError::transient(format!("fingerprint of {schema}.{table} is not a number"))
                })
            })
            .collect()
    }

    /// Removes the range's rows whose key is not among `source_keys` (binary COPY tuples of
    /// the key columns, in the table's types): deletes them, or marks them, in which case a
    /// marked row whose key is back in the source is unmarked. One transaction. Returns the
    /// rows deleted or newly marked.
    ///
    /// # Errors
    /// A classified PostgreSQL error.
    pub async fn remove_gone(
        &self,
        schema: &PgTenant,
        table: &str,
        range: KeyRange<'_>,
        source_keys: Bytes,
        removal: Removal,
    ) -> Result<u64> {
        let mut client = self.tenant_client(schema).await?;
        let what = format!("reconcile {schema}.{table}");
        let table_q = format!("{}.{}", ident(schema.schema())?, ident(table)?);
        let keys = range
            .keys
            .iter()
            .map(|k| ident(k))
            .collect::<Result<Vec<_>>>()?;
        let key_list = keys.join(", ");
        let matches = keys
            .iter()
            .map(|k| format!("s.{k} = t.{k}"))
            .collect::<Vec<_>>()
            .join(" AND ");
        let in_range = range.predicate("t")?;
        let tx = client.transaction().await.map_err(|e| pg_error(&what, e))?;
        copy_into_temp(
            &tx,
            ("_snowsync_keys", &table_q, &key_list),
            source_keys,
            &what,
        )
        .await?;
        tx.batch_execute("ANALYZE _snowsync_keys")
            .await
            .map_err(|e| pg_error(&what, e))?;
        let gone = format!("NOT EXISTS (SELECT 1 FROM _snowsync_keys s WHERE {matches})");
        let n = match removal {
            Removal::Delete => tx
                .execute(
                    &format!("DELETE FROM {table_q} t WHERE {in_range} AND {gone}"),
                    &[],
                )
                .await
                .map_err(|e| pg_error(&what, e))?,
            Removal::Mark => {
                let at = ident(DELETED_AT_COLUMN)?;
                tx.execute(
                    &format!(
                        "UPDATE {table_q} t SET {at} = NULL WHERE {in_range} AND t.{at} IS NOT NULL AND NOT {gone}"
                    ),
                    &[],
                )
                .await
                .map_err(|e| pg_error(&what, e))?;
                tx.execute(
                    &format!(
                        "UPDATE {table_q} t SET {at} = now() WHERE {in_range} AND t.{at} IS NULL AND {gone}"
                    ),
                    &[],
                )
                .await
                .map_err(|e| pg_error(&what, e))?
            }
        };
        tx.commit().await.map_err(|e| pg_error(&what, e))?;
        Ok(n)
    }

    /// Applies the source's own soft-delete flag after a pull: rows whose `column` is TRUE are
    /// deleted, or marked (`removal`). Idempotent: a run killed before it does it next time.
    /// Returns the rows deleted or newly marked.
    ///
    /// # Errors
    /// A classified PostgreSQL error.
    pub async fn remove_flagged(
        &self,
        schema: &PgTenant,
        table: &str,
        column: &str,
        removal: Removal,
    ) -> Result<u64> {
        let client = self.tenant_client(schema).await?;
        let table_q = format!("{}.{}", ident(schema.schema())?, ident(table)?);
        let flag = ident(column)?;
        let sql = match removal {
            Removal::Delete => format!("DELETE FROM {table_q} WHERE {flag} IS TRUE"),
            Removal::Mark => {
                let at = ident(DELETED_AT_COLUMN)?;
                format!(
                    "UPDATE {table_q} SET {at} = CASE WHEN {flag} IS TRUE THEN coalesce({at}, now()) END \
                     WHERE ({flag} IS TRUE) <> ({at} IS NOT NULL)"
                )
            }
        };
        client
            .execute(&sql, &[])
            .await
            .map_err(|e| pg_error(&format!("apply {column} of {schema}.{table}"), e))
    }
}
