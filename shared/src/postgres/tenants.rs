//! A tenant in the platform database: its schema, the role that owns it, the sessions its runs
//! write through (`SET ROLE` to that role), its usage for quotas, and its purge.
//!
//! The login role of `SNOWSYNC_DATABASE_URL` is a member of every tenant role, so it can switch
//! to one; a tenant role is granted nothing on any other schema, so a session switched to A's
//! role is refused by PostgreSQL itself when it touches B's schema (README, "Security model").

use super::tables::staging_name;
use super::*;
use crate::tenant::config::TenantId;
use crate::tenant::limits::Usage;

/// A tenant's schema and the role that owns it. Built only from a [`TenantId`], so the two
/// always belong to the same tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgTenant {
    schema: String,
    role: String,
}

impl PgTenant {
    /// The schema and role of `tenant`.
    pub fn of(tenant: &TenantId) -> Self {
        Self {
            schema: tenant.pg_schema(),
            role: tenant.pg_role(),
        }
    }

    /// The schema's name.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The role's name.
    pub fn role(&self) -> &str {
        &self.role
    }
}

/// The schema's name, as messages show it (`tenant_acme.deals`).
impl std::fmt::Display for PgTenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.schema)
    }
}

/// Whether the tenant's role exists, the login role may switch to it, and it owns the schema
/// and every table in it: the one query a run pays when nothing needs doing.
const READY_SQL: &str = "\
    SELECT coalesce((SELECT pg_has_role(current_user, r.oid, 'MEMBER') \
        AND EXISTS (SELECT 1 FROM pg_namespace n WHERE n.nspname = $1 AND n.nspowner = r.oid) \
        AND NOT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
            WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND c.relowner <> r.oid) \
        FROM pg_roles r WHERE r.rolname = $2), false)";

/// What `tenant remove --purge` dropped.
#[derive(Debug, Clone, Default)]
pub struct Purged {
    /// The tables dropped with the schema.
    pub tables: Vec<String>,
    /// Whether the schema existed.
    pub schema: bool,
    /// Whether the role existed.
    pub role: bool,
}

