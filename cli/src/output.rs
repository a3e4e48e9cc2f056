//! How the CLI prints: tables for people (through `comfy-table`: aligned whatever the lengths,
//! styled only on a terminal) and, with `--json`, one JSON document per command for scripts.
//! The documents' shapes are the README's "Machine-readable output".

use chrono::{DateTime, Utc};
use comfy_table::presets::UTF8_BORDERS_ONLY;
use comfy_table::{Cell, CellAlignment, Color, ContentArrangement, Table};
use serde_json::{json, Value};
use snowsync::runner::ObjectReport;
use snowsync::state::{ObjectStatus, Outcome, RunRecord};
use snowsync::tenant::limits::{format_bytes, thousands, Limits, Usage};

/// Prints one JSON document.
pub fn print_json(doc: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(doc).unwrap_or_else(|_| doc.to_string())
    );
}

/// A table with the CLI's look and the given header.
fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_BORDERS_ONLY)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header.iter().map(Cell::new));
    t
}

/// An outcome as a cell: `failed:<kind>` for a failure, red on a terminal.
fn outcome_cell(r: &RunRecord) -> Cell {
    match (r.outcome, r.error_kind) {
        (Outcome::Failed, Some(k)) => Cell::new(format!("failed:{k}")).fg(Color::Red),
        (Outcome::Failed, None) => Cell::new("failed").fg(Color::Red),
        (o, _) => Cell::new(o.as_str()),
    }
}

fn right(v: impl ToString) -> Cell {
    Cell::new(v.to_string()).set_alignment(CellAlignment::Right)
}

/// A stored watermark as a person reads it: the value without its type tag or SQL cast.
pub fn format_watermark(encoded: Option<&str>) -> String {
    let Some(e) = encoded else { return "-".into() };
    match snowsync::decode::KeyValue::decode(e) {
        Ok(v) => {
            let lit = v.sf_literal();
            let lit = lit.split("::").next().unwrap_or(&lit);
            lit.trim_matches('\'').to_owned()
        }
        // Push positions are {"ingested_at": ..., "id": ...}.
        Err(_) => match serde_json::from_str::<Value>(e) {
            Ok(v) if v.get("id").is_some() => {
                format!("{} #{}", v["ingested_at"].as_str().unwrap_or("?"), v["id"])
            }
            _ => e.to_owned(),
        },
    }
}

