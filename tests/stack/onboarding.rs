//! Onboarding where no secret travels: `tenant init` generates the key pair and prints the
//! customer's SQL, which the tests run as the customer would (an admin session on the
//! emulator); `tenant rotate-key` rotates through the second key slot with a pull succeeding
//! after every step.

use secrecy::ExposeSecret;
use serde_json::Value;
use snowsync::onboard::keys::PublicKey;
use snowsync::snowflake::{Endpoint, Session};
use snowsync::tenant::config::{TenantConfig, TenantId};
use snowsync::tenant::secrets::{Credentials, KeySlot, StoredCredentials};

use crate::helpers::{cli, openssl, record_secret, rsa_key, spawn_stack, text, unique, TestStack};

/// What an operator sees by default: warnings, no debug logs (scripts/test sets RUST_LOG=debug).
const OPERATOR: &[(&str, &str)] = &[("RUST_LOG", "warn")];

/// A database with `DEALS` (3 rows), `NOTES` (1 row) and `PAYROLL` (not configured), and the
/// config of a tenant pulling the first two and pushing actions; (tenant, user, toml path, admin).
async fn customer(stack: &TestStack, extra: &str) -> (String, String, std::path::PathBuf, Session) {
    let db = unique("DB_").to_uppercase();
    let sf = stack.snowflake(&db).await;
    for sql in [
        "CREATE TABLE PUBLIC.DEALS (ID NUMBER(38,0), UPDATED_AT TIMESTAMP_NTZ)",
        "INSERT INTO PUBLIC.DEALS VALUES (1, '2026-01-01'), (2, '2026-01-02'), (3, '2026-01-03')",
        "CREATE TABLE PUBLIC.NOTES (ID NUMBER(38,0), BODY VARCHAR)",
        "INSERT INTO PUBLIC.NOTES VALUES (1, 'a')",
        "CREATE TABLE PUBLIC.PAYROLL (ID NUMBER(38,0))",
    ] {
        sf.execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    let tenant = unique("t-");
    let user = unique("SVC_").to_uppercase();
    let toml = format!(
        "tenant = \"{tenant}\"\n[snowflake]\naccount = \"test-org-test-account\"\nuser = \"{user}\"\nwarehouse = \"TEST_WH\"\ndatabase = \"{db}\"\nschema = \"PUBLIC\"\n\n{extra}[[pull]]\ntable = \"DEALS\"\ncursor = \"UPDATED_AT\"\nprimary_key = [\"ID\"]\n\n[[pull]]\ntable = \"NOTES\"\n\n[[push]]\nsource = \"actions\"\ntable = \"PLATFORM_ACTIONS\"\n"
    );
    let dir = std::env::temp_dir().join(unique("snowsync-onboard-"));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("tenant.toml");
    std::fs::write(&path, toml).expect("write");
    (tenant, user, path, sf)
}

/// Runs `snowsync <args> --json`: (exit ok, the document, stderr).
fn json(args: &[&str]) -> (bool, Value, String) {
    let mut all = args.to_vec();
    all.push("--json");
    let out = cli(&all, &[]);
    let (stdout, stderr) = text(&out);
    let doc = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("snowsync {args:?} --json: {e}: {stdout}{stderr}"));
    (out.status.success(), doc, stderr)
}

/// The tenant's secret, with every full line of its keys recorded for the suite's secret scan.
async fn stored(stack: &TestStack, tenant: &str) -> StoredCredentials {
    let s = stack
        .deps
        .secrets
        .get_stored(&TenantId::parse(tenant).expect("id"))
        .await
        .expect("secret");
    let Credentials::KeyPair { private_key, .. } = &s.credentials else {
        panic!("tenant {tenant} has no key pair");
    };
    for pem in std::iter::once(private_key).chain(s.next_private_key.as_ref()) {
        for line in pem.expose_secret().lines().filter(|l| l.len() == 64) {
            record_secret(line);
        }
    }
    s
}

