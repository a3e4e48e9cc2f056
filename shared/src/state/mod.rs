//! The state table in DynamoDB: tenant configs, per-table status and leases, and run history.
//!
//! One table (`SNOWSYNC_STATE_TABLE`, default `snowsync`) with a string partition key `pk` and
//! sort key `sk`, so every item of a tenant sits in one partition:
//!
//! | pk | sk | item |
//! |---|---|---|
//! | `TENANT#<t>` | `CONFIG` | the config TOML as the operator wrote it |
//! | `TENANT#<t>` | `STATUS#<pull\|push>#<object>` | lease, watermark, last run summary |
//! | `TENANT#<t>` | `RUN#<started>#<run id>#<pull\|push>#<object>` | one run's record |
//!
//! | file | what it owns |
//! |---|---|
//! | `mod.rs` | the store, the item types, the key scheme |
//! | `tenants` | stored configs: put, get, list, delete |
//! | `status` | a table's or export's status row: lease, checkpoint, watermark |
//! | `runs` | run records and the status row's last-run summary |

use std::collections::HashMap;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::error::{ErrorKind, Result, SyncError};
use crate::tenant::config::TenantId;

/// The default name of the state table.
pub const DEFAULT_TABLE: &str = "snowsync";

/// How a run of one table or export ended (the contract's outcomes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Everything up to the run's upper bound is at the destination.
    Complete,
    /// Stopped at a page boundary before the deadline; a fresh invocation carries on.
    Continued,
    /// Another run holds the lease.
    SkippedLocked,
    /// Failed; see the error kind.
    Failed,
    /// Started and not finished (only seen in records of runs that died).
    Running,
}

impl Outcome {
    /// The contract's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Complete => "complete",
            Outcome::Continued => "continued",
            Outcome::SkippedLocked => "skipped_locked",
            Outcome::Failed => "failed",
            Outcome::Running => "running",
        }
    }
}

/// Whether a record is about a pull or a push.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Snowflake → PostgreSQL.
    Pull,
    /// PostgreSQL → Snowflake.
    Push,
}

impl Direction {
    /// `pull` or `push`.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Pull => "pull",
            Direction::Push => "push",
        }
    }

    /// The key the contract's result lists this direction's objects under.
    pub fn objects_key(self) -> &'static str {
        match self {
            Direction::Pull => "tables",
            Direction::Push => "exports",
        }
    }
}

/// A finished (or failed) run of one table or export, as recorded.
#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    /// Tenant.
    pub tenant: String,
    /// Pull or push.
    pub direction: Direction,
    /// The table (`DB.SCHEMA.TABLE`) or export source.
    pub object: String,
    /// This run's id.
    pub run_id: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended; `None` while running.
    pub finished_at: Option<DateTime<Utc>>,
    /// How it ended.
    pub outcome: Outcome,
    /// Rows read from the source.
    pub rows_read: u64,
    /// Rows written to the destination.
    pub rows_written: u64,
    /// Pages (or batches) moved.
    pub pages: u64,
    /// The watermark before the run (encoded), if any.
    pub watermark_before: Option<String>,
    /// The watermark after the run (encoded), if any.
    pub watermark_after: Option<String>,
    /// The error kind of a failure.
    pub error_kind: Option<ErrorKind>,
    /// The error message of a failure (never holds secrets).
    pub error: Option<String>,
    /// The plan the run followed (`full_refresh`, `backfill`, `incremental`), once known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    /// How many times the run had continued in a fresh invocation when this one started.
    pub hop: u32,
    /// Rows a reconciliation deleted (or marked deleted); `None` for other runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows_deleted: Option<u64>,
    /// The source's columns that changed and what the run did (reported once, by the run
    /// that found the change).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema_changes: Option<String>,
}

/// The plan name of a reconciliation's run records: its outcome is kept on the status row as
/// `last_reconcile`, apart from the pulls' `last_run`.
pub const RECONCILE_PLAN: &str = "reconcile";