/// A duration in its largest whole unit: `45s`, `12m`, `5h`, `3d`.
pub fn format_seconds(secs: i64) -> String {
    match secs.max(0) {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// How far behind a table or export is, against its schedule's period when it has one
/// (`2h / 24h`).
fn format_lag(since: Option<DateTime<Utc>>, period: Option<std::time::Duration>) -> String {
    let Some(t) = since else { return "-".into() };
    let lag = format_seconds((Utc::now() - t).num_seconds());
    match period {
        Some(p) => format!(
            "{lag} / {}",
            format_seconds(i64::try_from(p.as_secs()).unwrap_or(i64::MAX))
        ),
        None => lag,
    }
}

/// One tenant's status rows, with its schedule periods (pull, push).
pub struct TenantStatus {
    pub tenant: String,
    pub rows: Vec<ObjectStatus>,
    pub periods: (Option<std::time::Duration>, Option<std::time::Duration>),
    /// What the tenant's schema holds; `None` when the database could not be asked.
    pub usage: Option<Usage>,
    /// Its quotas, deployment defaults applied.
    pub limits: Limits,
    /// The `deletes` mode of each pulled table (`DB.SCHEMA.TABLE`) that has one.
    pub deletes: Vec<(String, &'static str)>,
}

impl TenantStatus {
    fn deletes(&self, s: &ObjectStatus) -> Option<&'static str> {
        self.deletes
            .iter()
            .find(|(object, _)| *object == s.object)
            .map(|(_, mode)| *mode)
    }

    /// `reconcile: 2026-11-30 04:00:00 complete, 3 deleted`, `soft: never`, or `-`.
    fn deletes_cell(&self, s: &ObjectStatus) -> String {
        let Some(mode) = self.deletes(s) else {
            return "-".into();
        };
        match &s.last_reconcile {
            Some(r) => format!(
                "{mode}: {} {}, {} deleted",
                r.started_at.format("%Y-%m-%d %H:%M:%S"),
                r.outcome.as_str(),
                r.rows_deleted.unwrap_or(0)
            ),
            None => format!("{mode}: never"),
        }
    }

    fn period(&self, s: &ObjectStatus) -> Option<std::time::Duration> {
        match s.direction {
            snowsync::state::Direction::Pull => self.periods.0,
            snowsync::state::Direction::Push => self.periods.1,
        }
    }
}

/// `snowsync status`: one row per table or export.
pub fn status_table(tenants: &[TenantStatus]) -> Table {
    let mut t = table(&[
        "TENANT",
        "KIND",
        "TABLE/EXPORT",
        "LAST RUN",
        "OUTCOME",
        "ROWS",
        "WATERMARK",
        "LAG / SCHEDULE",
        "DELETES / LAST RECONCILED; COLUMNS",
    ]);
    for ts in tenants {
        if ts.rows.is_empty() {
            t.add_row(vec![
                Cell::new(&ts.tenant),
                Cell::new("-"),
                Cell::new("(no runs yet)"),
            ]);
        }
        for s in &ts.rows {
            let (last, outcome, rows) = match &s.last_run {
                Some(r) => (
                    Cell::new(r.started_at.format("%Y-%m-%d %H:%M:%S")),
                    outcome_cell(r),
                    right(r.rows_written),
                ),
                None => (Cell::new("-"), Cell::new("-"), right("-")),
            };
            t.add_row(vec![
                Cell::new(&ts.tenant),
                Cell::new(s.direction.as_str()),
                Cell::new(&s.object),
                last,
                outcome,
                rows,
                Cell::new(format_watermark(s.watermark.as_deref())),
                Cell::new(format_lag(s.last_complete_started_at, ts.period(s))),
                Cell::new(
                    match s.last_run.as_ref().and_then(|r| r.schema_changes.as_ref()) {
                        Some(changes) => format!("{}; columns: {changes}", ts.deletes_cell(s)),
                        None => ts.deletes_cell(s),
                    },
                ),
            ]);
        }
    }
    t
}

/// `snowsync status`, second table: what each tenant holds against its quotas.
pub fn usage_table(tenants: &[TenantStatus]) -> Table {
    let mut t = table(&["TENANT", "ROWS", "MAX ROWS", "BYTES", "MAX BYTES", "USED"]);
    let limit = |v: Option<u64>, f: fn(u64) -> String| v.map_or_else(|| "-".to_owned(), f);
    for ts in tenants {
        let (rows, bytes) = match ts.usage {
            Some(u) => (thousands(u.rows), format_bytes(u.bytes)),
            None => ("?".to_owned(), "?".to_owned()),
        };
        t.add_row(vec![
            Cell::new(&ts.tenant),
            right(rows),
            right(limit(ts.limits.max_rows, thousands)),
            right(bytes),
            right(limit(ts.limits.max_bytes, format_bytes)),
            right(used_percent(ts).map_or_else(|| "-".to_owned(), |p| format!("{p:.0}%"))),
        ]);
    }
    t
}

/// The larger share of a limit the tenant uses, in percent.
fn used_percent(ts: &TenantStatus) -> Option<f64> {
    let u = ts.usage?;
    let share = |held: u64, max: Option<u64>| max.map(|m| 100.0 * held as f64 / m as f64);
    match (
        share(u.rows, ts.limits.max_rows),
        share(u.bytes, ts.limits.max_bytes),
    ) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// `snowsync status --json`.
pub fn status_json(tenants: &[TenantStatus]) -> Value {
    let objects: Vec<Value> = tenants
        .iter()
        .flat_map(|ts| {
            ts.rows.iter().map(move |s| {
                json!({
                    "tenant": ts.tenant,
                    "direction": s.direction.as_str(),
                    "object": s.object,
                    "last_run": s.last_run.as_ref().map(run_json),
                    "watermark": s.watermark,
                    "last_complete_started_at": s.last_complete_started_at,
                    "lag_seconds": s.last_complete_started_at.map(|t| (Utc::now() - t).num_seconds()),
                    "schedule_period_seconds": ts.period(s).map(|p| p.as_secs()),
                    "deletes": ts.deletes(s),
                    "last_reconcile": s.last_reconcile.as_ref().map(run_json),
                })
            })
        })
        .collect();
    let usage: Vec<Value> = tenants
        .iter()
        .map(|ts| {
            json!({
                "tenant": ts.tenant,
                "rows": ts.usage.map(|u| u.rows),
                "bytes": ts.usage.map(|u| u.bytes),
                "max_rows": ts.limits.max_rows,
                "max_bytes": ts.limits.max_bytes,
            })
        })
        .collect();
    json!({
        "tenants": tenants.iter().map(|t| t.tenant.as_str()).collect::<Vec<_>>(),
        "objects": objects,
        "usage": usage,
    })
}

/// A run's wall seconds, when it has ended.
fn duration_seconds(r: &RunRecord) -> Option<f64> {
    r.finished_at
        .map(|f| (f - r.started_at).num_milliseconds() as f64 / 1000.0)
}

/// One run record as JSON: the record's fields and its duration.
pub fn run_json(r: &RunRecord) -> Value {
    let mut v = serde_json::to_value(r).unwrap_or(Value::Null);
    if let Some(o) = v.as_object_mut() {
        o.insert("duration_seconds".into(), json!(duration_seconds(r)));
    }
    v
}

/// A tenant as `snowsync tenant list` shows it: its pull tables, push exports and schedules
/// (`None` when its stored config no longer parses).
pub struct TenantRow {
    pub tenant: String,
    pub config: Option<snowsync::tenant::config::TenantConfig>,
}

/// `snowsync tenant list`.
pub fn tenants_table(tenants: &[TenantRow]) -> Table {
    let mut t = table(&[
        "TENANT",
        "PULL TABLES",
        "PUSH EXPORTS",
        "PULL SCHEDULE",
        "PUSH SCHEDULE",
    ]);
    for r in tenants {
        match &r.config {
            Some(c) => t.add_row(vec![
                Cell::new(&r.tenant),
                right(c.pull.len()),
                right(c.push.len()),
                Cell::new(c.schedule.pull.as_deref().unwrap_or("-")),
                Cell::new(c.schedule.push.as_deref().unwrap_or("-")),
            ]),
            None => t.add_row(vec![
                Cell::new(&r.tenant),
                right("?"),
                right("?"),
                Cell::new("(stored config does not parse: snowsync tenant show)").fg(Color::Red),
            ]),
        };
    }
    t
}

/// `snowsync runs`: newest first.
pub fn runs_table(runs: &[RunRecord]) -> Table {
    let mut t = table(&[
        "STARTED",
        "DURATION",
        "KIND",
        "TABLE/EXPORT",
        "PLAN",
        "OUTCOME",
        "ROWS READ",
        "WRITTEN",
        "PAGES",
        "WATERMARK BEFORE",
        "WATERMARK AFTER",
        "HOP",
    ]);
    for r in runs {
        t.add_row(vec![
            Cell::new(r.started_at.format("%Y-%m-%d %H:%M:%S")),
            right(duration_seconds(r).map_or_else(|| "-".to_owned(), |s| format!("{s:.1}s"))),
            Cell::new(r.direction.as_str()),
            Cell::new(&r.object),
            Cell::new(r.plan.as_deref().unwrap_or("-")),
            outcome_cell(r),
            right(r.rows_read),
            right(r.rows_written),
            right(r.pages),
            Cell::new(format_watermark(r.watermark_before.as_deref())),
            Cell::new(format_watermark(r.watermark_after.as_deref())),
            right(r.hop),
        ]);
    }
    t
}

/// The per-object lines of an in-process pull or push; whether none failed.
pub fn print_reports(reports: &[ObjectReport]) -> bool {
    let mut ok = true;
    for r in reports {
        let rate = if r.seconds > 0.0 {
            r.rows_written as f64 / r.seconds
        } else {
            0.0
        };
        let deleted = r
            .rows_deleted
            .map(|d| format!("  deleted {d:>8}"))
            .unwrap_or_default();
        let mut line = format!(
            "{:<40} {:<15} read {:>10}  written {:>10}{deleted}  pages {:>5}  {:>8.2}s  {:>9.0} rows/s",
            r.object,
            r.outcome.as_str(),
            r.rows_read,
            r.rows_written,
            r.pages,
            r.seconds,
            rate
        );
        if let Some(changes) = &r.schema_changes {
            line.push_str(&format!("\n  columns: {changes}"));
        }
        if let (Some(kind), Some(err)) = (r.error_kind, &r.error) {
            line.push_str(&format!("\n  {kind}: {err}"));
        }
        if r.outcome == Outcome::Failed {
            ok = false;
        }
        println!("{line}");
    }
    ok
}

/// `snowsync tenant init --json`: the customer's statements, the names and the public key's
/// fingerprint (never the private key).
pub fn onboarding_json(o: &snowsync::onboard::init::Onboarding) -> Value {
    json!({
        "tenant": o.tenant.as_str(),
        "secret": o.tenant.secret_name(),
        "user": o.names.user.name(),
        "role": o.names.role.name(),
        "network_policy": o.names.network_policy.name(),
        "public_key_fingerprint": o.public_key.fingerprint(),
        "rsa_public_key": o.public_key.body(),
        "egress_ips": o.egress.as_ref().ok(),
        "statements": o.script.sql(),
        "conditional_statements": o.script.conditional,
        "schedules": o.schedules,
    })
}

/// One statement as the customer pastes it: its comment lines, then the statement and `;`.
pub fn statement_text(s: &snowsync::onboard::sql::Statement) -> String {
    let mut out = String::new();
    for line in s.comment.iter().flat_map(|c| c.lines()) {
        out.push_str(&format!("-- {line}\n"));
    }
    out.push_str(&format!("{};\n", s.sql));
    out
}

/// `snowsync tenant rotate-key --json`: the step, its statement, the fingerprints.
pub fn rotation_json(
    r: &snowsync::onboard::rotate::Rotation,
    verify: bool,
    refused: Option<&snowsync::SyncError>,
    next: &str,
) -> Value {
    json!({
        "tenant": r.tenant.as_str(),
        "step": r.step.as_str(),
        "verified": verify.then_some(refused.is_none()),
        "error": refused.map(ToString::to_string),
        "slot": r.slot.parameter(),
        "public_key_fingerprint": r.public_key.fingerprint(),
        "previous_key_fingerprint": r.previous_key.fingerprint(),
        "generated": r.generated,
        "statements": [r.statement.sql],
        "next": (r.step == snowsync::onboard::rotate::Step::Register).then_some(next),
    })
}
