//! PostgreSQL `COPY ... FROM STDIN` of decoded rows: the binary form the pull writes, and the
//! text form (tests and the fuzzer compare both).

use super::*;

/// Appends one PostgreSQL `COPY ... FROM STDIN` (text format) line per row of `batch` to `out`:
/// tab-separated, `\N` for NULL, `\n` at the end of each line, with `\`, tab, newline and
/// carriage return escaped in text. Batch column `i` is `columns[i]`. Returns the rows written.
///
/// Values are exact: numbers keep every digit and their scale (`-0.50`); floats use the
/// shortest text that reads back to the same double (`NaN`, `Infinity`, `-Infinity`);
/// booleans `t`/`f`; dates `YYYY-MM-DD` (`... BC` before year 1); times `HH:MM:SS.ffffff`;
/// `TIMESTAMP_NTZ` as `YYYY-MM-DD HH:MM:SS.ffffff`; `TIMESTAMP_LTZ`/`_TZ` as the UTC instant
/// `YYYY-MM-DD HH:MM:SS.ffffff+00`. Sub-microsecond digits are truncated toward the past
/// (floor), as PostgreSQL keeps microseconds. JSON types are written as sent; binary as bytea
/// hex (`\\x0aff` in COPY text).
///
/// # Errors
/// [`DecodeError`] when the column count or an encoding does not match, text contains NUL,
/// JSON contains `\u0000`, or a value is malformed or outside PostgreSQL's range. On error
/// `out` is left as it was.
pub fn write_copy_text(
    batch: &RecordBatch,
    columns: &[ColumnSpec],
    out: &mut Vec<u8>,
) -> Result<usize, DecodeError> {
    write_copy(batch, columns, out, CopyFormat::Text)
}

/// Appends one PostgreSQL binary `COPY` tuple per row of `batch` to `out` (without the
/// stream's [`BINARY_HEADER`] and [`BINARY_TRAILER`], which the writer adds). Values are the
/// same as [`write_copy_text`]'s, in PostgreSQL's binary forms of the column types of
/// [`SfType::pg_type`]: PostgreSQL skips parsing text, and numbers and timestamps travel in 8
/// to 16 bytes instead of up to 40 characters. Returns the rows written.
///
/// # Errors
/// As [`write_copy_text`]; on error `out` is left as it was.
pub fn write_copy_binary(
    batch: &RecordBatch,
    columns: &[ColumnSpec],
    out: &mut Vec<u8>,
) -> Result<usize, DecodeError> {
    write_copy(batch, columns, out, CopyFormat::Binary)
}

/// The start of a binary `COPY` stream: signature, flags (none), header extension (none).
pub const BINARY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// The end of a binary `COPY` stream: a tuple with -1 fields.
pub const BINARY_TRAILER: &[u8] = &[0xff, 0xff];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CopyFormat {
    Text,
    Binary,
}

