//! What an export carries: the columns of each push source, named and typed in PostgreSQL and
//! in Snowflake, and the position its batches are read past. The platform side
//! ([`crate::postgres`]) reads by it, the Snowflake side ([`crate::snowflake`]) creates, loads and
//! merges by it, and [`crate::push`] moves batches between the two.

use serde::{Deserialize, Serialize};

use crate::error::{Result, SyncError};
use crate::tenant::config::PushSource;

/// The exported position: the last `(ingested_at, id)` confirmed in Snowflake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Position {
    /// UTC, `YYYY-MM-DD HH24:MI:SS.US`.
    pub(crate) ingested_at: String,
    pub(crate) id: i64,
}

impl Position {
    /// The position a platform row carries after its `columns` exported columns (as
    /// [`crate::postgres::ExportReader`] reads them): `ingested_at` as UTC text, then `id`.
    pub(crate) fn of_row(row: &tokio_postgres::Row, columns: usize) -> Self {
        Self {
            ingested_at: row.get(columns),
            id: row.get(columns + 1),
        }
    }
}

/// How a column's values travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `bigint` → `NUMBER(38,0)`.
    Int,
    /// `text` → `VARCHAR`.
    Text,
    /// `timestamptz` → `TIMESTAMP_TZ`, sent as the UTC instant to the microsecond.
    Timestamp,
    /// `jsonb` → `VARIANT` (through `PARSE_JSON` in the MERGE).
    Json,
    /// `numeric(18,2)` → `NUMBER(18,2)`, exact.
    Decimal,
}

/// A pushed column: destination name, its PostgreSQL source column and kind.
pub(crate) struct Column {
    pub(crate) name: &'static str,
    pub(crate) pg: &'static str,
    pub(crate) kind: Kind,
}

pub(crate) const fn col(name: &'static str, pg: &'static str, kind: Kind) -> Column {
    Column { name, pg, kind }
}

pub(crate) const ACTIONS: &[Column] = &[
    col("ID", "id", Kind::Int),
    col("OCCURRED_AT", "occurred_at", Kind::Timestamp),
    col("ACTION_TYPE", "action_type", Kind::Text),
    col("VISITOR_ID", "visitor_id", Kind::Text),
    col("ACCOUNT_DOMAIN", "account_domain", Kind::Text),
    col("CHANNEL", "channel", Kind::Text),
    col("PROPERTIES", "properties", Kind::Json),
    col("INGESTED_AT", "ingested_at", Kind::Timestamp),
];

pub(crate) const STAGES: &[Column] = &[
    col("ID", "id", Kind::Int),
    col("OPPORTUNITY_ID", "opportunity_id", Kind::Text),
    col("STAGE", "stage", Kind::Text),
    col("ENTERED_AT", "entered_at", Kind::Timestamp),
    col("AMOUNT", "amount", Kind::Decimal),
    col("OWNER", "owner", Kind::Text),
    col("PROPERTIES", "properties", Kind::Json),
    col("INGESTED_AT", "ingested_at", Kind::Timestamp),
];

pub(crate) fn columns(source: PushSource) -> &'static [Column] {
    match source {
        PushSource::Actions => ACTIONS,
        PushSource::Stages => STAGES,
    }
}

impl Kind {
    /// The destination's Snowflake type.
    pub(crate) fn sf_type(self) -> &'static str {
        match self {
            Kind::Int => "NUMBER(38,0)",
            Kind::Text => "VARCHAR",
            Kind::Timestamp => "TIMESTAMP_TZ",
            Kind::Json => "VARIANT",
            Kind::Decimal => "NUMBER(18,2)",
        }
    }

    /// The temporary table's type (JSON travels as text; `VALUES` cannot hold `PARSE_JSON`).
    pub(crate) fn stage_type(self) -> &'static str {
        match self {
            Kind::Json => "VARCHAR",
            k => k.sf_type(),
        }
    }

    /// `INFORMATION_SCHEMA` data types an existing destination column may have.
    pub(crate) fn accepts(self, data_type: &str) -> bool {
        let t = data_type.to_ascii_uppercase();
        match self {
            Kind::Int | Kind::Decimal => matches!(t.as_str(), "NUMBER" | "DECIMAL" | "NUMERIC"),
            Kind::Text => matches!(t.as_str(), "TEXT" | "VARCHAR" | "STRING"),
            Kind::Timestamp => matches!(t.as_str(), "TIMESTAMP_TZ" | "TIMESTAMP_LTZ"),
            Kind::Json => t == "VARIANT",
        }
    }

    /// The SELECT expression reading the column from PostgreSQL as exact text.
    pub(crate) fn pg_text(self, column: &str) -> String {
        match self {
            Kind::Timestamp => {
                format!("to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')")
            }
            Kind::Text => column.to_owned(),
            _ => format!("{column}::text"),
        }
    }

    /// Checks a value read by [`Kind::pg_text`] before it is sent: numbers must be plain
    /// decimal text (they are cast in Snowflake, and a clear error beats a failed MERGE).
    pub(crate) fn check(self, v: &str) -> Result<()> {
        if matches!(self, Kind::Int | Kind::Decimal) {
            let ok = !v.is_empty()
                && v.bytes()
                    .enumerate()
                    .all(|(i, b)| b.is_ascii_digit() || b == b'.' || (i == 0 && b == b'-'));
            if !ok {
                return Err(SyncError::config(format!("not a number: {v:?}")));
            }
        }
        Ok(())
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