impl PlatformStore {
    /// Makes the tenant's role and schema ready for its runs, idempotently: creates the role
    /// (`NOLOGIN`) when missing and grants it to the login role, creates the schema owned by it,
    /// and hands it the schema and every table a previous version created as the login role.
    /// Costs one query when all is in place.
    ///
    /// # Errors
    /// `privilege` when the login role may not create roles (it needs `CREATEROLE`); a
    /// classified PostgreSQL error otherwise.
    pub async fn ensure_tenant(&self, t: &PgTenant) -> Result<()> {
        let mut client = self.client().await?;
        let what = format!("prepare role {} of schema {}", t.role, t.schema);
        let err = |e| {
            let e = pg_error(&what, e);
            if e.kind() == ErrorKind::Privilege {
                e.context("the login role of SNOWSYNC_DATABASE_URL needs CREATEROLE (ALTER ROLE <login> CREATEROLE)")
            } else {
                e
            }
        };
        let ready: bool = client
            .query_one(READY_SQL, &[&t.schema, &t.role])
            .await
            .map_err(err)?
            .get(0);
        if ready {
            return Ok(());
        }
        let (schema_q, role_q) = (ident(&t.schema)?, ident(&t.role)?);
        let tx = client.transaction().await.map_err(err)?;
        // One at a time, across tenants too: runs of one tenant's tables start together, and
        // the grants of different tenants update the same database row (PostgreSQL refuses
        // concurrent updates of it). Only a tenant's first run, or an upgrade, comes here.
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtext('snowsync tenant roles'))",
            &[],
        )
        .await
        .map_err(err)?;
        let (exists, member, database): (bool, bool, String) = {
            let row = tx
                .query_one(
                    "SELECT r.oid IS NOT NULL, coalesce(pg_has_role(current_user, r.oid, 'MEMBER'), false), \
                     current_database()::text FROM (SELECT 1) one LEFT JOIN pg_roles r ON r.rolname = $1",
                    &[&t.role],
                )
                .await
                .map_err(err)?;
            (row.get(0), row.get(1), row.get(2))
        };
        let mut sql = String::new();
        if !exists {
            sql.push_str(&format!("CREATE ROLE {role_q} NOLOGIN; "));
        }
        if !member {
            sql.push_str(&format!("GRANT {role_q} TO CURRENT_USER; "));
        }
        // Temporary tables carry incremental pages; a hardened database may not give PUBLIC
        // that right.
        sql.push_str(&format!(
            "CREATE SCHEMA IF NOT EXISTS {schema_q} AUTHORIZATION {role_q}; \
             ALTER SCHEMA {schema_q} OWNER TO {role_q}; \
             GRANT TEMPORARY ON DATABASE {} TO {role_q};",
            ident(&database)?
        ));
        tx.batch_execute(&sql).await.map_err(err)?;
        let foreign = tx
            .query(
                "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND c.relowner <> n.nspowner",
                &[&t.schema],
            )
            .await
            .map_err(err)?;
        for row in &foreign {
            let table: String = row.get(0);
            tx.batch_execute(&format!(
                "ALTER TABLE {schema_q}.{} OWNER TO {role_q}",
                ident(&table)?
            ))
            .await
            .map_err(err)?;
        }
        tx.commit().await.map_err(err)?;
        tracing::info!(
            schema = %t.schema,
            role = %t.role,
            created = !exists,
            tables_handed_over = foreign.len(),
            "tenant role ready"
        );
        Ok(())
    }

    /// A pooled connection switched to the tenant's role: every statement on it has exactly
    /// the rights of that role, so it cannot touch another tenant's schema. The pool resets the
    /// role when it hands the connection out again ([`RESET_ON_CHECKOUT`]).
    ///
    /// # Errors
    /// `transient` when the database cannot be reached; `privilege` when the login role may
    /// not switch to the tenant's role (run [`PlatformStore::ensure_tenant`] first).
    pub async fn tenant_client(&self, t: &PgTenant) -> Result<Object> {
        let client = self.client().await?;
        client
            .batch_execute(&format!("SET ROLE {}", ident(&t.role)?))
            .await
            .map_err(|e| pg_error(&format!("switch to role {} of {}", t.role, t.schema), e))?;
        Ok(client)
    }

    /// What the tenant's schema holds: rows from PostgreSQL's statistics (`reltuples`, exact
    /// after a swap's `ANALYZE`), bytes on disk (tables, indexes, TOAST). A staging table being
    /// filled has no statistics yet: `staging_of` names the table whose staging rows the caller
    /// counts itself, left out here.
    ///
    /// # Errors
    /// A classified PostgreSQL error.
    pub async fn usage(&self, t: &PgTenant, staging_of: Option<&str>) -> Result<Usage> {
        let client = self.client().await?;
        let skip = staging_of.map(staging_name);
        let row = client
            .query_one(
                "SELECT coalesce(sum(CASE WHEN c.relname = $2 THEN 0 ELSE greatest(c.reltuples, 0)::bigint END), 0)::bigint, \
                 coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint \
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')",
                &[&t.schema, &skip],
            )
            .await
            .map_err(|e| pg_error(&format!("measure the usage of schema {}", t.schema), e))?;
        let (rows, bytes): (i64, i64) = (row.get(0), row.get(1));
        Ok(Usage {
            rows: rows.max(0) as u64,
            bytes: bytes.max(0) as u64,
        })
    }

    /// Drops the tenant's schema with its tables, then its role, in one transaction. Only what
    /// the tenant owns goes: the tables are dropped without `CASCADE`, so a view or key
    /// elsewhere that depends on one refuses the whole purge, as does any object in the schema
    /// that is not a table.
    ///
    /// # Errors
    /// `config` naming what depends on the tenant's tables; a classified PostgreSQL error.
    pub async fn purge_tenant(&self, t: &PgTenant) -> Result<Purged> {
        let mut client = self.client().await?;
        let what = format!("drop schema {} and role {}", t.schema, t.role);
        let err = |e: tokio_postgres::Error| {
            if e.code() == Some(&tokio_postgres::error::SqlState::DEPENDENT_OBJECTS_STILL_EXIST) {
                let detail = e
                    .as_db_error()
                    .and_then(|d| d.detail().map(|s| s.replace('\n', "; ")))
                    .unwrap_or_default();
                SyncError::config(format!(
                    "{what}: other objects depend on them ({detail}): drop or move those first; nothing was dropped"
                ))
            } else {
                pg_error(&what, e)
            }
        };
        let tx = client.transaction().await.map_err(err)?;
        let row = tx
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1), \
                 EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $2), current_database()::text",
                &[&t.schema, &t.role],
            )
            .await
            .map_err(err)?;
        let mut purged = Purged {
            schema: row.get(0),
            role: row.get(1),
            ..Purged::default()
        };
        let database: String = row.get(2);
        let schema_q = ident(&t.schema)?;
        if purged.schema {
            purged.tables = tx
                .query(
                    "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                     WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') ORDER BY 1",
                    &[&t.schema],
                )
                .await
                .map_err(err)?
                .iter()
                .map(|r| r.get(0))
                .collect();
            let mut sql = String::new();
            if !purged.tables.is_empty() {
                let tables = purged
                    .tables
                    .iter()
                    .map(|name| ident(name).map(|q| format!("{schema_q}.{q}")))
                    .collect::<Result<Vec<_>>>()?
                    .join(", ");
                sql.push_str(&format!("DROP TABLE {tables} RESTRICT; "));
            }
            sql.push_str(&format!("DROP SCHEMA {schema_q} RESTRICT;"));
            tx.batch_execute(&sql).await.map_err(err)?;
        }
        if purged.role {
            let role_q = ident(&t.role)?;
            tx.batch_execute(&format!(
                "REVOKE ALL ON DATABASE {} FROM {role_q}; DROP ROLE {role_q};",
                ident(&database)?
            ))
            .await
            .map_err(err)?;
        }
        tx.commit().await.map_err(err)?;
        Ok(purged)
    }
}
