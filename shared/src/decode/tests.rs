//! The decoder's tests, built from Arrow arrays as Snowflake sends them.

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

// --- NUMBER ---------------------------------------------------------------------------

#[test]
fn fixed_int64_with_scale_2() {
    let array: ArrayRef = Arc::new(Int64Array::from(vec![
        Some(12345),
        Some(-50),
        Some(0),
        Some(-1),
        None,
        Some(i64::MAX),
        Some(i64::MIN),
        Some(100),
    ]));
    assert_eq!(
        lines(field("AMOUNT", DataType::Int64, "FIXED", 2), array, NUM2),
        [
            "123.45",
            "-0.50",
            "0.00",
            "-0.01",
            "\\N",
            "92233720368547758.07",
            "-92233720368547758.08",
            "1.00"
        ]
    );
}

#[test]
fn fixed_narrow_ints_with_scale() {
    let n = |scale| SfType::Number {
        precision: 38,
        scale,
    };
    let i8s: ArrayRef = Arc::new(Int8Array::from(vec![Some(-128), Some(5), None, Some(127)]));
    assert_eq!(
        lines(field("A", DataType::Int8, "FIXED", 1), i8s, n(1)),
        ["-12.8", "0.5", "\\N", "12.7"]
    );
    let i16s: ArrayRef = Arc::new(Int16Array::from(vec![Some(32767), Some(-32768), None]));
    assert_eq!(
        lines(field("B", DataType::Int16, "FIXED", 4), i16s, n(4)),
        ["3.2767", "-3.2768", "\\N"]
    );
    let i32s: ArrayRef = Arc::new(Int32Array::from(vec![Some(-7), Some(i32::MAX), None]));
    assert_eq!(
        lines(field("C", DataType::Int32, "FIXED", 3), i32s, n(3)),
        ["-0.007", "2147483.647", "\\N"]
    );
    let i64s: ArrayRef = Arc::new(Int64Array::from(vec![Some(42), Some(-42), Some(0)]));
    assert_eq!(
        lines(field("D", DataType::Int64, "FIXED", 0), i64s, NUM0),
        ["42", "-42", "0"]
    );
    // Without a scale in the metadata, the information_schema scale applies.
    let bare = Field::new("E", DataType::Int32, true);
    let i32s: ArrayRef = Arc::new(Int32Array::from(vec![Some(-5)]));
    assert_eq!(lines(bare, i32s, n(2)), ["-0.05"]);
}

#[test]
fn decimal128_beyond_i64_is_exact() {
    let max = 99_999_999_999_999_999_999_999_999_999_999_999_999_i128;
    let array: ArrayRef = Arc::new(
        Decimal128Array::from(vec![
            Some(max),
            Some(-max),
            None,
            Some(i128::from(i64::MAX) + 1),
        ])
        .with_precision_and_scale(38, 0)
        .expect("decimal"),
    );
    let f = field("ID", DataType::Decimal128(38, 0), "FIXED", 0);
    assert_eq!(
        lines(f.clone(), array.clone(), NUM0),
        [
            "99999999999999999999999999999999999999",
            "-99999999999999999999999999999999999999",
            "\\N",
            "9223372036854775808"
        ]
    );
    assert_eq!(
        keys(f, array, NUM0),
        [
            KeyValue::Int(max),
            KeyValue::Int(-max),
            KeyValue::Null,
            KeyValue::Int(1 << 63)
        ]
    );
}

#[test]
fn decimal128_scales() {
    let array = |scale: i8| -> ArrayRef {
        Arc::new(
            Decimal128Array::from(vec![Some(12345), Some(-50), Some(-1)])
                .with_precision_and_scale(38, scale)
                .expect("decimal"),
        )
    };
    // fakesnow: DECIMAL(18,2) as Decimal128(18,2), metadata scale 2.
    assert_eq!(
        lines(
            field("A", DataType::Decimal128(38, 2), "FIXED", 2),
            array(2),
            NUM2
        ),
        ["123.45", "-0.50", "-0.01"]
    );
    // The metadata scale wins over the array's.
    assert_eq!(
        lines(
            field("B", DataType::Decimal128(38, 2), "FIXED", 3),
            array(2),
            NUM2
        ),
        ["12.345", "-0.050", "-0.001"]
    );
    // No metadata: the array's scale.
    assert_eq!(
        lines(
            Field::new("C", DataType::Decimal128(38, 37), true),
            array(37),
            NUM0
        ),
        [
            "0.0000000000000000000000000000000012345",
            "-0.0000000000000000000000000000000000050",
            "-0.0000000000000000000000000000000000001"
        ]
    );
}

// --- FLOAT, TEXT, JSON, BOOLEAN, BINARY ----------------------------------------------

#[test]
fn floats_round_trip() {
    let values = vec![
        Some(1.5),
        Some(0.1),
        Some(-0.0),
        Some(f64::NAN),
        Some(f64::INFINITY),
        Some(f64::NEG_INFINITY),
        Some(1e300),
        Some(5e-324),
        Some(123_456_789_012_345_680.0),
        Some(1e15),
        Some(0.00001),
        Some(-2.5e-7),
        None,
    ];
    let array: ArrayRef = Arc::new(Float64Array::from(values.clone()));
    let out = lines(
        field("F", DataType::Float64, "REAL", 0),
        array,
        SfType::Float,
    );
    assert_eq!(
        out,
        [
            "1.5",
            "0.1",
            "-0",
            "NaN",
            "Infinity",
            "-Infinity",
            "1e300",
            "5e-324",
            "1.2345678901234568e17",
            "1000000000000000",
            "0.00001",
            "-2.5e-7",
            "\\N"
        ]
    );
    for (text, value) in out.iter().zip(values).take(12) {
        let back = match text.as_str() {
            "Infinity" => f64::INFINITY,
            "-Infinity" => f64::NEG_INFINITY,
            t => t.parse::<f64>().expect("parses"),
        };
        let value = value.expect("not null");
        assert!(
            back.to_bits() == value.to_bits() || (back.is_nan() && value.is_nan()),
            "{text}"
        );
    }
}

#[test]
fn text_is_escaped_for_copy() {
    let array: ArrayRef = Arc::new(StringArray::from(vec![
        Some("a\tb\nc\\d\re"),
        Some("Größe 🦀 ünïcödé"),
        Some(""),
        None,
        Some("\\N"),
        Some("\\."),
    ]));
    let out = copy(
        &batch(vec![(field("NAME", DataType::Utf8, "TEXT", 0), array)]),
        &[spec("NAME", SfType::Text)],
    );
    assert_eq!(
        out,
        "a\\tb\\nc\\\\d\\re\nGröße 🦀 ünïcödé\n\n\\N\n\\\\N\n\\\\.\n"
    );
    let large: ArrayRef = Arc::new(LargeStringArray::from(vec![Some("x\ty"), None]));
    assert_eq!(
        lines(
            field("L", DataType::LargeUtf8, "TEXT", 0),
            large,
            SfType::Text
        ),
        ["x\\ty", "\\N"]
    );
    let view: ArrayRef = Arc::new(StringViewArray::from(vec![
        Some("a long enough string to be out of line\n"),
        None,
    ]));
    assert_eq!(
        lines(
            field("V", DataType::Utf8View, "TEXT", 0),
            view,
            SfType::Geography
        ),
        ["a long enough string to be out of line\\n", "\\N"]
    );
}

#[test]
fn nul_in_text_is_an_error_naming_the_column() {
    let array: ArrayRef = Arc::new(StringArray::from(vec![Some("ok"), Some("bad\0text")]));
    assert_eq!(
        copy_error(
            field("NOTE", DataType::Utf8, "TEXT", 0),
            array,
            SfType::Text
        ),
        "column NOTE, row 1: the text contains a NUL character, which PostgreSQL cannot store; \
         remove it in Snowflake or leave the column out"
    );
}

