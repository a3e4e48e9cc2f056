//! Full-refresh pulls on the stack: every type value by value, paging over a composite key,
//! repeat runs, the Lambda handler with a real event, missing objects, and the query tag.

use lambda_runtime::{Context, LambdaEvent};
use snowsync::lambda::{Budget, Job};
use snowsync::pull::PullEvent;
use snowsync::runner::Mode;

use crate::helpers::{cli, secret, spawn_stack, tenant_toml, text, unique};

const ALL_TYPES_DDL: &str = r#"CREATE OR REPLACE TABLE PUBLIC.ALL_TYPES (
    ID NUMBER(38,0) NOT NULL,
    SMALL_INT NUMBER(9,0),
    AMOUNT NUMBER(12,2),
    PRECISE NUMBER(38,10),
    RATIO FLOAT,
    NAME VARCHAR,
    ACTIVE BOOLEAN,
    CLOSE_DATE DATE,
    START_TIME TIME,
    UPDATED_AT TIMESTAMP_NTZ,
    CREATED_TZ TIMESTAMP_TZ,
    SEEN_LTZ TIMESTAMP_LTZ,
    PAYLOAD VARIANT,
    TAGS ARRAY,
    ATTRS OBJECT,
    RAW BINARY
)"#;

const ALL_TYPES_ROWS: &str = r#"INSERT INTO PUBLIC.ALL_TYPES
SELECT 1, 123456789, 12345.67, 1234567890123456789012345678.0123456789, 3.14159,
       'Tab\tnew\nline back\\slash ''quote'' ünïcode ✓', TRUE, '2026-01-31'::DATE, '12:34:56.123456'::TIME,
       '2026-03-04 05:06:07.123456'::TIMESTAMP_NTZ, '2026-03-04 05:06:07.654321'::TIMESTAMP_TZ,
       '1999-12-31 23:59:59.999999'::TIMESTAMP_LTZ, PARSE_JSON('{"a": 1, "b": [true, null, "x"], "q": "it''s \\"quoted\\""}'),
       ARRAY_CONSTRUCT(1, 'two', 3.5), OBJECT_CONSTRUCT('k', 'v'), TO_BINARY('0aff', 'HEX')
UNION ALL
SELECT 2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
UNION ALL
SELECT 9223372036854775807, -5, -0.5, -0.0000000001, -1.5e300, '', FALSE, '0001-01-01'::DATE, '00:00:00'::TIME,
       '1969-12-31 23:59:59.999999'::TIMESTAMP_NTZ, '9999-12-31 23:59:59.999999'::TIMESTAMP_TZ,
       '1970-01-01 00:00:00'::TIMESTAMP_LTZ, PARSE_JSON('[]'), ARRAY_CONSTRUCT(), OBJECT_CONSTRUCT(), TO_BINARY('', 'HEX')"#;

