//! What went wrong talking to Snowflake, and what the operator should do about it.
//!
//! [`Failure`] says what really happened on the wire (no answer, an HTTP status, an answer
//! that was not Snowflake's JSON, a chunk that would not download, a statement still running
//! at the deadline, or Snowflake's own error code). [`classify`] turns it into a
//! [`SyncError`] of the contract's kinds, with the fix in the message. Neither ever carries a
//! token, a credential or a row value.

use crate::error::{ErrorKind, SyncError};
use crate::tenant::config::SnowflakeConfig;

use super::endpoint::Endpoint;

/// Whether an HTTP status is worth another attempt.
pub(crate) fn retryable_status(s: reqwest::StatusCode) -> bool {
    s == reqwest::StatusCode::TOO_MANY_REQUESTS
        || s == reqwest::StatusCode::REQUEST_TIMEOUT
        || s.is_server_error()
}

/// A failed exchange with Snowflake or its result storage.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// Snowflake answered with an error code.
    #[error("Snowflake error {code}: {message}")]
    Api {
        /// Snowflake's six-digit code.
        code: String,
        /// Snowflake's message (first line used in reports).
        message: String,
    },
    /// No HTTP answer (connect error, timeout, reset), after the retries.
    #[error("no answer to {what}: {source}")]
    Unreachable {
        /// The request.
        what: &'static str,
        /// The transport error.
        source: reqwest::Error,
    },
    /// The answer's body broke off.
    #[error("the answer to {what} broke off: {source}")]
    Cut {
        /// The request.
        what: &'static str,
        /// The transport error.
        source: reqwest::Error,
    },
    /// An HTTP error status (after the retries, for retryable ones).
    #[error("HTTP {status} in answer to {what}")]
    Status {
        /// The request.
        what: &'static str,
        /// The status code.
        status: u16,
    },
    /// An answer that is not Snowflake's JSON.
    #[error("the answer to {what} is not Snowflake's JSON: {source}")]
    Undecodable {
        /// The request.
        what: &'static str,
        /// Where parsing stopped.
        source: serde_json::Error,
    },
    /// An answer in Snowflake's JSON that lacks what the protocol promises.
    #[error("unexpected answer to {what}: {detail}")]
    Protocol {
        /// The request.
        what: &'static str,
        /// What was missing or wrong.
        detail: String,
    },
    /// A result chunk could not be downloaded or read, after the retries.
    #[error("result chunk {index} of {of}: {detail}")]
    Chunk {
        /// 1-based position of the chunk.
        index: usize,
        /// How many chunks the result has.
        of: usize,
        /// What failed (an HTTP status, a cut body, Arrow that does not decode).
        detail: String,
    },
    /// A file could not be uploaded to a stage's storage, after the retries.
    #[error("{0}")]
    Upload(String),
    /// A result's Arrow data does not decode.
    #[error("the result does not decode as Arrow: {0}")]
    Arrow(String),
    /// A statement still running when the run had to stop waiting; it was aborted.
    #[error("statement {query_id} still running after {waited_secs} s; aborted")]
    StillRunning {
        /// Snowflake's query id (to find it in `QUERY_HISTORY`).
        query_id: String,
        /// How long it had been running.
        waited_secs: u64,
    },
}

impl Failure {
    /// Whether another attempt of the same request can help.
    pub(crate) fn retryable(&self) -> bool {
        match self {
            Failure::Unreachable { .. } | Failure::Cut { .. } | Failure::Upload(_) => true,
            Failure::Status { status, .. } => reqwest::StatusCode::from_u16(*status)
                .map(retryable_status)
                .unwrap_or(false),
            _ => false,
        }
    }