#[test]
fn json_is_written_as_sent() {
    let array: ArrayRef = Arc::new(StringArray::from(vec![
        Some("{\n  \"a\": \"x\\\\y\",\n  \"b\": [1, 2.50]\n}"),
        Some("[\"\\\\u0000 is text\"]"),
        None,
    ]));
    assert_eq!(
        lines(
            field("P", DataType::Utf8, "OBJECT", 0),
            array,
            SfType::Object
        ),
        [
            "{\\n  \"a\": \"x\\\\\\\\y\",\\n  \"b\": [1, 2.50]\\n}",
            "[\"\\\\\\\\u0000 is text\"]",
            "\\N"
        ]
    );
    let nul: ArrayRef = Arc::new(StringArray::from(vec![Some("{\"a\":\"\\u0000\"}")]));
    assert_eq!(
        copy_error(
            field("P", DataType::Utf8, "VARIANT", 0),
            nul,
            SfType::Variant
        ),
        "column P, row 0: the JSON contains the escape \\u0000, which PostgreSQL jsonb cannot \
         store; remove it in Snowflake or leave the column out"
    );
}

#[test]
fn booleans() {
    let array: ArrayRef = Arc::new(BooleanArray::from(vec![Some(true), Some(false), None]));
    assert_eq!(
        lines(
            field("B", DataType::Boolean, "BOOLEAN", 0),
            array.clone(),
            SfType::Boolean
        ),
        ["t", "f", "\\N"]
    );
    assert_eq!(
        keys(
            field("B", DataType::Boolean, "BOOLEAN", 0),
            array,
            SfType::Boolean
        ),
        [KeyValue::Bool(true), KeyValue::Bool(false), KeyValue::Null]
    );
}

#[test]
fn binary_as_bytea_hex() {
    let array: ArrayRef = Arc::new(BinaryArray::from(vec![
        Some(&[0x0a_u8, 0xff][..]),
        Some(&[][..]),
        None,
        Some(&[0x00, 0x5c, 0x09][..]),
    ]));
    assert_eq!(
        lines(
            field("BIN", DataType::Binary, "BINARY", 0),
            array.clone(),
            SfType::Binary
        ),
        ["\\\\x0aff", "\\\\x", "\\N", "\\\\x005c09"]
    );
    let k = keys(
        field("BIN", DataType::Binary, "BINARY", 0),
        array,
        SfType::Binary,
    );
    assert_eq!(k[0].sf_literal(), "TO_BINARY('0aff','HEX')");
    assert_eq!(k[1].sf_literal(), "TO_BINARY('','HEX')");

    let mut large = LargeBinaryBuilder::new();
    large.append_value([1u8, 2]);
    large.append_null();
    assert_eq!(
        lines(
            field("L", DataType::LargeBinary, "BINARY", 0),
            Arc::new(large.finish()),
            SfType::Binary
        ),
        ["\\\\x0102", "\\N"]
    );
    let mut fixed = FixedSizeBinaryBuilder::new(2);
    fixed.append_value([0xab, 0xcd]).expect("2 bytes");
    fixed.append_null();
    assert_eq!(
        lines(
            field("F", DataType::FixedSizeBinary(2), "BINARY", 0),
            Arc::new(fixed.finish()),
            SfType::Binary
        ),
        ["\\\\xabcd", "\\N"]
    );
}

// --- DATE and TIME ----------------------------------------------------------------------

#[test]
fn dates_including_years_1_and_9999() {
    let array: ArrayRef = Arc::new(Date32Array::from(vec![
        Some(-719_162),
        Some(2_932_896),
        Some(0),
        Some(19_782),
        None,
        Some(-719_163),
        Some(-1),
    ]));
    assert_eq!(
        lines(
            field("D", DataType::Date32, "DATE", 0),
            array.clone(),
            SfType::Date
        ),
        [
            "0001-01-01",
            "9999-12-31",
            "1970-01-01",
            "2024-02-29",
            "\\N",
            "0001-12-31 BC",
            "1969-12-31"
        ]
    );
    let k = keys(field("D", DataType::Date32, "DATE", 0), array, SfType::Date);
    assert_eq!(k[0].sf_literal(), "'0001-01-01'::DATE");
    assert_eq!(k[1].sf_literal(), "'9999-12-31'::DATE");
    assert_eq!(k[3], KeyValue::Date(19_782));
    assert_eq!(k[4], KeyValue::Null);

    // Int32 days and Date64 milliseconds are accepted too.
    let ints: ArrayRef = Arc::new(Int32Array::from(vec![Some(20_454), None]));
    assert_eq!(
        lines(field("D", DataType::Int32, "DATE", 0), ints, SfType::Date),
        ["2026-01-01", "\\N"]
    );
    let millis: ArrayRef = Arc::new(Date64Array::from(vec![Some(20_454 * 86_400_000), Some(-1)]));
    assert_eq!(
        lines(
            field("D", DataType::Date64, "DATE", 0),
            millis,
            SfType::Date
        ),
        ["2026-01-01", "1969-12-31"]
    );
    // Beyond PostgreSQL's range: a clear error.
    let far: ArrayRef = Arc::new(Date32Array::from(vec![Some(-2_440_589)]));
    assert_eq!(
        copy_error(field("D", DataType::Date32, "DATE", 0), far, SfType::Date),
        "column D, row 0: DATE 4714-11-23 BC is outside PostgreSQL's range (4714-11-24 BC to 5874897-12-31)"
    );
    let first: ArrayRef = Arc::new(Date32Array::from(vec![Some(-2_440_588), Some(i32::MAX)]));
    let msg = copy_error(
        field("D", DataType::Date32, "DATE", 0),
        first.clone(),
        SfType::Date,
    );
    assert!(msg.contains("row 1"), "{msg}");
    let one: ArrayRef = Arc::new(first.slice(0, 1));
    assert_eq!(
        lines(field("D", DataType::Date32, "DATE", 0), one, SfType::Date),
        ["4714-11-24 BC"]
    );
}

#[test]
fn time_int64_scale_9_and_int32_scale_3() {
    let t9 = SfType::Time { scale: 9 };
    let array: ArrayRef = Arc::new(Int64Array::from(vec![
        Some(45_296_123_456_789),
        Some(0),
        Some(86_399_999_999_999),
        None,
    ]));
    let f = field("T", DataType::Int64, "TIME", 9);
    assert_eq!(
        lines(f.clone(), array.clone(), t9),
        [
            "12:34:56.123456",
            "00:00:00.000000",
            "23:59:59.999999",
            "\\N"
        ]
    );
    let k = keys(f, array, t9);
    assert_eq!(k[0], KeyValue::Time(45_296_123_456_789));
    assert_eq!(k[0].sf_literal(), "'12:34:56.123456789'::TIME(9)");
    assert_eq!(k[1].sf_literal(), "'00:00:00.000000000'::TIME(9)");

    let t3: ArrayRef = Arc::new(Int32Array::from(vec![Some(45_296_123), None]));
    assert_eq!(
        lines(
            field("T", DataType::Int32, "TIME", 3),
            t3,
            SfType::Time { scale: 3 }
        ),
        ["12:34:56.123000", "\\N"]
    );
    let bad: ArrayRef = Arc::new(Int64Array::from(vec![Some(86_400_000_000_000)]));
    assert_eq!(
        copy_error(field("T", DataType::Int64, "TIME", 9), bad, t9),
        "column T, row 0: TIME value 86400000000000 (scale 9) is not within one day after midnight"
    );
    let native: ArrayRef = Arc::new(arrow_array::Time64MicrosecondArray::from(vec![Some(
        1_000_001,
    )]));
    assert_eq!(
        lines(
            field("T", DataType::Time64(TimeUnit::Microsecond), "TIME", 9),
            native,
            t9
        ),
        ["00:00:01.000001"]
    );
}

