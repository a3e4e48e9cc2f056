//! `snowsync check`: a healthy tenant passes every line; each wrong field fails its own line
//! with the fix, and the exit code says so.

use crate::helpers::{cli, secret, spawn_stack, text, unique};

const PULL: &str = "[[pull]]\ntable = \"DEALS\"\ncursor = \"UPDATED_AT\"\nprimary_key = [\"ID\"]\ncolumns = [\"ID\", \"UPDATED_AT\", \"NOTE\"]\n\n[[push]]\nsource = \"actions\"\ntable = \"PLATFORM_ACTIONS\"\n";

fn toml(tenant: &str, db: &str, user: &str, role: &str, body: &str) -> String {
    format!(
        "tenant = \"{tenant}\"\n[snowflake]\naccount = \"test-org-test-account\"\nuser = \"{user}\"\nrole = \"{role}\"\nwarehouse = \"TEST_WH\"\ndatabase = \"{db}\"\nschema = \"PUBLIC\"\n\n{body}"
    )
}

/// Onboards and runs `snowsync check`; returns (exit ok, stdout, stderr).
async fn check(
    db: &str,
    user: &str,
    role: &str,
    body: &str,
    env: &[(&str, &str)],
) -> (bool, String, String) {
    let stack = spawn_stack().await;
    let tenant = unique("t-");
    stack
        .onboard(&toml(&tenant, db, user, role, body), &secret("pw-"))
        .await;
    let out = cli(&["check", &tenant], env);
    let (o, e) = text(&out);
    (out.status.success(), o, e)
}

/// Onboards `toml` (its tenant renamed to a fresh one) and runs `snowsync check`.
async fn check_toml(toml: &str) -> (bool, String) {
    let stack = spawn_stack().await;
    let tenant = unique("t-");
    stack
        .onboard(
            &toml.replace("tenant = \"x\"", &format!("tenant = \"{tenant}\"")),
            &secret("pw-"),
        )
        .await;
    let out = cli(&["check", &tenant], &[]);
    let (o, e) = text(&out);
    (out.status.success(), format!("{o}{e}"))
}

fn line<'a>(out: &'a str, item: &str) -> &'a str {
    out.lines()
        .find(|l| l.get(6..).is_some_and(|rest| rest.starts_with(item)))
        .unwrap_or_else(|| panic!("no line for {item:?} in\n{out}"))
}

#[tokio::test]
async fn check_passes_a_healthy_tenant_and_names_each_broken_field() {
    let stack = spawn_stack().await;
    let db = unique("DB_").to_uppercase();
    let sf = stack.snowflake(&db).await;
    sf.execute(
        "CREATE TABLE PUBLIC.DEALS (ID NUMBER(38,0), UPDATED_AT TIMESTAMP_NTZ, NOTE VARCHAR)",
    )
    .await
    .expect("create");
    sf.execute("INSERT INTO PUBLIC.DEALS VALUES (1, '2026-01-01', 'a'), (2, NULL, 'b')")
        .await
        .expect("insert");

    let (ok, out, err) = check(&db, "SVC", "SYNC_ROLE", PULL, &[]).await;
    println!("{out}");
    assert!(ok, "{out}{err}");
    for item in [
        "config",
        "credentials",
        "account reachable",
        "authentication",
        "role",
        "database",
        "schema",
    ] {
        assert!(line(&out, item).starts_with("ok"), "{item}: {out}");
    }
    assert!(
        line(&out, &format!("table {db}.PUBLIC.DEALS")).starts_with("ok"),
        "{out}"
    );
    assert!(line(&out, "  column NOTE").starts_with("ok"), "{out}");
    assert!(
        line(&out, "  cursor UPDATED_AT").starts_with("WARN")
            && out.contains("1 row(s) have a NULL cursor"),
        "{out}"
    );
    assert!(line(&out, "push actions").starts_with("ok"), "{out}");

    // Wrong password: authentication fails, nothing after it is attempted.
    let (ok, out, _) = check(&db, "SNOWSYNC_WRONG_PASSWORD", "R", PULL, &[]).await;
    println!("{out}");
    assert!(!ok);
    assert!(
        line(&out, "authentication").starts_with("FAIL")
            && out.contains("incorrect username or password"),
        "{out}"
    );

    // IP not allowed: the egress IPs to add are printed.
    let (ok, out, _) = check(
        &db,
        "SNOWSYNC_IP_BLOCKED",
        "R",
        PULL,
        &[("SNOWSYNC_EGRESS_IPS", "198.51.100.10,198.51.100.11")],
    )
    .await;
    println!("{out}");
    assert!(!ok);
    assert!(line(&out, "authentication").starts_with("FAIL"), "{out}");
    assert!(out.contains("198.51.100.10', '198.51.100.11"), "{out}");

    // A warehouse, database or schema that does not exist (designated emulator objects).
    let wh = toml("x", &db, "SVC", "R", PULL).replace("TEST_WH", "SNOWSYNC_MISSING_WH");
    let (ok, out) = check_toml(&wh).await;
    println!("{out}");
    assert!(!ok);
    assert!(
        line(&out, "warehouse").starts_with("FAIL")
            && out.contains("GRANT USAGE ON WAREHOUSE \"SNOWSYNC_MISSING_WH\""),
        "{out}"
    );
    let (ok, out) = check_toml(&toml("x", "SNOWSYNC_MISSING_DB", "SVC", "R", PULL)).await;
    println!("{out}");
    assert!(!ok);
    assert!(
        line(&out, "database").starts_with("FAIL")
            && out.contains("does not exist or not authorized"),
        "{out}"
    );
    let missing_schema = toml("x", &db, "SVC", "R", PULL).replace(
        "schema = \"PUBLIC\"",
        "schema = \"SNOWSYNC_MISSING_SCHEMA\"",
    );
    let (ok, out) = check_toml(&missing_schema).await;
    println!("{out}");
    assert!(!ok);
    assert!(line(&out, "schema").starts_with("FAIL"), "{out}");

    // An account that cannot be reached.
    let (ok, out, _) = check(
        &db,
        "SVC",
        "R",
        PULL,
        &[("SNOWSYNC_SNOWFLAKE_URL", "http://127.0.0.1:9")],
    )
    .await;
    println!("{out}");
    assert!(!ok);
    assert!(
        line(&out, "account reachable").starts_with("FAIL")
            && out.contains("could not reach Snowflake"),
        "{out}"
    );

    // A missing table, a missing column, a role that may not write.
    let body = "[[pull]]\ntable = \"NOPE\"\n\n[[pull]]\ntable = \"DEALS\"\ncolumns = [\"ID\", \"COLOUR\"]\n\n[[push]]\nsource = \"actions\"\ntable = \"PLATFORM_ACTIONS\"\n";
    let (ok, out, err) = check(&db, "SVC", "SNOWSYNC_NO_WRITE", body, &[]).await;
    println!("{out}");
    assert!(!ok);
    assert!(err.contains("check(s) failed"), "{err}");
    assert!(
        line(&out, &format!("table {db}.PUBLIC.NOPE")).starts_with("FAIL")
            && out.contains("does not exist or the role cannot see it"),
        "{out}"
    );
    assert!(
        line(&out, &format!("table {db}.PUBLIC.DEALS")).starts_with("FAIL")
            && out.contains("column COLOUR does not exist"),
        "{out}"
    );
    assert!(
        line(&out, "push actions").starts_with("FAIL")
            && out.contains("GRANT USAGE, CREATE TABLE ON SCHEMA"),
        "{out}"
    );
}
