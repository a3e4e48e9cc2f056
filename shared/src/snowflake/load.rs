//! A batch as SQL: `INSERT ... SELECT ... FROM TABLE(FLATTEN(PARSE_JSON('<rows>')))`
//! statements under Snowflake's size limit, values written straight into the JSON literal.

use crate::error::{Result, SyncError};
use crate::export::{Column, Position};
use crate::quote::sf_string;

/// The most bytes of SQL text in one `INSERT` (Snowflake's statement limit is 1 MiB).
const MAX_INSERT_BYTES: usize = 900 * 1024;

/// How a batch reaches the session's temporary table: `INSERT ... SELECT` over `FLATTEN` of
/// one JSON array of rows (each row an array of strings or nulls), cast column by column.
/// Snowflake parses one string literal far faster than thousands of `VALUES` tuples, and
/// values stay exact: every value travels as its PostgreSQL text and is cast by the temporary
/// table's type.
pub(crate) struct Load {
    /// `INSERT INTO <stage> (...) SELECT <casts> FROM TABLE(FLATTEN(INPUT => PARSE_JSON(`
    pub(crate) head: String,
}

/// What closes a [`Load`] statement after the literal.
const LOAD_TAIL: &str = ")))";

impl Load {
    /// The `INSERT`s of one batch, each under [`MAX_INSERT_BYTES`] of SQL, and the batch's last
    /// position. Values are written straight into the JSON buffer (no per-value strings).
    pub(crate) fn statements(
        &self,
        rows: &[tokio_postgres::Row],
        cols: &[Column],
    ) -> Result<(Vec<String>, Position)> {
        let budget = MAX_INSERT_BYTES.saturating_sub(self.head.len() + LOAD_TAIL.len() + 2);
        let mut statements = Vec::new();
        let mut json: Vec<u8> = Vec::new();
        // The literal's length: the JSON plus one byte per quote or backslash it escapes.
        let mut literal_len = 0usize;
        let mut last: Option<Position> = None;
        let mut row_buf: Vec<u8> = Vec::new();
        for row in rows {
            row_buf.clear();
            row_buf.push(b'[');
            for (i, c) in cols.iter().enumerate() {
                if i > 0 {
                    row_buf.push(b',');
                }
                let v: Option<&str> = row.get(i);
                match v {
                    None => row_buf.extend_from_slice(b"null"),
                    Some(v) => {
                        c.kind.check(v).map_err(|e| e.context(c.pg))?;
                        serde_json::to_writer(&mut row_buf, v).map_err(|e| {
                            SyncError::config(format!("{}: not encodable as JSON: {e}", c.pg))
                        })?;
                    }
                }
            }
            row_buf.push(b']');
            let row_len = row_buf.len()
                + row_buf
                    .iter()
                    .filter(|&&b| b == b'\'' || b == b'\\')
                    .count();
            if !json.is_empty() && literal_len + row_len + 1 > budget {
                statements.push(self.statement(&mut json));
                literal_len = 0;
            }
            json.push(if json.is_empty() { b'[' } else { b',' });
            json.extend_from_slice(&row_buf);
            literal_len += row_len + 1;
            let pos = Position::of_row(row, cols.len());
            if last
                .as_ref()
                .is_none_or(|l| (&pos.ingested_at, pos.id) > (&l.ingested_at, l.id))
            {
                last = Some(pos);
            }
        }
        if !json.is_empty() {
            statements.push(self.statement(&mut json));
        }
        let last = last.ok_or_else(|| SyncError::transient("empty batch"))?;
        Ok((statements, last))
    }

    /// One statement loading the rows in `json` (emptied).
    fn statement(&self, json: &mut Vec<u8>) -> String {
        json.push(b']');
        // serde_json wrote valid UTF-8 (escaping what is not).
        let text = String::from_utf8_lossy(json);
        let s = format!("{}{}{LOAD_TAIL}", self.head, sf_string(&text));
        json.clear();
        s
    }
}