    /// Snowflake's error code, when Snowflake answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Failure::Api { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// Turns a [`Failure`] into a classified, actionable error. Never includes credentials.
pub(crate) fn classify(cfg: &SnowflakeConfig, endpoint: &Endpoint, f: Failure) -> SyncError {
    let at = endpoint.describe(cfg);
    let (code, msg) = match &f {
        Failure::Api { code, message } => (code.clone(), message.clone()),
        Failure::Unreachable { .. } => {
            let text = format!("could not reach Snowflake at {at}: check the account ({}) and the network; retrying may help", cfg.account);
            return SyncError::transient(text).with_source(f);
        }
        Failure::Cut { .. } | Failure::Status { .. } => {
            let text = format!("Snowflake at {at} failed a request ({f}); retrying may help");
            return SyncError::transient(text).with_source(f);
        }
        Failure::Undecodable { .. } | Failure::Protocol { .. } => {
            let text = format!("Snowflake at {at} sent an answer snowsync could not read ({f}); retry, and check the account URL if it persists");
            return SyncError::transient(text).with_source(f);
        }
        Failure::Upload(_) => {
            let text = format!(
                "a file could not be uploaded to the Snowflake stage: {f}; retrying may help"
            );
            return SyncError::transient(text).with_source(f);
        }
        Failure::Chunk { .. } | Failure::Arrow(_) => {
            let text =
                format!("a query result from Snowflake could not be read: {f}; retrying may help");
            return SyncError::transient(text).with_source(f);
        }
        Failure::StillRunning { .. } => {
            let text = format!("{f} to stop before the function's deadline; the next run retries it (a warehouse that is too small or queued makes statements this slow)");
            return SyncError::transient(text).with_source(f);
        }
    };
    let (kind, text) = by_code(cfg, &code, &msg);
    SyncError::new(kind, text).with_source(f)
}

/// The kind and the actionable message for Snowflake's error `code`.
fn by_code(cfg: &SnowflakeConfig, code: &str, msg: &str) -> (ErrorKind, String) {
    let user = &cfg.user;
    let account = &cfg.account;
    let first_line = msg.lines().next().unwrap_or_default().trim();
    match code {
        "390100" => (
            ErrorKind::Auth,
            format!("Snowflake refused the login of user {user} to account {account}: incorrect username or password ({code}); check snowflake.user and the credentials, then run snowsync tenant add again"),
        ),
        "390422" => (
            ErrorKind::NetworkPolicy,
            format!("Snowflake refused user {user} on account {account}: {first_line} ({code}); the account's network policy must allow snowsync's egress IPs (snowsync egress-ips)"),
        ),
        "390144" | "394304" | "394300" | "390186" => (
            ErrorKind::Auth,
            format!("Snowflake refused the key-pair login of user {user} to account {account}: {first_line} ({code}); check that the user's RSA_PUBLIC_KEY matches the private key"),
        ),
        "390189" | "390201" | "390190" => (
            ErrorKind::MissingObject,
            format!("Snowflake could not set up the session of user {user} on account {account}: {first_line} ({code}); check snowflake.role, warehouse, database and schema"),
        ),
        c if super::wire::session_gone(c) => (
            ErrorKind::Transient,
            format!("Snowflake session expired and could not be renewed: {first_line} ({code}); retrying may help"),
        ),
        c if c.starts_with("3901") || c.starts_with("3902") || c.starts_with("3903") => (
            ErrorKind::Auth,
            format!("Snowflake refused the login of user {user} to account {account}: {first_line} ({code})"),
        ),
        c if c.starts_with("0030") => (
            ErrorKind::Privilege,
            format!("role {} lacks a privilege on account {account}: {first_line} ({code}); grant it to the role", cfg.role_label()),
        ),
        "000606" => (
            ErrorKind::MissingObject,
            format!("{first_line} ({code}); check that warehouse {} exists and GRANT USAGE ON WAREHOUSE {} TO ROLE {}", cfg.warehouse, cfg.warehouse.sql(), cfg.role_label()),
        ),
        "002003" | "002043" | "002151" | "090105" | "090106" => (
            ErrorKind::MissingObject,
            format!("{first_line} ({code}); check the name in the tenant config and that role {} can see it", cfg.role_label()),
        ),
        "000630" => (
            ErrorKind::Transient,
            format!("Snowflake cancelled a statement at its timeout: {first_line} ({code}); the next run retries it (a larger or less busy warehouse helps)"),
        ),
        // More than 20 statements waiting on one table's lock: the warehouse is busy with
        // writers; the statement can run once they are done.
        "000625" => (
            ErrorKind::Transient,
            format!("Snowflake aborted a statement waiting behind too many others on one table: {first_line} ({code}); it is retried with back-off (fewer units at once, max_parallel, eases it)"),
        ),
        // A resource monitor suspended the warehouse: it resumes when the quota is raised or
        // its period starts again.
        "090073" => (
            ErrorKind::Transient,
            format!("{first_line} ({code}); it is retried with back-off: raise the resource monitor's credit quota, or the run carries on when its next period starts"),
        ),
        "000603" | "000604" | "000605" | "300005" => (
            ErrorKind::Transient,
            format!("Snowflake failed the statement: {first_line} ({code}); retrying may help"),
        ),
        "100315" => (
            ErrorKind::Config,
            format!("Snowflake could not decrypt a staged file: {first_line} ({code}); the upload's encryption does not match the stage's key (a proxy that rewrites uploads, or a snowsync bug): report it"),
        ),
        // Data errors quote the value they could not take ("Numeric value '…' is not
        // recognized"): the value stays out of the message, as a row value must.
        c if c.starts_with("100") => (
            ErrorKind::Config,
            format!("Snowflake refused a value: {} ({code}); a row does not fit the destination's column types", without_values(first_line)),
        ),
        _ => (
            ErrorKind::Config,
            format!("Snowflake rejected a statement: {first_line} ({code})"),
        ),
    }
}

/// A Snowflake message with every single-quoted part (where data errors put the value; names
/// come in double quotes) replaced by `'…'`.
fn without_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut quoted = false;
    for c in message.chars() {
        if c == '\'' {
            if !quoted {
                out.push_str("'…'");
            }
            quoted = !quoted;
        } else if !quoted {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_errors_keep_the_value_out_of_the_message() {
        let cfg = crate::tenant::config::TenantConfig::parse(
            "tenant = \"t\"\n[snowflake]\naccount = \"a-b\"\nuser = \"U\"\nwarehouse = \"W\"\ndatabase = \"D\"\nschema = \"S\"\n",
        )
        .expect("config")
        .snowflake;
        for (code, message) in [
            (
                "100038",
                "Numeric value 'secret-amount-42' is not recognized",
            ),
            ("100035", "Timestamp 'secret-ts' is not recognized"),
            (
                "100078",
                "String 'secret text' is too long and would be truncated",
            ),
        ] {
            let (kind, text) = by_code(&cfg, code, message);
            assert_eq!(kind, ErrorKind::Config);
            assert!(!text.contains("secret"), "{text}");
            assert!(text.contains("'…'") && text.contains(code), "{text}");
        }
        let (_, named) = by_code(
            &cfg,
            "002003",
            "Object 'D.S.T' does not exist or not authorized.",
        );
        assert!(named.contains("'D.S.T'"), "names stay: {named}");
    }

    /// Snowflake's answers for a busy table and a warehouse its resource monitor suspended
    /// are worth retrying, as the engine does for `transient`.
    #[test]
    fn busy_tables_and_suspended_warehouses_are_transient() {
        let cfg = crate::tenant::config::TenantConfig::parse(
            "tenant = \"t\"\n[snowflake]\naccount = \"a-b\"\nuser = \"U\"\nwarehouse = \"W\"\ndatabase = \"D\"\nschema = \"S\"\n",
        )
        .expect("config")
        .snowflake;
        for (code, message) in [
            ("000625", "Statement '01b6c04c-0108-5374-0008-50d700010052' has locked table 'T' in transaction 1725239781553000000 and this lock has not yet been released.\nYour statement '01b6c04c-0108-5374-0008-50d700010056' was aborted because the number of waiters for this lock exceeds the 20 statements limit."),
            ("090073", "Warehouse 'W' cannot be resumed because resource monitor 'RM' has exceeded its quota."),
        ] {
            let (kind, text) = by_code(&cfg, code, message);
            assert_eq!(kind, ErrorKind::Transient, "{code}: {text}");
            assert!(text.contains(code) && text.contains("retried"), "{text}");
        }
    }
}
