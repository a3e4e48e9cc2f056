//! The SQL the customer runs in their account: the statements `snowsync tenant init` and
//! `snowsync tenant rotate-key` print. Unlike `snowflake/`, nothing here is sent by snowsync:
//! the customer's administrator runs it, because creating users and granting privileges is
//! theirs to do. Every name goes through [`crate::quote`].
//!
//! The grants are exactly what a run and `snowsync check` use: usage of the warehouse, of each
//! database and schema read or written, `SELECT` on each pulled table, and for pushes
//! `CREATE TABLE` on the destination schema (the push's temporary table, and the destination
//! when it does not exist yet; the role then owns it).

use crate::onboard::keys::PublicKey;
use crate::quote::{sf_string, Ident};
use crate::tenant::config::{TenantConfig, TenantId};
use crate::tenant::secrets::KeySlot;

/// The Snowflake objects a tenant's onboarding creates.
#[derive(Debug, Clone)]
pub struct Names {
    /// The service user (the config's `snowflake.user`).
    pub user: Ident,
    /// The config's role, or `SNOWSYNC_<TENANT>_ROLE` made the user's default role.
    pub role: Ident,
    /// `SNOWSYNC_<TENANT>`, set on the user only, so the account's other users are untouched.
    pub network_policy: Ident,
}

impl Names {
    /// The names for `cfg`.
    pub fn of(cfg: &TenantConfig) -> Self {
        let stem = tenant_stem(&cfg.tenant);
        Self {
            user: user_ident(&cfg.snowflake.user),
            role: cfg
                .snowflake
                .role
                .clone()
                .unwrap_or_else(|| Ident::from_exact(format!("{stem}_ROLE"))),
            network_policy: Ident::from_exact(stem),
        }
    }
}

/// `SNOWSYNC_<TENANT>`: the tenant id in upper case with `-` as `_`.
fn tenant_stem(tenant: &TenantId) -> String {
    format!(
        "SNOWSYNC_{}",
        tenant.as_str().to_uppercase().replace('-', "_")
    )
}

/// The user's name as an identifier. A login name is case-insensitive: a plain name resolves
/// as Snowflake resolves it unquoted, any other (`svc.acme@corp`) is kept in upper case, the
/// form a login presents.
pub fn user_ident(user: &str) -> Ident {
    Ident::parse(user)
        .ok()
        .filter(|_| !user.starts_with('"'))
        .unwrap_or_else(|| Ident::from_exact(user.to_uppercase()))
}

/// One statement of a script, with a comment saying why it is there.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Statement {
    /// Printed as `-- ...` above the statement.
    pub comment: Option<String>,
    /// The statement, without its `;`.
    pub sql: String,
}

/// A grant to run only when a condition holds (an existing push destination).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Conditional {
    /// When to run it.
    pub when: String,
    /// The statement.
    pub sql: String,
}

/// The customer's script: statements in order, then conditional ones.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Script {
    /// Run all of these, in order.
    pub statements: Vec<Statement>,
    /// Run each only when its condition holds.
    pub conditional: Vec<Conditional>,
}

impl Script {
    fn push(&mut self, comment: Option<&str>, sql: String) {
        self.statements.push(Statement {
            comment: comment.map(str::to_owned),
            sql,
        });
    }

    /// The statements alone, for `--json`.
    pub fn sql(&self) -> Vec<&str> {
        self.statements.iter().map(|s| s.sql.as_str()).collect()
    }

    /// The script as the customer pastes it into a worksheet.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for s in &self.statements {
            if let Some(c) = &s.comment {
                if !out.is_empty() {
                    out.push('\n');
                }
                for line in c.lines() {
                    out.push_str(&format!("-- {line}\n"));
                }
            }
            out.push_str(&format!("{};\n", s.sql));
        }
        for c in &self.conditional {
            out.push_str(&format!("\n-- Only {}:\n-- {};\n", c.when, c.sql));
        }
        out
    }
}

/// Where the network policy's IPs come from.
#[derive(Debug, Clone)]
pub enum Egress {
    /// The deployed stack's egress IPs.
    Ips(Vec<String>),
    /// Unknown here: the statement carries [`EGRESS_PLACEHOLDER`] and a comment saying so.
    Unknown,
}

/// What stands for the egress IPs when they are unknown; Snowflake refuses it, so the step
/// cannot be run unedited by mistake.
pub const EGRESS_PLACEHOLDER: &str = "<EGRESS_IP>";

