//! The fuzzers' oracle: what a correct decode of a column gives, cell by cell, worked out from
//! the Arrow arrays with `i128` and chrono and the encodings table of `decode/mod.rs`, sharing
//! no code with the decoder (`copy_back` reads COPY output back to compare); and key values:
//! exact comparison and the stored form written from the format's documentation.

use super::*;
use arrow_array::types::Decimal128Type;
use chrono::{Datelike, NaiveDate};

/// One well-formed value at full precision.
#[derive(Debug, Clone)]
pub(super) enum Val {
    Num {
        unscaled: i128,
        scale: u8,
    },
    Float(f64),
    Text(String),
    Json(String),
    Bool(bool),
    Bytes(Vec<u8>),
    /// Days since 1970-01-01.
    Date(i64),
    /// Nanoseconds since midnight.
    Time(i64),
    /// Nanoseconds since 1970 (the wall clock for NTZ, the UTC instant otherwise).
    Ts {
        nanos: i128,
        zone: Zone,
    },
}

#[derive(Debug, Clone, Copy)]
pub(super) enum Zone {
    Ntz,
    Ltz,
    /// TIMESTAMP_TZ with its offset in minutes.
    Tz(i16),
}

/// What a correct decoder makes of one cell.
#[derive(Debug, Clone)]
pub(super) enum Cell {
    Null,
    /// Breaks its encoding's own rules (a TIME outside one day, a timestamp fraction outside
    /// 0..1e9 or NULL beside its epoch, a timezone outside 0..=2880 or NULL): refused
    /// everywhere, as a key too.
    Malformed,
    /// Well formed but not storable in PostgreSQL (a date or timestamp outside its range, NUL
    /// in text, the escape `\u0000` in JSON): COPY refuses it, a key keeps it.
    Unstorable(Val),
    Good(Val),
}

/// Where a COPY of a batch must fail first: a column that is not an encoding of its type (or
/// whose metadata cannot be used), else the first cell, row by row, it cannot write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fault {
    Column(usize),
    Cell { col: usize, row: usize },
}

const DAYS_PER_400_YEARS: i64 = 146_097;

fn day_zero() -> NaiveDate {
    NaiveDate::from_ymd_opt(2000, 1, 1).expect("a date")
}

/// Days since 1970-01-01 of a proleptic Gregorian date of any year (0 = 1 BC): chrono after
/// moving the year by whole 400-year cycles, which repeat the calendar exactly.
pub(super) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let cycles = (year - 2000).div_euclid(400);
    let y = i32::try_from(year - 400 * cycles).expect("2000..2400");
    let date = NaiveDate::from_ymd_opt(y, month, day).expect("a real date");
    (date - day_zero()).num_days() + 10_957 + cycles * DAYS_PER_400_YEARS
}

/// (year, month, day) of days since 1970-01-01, any year, as [`days_from_civil`] does.
pub(super) fn civil(days: i64) -> (i64, u32, u32) {
    let from_2000 = days - 10_957;
    let cycles = from_2000.div_euclid(DAYS_PER_400_YEARS);
    let rest = u64::try_from(from_2000.rem_euclid(DAYS_PER_400_YEARS)).expect("positive");
    let date = day_zero() + chrono::Days::new(rest);
    (
        i64::from(date.year()) + 400 * cycles,
        date.month(),
        date.day(),
    )
}

/// PostgreSQL's `date` range (documented: 4713 BC to 5874897 AD), in days since 1970.
pub(super) fn pg_dates() -> std::ops::RangeInclusive<i64> {
    days_from_civil(-4713, 11, 24)..=days_from_civil(5_874_897, 12, 31)
}

/// PostgreSQL's timestamp days (documented: 4713 BC to 294276 AD), in days since 1970.
pub(super) fn pg_timestamp_days() -> std::ops::Range<i64> {
    days_from_civil(-4713, 11, 24)..days_from_civil(294_277, 1, 1)
}

pub(super) const MICROS_PER_DAY: i128 = 86_400_000_000;

