//! Logging: `tracing` to stderr, JSON in Lambda (CloudWatch parses it), plain text for the CLI.
//! `RUST_LOG` filters as usual; the default keeps our own crates at `info` and others at `warn`,
//! and the HTTP, TLS and SDK crates never log below `warn` (their debug output holds bodies,
//! headers and URLs: [`CAPPED_AT_WARN`]).

use tracing_subscriber::EnvFilter;

/// Output format of the logs.
#[derive(Debug, Clone, Copy)]
pub enum LogFormat {
    /// One JSON object per line (Lambda).
    Json,
    /// Human-readable lines (CLI).
    Text,
}

/// Crates whose debug and trace events carry what must never reach a log: request and response
/// bodies (row data, tokens, the result key `qrmk`), headers (SSE-C keys, credentials), URLs
/// (presigned chunk URLs). They log at `warn` at most, whatever `RUST_LOG` says.
const CAPPED_AT_WARN: &[&str] = &[
    "reqwest",
    "hyper",
    "hyper_util",
    "h2",
    "rustls",
    "tokio_postgres",
    // every AWS SDK crate (aws_config, aws_types, aws_runtime, aws_sigv4, aws_smithy_*,
    // aws_sdk_*): a directive's target matches by prefix
    "aws",
    "snowflake_api",
];

/// `RUST_LOG` (or `default_filter`), with [`CAPPED_AT_WARN`] capped.
pub fn filter(rust_log: Option<&str>, default_filter: &str) -> EnvFilter {
    let mut filter = rust_log
        .and_then(|v| EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| EnvFilter::new(default_filter));
    for target in CAPPED_AT_WARN {
        if let Ok(directive) = format!("{target}=warn").parse() {
            filter = filter.add_directive(directive);
        }
    }
    filter
}

/// Installs the global subscriber once; later calls do nothing.
pub fn init(format: LogFormat, default_filter: &str) {
    let rust_log = std::env::var(EnvFilter::DEFAULT_ENV).ok();
    let filter = filter(rust_log.as_deref(), default_filter);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .without_time()
            .try_init(),
        LogFormat::Text => builder.with_target(false).compact().try_init(),
    };
}

/// One CloudWatch embedded-metric-format line per table or export, on stdout (Lambda sends it
/// to CloudWatch Logs, which turns it into metrics in the namespace `snowsync`):
/// `RowsRead`, `RowsWritten`, `Seconds`, `LagSeconds` and `LagOverSchedule` (lag divided by the
/// schedule's period: the stack alarms above 2) by `Tenant`, `Table`, `Direction`; and
/// `Failures` by `Tenant`, `ErrorKind` and by `ErrorKind` alone.
pub fn emit_metrics(
    tenant: &str,
    direction: &str,
    report: &crate::runner::ObjectReport,
    schedule_period: Option<std::time::Duration>,
) {
    println!(
        "{}",
        metrics_line(
            tenant,
            direction,
            report,
            schedule_period,
            chrono::Utc::now().timestamp_millis()
        )
    );
}

