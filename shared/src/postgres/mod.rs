//! The platform's PostgreSQL database, and every statement snowsync sends it: where pulled
//! tables land, and what pushes read.
//!
//! Pages arrive as binary COPY tuples (written straight from the Arrow columns). A full refresh
//! or a backfill loads them into a staging table that survives across invocations (so a run can
//! resume) and swaps it in with one short transaction (drop old, rename new): readers see the
//! old table or the new one, never an empty or half-loaded one. Incremental pages are upserted
//! into the live table.
//!
//! | file | what it owns |
//! |---|---|
//! | `mod.rs` | the pool, errors, migrations |
//! | `tls` | TLS to the database, verified against a CA bundle when one is given |
//! | `tables` | a pulled table's staging, pages (binary COPY, upsert), key and swap |
//! | `reconcile` | a reconciliation's key fingerprints and removals, the source's delete flag |
//! | `schema` | a pulled table's columns changed in place, a column backfill's pages |
//! | `exports` | what a push reads: the upper bound and the batches past a position |
//! | `tenants` | a tenant's schema and role: sessions under `SET ROLE`, usage, purge |

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};

use crate::error::{ErrorKind, Result, SyncError};
use crate::quote::pg_ident;

mod exports;
mod reconcile;
mod schema;
mod tables;
mod tenants;
mod tls;

pub(crate) use exports::ExportReader;
pub use reconcile::{KeyRange, Removal, DELETED_AT_COLUMN};
pub use schema::{widens, ColumnChange, PlatformColumn};
pub use tables::{normalise_type, PgColumn, Target};
pub use tenants::{PgTenant, Purged};
use tls::tls_connector;
pub use tls::SslMode;

/// The column every pulled table gets: when the row was written by snowsync.
pub const SYNCED_AT_COLUMN: &str = "_snowsync_synced_at";

/// The `application_name` of our PostgreSQL sessions (unless the URL sets one).
pub const APPLICATION_NAME: &str = "snowsync";

/// The environment variable holding the platform database URL.
pub const DATABASE_URL_VAR: &str = "SNOWSYNC_DATABASE_URL";

/// The environment variable naming a PEM file of CA certificates for the platform database
/// (e.g. Amazon RDS's bundle). Set, the server's certificate is verified against it.
pub const DATABASE_CA_VAR: &str = "SNOWSYNC_DATABASE_CA_FILE";

/// What the pool runs on a connection before handing it out again: it proves the connection
/// alive and drops a tenant role a previous holder switched to, so no session starts as a
/// tenant it was not asked for.
pub const RESET_ON_CHECKOUT: &str = "RESET ROLE";

/// The platform's migrations, in order. Each is idempotent.
const MIGRATIONS: &[(&str, &str)] = &[(
    "0001_platform.sql",
    include_str!("migrations/0001_platform.sql"),
)];

/// An error with the causes its own text leaves out (a TLS handshake's reason sits two levels
/// down), each once.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let t = c.to_string();
        if !text.contains(&t) {
            text.push_str(": ");
            text.push_str(&t);
        }
        cause = c.source();
    }
    text
}

/// The platform database, through a connection pool built once per process.
#[derive(Clone)]
pub struct PlatformStore {
    pool: Pool,
}

impl std::fmt::Debug for PlatformStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PlatformStore")
    }
}

pub(crate) fn pg_error(what: &str, e: tokio_postgres::Error) -> SyncError {
    // Connection-level failures are worth retrying; SQL errors with a state are not, except
    // serialization failures, deadlocks and lock timeouts.
    let kind = match e.code().map(|c| c.code()) {
        None => ErrorKind::Transient,
        Some(c)
            if c.starts_with("08")
                || c == "40001"
                || c == "40P01"
                || c == "55P03"
                || c == "57P01" =>
        {
            ErrorKind::Transient
        }
        Some(c) if c.starts_with("42501") => ErrorKind::Privilege,
        Some(_) => ErrorKind::Config,
    };
    let detail = e
        .as_db_error()
        .map(|d| d.message().to_owned())
        .unwrap_or_else(|| e.to_string());
    SyncError::new(kind, format!("{what}: PostgreSQL: {detail}")).with_source(e)
}

fn ident(name: &str) -> Result<String> {
    pg_ident(name).map_err(|e| SyncError::config(format!("PostgreSQL name: {e}")))
}

/// The environment variable of the most connections one process holds to the platform
/// database: with the functions' reserved concurrency, the deployment's connection budget.
pub const DATABASE_CONNECTIONS_VAR: &str = "SNOWSYNC_DATABASE_CONNECTIONS";