fn storable_instant(nanos: i128) -> bool {
    let days = nanos.div_euclid(1000).div_euclid(MICROS_PER_DAY);
    i64::try_from(days).is_ok_and(|d| pg_timestamp_days().contains(&d))
}

/// The `bigint` columns of the type mapping: NUMBER with scale 0 and at most 18 digits.
pub(super) fn is_bigint(t: SfType) -> bool {
    matches!(t, SfType::Number { precision, scale: 0 } if precision <= 18)
}

/// True when JSON text holds the escape `\u0000` (a backslash that is not itself escaped).
fn json_nul_escape(s: &str) -> bool {
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('u') if chars.as_str().starts_with("0000") => return true,
                _ => {}
            }
        }
    }
    false
}

fn ints(a: &dyn Array) -> Option<Vec<Option<i64>>> {
    Some(match a.data_type() {
        DataType::Int8 => a
            .as_primitive::<Int8Type>()
            .iter()
            .map(|v| v.map(i64::from))
            .collect(),
        DataType::Int16 => a
            .as_primitive::<Int16Type>()
            .iter()
            .map(|v| v.map(i64::from))
            .collect(),
        DataType::Int32 => a
            .as_primitive::<Int32Type>()
            .iter()
            .map(|v| v.map(i64::from))
            .collect(),
        DataType::Int64 => a.as_primitive::<Int64Type>().iter().collect(),
        _ => return None,
    })
}

fn instant(nanos: i128, zone: Zone) -> Cell {
    let v = Val::Ts { nanos, zone };
    if storable_instant(nanos) {
        Cell::Good(v)
    } else {
        Cell::Unstorable(v)
    }
}

fn offset(tz: Option<i64>) -> Option<i16> {
    tz.filter(|t| (0..=2880).contains(t))
        .and_then(|t| i16::try_from(t - 1440).ok())
}

