//! A table's or export's status row: the lease, the checkpoint of an unfinished run, the
//! committed watermark. Every write after the lease is taken is conditional on holding it.

use std::time::Duration;

use super::runs::record_from_json;
use super::*;

/// The result of a write conditional on holding the lease: a refused condition is the lease
/// lost (`transient`), any other failure a classified DynamoDB error.
fn lease_guarded<T, E>(res: std::result::Result<T, E>, object: &str, what: &str) -> Result<()>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match res {
        Ok(_) => Ok(()),
        Err(e) if e.code() == Some("ConditionalCheckFailedException") => Err(lease_lost(object)),
        Err(e) => Err(dynamo_error(what, e)),
    }
}

/// A pulled table's work beside its pulls, under the same lease, with its own checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// A reconciliation (deleted rows).
    Reconcile,
    /// A column backfill (columns added to the source).
    ColumnBackfill,
}

impl Side {
    /// The status row's attribute holding its checkpoint.
    fn attribute(self) -> &'static str {
        match self {
            Side::Reconcile => "reconcile_checkpoint",
            Side::ColumnBackfill => "columns_checkpoint",
        }
    }
}

fn lease_lost(object: &str) -> SyncError {
    SyncError::transient(format!(
        "{object}: the lease was taken over by another run (this run outlived it); nothing was lost, the other run carries on"
    ))
}

impl StateStore {
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

    /// Runs `work` while holding the lease we took, extending it every third of `ttl`, so one
    /// long step (a swap's key build and `ANALYZE`) does not outlive it while we are alive.
    /// An extension that finds the lease gone stops extending; the work's own conditional
    /// writes then fail as the lease's loss. A killed process extends nothing, so its lease
    /// still lapses.
    pub async fn holding<T>(
        &self,
        (tenant, direction, object): (&TenantId, Direction, &str),
        owner: &str,
        ttl: Duration,
        work: impl std::future::Future<Output = T>,
    ) -> T {
        let beat = (ttl / 3).max(Duration::from_millis(100));
        tokio::pin!(work);
        let mut held = true;
        loop {
            tokio::select! {
                done = &mut work => return done,
                () = tokio::time::sleep(beat), if held => {
                    match self.acquire_lease(tenant, direction, object, owner, ttl).await {
                        Ok(taken) => held = taken,
                        Err(e) => tracing::info!(error = %e, object, "could not extend the lease; trying again"),
                    }
                }
            }
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

    /// The committed watermark, the in-progress checkpoint and the lease of one table or export.
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
            reconcile_checkpoint: item.and_then(|i| get_s(i, Side::Reconcile.attribute())),
            columns_checkpoint: item.and_then(|i| get_s(i, Side::ColumnBackfill.attribute())),
            last_complete_started_at: item.and_then(|i| get_time(i, "last_complete_started_at")),
            lease: item
                .and_then(|i| Some((get_s(i, "lease_owner")?, get_time(i, "lease_expires_at")?))),
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
        self.save_slot(
            tenant,
            direction,
            object,
            owner,
            ("checkpoint", checkpoint),
            ttl,
        )
        .await
    }

    /// [`StateStore::save_checkpoint`] for a side job's checkpoint (a reconciliation's, a
    /// column backfill's), kept beside the pull's: neither resumes the other's.
    ///
    /// # Errors
    /// `transient` when the lease was lost; a classified DynamoDB error otherwise.
    pub async fn save_side_checkpoint(
        &self,
        tenant: &TenantId,
        (side, object): (Side, &str),
        owner: &str,
        checkpoint: &str,
        ttl: Duration,
    ) -> Result<()> {
        self.save_slot(
            tenant,
            Direction::Pull,
            object,
            owner,
            (side.attribute(), checkpoint),
            ttl,
        )
        .await
    }

    /// Drops a finished side job's checkpoint, only if `owner` still holds the lease.
    ///
    /// # Errors
    /// `transient` when the lease was lost; a classified DynamoDB error otherwise.
    pub async fn complete_side(
        &self,
        tenant: &TenantId,
        (side, object): (Side, &str),
        owner: &str,
    ) -> Result<()> {
        let res = self
            .update_status(tenant, Direction::Pull, object)
            .update_expression(format!("REMOVE {}", side.attribute()))
            .condition_expression("lease_owner = :me")
            .expression_attribute_values(":me", s(owner))
            .send()
            .await
            .map_err(|e| e.into_service_error());
        lease_guarded(res, object, "end a reconciliation or column backfill")
    }

    /// Sets `(attribute, value)` on the status row, conditional on the lease, extending it.
    async fn save_slot(
        &self,
        tenant: &TenantId,
        direction: Direction,
        object: &str,
        owner: &str,
        (slot, checkpoint): (&str, &str),
        ttl: Duration,
    ) -> Result<()> {
        let expires =
            Utc::now() + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::hours(1));
        let res = self
            .update_status(tenant, direction, object)
            .update_expression(format!("SET {slot} = :c, lease_expires_at = :exp"))
            .condition_expression("lease_owner = :me")
            .expression_attribute_values(":c", s(checkpoint))
            .expression_attribute_values(":exp", s(expires.to_rfc3339()))
            .expression_attribute_values(":me", s(owner))
            .send()
            .await
            .map_err(|e| e.into_service_error());
        lease_guarded(res, object, "save checkpoint")
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
        let res = update.send().await.map_err(|e| e.into_service_error());
        lease_guarded(res, object, "store watermark")
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
                let record = |k: &str| {
                    get_s(i, k)
                        .and_then(|j| serde_json::from_str::<serde_json::Value>(&j).ok())
                        .and_then(|v| record_from_json(&v))
                };
                Some(ObjectStatus {
                    tenant: tenant.to_string(),
                    direction,
                    object: get_s(i, "object")?,
                    last_run: record("last_run"),
                    last_reconcile: record("last_reconcile"),
                    last_complete_started_at: get_time(i, "last_complete_started_at"),
                    watermark: get_s(i, "watermark"),
                })
            })
            .collect())
    }
}
