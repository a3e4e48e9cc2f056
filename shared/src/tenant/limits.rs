//! Quotas: how many rows and bytes a tenant may hold in the platform database (`[limits]` in
//! its config, else the deployment's defaults), and the check a pull makes before each page.

use crate::error::{ErrorKind, Result, SyncError};

/// The environment variable of the deployment's default `max_rows`.
pub const DEFAULT_MAX_ROWS_VAR: &str = "SNOWSYNC_DEFAULT_MAX_ROWS";

/// The environment variable of the deployment's default `max_bytes` (`"200GB"`-style).
pub const DEFAULT_MAX_BYTES_VAR: &str = "SNOWSYNC_DEFAULT_MAX_BYTES";

/// A tenant's quotas; `None` is no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// The most rows the tenant's schema may hold.
    pub max_rows: Option<u64>,
    /// The most bytes (tables, indexes and TOAST, on disk) the tenant's schema may hold.
    pub max_bytes: Option<u64>,
}

/// What a tenant's schema holds, or what a page adds to it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Rows.
    pub rows: u64,
    /// Bytes.
    pub bytes: u64,
}

impl Limits {
    /// The deployment's defaults, from [`DEFAULT_MAX_ROWS_VAR`] and [`DEFAULT_MAX_BYTES_VAR`].
    ///
    /// # Errors
    /// A `config` error naming the variable that does not parse.
    pub fn from_env() -> Result<Self> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        Ok(Self {
            max_rows: var(DEFAULT_MAX_ROWS_VAR)
                .map(|v| parse_rows(DEFAULT_MAX_ROWS_VAR, &v))
                .transpose()?,
            max_bytes: var(DEFAULT_MAX_BYTES_VAR)
                .map(|v| parse_bytes(DEFAULT_MAX_BYTES_VAR, &v))
                .transpose()?,
        })
    }

    /// These limits, each one that is unset taken from `defaults`.
    pub fn or(self, defaults: Limits) -> Limits {
        Limits {
            max_rows: self.max_rows.or(defaults.max_rows),
            max_bytes: self.max_bytes.or(defaults.max_bytes),
        }
    }

    /// Whether any limit is set (no usage needs measuring otherwise).
    pub fn any(&self) -> bool {
        self.max_rows.is_some() || self.max_bytes.is_some()
    }

    /// Whether `tenant`, holding `held`, may write `page` as well.
    ///
    /// # Errors
    /// A `quota` error with the figures and the fix when a limit would be exceeded.
    pub fn check(&self, tenant: &str, held: Usage, page: Usage) -> Result<()> {
        let over = |key: &str, held: u64, page: u64, max: Option<u64>, fmt: fn(u64) -> String| {
            let max = max?;
            (held.saturating_add(page) > max).then(|| {
                SyncError::new(
                    ErrorKind::Quota,
                    format!(
                        "quota: tenant {tenant} holds {} and this page adds {}, over its {key} of {}: \
                         raise [limits] {key} in the tenant config (then snowsync tenant add) or remove tables",
                        fmt(held),
                        fmt(page),
                        fmt(max)
                    ),
                )
            })
        };
        match over("max_rows", held.rows, page.rows, self.max_rows, |n| {
            format!("{} rows", thousands(n))
        })
        .or_else(|| {
            over(
                "max_bytes",
                held.bytes,
                page.bytes,
                self.max_bytes,
                format_bytes,
            )
        }) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// A row limit: a positive whole number.
pub(crate) fn parse_rows(key: &str, s: &str) -> Result<u64> {
    s.trim()
        .replace('_', "")
        .parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| {
            SyncError::config(format!(
                "{key}: invalid row limit {s:?}: write a positive whole number, e.g. 500000000"
            ))
        })
}

/// A size: a whole number and a unit, `B`, `KB`, `MB`, `GB`, `TB` (powers of 1000) or `KiB`,
/// `MiB`, `GiB`, `TiB` (powers of 1024), e.g. `"200GB"`.
pub(crate) fn parse_bytes(key: &str, s: &str) -> Result<u64> {
    let bad = |why: &str| {
        SyncError::config(format!(
            "{key}: invalid size {s:?}: {why}; write a whole number and a unit, e.g. \"500MB\", \"200GB\" or \"1TiB\""
        ))
    };
    let t = s.trim();
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 = num.parse().map_err(|_| bad("no number"))?;
    let scale: u64 = match unit.trim() {
        "B" => 1,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        "" => return Err(bad("no unit")),
        _ => return Err(bad("unknown unit")),
    };
    match n.checked_mul(scale) {
        Some(0) => Err(bad("it must be more than zero")),
        Some(b) => Ok(b),
        None => Err(bad("too large")),
    }
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A size for people: `1.5 GB` (powers of 1000, as `max_bytes` is usually written).
pub fn format_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_their_unit_and_refuse_with_the_key() {
        assert_eq!(parse_bytes("k", "200GB").ok(), Some(200_000_000_000));
        assert_eq!(parse_bytes("k", "1 TiB").ok(), Some(1 << 40));
        assert_eq!(parse_bytes("k", "512B").ok(), Some(512));
        for bad in [
            "",
            "GB",
            "200",
            "200 gigabytes",
            "-1GB",
            "0MB",
            "99999999999TB",
        ] {
            let e = parse_bytes("limits.max_bytes", bad).expect_err(bad);
            assert!(
                e.message().starts_with("limits.max_bytes: invalid size"),
                "{e}"
            );
            assert_eq!(e.kind(), ErrorKind::Config);
        }
        assert_eq!(parse_rows("k", "500_000").ok(), Some(500_000));
        assert!(parse_rows("k", "0").is_err());
        assert!(parse_rows("k", "many").is_err());
    }

    #[test]
    fn a_page_over_a_limit_is_a_quota_error_with_the_figures_and_the_fix() {
        let limits = Limits {
            max_rows: Some(1_000),
            max_bytes: Some(2_000_000),
        };
        let held = Usage {
            rows: 900,
            bytes: 1_000,
        };
        assert!(limits
            .check(
                "acme",
                held,
                Usage {
                    rows: 100,
                    bytes: 10
                }
            )
            .is_ok());
        let e = limits
            .check(
                "acme",
                held,
                Usage {
                    rows: 101,
                    bytes: 10,
                },
            )
            .expect_err("over");
        assert_eq!(e.kind(), ErrorKind::Quota);
        assert!(!e.kind().is_retryable());
        assert_eq!(
            e.message(),
            "quota: tenant acme holds 900 rows and this page adds 101 rows, over its max_rows of \
             1,000 rows: raise [limits] max_rows in the tenant config (then snowsync tenant add) or remove tables"
        );
        let e = limits
            .check(
                "acme",
                held,
                Usage {
                    rows: 1,
                    bytes: 1_999_001,
                },
            )
            .expect_err("over");
        assert!(e.message().contains("over its max_bytes of 2.0 MB"), "{e}");
        assert!(Limits::default().check("acme", held, held).is_ok());
        assert_eq!(
            Limits::default().or(limits),
            limits,
            "defaults fill what is unset"
        );
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(format_bytes(999), "999 B");
    }
}
