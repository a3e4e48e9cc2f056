//! The Snowflake session: one login per run over `snowflake-api`, pinned to UTC and tagged.
//!
//! Why the extra layers around the crate:
//! - The crate builds every URL as `https://{account}.snowflakecomputing.com/...` and uses the
//!   same account string in the key-pair JWT issuer. We hand it the account *name* (right for the
//!   JWT and the login body) and a middleware ([`SnowflakeHttp`]) sends each request to the
//!   account's real host, or to `SNOWSYNC_SNOWFLAKE_URL` locally. Result-chunk downloads (S3
//!   presigned URLs) are never rewritten. The same layer replaces the crate's key-pair JWT (valid
//!   a day, which Snowflake refuses) with ours (see [`crate::keypair`]).
//! - Requests get timeouts of our own; the crate sets none.
//! - The crate does not renew expired sessions (390112/390114): we log in afresh and retry once.
//! - Errors become [`SyncError`]s classified by Snowflake's error codes, with the fix in the message.

use std::sync::Arc;
use std::time::Duration;

use arrow_array::{Array, RecordBatch};
use http::Extensions;
use reqwest_middleware::{ClientBuilder, Middleware, Next};
use reqwest_retry::policies::ExponentialBackoff;
use reqwest_retry::RetryTransientMiddleware;
use secrecy::ExposeSecret;
use snowflake_api::{
    AuthArgs, AuthType, CertificateArgs, PasswordArgs, QueryResult, SnowflakeApi,
    SnowflakeApiBuilder, SnowflakeApiError,
};
use tokio::sync::RwLock;

use crate::config::SnowflakeConfig;
use crate::error::{ErrorKind, Result, SyncError};
use crate::keypair::{load_private_key, replace_login_token, unencrypted_pem, Jwt};
use crate::quote::sf_string;
use crate::secrets::Credentials;

/// Connect timeout of every Snowflake request.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Overall timeout of one Snowflake request (a query that runs longer is reported as transient).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(180);

/// The environment variable that sends every Snowflake request to another base URL (emulator).
pub const URL_OVERRIDE_VAR: &str = "SNOWSYNC_SNOWFLAKE_URL";

/// The HTTP layer under the crate: sends requests meant for `*.snowflakecomputing.com` to the
/// real account host or the override, and signs key-pair logins with our own JWT.
struct SnowflakeHttp {
    scheme: String,
    host: String,
    port: Option<u16>,
    jwt: Option<Arc<Jwt>>,
}

#[async_trait::async_trait]
impl Middleware for SnowflakeHttp {
    async fn handle(
        &self,
        mut req: reqwest::Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let url = req.url_mut();
        let ours = url
            .host_str()
            .is_some_and(|h| h.to_ascii_lowercase().ends_with(".snowflakecomputing.com"));
        if !ours {
            return next.run(req, extensions).await;
        }
        // Both schemes are "special" in the URL standard, so switching between them is allowed.
        let _ = url.set_scheme(&self.scheme);
        url.set_host(Some(&self.host))
            .map_err(|e| reqwest_middleware::Error::Middleware(e.into()))?;
        let _ = url.set_port(self.port);
        if let Some(jwt) = &self.jwt {
            if url.path().ends_with("/session/v1/login-request") {
                let now = chrono::Utc::now().timestamp();
                let token = jwt
                    .token(now)
                    .map_err(|e| reqwest_middleware::Error::Middleware(e.into()))?;
                let body = req
                    .body()
                    .and_then(|b| b.as_bytes())
                    .and_then(|b| replace_login_token(b, &token));
                if let Some(body) = body {
                    *req.body_mut() = Some(reqwest::Body::from(body));
                }
            }
        }
        next.run(req, extensions).await
    }
}

/// Where requests go: the account's host, unless overridden.
#[derive(Debug, Clone)]
pub struct Endpoint {
    base: Option<reqwest::Url>,
}

impl Endpoint {
    /// The real Snowflake host of each account.
    pub fn snowflake() -> Self {
        Self { base: None }
    }

