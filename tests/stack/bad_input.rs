//! The bad-input table: each case with its expected one-line error (or exact result).
//! Config and credentials are checked in-process; the rest run on the stack.

use snowsync::lambda::{Budget, Job};
use snowsync::pull::PullEvent;
use snowsync::runner::Mode;
use snowsync::snowflake::keypair::load_private_key;
use snowsync::tenant::config::TenantConfig;
use snowsync::tenant::secrets::Credentials;

use crate::helpers::{
    openssl, pg_schema, rsa_key, secret, spawn_stack, tenant_toml, unique, TestStack,
};

const BASE: &str = "tenant = \"acme\"\n[snowflake]\naccount = \"abc-xyz\"\nuser = \"SVC\"\nwarehouse = \"WH\"\ndatabase = \"SALES\"\nschema = \"PUBLIC\"\n";
const PULL: &str = "[[pull]]\ntable = \"T\"\ncursor = \"U\"\nprimary_key = [\"ID\"]\n";

#[test]
fn config_and_credential_cases_fail_with_one_line_naming_the_problem() {
    let with = |extra: &str| format!("{BASE}{extra}");
    let config_cases: Vec<(&str, String, &str)> = vec![
        (
            "unknown key",
            with("[[pull]]\ntable = \"T\"\ncolour = \"red\"\n"),
            "unknown field `colour`",
        ),
        (
            "bad tenant name",
            with(PULL).replace("\"acme\"", "\"ACME!\""),
            "tenant: invalid tenant id",
        ),
        (
            "tenant too long",
            with(PULL).replace("\"acme\"", &format!("\"{}\"", "a".repeat(64))),
            "tenant: invalid tenant id",
        ),
        (
            "cursor without key",
            with("[[pull]]\ntable = \"T\"\ncursor = \"U\"\n"),
            "a cursor needs a primary key",
        ),
        (
            "malformed account",
            with(PULL).replace("abc-xyz", "abc_xyz!"),
            "snowflake.account",
        ),
        (
            "bad schedule",
            with(&format!("[schedule]\npull = \"cron(0 3 * *)\"\n{PULL}")),
            "schedule.pull",
        ),
        (
            "bad time zone",
            with(&format!("[schedule]\ntimezone = \"Mars Time\"\n{PULL}")),
            "schedule.timezone",
        ),
        (
            "bad lookback",
            with(&format!("{PULL}lookback = \"2 weeks\"\n")),
            "pull[0].lookback",
        ),
        (
            "empty columns",
            with("[[pull]]\ntable = \"T\"\ncolumns = []\n"),
            "pull[0].columns: empty list",
        ),
        (
            "cursor outside columns",
            with(&format!("{PULL}columns = [\"ID\"]\n")),
            "must be listed in columns",
        ),
        (
            "table twice",
            with(&format!("{PULL}{PULL}")),
            "configured twice",
        ),
        (
            "unknown push source",
            with("[[push]]\nsource = \"clicks\"\ntable = \"X\"\n"),
            "unknown variant `clicks`",
        ),
        (
            "qualified push table",
            with("[[push]]\nsource = \"actions\"\ntable = \"DB.S.X\"\n"),
            "must be a bare table name",
        ),
        (
            "unterminated quote",
            with("[[pull]]\ntable = '\"Oops'\n"),
            "pull[0].table",
        ),
        (
            "missing section",
            "tenant = \"acme\"\n".to_owned(),
            "missing field `snowflake`",
        ),
    ];
    for (name, text, want) in &config_cases {
        let err = TenantConfig::parse(text).expect_err(name).to_string();
        assert!(err.contains(want), "{name}: {err:?} lacks {want:?}");
        assert!(!err.contains('\n'), "{name}: {err:?}");
    }

    let dir = std::env::temp_dir().join(unique("snowsync-bad-"));
    std::fs::create_dir_all(&dir).expect("dir");
    let key = rsa_key(&dir);
    let pass = secret("pass-");
    let encrypted = String::from_utf8(openssl(&[
        "pkcs8",
        "-topk8",
        "-v2",
        "des3",
        "-in",
        key.to_str().expect("p"),
        "-passout",
        &format!("pass:{pass}"),
    ]))
    .expect("pem");
    let cred_cases: Vec<(&str, serde_json::Value, &str)> = vec![
        ("empty secret", serde_json::json!({}), "credentials: empty"),
        (
            "empty password",
            serde_json::json!({"password": " "}),
            "\"password\" is empty",
        ),
        (
            "wrong type",
            serde_json::json!({"password": 42}),
            "not a JSON object of strings",
        ),
        (
            "password and key",
            serde_json::json!({"password": "x", "private_key": "-----BEGIN PRIVATE KEY-----"}),
            "not both",
        ),
        (
            "not a PEM",
            serde_json::json!({"private_key": "MIIEv..."}),
            "not a PEM key",
        ),
        (
            "malformed key",
            serde_json::json!({"private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"}),
            "not a valid RSA PKCS#8 key",
        ),
        (
            "encrypted, no passphrase",
            serde_json::json!({"private_key": encrypted}),
            "add \"private_key_passphrase\"",
        ),
        (
            "wrong passphrase",
            serde_json::json!({"private_key": encrypted, "private_key_passphrase": "not-it"}),
            "does not decrypt",
        ),
    ];
    for (name, json, want) in &cred_cases {
        let err = match Credentials::parse(&json.to_string()) {
            Err(e) => e.to_string(),
            Ok(Credentials::KeyPair {
                private_key,
                passphrase,
            }) => load_private_key(&private_key, passphrase.as_ref())
                .map(|_| ())
                .expect_err(name)
                .to_string(),
            Ok(Credentials::Password(_)) => panic!("{name}: accepted"),
        };
        assert!(err.contains(want), "{name}: {err:?} lacks {want:?}");
        assert!(
            !err.contains(&pass) && !err.contains("MII") && !err.contains('\n'),
            "{name}: {err:?}"
        );
    }
    assert!(config_cases.len() + cred_cases.len() >= 23);
}