/// What a correct decoder makes of each cell of `array` (sent as `field`) read as `t`, or
/// `None` when the array is not an encoding of `t` the encodings table lists (or its `scale`
/// metadata is over 38 for numbers, 9 for times). Struct children are found by name, else by
/// position, as the decoder documents.
pub(super) fn expect_column(field: &Field, array: &dyn Array, t: SfType) -> Option<Vec<Cell>> {
    let meta: Option<u8> = field
        .metadata()
        .get("scale")
        .map(|s| s.parse().expect("generated metadata"));
    let data_type = array.data_type();
    assert!(
        !matches!(
            data_type,
            DataType::LargeUtf8
                | DataType::Utf8View
                | DataType::LargeBinary
                | DataType::BinaryView
                | DataType::FixedSizeBinary(_)
                | DataType::Date64
                | DataType::Time32(_)
                | DataType::Time64(_)
                | DataType::Timestamp(..)
        ),
        "the oracle models the encodings the fuzzer generates; add {data_type} here first"
    );
    let time_scale = |spec: u8| meta.unwrap_or(spec).le(&9).then(|| meta.unwrap_or(spec));
    let cells = match t {
        SfType::Number { scale, .. } => {
            if let DataType::Decimal128(_, s) = data_type {
                let scale = meta.unwrap_or(u8::try_from(*s).ok()?);
                if scale > 38 {
                    return None;
                }
                array
                    .as_primitive::<Decimal128Type>()
                    .iter()
                    .map(|v| {
                        v.map_or(Cell::Null, |unscaled| {
                            Cell::Good(Val::Num { unscaled, scale })
                        })
                    })
                    .collect()
            } else {
                let scale = meta.unwrap_or(scale);
                if scale > 38 {
                    return None;
                }
                ints(array)?
                    .into_iter()
                    .map(|v| {
                        v.map_or(Cell::Null, |v| {
                            Cell::Good(Val::Num {
                                unscaled: i128::from(v),
                                scale,
                            })
                        })
                    })
                    .collect()
            }
        }
        SfType::Float => array
            .as_primitive_opt::<arrow_array::types::Float64Type>()?
            .iter()
            .map(|v| v.map_or(Cell::Null, |f| Cell::Good(Val::Float(f))))
            .collect(),
        SfType::Text | SfType::Geography | SfType::Geometry => array
            .as_string_opt::<i32>()?
            .iter()
            .map(|v| {
                v.map_or(Cell::Null, |s| {
                    let v = Val::Text(s.to_owned());
                    if s.contains('\0') {
                        Cell::Unstorable(v)
                    } else {
                        Cell::Good(v)
                    }
                })
            })
            .collect(),
        SfType::Variant | SfType::Object | SfType::Array => array
            .as_string_opt::<i32>()?
            .iter()
            .map(|v| {
                v.map_or(Cell::Null, |s| {
                    let v = Val::Json(s.to_owned());
                    if s.contains('\0') || json_nul_escape(s) {
                        Cell::Unstorable(v)
                    } else {
                        Cell::Good(v)
                    }
                })
            })
            .collect(),
        SfType::Boolean => array
            .as_boolean_opt()?
            .iter()
            .map(|v| v.map_or(Cell::Null, |b| Cell::Good(Val::Bool(b))))
            .collect(),
        SfType::Binary => array
            .as_binary_opt::<i32>()?
            .iter()
            .map(|v| v.map_or(Cell::Null, |b| Cell::Good(Val::Bytes(b.to_vec()))))
            .collect(),
        SfType::Date => {
            let days: Vec<Option<i64>> = match data_type {
                DataType::Date32 => array
                    .as_primitive::<Date32Type>()
                    .iter()
                    .map(|v| v.map(i64::from))
                    .collect(),
                DataType::Int32 => ints(array)?,
                _ => return None,
            };
            days.into_iter()
                .map(|d| {
                    d.map_or(Cell::Null, |d| {
                        if pg_dates().contains(&d) {
                            Cell::Good(Val::Date(d))
                        } else {
                            Cell::Unstorable(Val::Date(d))
                        }
                    })
                })
                .collect()
        }
        SfType::Time { scale } => {
            let scale = time_scale(scale)?;
            ints(array)?
                .into_iter()
                .map(|v| {
                    v.map_or(Cell::Null, |v| {
                        let nanos = i128::from(v) * 10i128.pow(u32::from(9 - scale));
                        if (0..86_400 * 1_000_000_000).contains(&nanos) {
                            Cell::Good(Val::Time(i64::try_from(nanos).expect("within a day")))
                        } else {
                            Cell::Malformed
                        }
                    })
                })
                .collect()
        }
        SfType::TimestampNtz { scale }
        | SfType::TimestampLtz { scale }
        | SfType::TimestampTz { scale } => {
            let zone = match t {
                SfType::TimestampNtz { .. } => Zone::Ntz,
                SfType::TimestampLtz { .. } => Zone::Ltz,
                _ => Zone::Tz(0),
            };
            if let DataType::Struct(fields) = data_type {
                let s = array.as_struct();
                let child = |name: &str, position: usize| -> Option<Vec<Option<i64>>> {
                    match s.column_by_name(name) {
                        Some(c) => ints(c.as_ref()),
                        None if fields.iter().all(|f| f.name() != name) => {
                            ints(s.columns().get(position)?.as_ref())
                        }
                        None => None,
                    }
                };
                let has_fraction = fields.iter().any(|f| f.name() == "fraction");
                let (epoch, fraction, timezone, epoch_scale) = match (zone, fields.len()) {
                    (Zone::Ntz | Zone::Ltz, 2) => {
                        (child("epoch", 0)?, Some(child("fraction", 1)?), None, 0)
                    }
                    (Zone::Tz(_), 2) if !has_fraction => (
                        child("epoch", 0)?,
                        None,
                        Some(child("timezone", 1)?),
                        time_scale(scale)?,
                    ),
                    (Zone::Tz(_), 3) => (
                        child("epoch", 0)?,
                        Some(child("fraction", 1)?),
                        Some(child("timezone", 2)?),
                        0,
                    ),
                    _ => return None,
                };
                (0..array.len())
                    .map(|row| {
                        let Some(e) = epoch[row].filter(|_| !s.is_null(row)) else {
                            return Cell::Null;
                        };
                        let mut nanos = i128::from(e) * 10i128.pow(u32::from(9 - epoch_scale));
                        if let Some(fraction) = &fraction {
                            match fraction[row] {
                                Some(f) if (0..1_000_000_000).contains(&f) => {
                                    nanos = i128::from(e) * 1_000_000_000 + i128::from(f);
                                }
                                _ => return Cell::Malformed,
                            }
                        }
                        let zone = match &timezone {
                            None => zone,
                            Some(tz) => match offset(tz[row]) {
                                Some(o) => Zone::Tz(o),
                                None => return Cell::Malformed,
                            },
                        };
                        instant(nanos, zone)
                    })
                    .collect()
            } else {
                let scale = time_scale(scale)?;
                ints(array)?
                    .into_iter()
                    .map(|v| {
                        v.map_or(Cell::Null, |v| {
                            instant(i128::from(v) * 10i128.pow(u32::from(9 - scale)), zone)
                        })
                    })
                    .collect()
            }
        }
    };
    Some(cells)
}

