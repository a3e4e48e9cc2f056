//! The decoder on fuzzing the decoder with arbitrary input.

use super::*;

//
// Arbitrary batches in every encoding Snowflake sends (and some it never does: a column
// whose Arrow type does not match its SQL type), with arbitrary values, including ones
// PostgreSQL cannot hold and ones that break their encoding's rules. The oracle (oracle.rs)
// works out from the arrays alone what each cell must decode to: a batch whose cells are all
// valid must decode, every COPY field (text and binary) parsing back to exactly its value; a
// batch with an invalid cell must be refused, naming the first such cell, with the buffer left
// as it was. Every key reads as its exact value and survives encode/decode. Cases:
// SNOWSYNC_FUZZ_CASES (default 2,000 per property); failures are kept in
// shared/fuzz/regressions/ and replayed first on every later run. The hand-picked corpus is
// shared/fuzz/corpus/.

fn opt<T: std::fmt::Debug + Clone + 'static>(
    s: impl Strategy<Value = T> + 'static,
    n: usize,
) -> impl Strategy<Value = Vec<Option<T>>> {
    proptest::collection::vec(proptest::option::weighted(0.8, s), n)
}

/// Arbitrary text, sometimes around what PostgreSQL refuses (NUL, the JSON escape `\u0000`)
/// or nearly refuses (an escaped backslash before `u0000`) and what COPY text escapes.
fn any_text() -> impl Strategy<Value = String> {
    let tricky = proptest::sample::select(vec![
        "\0",
        "\\u0000",
        "\\\\u0000",
        "\\\\\\u0000",
        "\t\n\r\\",
        "\\N",
        "{\"a\":[1,null]}",
    ]);
    prop_oneof![
        3 => any::<String>(),
        1 => (any::<String>(), tricky, any::<String>()).prop_map(|(a, t, b)| format!("{a}{t}{b}")),
    ]
}

/// Mostly values in `valid` (to reach the writing code), sometimes just outside it (to find
/// a bound that moved), sometimes anything.
fn mostly_i32(valid: std::ops::Range<i32>) -> impl Strategy<Value = i32> {
    let (below, above) = (
        valid.start.saturating_sub(100)..valid.start,
        valid.end..valid.end.saturating_add(100),
    );
    prop_oneof![6 => valid, 1 => below, 1 => above, 2 => any::<i32>()]
}

