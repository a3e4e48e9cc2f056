//! Snowflake Arrow result columns → PostgreSQL `COPY ... FROM STDIN` text, exactly; and the
//! full-precision key values that keyset paging and watermarks are built from.
//!
//! Snowflake sends query results as Arrow record batches. Each field carries metadata
//! (`logicalType`, `scale`, `precision`, `charLength`), and the physical encoding depends on
//! the type and sometimes on the values in the chunk:
//!
//! | Snowflake type | Arrow encodings accepted |
//! |---|---|
//! | `NUMBER(p,s)` (`FIXED`) | `Int8`/`Int16`/`Int32`/`Int64` holding the unscaled value, scale from metadata; `Decimal128(p,s)` (metadata scale wins when present) |
//! | `FLOAT` (`REAL`) | `Float64` |
//! | `TEXT`, `VARIANT`, `OBJECT`, `ARRAY`, `GEOGRAPHY`/`GEOMETRY` as GeoJSON | `Utf8`, `LargeUtf8`, `Utf8View` |
//! | `BOOLEAN` | `Boolean` |
//! | `BINARY` | `Binary`, `LargeBinary`, `FixedSizeBinary`, `BinaryView` |
//! | `DATE` | `Date32` or `Int32` (days since 1970-01-01), `Date64` |
//! | `TIME(s)` | `Int32`/`Int64` in units of 10^-s seconds since midnight; `Time32`/`Time64` |
//! | `TIMESTAMP_NTZ`/`_LTZ` | `Int64` epoch in units of 10^-s seconds; `Struct{epoch: seconds, fraction: nanoseconds}`; Arrow `Timestamp` |
//! | `TIMESTAMP_TZ` | `Struct{epoch: 10^-s seconds, timezone}`; `Struct{epoch: seconds, fraction: nanoseconds, timezone}`; Arrow `Timestamp` (UTC) |
//!
//! `timezone` is the offset in minutes plus 1440 (1440 = UTC); `epoch` is always the UTC
//! instant. Struct timestamps are read with `epoch` floored to whole seconds and `fraction`
//! in `0..1_000_000_000` (so 1969-12-31 23:59:59.999999999 is epoch -1, fraction 999999999).
//!
//! A row is NULL when the array's validity says so; for struct-encoded timestamps also when the
//! `epoch` child is NULL (fakesnow builds its structs without a validity of their own).
//!
//! Which Snowflake type a column has comes from [`ColumnSpec::sf_type`] (information_schema);
//! the `logicalType` metadata is only reported in errors, while the `scale` metadata is
//! authoritative for the integer encodings.

//!
//! | file | what it owns |
//! |---|---|
//! | `read` | the Arrow encodings above, read cell by cell as a `Value` |
//! | `copy` | PostgreSQL `COPY` of decoded rows: binary (what the pull writes) and text |
//! | `binary` | PostgreSQL's binary forms of each type |
//! | `calendar` | proleptic Gregorian arithmetic and the texts of dates and times |
//! | `key` | [`KeyValue`]: keys and watermarks at full precision, their order and SQL literals |
//! | `tests` | unit and property tests built from Arrow arrays as Snowflake sends them |

use std::cmp::Ordering;
use std::fmt::Write as _;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Date64Type, Int16Type, Int32Type, Int64Type, Int8Type, Time32MillisecondType,
    Time32SecondType, Time64MicrosecondType, Time64NanosecondType, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType,
};
use arrow_array::{
    Array, ArrowPrimitiveType, BinaryArray, BinaryViewArray, BooleanArray, Decimal128Array,
    FixedSizeBinaryArray, Float64Array, Int16Array, Int32Array, Int64Array, Int8Array,
    LargeBinaryArray, LargeStringArray, RecordBatch, StringArray, StringViewArray, StructArray,
};
use arrow_schema::{DataType, Field, TimeUnit};

use crate::types::SfType;

mod binary;
mod calendar;
mod copy;
mod key;
mod read;
#[cfg(test)]
mod tests;

