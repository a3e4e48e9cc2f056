//! Run records (`RUN#...`), and the last-run summary kept on the status row.

use super::*;

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
        plan: get_s(item, "plan"),
        hop: u32::try_from(get_n(item, "hop")).unwrap_or(u32::MAX),
        rows_deleted: item
            .contains_key("rows_deleted")
            .then(|| get_n(item, "rows_deleted")),
        schema_changes: get_s(item, "schema_changes"),
    })
}

impl StateStore {
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
        item.insert("hop".into(), n(u64::from(r.hop)));
        if let Some(d) = r.rows_deleted {
            item.insert("rows_deleted".into(), n(d));
        }
        for (k, v) in [
            ("watermark_before", &r.watermark_before),
            ("watermark_after", &r.watermark_after),
            ("error", &r.error),
            ("plan", &r.plan),
            ("schema_changes", &r.schema_changes),
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
        // A reconciliation's outcome is its own: the pull's last run and lag stay as they were.
        let reconcile = r.plan.as_deref() == Some(RECONCILE_PLAN);
        let mut set = format!(
            "SET tenant = :t, direction = :d, #o = :obj, {} = :run",
            if reconcile {
                "last_reconcile"
            } else {
                "last_run"
            }
        );
        if r.outcome == Outcome::Complete && !reconcile {
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
pub(super) fn record_from_json(v: &serde_json::Value) -> Option<RunRecord> {
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