fn mostly_i64(valid: std::ops::Range<i64>) -> impl Strategy<Value = i64> {
    let (below, above) = (
        valid.start.saturating_sub(100)..valid.start,
        valid.end..valid.end.saturating_add(100),
    );
    prop_oneof![6 => valid, 1 => below, 1 => above, 2 => any::<i64>()]
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
            opt(any_text(), n),
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

/// A stored key and, when it was written from a known value in the documented form, that
/// value; otherwise anything a corrupted or hand-edited item could hold.
fn any_stored_key() -> impl Strategy<Value = (String, Option<KeyValue>)> {
    prop_oneof![
        "\\PC{0,40}|(int|dec|ts_ntz|ts_tz|text|bin|date|time|bool|null|float):[-0-9a-f.:,+]{0,30}"
            .prop_map(|s| (s, None)),
        oracle::any_key().prop_map(|k| (oracle::stored_form(&k), Some(k))),
    ]
}

proptest! {
    #![proptest_config(crate::fuzz::config("arrow_decode", 2000))]

    #[test]
    fn fuzz_batches_decode_to_exact_values_and_refuse_only_invalid_ones((b, specs) in any_batch()) {
        // What a correct decoder makes of each cell, worked out independently.
        let schema = b.schema();
        let expected: Vec<Option<Vec<oracle::Cell>>> = specs
            .iter()
            .enumerate()
            .map(|(i, s)| oracle::expect_column(schema.field(i), b.column(i).as_ref(), s.sf_type))
            .collect();
        let bigint: Vec<bool> = specs.iter().map(|s| oracle::is_bigint(s.sf_type)).collect();
        let rows = b.num_rows();

        // COPY text: every field parses back to its value; refused exactly when the batch
        // holds a cell it cannot write, naming the first (column, then row by row).
        let mut out = b"kept".to_vec();
        match (write_copy_text(&b, &specs, &mut out), oracle::first_fault(&expected, rows, oracle::text_refuses)) {
            (Ok(n), None) => {
                prop_assert_eq!(n, rows);
                prop_assert_eq!(&out[..4], b"kept");
                copy_back::check_text(&out[4..], &expected, rows).map_err(TestCaseError::fail)?;
            }
            (Err(e), Some(fault)) => {
                prop_assert_eq!(&out[..], b"kept");
                prop_assert!(!e.to_string().contains('\n'), "{}", e);
                prop_assert!(oracle::error_is(&e, &specs, fault), "expected {:?}, got {}", fault, e);
            }
            (Ok(_), Some(fault)) => prop_assert!(false, "COPY text wrote {:?}: {:?}", fault, expected),
            (Err(e), None) => prop_assert!(false, "COPY text refused a valid batch: {}", e),
        }

        // Binary COPY: every field decodes (as PostgreSQL reads it) to the same value as the
        // text form; refused as text is, and also for a scaled or over-64-bit value in a
        // bigint column.
        let mut bin = b"kept".to_vec();
        match (
            write_copy_binary(&b, &specs, &mut bin),
            oracle::first_fault(&expected, rows, copy_back::binary_refuses(&bigint)),
        ) {
            (Ok(n), None) => {
                prop_assert_eq!(n, rows);
                prop_assert_eq!(&bin[..4], b"kept");
                copy_back::check_binary(&bin[4..], &expected, &bigint, rows).map_err(TestCaseError::fail)?;
            }
            (Err(e), Some(fault)) => {
                prop_assert_eq!(&bin[..], b"kept");
                prop_assert!(!e.to_string().contains('\n'), "{}", e);
                prop_assert!(oracle::error_is(&e, &specs, fault), "expected {:?}, got {}", fault, e);
            }
            (Ok(_), Some(fault)) => prop_assert!(false, "binary COPY wrote {:?}: {:?}", fault, expected),
            (Err(e), None) => prop_assert!(false, "binary COPY refused a valid batch: {}", e),
        }

        // Keys: every well-formed cell (storable or not) reads as exactly its value, which
        // survives encode/decode; malformed cells and unreadable columns are refused.
        for (col, s) in specs.iter().enumerate() {
            for row in 0..rows {
                let got = key_value(&b, col, s, row);
                let want = match expected[col].as_ref().map(|cells| &cells[row]) {
                    None | Some(oracle::Cell::Malformed) => {
                        prop_assert!(got.is_err(), "column {}, row {}: {:?} read as a key", col, row, got);
                        continue;
                    }
                    Some(oracle::Cell::Null) => KeyValue::Null,
                    Some(oracle::Cell::Good(v) | oracle::Cell::Unstorable(v)) => oracle::key_of(v),
                };
                let k = got.map_err(|e| TestCaseError::fail(format!("column {col}, row {row}: key refused: {e}")))?;
                prop_assert!(oracle::same_key(&k, &want), "column {}, row {}: {:?}, want {:?}", col, row, k, want);
                let back = KeyValue::decode(&k.encode())
                    .map_err(|e| TestCaseError::fail(format!("{:?} does not decode: {e}", k.encode())))?;
                prop_assert!(oracle::same_key(&back, &k), "{:?} came back as {:?}", k, back);
            }
        }
    }

    #[test]
    fn fuzz_stored_keys_decode_exactly_or_are_refused_cleanly((s, known) in any_stored_key()) {
        // Checkpoints and watermarks come back from DynamoDB. A form written from a known value
        // must decode to exactly that value; anything that decodes re-encodes to a form that
        // decodes to the identical value; what is refused is refused as a bad stored key.
        match KeyValue::decode(&s) {
            Ok(k) => {
                if let Some(want) = &known {
                    prop_assert!(oracle::same_key(&k, want), "{:?} decoded to {:?}, want {:?}", s, k, want);
                }
                let again = KeyValue::decode(&k.encode())
                    .map_err(|e| TestCaseError::fail(format!("{:?} re-encoded as {:?}: {e}", s, k.encode())))?;
                prop_assert!(oracle::same_key(&again, &k), "{:?}: {:?} came back as {:?}", s, k, again);
                prop_assert_eq!(again.encode(), k.encode());
            }
            Err(e) => {
                prop_assert!(known.is_none(), "the well-formed {:?} was refused: {}", s, e);
                prop_assert!(
                    matches!(&e, DecodeError::BadEncodedKey { input, .. } if *input == s),
                    "{:?}: {:?}", s, e
                );
            }
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
