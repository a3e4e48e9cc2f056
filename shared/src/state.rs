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

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::TenantId;
use crate::error::{ErrorKind, Result, SyncError};

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
}

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
}

/// What a table or export has committed, and where an unfinished run stopped.
#[derive(Debug, Clone, Default)]
pub struct StoredProgress {
    /// The encoded watermark of the last complete run.
    pub watermark: Option<String>,
    /// The serialized checkpoint of an unfinished run.
    pub checkpoint: Option<String>,
    /// When the last complete run started: the destination holds the source as of then.
    pub last_complete_started_at: Option<DateTime<Utc>>,
}

fn lease_lost(object: &str) -> SyncError {
    SyncError::transient(format!(
        "{object}: the lease was taken over by another run (this run outlived it); nothing was lost, the other run carries on"
    ))
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

fn record_from_item(item: &HashMap<String, AttributeValue>) -> Option<RunRecord> {
    let outcome = match get_s(item, "outcome")?.as_str() {
        "complete" => Outcome::Complete,
        "continued" => Outcome::Continued,
        "skipped_locked" => Outcome::SkippedLocked,
        "failed" => Outcome::Failed,
        _ => Outcome::Running,
    };
    let direction = match get_s(item, "direction")?.as_str() {
        "push" => Direction::Push,
        _ => Direction::Pull,
    };
    let error_kind = get_s(item, "error_kind")
        .and_then(|k| serde_json::from_value::<ErrorKind>(serde_json::Value::String(k)).ok());
    Some(RunRecord {
        tenant: get_s(item, "tenant")?,
        direction,
        object: get_s(item, "object")?,
        run_id: get_s(item, "run_id")?,
        started_at: get_time(item, "started_at")?,
        finished_at: get_time(item, "finished_at"),
        outcome,
        rows_read: get_n(item, "rows_read"),
        rows_written: get_n(item, "rows_written"),
        pages: get_n(item, "pages"),
        watermark_before: get_s(item, "watermark_before"),
        watermark_after: get_s(item, "watermark_after"),
        error_kind,
        error: get_s(item, "error"),
    })
}

impl StateStore {
    /// Wraps a client built once per process; `table` is the state table's name.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
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

    /// Stores (creates or replaces) a tenant's config text. Idempotent.
    ///
    /// # Errors
    /// A classified DynamoDB error.
    pub async fn put_config(&self, tenant: &TenantId, toml_text: &str) -> Result<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(tenant_pk(tenant)))
            .item("sk", s("CONFIG"))
            .item("tenant", s(tenant.as_str()))
            .item("config", s(toml_text))
            .item("updated_at", s(Utc::now().to_rfc3339()))
            .send()
            .await
            .map_err(|e| dynamo_error("store tenant config", e.into_service_error()))?;
        Ok(())
    }

    /// Reads a tenant's config text, `None` when the tenant is unknown.
    ///
    /// # Errors
    /// A classified DynamoDB error.
    pub async fn get_config(&self, tenant: &TenantId) -> Result<Option<String>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(tenant_pk(tenant)))
            .key("sk", s("CONFIG"))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| dynamo_error("read tenant config", e.into_service_error()))?;
        Ok(out.item().and_then(|i| get_s(i, "config")))
    }

    /// Every tenant with a stored config, sorted.
    ///
    /// # Errors
    /// A classified DynamoDB error.
    pub async fn list_tenants(&self) -> Result<Vec<String>> {
        let mut tenants = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("sk = :c")
                .expression_attribute_values(":c", s("CONFIG"))
                .projection_expression("tenant")
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| dynamo_error("list tenants", e.into_service_error()))?;
            tenants.extend(out.items().iter().filter_map(|i| get_s(i, "tenant")));
            match out.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
        tenants.sort();
        Ok(tenants)
    }

    /// Deletes every item of a tenant: config, status rows, run history.
    ///
    /// # Errors
    /// A classified DynamoDB error.
    pub async fn delete_tenant(&self, tenant: &TenantId) -> Result<()> {
        for (pk, sk) in self.tenant_keys(tenant).await? {
            self.client
                .delete_item()
                .table_name(&self.table)
                .key("pk", s(pk))
                .key("sk", s(sk))
                .send()
                .await
                .map_err(|e| dynamo_error("delete tenant state", e.into_service_error()))?;
        }
        Ok(())
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

    /// Takes the lease of one table or export for `ttl`, unless another live holder has it.
    /// Returns whether we hold it now. Re-taking our own lease extends it.
    ///
    /// # Errors
    /// A classified DynamoDB error (a lost race is `Ok(false)`, not an error).
    pub async fn acquire_lease(
        &self,
        tenant: &TenantId,
        direction: Direction,
        object: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool> {
        let now = Utc::now();
        let expires = now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::hours(1));
        let res = self
            .update_status(tenant, direction, object)
            .update_expression(
                "SET lease_owner = :me, lease_expires_at = :exp, tenant = :t, direction = :d, #o = :obj",
            )
            .condition_expression(
                "attribute_not_exists(lease_owner) OR lease_owner = :me OR lease_expires_at < :now",
            )
            .expression_attribute_names("#o", "object")
            .expression_attribute_values(":me", s(owner))
            .expression_attribute_values(":exp", s(expires.to_rfc3339()))
            .expression_attribute_values(":now", s(now.to_rfc3339()))
            .expression_attribute_values(":t", s(tenant.as_str()))
            .expression_attribute_values(":d", s(direction.as_str()))
            .expression_attribute_values(":obj", s(object))
            .send()
            .await;
        match res {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(false),
            Err(e) => Err(dynamo_error("take lease", e.into_service_error())),
        }
    }

    /// Gives the lease back if we still hold it.
    ///
    /// # Errors
    /// A classified DynamoDB error.
    pub async fn release_lease(
        &self,
        tenant: &TenantId,
        direction: Direction,
        object: &str,
        owner: &str,
    ) -> Result<()> {
        let res = self
            .update_status(tenant, direction, object)
            .update_expression("REMOVE lease_owner, lease_expires_at")
            .condition_expression("lease_owner = :me")
            .expression_attribute_values(":me", s(owner))
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(()),
            Err(e) => Err(dynamo_error("release lease", e.into_service_error())),
        }
    }

    /// The committed watermark and the in-progress checkpoint of one table or export.
    ///
    /// # Errors
    /// A classified DynamoDB error.
    pub async fn progress(
        &self,
        tenant: &TenantId,
        direction: Direction,
        object: &str,
    ) -> Result<StoredProgress> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(tenant_pk(tenant)))
            .key("sk", s(status_sk(direction, object)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| dynamo_error("read watermark", e.into_service_error()))?;
        let item = out.item();
        Ok(StoredProgress {
            watermark: item.and_then(|i| get_s(i, "watermark")),
            checkpoint: item.and_then(|i| get_s(i, "checkpoint")),
            last_complete_started_at: item.and_then(|i| get_time(i, "last_complete_started_at")),
        })
    }

    /// Stores a checkpoint (and extends the lease) only if `owner` still holds the lease, so a
    /// run whose lease was taken over can never move the state.
    ///
    /// # Errors
    /// `transient` when the lease was lost; a classified DynamoDB error otherwise.
    pub async fn save_checkpoint(
        &self,
        tenant: &TenantId,
        direction: Direction,
        object: &str,
        owner: &str,
        checkpoint: &str,
        ttl: Duration,
    ) -> Result<()> {
        let expires =
            Utc::now() + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::hours(1));
        let res = self
            .update_status(tenant, direction, object)
            .update_expression("SET checkpoint = :c, lease_expires_at = :exp")
            .condition_expression("lease_owner = :me")
            .expression_attribute_values(":c", s(checkpoint))
            .expression_attribute_values(":exp", s(expires.to_rfc3339()))
            .expression_attribute_values(":me", s(owner))
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => {
                Err(lease_lost(object))
            }
            Err(e) => Err(dynamo_error("save checkpoint", e.into_service_error())),
        }
    }

    /// Ends a run's progress: stores the new watermark (if any) and drops the checkpoint, only
    /// if `owner` still holds the lease. Called after the destination committed everything.
    ///
    /// # Errors
    /// `transient` when the lease was lost; a classified DynamoDB error otherwise.
    pub async fn complete_progress(
        &self,
        tenant: &TenantId,
        direction: Direction,
        object: &str,
        owner: &str,
        watermark: Option<&str>,
    ) -> Result<()> {
        let mut update = self
            .update_status(tenant, direction, object)
            .condition_expression("lease_owner = :me")
            .expression_attribute_values(":me", s(owner));
        update = match watermark {
            Some(w) => update
                .update_expression("SET watermark = :w REMOVE checkpoint")
                .expression_attribute_values(":w", s(w)),
            None => update.update_expression("REMOVE checkpoint"),
        };
        match update.send().await {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => {
                Err(lease_lost(object))
            }
            Err(e) => Err(dynamo_error("store watermark", e.into_service_error())),
        }
    }

    /// Writes a run record (at start with `Running`, again when it ends) and, once it has
    /// ended, the status row's last-run summary.
    ///
    /// # Errors
    /// A classified DynamoDB error.
    pub async fn record_run(&self, tenant: &TenantId, r: &RunRecord) -> Result<()> {
        let sk = format!(
            "RUN#{}#{}#{}#{}",
            r.started_at
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            r.run_id,
            r.direction.as_str(),
            r.object
        );
        let mut item: HashMap<String, AttributeValue> = HashMap::new();
        item.insert("pk".into(), s(tenant_pk(tenant)));
        item.insert("sk".into(), s(sk));
        item.insert("tenant".into(), s(&r.tenant));
        item.insert("direction".into(), s(r.direction.as_str()));
        item.insert("object".into(), s(&r.object));
        item.insert("run_id".into(), s(&r.run_id));
        item.insert("started_at".into(), s(r.started_at.to_rfc3339()));
        if let Some(f) = r.finished_at {
            item.insert("finished_at".into(), s(f.to_rfc3339()));
        }
        item.insert("outcome".into(), s(r.outcome.as_str()));
        item.insert("rows_read".into(), n(r.rows_read));
        item.insert("rows_written".into(), n(r.rows_written));
        item.insert("pages".into(), n(r.pages));
        for (k, v) in [
            ("watermark_before", &r.watermark_before),
            ("watermark_after", &r.watermark_after),
            ("error", &r.error),
        ] {
            if let Some(v) = v {
                item.insert(k.into(), s(v));
            }
        }
        if let Some(k) = r.error_kind {
            item.insert("error_kind".into(), s(k.as_str()));
        }
        let summary = serde_json::to_string(r).unwrap_or_default();
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| dynamo_error("record run", e.into_service_error()))?;
        if r.outcome == Outcome::Running {
            return Ok(());
        }
        let mut update = self
            .update_status(tenant, r.direction, &r.object)
            .expression_attribute_names("#o", "object")
            .expression_attribute_values(":t", s(tenant.as_str()))
            .expression_attribute_values(":d", s(r.direction.as_str()))
            .expression_attribute_values(":obj", s(&r.object))
            .expression_attribute_values(":run", s(summary));
        let mut set = String::from("SET tenant = :t, direction = :d, #o = :obj, last_run = :run");
        if r.outcome == Outcome::Complete {
            set.push_str(", last_complete_started_at = :lc");
            update = update.expression_attribute_values(":lc", s(r.started_at.to_rfc3339()));
        }
        update
            .update_expression(set)
            .send()
            .await
            .map_err(|e| dynamo_error("record status", e.into_service_error()))?;
        Ok(())
    }

    /// The status rows of a tenant.
    ///
    /// # Errors
    /// A classified DynamoDB error.
    pub async fn statuses(&self, tenant: &TenantId) -> Result<Vec<ObjectStatus>> {
        let items = self.query_prefix(tenant, "STATUS#").await?;
        Ok(items
            .iter()
            .filter_map(|i| {
                let direction = match get_s(i, "direction")?.as_str() {
                    "push" => Direction::Push,
                    _ => Direction::Pull,
                };
                let last_run = get_s(i, "last_run")
                    .and_then(|j| serde_json::from_str::<serde_json::Value>(&j).ok())
                    .and_then(|v| record_from_json(&v));
                Some(ObjectStatus {
                    tenant: tenant.to_string(),
                    direction,
                    object: get_s(i, "object")?,
                    last_run,
                    last_complete_started_at: get_time(i, "last_complete_started_at"),
                    watermark: get_s(i, "watermark"),
                })
            })
            .collect())
    }

    /// The run records of a tenant, oldest first.
    ///
    /// # Errors
    /// A classified DynamoDB error.
    pub async fn runs(&self, tenant: &TenantId) -> Result<Vec<RunRecord>> {
        let items = self.query_prefix(tenant, "RUN#").await?;
        Ok(items.iter().filter_map(record_from_item).collect())
    }
}

/// Reads back the JSON summary kept on the status row.
fn record_from_json(v: &serde_json::Value) -> Option<RunRecord> {
    let mut item = HashMap::new();
    for (k, val) in v.as_object()? {
        match val {
            serde_json::Value::String(x) => {
                item.insert(k.clone(), s(x));
            }
            serde_json::Value::Number(x) => {
                item.insert(k.clone(), AttributeValue::N(x.to_string()));
            }
            _ => {}
        }
    }
    record_from_item(&item)
}
