//! The decoder on NUMBER: fixed-point numbers, scaled and unscaled, as Snowflake encodes them.

use super::*;

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