use calendar::*;
use copy::*;
use read::*;

pub use copy::{write_copy_binary, write_copy_text, BINARY_HEADER, BINARY_TRAILER};
pub use key::{key_value, max_key, KeyValue};

const NANOS_PER_SECOND: i128 = 1_000_000_000;
const NANOS_PER_DAY: i128 = 86_400 * NANOS_PER_SECOND;
const MICROS_PER_DAY: i128 = 86_400_000_000;
/// Largest decimal scale an `i128` can carry (10^38 < 2^127).
const MAX_DECIMAL_SCALE: u8 = 38;
/// Snowflake's `timezone` field is the offset in minutes plus this.
const TZ_BIAS_MINUTES: i32 = 1440;
/// PostgreSQL's first date and timestamp day: 4714-11-24 BC (Julian day 0), in days since 1970.
const PG_MIN_DAY: i64 = -2_440_588;
/// PostgreSQL's last date: 5874897-12-31, in days since 1970.
const PG_MAX_DATE_DAY: i64 = 2_145_042_905;
/// PostgreSQL's first day after the last timestamp (294277-01-01), in days since 1970.
const PG_END_TIMESTAMP_DAY: i64 = 106_762_940;

/// A column of a pull query as the engine knows it from `information_schema`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnSpec {
    /// The exact Snowflake column name (used in error messages).
    pub name: String,
    /// The Snowflake type, which decides how the Arrow values are read and written.
    pub sf_type: SfType,
}

/// Why a batch could not be decoded. Every variant names the column (and row) concerned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The batch has a different number of columns than the query selected.
    #[error("the result has {found} columns but the query selected {expected}")]
    ColumnCount {
        /// Columns expected (the `columns` given).
        expected: usize,
        /// Columns in the batch.
        found: usize,
    },
    /// The Arrow encoding of a column is not one Snowflake uses for its type.
    #[error(
        "column {column} ({sf_type}) arrived as Arrow {arrow_type}{logical}, which is not an \
         encoding of {sf_type}"
    )]
    Encoding {
        /// Column name.
        column: String,
        /// The Snowflake type expected, as Snowflake spells it.
        sf_type: String,
        /// The Arrow data type found.
        arrow_type: String,
        /// `" (logicalType X)"` when the field carried one, else empty.
        logical: String,
    },
    /// A field's metadata has a value that cannot be used.
    #[error("column {column}: Arrow field metadata {key}={value:?} is invalid: {reason}")]
    Metadata {
        /// Column name.
        column: String,
        /// Metadata key.
        key: String,
        /// Its value.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Text with a NUL character, which PostgreSQL cannot store.
    #[error(
        "column {column}, row {row}: the text contains a NUL character, which PostgreSQL cannot \
         store; remove it in Snowflake or leave the column out"
    )]
    Nul {
        /// Column name.
        column: String,
        /// Row index in the batch.
        row: usize,
    },
    /// JSON with a `\u0000` escape, which PostgreSQL `jsonb` cannot store.
    #[error(
        "column {column}, row {row}: the JSON contains the escape \\u0000, which PostgreSQL jsonb \
         cannot store; remove it in Snowflake or leave the column out"
    )]
    JsonNul {
        /// Column name.
        column: String,
        /// Row index in the batch.
        row: usize,
    },
    /// A value is malformed or outside what PostgreSQL (or a key value) can hold.
    #[error("column {column}, row {row}: {what}")]
    Value {
        /// Column name.
        column: String,
        /// Row index in the batch.
        row: usize,
        /// What was found.
        what: String,
    },
    /// A column or row index outside the batch.
    #[error("{what} is out of range for a batch of {columns} columns and {rows} rows")]
    OutOfBounds {
        /// Which index.
        what: String,
        /// Columns in the batch.
        columns: usize,
        /// Rows in the batch.
        rows: usize,
    },
    /// A stored key value (see [`KeyValue::encode`]) that cannot be read back.
    #[error("stored key value {input:?} is invalid: {reason}")]
    BadEncodedKey {
        /// The stored text.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
}
