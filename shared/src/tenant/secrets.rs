//! Tenant credentials: parsed from the operator's JSON file, kept in Secrets Manager under
//! `snowsync/tenants/<tenant>`, and held in memory only as [`SecretString`]s, so they cannot
//! reach a log line, an error message or a panic by accident.

use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use aws_sdk_secretsmanager::Client;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::error::{Result, SyncError};
use crate::tenant::config::TenantId;

/// How we log in to a tenant's Snowflake account.
#[derive(Clone)]
pub enum Credentials {
    /// Password login.
    Password(SecretString),
    /// Key-pair login: a PKCS#8 PEM private key, possibly encrypted, and its passphrase.
    KeyPair {
        /// The PEM text (`-----BEGIN [ENCRYPTED] PRIVATE KEY-----`).
        private_key: SecretString,
        /// The passphrase of an encrypted key.
        passphrase: Option<SecretString>,
    },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Password(_) => f.write_str("Credentials::Password(<redacted>)"),
            Credentials::KeyPair { .. } => f.write_str("Credentials::KeyPair(<redacted>)"),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCredentials {
    password: Option<SecretString>,
    private_key: Option<SecretString>,
    private_key_passphrase: Option<SecretString>,
}

impl Credentials {
    /// Parses the credentials JSON (`{"password": ...}` or `{"private_key": ..., "private_key_passphrase": ...}`).
    ///
    /// # Errors
    /// A `config` error that names the field and never quotes a value.
    pub fn parse(json: &str) -> Result<Self> {
        let raw: RawCredentials = serde_json::from_str(json).map_err(|e| {
            // serde_json's messages quote unknown field names and types, never values of
            // string fields; still, only keep the classification and position.
            let what = if e.to_string().contains("unknown field") {
                let field = e.to_string();
                let name = field.split('`').nth(1).unwrap_or("?").to_owned();
                format!("unknown field {name:?}: the credentials file holds \"password\", or \"private_key\" and optionally \"private_key_passphrase\"")
            } else {
                format!(
                    "not a JSON object of strings (line {}, column {}): write {{\"password\": \"...\"}} or {{\"private_key\": \"-----BEGIN PRIVATE KEY-----...\", \"private_key_passphrase\": \"...\"}}",
                    e.line(),
                    e.column()
                )
            };
            SyncError::config(format!("credentials: {what}"))
        })?;
        let nonempty = |s: Option<SecretString>, field: &str| -> Result<Option<SecretString>> {
            match s {
                Some(v) if v.expose_secret().trim().is_empty() => Err(SyncError::config(format!(
                    "credentials: \"{field}\" is empty: fill it in or leave the field out"
                ))),
                other => Ok(other),
            }
        };
        let password = nonempty(raw.password, "password")?;
        let private_key = nonempty(raw.private_key, "private_key")?;
        let passphrase = nonempty(raw.private_key_passphrase, "private_key_passphrase")?;
        match (password, private_key) {
            (Some(p), None) if passphrase.is_none() => Ok(Credentials::Password(p)),
            (Some(_), None) => Err(SyncError::config(
                "credentials: \"private_key_passphrase\" goes with \"private_key\", not with \"password\"",
            )),
            (None, Some(k)) => {
                if !k.expose_secret().contains("-----BEGIN") {
                    return Err(SyncError::config(
                        "credentials: \"private_key\" is not a PEM key: paste the whole file including the -----BEGIN PRIVATE KEY----- line (newlines as \\n in JSON)",
                    ));
                }
                Ok(Credentials::KeyPair {
                    private_key: k,
                    passphrase,
                })
            }
            (Some(_), Some(_)) => Err(SyncError::config(
                "credentials: give either \"password\" or \"private_key\", not both",
            )),
            (None, None) => Err(SyncError::config(
                "credentials: empty: give \"password\", or \"private_key\" (and \"private_key_passphrase\" if it is encrypted)",
            )),
        }
    }

    /// The JSON stored in Secrets Manager (the same shape as the operator's file).
    fn to_json(&self) -> String {
        let v = match self {
            Credentials::Password(p) => serde_json::json!({ "password": p.expose_secret() }),
            Credentials::KeyPair {
                private_key,
                passphrase,
            } => {
                let mut v = serde_json::json!({ "private_key": private_key.expose_secret() });
                if let Some(p) = passphrase {
                    v["private_key_passphrase"] = p.expose_secret().into();
                }
                v
            }
        };
        v.to_string()
    }

    /// Every secret value held, for tests that scan output for leaks.
    pub fn secret_values(&self) -> Vec<&str> {
        match self {
            Credentials::Password(p) => vec![p.expose_secret()],
            Credentials::KeyPair {
                private_key,
                passphrase,
            } => {
                let mut v = vec![private_key.expose_secret()];
                v.extend(passphrase.iter().map(|p| p.expose_secret()));
                v
            }
        }
    }
}

/// Tenant credentials in AWS Secrets Manager.
#[derive(Clone, Debug)]
pub struct SecretStore {
    client: Client,
}

fn secrets_error(
    what: &str,
    e: impl ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
) -> SyncError {
    crate::error::aws_error("Secrets Manager", what, "", e)
}

impl SecretStore {
    /// Wraps a client built once per process.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// Creates or replaces the tenant's secret. Idempotent.
    ///
    /// # Errors
    /// A classified error when Secrets Manager refuses.
    pub async fn put(&self, tenant: &TenantId, creds: &Credentials) -> Result<()> {
        let name = tenant.secret_name();
        let value = creds.to_json();
        let created = self
            .client
            .create_secret()
            .name(&name)
            .description(format!(
                "snowsync: Snowflake credentials of tenant {tenant}"
            ))
            .secret_string(&value)
            .send()
            .await;
        match created {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("ResourceExistsException") => {
                self.client
                    .put_secret_value()
                    .secret_id(&name)
                    .secret_string(value)
                    .send()
                    .await
                    .map_err(|e| {
                        secrets_error(&format!("store secret {name}"), e.into_service_error())
                    })?;
                Ok(())
            }
            Err(e) => Err(secrets_error(
                &format!("store secret {name}"),
                e.into_service_error(),
            )),
        }
    }

