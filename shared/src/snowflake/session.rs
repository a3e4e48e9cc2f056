//! One logged-in Snowflake session per run, over Snowflake's REST protocol.
//!
//! What a session does that a plain HTTP client would not (README, "Real Snowflake"):
//! - logs in with a password or a key-pair JWT of ours ([`crate::snowflake::keypair`]) and pins every
//!   session parameter our SQL depends on, whatever the account's defaults ([`PINS`]);
//! - polls a statement that Snowflake answers "still running" (`333333`/`333334`) at its
//!   `getResultUrl`, until the run's deadline, then aborts it;
//! - renews an expired session token with the master token, or logs in afresh when that has
//!   expired too, restoring the pins and the session's temporary tables, and retries once;
//! - reads results from their inline part and chunks ([`super::result`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{Mutex, RwLock};

use super::endpoint::Endpoint;
use super::errors::{classify, Failure};
use super::http::{self, Api, Call};
use super::result::{self, Part, Parts};
use super::stage::PutAnswer;
use super::wire::{
    in_progress, session_gone, AbortRequest, Envelope, LoginData, QueryData, QueryRequest,
    RenewData, RenewRequest,
};
use crate::error::{Result, SyncError};
use crate::quote::sf_string;
use crate::snowflake::keypair::{load_private_key, Jwt};
use crate::tenant::config::SnowflakeConfig;
use crate::tenant::secrets::Credentials;

/// Session parameters pinned at every login, because an account or user may default them
/// otherwise and our SQL depends on them: UTC for cursor bounds and timestamp literals, Arrow
/// results (we present ourselves as the Go driver, so `GO_QUERY_RESULT_FORMAT` is the one
/// Snowflake reads), `AUTO` input formats for our ISO literals, exact quoted identifiers, and
/// autocommit for the push's MERGE; and result chunks of at most 48 MB (the least Snowflake
/// allows; the default is 160), since a streamed result holds a few chunks at a time.
const PINS: &str = "TIMEZONE = 'UTC' GO_QUERY_RESULT_FORMAT = 'ARROW' \
TIMESTAMP_INPUT_FORMAT = 'AUTO' DATE_INPUT_FORMAT = 'AUTO' TIME_INPUT_FORMAT = 'AUTO' \
QUOTED_IDENTIFIERS_IGNORE_CASE = FALSE AUTOCOMMIT = TRUE CLIENT_RESULT_CHUNK_SIZE = 48";
/// The statement timeout of a session without a deadline (the CLI).
const TIMEOUT_WITHOUT_DEADLINE: Duration = Duration::from_secs(4 * 3600);
/// Time kept in hand before a deadline: a poll gives up (and aborts) with this much left, to
/// abort the statement and record the run.
const DEADLINE_MARGIN: Duration = Duration::from_secs(2);
/// Renewals (or fresh logins) one statement may go through before its expiry is an error.
const MAX_REFRESHES: u32 = 3;
/// The longest pause between two polls of a running statement.
const MAX_POLL_PAUSE: Duration = Duration::from_secs(1);
/// The longest a run waits for Snowflake to close its session.
const CLOSE_WAIT: Duration = Duration::from_secs(3);

/// How long closing a session may take at `now`: [`CLOSE_WAIT`], less whatever would reach
/// into the last [`DEADLINE_MARGIN`] before the deadline (zero: do not close).
fn close_wait(deadline: Option<Instant>, now: Instant) -> Duration {
    deadline.map_or(CLOSE_WAIT, |d| {
        d.saturating_duration_since(now)
            .saturating_sub(DEADLINE_MARGIN)
            .min(CLOSE_WAIT)
    })
}

/// Whether a statement may renew an expired session (not while the session is being set up).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Renew {
    Yes,
    No,
}

/// The tokens of the current login.
struct Tokens {
    session: SecretString,
    master: SecretString,
    /// Changes with every renewal or login, so concurrent refreshes happen once.
    serial: u64,
}

impl Tokens {
    fn auth(&self) -> String {
        format!("Snowflake Token=\"{}\"", self.session.expose_secret())
    }
}

