//! Logging: `tracing` to stderr, JSON in Lambda (CloudWatch parses it), plain text for the CLI.
//! `RUST_LOG` filters as usual; the default keeps our own crates at `info` and others at `warn`.

use tracing_subscriber::EnvFilter;

/// Output format of the logs.
#[derive(Debug, Clone, Copy)]
pub enum LogFormat {
    /// One JSON object per line (Lambda).
    Json,
    /// Human-readable lines (CLI).
    Text,
}

/// Installs the global subscriber once; later calls do nothing.
pub fn init(format: LogFormat, default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
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