    /// Reads the tenant's credentials.
    ///
    /// # Errors
    /// `missing_object` when the tenant has no secret; `config` when it is malformed.
    pub async fn get(&self, tenant: &TenantId) -> Result<Credentials> {
        let name = tenant.secret_name();
        let out = self
            .client
            .get_secret_value()
            .secret_id(&name)
            .send()
            .await
            .map_err(|e| secrets_error(&format!("read secret {name}"), e.into_service_error()))?;
        let text = out.secret_string().ok_or_else(|| {
            SyncError::config(format!(
                "secret {name} holds no string: store it again with snowsync tenant add"
            ))
        })?;
        Credentials::parse(text).map_err(|e| e.context(format!("secret {name}")))
    }

    /// The platform database's URL from the secret `arn`: either a `postgres://` URL or the
    /// JSON shape RDS stores (`username`, `password`, `host`, `port`, `dbname`).
    ///
    /// # Errors
    /// A classified Secrets Manager error, or `config` when the secret has neither shape.
    pub async fn database_url(&self, arn: &str) -> Result<SecretString> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(arn)
            .send()
            .await
            .map_err(|e| secrets_error("read the database secret", e.into_service_error()))?;
        let text = out.secret_string().unwrap_or_default().trim();
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return Ok(SecretString::from(text.to_owned()));
        }
        #[derive(Deserialize)]
        struct Rds {
            username: String,
            password: SecretString,
            host: String,
            port: Option<u16>,
            dbname: Option<String>,
        }
        let rds: Rds = serde_json::from_str(text).map_err(|_| {
            SyncError::config(
                "the database secret holds neither a postgres:// URL nor RDS's JSON (username, password, host, port, dbname)",
            )
        })?;
        let enc = |s: &str| -> String {
            s.bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                        (b as char).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect()
        };
        Ok(SecretString::from(format!(
            "postgres://{}:{}@{}:{}/{}",
            enc(&rds.username),
            enc(rds.password.expose_secret()),
            rds.host,
            rds.port.unwrap_or(5432),
            enc(rds.dbname.as_deref().unwrap_or("postgres"))
        )))
    }

    /// Whether the tenant has a secret.
    ///
    /// # Errors
    /// A classified error when Secrets Manager fails.
    pub async fn exists(&self, tenant: &TenantId) -> Result<bool> {
        let name = tenant.secret_name();
        match self.client.describe_secret().secret_id(&name).send().await {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(false),
            Err(e) => Err(secrets_error(
                &format!("describe secret {name}"),
                e.into_service_error(),
            )),
        }
    }

    /// Deletes the tenant's secret at once (no recovery window). Absent is fine.
    ///
    /// # Errors
    /// A classified error when Secrets Manager fails.
    pub async fn delete(&self, tenant: &TenantId) -> Result<()> {
        let name = tenant.secret_name();
        match self
            .client
            .delete_secret()
            .secret_id(&name)
            .force_delete_without_recovery(true)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(()),
            Err(e) => Err(secrets_error(
                &format!("delete secret {name}"),
                e.into_service_error(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_never_prints_secrets() {
        let c = Credentials::parse(r#"{"password": "hunter2-very-secret"}"#).expect("parse");
        assert!(!format!("{c:?}").contains("hunter2"));
        let e =
            Credentials::parse(r#"{"password": "hunter2", "pasword": "x"}"#).expect_err("unknown");
        assert!(
            e.message().contains("pasword") && !e.message().contains("hunter2"),
            "{e}"
        );
        let e = Credentials::parse(r#"{"password": 5}"#).expect_err("type");
        assert!(e.message().starts_with("credentials:"), "{e}");
        let e = Credentials::parse(r#"{"password": ""}"#).expect_err("empty");
        assert!(e.message().contains("empty"), "{e}");
        let e = Credentials::parse("{}").expect_err("none");
        assert!(e.message().contains("empty"), "{e}");
        let e = Credentials::parse(r#"{"private_key": "abc"}"#).expect_err("pem");
        assert!(
            e.message().contains("not a PEM") && !e.message().contains("abc\""),
            "{e}"
        );
        let e = Credentials::parse(
            r#"{"password": "x", "private_key": "-----BEGIN PRIVATE KEY-----"}"#,
        )
        .expect_err("both");
        assert!(e.message().contains("not both"), "{e}");
        let e = Credentials::parse(r#"{"password": "hunter2"#).expect_err("syntax");
        assert!(!e.message().contains("hunter2"), "{e}");
    }
}