/// The onboarding script for `cfg`: role, grants, the service user with `public_key`, the
/// network policy.
pub fn onboarding(
    cfg: &TenantConfig,
    names: &Names,
    public_key: &PublicKey,
    egress: &Egress,
) -> Script {
    let sf = &cfg.snowflake;
    let role = names.role.sql();
    let mut s = Script::default();
    s.push(
        Some(&format!(
            "snowsync onboarding of tenant {}: run as a role that can create roles and users\n(SECURITYADMIN) and grant on these objects (their owner, or ACCOUNTADMIN).",
            cfg.tenant
        )),
        format!("CREATE ROLE IF NOT EXISTS {role}"),
    );
    s.push(
        None,
        format!(
            "GRANT USAGE ON WAREHOUSE {} TO ROLE {role}",
            sf.warehouse.sql()
        ),
    );
    // Usage of every database and schema read or written, each once, in config order.
    let mut schemas: Vec<(&Ident, &Ident)> = vec![(&sf.database, &sf.schema)];
    for t in &cfg.pull {
        if !schemas.contains(&(&t.table.database, &t.table.schema)) {
            schemas.push((&t.table.database, &t.table.schema));
        }
    }
    let mut databases: Vec<&Ident> = Vec::new();
    for (db, schema) in &schemas {
        if !databases.contains(db) {
            databases.push(db);
            s.push(
                None,
                format!("GRANT USAGE ON DATABASE {} TO ROLE {role}", db.sql()),
            );
        }
        s.push(
            None,
            format!(
                "GRANT USAGE ON SCHEMA {}.{} TO ROLE {role}",
                db.sql(),
                schema.sql()
            ),
        );
    }
    for (i, t) in cfg.pull.iter().enumerate() {
        s.push(
            (i == 0).then_some("The tables snowsync pulls: read only."),
            format!("GRANT SELECT ON TABLE {} TO ROLE {role}", t.table.sql()),
        );
    }
    if let Some(first) = cfg.push.first() {
        let t = &first.table;
        s.push(
            Some("Pushes load through a temporary table and create their destination when it is missing\n(the role then owns it)."),
            format!("GRANT CREATE TABLE ON SCHEMA {}.{} TO ROLE {role}", t.database.sql(), t.schema.sql()),
        );
        for p in &cfg.push {
            s.conditional.push(Conditional {
                when: format!(
                    "if {} already exists (the push reads, inserts and updates it by MERGE)",
                    p.table
                ),
                sql: format!(
                    "GRANT SELECT, INSERT, UPDATE ON TABLE {} TO ROLE {role}",
                    p.table.sql()
                ),
            });
        }
    }
    s.push(
        Some("The service user: key-pair login only (TYPE = SERVICE has no password)."),
        format!(
            "CREATE USER {} TYPE = SERVICE RSA_PUBLIC_KEY = {} DEFAULT_ROLE = {role} DEFAULT_WAREHOUSE = {} COMMENT = {}",
            names.user.sql(),
            sf_string(&public_key.body()),
            sf.warehouse.sql(),
            sf_string(&format!("snowsync tenant {}", cfg.tenant)),
        ),
    );
    s.push(
        None,
        format!("GRANT ROLE {role} TO USER {}", names.user.sql()),
    );
    let (comment, ips) = match egress {
        Egress::Ips(ips) => (
            "Only snowsync's egress IPs may log in as this user.".to_owned(),
            ips.iter().map(|ip| sf_string(ip)).collect::<Vec<_>>(),
        ),
        Egress::Unknown => (
            format!(
                "Only snowsync's egress IPs may log in as this user. They were not known when this was printed:\nreplace {EGRESS_PLACEHOLDER} with the IPs `snowsync egress-ips` prints (one quoted IP each)."
            ),
            vec![sf_string(EGRESS_PLACEHOLDER)],
        ),
    };
    s.push(
        Some(&comment),
        format!(
            "CREATE NETWORK POLICY {} ALLOWED_IP_LIST = ({}) COMMENT = {}",
            names.network_policy.sql(),
            ips.join(", "),
            sf_string(&format!("snowsync tenant {}", cfg.tenant)),
        ),
    );
    s.push(
        None,
        format!(
            "ALTER USER {} SET NETWORK_POLICY = {}",
            names.user.sql(),
            names.network_policy.sql()
        ),
    );
    s
}

/// Rotation, step 1: the next key into the free slot; the current key keeps working.
pub fn register_key(user: &Ident, slot: KeySlot, key: &PublicKey) -> Statement {
    Statement {
        comment: Some(format!(
            "snowsync key rotation, step 1 of 2: register the next key in {} (the current key keeps working).",
            slot.parameter()
        )),
        sql: format!(
            "ALTER USER {} SET {} = {}",
            user.sql(),
            slot.parameter(),
            sf_string(&key.body())
        ),
    }
}

