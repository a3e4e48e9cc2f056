//! The clients a process needs, built once (per Lambda cold start or CLI run) and passed by
//! reference to every run.

use secrecy::ExposeSecret;

use crate::error::{Result, SyncError};
use crate::postgres::PlatformStore;
use crate::snowflake::Endpoint;
use crate::state::{StateStore, DEFAULT_TABLE};
use crate::tenant::access::TenantRole;
use crate::tenant::config::TenantId;
use crate::tenant::secrets::SecretStore;

/// The environment variable naming the Secrets Manager secret that holds the platform
/// database's URL (in AWS; locally `SNOWSYNC_DATABASE_URL` is used instead).
pub const DATABASE_SECRET_VAR: &str = "SNOWSYNC_DATABASE_SECRET_ARN";

/// The environment variable naming the DynamoDB state table (default [`DEFAULT_TABLE`]).
pub const STATE_TABLE_VAR: &str = "SNOWSYNC_STATE_TABLE";

/// The environment variable naming the tenant-access role the functions assume per run (the
/// stack's `TenantAccessRoleArn`). Unset = no scoping (local development, the CLI).
pub const TENANT_ROLE_VAR: &str = "SNOWSYNC_TENANT_ROLE_ARN";

/// Tunables of a run. Defaults suit a 256 MB Lambda.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The most rows per keyset page read from Snowflake.
    pub page_rows: usize,
    /// The binary COPY bytes a page aims at: later pages are sized from the bytes per row seen,
    /// so wide rows make short pages and memory stays bounded whatever the table.
    pub page_bytes: usize,
    /// Rows per push batch (one temporary-table load and one MERGE).
    pub push_batch_rows: usize,
    /// The fewest rows a push batch sends as a staged file (`PUT` + `COPY INTO`); smaller
    /// batches go as `INSERT`s, which cost fewer round trips (README, "Push").
    pub push_bulk_min_rows: usize,
    /// How long a lease lives without renewal (a dead holder's lease is taken over after it).
    pub lease_ttl: std::time::Duration,
    /// Quotas of tenants whose config leaves them unset (`SNOWSYNC_DEFAULT_MAX_ROWS`,
    /// `SNOWSYNC_DEFAULT_MAX_BYTES`); none by default.
    pub default_limits: crate::tenant::limits::Limits,
    /// Units of work run at once, instead of the tenant's `max_parallel` (the CLI's
    /// `--parallel`).
    pub parallel: Option<usize>,
    /// Up to this many rows a backfill is split into key ranges at exact quantiles (one sort of
    /// its keys); above, at the quantiles of a sample of about [`SPLIT_SAMPLE_ROWS`] keys
    /// (`SNOWSYNC_SPLIT_EXACT_ROWS`).
    pub split_exact_rows: usize,
}

/// Keys a large backfill's split samples (see [`Settings::split_exact_rows`]).
pub const SPLIT_SAMPLE_ROWS: usize = 10_000;

impl Default for Settings {
    fn default() -> Self {
        Self {
            page_rows: 20_000,
            page_bytes: 16 << 20,
            push_batch_rows: 50_000,
            push_bulk_min_rows: 1_000,
            lease_ttl: std::time::Duration::from_secs(15 * 60),
            default_limits: crate::tenant::limits::Limits::default(),
            parallel: None,
            split_exact_rows: 1_000_000,
        }
    }
}

impl Settings {
    /// Defaults, overridden by `SNOWSYNC_PAGE_ROWS`, `SNOWSYNC_PAGE_BYTES`,
    /// `SNOWSYNC_PUSH_BATCH_ROWS`, `SNOWSYNC_PUSH_BULK_MIN_ROWS` and
    /// `SNOWSYNC_LEASE_TTL_SECS` when set (tests use small pages and short leases).
    ///
    /// # Errors
    /// A `config` error naming a variable that is not a positive whole number.
    pub fn from_env() -> Result<Self> {
        fn var(name: &str) -> Result<Option<u64>> {
            match std::env::var(name) {
                Ok(v) => v
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .map(Some)
                    .ok_or_else(|| {
                        SyncError::config(format!("{name}={v:?} is not a positive whole number"))
                    }),
                Err(_) => Ok(None),
            }
        }
        let mut s = Self::default();
        if let Some(n) = var("SNOWSYNC_PAGE_ROWS")? {
            s.page_rows = usize::try_from(n).unwrap_or(usize::MAX);
        }
        if let Some(n) = var("SNOWSYNC_PAGE_BYTES")? {
            s.page_bytes = usize::try_from(n).unwrap_or(usize::MAX);
        }
        if let Some(n) = var("SNOWSYNC_PUSH_BATCH_ROWS")? {
            s.push_batch_rows = usize::try_from(n).unwrap_or(usize::MAX);
        }
        if let Some(n) = var("SNOWSYNC_SPLIT_EXACT_ROWS")? {
            s.split_exact_rows = usize::try_from(n).unwrap_or(usize::MAX);
        }
        if let Some(n) = var("SNOWSYNC_PUSH_BULK_MIN_ROWS")? {
            s.push_bulk_min_rows = usize::try_from(n).unwrap_or(usize::MAX);
        }
        if let Some(n) = var("SNOWSYNC_LEASE_TTL_SECS")? {
            s.lease_ttl = std::time::Duration::from_secs(n);
        }
        s.default_limits = crate::tenant::limits::Limits::from_env()?;
        Ok(s)
    }
}