/// A logged-in Snowflake session for one run.
pub struct Session {
    api: Api,
    cfg: SnowflakeConfig,
    creds: Credentials,
    jwt: Option<Jwt>,
    endpoint: Endpoint,
    query_tag: String,
    deadline: Option<Instant>,
    tokens: RwLock<Arc<Tokens>>,
    sequence: AtomicU64,
    serial: AtomicU64,
    /// Fresh logins after the first: a temporary table made before one is gone (or empty).
    epoch: AtomicU64,
    /// Statements that set the session up (temporary tables), replayed after a fresh login.
    setup: Mutex<Vec<String>>,
}

impl Session {
    /// Logs in and pins the session ([`PINS`], a `QUERY_TAG` naming snowsync and the run, and
    /// a `STATEMENT_TIMEOUT_IN_SECONDS` inside `deadline`, when there is one).
    ///
    /// # Errors
    /// `auth`, `network_policy`, `missing_object` (warehouse, database), `config` (a key that
    /// cannot sign), `transient`.
    pub async fn connect(
        cfg: &SnowflakeConfig,
        creds: &Credentials,
        endpoint: &Endpoint,
        query_tag: &str,
        deadline: Option<Instant>,
    ) -> Result<Self> {
        let jwt = match creds {
            Credentials::Password(_) => None,
            Credentials::KeyPair {
                private_key,
                passphrase,
            } => {
                let key = load_private_key(private_key, passphrase.as_ref())?;
                Some(Jwt::new(key, &cfg.account.login_name(), &cfg.user)?)
            }
        };
        let fail = |f| classify(cfg, endpoint, f);
        let api = Api {
            http: http::client().map_err(fail)?,
            base: endpoint.base_url(cfg)?,
        };
        let mut session = Self {
            api,
            cfg: cfg.clone(),
            creds: creds.clone(),
            jwt,
            endpoint: endpoint.clone(),
            query_tag: query_tag.to_owned(),
            deadline,
            tokens: RwLock::new(Arc::new(Tokens {
                session: SecretString::from(String::new()),
                master: SecretString::from(String::new()),
                serial: 0,
            })),
            sequence: AtomicU64::new(0),
            serial: AtomicU64::new(0),
            epoch: AtomicU64::new(0),
            setup: Mutex::new(Vec::new()),
        };
        let tokens = session.login().await.map_err(fail)?;
        session.restore(&tokens).await.map_err(fail)?;
        session.tokens = RwLock::new(Arc::new(tokens));
        Ok(session)
    }

    /// Runs a query and returns its Arrow batches in result order (none for an empty result).
    ///
    /// # Errors
    /// A classified error.
    pub async fn query(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        let data = self.statement(sql).await.map_err(|f| self.classify(f))?;
        result::batches(&self.api.http, data)
            .await
            .map_err(|f| self.classify(f))
    }

