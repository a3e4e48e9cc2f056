//! A pulled table's columns as the platform has them, and changing them in place when the
//! source's change: columns added, widened, or kept (and marked) when the source drops them;
//! and the pages of a column backfill, which update only the columns added.

use bytes::Bytes;

use super::reconcile::copy_into_temp;
use super::tables::normalise_type;
use super::*;

/// A column of a pulled table as PostgreSQL has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformColumn {
    /// The column name.
    pub name: String,
    /// Its type as `format_type` spells it.
    pub pg_type: String,
    /// Marked as dropped from the source (kept, NULL for rows written since).
    pub dropped: bool,
}

/// The comment that marks a column the source dropped: it is reported once, when marked.
const DROPPED_MARK: &str = "snowsync: dropped from the source; NULL in rows written since";

/// A change to a pulled table's columns.
#[derive(Debug, Clone)]
pub enum ColumnChange {
    /// `ADD COLUMN`.
    Add(PgColumn),
    /// `ALTER COLUMN ... TYPE` (a widening: every value converts exactly).
    Retype(PgColumn),
    /// The source dropped it: kept, marked.
    MarkDropped(String),
}

impl PlatformStore {
    /// The columns of `schema.table` (or its staging table), in order, without snowsync's own
    /// (`_snowsync_*`); `None` when the table does not exist.
    ///
    /// # Errors
    /// A classified PostgreSQL error.
    pub async fn table_columns(
        &self,
        schema: &PgTenant,
        table: &str,
        target: Target,
    ) -> Result<Option<Vec<PlatformColumn>>> {
        let client = self.tenant_client(schema).await?;
        let name = target.table_name(table);
        let rows = client
            .query(
                "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), \
                 coalesce(col_description(c.oid, a.attnum), '') = $3 FROM pg_class c \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
                 WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind = 'r' ORDER BY a.attnum",
                &[&schema.schema(), &name, &DROPPED_MARK],
            )
            .await
            .map_err(|e| pg_error(&format!("inspect {schema}.{name}"), e))?;
        if rows.is_empty() {
            return Ok(None);
        }
        Ok(Some(
            rows.iter()
                .filter_map(|r| {
                    let name: Option<String> = r.get(0);
                    Some(PlatformColumn {
                        name: name?,
                        pg_type: r.get(1),
                        dropped: r.get(2),
                    })
                })
                .filter(|c| !c.name.starts_with("_snowsync_"))
                .collect(),
        ))
    }

    /// Applies `changes` to `schema.table` (or its staging table) in one transaction.
    ///
    /// # Errors
    /// `config` when a value does not fit a widened type (naming the column and the fix); a
    /// classified PostgreSQL error otherwise.
    pub async fn alter_columns(
        &self,
        schema: &PgTenant,
        table: &str,
        target: Target,
        changes: &[ColumnChange],
    ) -> Result<()> {
        let client = self.tenant_client(schema).await?;
        let name = target.table_name(table);
        let table_q = format!("{}.{}", ident(schema.schema())?, ident(&name)?);
        let mut sql = vec!["BEGIN".to_owned()];
        for change in changes {
            sql.push(match change {
                ColumnChange::Add(c) => format!(
                    "ALTER TABLE {table_q} ADD COLUMN IF NOT EXISTS {} {}",
                    ident(&c.name)?,
                    c.pg_type
                ),
                ColumnChange::Retype(c) => {
                    let q = ident(&c.name)?;
                    format!(
                        "ALTER TABLE {table_q} ALTER COLUMN {q} TYPE {} USING {q}::{}",
                        c.pg_type, c.pg_type
                    )
                }
                ColumnChange::MarkDropped(c) => format!(
                    "COMMENT ON COLUMN {table_q}.{} IS {}",
                    ident(c)?,
                    crate::quote::pg_string(DROPPED_MARK)
                        .map_err(|e| SyncError::config(e.to_string()))?
                ),
            });
        }
        sql.push("COMMIT".to_owned());
        client.batch_execute(&sql.join("; ")).await.map_err(|e| {
            if e.code() == Some(&tokio_postgres::error::SqlState::NUMERIC_VALUE_OUT_OF_RANGE) {
                SyncError::config(format!(
                    "{schema}.{name}: a value does not fit the source's new column type: run snowsync pull --backfill for the table"
                ))
            } else {
                pg_error(&format!("change the columns of {schema}.{name}"), e)
            }
        })
    }