// --- Timestamps --------------------------------------------------------------------------

#[test]
fn timestamp_ntz_int64_scales_3_and_9() {
    let s3: ArrayRef = Arc::new(Int64Array::from(vec![
        Some(1_767_225_602_123),
        Some(-1),
        None,
    ]));
    assert_eq!(
        lines(
            field("TS", DataType::Int64, "TIMESTAMP_NTZ", 3),
            s3,
            SfType::TimestampNtz { scale: 3 }
        ),
        [
            "2026-01-01 00:00:02.123000",
            "1969-12-31 23:59:59.999000",
            "\\N"
        ]
    );
    let s9: ArrayRef = Arc::new(Int64Array::from(vec![
        Some(1_767_225_602_123_456_789),
        Some(-1),
        Some(-1_000),
        Some(-1_001),
        None,
    ]));
    let f = field("TS", DataType::Int64, "TIMESTAMP_NTZ", 9);
    assert_eq!(
        lines(f.clone(), s9.clone(), NTZ9),
        [
            "2026-01-01 00:00:02.123456",
            "1969-12-31 23:59:59.999999",
            "1969-12-31 23:59:59.999999",
            "1969-12-31 23:59:59.999998",
            "\\N"
        ]
    );
    let k = keys(f, s9, NTZ9);
    assert_eq!(k[0], KeyValue::TimestampNtz(1_767_225_602_123_456_789));
    assert_eq!(
        k[0].sf_literal(),
        "'2026-01-01 00:00:02.123456789'::TIMESTAMP_NTZ(9)"
    );
    assert_eq!(
        k[1].sf_literal(),
        "'1969-12-31 23:59:59.999999999'::TIMESTAMP_NTZ(9)"
    );
    assert_eq!(k[4], KeyValue::Null);
}

#[test]
fn timestamp_ntz_struct_with_negative_epoch_and_null_rows() {
    // Row 2 is a NULL struct (Snowflake); row 3 has a NULL epoch in a valid struct (fakesnow).
    let array = epoch_fraction(
        vec![
            Some(-1),
            Some(1_767_225_602),
            Some(0),
            None,
            Some(-62_135_596_800),
        ],
        vec![999_999_999, 123_456_789, 0, 0, 0],
        Some(vec![true, true, false, true, true]),
    );
    let f = field(
        "TS",
        struct_type(&[("epoch", DataType::Int64), ("fraction", DataType::Int32)]),
        "TIMESTAMP_NTZ",
        9,
    );
    assert_eq!(
        lines(f.clone(), array.clone(), NTZ9),
        [
            "1969-12-31 23:59:59.999999",
            "2026-01-01 00:00:02.123456",
            "\\N",
            "\\N",
            "0001-01-01 00:00:00.000000"
        ]
    );
    let k = keys(f.clone(), array.clone(), NTZ9);
    assert_eq!(k[0], KeyValue::TimestampNtz(-1));
    assert_eq!(k[2], KeyValue::Null);
    assert_eq!(k[3], KeyValue::Null);
    // LTZ in the same encoding: the UTC instant with +00.
    assert_eq!(
        lines(f, array, LTZ9),
        [
            "1969-12-31 23:59:59.999999+00",
            "2026-01-01 00:00:02.123456+00",
            "\\N",
            "\\N",
            "0001-01-01 00:00:00.000000+00"
        ]
    );
}

#[test]
fn timestamp_ltz_int64() {
    let array: ArrayRef = Arc::new(Int64Array::from(vec![Some(1_767_225_602_123_456), None]));
    let f = field("TS", DataType::Int64, "TIMESTAMP_LTZ", 6);
    assert_eq!(
        lines(f.clone(), array.clone(), SfType::TimestampLtz { scale: 6 }),
        ["2026-01-01 00:00:02.123456+00", "\\N"]
    );
    let k = keys(f, array, SfType::TimestampLtz { scale: 6 });
    assert_eq!(k[0], KeyValue::TimestampLtz(1_767_225_602_123_456_000));
    assert_eq!(
        k[0].sf_literal(),
        "'2026-01-01 00:00:02.123456000'::TIMESTAMP_TZ(9)"
    );
}

#[test]
fn timestamp_tz_two_fields() {
    let fields = Fields::from(vec![
        Field::new("epoch", DataType::Int64, true),
        Field::new("timezone", DataType::Int32, true),
    ]);
    let arrays: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(vec![
            Some(1_767_225_602_123),
            Some(1_767_225_602_123),
            Some(5),
            None,
        ])),
        Arc::new(Int32Array::from(vec![1560, 1110, 1440, 1440])),
    ];
    let array: ArrayRef = Arc::new(
        StructArray::try_new(
            fields.clone(),
            arrays,
            Some(NullBuffer::from(vec![true, true, false, true])),
        )
        .expect("struct"),
    );
    let f = field("TS", DataType::Struct(fields), "TIMESTAMP_TZ", 3);
    let tz3 = SfType::TimestampTz { scale: 3 };
    assert_eq!(
        lines(f.clone(), array.clone(), tz3),
        [
            "2026-01-01 00:00:02.123000+00",
            "2026-01-01 00:00:02.123000+00",
            "\\N",
            "\\N"
        ]
    );
    let k = keys(f, array, tz3);
    assert_eq!(
        k[0],
        KeyValue::TimestampTz {
            nanos: 1_767_225_602_123_000_000,
            offset_minutes: 120
        }
    );
    assert!(matches!(
        k[1],
        KeyValue::TimestampTz {
            offset_minutes: -330,
            ..
        }
    ));
    // Same instant, different offsets: equal.
    assert_eq!(k[0], k[1]);
    assert_eq!(
        k[0].sf_literal(),
        "'2026-01-01 00:00:02.123000000'::TIMESTAMP_TZ(9)"
    );
    assert_eq!(k[0].encode(), "ts_tz:1767225602123000000:120");
}

#[test]
fn timestamp_tz_three_fields() {
    let fields = Fields::from(vec![
        Field::new("epoch", DataType::Int64, true),
        Field::new("fraction", DataType::Int32, true),
        Field::new("timezone", DataType::Int32, true),
    ]);
    let arrays: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(vec![
            Some(1_767_225_602),
            Some(1_767_225_602),
            Some(-1),
            Some(0),
            None,
        ])),
        Arc::new(Int32Array::from(vec![
            123_456_789,
            123_456_790,
            999_999_999,
            0,
            0,
        ])),
        Arc::new(Int32Array::from(vec![1560, 1110, 1440, 1440, 1440])),
    ];
    let array: ArrayRef = Arc::new(
        StructArray::try_new(
            fields.clone(),
            arrays,
            Some(NullBuffer::from(vec![true, true, true, false, true])),
        )
        .expect("struct"),
    );
    let f = field("TS", DataType::Struct(fields), "TIMESTAMP_TZ", 9);
    assert_eq!(
        lines(f.clone(), array.clone(), TZ9),
        [
            "2026-01-01 00:00:02.123456+00",
            "2026-01-01 00:00:02.123456+00",
            "1969-12-31 23:59:59.999999+00",
            "\\N",
            "\\N"
        ]
    );
    let k = keys(f, array, TZ9);
    assert_eq!(
        k[1],
        KeyValue::TimestampTz {
            nanos: 1_767_225_602_123_456_790,
            offset_minutes: -330
        }
    );
    assert!(k[0] < k[1]);
    assert_eq!(
        k[1].sf_literal(),
        "'2026-01-01 00:00:02.123456790'::TIMESTAMP_TZ(9)"
    );
    assert_eq!(k[3], KeyValue::Null);
    assert_eq!(k[4], KeyValue::Null);
}