    /// Runs a query and reads its result part by part (see [`ResultStream`]), downloading
    /// ahead at most `ahead_bytes` (by the sizes the chunks announce).
    ///
    /// # Errors
    /// A classified error.
    pub async fn stream(&self, sql: &str, ahead_bytes: u64) -> Result<ResultStream<'_>> {
        let data = self.statement(sql).await.map_err(|f| self.classify(f))?;
        let parts =
            Parts::new(&self.api.http, data, 0, 0, ahead_bytes).map_err(|f| self.classify(f))?;
        Ok(ResultStream {
            session: self,
            parts,
        })
    }

    /// Reads on the persisted result of an earlier query (`GET /queries/<id>/result`, with
    /// fresh chunk URLs), from part `from` on (`rows_before`: the rows of the parts before).
    /// `None` when Snowflake no longer has it (a persisted result lives 24 hours) or refuses
    /// it to this session: the caller starts over.
    ///
    /// # Errors
    /// A classified error for anything else (no answer, an expired login that does not renew).
    pub async fn resume_stream(
        &self,
        query_id: &str,
        from: usize,
        rows_before: u64,
        ahead_bytes: u64,
    ) -> Result<Option<ResultStream<'_>>> {
        let path = format!("/queries/{query_id}/result");
        let got = self
            .renewing(|tokens| {
                let path = path.clone();
                async move { self.fetch_result(&path, &tokens).await }
            })
            .await;
        let data = match got {
            Ok(data) => data,
            Err(Failure::Api { code, .. }) => {
                tracing::info!(code = %code, "the persisted result is not available; starting over");
                return Ok(None);
            }
            Err(f) => return Err(self.classify(f)),
        };
        let parts = Parts::new(&self.api.http, data, from, rows_before, ahead_bytes)
            .map_err(|f| self.classify(f))?;
        Ok(Some(ResultStream {
            session: self,
            parts,
        }))
    }

    /// Runs a statement whose result is not needed (DDL, DML); its chunks are never fetched.
    ///
    /// # Errors
    /// A classified error.
    pub async fn execute(&self, sql: &str) -> Result<()> {
        self.statement(sql)
            .await
            .map(drop)
            .map_err(|f| self.classify(f))
    }

    /// Runs a statement that sets the session up (a temporary table), and runs it again after
    /// any fresh login, so the session keeps its shape. See [`Self::epoch`] for the data.
    ///
    /// # Errors
    /// A classified error.
    pub async fn execute_setup(&self, sql: &str) -> Result<()> {
        self.execute(sql).await?;
        self.setup.lock().await.push(sql.to_owned());
        Ok(())
    }

    /// How many times the session was lost and logged in afresh. A temporary table is
    /// recreated empty by then: work that filled one must start again when this changes.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// Runs a `PUT` naming one file: where to upload it, with the credentials and the key.
    ///
    /// # Errors
    /// A classified error.
    pub(crate) async fn put(&self, sql: &str) -> Result<PutAnswer> {
        let data = self.statement(sql).await.map_err(|f| self.classify(f))?;
        PutAnswer::new(data.stage_info, data.encryption_material).map_err(|f| self.classify(f))
    }

    /// Ends the session (`POST /session?delete=true`, what the official drivers send when
    /// closed): its temporary tables go at once, and the customer's account stops counting it
    /// among the user's sessions, where an abandoned one stays until it expires (four hours
    /// idle by default). Best effort within [`CLOSE_WAIT`], and never within
    /// [`DEADLINE_MARGIN`] of the deadline, which the run needs to return its result: a
    /// failure is logged, and Snowflake expires the session anyway.
    pub async fn close(&self) {
        let wait = close_wait(self.deadline, Instant::now());
        if wait.is_zero() {
            return;
        }
        let auth = self.tokens.read().await.auth();
        let request_id = uuid::Uuid::new_v4().to_string();
        let call: Call<'_, ()> = Call::new(
            Method::POST,
            "/session?delete=true",
            &request_id,
            "close the session",
        )
        .auth(&auth);
        let sent = tokio::time::timeout(wait, self.api.send::<_, serde_json::Value>(&call)).await;
        match sent {
            Ok(Ok(_)) => tracing::debug!("closed the Snowflake session"),
            Ok(Err(e)) => {
                tracing::info!(error = %e, "could not close the Snowflake session; it expires by itself")
            }
            Err(_) => tracing::info!(
                waited_ms = wait.as_millis(),
                "Snowflake did not close the session in time; it expires by itself"
            ),
        }
    }

    /// The HTTP client (uploads to a stage's storage go through it too).
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.api.http
    }

    pub(crate) fn classify(&self, f: Failure) -> SyncError {
        classify(&self.cfg, &self.endpoint, f)
    }

    /// The statement's data, polled to the end; after an expired session, renewed (or logged
    /// in afresh) and run again, a few times at most (statements in flight together may each
    /// meet an expiry).
    async fn statement(&self, sql: &str) -> Result<QueryData, Failure> {
        self.renewing(|tokens| async move { self.run(sql, &tokens, Renew::Yes).await })
            .await
    }

    /// Runs `request` with the current login; after an expired session, renews (or logs in
    /// afresh) and runs it again, a few times at most.
    async fn renewing<F, Fut>(&self, request: F) -> Result<QueryData, Failure>
    where
        F: Fn(Arc<Tokens>) -> Fut,
        Fut: std::future::Future<Output = Result<QueryData, Failure>>,
    {
        let mut refreshed = 0;
        loop {
            let tokens = self.tokens.read().await.clone();
            match request(Arc::clone(&tokens)).await {
                Err(Failure::Api { code, .. })
                    if session_gone(&code) && refreshed < MAX_REFRESHES =>
                {
                    tracing::info!(code = %code, "Snowflake session expired; renewing it");
                    self.refresh(&tokens).await?;
                    refreshed += 1;
                }
                other => return other,
            }
        }
    }

    /// Fetches a finished statement's result from `path` (`/queries/<id>/result`), polling
    /// when Snowflake answers that it still runs.
    async fn fetch_result(&self, path: &str, tokens: &Tokens) -> Result<QueryData, Failure> {
        let request_id = uuid::Uuid::new_v4().to_string();
        let auth = tokens.auth();
        let call: Call<'_, ()> =
            Call::new(Method::GET, path, &request_id, "fetch a persisted result").auth(&auth);
        let answer: Envelope<QueryData> = self.api.send(&call).await?;
        if in_progress(answer.code.as_deref()) {
            return self.poll("", &request_id, answer, tokens, Renew::Yes).await;
        }
        into_data(answer)
    }

    /// Sends one statement and waits for its end.
    async fn run(&self, sql: &str, tokens: &Tokens, renew: Renew) -> Result<QueryData, Failure> {
        let request_id = uuid::Uuid::new_v4().to_string();
        let body = QueryRequest {
            sql_text: sql,
            async_exec: false,
            sequence_id: self.sequence.fetch_add(1, Ordering::SeqCst) + 1,
            is_internal: false,
        };
        let auth = tokens.auth();
        let call = Call::new(
            Method::POST,
            "/queries/v1/query-request",
            &request_id,
            "run a statement",
        )
        .auth(&auth)
        .body(&body);
        let answer: Envelope<QueryData> = self.api.send(&call).await?;
        if in_progress(answer.code.as_deref()) {
            return self.poll(sql, &request_id, answer, tokens, renew).await;
        }
        into_data(answer)
    }

    /// Polls a running statement's `getResultUrl` until it ends, or aborts it when the run
    /// must stop waiting (the deadline, less a margin; without one, the statement timeout).
    async fn poll(
        &self,
        sql: &str,
        request_id: &str,
        mut answer: Envelope<QueryData>,
        tokens: &Tokens,
        renew: Renew,
    ) -> Result<QueryData, Failure> {
        let started = Instant::now();
        let give_up = self.deadline.map_or(
            started + TIMEOUT_WITHOUT_DEADLINE + Duration::from_secs(60),
            |d| d.checked_sub(DEADLINE_MARGIN).unwrap_or(d),
        );
        let data = answer.data.take().unwrap_or_default();
        let query_id = data.query_id.clone().unwrap_or_default();
        let url = data
            .get_result_url
            .clone()
            .ok_or_else(|| Failure::Protocol {
                what: "run a statement",
                detail: "a statement in progress came without its getResultUrl".into(),
            })?;
        let mut pause = Duration::from_millis(50);
        let mut auth = tokens.auth();
        loop {
            if Instant::now() + pause >= give_up {
                self.abort(sql, request_id, &auth).await;
                return Err(Failure::StillRunning {
                    query_id,
                    waited_secs: started.elapsed().as_secs(),
                });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(MAX_POLL_PAUSE);
            let poll_id = uuid::Uuid::new_v4().to_string();
            let call: Call<'_, ()> =
                Call::new(Method::GET, &url, &poll_id, "poll a running statement").auth(&auth);
            let answer: Envelope<QueryData> = self.api.send(&call).await?;
            if in_progress(answer.code.as_deref()) {
                continue;
            }
            match into_data(answer) {
                Err(Failure::Api { code, .. }) if session_gone(&code) && renew == Renew::Yes => {
                    tracing::info!(code = %code, "Snowflake session expired while polling; renewing it");
                    let stale = self.tokens.read().await.clone();
                    self.refresh(&stale).await?;
                    auth = self.tokens.read().await.auth();
                }
                other => return other,
            }
        }
    }

    /// Asks Snowflake to cancel a statement we stopped waiting for (best effort: a failure is
    /// logged, and the statement timeout pinned at login ends it anyway).
    async fn abort(&self, sql: &str, request_id: &str, auth: &str) {
        let own_id = uuid::Uuid::new_v4().to_string();
        let body = AbortRequest {
            sql_text: sql,
            request_id,
        };
        let call = Call::new(
            Method::POST,
            "/queries/v1/abort-request",
            &own_id,
            "abort a statement",
        )
        .auth(auth)
        .body(&body);
        match self.api.send::<_, serde_json::Value>(&call).await {
            Ok(_) => tracing::info!(
                request_id,
                "aborted a statement still running at the deadline"
            ),
            Err(e) => tracing::warn!(request_id, error = %e, "could not abort a running statement"),
        }
    }

    /// Replaces tokens that Snowflake refused: renewed with the master token, or, when that
    /// fails too (the master token expired), a fresh login whose pins and setup statements
    /// run before the new tokens are published, so no statement runs in an unpinned session.
    /// Concurrent callers with the same stale tokens refresh once.
    async fn refresh(&self, stale: &Tokens) -> Result<(), Failure> {
        let mut guard = self.tokens.write().await;
        if guard.serial != stale.serial {
            return Ok(());
        }
        let fresh = match self.renew(&guard).await {
            Ok(t) => t,
            Err(e) => {
                tracing::info!(error = %e, "Snowflake did not renew the session; logging in again");
                let t = self.login().await?;
                // Boxed: restoring runs statements, which may poll.
                Box::pin(self.restore(&t)).await?;
                self.epoch.fetch_add(1, Ordering::SeqCst);
                t
            }
        };
        *guard = Arc::new(fresh);
        Ok(())
    }

    /// Runs the pins and the setup statements in the login of `tokens`, without renewing.
    async fn restore(&self, tokens: &Tokens) -> Result<(), Failure> {
        let timeout = self.deadline.map_or(TIMEOUT_WITHOUT_DEADLINE, |d| {
            d.saturating_duration_since(Instant::now())
                .max(Duration::from_secs(60))
        });
        let pin = format!(
            "ALTER SESSION SET {PINS} STATEMENT_TIMEOUT_IN_SECONDS = {} QUERY_TAG = {}",
            timeout.as_secs(),
            sf_string(&self.query_tag)
        );
        let setup = self.setup.lock().await.clone();
        for sql in std::iter::once(&pin).chain(setup.iter()) {
            self.run(sql, tokens, Renew::No).await?;
        }
        Ok(())
    }

    /// Logs in: a password, or a fresh JWT signed with the tenant's key.
    async fn login(&self) -> Result<Tokens, Failure> {
        let cfg = &self.cfg;
        let mut data = serde_json::json!({
            "CLIENT_APP_ID": "Go",
            "CLIENT_APP_VERSION": "1.6.22",
            "SVN_REVISION": "",
            "ACCOUNT_NAME": cfg.account.login_name(),
            "LOGIN_NAME": cfg.user.to_uppercase(),
            "SESSION_PARAMETERS": {"CLIENT_VALIDATE_DEFAULT_PARAMETERS": true},
            "CLIENT_ENVIRONMENT": {
                "APPLICATION": "snowsync",
                "OS": std::env::consts::OS,
                "OS_VERSION": std::env::consts::ARCH,
                "OCSP_MODE": "FAIL_OPEN",
            },
        });
        match (&self.creds, &self.jwt) {
            (_, Some(jwt)) => {
                let token =
                    jwt.token(chrono::Utc::now().timestamp())
                        .map_err(|e| Failure::Protocol {
                            what: "log in",
                            detail: e.message().to_owned(),
                        })?;
                data["AUTHENTICATOR"] = "SNOWFLAKE_JWT".into();
                data["TOKEN"] = token.into();
            }
            (Credentials::Password(p), None) => {
                data["PASSWORD"] = p.expose_secret().into();
            }
            (Credentials::KeyPair { .. }, None) => {
                return Err(missing("log in", "a signer for the key pair"));
            }
        }
        let body = serde_json::json!({ "data": data });
        let warehouse = cfg.warehouse.name().to_uppercase();
        let database = cfg.database.name().to_uppercase();
        let schema = cfg.schema.name().to_uppercase();
        let role = cfg.role.as_ref().map(|r| r.name().to_uppercase());
        let mut params = vec![
            ("warehouse", warehouse.as_str()),
            ("databaseName", database.as_str()),
            ("schemaName", schema.as_str()),
        ];
        if let Some(role) = &role {
            params.push(("roleName", role.as_str()));
        }
        let request_id = uuid::Uuid::new_v4().to_string();
        let call = Call {
            params: &params,
            ..Call::new(
                Method::POST,
                "/session/v1/login-request",
                &request_id,
                "log in",
            )
            .body(&body)
        };
        let answer: Envelope<LoginData> = self.api.send(&call).await?;
        if !answer.success {
            return Err(api_failure(answer.code, answer.message, None));
        }
        let data = answer.data.ok_or_else(|| missing("log in", "data"))?;
        tracing::debug!(session_id = ?data.session_id, "logged in to Snowflake");
        Ok(Tokens {
            session: data.token.ok_or_else(|| missing("log in", "token"))?.into(),
            master: data
                .master_token
                .ok_or_else(|| missing("log in", "masterToken"))?
                .into(),
            serial: self.serial.fetch_add(1, Ordering::SeqCst) + 1,
        })
    }

    /// Renews the session token with the master token (the session and its tables stay).
    async fn renew(&self, old: &Tokens) -> Result<Tokens, Failure> {
        let auth = format!("Snowflake Token=\"{}\"", old.master.expose_secret());
        let body = RenewRequest {
            old_session_token: old.session.expose_secret(),
            request_type: "RENEW",
        };
        let request_id = uuid::Uuid::new_v4().to_string();
        let call = Call::new(
            Method::POST,
            "/session/token-request",
            &request_id,
            "renew the session",
        )
        .auth(&auth)
        .body(&body);
        let answer: Envelope<RenewData> = self.api.send(&call).await?;
        if !answer.success {
            return Err(api_failure(answer.code, answer.message, None));
        }
        let data = answer
            .data
            .ok_or_else(|| missing("renew the session", "data"))?;
        Ok(Tokens {
            session: data
                .session_token
                .ok_or_else(|| missing("renew the session", "sessionToken"))?
                .into(),
            master: data.master_token.map_or_else(
                || old.master.expose_secret().to_owned().into(),
                SecretString::from,
            ),
            serial: self.serial.fetch_add(1, Ordering::SeqCst) + 1,
        })
    }
}

