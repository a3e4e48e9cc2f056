//! The tenant config: typed, validated at the edge, rejecting unknown keys.
//!
//! Operators write it as TOML (`examples/*.toml`); `snowsync tenant add` stores the original text
//! in the state table and every run parses it again through [`TenantConfig::parse`], so there is
//! exactly one validation path. Errors are one line naming the key and how to fix it.

use std::time::Duration;

use serde::Deserialize;

use crate::error::{Result, SyncError};
use crate::quote::Ident;

pub use super::limits::Limits;
pub use super::names::{Account, TableName, TenantId};

/// Where and as whom to connect to Snowflake.
#[derive(Debug, Clone)]
pub struct SnowflakeConfig {
    /// The account, normalised.
    pub account: Account,
    /// The login name (case-insensitive, as in Snowflake).
    pub user: String,
    /// The role to use; the user's default role when absent.
    pub role: Option<Ident>,
    /// The warehouse that runs our queries.
    pub warehouse: Ident,
    /// The default database of unqualified tables and of push destinations.
    pub database: Ident,
    /// The default schema of unqualified tables and of push destinations.
    pub schema: Ident,
}

impl SnowflakeConfig {
    /// The role's name for messages: the configured role, or the user's default role.
    pub fn role_label(&self) -> &str {
        self.role
            .as_ref()
            .map_or("<the user's default role>", |r| r.name())
    }
}

/// One `[[pull]]` entry.
#[derive(Debug, Clone)]
pub struct PullTable {
    /// The source table, qualified with the config's database and schema when written bare.
    pub table: TableName,
    /// The cursor column of incremental pulls; `None` = full refresh on every run.
    pub cursor: Option<Ident>,
    /// The key the destination upserts on; required with a cursor.
    pub primary_key: Vec<Ident>,
    /// The columns to read; `None` = all columns.
    pub columns: Option<Vec<Ident>>,
    /// How far before the watermark an incremental run starts re-reading.
    pub lookback: Duration,
    /// Key ranges a backfill (or full refresh) is split into, each read by a worker of its
    /// own (`parallel_backfill`); 1 = not split.
    pub parallel_backfill: usize,
    /// What a reconciliation does with rows gone from the source; `None` = no reconciliation.
    pub deletes: Option<Deletes>,
    /// The source's own soft-delete flag: rows where it is TRUE are removed (or, with
    /// `deletes = "soft"`, marked) by the pull itself.
    pub deleted_column: Option<Ident>,
}

/// `deletes` of a `[[pull]]` entry: how rows deleted in the source leave the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Deletes {
    /// Delete the platform rows whose key is gone from the source.
    Reconcile,
    /// Keep them, with `_snowsync_deleted_at` set.
    Soft,
}

impl Deletes {
    /// As the config and `snowsync check` name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Deletes::Reconcile => "reconcile",
            Deletes::Soft => "soft",
        }
    }
}

/// What a push exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PushSource {
    /// `platform.actions`.
    Actions,
    /// `platform.stages`.
    Stages,
}

impl PushSource {
    /// `actions` or `stages`.
    pub fn as_str(self) -> &'static str {
        match self {
            PushSource::Actions => "actions",
            PushSource::Stages => "stages",
        }
    }
}

/// One `[[push]]` entry.
#[derive(Debug, Clone)]
pub struct PushTable {
    /// The platform data exported.
    pub source: PushSource,
    /// The destination table in the config's database and schema.
    pub table: TableName,
}

/// When the tenant's runs fire (EventBridge Scheduler expressions).
#[derive(Debug, Clone, Default)]
pub struct Schedule {
    /// The pull schedule expression.
    pub pull: Option<String>,
    /// The push schedule expression.
    pub push: Option<String>,
    /// The reconciliation schedule expression (tables with `deletes`).
    pub reconcile: Option<String>,
    /// The IANA time zone the expressions are read in.
    pub timezone: String,
}