/// The first fault of a batch whose columns the oracle expects as `columns` (a `None` column
/// is refused as a whole), where `refused(col, cell)` says which cells the form cannot write.
pub(super) fn first_fault(
    columns: &[Option<Vec<Cell>>],
    rows: usize,
    refused: impl Fn(usize, &Cell) -> bool,
) -> Option<Fault> {
    if let Some(col) = columns.iter().position(Option::is_none) {
        return Some(Fault::Column(col));
    }
    (0..rows).find_map(|row| {
        columns.iter().enumerate().find_map(|(col, cells)| {
            let cell = &cells.as_ref().expect("checked")[row];
            refused(col, cell).then_some(Fault::Cell { col, row })
        })
    })
}

/// COPY text cannot write malformed or unstorable cells.
pub(super) fn text_refuses(_col: usize, cell: &Cell) -> bool {
    matches!(cell, Cell::Malformed | Cell::Unstorable(_))
}

/// True when `e` is the refusal `fault` calls for, in a batch whose columns are `specs`.
pub(super) fn error_is(e: &DecodeError, specs: &[ColumnSpec], fault: Fault) -> bool {
    match (e, fault) {
        (
            DecodeError::Encoding { column, .. } | DecodeError::Metadata { column, .. },
            Fault::Column(col),
        ) => *column == specs[col].name,
        (
            DecodeError::Value { column, row, .. }
            | DecodeError::Nul { column, row }
            | DecodeError::JsonNul { column, row },
            Fault::Cell { col, row: at },
        ) => *column == specs[col].name && *row == at,
        _ => false,
    }
}

