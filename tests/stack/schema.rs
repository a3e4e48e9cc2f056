//! Source columns that change under an incremental table: a column added costs a column
//! backfill (resumable across deadline hops), not a full one; a dropped column is kept and
//! NULL in rows written since, reported once; widened types are altered in place; an
//! incompatible change fails with `config` and its fix.

use snowsync::snowflake::Session;

use crate::helpers::{
    cli, pg_schema, pull_near_deadline, secret, sf_rows, spawn_stack, tenant_toml, text, unique,
    TestStack,
};

const QUIET: (&str, &str) = ("RUST_LOG", "off");
const PAGES: (&str, &str) = ("SNOWSYNC_PAGE_ROWS", "40");

/// A tenant pulling `DEALS` created by `create`, with 200 rows of `(ID, UPDATED_AT, AMOUNT, NOTE)`.
async fn deals(stack: &TestStack, create: &str) -> (String, Session) {
    let tenant = unique("t-");
    let db = unique("DB_").to_uppercase();
    let sf = stack.snowflake(&db).await;
    sf.execute(create).await.expect("create");
    sf.execute("INSERT INTO PUBLIC.DEALS SELECT SEQ4() + 1, DATEADD('second', SEQ4(), '2026-01-01'::TIMESTAMP_NTZ), SEQ4() / 4, 'note ' || SEQ4() FROM TABLE(GENERATOR(ROWCOUNT => 200))")
        .await
        .expect("insert");
    let entry = "[[pull]]\ntable = \"DEALS\"\ncursor = \"UPDATED_AT\"\nprimary_key = [\"ID\"]\n";
    stack
        .onboard(&tenant_toml(&tenant, &db, "SVC", entry), &secret("pw-"))
        .await;
    (tenant, sf)
}

const CREATE: &str = "CREATE TABLE PUBLIC.DEALS (ID NUMBER(10,0), UPDATED_AT TIMESTAMP_NTZ(3), AMOUNT NUMBER(10,2), NOTE VARCHAR(50))";

