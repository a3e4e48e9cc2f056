//! The decoder on DATE and TIME.

use super::*;

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
    // Beyond PostgreSQL's range: a clear error naming the column and row, not the value.
    let far: ArrayRef = Arc::new(Date32Array::from(vec![Some(-2_440_589)]));
    assert_eq!(
        copy_error(field("D", DataType::Date32, "DATE", 0), far, SfType::Date),
        "column D, row 0: a DATE outside PostgreSQL's range (4714-11-24 BC to 5874897-12-31)"
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
