//! Key values: one decoded value for keyset paging and watermarks, at the source's full
//! precision, with its order and its Snowflake literal.

use super::*;

/// One decoded value for keyset paging and watermarks, at the source's full precision
/// (nanoseconds, exact decimals), never rounded.
///
/// # Ordering
/// `Ord` orders values as Snowflake does within one column type: numbers numerically
/// (`Int` and `Decimal` of any scales compare by exact value, so `Decimal{50,2} ==
/// Decimal{5,1}`), floats numerically with `NaN` above everything and `-0.0 == 0.0`, text by
/// UTF-8 bytes, binary by bytes, `false < true`, dates/times by value, timestamps by instant
/// (`TimestampTz` ignores its offset, so equal instants are equal). **`Null` sorts first**
/// (below every value), unlike Snowflake's default `NULLS LAST`: callers that page over
/// nullable keys must treat NULL explicitly. Values of different kinds are ordered by kind
/// only to make the order total. Equality (`==`) follows the same rules.
#[derive(Debug, Clone)]
pub enum KeyValue {
    /// SQL NULL.
    Null,
    /// A `NUMBER` with scale 0.
    Int(i128),
    /// A `NUMBER` with a scale: `unscaled / 10^scale` (scale at most 38).
    Decimal {
        /// The digits without the decimal point.
        unscaled: i128,
        /// Digits after the decimal point.
        scale: u8,
    },
    /// A `FLOAT`.
    Float(f64),
    /// Text (also JSON text of `VARIANT`/`OBJECT`/`ARRAY`).
    Text(String),
    /// A `BOOLEAN`.
    Bool(bool),
    /// A `DATE`: days since 1970-01-01.
    Date(i32),
    /// A `TIME`: nanoseconds since midnight.
    Time(i64),
    /// A `TIMESTAMP_NTZ`: nanoseconds since 1970-01-01 00:00:00 (wall clock).
    TimestampNtz(i128),
    /// A `TIMESTAMP_LTZ`: nanoseconds since the epoch (UTC instant).
    TimestampLtz(i128),
    /// A `TIMESTAMP_TZ`: nanoseconds since the epoch (UTC instant) and the value's own offset.
    TimestampTz {
        /// Nanoseconds since the epoch, UTC.
        nanos: i128,
        /// The value's offset from UTC in minutes (kept, but not part of the ordering).
        offset_minutes: i16,
    },
    /// A `BINARY`.
    Binary(Vec<u8>),
}

/// Reads one cell of `batch` as a [`KeyValue`]; `spec` describes column `col`.
///
/// # Errors
/// [`DecodeError`] when `col` or `row` is outside the batch, the column's encoding does not
/// match `spec`, or the value is malformed.
pub fn key_value(
    batch: &RecordBatch,
    col: usize,
    spec: &ColumnSpec,
    row: usize,
) -> Result<KeyValue, DecodeError> {
    let reader = key_reader(batch, col, spec)?;
    if row >= batch.num_rows() {
        return Err(out_of_bounds(batch, format!("row {row}")));
    }
    read_key(&reader, spec, row)
}

/// The largest key tuple among the rows of `batch` (by [`KeyValue`]'s ordering, compared
/// column by column), or `None` for an empty batch. `key_columns` pairs each key column's
/// index in the batch with its spec, in key order.
///
/// # Errors
/// As [`key_value`].
pub fn max_key(
    batch: &RecordBatch,
    key_columns: &[(usize, &ColumnSpec)],
) -> Result<Option<Vec<KeyValue>>, DecodeError> {
    let readers = key_columns
        .iter()
        .map(|(col, spec)| key_reader(batch, *col, spec))
        .collect::<Result<Vec<_>, _>>()?;
    let mut best: Option<Vec<KeyValue>> = None;
    for row in 0..batch.num_rows() {
        let tuple = readers
            .iter()
            .zip(key_columns)
            .map(|(reader, (_, spec))| read_key(reader, spec, row))
            .collect::<Result<Vec<_>, _>>()?;
        if best.as_ref().is_none_or(|b| tuple > *b) {
            best = Some(tuple);
        }
    }
    Ok(best)
}

pub(super) fn out_of_bounds(batch: &RecordBatch, what: String) -> DecodeError {
    DecodeError::OutOfBounds {
        what,
        columns: batch.num_columns(),
        rows: batch.num_rows(),
    }
}

pub(super) fn key_reader<'a>(
    batch: &'a RecordBatch,
    col: usize,
    spec: &ColumnSpec,
) -> Result<Reader<'a>, DecodeError> {
    if col >= batch.num_columns() {
        return Err(out_of_bounds(
            batch,
            format!("column {col} ({})", spec.name),
        ));
    }
    Reader::resolve(
        batch.column(col).as_ref(),
        batch.schema_ref().field(col),
        spec,
    )
}