#[test]
fn nanosecond_keys_stay_distinct_while_copy_truncates() {
    let array = epoch_fraction(
        vec![Some(1_767_225_602), Some(1_767_225_602)],
        vec![123_456_789, 123_456_790],
        None,
    );
    let f = field(
        "UPDATED_AT",
        struct_type(&[("epoch", DataType::Int64), ("fraction", DataType::Int32)]),
        "TIMESTAMP_NTZ",
        9,
    );
    assert_eq!(
        lines(f.clone(), array.clone(), NTZ9),
        ["2026-01-01 00:00:02.123456", "2026-01-01 00:00:02.123456"]
    );
    let k = keys(f, array, NTZ9);
    assert_ne!(k[0], k[1]);
    assert!(k[0] < k[1]);
    assert_eq!(
        k[0].sf_literal(),
        "'2026-01-01 00:00:02.123456789'::TIMESTAMP_NTZ(9)"
    );
    assert_eq!(
        k[1].sf_literal(),
        "'2026-01-01 00:00:02.123456790'::TIMESTAMP_NTZ(9)"
    );
    assert_eq!(k[1].encode(), "ts_ntz:1767225602123456790");
    assert_eq!(
        KeyValue::decode(&k[1].encode()).map(|v| v.encode()),
        Ok(k[1].encode())
    );
}

#[test]
fn arrow_native_timestamps_are_accepted() {
    let array: ArrayRef = Arc::new(
        arrow_array::TimestampMicrosecondArray::from(vec![Some(-1), None]).with_timezone("UTC"),
    );
    let dt = array.data_type().clone();
    assert_eq!(
        lines(
            field("TS", dt.clone(), "TIMESTAMP_TZ", 9),
            array.clone(),
            TZ9
        ),
        ["1969-12-31 23:59:59.999999+00", "\\N"]
    );
    assert_eq!(
        keys(field("TS", dt, "TIMESTAMP_TZ", 9), array, TZ9)[0],
        KeyValue::TimestampTz {
            nanos: -1000,
            offset_minutes: 0
        }
    );
}

#[test]
fn malformed_struct_values_are_errors() {
    let fields = Fields::from(vec![
        Field::new("epoch", DataType::Int64, true),
        Field::new("timezone", DataType::Int32, true),
    ]);
    let arrays: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(vec![Some(0)])),
        Arc::new(Int32Array::from(vec![3000])),
    ];
    let array: ArrayRef =
        Arc::new(StructArray::try_new(fields.clone(), arrays, None).expect("struct"));
    assert_eq!(
        copy_error(field("TS", DataType::Struct(fields), "TIMESTAMP_TZ", 0), array, TZ9),
        "column TS, row 0: TIMESTAMP_TZ timezone 3000 is not an offset in minutes + 1440 (0..=2880)"
    );
    let array = epoch_fraction(vec![Some(0)], vec![1_000_000_000], None);
    let f = field(
        "TS",
        struct_type(&[("epoch", DataType::Int64), ("fraction", DataType::Int32)]),
        "TIMESTAMP_NTZ",
        9,
    );
    assert_eq!(
        copy_error(f, array, NTZ9),
        "column TS, row 0: timestamp fraction 1000000000 is not within 0..=999999999 nanoseconds"
    );
}

/// Days since 1970 of a proleptic Gregorian date (year 0 = 1 BC), the inverse of
/// `civil_from_days`.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
}

#[test]
fn postgres_range_constants() {
    assert_eq!(PG_MIN_DAY, days_from_civil(-4713, 11, 24));
    assert_eq!(PG_MAX_DATE_DAY, days_from_civil(5_874_897, 12, 31));
    assert_eq!(PG_END_TIMESTAMP_DAY, days_from_civil(294_277, 1, 1));
    for days in [
        -800_000_000,
        PG_MIN_DAY,
        -719_163,
        -1,
        0,
        59,
        60,
        20_454,
        PG_MAX_DATE_DAY,
    ] {
        let (y, m, d) = civil_from_days(days);
        assert_eq!(days_from_civil(y, m.into(), d.into()), days);
    }
    let last_second = PG_END_TIMESTAMP_DAY * 86_400 - 1;
    let array = epoch_fraction(
        vec![Some(last_second), Some(last_second + 1)],
        vec![999_999_999, 0],
        None,
    );
    let f = field(
        "TS",
        struct_type(&[("epoch", DataType::Int64), ("fraction", DataType::Int32)]),
        "TIMESTAMP_NTZ",
        9,
    );
    let msg = copy_error(f.clone(), array.clone(), NTZ9);
    assert_eq!(
        msg,
        "column TS, row 1: timestamp 294277-01-01 00:00:00.000000000 is outside PostgreSQL's \
         range (4714-11-24 BC to 294276-12-31)"
    );
    assert_eq!(
        lines(f, Arc::new(array.slice(0, 1)), NTZ9),
        ["294276-12-31 23:59:59.999999"]
    );
    let dates: ArrayRef = Arc::new(Date32Array::from(vec![
        Some(i32::try_from(PG_MAX_DATE_DAY).expect("fits")),
        Some(i32::try_from(PG_MAX_DATE_DAY + 1).expect("fits")),
    ]));
    let msg = copy_error(
        field("D", DataType::Date32, "DATE", 0),
        dates.clone(),
        SfType::Date,
    );
    assert!(
        msg.starts_with("column D, row 1: DATE 5874898-01-01 is outside"),
        "{msg}"
    );
    assert_eq!(
        lines(
            field("D", DataType::Date32, "DATE", 0),
            Arc::new(dates.slice(0, 1)),
            SfType::Date
        ),
        ["5874897-12-31"]
    );
}

// --- Batches -------------------------------------------------------------------------------

#[test]
fn rows_are_tab_separated_in_column_order() {
    let b = batch(vec![
        (
            field("ID", DataType::Int64, "FIXED", 0),
            Arc::new(Int64Array::from(vec![Some(1), Some(2)])) as ArrayRef,
        ),
        (
            field("NAME", DataType::Utf8, "TEXT", 0),
            Arc::new(StringArray::from(vec![Some("a b"), None])) as ArrayRef,
        ),
        (
            field("OK", DataType::Boolean, "BOOLEAN", 0),
            Arc::new(BooleanArray::from(vec![None, Some(true)])) as ArrayRef,
        ),
    ]);
    let specs = [
        spec("ID", NUM0),
        spec("NAME", SfType::Text),
        spec("OK", SfType::Boolean),
    ];
    let mut out = b"previous\n".to_vec();
    assert_eq!(write_copy_text(&b, &specs, &mut out), Ok(2));
    assert_eq!(
        String::from_utf8_lossy(&out),
        "previous\n1\ta b\t\\N\n2\t\\N\tt\n"
    );
    // A slice of the batch (offsets into every array, structs included) decodes the same rows.
    assert_eq!(copy(&b.slice(1, 1), &specs), "2\t\\N\tt\n");
    let ts = batch(vec![(
        field(
            "TS",
            struct_type(&[("epoch", DataType::Int64), ("fraction", DataType::Int32)]),
            "TIMESTAMP_NTZ",
            9,
        ),
        epoch_fraction(
            vec![Some(0), None, Some(1)],
            vec![1_000, 0, 2_000],
            Some(vec![true, true, false]),
        ),
    )]);
    assert_eq!(copy(&ts.slice(1, 2), &[spec("TS", NTZ9)]), "\\N\n\\N\n");
    assert_eq!(
        copy(&ts.slice(0, 1), &[spec("TS", NTZ9)]),
        "1970-01-01 00:00:00.000001\n"
    );
}