/// The per-table (or per-export) status row that `snowsync status` shows.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectStatus {
    /// Tenant.
    pub tenant: String,
    /// Pull or push.
    pub direction: Direction,
    /// Table or export.
    pub object: String,
    /// The last run's record, if there was one.
    pub last_run: Option<RunRecord>,
    /// When the last complete run started: the destination holds the source as of then.
    pub last_complete_started_at: Option<DateTime<Utc>>,
    /// The committed watermark (encoded).
    pub watermark: Option<String>,
    /// The last reconciliation's record (tables with `deletes`).
    pub last_reconcile: Option<RunRecord>,
}

/// What a table or export has committed, and where an unfinished run stopped.
#[derive(Debug, Clone, Default)]
pub struct StoredProgress {
    /// The encoded watermark of the last complete run.
    pub watermark: Option<String>,
    /// The serialized checkpoint of an unfinished run.
    pub checkpoint: Option<String>,
    /// The serialized checkpoint of an unfinished reconciliation (kept apart from the pull's).
    pub reconcile_checkpoint: Option<String>,
    /// The serialized state of a column backfill (columns added to the source) not finished.
    pub columns_checkpoint: Option<String>,
    /// When the last complete run started: the destination holds the source as of then.
    pub last_complete_started_at: Option<DateTime<Utc>>,
    /// The run holding the lease and until when, if one took it (an expired lease is free).
    pub lease: Option<(String, DateTime<Utc>)>,
}

/// The DynamoDB state store.
#[derive(Clone, Debug)]
pub struct StateStore {
    client: Client,
    table: String,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn get_s(item: &HashMap<String, AttributeValue>, k: &str) -> Option<String> {
    item.get(k).and_then(|v| v.as_s().ok()).cloned()
}

fn get_n(item: &HashMap<String, AttributeValue>, k: &str) -> u64 {
    item.get(k)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn get_time(item: &HashMap<String, AttributeValue>, k: &str) -> Option<DateTime<Utc>> {
    get_s(item, k)
        .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
        .map(|t| t.with_timezone(&Utc))
}

fn dynamo_error(
    what: &str,
    e: impl ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
) -> SyncError {
    crate::error::aws_error(
        "DynamoDB",
        what,
        ": the state table is missing (deploy infra/, or run scripts/stack up locally)",
        e,
    )
}

fn tenant_pk(tenant: &TenantId) -> String {
    format!("TENANT#{tenant}")
}

fn status_sk(direction: Direction, object: &str) -> String {
    format!("STATUS#{}#{object}", direction.as_str())
}

mod runs;
mod status;
mod tenants;

pub use status::Side;

impl StateStore {
    /// Wraps a client built once per process; `table` is the state table's name.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// The same table through another client (a tenant session's: [`crate::Deps::for_tenant`]).
    pub fn with_client(&self, client: Client) -> Self {
        Self {
            client,
            table: self.table.clone(),
        }
    }

    /// An `UpdateItem` on one table's or export's status row (`STATUS#<direction>#<object>`).
    fn update_status(
        &self,
        tenant: &TenantId,
        direction: Direction,
        object: &str,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(tenant_pk(tenant)))
            .key("sk", s(status_sk(direction, object)))
    }

    async fn query_prefix(
        &self,
        tenant: &TenantId,
        prefix: &str,
    ) -> Result<Vec<HashMap<String, AttributeValue>>> {
        let mut items = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .expression_attribute_values(":pk", s(tenant_pk(tenant)));
            // DynamoDB rejects an empty begins_with operand: no prefix = the whole partition.
            query = if prefix.is_empty() {
                query.key_condition_expression("pk = :pk")
            } else {
                query
                    .key_condition_expression("pk = :pk AND begins_with(sk, :p)")
                    .expression_attribute_values(":p", s(prefix))
            };
            let out = query
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| dynamo_error("read tenant state", e.into_service_error()))?;
            items.extend(out.items().iter().cloned());
            match out.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
        Ok(items)
    }

    async fn tenant_keys(&self, tenant: &TenantId) -> Result<Vec<(String, String)>> {
        Ok(self
            .query_prefix(tenant, "")
            .await?
            .iter()
            .filter_map(|i| Some((get_s(i, "pk")?, get_s(i, "sk")?)))
            .collect())
    }
}