pub(super) fn read_key(
    reader: &Reader<'_>,
    spec: &ColumnSpec,
    row: usize,
) -> Result<KeyValue, DecodeError> {
    let value_error = |what: String| DecodeError::Value {
        column: spec.name.clone(),
        row,
        what,
    };
    let Some(value) = reader.value(row).map_err(value_error)? else {
        return Ok(KeyValue::Null);
    };
    Ok(match value {
        Value::Number { unscaled, scale: 0 } => KeyValue::Int(unscaled),
        Value::Number { unscaled, scale } => KeyValue::Decimal { unscaled, scale },
        Value::Float(f) => KeyValue::Float(f),
        Value::Text(s) | Value::Json(s) => KeyValue::Text(s.to_owned()),
        Value::Bool(b) => KeyValue::Bool(b),
        Value::Binary(b) => KeyValue::Binary(b.to_vec()),
        Value::Date(days) => KeyValue::Date(
            i32::try_from(days).map_err(|_| value_error("a DATE out of range".into()))?,
        ),
        Value::Time(nanos) => KeyValue::Time(nanos),
        Value::Ntz(nanos) => KeyValue::TimestampNtz(nanos),
        Value::Ltz(nanos) => KeyValue::TimestampLtz(nanos),
        Value::Tz {
            nanos,
            offset_minutes,
        } => KeyValue::TimestampTz {
            nanos,
            offset_minutes,
        },
    })
}

/// Compares two exact decimals `a / 10^sa` and `b / 10^sb`.
pub(super) fn cmp_decimal(a: i128, sa: u8, b: i128, sb: u8) -> Ordering {
    if sa > MAX_DECIMAL_SCALE || sb > MAX_DECIMAL_SCALE {
        return cmp_decimal_text(a, sa, b, sb);
    }
    // value = q + r / 10^s with 0 <= r < 10^s (floor division keeps negatives exact).
    let (pa, pb) = (pow10(sa), pow10(sb));
    let (qa, ra) = (a.div_euclid(pa), a.rem_euclid(pa));
    let (qb, rb) = (b.div_euclid(pb), b.rem_euclid(pb));
    qa.cmp(&qb).then_with(|| {
        // Bring both fractions to the larger scale: r < 10^s <= 10^38, so r * 10^(s - s') < 10^38.
        let s = sa.max(sb);
        (ra * pow10(s - sa)).cmp(&(rb * pow10(s - sb)))
    })
}

/// Exact comparison through decimal digits, for scales an `i128` power of ten cannot hold.
pub(super) fn cmp_decimal_text(a: i128, sa: u8, b: i128, sb: u8) -> Ordering {
    fn parts(v: i128, scale: u8) -> (bool, String, String) {
        let digits = v.unsigned_abs().to_string();
        let scale = usize::from(scale);
        let padded = format!(
            "{}{digits}",
            "0".repeat((scale + 1).saturating_sub(digits.len()))
        );
        let (int, frac) = padded.split_at(padded.len() - scale);
        let int = int.trim_start_matches('0').to_owned();
        let frac = frac.trim_end_matches('0').to_owned();
        (v < 0, int, frac)
    }
    let (na, ia, fa) = parts(a, sa);
    let (nb, ib, fb) = parts(b, sb);
    let magnitude = ia
        .len()
        .cmp(&ib.len())
        .then_with(|| ia.cmp(&ib))
        .then_with(|| fa.cmp(&fb));
    match (na, nb) {
        (false, false) => magnitude,
        (true, true) => magnitude.reverse(),
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
    }
}