#[test]
fn mismatches_are_errors_naming_column_and_arrow_type() {
    let b = batch(vec![(
        field("ID", DataType::Int64, "FIXED", 0),
        Arc::new(Int64Array::from(vec![1])) as ArrayRef,
    )]);
    let mut out = Vec::new();
    assert_eq!(
        write_copy_text(&b, &[spec("ID", NUM0), spec("X", SfType::Text)], &mut out)
            .map_err(|e| e.to_string()),
        Err("the result has 1 columns but the query selected 2".to_owned())
    );
    assert_eq!(
        write_copy_text(&b, &[spec("ID", SfType::Text)], &mut out).map_err(|e| e.to_string()),
        Err("column ID (TEXT) arrived as Arrow Int64 (logicalType FIXED), which is not an encoding of TEXT".to_owned())
    );
    let f = Field::new("F", DataType::Float32, true);
    let floats: ArrayRef = Arc::new(arrow_array::Float32Array::from(vec![1.0f32]));
    assert_eq!(
        copy_error(f, floats, SfType::Float),
        "column F (FLOAT) arrived as Arrow Float32, which is not an encoding of FLOAT"
    );
    let bad_scale = Field::new("N", DataType::Int64, true)
        .with_metadata(HashMap::from([("scale".to_owned(), "x".to_owned())]));
    let ints: ArrayRef = Arc::new(Int64Array::from(vec![1]));
    assert!(copy_error(bad_scale, ints, NUM0)
        .starts_with("column N: Arrow field metadata scale=\"x\" is invalid"));
    assert!(out.is_empty());
    assert_eq!(
        key_value(&b, 1, &spec("ID", NUM0), 0).map_err(|e| e.to_string()),
        Err("column 1 (ID) is out of range for a batch of 1 columns and 1 rows".to_owned())
    );
    assert_eq!(
        key_value(&b, 0, &spec("ID", NUM0), 1).map_err(|e| e.to_string()),
        Err("row 1 is out of range for a batch of 1 columns and 1 rows".to_owned())
    );
}

#[test]
fn max_key_of_a_page() {
    let b = batch(vec![
        (
            field("TS", DataType::Int64, "TIMESTAMP_NTZ", 9),
            Arc::new(Int64Array::from(vec![Some(5), Some(7), Some(7), None])) as ArrayRef,
        ),
        (
            field("ID", DataType::Utf8, "TEXT", 0),
            Arc::new(StringArray::from(vec!["z", "a", "b", "zz"])) as ArrayRef,
        ),
    ]);
    let ts = spec("TS", NTZ9);
    let id = spec("ID", SfType::Text);
    assert_eq!(
        max_key(&b, &[(0, &ts), (1, &id)]),
        Ok(Some(vec![
            KeyValue::TimestampNtz(7),
            KeyValue::Text("b".into())
        ]))
    );
    assert_eq!(max_key(&b.slice(0, 0), &[(0, &ts)]), Ok(None));
    assert_eq!(
        max_key(&b.slice(3, 1), &[(0, &ts)]),
        Ok(Some(vec![KeyValue::Null]))
    );
}

// --- KeyValue -------------------------------------------------------------------------------

#[test]
fn key_value_literals() {
    let dec = |unscaled, scale| KeyValue::Decimal { unscaled, scale };
    assert_eq!(KeyValue::Null.sf_literal(), "NULL");
    assert_eq!(KeyValue::Int(123).sf_literal(), "123");
    assert_eq!(
        KeyValue::Int(-99_999_999_999_999_999_999_999_999_999_999_999_999).sf_literal(),
        "-99999999999999999999999999999999999999"
    );
    assert_eq!(dec(-50, 2).sf_literal(), "-0.50");
    assert_eq!(dec(12345, 2).sf_literal(), "123.45");
    assert_eq!(
        dec(1, 40).sf_literal(),
        "0.0000000000000000000000000000000000000001"
    );
    assert_eq!(KeyValue::Float(0.1).sf_literal(), "'0.1'::FLOAT");
    assert_eq!(KeyValue::Float(1e300).sf_literal(), "'1e300'::FLOAT");
    assert_eq!(KeyValue::Float(f64::NAN).sf_literal(), "'NaN'::FLOAT");
    assert_eq!(KeyValue::Float(f64::INFINITY).sf_literal(), "'inf'::FLOAT");
    assert_eq!(
        KeyValue::Float(f64::NEG_INFINITY).sf_literal(),
        "'-inf'::FLOAT"
    );
    assert_eq!(
        KeyValue::Text("it's a \\ test".into()).sf_literal(),
        "'it''s a \\\\ test'"
    );
    assert_eq!(KeyValue::Bool(true).sf_literal(), "TRUE");
    assert_eq!(KeyValue::Bool(false).sf_literal(), "FALSE");
    assert_eq!(KeyValue::Date(20_454).sf_literal(), "'2026-01-01'::DATE");
    assert_eq!(KeyValue::Date(-1).sf_literal(), "'1969-12-31'::DATE");
    assert_eq!(
        KeyValue::Time(45_296_123_456_789).sf_literal(),
        "'12:34:56.123456789'::TIME(9)"
    );
    assert_eq!(
        KeyValue::TimestampNtz(1_767_225_602_123_456_789).sf_literal(),
        "'2026-01-01 00:00:02.123456789'::TIMESTAMP_NTZ(9)"
    );
    assert_eq!(
        KeyValue::TimestampTz {
            nanos: 1_767_225_602_000_000_000,
            offset_minutes: 60
        }
        .sf_literal(),
        "'2026-01-01 00:00:02.000000000'::TIMESTAMP_TZ(9)"
    );
    assert_eq!(
        KeyValue::TimestampLtz(-1).sf_literal(),
        "'1969-12-31 23:59:59.999999999'::TIMESTAMP_TZ(9)"
    );
    assert_eq!(
        KeyValue::Binary(vec![0x0a, 0xff]).sf_literal(),
        "TO_BINARY('0aff','HEX')"
    );
}

#[test]
fn key_value_ordering() {
    let dec = |unscaled, scale| KeyValue::Decimal { unscaled, scale };
    assert_eq!(dec(50, 2), dec(5, 1));
    assert_eq!(dec(500, 2), KeyValue::Int(5));
    assert!(dec(-50, 2) < dec(-4, 1));
    assert!(dec(-1, 37) < KeyValue::Int(0));
    assert!(dec(1, 37) > KeyValue::Int(0));
    assert!(dec(i128::MIN, 38) < dec(i128::MIN + 1, 38));
    assert!(dec(i128::MAX, 0) > dec(i128::MAX, 1));
    assert!(dec(1, 40) < dec(1, 39));
    assert!(dec(-1, 40) > dec(-1, 39));
    assert!(KeyValue::Float(f64::NAN) > KeyValue::Float(f64::INFINITY));
    assert_eq!(KeyValue::Float(f64::NAN), KeyValue::Float(f64::NAN));
    assert_eq!(KeyValue::Float(-0.0), KeyValue::Float(0.0));
    assert!(KeyValue::Float(f64::NEG_INFINITY) < KeyValue::Float(-1e300));
    assert!(KeyValue::Text("Z".into()) < KeyValue::Text("a".into()));
    assert!(KeyValue::Text("z".into()) < KeyValue::Text("é".into()));
    assert!(KeyValue::Text("ab".into()) > KeyValue::Text("a".into()));
    assert!(KeyValue::Null < KeyValue::Int(i128::MIN));
    assert!(KeyValue::Null < KeyValue::Text(String::new()));
    assert!(KeyValue::TimestampNtz(-1) < KeyValue::TimestampNtz(0));
    assert!(
        KeyValue::TimestampTz {
            nanos: 0,
            offset_minutes: 600
        } < KeyValue::TimestampTz {
            nanos: 1,
            offset_minutes: -600
        }
    );
    assert!(KeyValue::Binary(vec![1]) < KeyValue::Binary(vec![1, 0]));
    assert!(KeyValue::Bool(false) < KeyValue::Bool(true));
    let mut tuples = [
        vec![KeyValue::Int(2), KeyValue::Text("a".into())],
        vec![KeyValue::Int(2), KeyValue::Text("b".into())],
        vec![dec(150, 2), KeyValue::Text("z".into())],
    ];
    tuples.sort();
    assert_eq!(
        tuples[2],
        vec![KeyValue::Int(2), KeyValue::Text("b".into())]
    );
}