    /// Every request to `base` instead (the emulator), e.g. `http://127.0.0.1:8085`.
    ///
    /// # Errors
    /// A `config` error when `base` is not an http(s) URL.
    pub fn override_with(base: &str) -> Result<Self> {
        let url = reqwest::Url::parse(base)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
            .ok_or_else(|| {
                SyncError::config(format!(
                    "{URL_OVERRIDE_VAR}={base:?} is not an http(s) base URL such as http://127.0.0.1:8085"
                ))
            })?;
        Ok(Self { base: Some(url) })
    }

    /// From `SNOWSYNC_SNOWFLAKE_URL` when set, else the real hosts.
    ///
    /// # Errors
    /// A `config` error when the variable is set to something that is not a URL.
    pub fn from_env() -> Result<Self> {
        match std::env::var(URL_OVERRIDE_VAR) {
            Ok(v) if !v.trim().is_empty() => Self::override_with(v.trim()),
            _ => Ok(Self::snowflake()),
        }
    }

    fn http_layer(&self, cfg: &SnowflakeConfig, jwt: Option<Arc<Jwt>>) -> SnowflakeHttp {
        match &self.base {
            Some(u) => SnowflakeHttp {
                scheme: u.scheme().to_owned(),
                host: u.host_str().unwrap_or("127.0.0.1").to_owned(),
                port: u.port(),
                jwt,
            },
            None => SnowflakeHttp {
                scheme: "https".into(),
                host: cfg.account.host(),
                port: None,
                jwt,
            },
        }
    }

    /// The host (and port) requests go to, for messages.
    pub fn describe(&self, cfg: &SnowflakeConfig) -> String {
        match &self.base {
            Some(u) => u.to_string(),
            None => cfg.account.host(),
        }
    }
}

/// A logged-in Snowflake session for one run.
pub struct Session {
    api: RwLock<Arc<SnowflakeApi>>,
    cfg: SnowflakeConfig,
    creds: Credentials,
    endpoint: Endpoint,
    query_tag: String,
}