pub(super) fn write_copy(
    batch: &RecordBatch,
    columns: &[ColumnSpec],
    out: &mut Vec<u8>,
    format: CopyFormat,
) -> Result<usize, DecodeError> {
    let start = out.len();
    let result = write_rows(batch, columns, out, format);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

pub(super) fn write_rows(
    batch: &RecordBatch,
    columns: &[ColumnSpec],
    out: &mut Vec<u8>,
    format: CopyFormat,
) -> Result<usize, DecodeError> {
    if batch.num_columns() != columns.len() {
        return Err(DecodeError::ColumnCount {
            expected: columns.len(),
            found: batch.num_columns(),
        });
    }
    let fields = i16::try_from(columns.len()).map_err(|_| DecodeError::ColumnCount {
        expected: columns.len(),
        found: batch.num_columns(),
    })?;
    let schema = batch.schema();
    let readers = columns
        .iter()
        .enumerate()
        .map(|(i, spec)| Reader::resolve(batch.column(i).as_ref(), schema.field(i), spec))
        .collect::<Result<Vec<_>, _>>()?;
    for row in 0..batch.num_rows() {
        if format == CopyFormat::Binary {
            out.extend_from_slice(&fields.to_be_bytes());
        }
        for (i, (reader, spec)) in readers.iter().zip(columns).enumerate() {
            let value = reader.value(row).map_err(|what| DecodeError::Value {
                column: spec.name.clone(),
                row,
                what,
            })?;
            let written = match format {
                CopyFormat::Text => {
                    if i > 0 {
                        out.push(b'\t');
                    }
                    match value {
                        None => {
                            out.extend_from_slice(b"\\N");
                            Ok(())
                        }
                        Some(value) => write_copy_value(out, value),
                    }
                }
                CopyFormat::Binary => match value {
                    None => {
                        out.extend_from_slice(&(-1i32).to_be_bytes());
                        Ok(())
                    }
                    Some(value) => binary::write_field(out, value, spec.sf_type),
                },
            };
            written.map_err(|e| e.into_error(spec, row))?;
        }
        if format == CopyFormat::Text {
            out.push(b'\n');
        }
    }
    Ok(batch.num_rows())
}

/// A cell that cannot be written, before the column and row are attached.
pub(super) enum CellError {
    Nul,
    JsonNul,
    Range(String),
}

impl CellError {
    fn into_error(self, spec: &ColumnSpec, row: usize) -> DecodeError {
        let column = spec.name.clone();
        match self {
            CellError::Nul => DecodeError::Nul { column, row },
            CellError::JsonNul => DecodeError::JsonNul { column, row },
            CellError::Range(what) => DecodeError::Value { column, row, what },
        }
    }
}

pub(super) fn write_copy_value(out: &mut Vec<u8>, value: Value<'_>) -> Result<(), CellError> {
    match value {
        Value::Number { unscaled, scale } => write_decimal(out, unscaled, scale),
        Value::Float(f) => write_float(out, f, "Infinity", "-Infinity"),
        Value::Text(s) => write_copy_escaped(out, s)?,
        Value::Json(s) => {
            if json_has_nul_escape(s) {
                return Err(CellError::JsonNul);
            }
            write_copy_escaped(out, s)?;
        }
        Value::Bool(b) => out.push(if b { b't' } else { b'f' }),
        Value::Binary(bytes) => {
            out.extend_from_slice(b"\\\\x");
            write_hex(out, bytes);
        }
        Value::Date(days) => {
            let days = pg_date(days)?;
            let (year, month, day) = civil_from_days(days);
            write_pg_ymd(out, year, month, day);
            if year <= 0 {
                out.extend_from_slice(b" BC");
            }
        }
        Value::Time(nanos) => {
            write_hms(out, i128::from(nanos), 6);
        }
        Value::Ntz(nanos) => write_pg_timestamp(out, nanos, false)?,
        Value::Ltz(nanos) | Value::Tz { nanos, .. } => write_pg_timestamp(out, nanos, true)?,
    }
    Ok(())
}

/// Days since 1970-01-01, checked against PostgreSQL's `date` range.
pub(super) fn pg_date(days: i64) -> Result<i64, CellError> {
    if (PG_MIN_DAY..=PG_MAX_DATE_DAY).contains(&days) {
        Ok(days)
    } else {
        Err(CellError::Range(
            "a DATE outside PostgreSQL's range (4714-11-24 BC to 5874897-12-31)".into(),
        ))
    }
}

/// Microseconds since 1970-01-01 (floored), checked against PostgreSQL's timestamp range
/// (whose end is past `i64` microseconds since 1970, though not since PostgreSQL's 2000).
pub(super) fn pg_micros(nanos: i128) -> Result<i128, CellError> {
    let micros = nanos.div_euclid(1000);
    let days = micros.div_euclid(MICROS_PER_DAY);
    if !(i128::from(PG_MIN_DAY)..i128::from(PG_END_TIMESTAMP_DAY)).contains(&days) {
        return Err(CellError::Range(
            "a timestamp outside PostgreSQL's range (4714-11-24 BC to 294276-12-31)".into(),
        ));
    }
    Ok(micros)
}

/// `YYYY-MM-DD HH:MM:SS.ffffff[+00][ BC]`, floored to microseconds.
pub(super) fn write_pg_timestamp(
    out: &mut Vec<u8>,
    nanos: i128,
    utc: bool,
) -> Result<(), CellError> {
    let micros = pg_micros(nanos)?;
    let days = micros.div_euclid(MICROS_PER_DAY);
    // In range, so it fits an i64.
    let days = i64::try_from(days).map_err(|e| CellError::Range(e.to_string()))?;
    let (year, month, day) = civil_from_days(days);
    write_pg_ymd(out, year, month, day);
    out.push(b' ');
    write_hms(out, micros.rem_euclid(MICROS_PER_DAY) * 1000, 6);
    if utc {
        out.extend_from_slice(b"+00");
    }
    if year <= 0 {
        out.extend_from_slice(b" BC");
    }
    Ok(())
}

/// Year (PostgreSQL style: `1 - year` for years <= 0, which are then written with ` BC`),
/// month and day.
pub(super) fn write_pg_ymd(out: &mut Vec<u8>, year: i64, month: u32, day: u32) {
    let shown = if year <= 0 { 1 - year } else { year };
    write_padded(out, shown.unsigned_abs().into(), 4);
    out.push(b'-');
    write_padded(out, month.into(), 2);
    out.push(b'-');
    write_padded(out, day.into(), 2);
}

/// `HH:MM:SS.f...` for nanoseconds since midnight (`0..NANOS_PER_DAY`), with `digits`
/// fractional digits (truncated).
pub(super) fn write_hms(out: &mut Vec<u8>, nanos_of_day: i128, digits: u8) {
    let secs = nanos_of_day.div_euclid(NANOS_PER_SECOND);
    let frac = nanos_of_day.rem_euclid(NANOS_PER_SECOND);
    write_padded(out, (secs / 3600).unsigned_abs(), 2);
    out.push(b':');
    write_padded(out, (secs / 60 % 60).unsigned_abs(), 2);
    out.push(b':');
    write_padded(out, (secs % 60).unsigned_abs(), 2);
    if digits > 0 {
        out.push(b'.');
        write_padded(
            out,
            (frac / pow10(9 - digits)).unsigned_abs(),
            usize::from(digits),
        );
    }
}

/// Writes `n` in decimal, left-padded with zeros to `width`.
pub(super) fn write_padded(out: &mut Vec<u8>, n: u128, width: usize) {
    let mut buf = [0u8; 40];
    let digits = u128_digits(n, &mut buf);
    for _ in digits.len()..width {
        out.push(b'0');
    }
    out.extend_from_slice(digits);
}

/// The decimal digits of `n`, written at the end of `buf`.
pub(super) fn u128_digits(mut n: u128, buf: &mut [u8; 40]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        // n % 10 < 10, so the cast cannot truncate.
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
}

/// An exact decimal: `unscaled / 10^scale`, every digit kept (`-50`, 2 → `-0.50`).
pub(super) fn write_decimal(out: &mut Vec<u8>, unscaled: i128, scale: u8) {
    let mut buf = [0u8; 40];
    let digits = u128_digits(unscaled.unsigned_abs(), &mut buf);
    if unscaled < 0 {
        out.push(b'-');
    }
    let scale = usize::from(scale);
    if scale == 0 {
        out.extend_from_slice(digits);
    } else if digits.len() <= scale {
        out.extend_from_slice(b"0.");
        for _ in digits.len()..scale {
            out.push(b'0');
        }
        out.extend_from_slice(digits);
    } else {
        let (int, frac) = digits.split_at(digits.len() - scale);
        out.extend_from_slice(int);
        out.push(b'.');
        out.extend_from_slice(frac);
    }
}

pub(super) fn decimal_string(unscaled: i128, scale: u8) -> String {
    let mut out = Vec::with_capacity(42);
    write_decimal(&mut out, unscaled, scale);
    // Only ASCII digits, '-' and '.' were written.
    String::from_utf8_lossy(&out).into_owned()
}

/// The shortest text that reads back as the same double: plain notation for
/// `1e-5 <= |f| < 1e16`, exponent notation outside (`1e300`), `NaN` and the given infinities.
pub(super) fn write_float(out: &mut Vec<u8>, f: f64, inf: &str, neg_inf: &str) {
    struct VecWriter<'a>(&'a mut Vec<u8>);
    impl std::fmt::Write for VecWriter<'_> {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.0.extend_from_slice(s.as_bytes());
            Ok(())
        }
    }
    if f.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if f.is_infinite() {
        out.extend_from_slice(if f > 0.0 { inf } else { neg_inf }.as_bytes());
    } else {
        let abs = f.abs();
        // Writing into a Vec cannot fail.
        let _ = if abs != 0.0 && !(1e-5..1e16).contains(&abs) {
            write!(VecWriter(out), "{f:e}")
        } else {
            write!(VecWriter(out), "{f}")
        };
    }
}