/// `snowsync pull <tenant> --json`: the one table's report (it must not fail).
fn pull(tenant: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["pull", tenant, "--json"];
    args.extend_from_slice(extra);
    let out = cli(&args, &[QUIET, PAGES]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    doc["tables"][0].clone()
}

/// Every row of the platform table as text, in key order, with `cols`.
async fn platform(stack: &TestStack, tenant: &str, cols: &str) -> Vec<Vec<Option<String>>> {
    stack
        .pg_text(&format!(
            "SELECT {cols} FROM {}.deals d ORDER BY d.id",
            pg_schema(tenant)
        ))
        .await
}

/// The same from the source (`cols` as Snowflake text expressions).
async fn source(sf: &Session, cols: &str) -> Vec<Vec<Option<String>>> {
    sf_rows(sf, &format!("SELECT {cols} FROM PUBLIC.DEALS ORDER BY ID")).await
}

/// How many of the tenant's runs were full backfills.
fn backfills(tenant: &str) -> usize {
    let runs: serde_json::Value =
        serde_json::from_str(&text(&cli(&["runs", tenant, "--json"], &[QUIET])).0).expect("json");
    runs["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .filter(|r| r["plan"] == "backfill")
        .count()
}

async fn column_type(stack: &TestStack, tenant: &str, column: &str) -> String {
    stack
        .pg_text(&format!(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = '{}.deals'::regclass AND attname = '{column}'",
            pg_schema(tenant)
        ))
        .await
        .first()
        .and_then(|r| r[0].clone())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_column_added_to_the_source_costs_a_column_backfill_resumed_across_hops() {
    let stack = spawn_stack().await;
    let (tenant, sf) = deals(&stack, CREATE).await;
    pull(&tenant, &[]);
    sf.execute("ALTER TABLE PUBLIC.DEALS ADD COLUMN REGION VARCHAR")
        .await
        .expect("add column");
    // Every existing row gets a value without its cursor moving; five rows change too.
    sf.execute("UPDATE PUBLIC.DEALS SET REGION = 'r' || (ID % 7)")
        .await
        .expect("fill");
    sf.execute("UPDATE PUBLIC.DEALS SET NOTE = 'moved', UPDATED_AT = '2026-03-01'::TIMESTAMP_NTZ WHERE ID <= 5")
        .await
        .expect("update");

    // The function near its deadline: the incremental page, then the column backfill a page
    // per invocation, from its checkpoint.
    let mut deps = stack.deps.clone();
    deps.settings.page_rows = 40;
    let mut hops = 0;
    let mut notes = Vec::new();
    loop {
        let result = pull_near_deadline(&deps, &tenant, hops).await;
        let t = result["tables"][0].clone();
        notes.extend(t["schema_changes"].as_str().map(str::to_owned));
        if t["outcome"] == "complete" {
            break;
        }
        assert_eq!(t["outcome"], "continued", "{result}");
        hops += 1;
        assert!(hops < 40, "the column backfill never finished: {result}");
    }
    assert!(hops >= 4, "200 rows in pages of 40 took {hops} hops");
    assert_eq!(notes, vec!["added REGION".to_owned()], "reported once");
    assert_eq!(
        backfills(&tenant),
        1,
        "only the first run read the whole table"
    );
    assert_eq!(
        platform(&stack, &tenant, "id::text, note, region").await,
        source(&sf, "TO_VARCHAR(ID), NOTE, REGION").await
    );
}

#[tokio::test]
async fn a_dropped_column_is_kept_null_in_rows_written_since_and_reported_once() {
    let stack = spawn_stack().await;
    let (tenant, sf) = deals(&stack, CREATE).await;
    pull(&tenant, &[]);
    sf.execute("ALTER TABLE PUBLIC.DEALS DROP COLUMN NOTE")
        .await
        .expect("drop column");
    sf.execute("UPDATE PUBLIC.DEALS SET AMOUNT = 1, UPDATED_AT = '2026-03-01'::TIMESTAMP_NTZ WHERE ID IN (3, 4)")
        .await
        .expect("update");
    let report = pull(&tenant, &[]);
    assert_eq!(backfills(&tenant), 1, "{report}");
    assert!(
        report["schema_changes"]
            .as_str()
            .is_some_and(|n| n.contains("dropped note")),
        "{report}"
    );
    let notes = platform(&stack, &tenant, "id::text, note").await;
    assert_eq!(notes.len(), 200);
    for row in &notes {
        let id: u32 = row[0].as_deref().and_then(|v| v.parse().ok()).expect("id");
        let kept = id != 3 && id != 4;
        assert_eq!(row[1].is_some(), kept, "{row:?}");
    }
    let status = text(&cli(&["status", &tenant], &[QUIET])).0;
    assert!(status.contains("dropped note"), "{status}");
    // Reported once: the next run says nothing of it.
    sf.execute("UPDATE PUBLIC.DEALS SET UPDATED_AT = '2026-04-01'::TIMESTAMP_NTZ WHERE ID = 9")
        .await
        .expect("update");
    let again = pull(&tenant, &[]);
    assert!(again.get("schema_changes").is_none(), "{again}");
    assert_eq!(platform(&stack, &tenant, "note").await[8], vec![None]);
}

#[tokio::test]
async fn widened_types_change_in_place_and_an_incompatible_one_fails_with_config() {
    let stack = spawn_stack().await;
    let (tenant, sf) = deals(&stack, CREATE).await;
    pull(&tenant, &[]);
    assert_eq!(column_type(&stack, &tenant, "id").await, "bigint");
    // NUMBER(10,0) -> NUMBER(38,0), NUMBER(10,2) -> NUMBER(12,2), VARCHAR(50) -> VARCHAR(500),
    // TIMESTAMP_NTZ(3) -> (9): the same rows, wider types, one row changed.
    sf.execute("CREATE TABLE PUBLIC.WIDE (ID NUMBER(38,0), UPDATED_AT TIMESTAMP_NTZ(9), AMOUNT NUMBER(12,2), NOTE VARCHAR(500))")
        .await
        .expect("create");
    sf.execute("INSERT INTO PUBLIC.WIDE SELECT * FROM PUBLIC.DEALS")
        .await
        .expect("copy");
    sf.execute("DROP TABLE PUBLIC.DEALS").await.expect("drop");
    sf.execute("ALTER TABLE PUBLIC.WIDE RENAME TO PUBLIC.DEALS")
        .await
        .expect("rename");
    sf.execute("UPDATE PUBLIC.DEALS SET AMOUNT = 1234567890.12, UPDATED_AT = '2026-03-01'::TIMESTAMP_NTZ WHERE ID = 2")
        .await
        .expect("update");
    sf.execute("INSERT INTO PUBLIC.DEALS VALUES (123456789012, '2026-03-01 00:00:00.123456789'::TIMESTAMP_NTZ, 1, 'wide')")
        .await
        .expect("insert");
    let report = pull(&tenant, &[]);
    assert_eq!(backfills(&tenant), 1, "{report}");
    let changes = report["schema_changes"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        changes.contains("widened ID from bigint to numeric(38,0)")
            && changes.contains("widened AMOUNT from numeric(10,2) to numeric(12,2)"),
        "{report}"
    );
    assert_eq!(column_type(&stack, &tenant, "id").await, "numeric(38,0)");
    assert_eq!(
        platform(&stack, &tenant, "id::text, amount::text, note").await,
        source(&sf, "TO_VARCHAR(ID), TO_VARCHAR(AMOUNT), NOTE").await
    );

    // TEXT -> NUMBER: refused, naming the column, both types and the fix.
    sf.execute("CREATE TABLE PUBLIC.BAD (ID NUMBER(38,0), UPDATED_AT TIMESTAMP_NTZ(9), AMOUNT NUMBER(12,2), NOTE NUMBER(10,0))")
        .await
        .expect("create");
    sf.execute("DROP TABLE PUBLIC.DEALS").await.expect("drop");
    sf.execute("ALTER TABLE PUBLIC.BAD RENAME TO PUBLIC.DEALS")
        .await
        .expect("rename");
    let out = cli(&["pull", &tenant], &[QUIET]);
    let (stdout, _) = text(&out);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains("config: column NOTE")
            && stdout.contains("from text")
            && stdout.contains("to bigint")
            && stdout.contains("--backfill"),
        "{stdout}"
    );
    pull(&tenant, &["--backfill"]);
    assert_eq!(column_type(&stack, &tenant, "note").await, "bigint");
}

#[tokio::test]
async fn a_column_added_while_a_backfill_is_in_progress_goes_into_its_staging_table() {
    let stack = spawn_stack().await;
    let (tenant, sf) = deals(&stack, CREATE).await;
    let mut deps = stack.deps.clone();
    deps.settings.page_rows = 40;
    // A backfill stopped by its deadline, hop after hop, until rows are staged.
    let mut read = 0;
    let mut hops = 0;
    while read == 0 {
        let event = serde_json::json!({ "tenant": tenant, "mode": "backfill", "hop": hops });
        let (_, r) = crate::helpers::near_deadline::<snowsync::pull::PullEvent>(
            &deps,
            "snowsync-pull",
            event,
        )
        .await;
        assert_eq!(r["tables"][0]["outcome"], "continued", "{r}");
        read += r["tables"][0]["rows_read"].as_u64().expect("rows");
        hops += 1;
    }
    assert!(read < 200, "{read}");
    sf.execute("ALTER TABLE PUBLIC.DEALS ADD COLUMN REGION VARCHAR")
        .await
        .expect("add column");
    sf.execute("UPDATE PUBLIC.DEALS SET REGION = 'r' || (ID % 3)")
        .await
        .expect("fill");
    // The scheduled runs carry the backfill on (its staging table takes the column), swap it
    // in, then fill the column in the rows staged before.
    loop {
        let t = pull_near_deadline(&deps, &tenant, hops).await["tables"][0].clone();
        read += t["rows_read"].as_u64().expect("rows");
        if t["outcome"] == "complete" {
            break;
        }
        assert_eq!(t["outcome"], "continued", "{t}");
        hops += 1;
        assert!(hops < 40, "never finished: {t}");
    }
    assert_eq!(read, 200, "the backfill was not started over");
    assert_eq!(
        platform(&stack, &tenant, "id::text, note, region").await,
        source(&sf, "TO_VARCHAR(ID), NOTE, REGION").await
    );
}
