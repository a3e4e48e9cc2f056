//! COPY output parsed back to values, as PostgreSQL reads it: text fields unescaped and read
//! as decimals, floats and chrono's dates and times; binary fields as `bigint`, `numeric`,
//! `float8`, `text`, `jsonb`, `bool`, `bytea`, `date`, `time` and `timestamp[tz]`. Each is
//! checked against the cell the oracle expects.

use super::oracle::{self, civil, days_from_civil, same_float, Cell, Val, Zone, MICROS_PER_DAY};
use chrono::NaiveTime;

/// PostgreSQL's COPY text unescaping of one field (the decoder writes no other escapes).
pub(super) fn unescape(field: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some('t') => out.push('\t'),
                Some('\\') => out.push('\\'),
                other => return Err(format!("unexpected escape {other:?} in {field:?}")),
            },
            '\r' => return Err(format!("a raw carriage return in {field:?}")),
            c => out.push(c),
        }
    }
    Ok(out)
}

/// Parses decimal text (as written to COPY) back to (unscaled, scale).
pub(super) fn parse_decimal(text: &str) -> Option<(i128, u8)> {
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

fn hms6(nanos_of_day: i128) -> String {
    let secs = u32::try_from(nanos_of_day / 1_000_000_000).expect("within a day");
    let nanos = u32::try_from(nanos_of_day % 1_000_000_000).expect("a fraction");
    NaiveTime::from_num_seconds_from_midnight_opt(secs, nanos)
        .expect("within a day")
        .format("%H:%M:%S%.6f")
        .to_string()
}

/// `YYYY-MM-DD` with PostgreSQL's year numbering, and whether it is BC.
pub(super) fn pg_ymd(days: i64) -> (String, bool) {
    let (year, month, day) = civil(days);
    let bc = year <= 0;
    let shown = if bc { 1 - year } else { year };
    (format!("{shown:04}-{month:02}-{day:02}"), bc)
}

/// The COPY text PostgreSQL reads as `v` (after unescaping), for values other than numbers
/// and floats (which are compared by parsing).
fn pg_text(v: &Val) -> String {
    let bc = |bc: bool| if bc { " BC" } else { "" };
    match v {
        Val::Text(s) | Val::Json(s) => s.clone(),
        Val::Bool(b) => if *b { "t" } else { "f" }.to_owned(),
        Val::Bytes(b) => format!(
            "\\x{}",
            b.iter().map(|x| format!("{x:02x}")).collect::<String>()
        ),
        Val::Date(d) => {
            let (ymd, is_bc) = pg_ymd(*d);
            format!("{ymd}{}", bc(is_bc))
        }
        Val::Time(n) => hms6(i128::from(*n) / 1000 * 1000),
        Val::Ts { nanos, zone } => {
            let micros = nanos.div_euclid(1000);
            let days = i64::try_from(micros.div_euclid(MICROS_PER_DAY)).expect("in range");
            let (ymd, is_bc) = pg_ymd(days);
            let utc = if matches!(zone, Zone::Ntz) { "" } else { "+00" };
            let time = hms6(micros.rem_euclid(MICROS_PER_DAY) * 1000);
            format!("{ymd} {time}{utc}{}", bc(is_bc))
        }
        Val::Num { .. } | Val::Float(_) => unreachable!("compared by parsing"),
    }
}

/// Checks one COPY text field against the cell it must hold.
fn check_text_field(field: &str, cell: &Cell) -> Result<(), String> {
    let v = match cell {
        Cell::Null if field == "\\N" => return Ok(()),
        Cell::Good(v) if field != "\\N" => v,
        _ => return Err(format!("{field:?} written for {cell:?}")),
    };
    let text = unescape(field)?;
    let ok = match v {
        Val::Num { unscaled, scale } => parse_decimal(&text) == Some((*unscaled, *scale)),
        Val::Float(f) => {
            let back = match text.as_str() {
                "Infinity" => Some(f64::INFINITY),
                "-Infinity" => Some(f64::NEG_INFINITY),
                t => t.parse::<f64>().ok(),
            };
            back.is_some_and(|b| same_float(b, *f))
        }
        v => text == pg_text(v),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{field:?} written for {v:?}"))
    }
}

/// Checks COPY text against the cells, column by column: one line per row, one field per
/// column, each parsing back to its cell's value.
pub(super) fn check_text(
    out: &[u8],
    columns: &[Option<Vec<Cell>>],
    rows: usize,
) -> Result<(), String> {
    let text = std::str::from_utf8(out).map_err(|e| e.to_string())?;
    if rows > 0 && !text.ends_with('\n') {
        return Err("the last line has no end".to_owned());
    }
    let lines: Vec<&str> = text.split_terminator('\n').collect();
    if lines.len() != rows {
        return Err(format!("{} lines for {rows} rows", lines.len()));
    }
    for (row, line) in lines.iter().enumerate() {
        let fields: Vec<&str> = line.split('\t').collect();
        if fields.len() != columns.len() {
            return Err(format!("row {row}: {} fields in {line:?}", fields.len()));
        }
        for (col, (field, cells)) in fields.iter().zip(columns).enumerate() {
            let cell = &cells.as_ref().expect("decoded")[row];
            check_text_field(field, cell).map_err(|e| format!("row {row}, column {col}: {e}"))?;
        }
    }
    Ok(())
}

/// Binary COPY cannot write what text cannot, nor a value with a scale or over 64 bits into a
/// `bigint` column.
pub(super) fn binary_refuses(bigint: &[bool]) -> impl Fn(usize, &Cell) -> bool + '_ {
    move |col, cell| match cell {
        Cell::Good(Val::Num { unscaled, scale }) if bigint[col] => {
            *scale != 0 || i64::try_from(*unscaled).is_err()
        }
        cell => oracle::text_refuses(col, cell),
    }
}