async fn pull_one(
    stack: &TestStack,
    db: &str,
    user: &str,
    body: &str,
) -> (String, snowsync::runner::ObjectReport) {
    pull_edited(stack, db, user, body, &[]).await
}

/// Pulls one table as `SVC`, which must complete with `rows` rows written, and returns what
/// `sql` reads, its `{schema}` replaced by the tenant's quoted schema.
async fn pull_complete(
    stack: &TestStack,
    db: &str,
    body: &str,
    rows: u64,
    sql: &str,
) -> Vec<Vec<Option<String>>> {
    let (tenant, r) = pull_one(stack, db, "SVC", body).await;
    assert_eq!(
        (r.outcome.as_str(), r.rows_written),
        ("complete", rows),
        "{r:?}"
    );
    let schema = format!("\"{}\"", pg_schema(&tenant));
    stack.pg_text(&sql.replace("{schema}", &schema)).await
}

/// [`pull_one`] with a config edited by `(from, to)` replacements.
async fn pull_edited(
    stack: &TestStack,
    db: &str,
    user: &str,
    body: &str,
    edits: &[(&str, &str)],
) -> (String, snowsync::runner::ObjectReport) {
    let tenant = unique("t-");
    let toml = edits
        .iter()
        .fold(tenant_toml(&tenant, db, user, body), |t, (from, to)| {
            t.replace(from, to)
        });
    stack.onboard(&toml, &secret("pw-")).await;
    let event = PullEvent {
        tenant: tenant.clone(),
        tables: None,
        mode: Mode::Incremental,
        hop: 0,
        ..Default::default()
    };
    let mut report = event
        .run(&stack.deps, &unique("run-"), &Budget::default())
        .await
        .expect("pull");
    (tenant, report.objects.remove(0))
}