/// Rotation, step 2: the retired key's slot emptied, once snowsync uses the next key.
pub fn retire_key(user: &Ident, slot: KeySlot) -> Statement {
    Statement {
        comment: Some(format!(
            "snowsync key rotation, step 2 of 2: snowsync now logs in with the new key; drop the old one from {}.",
            slot.parameter()
        )),
        sql: format!("ALTER USER {} UNSET {}", user.sql(), slot.parameter()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(extra: &str) -> TenantConfig {
        TenantConfig::parse(&format!(
            "tenant = \"acme-co\"\n[snowflake]\naccount = \"a-b\"\nuser = \"svc\"\nwarehouse = \"wh\"\ndatabase = \"SALES\"\nschema = \"PUBLIC\"\n{extra}"
        ))
        .expect("config")
    }

    fn key() -> PublicKey {
        PublicKey::from_der(b"MII-not-a-real-key".to_vec())
    }

    #[test]
    fn grants_name_exactly_the_configured_objects_quoted() {
        let c = cfg("[[pull]]\ntable = \"DEALS\"\n[[pull]]\ntable = \"OTHER.\\\"Raw\\\".\\\"Odd \\\"\\\"T\\\"\"\n[[push]]\nsource = \"actions\"\ntable = \"ACTS\"\n");
        let names = Names::of(&c);
        let s = onboarding(&c, &names, &key(), &Egress::Ips(vec!["192.0.2.1".into()]));
        let sql = s.sql();
        let selects: Vec<_> = sql
            .iter()
            .filter(|s| s.starts_with("GRANT SELECT"))
            .collect();
        assert_eq!(
            selects,
            [
                &r#"GRANT SELECT ON TABLE "SALES"."PUBLIC"."DEALS" TO ROLE "SNOWSYNC_ACME_CO_ROLE""#,
                &r#"GRANT SELECT ON TABLE "OTHER"."Raw"."Odd ""T" TO ROLE "SNOWSYNC_ACME_CO_ROLE""#,
            ]
        );
        assert!(
            sql.contains(&r#"GRANT USAGE ON SCHEMA "OTHER"."Raw" TO ROLE "SNOWSYNC_ACME_CO_ROLE""#)
        );
        assert_eq!(
            sql.iter()
                .filter(|s| s.starts_with("GRANT USAGE ON DATABASE"))
                .count(),
            2
        );
        assert!(sql.contains(
            &r#"GRANT CREATE TABLE ON SCHEMA "SALES"."PUBLIC" TO ROLE "SNOWSYNC_ACME_CO_ROLE""#
        ));
        assert!(sql.iter().any(|s| s
            .starts_with(r#"CREATE USER "SVC" TYPE = SERVICE RSA_PUBLIC_KEY = 'TUlJ"#)
            && s.contains(r#"DEFAULT_ROLE = "SNOWSYNC_ACME_CO_ROLE" DEFAULT_WAREHOUSE = "WH""#)));
        assert!(sql.contains(&r#"CREATE NETWORK POLICY "SNOWSYNC_ACME_CO" ALLOWED_IP_LIST = ('192.0.2.1') COMMENT = 'snowsync tenant acme-co'"#));
        assert_eq!(s.conditional.len(), 1);
        assert!(s
            .text()
            .contains("\n-- Only if SALES.PUBLIC.ACTS already exists"));
    }

    #[test]
    fn unknown_egress_ips_leave_a_placeholder_snowflake_refuses() {
        let c = cfg("");
        let s = onboarding(&c, &Names::of(&c), &key(), &Egress::Unknown);
        let text = s.text();
        assert!(text.contains("ALLOWED_IP_LIST = ('<EGRESS_IP>')"), "{text}");
        assert!(
            text.contains("-- replace <EGRESS_IP> with the IPs `snowsync egress-ips` prints"),
            "{text}"
        );
    }

    #[test]
    fn login_names_that_are_not_plain_identifiers_keep_their_text_in_upper_case() {
        assert_eq!(user_ident("svc_1").sql(), r#""SVC_1""#);
        assert_eq!(
            user_ident("svc.acme@corp.com").sql(),
            r#""SVC.ACME@CORP.COM""#
        );
        assert_eq!(user_ident(r#"a"b"#).sql(), r#""A""B""#);
    }
}