    /// Writes one page of a column backfill: `columns` (the key first, then the columns being
    /// filled) as binary COPY tuples, updating only those columns of the live rows with the
    /// same key (rows not there yet are the pull's). Returns the rows updated.
    ///
    /// # Errors
    /// A classified PostgreSQL error.
    pub async fn update_columns(
        &self,
        schema: &PgTenant,
        table: &str,
        primary_key: &[String],
        columns: &[PgColumn],
        data: Bytes,
    ) -> Result<u64> {
        let mut client = self.tenant_client(schema).await?;
        let what = format!("backfill columns of {schema}.{table}");
        let table_q = format!("{}.{}", ident(schema.schema())?, ident(table)?);
        let names = columns
            .iter()
            .map(|c| ident(&c.name))
            .collect::<Result<Vec<_>>>()?;
        let list = names.join(", ");
        let keys = primary_key
            .iter()
            .map(|k| ident(k).map(|q| format!("t.{q} = p.{q}")))
            .collect::<Result<Vec<_>>>()?
            .join(" AND ");
        let set = columns
            .iter()
            .filter(|c| !primary_key.contains(&c.name))
            .map(|c| ident(&c.name).map(|q| format!("{q} = p.{q}")))
            .collect::<Result<Vec<_>>>()?
            .join(", ");
        let tx = client.transaction().await.map_err(|e| pg_error(&what, e))?;
        copy_into_temp(&tx, ("_snowsync_cols", &table_q, &list), data, &what).await?;
        let n = tx
            .execute(
                &format!("UPDATE {table_q} t SET {set} FROM _snowsync_cols p WHERE {keys}"),
                &[],
            )
            .await
            .map_err(|e| pg_error(&what, e))?;
        tx.commit().await.map_err(|e| pg_error(&what, e))?;
        Ok(n)
    }
}

/// Whether a platform column of type `old` converts exactly to `new` (both as `format_type`
/// spells them, see [`normalise_type`]): a bigint (a `NUMBER(p,0)`, p <= 18) into a numeric
/// with at least 18 integer digits, or a numeric into one with no fewer integer or fractional
/// digits. Text, timestamps and the rest map to one PostgreSQL type whatever their length or
/// precision, so they never need converting.
pub fn widens(old: &str, new: &str) -> bool {
    let numeric = |t: &str| -> Option<(u32, u32)> {
        let body = t.strip_prefix("numeric(")?.strip_suffix(')')?;
        let (p, s) = body.split_once(',')?;
        Some((p.trim().parse().ok()?, s.trim().parse().ok()?))
    };
    match (old, numeric(old), numeric(&normalise_type(new))) {
        ("bigint", _, Some((p, s))) => p - s >= 18,
        (_, Some((p1, s1)), Some((p2, s2))) => s2 >= s1 && p2 - s2 >= p1 - s1,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_exact_conversions_widen() {
        assert!(widens("bigint", "numeric(38,0)"));
        assert!(widens("numeric(10,2)", "numeric(12,2)"));
        assert!(widens("numeric(10,2)", "numeric(38,4)"));
        assert!(!widens("bigint", "numeric(12,2)"));
        assert!(!widens("numeric(12,2)", "numeric(12,4)"));
        assert!(!widens("numeric(38,0)", "bigint"));
        assert!(!widens("text", "numeric(38,0)"));
        assert!(!widens("timestamp without time zone", "timestamptz"));
    }
}