impl Schedule {
    /// The period of a schedule expression, for lag alarms: `rate(N unit)` exactly; a `cron`
    /// firing every hour (`*` hours) is an hour, any other `cron` is taken as daily.
    pub fn period(expression: &str) -> Option<Duration> {
        if let Some(body) = expression
            .strip_prefix("rate(")
            .and_then(|r| r.strip_suffix(')'))
        {
            let mut parts = body.split_whitespace();
            let n: u64 = parts.next()?.parse().ok()?;
            let unit = match parts.next()?.trim_end_matches('s') {
                "minute" => 60,
                "hour" => 3600,
                "day" => 86_400,
                _ => return None,
            };
            return Some(Duration::from_secs(n * unit));
        }
        let body = expression.strip_prefix("cron(")?.strip_suffix(')')?;
        let fields: Vec<&str> = body.split_whitespace().collect();
        let hours = fields.get(1)?;
        Some(Duration::from_secs(if *hours == "*" {
            3600
        } else {
            86_400
        }))
    }
}

/// A tenant's validated config.
#[derive(Debug, Clone)]
pub struct TenantConfig {
    /// The tenant.
    pub tenant: TenantId,
    /// Connection settings.
    pub snowflake: SnowflakeConfig,
    /// Schedules.
    pub schedule: Schedule,
    /// Tables pulled into the platform.
    pub pull: Vec<PullTable>,
    /// Exports pushed into the customer's Snowflake.
    pub push: Vec<PushTable>,
    /// Quotas set in `[limits]`; unset ones fall back to the deployment's defaults.
    pub limits: Limits,
    /// Units of work (tables, exports) run at once for this tenant (`[limits] max_parallel`):
    /// the customer's warehouse queues concurrent statements, so more is not always faster.
    pub max_parallel: usize,
}

/// `max_parallel` when `[limits]` leaves it unset.
pub const DEFAULT_MAX_PARALLEL: usize = 4;

/// The most units of work a tenant may run at once (`max_parallel`).
pub const MAX_PARALLEL: usize = 64;