pub(super) fn cmp_float(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

impl KeyValue {
    /// Rank of the kind, for comparing values of different kinds (numbers share one rank, and
    /// so do the two instant types).
    fn rank(&self) -> u8 {
        match self {
            KeyValue::Null => 0,
            KeyValue::Bool(_) => 1,
            KeyValue::Int(_) | KeyValue::Decimal { .. } => 2,
            KeyValue::Float(_) => 3,
            KeyValue::Text(_) => 4,
            KeyValue::Binary(_) => 5,
            KeyValue::Date(_) => 6,
            KeyValue::Time(_) => 7,
            KeyValue::TimestampNtz(_) => 8,
            KeyValue::TimestampLtz(_) | KeyValue::TimestampTz { .. } => 9,
        }
    }

    /// An exact Snowflake SQL literal of the value: `123`, `-0.50`, `'0.1'::FLOAT`,
    /// `'NaN'::FLOAT`, `'it''s'`, `TRUE`, `'2026-01-01'::DATE`, `'12:34:56.123456789'::TIME(9)`,
    /// `'2026-01-01 00:00:02.123456789'::TIMESTAMP_NTZ(9)`, instants (LTZ and TZ) as the UTC
    /// wall clock `'...'::TIMESTAMP_TZ(9)` without an offset (the session is pinned to UTC),
    /// `TO_BINARY('0aff','HEX')`, `NULL`. Fractions always have all nine digits.
    pub fn sf_literal(&self) -> String {
        match self {
            KeyValue::Null => "NULL".to_owned(),
            KeyValue::Int(i) => i.to_string(),
            KeyValue::Decimal { unscaled, scale } => decimal_string(*unscaled, *scale),
            KeyValue::Float(f) => format!("'{}'::FLOAT", float_string(*f, "inf", "-inf")),
            KeyValue::Text(s) => crate::quote::sf_string(s),
            KeyValue::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_owned(),
            KeyValue::Date(days) => format!("'{}'::DATE", display_date(i64::from(*days))),
            KeyValue::Time(nanos) => format!("'{}'::TIME(9)", display_time(*nanos)),
            KeyValue::TimestampNtz(nanos) => {
                format!("'{}'::TIMESTAMP_NTZ(9)", display_timestamp(*nanos))
            }
            KeyValue::TimestampLtz(nanos) | KeyValue::TimestampTz { nanos, .. } => {
                format!("'{}'::TIMESTAMP_TZ(9)", display_timestamp(*nanos))
            }
            KeyValue::Binary(bytes) => format!("TO_BINARY('{}','HEX')", hex_string(bytes)),
        }
    }

    /// A PostgreSQL literal of the value as the pull stores it (see [`crate::types::SfType::pg_type`]):
    /// `123`, `'-0.50'::numeric`, `'0.1'::float8`, text in byte order (`COLLATE "C"`, the
    /// order Snowflake and [`KeyValue`] compare text in), `TRUE`, `'2026-01-01'::date`,
    /// `'12:34:56.123456'::time`, timestamps truncated to microseconds as PostgreSQL keeps
    /// them, `'\x0aff'::bytea`, `NULL`.
    ///
    /// # Errors
    /// Text holding a NUL character, which PostgreSQL cannot store (the value is not named).
    pub fn pg_literal(&self) -> Result<String, DecodeError> {
        let micros = |nanos: i128| display_timestamp(nanos.div_euclid(1000) * 1000);
        Ok(match self {
            KeyValue::Null => "NULL".to_owned(),
            KeyValue::Int(i) => i.to_string(),
            KeyValue::Decimal { unscaled, scale } => {
                format!("'{}'::numeric", decimal_string(*unscaled, *scale))
            }
            KeyValue::Float(f) => {
                format!("'{}'::float8", float_string(*f, "Infinity", "-Infinity"))
            }
            KeyValue::Text(t) => format!(
                "{} COLLATE \"C\"",
                crate::quote::pg_string(t).map_err(|_| DecodeError::BadEncodedKey {
                    input: String::new(),
                    reason: "a key holds a NUL character, which PostgreSQL text cannot".into(),
                })?
            ),
            KeyValue::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_owned(),
            KeyValue::Date(days) => format!("'{}'::date", display_date(i64::from(*days))),
            KeyValue::Time(nanos) => {
                format!("'{}'::time", display_time(nanos.div_euclid(1000) * 1000))
            }
            KeyValue::TimestampNtz(nanos) => format!("'{}'::timestamp", micros(*nanos)),
            KeyValue::TimestampLtz(nanos) | KeyValue::TimestampTz { nanos, .. } => {
                format!("'{}+00'::timestamptz", micros(*nanos))
            }
            KeyValue::Binary(bytes) => format!("'\\x{}'::bytea", hex_string(bytes)),
        })
    }

    /// A lossless tagged text form for storing watermarks: `null`, `int:123`, `dec:2:-50`,
    /// `float:0.1` (`NaN`, `inf`, `-inf`), `text:<raw text>`, `bool:true`, `date:<days>`,
    /// `time:<nanos>`, `ts_ntz:<nanos>`, `ts_ltz:<nanos>`, `ts_tz:<nanos>:<offset minutes>`,
    /// `bin:<hex>`. [`KeyValue::decode`] reads it back to the identical value.
    pub fn encode(&self) -> String {
        match self {
            KeyValue::Null => "null".to_owned(),
            KeyValue::Int(i) => format!("int:{i}"),
            KeyValue::Decimal { unscaled, scale } => format!("dec:{scale}:{unscaled}"),
            KeyValue::Float(f) => format!("float:{}", float_string(*f, "inf", "-inf")),
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
            KeyValue::Binary(b) => format!("bin:{}", hex_string(b)),
        }
    }

    /// Reads the form written by [`KeyValue::encode`].
    ///
    /// # Errors
    /// [`DecodeError::BadEncodedKey`] when the text is not such a form.
    pub fn decode(s: &str) -> Result<KeyValue, DecodeError> {
        let bad = |reason: &str| DecodeError::BadEncodedKey {
            input: s.to_owned(),
            reason: reason.to_owned(),
        };
        if s == "null" {
            return Ok(KeyValue::Null);
        }
        let (tag, rest) = s
            .split_once(':')
            .ok_or_else(|| bad("expected 'null' or '<kind>:<value>'"))?;
        fn num<T: std::str::FromStr>(text: &str) -> Option<T> {
            // Plain integers only: `FromStr` for integers accepts a leading '+', which
            // `encode` never writes; refuse it so the form stays canonical.
            if text.starts_with('+') {
                return None;
            }
            text.parse().ok()
        }
        let value = match tag {
            "int" => KeyValue::Int(num(rest).ok_or_else(|| bad("not an integer"))?),
            "dec" => {
                let (scale, unscaled) = rest
                    .split_once(':')
                    .ok_or_else(|| bad("expected dec:<scale>:<unscaled>"))?;
                KeyValue::Decimal {
                    unscaled: num(unscaled)
                        .ok_or_else(|| bad("unscaled value is not an integer"))?,
                    scale: num::<u8>(scale)
                        .filter(|s| *s <= MAX_DECIMAL_SCALE)
                        .ok_or_else(|| bad("scale is not within 0..=38"))?,
                }
            }
            "float" => KeyValue::Float(rest.parse().map_err(|_| bad("not a float"))?),
            "text" => KeyValue::Text(rest.to_owned()),
            "bool" => match rest {
                "true" => KeyValue::Bool(true),
                "false" => KeyValue::Bool(false),
                _ => return Err(bad("expected bool:true or bool:false")),
            },
            "date" => KeyValue::Date(num(rest).ok_or_else(|| bad("not a day number"))?),
            "time" => KeyValue::Time(
                num(rest)
                    .filter(|n| (0..86_400_000_000_000).contains(n))
                    .ok_or_else(|| bad("not nanoseconds within a day"))?,
            ),
            "ts_ntz" => KeyValue::TimestampNtz(num(rest).ok_or_else(|| bad("not nanoseconds"))?),
            "ts_ltz" => KeyValue::TimestampLtz(num(rest).ok_or_else(|| bad("not nanoseconds"))?),
            "ts_tz" => {
                let (nanos, offset) = rest
                    .split_once(':')
                    .ok_or_else(|| bad("expected ts_tz:<nanos>:<offset minutes>"))?;
                KeyValue::TimestampTz {
                    nanos: num(nanos).ok_or_else(|| bad("not nanoseconds"))?,
                    offset_minutes: num(offset).ok_or_else(|| bad("offset is not minutes"))?,
                }
            }
            "bin" => {
                if rest.len() % 2 != 0 {
                    return Err(bad("odd number of hex digits"));
                }
                let bytes = rest
                    .as_bytes()
                    .chunks(2)
                    .map(|pair| {
                        let hex = std::str::from_utf8(pair).ok()?;
                        if hex
                            .bytes()
                            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                        {
                            u8::from_str_radix(hex, 16).ok()
                        } else {
                            None
                        }
                    })
                    .collect::<Option<Vec<u8>>>()
                    .ok_or_else(|| bad("not lower-case hex"))?;
                KeyValue::Binary(bytes)
            }
            _ => return Err(bad("unknown kind")),
        };
        Ok(value)
    }
}

impl Ord for KeyValue {
    fn cmp(&self, other: &Self) -> Ordering {
        use KeyValue as K;
        match (self, other) {
            (K::Null, K::Null) => Ordering::Equal,
            (K::Bool(a), K::Bool(b)) => a.cmp(b),
            (K::Int(a), K::Int(b)) => a.cmp(b),
            (K::Int(a), K::Decimal { unscaled, scale }) => cmp_decimal(*a, 0, *unscaled, *scale),
            (K::Decimal { unscaled, scale }, K::Int(b)) => cmp_decimal(*unscaled, *scale, *b, 0),
            (
                K::Decimal {
                    unscaled: a,
                    scale: sa,
                },
                K::Decimal {
                    unscaled: b,
                    scale: sb,
                },
            ) => cmp_decimal(*a, *sa, *b, *sb),
            (K::Float(a), K::Float(b)) => cmp_float(*a, *b),
            (K::Text(a), K::Text(b)) => a.as_bytes().cmp(b.as_bytes()),
            (K::Binary(a), K::Binary(b)) => a.cmp(b),
            (K::Date(a), K::Date(b)) => a.cmp(b),
            (K::Time(a), K::Time(b)) => a.cmp(b),
            (K::TimestampNtz(a), K::TimestampNtz(b)) => a.cmp(b),
            (
                K::TimestampLtz(a) | K::TimestampTz { nanos: a, .. },
                K::TimestampLtz(b) | K::TimestampTz { nanos: b, .. },
            ) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl PartialOrd for KeyValue {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for KeyValue {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for KeyValue {}