/// The PostgreSQL text of each row, in column order, as the contract's type mapping says.
fn expected_all_types() -> Vec<Vec<Option<&'static str>>> {
    vec![
        vec![
            Some("1"),
            Some("123456789"),
            Some("12345.67"),
            Some("1234567890123456789012345678.0123456789"),
            Some("3.14159"),
            Some("Tab\tnew\nline back\\slash 'quote' ünïcode ✓"),
            Some("t"),
            Some("2026-01-31"),
            Some("12:34:56.123456"),
            Some("2026-03-04 05:06:07.123456"),
            Some("2026-03-04 05:06:07.654321+00"),
            Some("1999-12-31 23:59:59.999999+00"),
            Some(r#"{"a": 1, "b": [true, null, "x"], "q": "it's \"quoted\""}"#),
            Some(r#"[1, "two", 3.5]"#),
            Some(r#"{"k": "v"}"#),
            Some("\\x0aff"),
        ],
        vec![
            Some("2"),
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
        ],
        vec![
            Some("9223372036854775807"),
            Some("-5"),
            Some("-0.50"),
            Some("-0.0000000001"),
            Some("-1.5e+300"),
            Some(""),
            Some("f"),
            Some("0001-01-01"),
            Some("00:00:00"),
            Some("1969-12-31 23:59:59.999999"),
            Some("9999-12-31 23:59:59.999999+00"),
            Some("1970-01-01 00:00:00+00"),
            Some("[]"),
            Some("[]"),
            Some("{}"),
            Some("\\x"),
        ],
    ]
}

#[tokio::test]
async fn full_pull_of_every_type_is_exact_and_repeatable() {
    let stack = spawn_stack().await;
    let tenant = unique("t-");
    let db = unique("DB_").to_uppercase();
    let sf = stack.snowflake(&db).await;
    sf.execute(ALL_TYPES_DDL)
        .await
        .expect("create source table");
    sf.execute(ALL_TYPES_ROWS)
        .await
        .expect("insert source rows");

    let toml = tenant_toml(
        &tenant,
        &db,
        "SVC",
        "[[pull]]\ntable = \"ALL_TYPES\"\nprimary_key = [\"ID\"]\n",
    );
    let cfg = stack.onboard(&toml, &secret("pw-")).await;
    let schema = cfg.tenant.pg_schema();

    let out = cli(&["pull", &tenant], &[]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "pull failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("complete"), "{stdout}");

    let types = stack
        .pg_text(&format!(
            "SELECT column_name, data_type, numeric_precision, numeric_scale FROM information_schema.columns \
             WHERE table_schema = '{schema}' AND table_name = 'all_types' ORDER BY ordinal_position"
        ))
        .await;
    let types: Vec<String> = types
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r[0].as_deref().unwrap_or(""),
                r[1].as_deref().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        types,
        vec![
            "id numeric",
            "small_int bigint",
            "amount numeric",
            "precise numeric",
            "ratio double precision",
            "name text",
            "active boolean",
            "close_date date",
            "start_time time without time zone",
            "updated_at timestamp without time zone",
            "created_tz timestamp with time zone",
            "seen_ltz timestamp with time zone",
            "payload jsonb",
            "tags jsonb",
            "attrs jsonb",
            "raw bytea",
            "_snowsync_synced_at timestamp with time zone",
        ]
    );

    let select = format!(
        "SELECT id, small_int, amount, precise, ratio, name, active, close_date, start_time, updated_at, \
         created_tz, seen_ltz, payload, tags, attrs, raw FROM \"{schema}\".all_types ORDER BY id"
    );
    let rows = stack.pg_text(&select).await;
    let expected = expected_all_types();
    assert_eq!(rows.len(), expected.len());
    for (got, want) in rows.iter().zip(&expected) {
        let want: Vec<Option<String>> = want.iter().map(|v| v.map(str::to_owned)).collect();
        assert_eq!(got, &want);
    }
    let pk = stack
        .pg_text(&format!(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
             WHERE i.indrelid = '\"{schema}\".all_types'::regclass AND i.indisprimary"
        ))
        .await;
    assert_eq!(pk, vec![vec![Some("id".to_owned())]]);

    // A second run gives the same content.
    let out = cli(&["pull", &tenant, "--table", "all_types"], &[]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(stack.pg_text(&select).await, rows);

    // Status shows the table with its outcome and row count.
    let out = cli(&["status", &tenant], &[]);
    let (stdout, _) = text(&out);
    let line = stdout
        .lines()
        .find(|l| l.contains(&format!("{db}.PUBLIC.ALL_TYPES")))
        .unwrap_or_else(|| panic!("no status line: {stdout}"));
    assert!(line.contains("complete") && line.contains(" 3 "), "{line}");
}

#[tokio::test]
async fn keyset_pages_over_a_composite_key_lose_and_double_nothing() {
    let stack = spawn_stack().await;
    let tenant = unique("t-");
    let db = unique("DB_").to_uppercase();
    let sf = stack.snowflake(&db).await;
    sf.execute("CREATE TABLE PUBLIC.EVENTS (GRP NUMBER(10,0), NAME VARCHAR, V NUMBER(12,2))")
        .await
        .expect("create");
    // 250 rows, 5 groups of 50: every page boundary falls inside a group.
    let values: Vec<String> = (0..250)
        .map(|i| format!("({}, 'n{:03}', {}.25)", i % 5, i, i))
        .collect();
    sf.execute(&format!(
        "INSERT INTO PUBLIC.EVENTS VALUES {}",
        values.join(", ")
    ))
    .await
    .expect("insert");
    let toml = tenant_toml(
        &tenant,
        &db,
        "SVC",
        "[[pull]]\ntable = \"events\"\nprimary_key = [\"GRP\", \"NAME\"]\n",
    );
    let cfg = stack.onboard(&toml, &secret("pw-")).await;

    let mut deps = stack.deps.clone();
    deps.settings.page_rows = 40;
    let event = PullEvent {
        tenant: tenant.clone(),
        tables: None,
        mode: Mode::Incremental,
        hop: 0,
        ..Default::default()
    };
    let report = event
        .run(&deps, &unique("run-"), &Budget::default())
        .await
        .expect("pull");
    let t = &report.objects[0];
    assert_eq!(t.outcome.as_str(), "complete", "{t:?}");
    // A first page of one row (its VARCHAR columns could hold 16 MB each: nothing is known
    // of the row size yet), then 249 rows in pages of 40 planned by one pre-scan: 1 + 7.
    assert_eq!(
        (t.rows_read, t.rows_written, t.pages),
        (250, 250, 8),
        "{t:?}"
    );

    let schema = cfg.tenant.pg_schema();
    let rows = stack
        .pg_text(&format!(
            "SELECT count(*), count(DISTINCT (grp, name)), sum(v) FROM \"{schema}\".events"
        ))
        .await;
    assert_eq!(
        rows[0],
        vec![
            Some("250".into()),
            Some("250".into()),
            Some("31187.50".into())
        ]
    );
}

#[tokio::test]
async fn the_pull_handler_runs_the_contract_event() {
    let stack = spawn_stack().await;
    let tenant = unique("t-");
    let db = unique("DB_").to_uppercase();
    let sf = stack.snowflake(&db).await;
    sf.execute("CREATE TABLE PUBLIC.OPPORTUNITIES (ID NUMBER(38,0), NAME VARCHAR, UPDATED_AT TIMESTAMP_NTZ)")
        .await
        .expect("create");
    sf.execute("INSERT INTO PUBLIC.OPPORTUNITIES VALUES (1, 'a', '2026-01-01 00:00:00'), (2, 'b', '2026-01-02 00:00:00')")
        .await
        .expect("insert");
    let toml = tenant_toml(
        &tenant,
        &db,
        "SVC",
        "[[pull]]\ntable = \"OPPORTUNITIES\"\ncursor = \"UPDATED_AT\"\nprimary_key = [\"ID\"]\n",
    );
    let cfg = stack.onboard(&toml, &secret("pw-")).await;

    let fixture = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/pull_event.json"
    ))
    .expect("fixture");
    let mut payload: serde_json::Value = serde_json::from_str(&fixture).expect("fixture json");
    payload["tenant"] = tenant.clone().into();
    let mut ctx = Context::default();
    ctx.request_id = unique("req-");
    let result = snowsync::lambda::handle::<snowsync::pull::PullEvent>(
        LambdaEvent::new(payload, ctx.clone()),
        &stack.deps,
    )
    .await
    .expect("handler result");
    assert_eq!(result["tenant"], tenant.as_str());
    assert_eq!(result["run_id"], ctx.request_id.as_str());
    let t = &result["tables"][0];
    assert_eq!(t["object"], format!("{db}.PUBLIC.OPPORTUNITIES"));
    assert_eq!(t["outcome"], "complete", "{result}");
    assert_eq!(t["rows_read"], 2);
    assert_eq!(t["rows_written"], 2);
    assert!(t["seconds"].as_f64().is_some());
    let count = stack
        .pg_text(&format!(
            "SELECT count(*) FROM \"{}\".opportunities",
            cfg.tenant.pg_schema()
        ))
        .await;
    assert_eq!(count[0][0].as_deref(), Some("2"));

    // Our session was tagged, so the customer can find our queries in QUERY_HISTORY.
    let base = std::env::var("SNOWSYNC_SNOWFLAKE_URL").expect("url");
    let tags: serde_json::Value = reqwest::get(format!("{base}/_emulator/query_tags"))
        .await
        .expect("query tags")
        .json()
        .await
        .expect("json");
    let want = format!("snowsync tenant={tenant} run={}", ctx.request_id);
    assert!(tags.to_string().contains(&want), "{want} not in {tags}");

    // A malformed event is a config error, not a panic or a silent success.
    let bad = serde_json::json!({"tenant": tenant, "tabels": ["X"]});
    let err = snowsync::lambda::handle::<snowsync::pull::PullEvent>(
        LambdaEvent::new(bad, Context::default()),
        &stack.deps,
    )
    .await
    .expect_err("malformed event");
    assert_eq!(err.error_type, "config");
    assert!(
        err.error_message.contains("tabels"),
        "{}",
        err.error_message
    );
}

#[tokio::test]
async fn missing_tables_and_columns_are_missing_object_errors_naming_them() {
    let stack = spawn_stack().await;
    let tenant = unique("t-");
    let db = unique("DB_").to_uppercase();
    let sf = stack.snowflake(&db).await;
    sf.execute("CREATE TABLE PUBLIC.HAS_COLS (ID NUMBER(38,0), NAME VARCHAR)")
        .await
        .expect("create");
    let toml = tenant_toml(
        &tenant,
        &db,
        "SVC",
        "[[pull]]\ntable = \"NOPE\"\n\n[[pull]]\ntable = \"HAS_COLS\"\ncolumns = [\"ID\", \"COLOUR\"]\n",
    );
    stack.onboard(&toml, &secret("pw-")).await;
    let out = cli(&["pull", &tenant], &[]);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains("missing_object: table") && stdout.contains(&format!("{db}.PUBLIC.NOPE")),
        "{stdout}{stderr}"
    );
    assert!(
        stdout.contains("missing_object: column COLOUR does not exist"),
        "{stdout}"
    );

    let out = cli(&["pull", &tenant, "--table", "ELSEWHERE"], &[]);
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(
        stderr.contains("table \"ELSEWHERE\" is not configured"),
        "{stderr}"
    );
}
