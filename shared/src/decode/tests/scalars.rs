//! The decoder on FLOAT, TEXT, JSON, BOOLEAN and BINARY.

use super::*;

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
