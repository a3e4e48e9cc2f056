//! Stored tenant configs: the TOML as the operator wrote it, under `CONFIG`, and the one way a
//! run loads its tenant's config (parsed again, and checked to name the tenant it is stored under).

use super::*;
use crate::tenant::config::TenantConfig;

impl StateStore {
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

    /// Loads and validates a tenant's config from the state table.
    ///
    /// # Errors
    /// `config` when the tenant is not onboarded or its stored config no longer validates.
    pub async fn load_tenant(&self, tenant: &str) -> Result<TenantConfig> {
        let id = TenantId::parse(tenant)?;
        let text = self.get_config(&id).await?.ok_or_else(|| {
            SyncError::config(format!(
                "tenant {id} is not onboarded: run snowsync tenant add <config.toml> --credentials <file.json>"
            ))
        })?;
        let cfg = TenantConfig::parse(&text)
            .map_err(|e| e.context(format!("stored config of tenant {id}")))?;
        // Isolation: the secret read and the schema written derive from cfg.tenant, so a config
        // stored under one tenant must never name another.
        if cfg.tenant != id {
            return Err(SyncError::config(format!(
                "stored config of tenant {id} names tenant {}: refusing to run; fix it with snowsync tenant add <config.toml> for {id}",
                cfg.tenant
            )));
        }
        Ok(cfg)
    }
}
