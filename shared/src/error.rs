//! Errors that say what to do next.
//!
//! Every failure that leaves the engine carries an [`ErrorKind`]: whether retrying can help
//! (`transient`) or an operator has to fix something first (every other kind, `quota` too).
//! The kinds are part of the contract: they appear in run results, run records, metrics and
//! `snowsync status`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What kind of failure this is, and so what to do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Login refused: wrong user, password or key. Fix the credentials.
    Auth,
    /// The account's network policy does not allow our egress IPs. The customer adds them.
    NetworkPolicy,
    /// A warehouse, database, schema, table or column does not exist (or is invisible to the role).
    MissingObject,
    /// The role lacks a grant. The customer grants it.
    Privilege,
    /// The tenant's config or credentials are malformed. The operator fixes them.
    Config,
    /// A network fault, a timeout, a throttle, an expired session: retrying may succeed.
    Transient,
    /// The tenant would hold more rows or bytes in the platform than its `[limits]` allow.
    /// The operator raises the limit or removes tables; retrying alone cannot help.
    Quota,
}

impl ErrorKind {
    /// The contract's name of the kind (`auth`, `network_policy`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Auth => "auth",
            ErrorKind::NetworkPolicy => "network_policy",
            ErrorKind::MissingObject => "missing_object",
            ErrorKind::Privilege => "privilege",
            ErrorKind::Config => "config",
            ErrorKind::Transient => "transient",
            ErrorKind::Quota => "quota",
        }
    }

    /// Whether running the same thing again, unchanged, may succeed.
    pub fn is_retryable(self) -> bool {
        self == ErrorKind::Transient
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A classified failure: the kind, a one-line message that names what is wrong and how to fix
/// it, and the cause it came from. Messages never contain secret values.
#[derive(Debug)]
pub struct SyncError {
    kind: ErrorKind,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl SyncError {
    /// A new error of `kind` with a message for the operator.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// Keeps `source` as the cause (shown by `{:#}`-style reporters, never instead of the message).
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// A `config` error.
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config, message)
    }

    /// A `transient` error.
    pub fn transient(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Transient, message)
    }

    /// A `missing_object` error.
    pub fn missing(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::MissingObject, message)
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The operator-facing message, without the cause.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Prefixes the message with what was being done (`pull SALES.PUBLIC.T: ...`).
    pub fn context(mut self, what: impl fmt::Display) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }
}

impl fmt::Display for SyncError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SyncError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Classifies an AWS service error by its code (one mapping for every AWS SDK we call; they
/// share the error-metadata trait): access denied is `privilege`, a missing resource
/// `missing_object` (with `missing_hint` appended), a rejected request `config`, anything else
/// `transient`.
pub fn aws_error(
    service: &str,
    what: &str,
    missing_hint: &str,
    e: impl aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
) -> SyncError {
    let code = e.code().unwrap_or("unknown").to_owned();
    let kind = match code.as_str() {
        "AccessDeniedException" | "AccessDenied" => ErrorKind::Privilege,
        "ResourceNotFoundException" | "StateMachineDoesNotExist" => ErrorKind::MissingObject,
        "ValidationException" => ErrorKind::Config,
        _ => ErrorKind::Transient,
    };
    let hint = if kind == ErrorKind::MissingObject {
        missing_hint
    } else {
        ""
    };
    SyncError::new(kind, format!("{what}: {service} answered {code}{hint}")).with_source(e)
}

/// Shorthand for results of the engine.
pub type Result<T, E = SyncError> = std::result::Result<T, E>;
