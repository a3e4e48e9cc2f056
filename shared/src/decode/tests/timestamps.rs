//! The decoder on timestamps: NTZ, LTZ and TZ in every encoding, scale and range.

use super::*;

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
        "column TS, row 1: a timestamp outside PostgreSQL's range (4714-11-24 BC to 294276-12-31)"
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
        msg.starts_with("column D, row 1: a DATE outside") && !msg.contains("5874898"),
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
