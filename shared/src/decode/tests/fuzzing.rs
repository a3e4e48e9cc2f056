//! The decoder on fuzzing the decoder with arbitrary input.

use super::*;

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