fn build_api(
    cfg: &SnowflakeConfig,
    creds: &Credentials,
    endpoint: &Endpoint,
) -> Result<SnowflakeApi> {
    let (auth_type, jwt) = match creds {
        Credentials::Password(p) => (
            AuthType::Password(PasswordArgs {
                password: p.expose_secret().to_owned(),
            }),
            None,
        ),
        Credentials::KeyPair {
            private_key,
            passphrase,
        } => {
            let key = load_private_key(private_key, passphrase.as_ref())?;
            let pem = unencrypted_pem(&key)?;
            let jwt = Jwt::new(key, &cfg.account.login_name(), &cfg.user)?;
            (
                AuthType::Certificate(CertificateArgs {
                    private_key_pem: pem.expose_secret().to_owned(),
                }),
                Some(Arc::new(jwt)),
            )
        }
    };
    let http = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .gzip(true)
        .user_agent(concat!("snowsync/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| SyncError::transient("could not build the HTTP client").with_source(e))?;
    let retry = ExponentialBackoff::builder().build_with_max_retries(3);
    let client = ClientBuilder::new(http)
        .with(endpoint.http_layer(cfg, jwt))
        .with(RetryTransientMiddleware::new_with_policy(retry))
        .build();
    let args = AuthArgs {
        account_identifier: cfg.account.login_name(),
        warehouse: Some(cfg.warehouse.name().to_owned()),
        database: Some(cfg.database.name().to_owned()),
        schema: Some(cfg.schema.name().to_owned()),
        username: cfg.user.clone(),
        role: cfg.role.as_ref().map(|r| r.name().to_owned()),
        auth_type,
    };
    SnowflakeApiBuilder::new(args)
        .with_client(client)
        .build()
        .map_err(|e| SyncError::config("could not set up the Snowflake client").with_source(e))
}

/// Snowflake error codes that mean the session is gone and a fresh login will do.
fn is_session_expired(code: &str) -> bool {
    matches!(code, "390112" | "390114" | "390104")
}

impl Session {
    /// Logs in and pins the session: `TIMEZONE = 'UTC'` (so cursor bounds and timestamp
    /// literals mean the same instant on every run) and a `QUERY_TAG` naming snowsync and the
    /// run, so customers find our queries in `QUERY_HISTORY`.
    ///
    /// # Errors
    /// `auth`, `network_policy`, `missing_object` (warehouse, database), `transient`.
    pub async fn connect(
        cfg: &SnowflakeConfig,
        creds: &Credentials,
        endpoint: &Endpoint,
        query_tag: &str,
    ) -> Result<Self> {
        let api = build_api(cfg, creds, endpoint)?;
        let session = Self {
            api: RwLock::new(Arc::new(api)),
            cfg: cfg.clone(),
            creds: creds.clone(),
            endpoint: endpoint.clone(),
            query_tag: query_tag.to_owned(),
        };
        session.pin().await?;
        Ok(session)
    }

    async fn pin(&self) -> Result<()> {
        let sql = format!(
            "ALTER SESSION SET TIMEZONE = 'UTC' QUERY_TAG = {}",
            sf_string(&self.query_tag)
        );
        let api = self.api.read().await.clone();
        api.exec(&sql).await.map_err(|e| self.classify(e))?;
        Ok(())
    }

    async fn run(&self, sql: &str) -> Result<QueryResult> {
        let api = self.api.read().await.clone();
        match api.exec(sql).await {
            Ok(r) => Ok(r),
            Err(SnowflakeApiError::ApiError(code, _)) if is_session_expired(&code) => {
                tracing::info!(code = %code, "Snowflake session expired; logging in again");
                {
                    let mut guard = self.api.write().await;
                    if Arc::ptr_eq(&guard, &api) {
                        *guard = Arc::new(build_api(&self.cfg, &self.creds, &self.endpoint)?);
                    }
                }
                self.pin().await?;
                let api = self.api.read().await.clone();
                api.exec(sql).await.map_err(|e| self.classify(e))
            }
            Err(e) => Err(self.classify(e)),
        }
    }

    /// Runs a query and returns its Arrow batches (none for an empty result). Batch order is
    /// not the query's row order when results are chunked: callers never rely on it.
    ///
    /// # Errors
    /// A classified error.
    pub async fn query(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        match self.run(sql).await? {
            QueryResult::Arrow(b) => Ok(b),
            QueryResult::Empty => Ok(Vec::new()),
            QueryResult::Json(_) => Err(SyncError::transient(
                "Snowflake answered a query with JSON rows instead of Arrow; check the account's parameters (PYTHON_CONNECTOR_QUERY_RESULT_FORMAT/JDBC...)",
            )),
        }
    }

    /// Runs a statement whose result is not needed (DDL, DML).
    ///
    /// # Errors
    /// A classified error.
    pub async fn execute(&self, sql: &str) -> Result<()> {
        self.run(sql).await.map(|_| ())
    }

    /// Turns a crate error into a classified, actionable one. Never includes credentials.
    fn classify(&self, e: SnowflakeApiError) -> SyncError {
        classify(&self.cfg, &self.endpoint, e)
    }
}

/// Classifies a `snowflake-api` error by Snowflake's error code.
fn classify(cfg: &SnowflakeConfig, endpoint: &Endpoint, e: SnowflakeApiError) -> SyncError {
    use snowflake_api::connection::ConnectionError;
    let user = &cfg.user;
    let account = &cfg.account;
    let (code, msg) = match &e {
        SnowflakeApiError::ApiError(code, msg) => (code.clone(), msg.clone()),
        SnowflakeApiError::AuthError(inner) => {
            // The crate's AuthError type is private: read its code from the message it formats
            // ("Failed to authenticate. Error code: 390100. Message: ...").
            let text = inner.to_string();
            if let Some(rest) = text.strip_prefix("Failed to authenticate. Error code: ") {
                let (code, msg) = rest.split_once(". Message: ").unwrap_or((rest, ""));
                (code.to_owned(), msg.to_owned())
            } else if has_cause::<reqwest::Error>(&e) || has_cause::<reqwest_middleware::Error>(&e)
            {
                return unreachable_error(cfg, endpoint, e);
            } else if has_cause::<serde_json::Error>(&e) {
                return unreadable_error(cfg, endpoint, e);
            } else {
                return SyncError::config(
                    "credentials: the private key could not sign a login token: store an RSA key in PKCS#8 PEM form",
                )
                .with_source(e);
            }
        }
        SnowflakeApiError::RequestError(ConnectionError::Deserialization(_)) => {
            return unreadable_error(cfg, endpoint, e)
        }
        SnowflakeApiError::RequestError(_) => return unreachable_error(cfg, endpoint, e),
        _ => return SyncError::transient("Snowflake request failed").with_source(e),
    };
    let first_line = msg.lines().next().unwrap_or_default().trim().to_owned();
    let (kind, text) = match code.as_str() {
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
        c if c.starts_with("3901") || c.starts_with("3902") || c.starts_with("3903") => (
            ErrorKind::Auth,
            format!("Snowflake refused the login of user {user} to account {account}: {first_line} ({code})"),
        ),
        c if is_session_expired(c) => (
            ErrorKind::Transient,
            format!("Snowflake session expired twice in a row: {first_line} ({code})"),
        ),
        c if c.starts_with("0030") => (
            ErrorKind::Privilege,
            format!("role {} lacks a privilege on account {account}: {first_line} ({code}); grant it to the role", cfg.role_label()),
        ),
        "000606" => (
            ErrorKind::MissingObject,
            format!("{first_line} ({code}); check that warehouse {} exists and GRANT USAGE ON WAREHOUSE {} TO ROLE {}", cfg.warehouse, cfg.warehouse.sql(), cfg.role_label()),
        ),
        "002003" | "002043" | "000625" | "002151" | "090105" | "090106" => (
            ErrorKind::MissingObject,
            format!("{first_line} ({code}); check the name in the tenant config and that role {} can see it", cfg.role_label()),
        ),
        "000603" | "000604" | "000605" | "000630" | "300005" => (
            ErrorKind::Transient,
            format!("Snowflake failed the statement: {first_line} ({code}); retrying may help"),
        ),
        _ => (
            ErrorKind::Config,
            format!("Snowflake rejected a statement: {first_line} ({code})"),
        ),
    };
    SyncError::new(kind, text).with_source(e)
}

fn has_cause<T: std::error::Error + 'static>(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cur {
        if c.is::<T>() {
            return true;
        }
        cur = c.source();
    }
    false
}