#[test]
fn key_value_encoding() {
    let all = [
        (KeyValue::Null, "null"),
        (KeyValue::Int(-123), "int:-123"),
        (
            KeyValue::Decimal {
                unscaled: -50,
                scale: 2,
            },
            "dec:2:-50",
        ),
        (KeyValue::Float(0.1), "float:0.1"),
        (KeyValue::Float(f64::NEG_INFINITY), "float:-inf"),
        (KeyValue::Float(f64::NAN), "float:NaN"),
        (KeyValue::Float(-0.0), "float:-0"),
        (KeyValue::Text("a:b\nc".into()), "text:a:b\nc"),
        (KeyValue::Text(String::new()), "text:"),
        (KeyValue::Bool(true), "bool:true"),
        (KeyValue::Date(-719_162), "date:-719162"),
        (KeyValue::Time(1), "time:1"),
        (
            KeyValue::TimestampNtz(1_767_225_602_123_456_789),
            "ts_ntz:1767225602123456789",
        ),
        (KeyValue::TimestampLtz(-1), "ts_ltz:-1"),
        (
            KeyValue::TimestampTz {
                nanos: -5,
                offset_minutes: -330,
            },
            "ts_tz:-5:-330",
        ),
        (KeyValue::Binary(vec![0, 0xab]), "bin:00ab"),
    ];
    for (value, text) in all {
        assert_eq!(value.encode(), text);
        let back = KeyValue::decode(text).expect("decodes");
        assert_eq!(back.encode(), text);
        assert!(back == value || matches!(value, KeyValue::Float(f) if f.is_nan()));
    }
    for bad in [
        "", "nul", "int:", "int:+1", "int:1.5", "dec:2", "dec:39:1", "bool:yes", "bin:0", "bin:AB",
        "time:-1", "ts_tz:1", "what:1",
    ] {
        assert!(
            matches!(
                KeyValue::decode(bad),
                Err(DecodeError::BadEncodedKey { .. })
            ),
            "{bad:?} must be refused"
        );
    }
    assert_eq!(
        KeyValue::decode("int:x").map_err(|e| e.to_string()),
        Err("stored key value \"int:x\" is invalid: not an integer".to_owned())
    );
}

// --- Property tests -------------------------------------------------------------------------

/// Parses decimal text (as written to COPY) back to (unscaled, scale).
fn parse_decimal(text: &str) -> Option<(i128, u8)> {
    let (neg, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    if int.is_empty() || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    if int.len() > 1 && int.starts_with('0') {
        return None;
    }
    let digits = format!("{int}{frac}");
    let magnitude: u128 = digits.parse().ok()?;
    let value = if neg {
        0i128.checked_sub_unsigned(magnitude)?
    } else {
        i128::try_from(magnitude).ok()?
    };
    Some((value, u8::try_from(frac.len()).ok()?))
}

/// Reference comparison of a / 10^sa and b / 10^sb: scale both to a common scale as
/// arbitrary-length digit strings and compare those as signed integers.
fn reference_cmp(a: i128, sa: u8, b: i128, sb: u8) -> Ordering {
    let s = sa.max(sb);
    let widen = |v: i128, sv: u8| -> (bool, String) {
        let digits = format!("{}{}", v.unsigned_abs(), "0".repeat(usize::from(s - sv)));
        let digits = digits.trim_start_matches('0').to_owned();
        (v < 0 && !digits.is_empty(), digits)
    };
    let (na, da) = widen(a, sa);
    let (nb, db) = widen(b, sb);
    let magnitude = da.len().cmp(&db.len()).then_with(|| da.cmp(&db));
    match (na, nb) {
        (false, false) => magnitude,
        (true, true) => magnitude.reverse(),
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
    }
}

fn any_key() -> impl Strategy<Value = KeyValue> {
    prop_oneof![
        Just(KeyValue::Null),
        any::<i128>().prop_map(KeyValue::Int),
        (any::<i128>(), 0u8..=38)
            .prop_map(|(unscaled, scale)| KeyValue::Decimal { unscaled, scale }),
        any::<f64>().prop_map(KeyValue::Float),
        any::<String>().prop_map(KeyValue::Text),
        any::<bool>().prop_map(KeyValue::Bool),
        any::<i32>().prop_map(KeyValue::Date),
        (0i64..86_400_000_000_000).prop_map(KeyValue::Time),
        any::<i128>().prop_map(KeyValue::TimestampNtz),
        any::<i128>().prop_map(KeyValue::TimestampLtz),
        (any::<i128>(), -1440i16..=1440).prop_map(|(nanos, offset_minutes)| {
            KeyValue::TimestampTz {
                nanos,
                offset_minutes,
            }
        }),
        proptest::collection::vec(any::<u8>(), 0..16).prop_map(KeyValue::Binary),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn decimals_written_to_copy_parse_back(unscaled in any::<i128>(), scale in 0u8..=37) {
        let array: ArrayRef = Arc::new(
            Decimal128Array::from(vec![unscaled])
                .with_precision_and_scale(38, i8::try_from(scale).expect("small"))
                .expect("decimal"),
        );
        let dt = array.data_type().clone();
        let out = lines(field("N", dt, "FIXED", scale), array, NUM0);
        prop_assert_eq!(parse_decimal(&out[0]), Some((unscaled, scale)));
        prop_assert_eq!(
            parse_decimal(&KeyValue::Decimal { unscaled, scale }.sf_literal()),
            Some((unscaled, scale))
        );
    }

    #[test]
    fn decimal_ordering_matches_exact_values(
        a in any::<i128>(), sa in 0u8..=38, b in any::<i128>(), sb in 0u8..=38,
    ) {
        let (x, y) = (KeyValue::Decimal { unscaled: a, scale: sa }, KeyValue::Decimal { unscaled: b, scale: sb });
        prop_assert_eq!(x.cmp(&y), reference_cmp(a, sa, b, sb));
        prop_assert_eq!(cmp_decimal_text(a, sa, b, sb), reference_cmp(a, sa, b, sb));
    }

    #[test]
    fn nearby_decimals_order_exactly(a in -1000i128..1000, sa in 0u8..=4, b in -1000i128..1000, sb in 0u8..=4) {
        let x = KeyValue::Decimal { unscaled: a, scale: sa };
        let y = KeyValue::Decimal { unscaled: b, scale: sb };
        let cross = (a * 10i128.pow(u32::from(sb))).cmp(&(b * 10i128.pow(u32::from(sa))));
        prop_assert_eq!(x.cmp(&y), cross);
    }

    #[test]
    fn key_values_encode_losslessly(value in any_key()) {
        let text = value.encode();
        let back = KeyValue::decode(&text);
        prop_assert!(back.is_ok(), "{:?}", back);
        let back = back.expect("checked");
        prop_assert_eq!(back.encode(), text);
        let nan = matches!(value, KeyValue::Float(f) if f.is_nan());
        prop_assert!(nan || back == value);
        if let (KeyValue::Float(a), KeyValue::Float(b)) = (&value, &back) {
            prop_assert!(a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()));
        }
    }

    #[test]
    fn ordering_is_total_and_consistent(a in any_key(), b in any_key(), c in any_key()) {
        prop_assert_eq!(a.cmp(&b), b.cmp(&a).reverse());
        if a <= b && b <= c {
            prop_assert!(a <= c);
        }
        prop_assert_eq!(a == b, a.cmp(&b) == Ordering::Equal);
    }

    #[test]
    fn timestamps_match_chrono(secs in -62_135_596_800i64..253_402_300_799, nanos in 0u32..1_000_000_000) {
        let total = i128::from(secs) * NANOS_PER_SECOND + i128::from(nanos);
        let expected = chrono::DateTime::from_timestamp(secs, nanos).expect("in range");
        // Both Snowflake encodings give the same text.
        let fraction = i32::try_from(nanos).expect("small");
        let structs = epoch_fraction(vec![Some(secs)], vec![fraction], None);
        let f = field("TS", struct_type(&[("epoch", DataType::Int64), ("fraction", DataType::Int32)]), "TIMESTAMP_NTZ", 9);
        let out = lines(f, structs, NTZ9);
        prop_assert_eq!(&out[0], &expected.format("%Y-%m-%d %H:%M:%S%.6f").to_string());
        if let Ok(units) = i64::try_from(total) {
            let ints: ArrayRef = Arc::new(Int64Array::from(vec![units]));
            let via_ints = lines(field("TS", DataType::Int64, "TIMESTAMP_NTZ", 9), ints, NTZ9);
            prop_assert_eq!(&via_ints, &out);
        }
        prop_assert_eq!(
            KeyValue::TimestampNtz(total).sf_literal(),
            format!("'{}'::TIMESTAMP_NTZ(9)", expected.format("%Y-%m-%d %H:%M:%S%.9f"))
        );
        let days = i32::try_from(secs.div_euclid(86_400)).expect("small");
        let date: ArrayRef = Arc::new(Date32Array::from(vec![days]));
        prop_assert_eq!(
            &lines(field("D", DataType::Date32, "DATE", 0), date, SfType::Date)[0],
            &expected.format("%Y-%m-%d").to_string()
        );
    }

    #[test]
    fn copy_text_escaping_round_trips(s in any::<String>()) {
        prop_assume!(!s.contains('\0'));
        let array: ArrayRef = Arc::new(StringArray::from(vec![s.as_str()]));
        let b = batch(vec![(field("T", DataType::Utf8, "TEXT", 0), array)]);
        let out = copy(&b, &[spec("T", SfType::Text)]);
        let line = out.strip_suffix('\n').expect("line end");
        prop_assert!(!line.contains('\n') && !line.contains('\t') && !line.contains('\r'));
        // PostgreSQL's COPY text unescaping.
        let mut back = String::new();
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some('n') => back.push('\n'),
                    Some('r') => back.push('\r'),
                    Some('t') => back.push('\t'),
                    Some('\\') => back.push('\\'),
                    other => prop_assert!(false, "unexpected escape {:?}", other),
                }
            } else {
                back.push(c);
            }
        }
        prop_assert_eq!(back, s);
    }
}