mod raw {
    //! The config file as written; `deny_unknown_fields` everywhere.
    use serde::Deserialize;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Config {
        pub tenant: String,
        pub snowflake: Snowflake,
        pub schedule: Option<Schedule>,
        #[serde(default)]
        pub pull: Vec<Pull>,
        #[serde(default)]
        pub push: Vec<Push>,
        pub limits: Option<Limits>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Limits {
        pub max_rows: Option<u64>,
        /// `"200GB"`-style; a bare integer is bytes.
        pub max_bytes: Option<toml::Value>,
        pub max_parallel: Option<u64>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Snowflake {
        pub account: String,
        pub user: String,
        pub role: Option<String>,
        pub warehouse: String,
        pub database: String,
        pub schema: String,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Schedule {
        pub pull: Option<String>,
        pub push: Option<String>,
        pub reconcile: Option<String>,
        pub timezone: Option<String>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Pull {
        pub table: String,
        pub cursor: Option<String>,
        #[serde(default)]
        pub primary_key: Vec<String>,
        pub columns: Option<Vec<String>>,
        pub lookback: Option<String>,
        pub parallel_backfill: Option<u64>,
        pub deletes: Option<super::Deletes>,
        pub deleted_column: Option<String>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Push {
        pub source: super::PushSource,
        pub table: String,
    }
}

fn ident(key: &str, value: &str) -> Result<Ident> {
    Ident::parse(value).map_err(|e| SyncError::config(format!("{key}: {e}")))
}

/// Parses `2h`, `30m`, `90s`, `1d` (or `0`).
fn parse_duration(key: &str, s: &str) -> Result<Duration> {
    let s = s.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().map_err(|_| {
        SyncError::config(format!(
            "{key}: invalid duration {s:?}: write a whole number and a unit, e.g. \"90s\", \"30m\", \"2h\" or \"1d\""
        ))
    })?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => {
            return Err(SyncError::config(format!(
                "{key}: invalid duration {s:?}: the unit must be s, m, h or d, e.g. \"2h\""
            )))
        }
    };
    Ok(Duration::from_secs(secs))
}

/// Checks an EventBridge Scheduler expression's shape: `rate(N unit)`, `cron(6 fields)` or `at(...)`.
fn check_schedule_expression(key: &str, expr: &str) -> Result<()> {
    let bad = |why: &str| {
        SyncError::config(format!(
            "{key}: invalid schedule {expr:?}: {why}; write e.g. \"rate(1 day)\" or \"cron(0 3 * * ? *)\""
        ))
    };
    let inner = |prefix: &str| {
        expr.strip_prefix(prefix)
            .and_then(|r| r.strip_suffix(')'))
            .map(str::trim)
    };
    if let Some(body) = inner("rate(") {
        let mut parts = body.split_whitespace();
        let n = parts.next().and_then(|n| n.parse::<u32>().ok());
        let unit = parts.next();
        let units = ["minute", "minutes", "hour", "hours", "day", "days"];
        match (n, unit, parts.next()) {
            (Some(n), Some(u), None) if n > 0 && units.contains(&u) => {
                if (n == 1) == u.ends_with('s') {
                    return Err(bad("use the singular unit with 1 and the plural otherwise"));
                }
                Ok(())
            }
            _ => Err(bad(
                "a rate needs a positive number and minute(s), hour(s) or day(s)",
            )),
        }
    } else if let Some(body) = inner("cron(") {
        if body.split_whitespace().count() == 6 {
            Ok(())
        } else {
            Err(bad("a cron expression has six fields: minutes hours day-of-month month day-of-week year"))
        }
    } else if inner("at(").is_some() {
        Ok(())
    } else {
        Err(bad("it must start with rate(, cron( or at("))
    }
}

fn check_timezone(tz: &str) -> Result<()> {
    let ok = tz == "UTC"
        || (tz.contains('/')
            && tz.split('/').all(|p| {
                !p.is_empty()
                    && p.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"_+-".contains(&b))
            }));
    if ok {
        Ok(())
    } else {
        Err(SyncError::config(format!(
            "schedule.timezone: invalid time zone {tz:?}: use an IANA name such as \"UTC\" or \"Europe/Berlin\""
        )))
    }
}

/// Turns a toml error into one line naming where it is.
fn toml_error(text: &str, e: &toml::de::Error) -> SyncError {
    let at = e
        .span()
        .map(|span| {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!(" (line {line})")
        })
        .unwrap_or_default();
    let msg = e.message().trim().replace('\n', " ");
    SyncError::config(format!("{msg}{at}"))
}

impl TenantConfig {
    /// Parses and validates a tenant config written in TOML.
    ///
    /// # Errors
    /// A `config` error, one line, naming the offending key.
    pub fn parse(text: &str) -> Result<Self> {
        let raw: raw::Config = toml::from_str(text).map_err(|e| toml_error(text, &e))?;
        let tenant = TenantId::parse(&raw.tenant)?;
        let sf = raw.snowflake;
        if sf.user.trim().is_empty() {
            return Err(SyncError::config(
                "snowflake.user: empty user: write the Snowflake login name the customer created",
            ));
        }
        let snowflake = SnowflakeConfig {
            account: Account::parse(&sf.account)?,
            user: sf.user.trim().to_owned(),
            role: sf
                .role
                .as_deref()
                .map(|r| ident("snowflake.role", r))
                .transpose()?,
            warehouse: ident("snowflake.warehouse", &sf.warehouse)?,
            database: ident("snowflake.database", &sf.database)?,
            schema: ident("snowflake.schema", &sf.schema)?,
        };

        let schedule = match raw.schedule {
            None => Schedule {
                timezone: "UTC".into(),
                ..Schedule::default()
            },
            Some(s) => {
                if let Some(e) = &s.pull {
                    check_schedule_expression("schedule.pull", e)?;
                }
                if let Some(e) = &s.push {
                    check_schedule_expression("schedule.push", e)?;
                }
                if let Some(e) = &s.reconcile {
                    check_schedule_expression("schedule.reconcile", e)?;
                }
                let timezone = s.timezone.unwrap_or_else(|| "UTC".into());
                check_timezone(&timezone)?;
                Schedule {
                    pull: s.pull,
                    push: s.push,
                    reconcile: s.reconcile,
                    timezone,
                }
            }
        };

        let mut pull = Vec::with_capacity(raw.pull.len());
        for (i, p) in raw.pull.into_iter().enumerate() {
            let key = format!("pull[{i}]");
            pull.push(Self::pull_table(&key, p, &snowflake)?);
        }
        for (i, a) in pull.iter().enumerate() {
            if let Some(b) = pull[..i].iter().find(|b| b.table == a.table) {
                return Err(SyncError::config(format!(
                    "pull[{i}].table: {} is configured twice: keep one [[pull]] entry per table",
                    b.table
                )));
            }
            if pull[..i]
                .iter()
                .any(|b| b.table.pg_table() == a.table.pg_table())
            {
                return Err(SyncError::config(format!(
                    "pull[{i}].table: {} lands in the same PostgreSQL table as another entry ({}): pull tables with distinct names",
                    a.table,
                    a.table.pg_table()
                )));
            }
        }

        let mut push = Vec::with_capacity(raw.push.len());
        for (i, p) in raw.push.into_iter().enumerate() {
            let key = format!("push[{i}]");
            let parts = Ident::parse_qualified(&p.table)
                .map_err(|e| SyncError::config(format!("{key}.table: {e}")))?;
            let [table] = <[Ident; 1]>::try_from(parts).map_err(|_| {
                SyncError::config(format!(
                    "{key}.table: {:?} must be a bare table name: the destination lives in snowflake.database and snowflake.schema",
                    p.table
                ))
            })?;
            if push.iter().any(|q: &PushTable| q.source == p.source) {
                return Err(SyncError::config(format!(
                    "{key}.source: {} is pushed twice: keep one [[push]] entry per source",
                    p.source.as_str()
                )));
            }
            push.push(PushTable {
                source: p.source,
                table: TableName {
                    database: snowflake.database.clone(),
                    schema: snowflake.schema.clone(),
                    table,
                },
            });
        }

        let max_parallel = match raw.limits.as_ref().and_then(|l| l.max_parallel) {
            None => DEFAULT_MAX_PARALLEL,
            Some(n) if (1..=MAX_PARALLEL as u64).contains(&n) => n as usize,
            Some(n) => {
                return Err(SyncError::config(format!(
                    "limits.max_parallel: {n} is out of range: write a number from 1 to {MAX_PARALLEL} (default {DEFAULT_MAX_PARALLEL})"
                )))
            }
        };
        let limits = raw
            .limits
            .map(Self::limits)
            .transpose()?
            .unwrap_or_default();

        Ok(Self {
            tenant,
            snowflake,
            schedule,
            pull,
            push,
            limits,
            max_parallel,
        })
    }

    fn limits(raw: raw::Limits) -> Result<Limits> {
        use super::limits::{parse_bytes, parse_rows};
        let max_rows = raw
            .max_rows
            .map(|n| parse_rows("limits.max_rows", &n.to_string()))
            .transpose()?;
        let max_bytes = match raw.max_bytes {
            None => None,
            Some(toml::Value::String(s)) => Some(parse_bytes("limits.max_bytes", &s)?),
            Some(toml::Value::Integer(n)) => {
                Some(parse_bytes("limits.max_bytes", &format!("{n}B"))?)
            }
            Some(other) => {
                return Err(SyncError::config(format!(
                    "limits.max_bytes: a {} is not a size: write a string such as \"200GB\"",
                    other.type_str()
                )))
            }
        };
        Ok(Limits {
            max_rows,
            max_bytes,
        })
    }

    fn pull_table(key: &str, p: raw::Pull, sf: &SnowflakeConfig) -> Result<PullTable> {
        let parts = Ident::parse_qualified(&p.table)
            .map_err(|e| SyncError::config(format!("{key}.table: {e}")))?;
        let table = match <[Ident; 3]>::try_from(parts) {
            Ok([database, schema, table]) => TableName {
                database,
                schema,
                table,
            },
            Err(parts) => match <[Ident; 1]>::try_from(parts) {
                Ok([table]) => TableName {
                    database: sf.database.clone(),
                    schema: sf.schema.clone(),
                    table,
                },
                Err(_) => {
                    return Err(SyncError::config(format!(
                        "{key}.table: {:?} must be TABLE or DATABASE.SCHEMA.TABLE",
                        p.table
                    )))
                }
            },
        };
        let cursor = p
            .cursor
            .as_deref()
            .map(|c| ident(&format!("{key}.cursor"), c))
            .transpose()?;
        let primary_key = p
            .primary_key
            .iter()
            .map(|c| ident(&format!("{key}.primary_key"), c))
            .collect::<Result<Vec<_>>>()?;
        if cursor.is_some() && primary_key.is_empty() {
            return Err(SyncError::config(format!(
                "{key}.primary_key: a cursor needs a primary key to upsert on: add primary_key = [\"ID\"] (the table's unique key columns)"
            )));
        }
        let columns = p
            .columns
            .as_ref()
            .map(|cols| {
                cols.iter()
                    .map(|c| ident(&format!("{key}.columns"), c))
                    .collect::<Result<Vec<_>>>()
            })
            .transpose()?;
        if let Some(cols) = &columns {
            if cols.is_empty() {
                return Err(SyncError::config(format!(
                    "{key}.columns: empty list: name at least one column, or leave columns out to read all"
                )));
            }
            for needed in primary_key.iter().chain(cursor.iter()) {
                if !cols.contains(needed) {
                    return Err(SyncError::config(format!(
                        "{key}.columns: {needed} is the cursor or part of the primary key, so it must be listed in columns too"
                    )));
                }
            }
            for (i, c) in cols.iter().enumerate() {
                if cols[..i].contains(c) {
                    return Err(SyncError::config(format!(
                        "{key}.columns: {c} is listed twice"
                    )));
                }
            }
        }
        let lookback = p
            .lookback
            .as_deref()
            .map(|l| parse_duration(&format!("{key}.lookback"), l))
            .transpose()?
            .unwrap_or(Duration::ZERO);
        let parallel_backfill = match p.parallel_backfill {
            None => 1,
            Some(n) if !(1..=MAX_PARALLEL as u64).contains(&n) => {
                return Err(SyncError::config(format!(
                    "{key}.parallel_backfill: {n} is out of range: write a number of key ranges from 1 to {MAX_PARALLEL}"
                )))
            }
            Some(_) if primary_key.is_empty() => {
                return Err(SyncError::config(format!(
                    "{key}.parallel_backfill: key ranges need a primary_key to split by: add primary_key, or leave parallel_backfill out"
                )))
            }
            Some(n) => n as usize,
        };
        if p.deletes.is_some() && cursor.is_none() {
            return Err(SyncError::config(format!(
                "{key}.deletes: a table without a cursor is replaced on every run, so deleted rows leave with it: remove deletes, or add a cursor"
            )));
        }
        let deleted_column = p
            .deleted_column
            .as_deref()
            .map(|c| ident(&format!("{key}.deleted_column"), c))
            .transpose()?;
        if let (Some(cols), Some(d)) = (&columns, &deleted_column) {
            if !cols.contains(d) {
                return Err(SyncError::config(format!(
                    "{key}.columns: {d} is the deleted_column, so it must be listed in columns too"
                )));
            }
        }
        Ok(PullTable {
            table,
            cursor,
            primary_key,
            columns,
            lookback,
            parallel_backfill,
            deletes: p.deletes,
            deleted_column,
        })
    }

    /// The pull entries selected by `names` (all when empty), matched case-insensitively on the
    /// table name or its qualified form.
    ///
    /// # Errors
    /// A `config` error naming a requested table that is not configured.
    pub fn select_pull(&self, names: &[String]) -> Result<Vec<&PullTable>> {
        if names.is_empty() {
            return Ok(self.pull.iter().collect());
        }
        names
            .iter()
            .map(|n| {
                self.pull
                    .iter()
                    .find(|p| {
                        p.table.table.name().eq_ignore_ascii_case(n)
                            || p.table.to_string().eq_ignore_ascii_case(n)
                    })
                    .ok_or_else(|| {
                        SyncError::config(format!(
                            "table {n:?} is not configured for tenant {}: configured tables are {}",
                            self.tenant,
                            self.pull
                                .iter()
                                .map(|p| p.table.table.name().to_owned())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ))
                    })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_tenant_ids_never_share_a_schema_or_a_schedule() {
        let a = TenantId::parse(&format!("{}a", "x".repeat(62))).expect("valid id");
        let b = TenantId::parse(&format!("{}b", "x".repeat(62))).expect("valid id");
        // PostgreSQL would cut both plain names to the same 63 bytes.
        assert_ne!(a.pg_schema(), b.pg_schema());
        assert!(a.pg_schema().len() <= 63 && b.pg_schema().len() <= 63);
        assert!(a.pg_schema().starts_with("tenant_xxx"));
        for kind in ["pull", "push"] {
            let (na, nb) = (
                crate::tenant::schedules::schedule_name(&a, kind),
                crate::tenant::schedules::schedule_name(&b, kind),
            );
            assert_ne!(na, nb);
            assert!(na.len() <= 64 && na.ends_with(&format!("-{kind}")), "{na}");
        }
        // Ids that fit keep their plain, readable names.
        let short = TenantId::parse("acme-corp").expect("valid id");
        assert_eq!(short.pg_schema(), "tenant_acme_corp");
        assert_eq!(
            crate::tenant::schedules::schedule_name(&short, "pull"),
            "snowsync-acme-corp-pull"
        );
        // The longest id that still fits the plain schema name (56 characters).
        let edge = TenantId::parse(&"e".repeat(56)).expect("valid id");
        assert_eq!(edge.pg_schema(), format!("tenant_{}", "e".repeat(56)));
        let over = TenantId::parse(&"e".repeat(57)).expect("valid id");
        assert_eq!(over.pg_schema().len(), 63);
        assert_ne!(over.pg_schema(), edge.pg_schema());
    }

    #[test]
    fn deletes_parse_and_refuse_naming_the_key() {
        let base = "tenant = \"acme\"\n[snowflake]\naccount = \"a-b\"\nuser = \"U\"\nwarehouse = \"W\"\ndatabase = \"D\"\nschema = \"S\"\n";
        let keyed = "[[pull]]\ntable = \"T\"\ncursor = \"C\"\nprimary_key = [\"ID\"]\n";
        let cfg = TenantConfig::parse(&format!(
            "{base}[schedule]\nreconcile = \"rate(7 days)\"\n{keyed}deletes = \"soft\"\ndeleted_column = \"IS_DELETED\"\n"
        ))
        .expect("deletes");
        assert_eq!(cfg.pull[0].deletes, Some(Deletes::Soft));
        assert_eq!(cfg.schedule.reconcile.as_deref(), Some("rate(7 days)"));
        assert_eq!(
            cfg.pull[0].deleted_column.as_ref().map(Ident::name),
            Some("IS_DELETED")
        );
        for (bad, says) in [
            (
                format!("{keyed}deletes = \"hard\""),
                "unknown variant `hard`",
            ),
            (
                "[[pull]]\ntable = \"T\"\ndeletes = \"reconcile\"".to_owned(),
                "pull[0].deletes: a table without a cursor",
            ),
            (
                format!("{keyed}columns = [\"ID\", \"C\"]\ndeleted_column = \"X\""),
                "pull[0].columns: X is the deleted_column",
            ),
            (
                format!("[schedule]\nreconcile = \"weekly\"\n{keyed}"),
                "schedule.reconcile",
            ),
        ] {
            let e = TenantConfig::parse(&format!("{base}{bad}\n")).expect_err(&bad);
            assert!(e.message().contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn limits_parse_and_refuse_naming_the_key() {
        let base = "tenant = \"acme\"\n[snowflake]\naccount = \"a-b\"\nuser = \"U\"\nwarehouse = \"W\"\ndatabase = \"D\"\nschema = \"S\"\n";
        let cfg = TenantConfig::parse(&format!(
            "{base}[limits]\nmax_rows = 500000000\nmax_bytes = \"200GB\"\n"
        ))
        .expect("limits");
        assert_eq!(cfg.limits.max_rows, Some(500_000_000));
        assert_eq!(cfg.limits.max_bytes, Some(200_000_000_000));
        assert_eq!(cfg.max_parallel, DEFAULT_MAX_PARALLEL);
        let none = TenantConfig::parse(base).expect("none");
        assert_eq!(none.limits, Limits::default());
        assert_eq!(none.max_parallel, DEFAULT_MAX_PARALLEL);
        let two = TenantConfig::parse(&format!("{base}[limits]\nmax_parallel = 2\n"));
        assert_eq!(two.expect("max_parallel").max_parallel, 2);
        for (bad, says) in [
            ("max_bytes = \"200 gigs\"", "limits.max_bytes: invalid size"),
            (
                "max_bytes = true",
                "limits.max_bytes: a boolean is not a size",
            ),
            ("max_rows = 0", "limits.max_rows: invalid row limit"),
            ("max_parallel = 0", "limits.max_parallel: 0 is out of range"),
            (
                "max_parallel = 65",
                "limits.max_parallel: 65 is out of range",
            ),
            ("max_tables = 3", "unknown field `max_tables`"),
        ] {
            let e = TenantConfig::parse(&format!("{base}[limits]\n{bad}\n")).expect_err(bad);
            assert!(e.message().contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn parallel_backfill_needs_a_key_and_a_sane_count() {
        let base = "tenant = \"acme\"\n[snowflake]\naccount = \"a-b\"\nuser = \"U\"\nwarehouse = \"W\"\ndatabase = \"D\"\nschema = \"S\"\n[[pull]]\ntable = \"T\"\n";
        let keyed = format!("{base}cursor = \"U\"\nprimary_key = [\"ID\"]\n");
        let cfg = TenantConfig::parse(&format!("{keyed}parallel_backfill = 8\n")).expect("ranges");
        assert_eq!(cfg.pull[0].parallel_backfill, 8);
        assert_eq!(
            TenantConfig::parse(&keyed).expect("none").pull[0].parallel_backfill,
            1
        );
        for (config, says) in [
            (
                format!("{keyed}parallel_backfill = 0\n"),
                "pull[0].parallel_backfill: 0 is out of range",
            ),
            (
                format!("{keyed}parallel_backfill = 65\n"),
                "pull[0].parallel_backfill: 65 is out of range",
            ),
            (
                format!("{base}parallel_backfill = 2\n"),
                "pull[0].parallel_backfill: key ranges need a primary_key",
            ),
        ] {
            let e = TenantConfig::parse(&config).expect_err(says);
            assert!(e.message().contains(says), "{e}");
        }
    }

    #[test]
    fn accounts_normalise() {
        for (input, host, login) in [
            ("abc-xyz", "abc-xyz.snowflakecomputing.com", "ABC-XYZ"),
            (
                "ABC-XYZ.snowflakecomputing.com",
                "abc-xyz.snowflakecomputing.com",
                "ABC-XYZ",
            ),
            (
                "https://abc-xyz.snowflakecomputing.com/",
                "abc-xyz.snowflakecomputing.com",
                "ABC-XYZ",
            ),
            (
                "xy12345.us-east-2.aws",
                "xy12345.us-east-2.aws.snowflakecomputing.com",
                "XY12345",
            ),
            (
                "abc-xyz.privatelink",
                "abc-xyz.privatelink.snowflakecomputing.com",
                "ABC-XYZ",
            ),
            (
                "org-acct_name",
                "org-acct-name.snowflakecomputing.com",
                "ORG-ACCT_NAME",
            ),
        ] {
            let a = Account::parse(input).expect(input);
            assert_eq!(a.host(), host, "{input}");
            assert_eq!(a.login_name(), login, "{input}");
        }
        for bad in [
            "",
            "abc xyz",
            "http://abc.snowflakecomputing.com",
            "https://example.com",
            "a..b",
            "https://abc.snowflakecomputing.com/path",
        ] {
            let e = Account::parse(bad).expect_err(bad);
            assert!(e.message().starts_with("snowflake.account:"), "{e}");
        }
    }

    #[test]
    fn durations_and_schedules() {
        assert_eq!(
            parse_duration("k", "2h").ok(),
            Some(Duration::from_secs(7200))
        );
        assert_eq!(parse_duration("k", "0").ok(), Some(Duration::ZERO));
        assert!(parse_duration("k", "2 hours").is_err());
        assert!(parse_duration("k", "h").is_err());
        assert!(check_schedule_expression("k", "cron(0 3 * * ? *)").is_ok());
        assert!(check_schedule_expression("k", "rate(1 day)").is_ok());
        assert!(check_schedule_expression("k", "rate(5 minutes)").is_ok());
        assert!(check_schedule_expression("k", "rate(1 days)").is_err());
        assert!(check_schedule_expression("k", "cron(0 3 * * *)").is_err());
        assert!(check_schedule_expression("k", "daily").is_err());
        assert!(check_timezone("Europe/Berlin").is_ok());
        assert_eq!(
            Schedule::period("rate(6 hours)"),
            Some(Duration::from_secs(6 * 3600))
        );
        assert_eq!(
            Schedule::period("rate(1 day)"),
            Some(Duration::from_secs(86_400))
        );
        assert_eq!(
            Schedule::period("cron(0 * * * ? *)"),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(
            Schedule::period("cron(0 3 * * ? *)"),
            Some(Duration::from_secs(86_400))
        );
        assert_eq!(Schedule::period("at(2026-01-01T00:00:00)"), None);
        assert!(check_timezone("Berlin time").is_err());
    }
}