fn metrics_line(
    tenant: &str,
    direction: &str,
    report: &crate::runner::ObjectReport,
    schedule_period: Option<std::time::Duration>,
    now_ms: i64,
) -> String {
    let failed = report.outcome == crate::state::Outcome::Failed;
    let mut metrics = vec![
        serde_json::json!({"Name": "RowsRead", "Unit": "Count"}),
        serde_json::json!({"Name": "RowsWritten", "Unit": "Count"}),
        serde_json::json!({"Name": "Seconds", "Unit": "Seconds"}),
    ];
    let mut v = serde_json::json!({
        "Tenant": tenant,
        "Table": report.object,
        "Direction": direction,
        "Outcome": report.outcome.as_str(),
        "RowsRead": report.rows_read,
        "RowsWritten": report.rows_written,
        "Seconds": report.seconds,
        "Failures": u8::from(failed),
        "ErrorKind": report.error_kind.map_or("none", |k| k.as_str()),
    });
    if let Some(lag) = report.lag_seconds {
        metrics.push(serde_json::json!({"Name": "LagSeconds", "Unit": "Seconds"}));
        v["LagSeconds"] = lag.into();
        if let Some(p) = schedule_period.filter(|p| !p.is_zero()) {
            metrics.push(serde_json::json!({"Name": "LagOverSchedule", "Unit": "None"}));
            v["LagOverSchedule"] = (lag / p.as_secs_f64()).into();
        }
    }
    v["_aws"] = serde_json::json!({
        "Timestamp": now_ms,
        "CloudWatchMetrics": [
            {"Namespace": "snowsync", "Dimensions": [["Tenant", "Table", "Direction"]], "Metrics": metrics},
            {"Namespace": "snowsync", "Dimensions": [["Tenant", "ErrorKind"], ["ErrorKind"]], "Metrics": [{"Name": "Failures", "Unit": "Count"}]},
        ]
    });
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::ObjectReport;
    use crate::state::Outcome;

    /// What a subscriber wrote, shared with the test.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn http_tls_and_sdk_crates_never_log_below_warn_whatever_rust_log_says() {
        for rust_log in [Some("trace"), Some("debug,reqwest=trace,hyper=trace"), None] {
            let out = Captured::default();
            let writer = out.clone();
            let subscriber = tracing_subscriber::fmt()
                .with_env_filter(filter(rust_log, "trace"))
                .with_writer(move || writer.clone())
                .finish();
            tracing::subscriber::with_default(subscriber, || {
                tracing::debug!(target: "reqwest::connect", "body of a response");
                tracing::trace!(target: "hyper::proto::h1", "qrmk in a header");
                tracing::debug!(target: "aws_smithy_runtime::client", "a signed request");
                tracing::debug!(target: "aws_config::fs_util", "a home directory");
                tracing::debug!(target: "rustls::client", "a handshake detail");
                tracing::warn!(target: "reqwest::connect", "a warning stays");
                tracing::debug!(target: "snowsync::pull", "our own debug line");
            });
            let text = String::from_utf8(out.0.lock().expect("lock").clone()).expect("utf8");
            for hidden in [
                "body of a response",
                "qrmk in a header",
                "a signed request",
                "a handshake detail",
            ] {
                assert!(
                    !text.contains(hidden),
                    "{rust_log:?} let {hidden:?} through: {text}"
                );
            }
            assert!(
                text.contains("a warning stays") && text.contains("our own debug line"),
                "{text}"
            );
        }
    }

    #[test]
    fn emf_lines_carry_every_metric_with_its_dimensions() {
        let report = ObjectReport {
            object: "DB.S.T".into(),
            outcome: Outcome::Failed,
            rows_read: 5,
            rows_written: 4,
            watermark_before: None,
            watermark_after: None,
            pages: 1,
            rows_deleted: None,
            schema_changes: None,
            seconds: 2.5,
            lag_seconds: Some(7200.0),
            error_kind: Some(crate::ErrorKind::Auth),
            error: Some("x".into()),
        };
        let line = metrics_line(
            "acme",
            "pull",
            &report,
            Some(std::time::Duration::from_secs(3600)),
            42,
        );
        let v: serde_json::Value = serde_json::from_str(&line).expect("json");
        assert_eq!(v["_aws"]["Timestamp"], 42);
        assert_eq!(v["LagOverSchedule"], 2.0);
        assert_eq!(v["Failures"], 1);
        assert_eq!(v["ErrorKind"], "auth");
        assert_eq!(v["Table"], "DB.S.T");
        let names: Vec<&str> = v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .expect("metrics")
            .iter()
            .filter_map(|m| m["Name"].as_str())
            .collect();
        assert_eq!(
            names,
            [
                "RowsRead",
                "RowsWritten",
                "Seconds",
                "LagSeconds",
                "LagOverSchedule"
            ]
        );
        assert!(!line.contains('\n'));
    }
}