// --- fuzzing ---------------------------------------------------------------------------
//
// Arbitrary batches in every encoding Snowflake sends (and some it never does: a column
// whose Arrow type does not match its SQL type), with arbitrary values, including ones
// PostgreSQL cannot hold. The decoder must never panic: a batch decodes to exactly one COPY
// line per row with one field per column, or fails with a one-line error and leaves the
// buffer as it was. Every key it reads survives encode/decode. Cases: SNOWSYNC_FUZZ_CASES
// (default 2,000 per property); failures are kept in shared/fuzz/regressions/ and replayed
// first on every later run. The hand-picked corpus is shared/fuzz/corpus/.

fn opt<T: std::fmt::Debug + Clone + 'static>(
    s: impl Strategy<Value = T> + 'static,
    n: usize,
) -> impl Strategy<Value = Vec<Option<T>>> {
    proptest::collection::vec(proptest::option::weighted(0.8, s), n)
}

/// Mostly values in `valid` (to reach the writing code), sometimes anything.
fn mostly_i32(valid: std::ops::Range<i32>) -> impl Strategy<Value = i32> {
    prop_oneof![3 => valid, 1 => any::<i32>()]
}

fn mostly_i64(valid: std::ops::Range<i64>) -> impl Strategy<Value = i64> {
    prop_oneof![3 => valid, 1 => any::<i64>()]
}

fn any_sf_type() -> impl Strategy<Value = SfType> {
    prop_oneof![
        (1u8..=38, 0u8..=38).prop_map(|(precision, scale)| SfType::Number {
            precision,
            scale: scale.min(precision)
        }),
        Just(SfType::Float),
        Just(SfType::Text),
        Just(SfType::Boolean),
        Just(SfType::Date),
        (0u8..=9).prop_map(|scale| SfType::Time { scale }),
        (0u8..=9).prop_map(|scale| SfType::TimestampNtz { scale }),
        (0u8..=9).prop_map(|scale| SfType::TimestampLtz { scale }),
        (0u8..=9).prop_map(|scale| SfType::TimestampTz { scale }),
        Just(SfType::Variant),
        Just(SfType::Object),
        Just(SfType::Array),
        Just(SfType::Binary),
    ]
}

/// A timestamp struct as Snowflake sends it: epoch seconds and fraction nanoseconds, with
/// the zone's offset index for TIMESTAMP_TZ.
fn ts_struct(
    epoch: Vec<Option<i64>>,
    fraction: Option<Vec<Option<i32>>>,
    tz: Option<Vec<Option<i32>>>,
) -> ArrayRef {
    let mut fields = vec![Field::new("epoch", DataType::Int64, true)];
    let mut arrays: Vec<ArrayRef> = vec![Arc::new(Int64Array::from(epoch))];
    if let Some(f) = fraction {
        fields.push(Field::new("fraction", DataType::Int32, true));
        arrays.push(Arc::new(Int32Array::from(f)));
    }
    if let Some(t) = tz {
        fields.push(Field::new("timezone", DataType::Int32, true));
        arrays.push(Arc::new(Int32Array::from(t)));
    }
    Arc::new(StructArray::try_new(Fields::from(fields), arrays, None).expect("struct"))
}