/// PostgreSQL's binary `numeric` back to (unscaled, display scale): digit count, weight, sign,
/// display scale, then base-10000 digits.
fn numeric(b: &[u8]) -> Result<(i128, u8), String> {
    let word = |i: usize| -> Result<u16, String> {
        b.get(i..i + 2)
            .map(|w| u16::from_be_bytes([w[0], w[1]]))
            .ok_or_else(|| format!("numeric {b:?} is short"))
    };
    let n = usize::from(word(0)?);
    let weight = i32::from(word(2)? as i16);
    let (sign, dscale) = (word(4)?, word(6)?);
    if b.len() != 8 + 2 * n {
        return Err(format!("numeric {b:?}: {n} digits in {} bytes", b.len()));
    }
    let mut magnitude: u128 = 0;
    for k in 0..n {
        let d = u128::from(word(8 + 2 * k)?);
        if d >= 10_000 {
            return Err(format!("numeric digit {d}"));
        }
        if d == 0 {
            continue;
        }
        // The digit's place in units of 10^-dscale.
        let exp = 4 * (weight - i32::try_from(k).expect("small")) + i32::from(dscale);
        let p = 10u128.checked_pow(exp.unsigned_abs());
        let term = if exp >= 0 {
            p.and_then(|p| p.checked_mul(d))
        } else {
            p.filter(|p| d % p == 0).map(|p| d / p)
        };
        magnitude = term
            .and_then(|t| magnitude.checked_add(t))
            .ok_or_else(|| format!("numeric {b:?} out of range or past its scale"))?;
    }
    let unscaled = match sign {
        0 => i128::try_from(magnitude).ok(),
        0x4000 => 0i128.checked_sub_unsigned(magnitude),
        _ => None,
    }
    .ok_or_else(|| format!("numeric {b:?}: bad sign or size"))?;
    Ok((unscaled, u8::try_from(dscale).map_err(|e| e.to_string())?))
}

fn fixed<const N: usize>(b: &[u8]) -> Result<[u8; N], String> {
    b.try_into().map_err(|_| format!("{b:?} is not {N} bytes"))
}

/// Micros from 1970 to PostgreSQL's epoch, 2000-01-01.
fn pg_epoch_micros() -> i128 {
    i128::from(days_from_civil(2000, 1, 1)) * MICROS_PER_DAY
}

/// Checks one binary COPY field (its bytes, without the length) against the value it must
/// hold, decoding it as PostgreSQL would: the same value the text form holds.
fn check_binary_field(b: &[u8], v: &Val, bigint: bool) -> Result<(), String> {
    let ok = match v {
        Val::Num { unscaled, scale } if bigint => {
            *scale == 0 && i128::from(i64::from_be_bytes(fixed(b)?)) == *unscaled
        }
        Val::Num { unscaled, scale } => numeric(b)? == (*unscaled, *scale),
        Val::Float(f) => u64::from_be_bytes(fixed(b)?) == f.to_bits(),
        Val::Text(s) => b == s.as_bytes(),
        Val::Json(s) => b.first() == Some(&1) && &b[1..] == s.as_bytes(),
        Val::Bool(x) => b == [u8::from(*x)],
        Val::Bytes(x) => b == x.as_slice(),
        Val::Date(d) => i64::from(i32::from_be_bytes(fixed(b)?)) == d - days_from_civil(2000, 1, 1),
        Val::Time(n) => i64::from_be_bytes(fixed(b)?) == n / 1000,
        Val::Ts { nanos, .. } => {
            i128::from(i64::from_be_bytes(fixed(b)?)) == nanos.div_euclid(1000) - pg_epoch_micros()
        }
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{b:?} written for {v:?}"))
    }
}

/// Checks binary COPY tuples against the cells: one tuple per row, one field per column, each
/// decoding to its cell's value.
pub(super) fn check_binary(
    out: &[u8],
    columns: &[Option<Vec<Cell>>],
    bigint: &[bool],
    rows: usize,
) -> Result<(), String> {
    let mut at = 0usize;
    let mut take = |n: usize| -> Result<&[u8], String> {
        let b = out
            .get(at..at + n)
            .ok_or_else(|| format!("the tuples end at byte {} before {}", out.len(), at + n))?;
        at += n;
        Ok(b)
    };
    for row in 0..rows {
        let count = i16::from_be_bytes(fixed(take(2)?)?);
        if usize::try_from(count).ok() != Some(columns.len()) {
            return Err(format!("row {row}: {count} fields"));
        }
        for (col, cells) in columns.iter().enumerate() {
            let cell = &cells.as_ref().expect("decoded")[row];
            let len = i32::from_be_bytes(fixed(take(4)?)?);
            let checked = match (cell, usize::try_from(len)) {
                (Cell::Null, Err(_)) if len == -1 => Ok(()),
                (Cell::Good(v), Ok(n)) => check_binary_field(take(n)?, v, bigint[col]),
                _ => Err(format!("length {len} written for {cell:?}")),
            };
            checked.map_err(|e| format!("row {row}, column {col}: {e}"))?;
        }
    }
    if at != out.len() {
        return Err(format!("{} bytes after the last tuple", out.len() - at));
    }
    Ok(())
}