/// A query's result, part by part (the inline first part, then each chunk), so that a
/// result of any size is held a few parts at a time.
pub struct ResultStream<'s> {
    session: &'s Session,
    parts: Parts,
}

impl ResultStream<'_> {
    /// The query whose result this is (to read it again with [`Session::resume_stream`]).
    pub fn query_id(&self) -> Option<&str> {
        self.parts.query_id()
    }

    /// How many parts the result has: the inline part and the chunks.
    pub fn parts(&self) -> usize {
        self.parts.count()
    }

    /// The next part in result order; `None` after the last.
    ///
    /// # Errors
    /// A classified error: a chunk that does not download or decode, or rows that do not add
    /// up to the result's total.
    pub async fn next(&mut self) -> Option<Result<Part>> {
        let part = self.parts.next().await?;
        Some(part.map_err(|f| self.session.classify(f)))
    }
}

/// A query answer's data, or its error.
fn into_data(answer: Envelope<QueryData>) -> Result<QueryData, Failure> {
    if answer.success {
        return Ok(answer.data.unwrap_or_default());
    }
    let data_code = answer.data.and_then(|d| d.error_code);
    Err(api_failure(answer.code, answer.message, data_code))
}

fn api_failure(
    code: Option<String>,
    message: Option<String>,
    data_code: Option<String>,
) -> Failure {
    Failure::Api {
        code: code.or(data_code).unwrap_or_else(|| "000000".into()),
        message: message.unwrap_or_default(),
    }
}

fn missing(what: &'static str, field: &str) -> Failure {
    Failure::Protocol {
        what,
        detail: format!("a successful answer without {field}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_close_waits_its_bound_and_never_into_the_last_margin_before_the_deadline() {
        let now = Instant::now();
        let s = Duration::from_secs;
        assert_eq!(close_wait(None, now), CLOSE_WAIT, "no deadline (the CLI)");
        assert_eq!(close_wait(Some(now + s(60)), now), CLOSE_WAIT);
        assert_eq!(
            close_wait(Some(now + s(4)), now),
            s(2),
            "4 s left, 2 s kept"
        );
        assert_eq!(close_wait(Some(now + s(2)), now), Duration::ZERO);
        assert_eq!(close_wait(Some(now + s(1)), now), Duration::ZERO);
        assert_eq!(close_wait(Some(now), now + s(5)), Duration::ZERO, "past it");
    }
}
