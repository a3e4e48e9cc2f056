//! A push batch as a file for `COPY INTO`: gzip CSV, one line per row in the temporary
//! table's column order, every value as its exact PostgreSQL text.
//!
//! Every non-NULL value is enclosed in double quotes (a quote inside doubled), and NULL is an
//! empty unquoted field, read with `FIELD_OPTIONALLY_ENCLOSED_BY = '"'`, `NULL_IF = ()` and
//! `EMPTY_FIELD_AS_NULL = TRUE` ([`COPY_FORMAT`]): an empty string stays `""`, so NULL and the
//! empty string never meet, and no text needs escaping beyond the quote.

use std::io::Write;

use flate2::write::GzEncoder;
use flate2::Compression;

use crate::error::{Result, SyncError};
use crate::export::{Column, Position};

/// The file format `COPY INTO` reads a batch file with.
pub(crate) const COPY_FORMAT: &str = "FILE_FORMAT = (TYPE = CSV COMPRESSION = GZIP \
FIELD_DELIMITER = ',' FIELD_OPTIONALLY_ENCLOSED_BY = '\"' \
NULL_IF = () EMPTY_FIELD_AS_NULL = TRUE ESCAPE_UNENCLOSED_FIELD = NONE)";

/// gzip level: 1 compresses CSV of this shape to about a fifth at several times the speed of
/// the default level 6 (the upload is rarely the bottleneck; the CPU is).
const LEVEL: u32 = 1;

/// One batch's file, named by the batch's range.
pub(crate) struct BatchFile {
    /// `<source>_<first position>_<last id>.csv.gz`: the same batch makes the same name, so a
    /// retried upload replaces its own file and `COPY`'s load history knows it.
    pub name: String,
    /// gzip bytes.
    pub bytes: Vec<u8>,
    pub rows: usize,
}

impl BatchFile {
    /// Writes `rows` (as [`crate::postgres::ExportReader`] reads them, in position order).
    ///
    /// # Errors
    /// `config` for a value that cannot be sent (named by column, never quoted).
    pub(crate) fn build(
        source: &str,
        rows: &[tokio_postgres::Row],
        cols: &[Column],
    ) -> Result<Self> {
        let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
            return Err(SyncError::transient("empty batch"));
        };
        let first = Position::of_row(first, cols.len());
        let last = Position::of_row(last, cols.len());
        let compact = |p: &Position| {
            p.ingested_at
                .chars()
                .filter(char::is_ascii_digit)
                .collect::<String>()
        };
        let name = format!(
            "{source}_{}_{}_{}_{}.csv.gz",
            compact(&first),
            first.id,
            compact(&last),
            last.id
        );
        let mut gz = GzEncoder::new(Vec::with_capacity(1 << 20), Compression::new(LEVEL));
        let mut line: Vec<u8> = Vec::with_capacity(1024);
        for row in rows {
            line.clear();
            for (i, c) in cols.iter().enumerate() {
                if i > 0 {
                    line.push(b',');
                }
                let v: Option<&str> = row.get(i);
                if let Some(v) = v {
                    c.kind.check(v).map_err(|e| e.context(c.pg))?;
                    line.push(b'"');
                    for b in v.bytes() {
                        if b == b'"' {
                            line.push(b'"');
                        }
                        line.push(b);
                    }
                    line.push(b'"');
                }
            }
            line.push(b'\n');
            gz.write_all(&line).map_err(write_error)?;
        }
        let bytes = gz.finish().map_err(write_error)?;
        Ok(Self {
            name,
            bytes,
            rows: rows.len(),
        })
    }
}

fn write_error(e: std::io::Error) -> SyncError {
    SyncError::transient(format!("could not compress a push batch: {e}"))
}
