//! Where Snowflake requests go: the account's own host, or `SNOWSYNC_SNOWFLAKE_URL` locally.

use reqwest::Url;

use crate::error::{Result, SyncError};
use crate::tenant::config::SnowflakeConfig;

/// The environment variable that sends every Snowflake request to another base URL (emulator).
pub const URL_OVERRIDE_VAR: &str = "SNOWSYNC_SNOWFLAKE_URL";

/// Where requests go: the account's host, unless overridden.
#[derive(Debug, Clone)]
pub struct Endpoint {
    base: Option<Url>,
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
        let url = Url::parse(base)
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

    /// The base URL of the account's REST API (`https://<host>/`).
    ///
    /// # Errors
    /// A `config` error when the account does not make a host name.
    pub(crate) fn base_url(&self, cfg: &SnowflakeConfig) -> Result<Url> {
        match &self.base {
            Some(u) => {
                let mut u = u.clone();
                u.set_path("/");
                u.set_query(None);
                Ok(u)
            }
            None => Url::parse(&format!("https://{}/", cfg.account.host())).map_err(|e| {
                SyncError::config(format!(
                    "snowflake.account {} does not make a host name: {e}",
                    cfg.account
                ))
            }),
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
