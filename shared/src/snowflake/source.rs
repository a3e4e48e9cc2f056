//! What a pull reads from Snowflake: the table's columns, and the SQL of its pages and
//! boundary pre-scans (keyset and range predicates, select list, order).

use crate::decode::KeyValue;
use crate::error::{Result, SyncError};
use crate::quote::{sf_string, Ident};
use crate::snowflake::{int_at, text_at, Session};
use crate::tenant::config::PullTable;
use crate::types::SfType;

/// A source column as the run reads it.
#[derive(Debug, Clone)]
pub(crate) struct SourceColumn {
    pub(crate) ident: Ident,
    pub(crate) sf_type: SfType,
    /// The most bytes one of its values can take in a page, from its declared length.
    pub(crate) max_bytes: usize,
}

impl SourceColumn {
    /// How its values decode.
    pub(crate) fn spec(&self) -> crate::decode::ColumnSpec {
        crate::decode::ColumnSpec {
            name: self.ident.name().to_owned(),
            sf_type: self.sf_type,
        }
    }

    /// The platform column it lands in (the name in lower case, the mapped type).
    pub(crate) fn pg_column(&self) -> crate::postgres::PgColumn {
        crate::postgres::PgColumn {
            name: self.ident.name().to_lowercase(),
            pg_type: self.sf_type.pg_type(),
        }
    }
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

/// The table's row count as Snowflake keeps it in `INFORMATION_SCHEMA.TABLES` (metadata: no
/// scan); `None` when it reports none.
///
/// # Errors
/// A classified Snowflake error.
pub(crate) async fn row_count(session: &Session, t: &PullTable) -> Result<Option<u64>> {
    let sql = format!(
        "SELECT ROW_COUNT FROM {}.INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = {} AND TABLE_NAME = {}",
        t.table.database.sql(),
        sf_string(t.table.schema.name()),
        sf_string(t.table.table.name())
    );
    let batches = session.query(&sql).await?;
    Ok(batches
        .first()
        .filter(|b| b.num_rows() > 0)
        .and_then(|b| int_at(b, 0, 0))
        .and_then(|n| u64::try_from(n).ok()))
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
pub(crate) fn keyset_after(keys: &[Ident], bound: &[KeyValue]) -> String {
    let (cols, vals) = sf_terms(keys, bound);
    crate::quote::keyset_after(&cols, &vals)
}

/// `(k1 < v1) OR (k1 = v1 AND k2 < v2) OR ... OR (k1 = v1 AND ... AND kn = vn)`: rows at or
/// before `bound` in key order.
pub(crate) fn keyset_upto(keys: &[Ident], bound: &[KeyValue]) -> String {
    let (cols, vals) = sf_terms(keys, bound);
    crate::quote::keyset_upto(&cols, &vals)
}

fn sf_terms(keys: &[Ident], bound: &[KeyValue]) -> (Vec<String>, Vec<String>) {
    (
        keys.iter().map(Ident::sql).collect(),
        bound.iter().map(KeyValue::sf_literal).collect(),
    )
}

/// What the pages of one phase read: the select list, the phase's filters, and the key columns
/// its pages are ordered by (none for a keyless table: it is read in one query). Built once per
/// phase.
pub(crate) struct PhaseQuery {
    pub(crate) select: String,
    pub(crate) filters: Vec<String>,
    pub(crate) keys: Vec<Ident>,
}

impl PhaseQuery {
    /// The pages of one phase of `cols`: ordered by `cursor` (when given) then `primary_key`;
    /// for a cursor table either its NULL-cursor rows (`null_cursor`) or the rows with
    /// `lower < cursor <= upper`.
    pub(crate) fn new(
        cols: &[SourceColumn],
        cursor: Option<&Ident>,
        primary_key: &[Ident],
        null_cursor: bool,
        lower: Option<&KeyValue>,
        upper: Option<&KeyValue>,
    ) -> Self {
        let mut keys: Vec<Ident> = Vec::new();
        let mut filters: Vec<String> = Vec::new();
        match cursor {
            Some(cursor) if null_cursor => {
                filters.push(format!("{} IS NULL", cursor.sql()));
            }
            Some(cursor) => {
                keys.push(cursor.clone());
                filters.push(format!("{} IS NOT NULL", cursor.sql()));
                if let Some(upper) = upper {
                    filters.push(format!("{} <= {}", cursor.sql(), upper.sf_literal()));
                }
                if let Some(lower) = lower {
                    filters.push(format!("{} > {}", cursor.sql(), lower.sf_literal()));
                }
            }
            None => {}
        }
        keys.extend(primary_key.iter().cloned());
        let select = cols
            .iter()
            .map(|c| c.sf_type.select_expr(&c.ident))
            .collect::<Vec<_>>()
            .join(", ");
        Self {
            select,
            filters,
            keys,
        }
    }

    /// The phase ending at `stop` (inclusive): one key range of a backfill read in ranges.
    pub(crate) fn until(mut self, stop: Option<&[KeyValue]>) -> Self {
        if let Some(stop) = stop {
            self.filters
                .push(format!("({})", keyset_upto(&self.keys, stop)));
        }
        self
    }

    pub(crate) fn keyed(&self) -> bool {
        !self.keys.is_empty()
    }

    /// `WHERE` of the phase and of `lo < key <= hi`.
    pub(crate) fn where_clause(&self, lo: Option<&[KeyValue]>, hi: Option<&[KeyValue]>) -> String {
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

    pub(crate) fn order(&self) -> String {
        self.keys
            .iter()
            .map(Ident::sql)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The query of one page: at most `limit` rows of `lo < key <= hi`.
    pub(crate) fn page_sql(
        &self,
        table: &str,
        lo: Option<&[KeyValue]>,
        hi: Option<&[KeyValue]>,
        limit: usize,
    ) -> String {
        let mut sql = format!("SELECT {} FROM {table}", self.select);
        sql.push_str(&self.where_clause(lo, hi));
        if self.keyed() {
            sql.push_str(&format!(" ORDER BY {} LIMIT {limit}", self.order()));
        }
        sql
    }

    /// The fingerprint of `lo < key <= hi` ([`crate::quote::key_fingerprint_sql`]), for
    /// integer keys: compared with the platform's, it spares a reconciliation reading the keys
    /// of a range that has not changed.
    pub(crate) fn fingerprint_sql(
        &self,
        table: &str,
        lo: Option<&[KeyValue]>,
        hi: Option<&[KeyValue]>,
    ) -> String {
        let cols: Vec<String> = self.keys.iter().map(Ident::sql).collect();
        let from_where = format!("{table}{}", self.where_clause(lo, hi));
        crate::quote::key_fingerprint_sql(&cols, "NUMBER(38,0)", &from_where)
    }

    /// The boundary pre-scan: the keys of every `per_page`-th row after `lo`, for `pages`
    /// pages. It reads only the key columns, so it costs a fraction of a page;
    /// its ranges can then be read two at a time instead of each waiting for the last one's
    /// largest key.
    pub(crate) fn boundary_sql(
        &self,
        table: &str,
        lo: Option<&[KeyValue]>,
        per_page: usize,
        pages: usize,
    ) -> String {
        let k = self.order();
        let filter = self.where_clause(lo, None);
        let rows = per_page.saturating_mul(pages);
        format!(
            "SELECT {k} FROM (SELECT {k}, ROW_NUMBER() OVER (ORDER BY {k}) AS \"_SNOWSYNC_RN\" \
             FROM (SELECT {k} FROM {table}{filter} ORDER BY {k} LIMIT {rows})) \
             WHERE MOD(\"_SNOWSYNC_RN\", {per_page}) = 0"
        )
    }
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
