//! The names a tenant config holds, each parsed once at the edge: the tenant id (and the
//! schema, secret and schedule names derived from it), the Snowflake account in any form
//! customers hand over, and a table's three-part name.

use std::fmt;

use crate::error::{Result, SyncError};
use crate::quote::Ident;

/// A tenant's id: `[a-z0-9][a-z0-9-]{0,62}`. It names the secret, the state rows and the
/// PostgreSQL schema (`tenant_<id with - as _>`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(String);

impl TenantId {
    /// Validates a tenant id.
    ///
    /// # Errors
    /// A `config` error when the id does not match `[a-z0-9][a-z0-9-]{0,62}`.
    pub fn parse(s: &str) -> Result<Self> {
        let ok = !s.is_empty()
            && s.len() <= 63
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(SyncError::config(format!(
                "tenant: invalid tenant id {s:?}: use 1 to 63 lower-case letters, digits and '-', starting with a letter or digit (e.g. \"acme-corp\")"
            )))
        }
    }

    /// The id as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The PostgreSQL schema holding this tenant's pulled tables: `tenant_<id with - as _>`.
    ///
    /// PostgreSQL cuts identifiers at 63 bytes, so two long ids sharing their first 56
    /// characters would land in one schema. Ids too long for the plain form keep a prefix and
    /// end in a hash of the whole id instead (see [`TenantId::bounded`]).
    pub fn pg_schema(&self) -> String {
        self.bounded("tenant_", "", 63).replace('-', "_")
    }

    /// The PostgreSQL role that owns [`TenantId::pg_schema`] and under which every write of
    /// this tenant's runs happens: `snowsync_tenant_<id with - as _>`, bounded as the schema.
    pub fn pg_role(&self) -> String {
        self.bounded("snowsync_tenant_", "", 63).replace('-', "_")
    }

    /// `prefix + id + suffix` when it fits in `max` bytes; otherwise the id is cut and followed
    /// by `-` and 12 hex digits of its SHA-256, so distinct ids always give distinct names of at
    /// most `max` bytes. Names of ids that fit are unchanged.
    pub fn bounded(&self, prefix: &str, suffix: &str, max: usize) -> String {
        let plain = format!("{prefix}{}{suffix}", self.0);
        if plain.len() <= max {
            return plain;
        }
        use sha2::Digest;
        let digest = sha2::Sha256::digest(self.0.as_bytes());
        let hash: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
        let keep = max.saturating_sub(prefix.len() + suffix.len() + 1 + hash.len());
        format!(
            "{prefix}{}-{hash}{suffix}",
            &self.0[..keep.min(self.0.len())]
        )
    }

    /// The Secrets Manager name of this tenant's credentials.
    pub fn secret_name(&self) -> String {
        format!("snowsync/tenants/{}", self.0)
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A Snowflake account identifier, normalised from any of the forms customers hand over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The host's first label(s) before `.snowflakecomputing.com`, lower case:
    /// `abc-xyz`, `xy12345.us-east-2.aws`, `abc-xyz.privatelink`.
    host_prefix: String,
}

impl Account {
    /// Normalises `abc-xyz`, `abc-xyz.snowflakecomputing.com`, `https://abc-xyz.snowflakecomputing.com/`,
    /// `locator.region[.cloud]` and `....privatelink` forms.
    ///
    /// # Errors
    /// A `config` error naming `snowflake.account` when the value is not one of those forms.
    pub fn parse(input: &str) -> Result<Self> {
        let bad = |why: &str| {
            SyncError::config(format!(
                "snowflake.account: invalid account {input:?}: {why}; write it as \"orgname-accountname\", \"locator.region\" or \"https://<account>.snowflakecomputing.com\""
            ))
        };
        let mut s = input.trim().to_ascii_lowercase();
        if let Some(rest) = s.strip_prefix("https://") {
            s = rest.to_owned();
        } else if s.contains("://") {
            return Err(bad("only https:// URLs are accepted"));
        }
        let s = s.trim_end_matches('/');
        if s.contains('/') {
            return Err(bad("a URL must not have a path"));
        }
        let s = s.strip_suffix(".snowflakecomputing.com").unwrap_or(s);
        if s.is_empty() {
            return Err(bad("it is empty"));
        }
        if s.ends_with(".com") || s.ends_with(".net") || s.ends_with(".io") {
            return Err(bad("the host is not a snowflakecomputing.com host"));
        }
        for label in s.split('.') {
            if label.is_empty() {
                return Err(bad("it has an empty part between dots"));
            }
            if !label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(bad("it may contain only letters, digits, '-', '_' and '.'"));
            }
        }
        Ok(Self {
            host_prefix: s.to_owned(),
        })
    }

    /// The account's host, e.g. `abc-xyz.snowflakecomputing.com`.
    pub fn host(&self) -> String {
        // Hosts use '-' where an account name has '_' (Snowflake's URL rule).
        format!(
            "{}.snowflakecomputing.com",
            self.host_prefix.replace('_', "-")
        )
    }

    /// The account name Snowflake expects in the login body and in a key-pair JWT issuer:
    /// `ORG-ACCOUNT` for the org form, the bare locator for `locator.region` forms.
    pub fn login_name(&self) -> String {
        let first = self.host_prefix.split('.').next().unwrap_or_default();
        first.to_ascii_uppercase()
    }

    /// The normalised form as written in the config (`abc-xyz`, `xy12345.us-east-2.aws`).
    pub fn as_str(&self) -> &str {
        &self.host_prefix
    }
}

impl fmt::Display for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.host_prefix)
    }
}

/// A fully qualified Snowflake table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableName {
    /// Database.
    pub database: Ident,
    /// Schema.
    pub schema: Ident,
    /// Table.
    pub table: Ident,
}

impl TableName {
    /// `"DB"."SCHEMA"."TABLE"`, quoted for SQL.
    pub fn sql(&self) -> String {
        format!(
            "{}.{}.{}",
            self.database.sql(),
            self.schema.sql(),
            self.table.sql()
        )
    }

    /// The PostgreSQL table name of a pulled table: the source name in lower case.
    pub fn pg_table(&self) -> String {
        self.table.name().to_lowercase()
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.database, self.schema, self.table)
    }
}
