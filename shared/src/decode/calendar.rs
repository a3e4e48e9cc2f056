//! Calendar arithmetic (proleptic Gregorian, any year) and the texts of dates and times.

use super::*;

/// (year, month, day) of a day number (days since 1970-01-01). Year 0 is 1 BC.
pub(super) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // Howard Hinnant's `civil_from_days`, on i64 so every Snowflake value fits.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // month is 1..=12 and day 1..=31, so the conversions cannot fail.
    (
        year,
        u32::try_from(month).unwrap_or(1),
        u32::try_from(day).unwrap_or(1),
    )
}

/// `YYYY-MM-DD` with a `-` before years below 0 (astronomical numbering), for messages and
/// Snowflake literals.
pub(super) fn display_date(days: i64) -> String {
    let (year, month, day) = civil_from_days(days);
    let sign = if year < 0 { "-" } else { "" };
    format!("{sign}{:04}-{month:02}-{day:02}", year.unsigned_abs())
}

/// `YYYY-MM-DD HH:MM:SS.fffffffff` (all nine digits) of nanoseconds since the epoch.
pub(super) fn display_timestamp(nanos: i128) -> String {
    let days = nanos.div_euclid(NANOS_PER_DAY);
    let mut out = match i64::try_from(days) {
        Ok(days) => display_date(days),
        Err(_) => return format!("{nanos} ns since 1970"),
    }
    .into_bytes();
    out.push(b' ');
    write_hms(&mut out, nanos.rem_euclid(NANOS_PER_DAY), 9);
    String::from_utf8_lossy(&out).into_owned()
}

pub(super) fn display_time(nanos: i64) -> String {
    let mut out = Vec::with_capacity(18);
    write_hms(&mut out, i128::from(nanos), 9);
    String::from_utf8_lossy(&out).into_owned()
}