fn unreachable_error(
    cfg: &SnowflakeConfig,
    endpoint: &Endpoint,
    e: SnowflakeApiError,
) -> SyncError {
    SyncError::transient(format!(
        "could not reach Snowflake at {}: check the account ({}) and the network; retrying may help",
        endpoint.describe(cfg),
        cfg.account
    ))
    .with_source(e)
}

fn unreadable_error(cfg: &SnowflakeConfig, endpoint: &Endpoint, e: SnowflakeApiError) -> SyncError {
    SyncError::transient(format!(
        "Snowflake at {} sent a response snowsync could not read; retry, and check the account URL if it persists",
        endpoint.describe(cfg)
    ))
    .with_source(e)
}

/// Reads a text cell of a metadata query result (Utf8 or LargeUtf8).
pub fn text_at(batch: &RecordBatch, col: usize, row: usize) -> Option<String> {
    let a = batch.column(col);
    if a.is_null(row) {
        return None;
    }
    if let Some(s) = a.as_any().downcast_ref::<arrow_array::StringArray>() {
        return Some(s.value(row).to_owned());
    }
    a.as_any()
        .downcast_ref::<arrow_array::LargeStringArray>()
        .map(|s| s.value(row).to_owned())
}

/// Reads an integer cell of a metadata query result (any integer width, or Decimal128 scale 0).
pub fn int_at(batch: &RecordBatch, col: usize, row: usize) -> Option<i64> {
    use arrow_array::{Decimal128Array, Int16Array, Int32Array, Int64Array, Int8Array};
    let a = batch.column(col);
    if a.is_null(row) {
        return None;
    }
    let any = a.as_any();
    if let Some(x) = any.downcast_ref::<Int64Array>() {
        return Some(x.value(row));
    }
    if let Some(x) = any.downcast_ref::<Int32Array>() {
        return Some(x.value(row).into());
    }
    if let Some(x) = any.downcast_ref::<Int16Array>() {
        return Some(x.value(row).into());
    }
    if let Some(x) = any.downcast_ref::<Int8Array>() {
        return Some(x.value(row).into());
    }
    any.downcast_ref::<Decimal128Array>()
        .and_then(|x| i64::try_from(x.value(row)).ok())
}
