//! The HTTP under the session: where requests go, the ids they carry, and retries.
//!
//! Every request carries a `requestId` (the same on every retry of one statement, so Snowflake
//! and its query history recognise a retry) and a fresh `request_guid` per attempt, with
//! `retryCount` once retried, as snowflake-connector-python's `network.py` sends them. 429, 5xx,
//! reset connections and cut bodies are retried with jittered exponential back-off
//! (`retry-policies`); anything else is a [`Failure`] that says what happened.

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, Url};
use retry_policies::policies::ExponentialBackoff;
use retry_policies::{RetryDecision, RetryPolicy};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::errors::Failure;
use super::wire::Envelope;

/// Connect timeout of every request.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Timeout of one request. Snowflake answers a statement still running after about 45 s with
/// an in-progress code, so no single request should come near this.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(180);
/// Retries of a Snowflake API request (429, 5xx, reset connections).
pub(crate) const API_RETRIES: u32 = 3;

/// The retry schedule: jittered exponential back-off from 100 ms, at most 5 s apart.
pub(crate) fn backoff(retries: u32) -> ExponentialBackoff {
    ExponentialBackoff::builder()
        .retry_bounds(Duration::from_millis(100), Duration::from_secs(5))
        .build_with_max_retries(retries)
}

/// Waits before retry `n` (counting from 0), or says the retries are spent.
pub(crate) async fn wait_to_retry(
    policy: &ExponentialBackoff,
    started: SystemTime,
    n: u32,
) -> bool {
    match policy.should_retry(started, n) {
        RetryDecision::Retry { execute_after } => {
            let wait = execute_after
                .duration_since(SystemTime::now())
                .unwrap_or_default();
            tokio::time::sleep(wait).await;
            true
        }
        RetryDecision::DoNotRetry => false,
    }
}

/// A transport error's text with its URL replaced by `placeholder` (a presigned URL is a
/// credential for the data behind it).
pub(crate) fn without_url(e: &reqwest::Error, placeholder: &str) -> String {
    let mut s = e.to_string();
    if let Some(url) = e.url() {
        s = s.replace(url.as_str(), placeholder);
    }
    s
}

/// Builds the HTTP client every Snowflake and storage request goes through.
///
/// # Errors
/// A `transient` failure when the TLS stack cannot be set up.
pub(crate) fn client() -> Result<reqwest::Client, Failure> {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .gzip(true)
        .user_agent(concat!("snowsync/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Failure::Unreachable {
            what: "build the HTTP client",
            source: e,
        })
}

/// A request to Snowflake's REST API.
pub(crate) struct Call<'a, B> {
    pub method: Method,
    /// Path (with its own query string, for a `getResultUrl`), relative to the base URL.
    pub path: &'a str,
    pub params: &'a [(&'a str, &'a str)],
    /// `Snowflake Token="..."`, when logged in.
    pub auth: Option<&'a str>,
    pub body: Option<&'a B>,
    /// The statement's `requestId`, kept across retries.
    pub request_id: &'a str,
    /// What the request is for, in errors ("run a statement", "log in").
    pub what: &'static str,
}

impl<'a, B> Call<'a, B> {
    /// A request without parameters, authorization or body.
    pub fn new(method: Method, path: &'a str, request_id: &'a str, what: &'static str) -> Self {
        Self {
            method,
            path,
            params: &[],
            auth: None,
            body: None,
            request_id,
            what,
        }
    }

    /// With the session's (or master) token header.
    pub fn auth(self, auth: &'a str) -> Self {
        Self {
            auth: Some(auth),
            ..self
        }
    }

    /// With a JSON body.
    pub fn body(self, body: &'a B) -> Self {
        Self {
            body: Some(body),
            ..self
        }
    }
}

/// The base URL of the account (or of the emulator) and the client.
#[derive(Clone)]
pub(crate) struct Api {
    pub http: reqwest::Client,
    pub base: Url,
}

impl Api {
    /// Sends `call`, retrying what is worth retrying, and parses Snowflake's envelope.
    ///
    /// # Errors
    /// [`Failure::Unreachable`] (no answer after the retries), [`Failure::Status`] (an HTTP
    /// error status), [`Failure::Undecodable`] (an answer that is not Snowflake's JSON).
    pub async fn send<B: Serialize, D: DeserializeOwned>(
        &self,
        call: &Call<'_, B>,
    ) -> Result<Envelope<D>, Failure> {
        let policy = backoff(API_RETRIES);
        let started = SystemTime::now();
        let mut attempt = 0u32;
        loop {
            let outcome = self.attempt(call, attempt).await;
            match outcome {
                Ok(bytes) => {
                    return serde_json::from_slice(&bytes).map_err(|e| Failure::Undecodable {
                        what: call.what,
                        source: e,
                    })
                }
                Err(f) if f.retryable() && wait_to_retry(&policy, started, attempt).await => {
                    tracing::debug!(what = call.what, attempt, error = %f, "Snowflake request failed; retrying");
                    attempt += 1;
                }
                Err(f) => return Err(f),
            }
        }
    }

    async fn attempt<B: Serialize>(
        &self,
        call: &Call<'_, B>,
        attempt: u32,
    ) -> Result<bytes::Bytes, Failure> {
        let url = self.url(call, attempt)?;
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/snowflake"));
        if let Some(auth) = call.auth {
            let mut v = HeaderValue::from_str(auth).map_err(|_| Failure::Protocol {
                what: call.what,
                detail: "the session token is not a valid header value".into(),
            })?;
            v.set_sensitive(true);
            headers.insert(AUTHORIZATION, v);
        }
        let mut req = self.http.request(call.method.clone(), url).headers(headers);
        if let Some(body) = call.body {
            let json = serde_json::to_vec(body).map_err(|e| Failure::Protocol {
                what: call.what,
                detail: format!("could not encode the request: {e}"),
            })?;
            req = req
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                .body(json);
        }
        let resp = req.send().await.map_err(|e| Failure::Unreachable {
            what: call.what,
            source: e,
        })?;
        let status = resp.status();
        if !status.is_success() {
            return Err(Failure::Status {
                what: call.what,
                status: status.as_u16(),
            });
        }
        resp.bytes().await.map_err(|e| Failure::Cut {
            what: call.what,
            source: e,
        })
    }

    fn url<B>(&self, call: &Call<'_, B>, attempt: u32) -> Result<Url, Failure> {
        let mut url = self.base.join(call.path).map_err(|e| Failure::Protocol {
            what: call.what,
            detail: format!("bad URL path {:?}: {e}", call.path),
        })?;
        let guid = uuid::Uuid::new_v4().to_string();
        {
            let mut q = url.query_pairs_mut();
            for (k, v) in call.params {
                q.append_pair(k, v);
            }
            q.append_pair("requestId", call.request_id);
            q.append_pair("request_guid", &guid);
            if attempt > 0 {
                q.append_pair("retryCount", &attempt.to_string());
            }
        }
        Ok(url)
    }
}