/// A runtime failure case: name, database, user, `[[pull]]` body, expected kind, config edits.
type Failure<'a> = (
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    &'a [(&'a str, &'a str)],
);

#[tokio::test]
async fn runtime_and_data_cases_give_their_kind_or_their_exact_result() {
    let stack = spawn_stack().await;
    let db = unique("DB_").to_uppercase();
    let sf = stack.snowflake(&db).await;
    sf.execute("CREATE TABLE PUBLIC.EMPTY_ONE (ID NUMBER(38,0), U TIMESTAMP_NTZ)")
        .await
        .expect("create");
    sf.execute(r#"CREATE TABLE PUBLIC."Größe ""Select""" ("order" NUMBER(38,0), "Name With Space" VARCHAR, "select" TIMESTAMP_NTZ)"#)
        .await
        .expect("create");
    sf.execute(r#"INSERT INTO PUBLIC."Größe ""Select""" VALUES (1, 'it''s "quoted" ✓', '0001-01-01 00:00:00'), (2, NULL, '9999-12-31 23:59:59.999999'), (3, 'null cursor', NULL)"#)
        .await
        .expect("insert");

    let failures: [Failure; 7] = [
        (
            "wrong password",
            db.as_str(),
            "SNOWSYNC_WRONG_PASSWORD",
            "[[pull]]\ntable = \"EMPTY_ONE\"\n",
            "auth",
            &[],
        ),
        (
            "IP not allowed",
            db.as_str(),
            "SNOWSYNC_IP_BLOCKED",
            "[[pull]]\ntable = \"EMPTY_ONE\"\n",
            "network_policy",
            &[],
        ),
        (
            "missing table",
            db.as_str(),
            "SVC",
            "[[pull]]\ntable = \"NOPE\"\n",
            "missing_object",
            &[],
        ),
        (
            "missing column",
            db.as_str(),
            "SVC",
            "[[pull]]\ntable = \"EMPTY_ONE\"\ncolumns = [\"ID\", \"GONE\"]\n",
            "missing_object",
            &[],
        ),
        (
            "missing database",
            "SNOWSYNC_MISSING_DB",
            "SVC",
            "[[pull]]\ntable = \"EMPTY_ONE\"\n",
            "missing_object",
            &[],
        ),
        (
            "missing warehouse",
            db.as_str(),
            "SVC",
            "[[pull]]\ntable = \"EMPTY_ONE\"\n",
            "missing_object",
            &[("\"TEST_WH\"", "\"SNOWSYNC_MISSING_WH\"")],
        ),
        (
            "missing schema",
            db.as_str(),
            "SVC",
            "[[pull]]\ntable = \"EMPTY_ONE\"\n",
            "missing_object",
            &[(
                "schema = \"PUBLIC\"",
                "schema = \"SNOWSYNC_MISSING_SCHEMA\"",
            )],
        ),
    ];
    for (name, db, user, body, kind, edits) in failures {
        let (_, r) = pull_edited(&stack, db, user, body, edits).await;
        assert_eq!(r.outcome.as_str(), "failed", "{name}: {r:?}");
        assert_eq!(
            r.error_kind.map(|k| k.as_str()),
            Some(kind),
            "{name}: {r:?}"
        );
        assert!(
            !r.error.as_deref().unwrap_or("").contains('\n'),
            "{name}: {r:?}"
        );
    }

    // An empty table: complete, zero rows, the table exists.
    let rows = pull_complete(
        &stack,
        &db,
        "[[pull]]\ntable = \"EMPTY_ONE\"\ncursor = \"U\"\nprimary_key = [\"ID\"]\n",
        0,
        "SELECT count(*) FROM {schema}.empty_one",
    )
    .await;
    assert_eq!(rows[0][0].as_deref(), Some("0"));

    // Unicode, quotes and reserved words in names and values, a NULL cursor, years 1 and 9999.
    let body = "[[pull]]\ntable = '\"Größe \"\"Select\"\"\"'\ncursor = '\"select\"'\nprimary_key = ['\"order\"']\n";
    let rows = pull_complete(
        &stack,
        &db,
        body,
        3,
        r#"SELECT "order", "name with space", "select"::text FROM {schema}."größe ""select""" ORDER BY 1"#,
    )
    .await;
    assert_eq!(
        rows,
        vec![
            vec![
                Some("1".into()),
                Some("it's \"quoted\" ✓".into()),
                Some("0001-01-01 00:00:00".into())
            ],
            vec![
                Some("2".into()),
                None,
                Some("9999-12-31 23:59:59.999999".into())
            ],
            vec![Some("3".into()), Some("null cursor".into()), None],
        ]
    );

    // A key that is not unique in the source (Snowflake does not enforce keys): named, and
    // nothing is swapped in.
    sf.execute("CREATE TABLE PUBLIC.DUPES (ID NUMBER(38,0), U TIMESTAMP_NTZ)")
        .await
        .expect("create");
    sf.execute(
        "INSERT INTO PUBLIC.DUPES VALUES (1, '2026-01-01'), (2, '2026-01-02'), (1, '2026-01-03')",
    )
    .await
    .expect("insert");
    let body = "[[pull]]\ntable = \"DUPES\"\ncursor = \"U\"\nprimary_key = [\"ID\"]\n";
    let (tenant, r) = pull_one(&stack, &db, "SVC", body).await;
    assert_eq!(r.outcome.as_str(), "failed", "{r:?}");
    assert_eq!(r.error_kind.map(|k| k.as_str()), Some("config"), "{r:?}");
    let msg = r.error.as_deref().unwrap_or("");
    assert!(
        msg.contains("primary key (id) is not unique in the source"),
        "{msg}"
    );
    let schema = pg_schema(&tenant);
    assert_eq!(
        stack
            .pg_text(&format!("SELECT count(*) FROM information_schema.tables WHERE table_schema = '{schema}' AND table_name = 'dupes'"))
            .await[0][0]
            .as_deref(),
        Some("0")
    );

    // A VARIANT at Snowflake's 16 MB limit (16,777,208 bytes of JSON) and NUMBER(38,0) at the
    // emulator's 64-bit extremes (the 38-digit maximum is decoded in decode's tests:
    // the emulator cannot hold it).
    sf.execute(
        "CREATE TABLE PUBLIC.BIG (ID NUMBER(38,0), U TIMESTAMP_NTZ, V VARIANT, N NUMBER(38,0))",
    )
    .await
    .expect("create");
    sf.execute("INSERT INTO PUBLIC.BIG SELECT 1, '2026-01-01', OBJECT_CONSTRUCT('k', REPEAT('é', 8388600)), 9223372036854775807")
        .await
        .expect("insert");
    sf.execute(
        "INSERT INTO PUBLIC.BIG SELECT 2, '2026-01-02', PARSE_JSON('[1,2]'), -9223372036854775808",
    )
    .await
    .expect("insert");
    let body = "[[pull]]\ntable = \"BIG\"\ncursor = \"U\"\nprimary_key = [\"ID\"]\n";
    let rows = pull_complete(
        &stack,
        &db,
        body,
        2,
        r#"SELECT id, (v->>'k') = repeat('é', 8388600), octet_length(v->>'k'), n::text, v::text = '[1, 2]' FROM {schema}.big ORDER BY id"#,
    )
    .await;
    assert_eq!(
        rows,
        vec![
            vec![
                Some("1".into()),
                Some("t".into()),
                Some("16777200".into()),
                Some("9223372036854775807".into()),
                Some("f".into())
            ],
            vec![
                Some("2".into()),
                None,
                None,
                Some("-9223372036854775808".into()),
                Some("t".into())
            ],
        ]
    );
}
