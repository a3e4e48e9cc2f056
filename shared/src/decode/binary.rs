//! PostgreSQL's binary `COPY` forms of decoded values (see `pg_type` in `sf_types`): `int8`,
//! `numeric`, `float8`, `text`, `bool`, `date`, `time`, `timestamp`, `timestamptz`, `jsonb` and
//! `bytea`. Every field is its length (`i32`, big-endian) and its bytes.

use super::{json_has_nul_escape, pg_date, pg_micros, CellError, Value};
use crate::types::SfType;

/// Days from 1970-01-01 to PostgreSQL's epoch, 2000-01-01.
const PG_EPOCH_DAYS: i64 = 10_957;
/// Microseconds from 1970-01-01 to 2000-01-01.
const PG_EPOCH_MICROS: i128 = PG_EPOCH_DAYS as i128 * 86_400_000_000;

/// Appends one field (length and value) in the binary form of `sf_type`'s PostgreSQL type.
pub(super) fn write_field(
    out: &mut Vec<u8>,
    value: Value<'_>,
    sf_type: SfType,
) -> Result<(), CellError> {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    write_value(out, value, sf_type)?;
    let len = i32::try_from(out.len() - at - 4)
        .map_err(|_| CellError::Range("value larger than 2 GiB".into()))?;
    out[at..at + 4].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

fn write_value(out: &mut Vec<u8>, value: Value<'_>, sf_type: SfType) -> Result<(), CellError> {
    match value {
        Value::Number { unscaled, scale } => {
            if sf_type.is_pg_bigint() {
                let v = i64::try_from(unscaled)
                    .ok()
                    .filter(|_| scale == 0)
                    .ok_or_else(|| {
                        CellError::Range(format!(
                            "a number (scale {scale}) that does not fit bigint"
                        ))
                    })?;
                out.extend_from_slice(&v.to_be_bytes());
            } else {
                write_numeric(out, unscaled, scale);
            }
        }
        Value::Float(f) => out.extend_from_slice(&f.to_bits().to_be_bytes()),
        Value::Text(s) => {
            if s.as_bytes().contains(&0) {
                return Err(CellError::Nul);
            }
            out.extend_from_slice(s.as_bytes());
        }
        Value::Json(s) => {
            // As in COPY text: a raw NUL is a NUL, a `\u0000` escape is jsonb's refusal.
            if s.as_bytes().contains(&0) {
                return Err(CellError::Nul);
            }
            if json_has_nul_escape(s) {
                return Err(CellError::JsonNul);
            }
            out.push(1); // jsonb's binary format version
            out.extend_from_slice(s.as_bytes());
        }
        Value::Bool(b) => out.push(u8::from(b)),
        Value::Binary(bytes) => out.extend_from_slice(bytes),
        Value::Date(days) => {
            let days = pg_date(days)? - PG_EPOCH_DAYS;
            let days = i32::try_from(days).map_err(|e| CellError::Range(e.to_string()))?;
            out.extend_from_slice(&days.to_be_bytes());
        }
        Value::Time(nanos) => out.extend_from_slice(&nanos.div_euclid(1000).to_be_bytes()),
        Value::Ntz(nanos) | Value::Ltz(nanos) | Value::Tz { nanos, .. } => {
            let micros = i64::try_from(pg_micros(nanos)? - PG_EPOCH_MICROS)
                .map_err(|e| CellError::Range(e.to_string()))?;
            out.extend_from_slice(&micros.to_be_bytes());
        }
    }
    Ok(())
}

/// `numeric`'s binary form: digit count, weight (of the first base-10000 digit), sign,
/// display scale, then the base-10000 digits without leading or trailing zero digits.
fn write_numeric(out: &mut Vec<u8>, unscaled: i128, scale: u8) {
    // Decimal digits of |unscaled|, least significant first (at most 39).
    let mut dec = [0u8; 40];
    let mut n = unscaled.unsigned_abs();
    let mut len = 0usize;
    while n > 0 {
        dec[len] = (n % 10) as u8;
        n /= 10;
        len += 1;
    }
    let scale_i = i32::from(scale);
    // Base-10000 groups are aligned on the decimal point: group g covers decimal exponents
    // 4g..4g+3. The lowest exponent present is -scale; the highest is len - scale - 1.
    let low = (-scale_i).div_euclid(4);
    let high = (i32::try_from(len).unwrap_or(0) - scale_i - 1)
        .div_euclid(4)
        .max(low);
    let digit_at = |exp: i32| -> i16 {
        // the decimal digit at 10^exp
        let idx = exp + scale_i;
        if idx < 0 || idx >= i32::try_from(len).unwrap_or(0) {
            0
        } else {
            i16::from(dec[usize::try_from(idx).unwrap_or(0)])
        }
    };
    // At most 39 + 38 decimal digits: 21 groups, on the stack.
    let mut all = [0i16; 24];
    let mut count = 0usize;
    let mut g = high;
    while g >= low && count < all.len() {
        let base = g * 4;
        all[count] = digit_at(base + 3) * 1000
            + digit_at(base + 2) * 100
            + digit_at(base + 1) * 10
            + digit_at(base);
        count += 1;
        g -= 1;
    }
    let groups = &all[..count];
    // groups[0] has weight `high`; strip leading and trailing zero groups.
    let first = groups.iter().position(|&d| d != 0);
    let (digits, weight) = match first {
        None => (&groups[..0], 0),
        Some(f) => {
            let last = groups.iter().rposition(|&d| d != 0).unwrap_or(f);
            (&groups[f..=last], high - i32::try_from(f).unwrap_or(0))
        }
    };
    let ndigits = i16::try_from(digits.len()).unwrap_or(0);
    out.extend_from_slice(&ndigits.to_be_bytes());
    out.extend_from_slice(&i16::try_from(weight).unwrap_or(0).to_be_bytes());
    let sign: u16 = if unscaled < 0 && !digits.is_empty() {
        0x4000
    } else {
        0
    };
    out.extend_from_slice(&sign.to_be_bytes());
    out.extend_from_slice(&u16::from(scale).to_be_bytes());
    for d in digits {
        out.extend_from_slice(&d.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn numeric(unscaled: i128, scale: u8) -> (i16, i16, u16, u16, Vec<i16>) {
        let mut out = Vec::new();
        write_numeric(&mut out, unscaled, scale);
        let word = |i: usize| i16::from_be_bytes([out[i], out[i + 1]]);
        let n = word(0);
        let digits = (0..usize::try_from(n).unwrap_or(0))
            .map(|k| word(8 + 2 * k))
            .collect();
        (n, word(2), word(4) as u16, word(6) as u16, digits)
    }

    /// The exact decimal text of a binary numeric, as PostgreSQL would print it.
    fn numeric_text(unscaled: i128, scale: u8) -> String {
        let (_, weight, sign, dscale, digits) = numeric(unscaled, scale);
        let mut int = String::new();
        let mut frac = String::new();
        for (k, d) in digits.iter().enumerate() {
            let w = i32::from(weight) - i32::try_from(k).unwrap_or(0);
            let s = format!("{d:04}");
            if w >= 0 {
                int.push_str(&s);
            } else {
                while i32::try_from(frac.len()).unwrap_or(0) < (-w - 1) * 4 {
                    frac.push_str("0000");
                }
                frac.push_str(&s);
            }
        }
        // trailing integer zero groups between the last digit and the decimal point
        if let Some(last_w) = digits
            .len()
            .checked_sub(1)
            .map(|l| i32::from(weight) - i32::try_from(l).unwrap_or(0))
        {
            for _ in 0..last_w.max(0) {
                int.push_str("0000");
            }
        }
        let int = int.trim_start_matches('0');
        let int = if int.is_empty() { "0" } else { int };
        let mut frac: String = frac
            .chars()
            .chain(std::iter::repeat('0'))
            .take(usize::from(dscale))
            .collect();
        if dscale == 0 {
            frac.clear();
        }
        let neg = if sign == 0x4000 { "-" } else { "" };
        if frac.is_empty() {
            format!("{neg}{int}")
        } else {
            format!("{neg}{int}.{frac}")
        }
    }

    fn decimal_text(unscaled: i128, scale: u8) -> String {
        let digits = unscaled.unsigned_abs().to_string();
        let s = usize::from(scale);
        let padded = format!("{digits:0>width$}", width = s + 1);
        let (i, f) = padded.split_at(padded.len() - s);
        let neg = if unscaled < 0 { "-" } else { "" };
        if s == 0 {
            format!("{neg}{i}")
        } else {
            format!("{neg}{i}.{f}")
        }
    }

    #[test]
    fn numerics_as_postgresql_sends_them() {
        // 12345.678: weight 1, digits 1 2345 6780, dscale 3
        assert_eq!(numeric(12_345_678, 3), (3, 1, 0, 3, vec![1, 2345, 6780]));
        // -0.50
        assert_eq!(numeric(-50, 2), (1, -1, 0x4000, 2, vec![5000]));
        // 0 with scale 2: no digits, positive
        assert_eq!(numeric(0, 2), (0, 0, 0, 2, vec![]));
        // 10000 -> one digit 1 of weight 1
        assert_eq!(numeric(10_000, 0), (1, 1, 0, 0, vec![1]));
        // 0.0001
        assert_eq!(numeric(1, 4), (1, -1, 0, 4, vec![1]));
        // 0.00001
        assert_eq!(numeric(1, 5), (1, -2, 0, 5, vec![1000]));
        // the 38-digit maximum
        let max = 10i128.pow(38) - 1;
        assert_eq!(numeric_text(max, 0), "9".repeat(38));
        assert_eq!(numeric_text(-max, 37), format!("-9.{}", "9".repeat(37)));
    }

    fn field(value: Value<'_>, sf_type: SfType) -> Vec<u8> {
        let mut out = Vec::new();
        assert!(write_field(&mut out, value, sf_type).is_ok());
        out
    }

    #[test]
    fn fields_in_postgresqls_binary_forms() {
        let ntz = SfType::TimestampNtz { scale: 9 };
        // 2000-01-01 is zero; 1970-01-01 is -946,684,800 s; nanoseconds floor to microseconds.
        assert_eq!(
            field(Value::Ntz(946_684_800_000_000_000), ntz),
            [0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0]
        );
        let mut want = vec![0, 0, 0, 8];
        want.extend_from_slice(&(-946_684_800_000_000i64 - 1).to_be_bytes());
        assert_eq!(field(Value::Ntz(-1), ntz), want);
        assert_eq!(
            field(Value::Date(10_957), SfType::Date),
            [0, 0, 0, 4, 0, 0, 0, 0]
        );
        assert_eq!(field(Value::Bool(true), SfType::Boolean), [0, 0, 0, 1, 1]);
        assert_eq!(
            field(Value::Json("{}"), SfType::Variant),
            [0, 0, 0, 3, 1, b'{', b'}']
        );
        let bigint = SfType::Number {
            precision: 18,
            scale: 0,
        };
        assert_eq!(
            field(
                Value::Number {
                    unscaled: -2,
                    scale: 0
                },
                bigint
            ),
            [0, 0, 0, 8, 255, 255, 255, 255, 255, 255, 255, 254]
        );
        let mut out = Vec::new();
        assert!(write_field(&mut out, Value::Text("a\0b"), SfType::Text).is_err());
        assert!(write_field(&mut out, Value::Json(r#""\u0000""#), SfType::Variant).is_err());
    }

    proptest! {
        #![proptest_config(crate::fuzz::config("copy_binary_numeric", 2000))]

        #[test]
        fn numerics_keep_every_digit(unscaled in -(10i128.pow(38) - 1)..10i128.pow(38), scale in 0u8..=38) {
            prop_assert_eq!(numeric_text(unscaled, scale), decimal_text(unscaled, scale));
        }
    }
}