/// Equal floats: the same bits, or both NaN (text cannot carry a NaN's payload).
pub(super) fn same_float(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

/// The key value a cell must read as.
pub(super) fn key_of(v: &Val) -> KeyValue {
    match v {
        Val::Num { unscaled, scale: 0 } => KeyValue::Int(*unscaled),
        Val::Num { unscaled, scale } => KeyValue::Decimal {
            unscaled: *unscaled,
            scale: *scale,
        },
        Val::Float(f) => KeyValue::Float(*f),
        Val::Text(s) | Val::Json(s) => KeyValue::Text(s.clone()),
        Val::Bool(b) => KeyValue::Bool(*b),
        Val::Bytes(b) => KeyValue::Binary(b.clone()),
        Val::Date(d) => KeyValue::Date(i32::try_from(*d).expect("generated as i32")),
        Val::Time(n) => KeyValue::Time(*n),
        Val::Ts { nanos, zone } => match zone {
            Zone::Ntz => KeyValue::TimestampNtz(*nanos),
            Zone::Ltz => KeyValue::TimestampLtz(*nanos),
            Zone::Tz(offset_minutes) => KeyValue::TimestampTz {
                nanos: *nanos,
                offset_minutes: *offset_minutes,
            },
        },
    }
}

/// Identical key values: the same kind and the same fields (floats by bits, any NaN equal),
/// stricter than `==`, which equates `Decimal{50,2}` with `Decimal{5,1}` and ignores a
/// TIMESTAMP_TZ's offset.
pub(super) fn same_key(a: &KeyValue, b: &KeyValue) -> bool {
    use KeyValue as K;
    match (a, b) {
        (K::Null, K::Null) => true,
        (K::Int(x), K::Int(y)) | (K::TimestampNtz(x), K::TimestampNtz(y)) => x == y,
        (K::TimestampLtz(x), K::TimestampLtz(y)) => x == y,
        (
            K::Decimal {
                unscaled: x,
                scale: sx,
            },
            K::Decimal {
                unscaled: y,
                scale: sy,
            },
        ) => (x, sx) == (y, sy),
        (K::Float(x), K::Float(y)) => same_float(*x, *y),
        (K::Text(x), K::Text(y)) => x == y,
        (K::Bool(x), K::Bool(y)) => x == y,
        (K::Date(x), K::Date(y)) => x == y,
        (K::Time(x), K::Time(y)) => x == y,
        (
            K::TimestampTz {
                nanos: x,
                offset_minutes: ox,
            },
            K::TimestampTz {
                nanos: y,
                offset_minutes: oy,
            },
        ) => (x, ox) == (y, oy),
        (K::Binary(x), K::Binary(y)) => x == y,
        _ => false,
    }
}

/// The stored form of `k` as `KeyValue::encode` documents it, written here independently
/// (floats as Rust's shortest round-trip text, e.g. `1.0`, `1e300`, `NaN`, `-inf`).
pub(super) fn stored_form(k: &KeyValue) -> String {
    match k {
        KeyValue::Null => "null".to_owned(),
        KeyValue::Int(i) => format!("int:{i}"),
        KeyValue::Decimal { unscaled, scale } => format!("dec:{scale}:{unscaled}"),
        KeyValue::Float(f) => format!("float:{f:?}"),
        KeyValue::Text(s) => format!("text:{s}"),
        KeyValue::Bool(b) => format!("bool:{b}"),
        KeyValue::Date(d) => format!("date:{d}"),
        KeyValue::Time(n) => format!("time:{n}"),
        KeyValue::TimestampNtz(n) => format!("ts_ntz:{n}"),
        KeyValue::TimestampLtz(n) => format!("ts_ltz:{n}"),
        KeyValue::TimestampTz {
            nanos,
            offset_minutes,
        } => format!("ts_tz:{nanos}:{offset_minutes}"),
        KeyValue::Binary(b) => format!(
            "bin:{}",
            b.iter().map(|x| format!("{x:02x}")).collect::<String>()
        ),
    }
}

/// Any key value the decoder can produce.
pub(super) fn any_key() -> impl Strategy<Value = KeyValue> {
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

#[test]
fn the_oracle_calendar_matches_postgresql_documented_bounds() {
    // Julian day 0 (4714-11-24 BC) is 2,440,588 days before 1970; 2000-01-01 is day 10,957.
    assert_eq!(*pg_dates().start(), -2_440_588);
    assert_eq!(days_from_civil(2000, 1, 1), 10_957);
    assert_eq!(days_from_civil(1970, 1, 1), 0);
    assert_eq!(civil(-2_440_588), (-4713, 11, 24));
    let far = days_from_civil(5_874_897, 12, 31);
    assert_eq!(civil(far), (5_874_897, 12, 31));
    assert_eq!(civil(far + 1), (5_874_898, 1, 1));
    assert_eq!(
        super::copy_back::pg_ymd(-719_162),
        ("0001-01-01".to_owned(), false)
    );
    assert_eq!(
        super::copy_back::pg_ymd(-719_163),
        ("0001-12-31".to_owned(), true)
    );
}
