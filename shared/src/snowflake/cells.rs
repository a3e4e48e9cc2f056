//! Cells of small metadata results (`INFORMATION_SCHEMA`, `MAX`, `CURRENT_ROLE()`), whatever
//! Arrow type Snowflake chose for them.

use arrow_array::{Array, RecordBatch};

/// Reads a text cell of a metadata query result (Utf8 or LargeUtf8).
pub fn text_at(batch: &RecordBatch, col: usize, row: usize) -> Option<String> {
    let a = batch.column(col);
    if a.is_null(row) {
        return None;
    }
    if let Some(s) = a.as_any().downcast_ref::<arrow_array::StringArray>() {
        return Some(s.value(row).to_owned());
    }
    a.as_any()
        .downcast_ref::<arrow_array::LargeStringArray>()
        .map(|s| s.value(row).to_owned())
}

/// Reads an integer cell of a metadata query result (any integer width, or Decimal128 scale 0).
pub fn int_at(batch: &RecordBatch, col: usize, row: usize) -> Option<i64> {
    use arrow_array::{Decimal128Array, Int16Array, Int32Array, Int64Array, Int8Array};
    let a = batch.column(col);
    if a.is_null(row) {
        return None;
    }
    let any = a.as_any();
    if let Some(x) = any.downcast_ref::<Int64Array>() {
        return Some(x.value(row));
    }
    if let Some(x) = any.downcast_ref::<Int32Array>() {
        return Some(x.value(row).into());
    }
    if let Some(x) = any.downcast_ref::<Int16Array>() {
        return Some(x.value(row).into());
    }
    if let Some(x) = any.downcast_ref::<Int8Array>() {
        return Some(x.value(row).into());
    }
    any.downcast_ref::<Decimal128Array>()
        .and_then(|x| i64::try_from(x.value(row)).ok())
}

/// Reads a whole-number cell of an aggregate (`COUNT`, `SUM`): any integer width, a
/// `Decimal128` of scale 0, or a double holding a whole number (an engine that sums exact
/// integers in doubles, as the emulator does, exactly below 2^53).
pub fn whole_at(batch: &RecordBatch, col: usize, row: usize) -> Option<i128> {
    let a = batch.column(col);
    if a.is_null(row) {
        return Some(0);
    }
    if let Some(x) = a.as_any().downcast_ref::<arrow_array::Float64Array>() {
        let v = x.value(row);
        return (v.fract() == 0.0 && v.abs() < 9.0e15).then_some(v as i128);
    }
    if let Some(x) = a.as_any().downcast_ref::<arrow_array::Decimal128Array>() {
        return Some(x.value(row));
    }
    int_at(batch, col, row).map(i128::from)
}