/// Everything a run talks to.
#[derive(Debug, Clone)]
pub struct Deps {
    /// DynamoDB: configs, leases, watermarks, run history.
    pub state: StateStore,
    /// Secrets Manager: tenant credentials.
    pub secrets: SecretStore,
    /// PostgreSQL: the platform database.
    pub platform: PlatformStore,
    /// Lambda: continuing a run in a fresh invocation, `--remote` runs.
    pub lambda: aws_sdk_lambda::Client,
    /// EventBridge Scheduler: per-tenant schedules.
    pub scheduler: aws_sdk_scheduler::Client,
    /// Where Snowflake requests go.
    pub endpoint: Endpoint,
    /// Tunables.
    pub settings: Settings,
    /// Who watches runs as they go (the CLI's progress display); `None` in the functions.
    pub watcher: Option<std::sync::Arc<dyn crate::runner::Watcher>>,
    /// The tenant-access role [`Deps::for_tenant`] assumes; `None` = the process's own
    /// credentials for every tenant.
    pub tenant_role: Option<TenantRole>,
    /// The AWS config the clients were built from (tenant sessions replace its credentials).
    aws: aws_config::SdkConfig,
}

/// The AWS SDK config from the standard chain (`AWS_ENDPOINT_URL` reaches the emulator locally).
pub async fn aws_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

impl Deps {
    /// Builds every client from the environment.
    ///
    /// # Errors
    /// A `config` error naming a missing or malformed variable.
    pub async fn from_env() -> Result<Self> {
        let aws = aws_config().await;
        if aws.region().is_none() {
            return Err(SyncError::config(
                "no AWS region: set AWS_REGION (locally: eval \"$(scripts/stack env)\")",
            ));
        }
        let tenant_role = match std::env::var(TENANT_ROLE_VAR) {
            Ok(arn) if !arn.trim().is_empty() => {
                Some(TenantRole::new(aws_sdk_sts::Client::new(&aws), arn.trim()))
            }
            _ => None,
        };
        let table = std::env::var(STATE_TABLE_VAR).unwrap_or_else(|_| DEFAULT_TABLE.to_owned());
        let secrets_client = aws_sdk_secretsmanager::Client::new(&aws);
        let platform = match std::env::var(DATABASE_SECRET_VAR) {
            Ok(arn) if std::env::var(crate::postgres::DATABASE_URL_VAR).is_err() => {
                let url = SecretStore::new(secrets_client.clone())
                    .database_url(&arn)
                    .await?;
                PlatformStore::connect(url.expose_secret())?
            }
            _ => PlatformStore::from_env()?,
        };
        Ok(Self {
            state: StateStore::new(aws_sdk_dynamodb::Client::new(&aws), table),
            secrets: SecretStore::new(secrets_client),
            lambda: aws_sdk_lambda::Client::new(&aws),
            scheduler: aws_sdk_scheduler::Client::new(&aws),
            platform,
            endpoint: Endpoint::from_env()?,
            settings: Settings::from_env()?,
            watcher: None,
            tenant_role,
            aws,
        })
    }

    /// These clients with `role` as the tenant-access role (what `SNOWSYNC_TENANT_ROLE_ARN`
    /// sets; tests pass it here instead of through the environment).
    pub fn with_tenant_role(mut self, role_arn: &str) -> Self {
        self.tenant_role = Some(TenantRole::new(
            aws_sdk_sts::Client::new(&self.aws),
            role_arn,
        ));
        self
    }

    /// The clients for one unit of work of `tenant` (a pull or push run): with a tenant-access
    /// role, the state and secret clients use a session of that role tagged `tenant=<id>`, so
    /// IAM admits only this tenant's secret and state items; without one, these clients.
    /// Lambda and Scheduler keep the process's credentials (continuations, not tenant data).
    ///
    /// # Errors
    /// When STS refuses the session (see [`TenantRole::assume`]).
    pub async fn for_tenant(&self, tenant: &TenantId) -> Result<Deps> {
        let Some(role) = &self.tenant_role else {
            return Ok(self.clone());
        };
        let session = role.assume(tenant).await?;
        tracing::debug!(%tenant, role = %session.assumed_role_arn, "tenant session");
        let scoped = self
            .aws
            .to_builder()
            .credentials_provider(aws_sdk_sts::config::SharedCredentialsProvider::new(
                session.credentials,
            ))
            .build();
        Ok(Deps {
            state: self
                .state
                .with_client(aws_sdk_dynamodb::Client::new(&scoped)),
            secrets: SecretStore::new(aws_sdk_secretsmanager::Client::new(&scoped)),
            tenant_role: None,
            aws: scoped,
            ..self.clone()
        })
    }

    /// The AWS config behind the state and secret clients: after [`Deps::for_tenant`], the
    /// tenant session's (tests ask STS who it is).
    pub fn aws_config(&self) -> &aws_config::SdkConfig {
        &self.aws
    }
}