/// [`DATABASE_CONNECTIONS_VAR`], 8 when unset. A run waits for a free connection when its
/// pages and checkpoints need more at once.
fn connections() -> Result<usize> {
    match std::env::var(DATABASE_CONNECTIONS_VAR) {
        Err(_) => Ok(8),
        Ok(v) => v
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=64).contains(n))
            .ok_or_else(|| {
                SyncError::config(format!(
                    "{DATABASE_CONNECTIONS_VAR}={v:?} is not a number of connections from 1 to 64"
                ))
            }),
    }
}

impl PlatformStore {
    /// Builds the pool from a `postgres://` URL (TLS per its `sslmode`, `verify-full` against
    /// [`DATABASE_CA_VAR`] when it names none; see [`SslMode`]). Connections open on first use.
    ///
    /// # Errors
    /// A `config` error when the URL does not parse (the URL itself is not echoed: it may hold a
    /// password) or the CA file is unusable.
    pub fn connect(url: &str) -> Result<Self> {
        let ca = std::env::var_os(DATABASE_CA_VAR).map(std::path::PathBuf::from);
        Self::connect_with_ca(url, ca.as_deref())
    }

    /// As [`PlatformStore::connect`], verifying the server's certificate against `ca_file` when
    /// given (instead of reading [`DATABASE_CA_VAR`]).
    ///
    /// # Errors
    /// A `config` error for a malformed URL or an unreadable CA file.
    pub fn connect_with_ca(url: &str, ca_file: Option<&std::path::Path>) -> Result<Self> {
        let (url, mode) = SslMode::take_from(url)?;
        let mut pg: tokio_postgres::Config = url.parse().map_err(|_| {
            SyncError::config(format!(
                "{DATABASE_URL_VAR} is not a PostgreSQL URL: write postgres://user:password@host:port/database"
            ))
        })?;
        // Operators see our sessions in pg_stat_activity by this name.
        if pg.get_application_name().is_none() {
            pg.application_name(APPLICATION_NAME);
        }
        pg.ssl_mode(mode.negotiation());
        if matches!(mode, SslMode::Prefer | SslMode::Disable) {
            tracing::warn!(
                "{DATABASE_URL_VAR} says sslmode={}: the platform database may be reached in plain text (local work only)",
                if mode == SslMode::Disable { "disable" } else { "prefer" }
            );
        }
        let mgr = Manager::from_config(
            pg,
            tls_connector(mode, ca_file)?,
            ManagerConfig {
                // A pooled connection the server dropped (restart, failover, idle timeout) is
                // replaced on checkout instead of failing the next statement.
                recycling_method: RecyclingMethod::Custom(RESET_ON_CHECKOUT.to_owned()),
            },
        );
        let pool = Pool::builder(mgr)
            .max_size(connections()?)
            .build()
            .map_err(|e| SyncError::config("could not build the PostgreSQL pool").with_source(e))?;
        Ok(Self { pool })
    }

    /// Builds the pool from `SNOWSYNC_DATABASE_URL`.
    ///
    /// # Errors
    /// A `config` error when the variable is missing or malformed.
    pub fn from_env() -> Result<Self> {
        let url = std::env::var(DATABASE_URL_VAR).map_err(|_| {
            SyncError::config(format!(
                "{DATABASE_URL_VAR} is not set: point it at the platform database (locally: eval \"$(scripts/stack env)\")"
            ))
        })?;
        Self::connect(&url)
    }

    /// A pooled connection.
    ///
    /// # Errors
    /// `transient` when the database cannot be reached.
    pub async fn client(&self) -> Result<Object> {
        self.pool.get().await.map_err(|e| {
            let why = with_causes(&e);
            let fix = if why.contains("not valid for name") {
                format!("; the certificate does not name the host of {DATABASE_URL_VAR}: connect by a name it carries (or, for local work only, add sslmode=verify-ca)")
            } else if why.contains("certificate") {
                format!("; check that {DATABASE_CA_VAR} holds the CA that signed the server's certificate")
            } else if why.contains("does not support TLS") {
                format!("; the server offers no TLS, so the connection was not made in plain text: turn TLS on in the database (or, for local work only, add sslmode=prefer to {DATABASE_URL_VAR})")
            } else {
                String::new()
            };
            SyncError::transient(format!(
                "could not connect to the platform database: {why}{fix}"
            ))
        })
    }

    /// Applies the platform's migrations (`postgres/migrations/`, idempotent): the `platform`
    /// schema with `actions` and `stages`, which pushes read.
    ///
    /// # Errors
    /// A classified PostgreSQL error.
    pub async fn migrate(&self) -> Result<()> {
        let client = self.client().await?;
        for (name, sql) in MIGRATIONS {
            client
                .batch_execute(sql)
                .await
                .map_err(|e| pg_error(&format!("apply migration {name}"), e))?;
        }
        Ok(())
    }
}
