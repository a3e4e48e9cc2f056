//! The decoder's tests, built from Arrow arrays as Snowflake sends them: the shared builders
//! here, a file per kind of value.

mod batches;
mod calendar;
mod copy_back;
mod fuzzing;
mod key;
mod number;
mod oracle;
mod properties;
mod scalars;
mod timestamps;

use super::key::*;
use super::*;
use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::builder::{FixedSizeBinaryBuilder, LargeBinaryBuilder};
use arrow_array::{ArrayRef, Date32Array, Date64Array, Float64Array};
use arrow_buffer::NullBuffer;
use arrow_schema::{Fields, Schema};
use proptest::prelude::*;

/// A field with the metadata Snowflake attaches.
fn field(name: &str, data_type: DataType, logical: &str, scale: u8) -> Field {
    let metadata = HashMap::from([
        ("logicalType".to_owned(), logical.to_owned()),
        ("scale".to_owned(), scale.to_string()),
        ("precision".to_owned(), "38".to_owned()),
        ("charLength".to_owned(), "0".to_owned()),
    ]);
    Field::new(name, data_type, true).with_metadata(metadata)
}

fn batch(columns: Vec<(Field, ArrayRef)>) -> RecordBatch {
    let (fields, arrays): (Vec<Field>, Vec<ArrayRef>) = columns.into_iter().unzip();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).expect("valid batch")
}

fn spec(name: &str, sf_type: SfType) -> ColumnSpec {
    ColumnSpec {
        name: name.to_owned(),
        sf_type,
    }
}

fn copy(batch: &RecordBatch, columns: &[ColumnSpec]) -> String {
    let mut out = Vec::new();
    let rows = write_copy_text(batch, columns, &mut out).expect("decodes");
    assert_eq!(rows, batch.num_rows());
    String::from_utf8(out).expect("utf-8")
}

/// COPY lines of a one-column batch.
fn lines(field: Field, array: ArrayRef, sf_type: SfType) -> Vec<String> {
    let name = field.name().clone();
    let b = batch(vec![(field, array)]);
    copy(&b, &[spec(&name, sf_type)])
        .lines()
        .map(str::to_owned)
        .collect()
}

fn copy_error(field: Field, array: ArrayRef, sf_type: SfType) -> String {
    let name = field.name().clone();
    let b = batch(vec![(field, array)]);
    let mut out = b"kept".to_vec();
    let err = write_copy_text(&b, &[spec(&name, sf_type)], &mut out).expect_err("must fail");
    assert_eq!(out, b"kept", "out is left as it was on error");
    err.to_string()
}

fn keys(field: Field, array: ArrayRef, sf_type: SfType) -> Vec<KeyValue> {
    let name = field.name().clone();
    let b = batch(vec![(field, array)]);
    let s = spec(&name, sf_type);
    (0..b.num_rows())
        .map(|row| key_value(&b, 0, &s, row).expect("key decodes"))
        .collect()
}

const NUM0: SfType = SfType::Number {
    precision: 38,
    scale: 0,
};
const NUM2: SfType = SfType::Number {
    precision: 38,
    scale: 2,
};
const NTZ9: SfType = SfType::TimestampNtz { scale: 9 };
const LTZ9: SfType = SfType::TimestampLtz { scale: 9 };
const TZ9: SfType = SfType::TimestampTz { scale: 9 };

fn epoch_fraction(
    epoch: Vec<Option<i64>>,
    fraction: Vec<i32>,
    nulls: Option<Vec<bool>>,
) -> ArrayRef {
    let fields = Fields::from(vec![
        Field::new("epoch", DataType::Int64, true),
        Field::new("fraction", DataType::Int32, true),
    ]);
    let arrays: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(epoch)),
        Arc::new(Int32Array::from(fraction)),
    ];
    Arc::new(StructArray::try_new(fields, arrays, nulls.map(NullBuffer::from)).expect("struct"))
}

fn struct_type(names: &[(&str, DataType)]) -> DataType {
    DataType::Struct(Fields::from(
        names
            .iter()
            .map(|(n, t)| Field::new(*n, t.clone(), true))
            .collect::<Vec<_>>(),
    ))
}