/// One column of `n` rows: its field, its array and the SQL type it is decoded as.
fn any_column(n: usize) -> impl Strategy<Value = (Field, ArrayRef, SfType)> {
    let matched = prop_oneof![
        (opt(any::<i64>(), n), 0u8..=18).prop_map(|(v, scale)| {
            let a: ArrayRef = Arc::new(Int64Array::from(v));
            (
                field("N", DataType::Int64, "FIXED", scale),
                a,
                SfType::Number {
                    precision: 38,
                    scale,
                },
            )
        }),
        (opt(any::<i32>(), n), 0u8..=9).prop_map(|(v, scale)| {
            let a: ArrayRef = Arc::new(Int32Array::from(v));
            (
                field("N", DataType::Int32, "FIXED", scale),
                a,
                SfType::Number {
                    precision: 38,
                    scale,
                },
            )
        }),
        (opt(any::<i16>(), n), opt(any::<i8>(), n), 0u8..=4).prop_map(|(w, b, scale)| {
            let (a, dt): (ArrayRef, _) = if scale % 2 == 0 {
                (Arc::new(Int16Array::from(w)), DataType::Int16)
            } else {
                (Arc::new(Int8Array::from(b)), DataType::Int8)
            };
            (
                field("N", dt, "FIXED", scale),
                a,
                SfType::Number {
                    precision: 38,
                    scale,
                },
            )
        }),
        (opt(any::<i128>(), n), 0u8..=37).prop_map(|(v, scale)| {
            let a: ArrayRef = Arc::new(
                arrow_array::Decimal128Array::from(v)
                    .with_precision_and_scale(38, scale as i8)
                    .expect("decimal"),
            );
            (
                field("N", DataType::Decimal128(38, scale as i8), "FIXED", scale),
                a,
                SfType::Number {
                    precision: 38,
                    scale,
                },
            )
        }),
        opt(any::<f64>(), n).prop_map(|v| {
            let a: ArrayRef = Arc::new(Float64Array::from(v));
            (field("F", DataType::Float64, "REAL", 0), a, SfType::Float)
        }),
        (
            opt(any::<String>(), n),
            prop_oneof![
                Just(SfType::Text),
                Just(SfType::Variant),
                Just(SfType::Object),
                Just(SfType::Array)
            ]
        )
            .prop_map(|(v, t)| {
                let a: ArrayRef = Arc::new(StringArray::from(v));
                (field("S", DataType::Utf8, "TEXT", 0), a, t)
            }),
        opt(any::<bool>(), n).prop_map(|v| {
            let a: ArrayRef = Arc::new(arrow_array::BooleanArray::from(v));
            (
                field("B", DataType::Boolean, "BOOLEAN", 0),
                a,
                SfType::Boolean,
            )
        }),
        opt(mostly_i32(-700_000..2_900_000), n).prop_map(|v| {
            let a: ArrayRef = Arc::new(Date32Array::from(v));
            (field("D", DataType::Date32, "DATE", 0), a, SfType::Date)
        }),
        (opt(mostly_i64(0..86_400), n), 0u8..=9).prop_map(|(v, scale)| {
            let a: ArrayRef = Arc::new(Int64Array::from(v));
            (
                field("T", DataType::Int64, "TIME", scale),
                a,
                SfType::Time { scale },
            )
        }),
        (opt(any::<i64>(), n), 0u8..=9, any::<bool>()).prop_map(|(v, scale, ltz)| {
            let a: ArrayRef = Arc::new(Int64Array::from(v));
            let (logical, t) = if ltz {
                ("TIMESTAMP_LTZ", SfType::TimestampLtz { scale })
            } else {
                ("TIMESTAMP_NTZ", SfType::TimestampNtz { scale })
            };
            (field("TS", DataType::Int64, logical, scale), a, t)
        }),
        (
            opt(mostly_i64(-62_135_596_800..253_402_300_800), n),
            opt(mostly_i32(0..1_000_000_000), n)
        )
            .prop_map(|(e, f)| {
                let a = ts_struct(e, Some(f), None);
                let dt = a.data_type().clone();
                (
                    field("TS", dt, "TIMESTAMP_NTZ", 9),
                    a,
                    SfType::TimestampNtz { scale: 9 },
                )
            }),
        (
            opt(mostly_i64(-62_135_596_800..253_402_300_800), n),
            opt(mostly_i32(0..1_000_000_000), n),
            opt(mostly_i32(0..2881), n),
            any::<bool>()
        )
            .prop_map(|(e, f, tz, three)| {
                let (a, scale) = if three {
                    (ts_struct(e, Some(f), Some(tz)), 9)
                } else {
                    (ts_struct(e, None, Some(tz)), 3)
                };
                let dt = a.data_type().clone();
                (
                    field("TZ", dt, "TIMESTAMP_TZ", scale),
                    a,
                    SfType::TimestampTz { scale },
                )
            }),
        opt(proptest::collection::vec(any::<u8>(), 0..24), n).prop_map(|v| {
            let a: ArrayRef = Arc::new(arrow_array::BinaryArray::from_iter(v));
            (
                field("BIN", DataType::Binary, "BINARY", 0),
                a,
                SfType::Binary,
            )
        }),
    ];
    // One column in six is decoded as a type it was not sent as.
    (matched, 0u8..6, any_sf_type())
        .prop_map(|((f, a, t), pick, other)| (f, a, if pick == 0 { other } else { t }))
}

fn any_batch() -> impl Strategy<Value = (RecordBatch, Vec<ColumnSpec>)> {
    (1usize..12)
        .prop_flat_map(|n| proptest::collection::vec(any_column(n), 1..5))
        .prop_map(|cols| {
            let specs = cols
                .iter()
                .enumerate()
                .map(|(i, (_, _, t))| spec(&format!("C{i}"), *t))
                .collect();
            let b = batch(
                cols.into_iter()
                    .enumerate()
                    .map(|(i, (f, a, _))| (f.with_name(format!("C{i}")), a))
                    .collect(),
            );
            (b, specs)
        })
}

proptest! {
    #![proptest_config(crate::fuzz::config("arrow_decode", 2000))]

    #[test]
    fn fuzz_batches_decode_to_whole_copy_lines_or_a_clean_error((b, specs) in any_batch()) {
        let mut out = b"kept".to_vec();
        match write_copy_text(&b, &specs, &mut out) {
            Ok(rows) => {
                prop_assert_eq!(rows, b.num_rows());
                let text = &out[4..];
                prop_assert_eq!(text.iter().filter(|&&c| c == b'\n').count(), rows);
                for line in text.split(|&c| c == b'\n').take(rows) {
                    prop_assert_eq!(line.iter().filter(|&&c| c == b'\t').count(), specs.len() - 1);
                    prop_assert!(!line.contains(&b'\r') && !line.contains(&0));
                }
            }
            Err(e) => {
                prop_assert_eq!(&out[..], b"kept");
                prop_assert!(!e.to_string().contains('\n'), "{}", e);
            }
        }
        // The binary form of the same batch: whole tuples of whole fields, or a clean error.
        let mut bin = b"kept".to_vec();
        match write_copy_binary(&b, &specs, &mut bin) {
            Ok(rows) => {
                prop_assert_eq!(rows, b.num_rows());
                let mut at = 4usize;
                for _ in 0..rows {
                    let fields = i16::from_be_bytes([bin[at], bin[at + 1]]);
                    prop_assert_eq!(usize::try_from(fields).ok(), Some(specs.len()));
                    at += 2;
                    for _ in 0..specs.len() {
                        let len = i32::from_be_bytes([bin[at], bin[at + 1], bin[at + 2], bin[at + 3]]);
                        at += 4;
                        prop_assert!(len >= -1);
                        at += usize::try_from(len).unwrap_or(0);
                        prop_assert!(at <= bin.len());
                    }
                }
                prop_assert_eq!(at, bin.len());
            }
            Err(e) => {
                prop_assert_eq!(&bin[..], b"kept");
                prop_assert!(!e.to_string().contains('\n'), "{}", e);
            }
        }
        for (col, s) in specs.iter().enumerate() {
            for row in 0..b.num_rows() {
                if let Ok(k) = key_value(&b, col, s, row) {
                    let back = KeyValue::decode(&k.encode());
                    prop_assert_eq!(back.as_ref().ok(), Some(&k), "{:?}", back);
                }
            }
        }
    }

    #[test]
    fn fuzz_stored_keys_decode_or_fail_cleanly(s in "\\PC{0,40}|(int|dec|ts_ntz|ts_tz|text|bin|date|time|bool|null|float):[-0-9a-f.:,+]{0,30}") {
        // Checkpoints and watermarks come back from DynamoDB: whatever is stored there,
        // decoding gives a value that re-encodes to itself, or an error.
        if let Ok(k) = KeyValue::decode(&s) {
            prop_assert_eq!(KeyValue::decode(&k.encode()).ok(), Some(k));
        }
    }
}

#[test]
fn fuzz_corpus_strings_survive_every_text_type() {
    for s in crate::fuzz::corpus() {
        for t in [SfType::Text, SfType::Variant, SfType::Binary, SfType::Date] {
            let array: ArrayRef = Arc::new(StringArray::from(vec![Some(s.as_str()), None]));
            let b = batch(vec![(field("T", DataType::Utf8, "TEXT", 0), array)]);
            let mut out = b"kept".to_vec();
            match write_copy_text(&b, &[spec("T", t)], &mut out) {
                Ok(rows) => assert_eq!(
                    (rows, out.iter().filter(|&&c| c == b'\n').count()),
                    (2, 2),
                    "{s:?} as {t:?}"
                ),
                Err(e) => {
                    assert_eq!(out, b"kept", "{s:?} as {t:?}");
                    assert!(!e.to_string().contains('\n'), "{e}");
                }
            }
        }
        let k = KeyValue::Text(s.clone());
        assert_eq!(KeyValue::decode(&k.encode()).ok(), Some(k), "{s:?}");
        let _ = KeyValue::decode(&s);
    }
}