fn current_key(s: &StoredCredentials) -> String {
    match &s.credentials {
        Credentials::KeyPair { private_key, .. } => private_key.expose_secret().to_owned(),
        Credentials::Password(_) => panic!("a password"),
    }
}

fn public_body(pem: &str) -> String {
    PublicKey::of_pem(&pem.to_owned().into(), None)
        .expect("public key")
        .body()
}

/// Runs each statement as the customer's administrator.
async fn run_as_customer(admin: &Session, statements: &Value) {
    for sql in statements.as_array().expect("statements") {
        let sql = sql.as_str().expect("sql");
        admin
            .execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

fn pull_ok(tenant: &str, when: &str) {
    let out = cli(&["pull", tenant], &[]);
    let (o, e) = text(&out);
    assert!(out.status.success(), "pull {when}: {o}{e}");
    assert!(
        o.contains("complete") && !o.contains("failed"),
        "pull {when}: {o}{e}"
    );
}

/// Logs in with `pem` as the tenant's user, through the runs' login.
async fn login_with(toml: &std::path::Path, pem: &str) -> Result<Session, snowsync::SyncError> {
    let cfg = TenantConfig::parse(&std::fs::read_to_string(toml).expect("toml")).expect("cfg");
    let creds = Credentials::KeyPair {
        private_key: pem.to_owned().into(),
        passphrase: None,
    };
    Session::connect(
        &cfg.snowflake,
        &creds,
        &Endpoint::from_env().expect("endpoint"),
        "test",
        None,
    )
    .await
}

/// A key registered by someone else, so that the user refuses any other until the SQL is run.
fn someone_elses_key() -> String {
    let dir = std::env::temp_dir().join(unique("snowsync-other-"));
    std::fs::create_dir_all(&dir).expect("dir");
    let key = rsa_key(&dir);
    let der = openssl(&[
        "pkey",
        "-in",
        key.to_str().expect("p"),
        "-pubout",
        "-outform",
        "DER",
    ]);
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(der)
}

#[tokio::test]
async fn tenant_init_stores_a_generated_key_and_the_printed_sql_onboards_the_customer() {
    let stack = spawn_stack().await;
    let (tenant, user, toml, admin) =
        customer(&stack, "[schedule]\npull = \"rate(1 hour)\"\n\n").await;
    // The user exists with another key: before the customer's SQL, no login.
    admin
        .execute(&format!(
            "CREATE USER {user} RSA_PUBLIC_KEY = '{}'",
            someone_elses_key()
        ))
        .await
        .expect("create user");

    let (ok, doc, stderr) = json(&["tenant", "init", toml.to_str().expect("p")]);
    assert!(ok, "{doc}{stderr}");
    let secret = stored(&stack, &tenant).await;
    let key = current_key(&secret);
    assert!(
        key.starts_with("-----BEGIN PRIVATE KEY-----"),
        "unencrypted PKCS#8"
    );
    assert_eq!(
        (secret.key_slot, secret.next_private_key.is_none()),
        (KeySlot::First, true)
    );
    let body = public_body(&key);
    assert_eq!(doc["tenant"], tenant.as_str());
    assert_eq!(doc["rsa_public_key"], body.as_str());
    assert_eq!(
        doc["public_key_fingerprint"],
        PublicKey::of_pem(&key.clone().into(), None)
            .expect("pk")
            .fingerprint()
            .as_str()
    );
    let statements: Vec<&str> = doc["statements"]
        .as_array()
        .expect("statements")
        .iter()
        .map(|s| s.as_str().expect("sql"))
        .collect();
    let role = format!(
        "\"SNOWSYNC_{}_ROLE\"",
        tenant.to_uppercase().replace('-', "_")
    );
    let db = toml_db(&toml);
    let create_user = statements
        .iter()
        .find(|s| s.starts_with("CREATE USER"))
        .expect("CREATE USER");
    assert_eq!(
        *create_user,
        format!("CREATE USER \"{user}\" TYPE = SERVICE RSA_PUBLIC_KEY = '{body}' DEFAULT_ROLE = {role} DEFAULT_WAREHOUSE = \"TEST_WH\" COMMENT = 'snowsync tenant {tenant}'")
    );
    // Exactly the configured tables are readable; the push's schema takes new tables.
    let selects: Vec<&str> = statements
        .iter()
        .copied()
        .filter(|s| s.contains("SELECT"))
        .collect();
    assert_eq!(
        selects,
        [
            format!("GRANT SELECT ON TABLE \"{db}\".\"PUBLIC\".\"DEALS\" TO ROLE {role}"),
            format!("GRANT SELECT ON TABLE \"{db}\".\"PUBLIC\".\"NOTES\" TO ROLE {role}"),
        ]
    );
    for grant in [
        format!("GRANT USAGE ON WAREHOUSE \"TEST_WH\" TO ROLE {role}"),
        format!("GRANT USAGE ON DATABASE \"{db}\" TO ROLE {role}"),
        format!("GRANT USAGE ON SCHEMA \"{db}\".\"PUBLIC\" TO ROLE {role}"),
        format!("GRANT CREATE TABLE ON SCHEMA \"{db}\".\"PUBLIC\" TO ROLE {role}"),
        format!("GRANT ROLE {role} TO USER \"{user}\""),
    ] {
        assert!(
            statements.contains(&grant.as_str()),
            "{grant} missing: {statements:#?}"
        );
    }
    assert_eq!(
        doc["conditional_statements"][0]["sql"],
        format!("GRANT SELECT, INSERT, UPDATE ON TABLE \"{db}\".\"PUBLIC\".\"PLATFORM_ACTIONS\" TO ROLE {role}")
    );
    // The stack's egress IPs (moto's functions carry them) in a policy on this user only.
    let policy = format!("\"SNOWSYNC_{}\"", tenant.to_uppercase().replace('-', "_"));
    assert_eq!(
        doc["egress_ips"],
        serde_json::json!(["192.0.2.10", "192.0.2.11"])
    );
    assert!(statements.contains(&format!("CREATE NETWORK POLICY {policy} ALLOWED_IP_LIST = ('192.0.2.10', '192.0.2.11') COMMENT = 'snowsync tenant {tenant}'").as_str()), "{statements:#?}");
    assert_eq!(
        statements.last().copied(),
        Some(format!("ALTER USER \"{user}\" SET NETWORK_POLICY = {policy}").as_str())
    );
    assert_eq!(doc["schedules"].as_array().map(Vec::len), Some(1), "{doc}");
    assert!(!doc.to_string().contains("PRIVATE KEY"), "{doc}");

    // Before the customer has run it, the user refuses the key.
    let out = cli(&["check", &tenant], &[]);
    let (o, e) = text(&out);
    assert!(!out.status.success(), "{o}{e}");
    assert!(
        o.lines().any(|l| l.starts_with("FAIL")
            && l.contains("authentication")
            && l.contains("refused the key-pair login")),
        "{o}"
    );

    // The customer runs the script (their own user created from scratch).
    admin
        .execute(&format!("DROP USER {user}"))
        .await
        .expect("drop user");
    run_as_customer(&admin, &doc["statements"]).await;
    let out = cli(&["check", &tenant], &[]);
    let (o, e) = text(&out);
    assert!(out.status.success(), "{o}{e}");
    pull_ok(&tenant, "after onboarding");
    let rows = stack
        .pg_text(&format!(
            "SELECT count(*) FROM {}.deals",
            crate::helpers::pg_schema(&tenant)
        ))
        .await;
    assert_eq!(rows[0][0].as_deref(), Some("3"));

    // init again: refused in one line pointing to rotate-key; the key is the same.
    let out = cli(&["tenant", "init", toml.to_str().expect("p")], OPERATOR);
    let (o, e) = text(&out);
    assert!(!out.status.success(), "{o}{e}");
    assert_eq!(e.trim().lines().count(), 1, "{e}");
    assert!(
        e.contains("already onboarded")
            && e.contains(&format!("snowsync tenant rotate-key {tenant}")),
        "{e}"
    );
    assert_eq!(
        current_key(&stored(&stack, &tenant).await),
        key,
        "init replaced the key"
    );
}

/// The database name of a test config.
fn toml_db(toml: &std::path::Path) -> String {
    let cfg = TenantConfig::parse(&std::fs::read_to_string(toml).expect("toml")).expect("cfg");
    cfg.snowflake.database.name().to_owned()
}

#[tokio::test]
async fn tenant_init_without_known_egress_ips_prints_a_placeholder_and_says_so() {
    let stack = spawn_stack().await;
    let (tenant, _, toml, admin) = customer(&stack, "").await;
    // No deployed function to read the IPs from.
    let out = cli(
        &["tenant", "init", toml.to_str().expect("p")],
        &[("SNOWSYNC_PULL_FUNCTION", "snowsync-not-deployed")],
    );
    let (script, e) = text(&out);
    let key = current_key(&stored(&stack, &tenant).await);
    assert!(out.status.success(), "{script}{e}");
    assert!(
        e.contains("warning: snowsync's egress IPs are unknown") && e.contains("<EGRESS_IP>"),
        "{e}"
    );
    assert!(
        script.contains("-- replace <EGRESS_IP> with the IPs `snowsync egress-ips` prints"),
        "{script}"
    );
    assert!(
        script.contains("ALLOWED_IP_LIST = ('<EGRESS_IP>')"),
        "{script}"
    );
    assert!(
        script.contains(&format!("RSA_PUBLIC_KEY = '{}'", public_body(&key))),
        "{script}"
    );
    assert!(script.contains("\n-- Only if "), "{script}");
    assert!(
        !script.contains("PRIVATE KEY") && !e.contains("PRIVATE KEY"),
        "{script}{e}"
    );
    // The text is the script: every statement ends its line with `;`, comments start with --.
    let statements: Vec<&str> = script
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with("--"))
        .collect();
    assert!(statements.iter().all(|l| l.ends_with(';')), "{script}");
    for sql in &statements {
        admin
            .execute(sql.trim_end_matches(';'))
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    pull_ok(&tenant, "after the placeholder script");
}

#[tokio::test]
async fn rotate_key_goes_through_the_second_slot_with_a_pull_after_every_step() {
    let stack = spawn_stack().await;
    let (tenant, user, toml, admin) = customer(&stack, "").await;
    let (ok, doc, e) = json(&["tenant", "init", toml.to_str().expect("p")]);
    assert!(ok, "{doc}{e}");
    run_as_customer(&admin, &doc["statements"]).await;
    pull_ok(&tenant, "after onboarding");
    let old = current_key(&stored(&stack, &tenant).await);

    // --verify with no rotation started: a clear error.
    let out = cli(&["tenant", "rotate-key", &tenant, "--verify"], OPERATOR);
    let (_, e) = text(&out);
    assert!(
        !out.status.success() && e.contains("no key rotation in progress"),
        "{e}"
    );

    // Step 1: the next key is pending; runs still use the current one.
    let (ok, step1, e) = json(&["tenant", "rotate-key", &tenant]);
    assert!(ok, "{step1}{e}");
    let s = stored(&stack, &tenant).await;
    assert_eq!(current_key(&s), old);
    let next = s
        .next_private_key
        .as_ref()
        .expect("pending key")
        .expose_secret()
        .to_owned();
    let register = format!(
        "ALTER USER \"{user}\" SET RSA_PUBLIC_KEY_2 = '{}'",
        public_body(&next)
    );
    assert_eq!(step1["statements"], serde_json::json!([register]));
    assert_eq!(
        (step1["step"].as_str(), step1["generated"].as_bool()),
        (Some("register"), Some(true))
    );
    assert_eq!(
        step1["next"],
        format!("snowsync tenant rotate-key {tenant} --verify").as_str()
    );
    assert!(!step1.to_string().contains("PRIVATE KEY"), "{step1}");
    pull_ok(&tenant, "after step 1");

    // --verify before the customer registered it: refused, nothing changes, the SQL repeated.
    let out = cli(&["tenant", "rotate-key", &tenant, "--verify"], OPERATOR);
    let (o, e) = text(&out);
    assert!(!out.status.success(), "{o}{e}");
    assert_eq!(e.trim().lines().count(), 1, "{e}");
    assert!(
        e.contains("does not log in yet")
            && e.contains("(auth: Snowflake refused the key-pair login")
            && e.contains("runs still use the current key")
            && e.contains(&format!("snowsync tenant rotate-key {tenant} --verify")),
        "{e}"
    );
    assert!(o.contains(&format!("{register};")), "{o}");
    let s = stored(&stack, &tenant).await;
    assert_eq!(
        (
            current_key(&s),
            s.next_private_key
                .as_ref()
                .map(|k| k.expose_secret().to_owned())
        ),
        (old.clone(), Some(next.clone()))
    );
    pull_ok(&tenant, "after a refused verify");
    // Step 1 again prints the same pending key.
    let (ok, again, _) = json(&["tenant", "rotate-key", &tenant]);
    assert!(
        ok && again["statements"] == step1["statements"] && again["generated"] == false,
        "{again}"
    );

    // The customer registers it; both keys log in.
    run_as_customer(&admin, &step1["statements"]).await;
    pull_ok(&tenant, "with both keys registered");

    // Step 2: verified, switched, the old slot to drop.
    let (ok, step2, e) = json(&["tenant", "rotate-key", &tenant, "--verify"]);
    assert!(ok, "{step2}{e}");
    assert_eq!(
        (step2["verified"].as_bool(), step2["step"].as_str()),
        (Some(true), Some("verified"))
    );
    assert_eq!(
        step2["statements"],
        serde_json::json!([format!("ALTER USER \"{user}\" UNSET RSA_PUBLIC_KEY")])
    );
    let s = stored(&stack, &tenant).await;
    assert_eq!(
        (current_key(&s), s.key_slot, s.next_private_key.is_none()),
        (next.clone(), KeySlot::Second, true)
    );
    pull_ok(&tenant, "after the switch");
    run_as_customer(&admin, &step2["statements"]).await;
    pull_ok(&tenant, "after the old key was dropped");
    let refused = login_with(&toml, &old)
        .await
        .err()
        .expect("the old key was refused");
    assert_eq!(refused.kind(), snowsync::ErrorKind::Auth, "{refused}");

    // The next rotation goes back to the first slot.
    let (ok, step1, e) = json(&["tenant", "rotate-key", &tenant]);
    assert!(ok, "{step1}{e}");
    let newest = stored(&stack, &tenant)
        .await
        .next_private_key
        .expect("pending")
        .expose_secret()
        .to_owned();
    assert_eq!(
        step1["statements"],
        serde_json::json!([format!(
            "ALTER USER \"{user}\" SET RSA_PUBLIC_KEY = '{}'",
            public_body(&newest)
        )])
    );
    run_as_customer(&admin, &step1["statements"]).await;
    let (ok, step2, e) = json(&["tenant", "rotate-key", &tenant, "--verify"]);
    assert!(ok, "{step2}{e}");
    assert_eq!(
        step2["statements"],
        serde_json::json!([format!("ALTER USER \"{user}\" UNSET RSA_PUBLIC_KEY_2")])
    );
    run_as_customer(&admin, &step2["statements"]).await;
    pull_ok(&tenant, "after the second rotation");
    assert!(
        login_with(&toml, &next).await.is_err(),
        "the first rotation's key still logs in"
    );
}