pub(super) fn float_string(f: f64, inf: &str, neg_inf: &str) -> String {
    let mut out = Vec::new();
    write_float(&mut out, f, inf, neg_inf);
    String::from_utf8_lossy(&out).into_owned()
}

/// Appends `s` with COPY text escapes; NUL is refused.
pub(super) fn write_copy_escaped(out: &mut Vec<u8>, s: &str) -> Result<(), CellError> {
    let bytes = s.as_bytes();
    let mut run = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escaped: &[u8] = match b {
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0 => return Err(CellError::Nul),
            _ => continue,
        };
        out.extend_from_slice(&bytes[run..i]);
        out.extend_from_slice(escaped);
        run = i + 1;
    }
    out.extend_from_slice(&bytes[run..]);
    Ok(())
}

/// True when JSON text contains the escape `\u0000` (which `jsonb` refuses). Escaped
/// backslashes (`\\u0000` is the text `\u0000`, not a NUL) are skipped correctly.
pub(super) fn json_has_nul_escape(s: &str) -> bool {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            if bytes.get(i + 1) == Some(&b'u')
                && bytes.get(i + 2..i + 6) == Some(b"0000".as_slice())
            {
                return true;
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    false
}

pub(super) fn write_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for &b in bytes {
        out.push(HEX[usize::from(b >> 4)]);
        out.push(HEX[usize::from(b & 0xf)]);
    }
}

pub(super) fn hex_string(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len() * 2);
    write_hex(&mut out, bytes);
    String::from_utf8_lossy(&out).into_owned()
}
