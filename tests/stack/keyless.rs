//! Keyless tables against an emulator that sends results in chunks: one query, its result
//! streamed chunk by chunk into the staging table; a killed run resumes from the persisted
//! result (`GET /queries/<id>/result`), one whose result is gone starts over, a run near its
//! deadline hops, and the live table is never half-loaded. Duplicate rows are kept: without a
//! key, two equal rows are two rows.

use snowsync::state::Direction;

use crate::helpers::{
    checkpoint_of, cli, emulator_get, lease_lapsed, progress, pull_near_deadline, secret,
    spawn_stack, tenant_toml, text, unique, wait_for_pages, Emulator, Faults, Spawned, TestStack,
    EMULATOR_ARGS_VAR,
};

/// Distinct rows of the source; the first [`DOUBLED`] of them are there twice.
const DISTINCT: u32 = 12_000;
const DOUBLED: u32 = 500;
const ROWS: u64 = (DISTINCT + DOUBLED) as u64;
/// Rows per chunk of the test's emulator, and per page of the pull.
const CHUNK_ROWS: &str = "250";
const PAGE_ROWS: &str = "1000";

/// An emulator of the test's own (the stack's behaviour, realistic in that pass) that splits
/// every result of more than [`CHUNK_ROWS`] rows into chunks.
async fn chunked_emulator() -> Emulator {
    let env = std::env::var(EMULATOR_ARGS_VAR).unwrap_or_default();
    let mut args: Vec<&str> = env.split_whitespace().collect();
    args.extend(["--chunk-rows", CHUNK_ROWS]);
    Emulator::start_with(&args).await
}

/// Row `i` of the seeding formula: kind, amount, seen_at, as PostgreSQL prints them.
fn row(i: u32) -> Vec<Option<String>> {
    let s = i % 3000;
    vec![
        Some(format!("k{}", i % 7)),
        Some(format!("{}.{:02}", i % 1000 / 4, i % 4 * 25)),
        Some(format!("2026-01-01 00:{:02}:{:02}", s / 60, s % 60)),
    ]
}

/// The source's rows, sorted, computed from the seeding formula.
fn source_rows() -> Vec<Vec<Option<String>>> {
    let mut rows: Vec<_> = (0..DISTINCT).chain(0..DOUBLED).map(row).collect();
    rows.sort();
    rows
}

/// A test's stack, its chunked emulator, and a tenant pulling the keyless `EVENTS` table from
/// it: 12,500 rows, 500 of them twice.
struct Keyless {
    stack: TestStack,
    emulator: Emulator,
    tenant: String,
    /// The table as progress and run records name it (DB.PUBLIC.EVENTS).
    object: String,
    /// The tenant's PostgreSQL schema.
    schema: String,
    url: String,
}

async fn keyless() -> Keyless {
    let stack = spawn_stack().await;
    let emulator = chunked_emulator().await;
    let db = unique("DB_").to_uppercase();
    let sf = emulator.admin(&db).await;
    sf.execute(
        "CREATE TABLE PUBLIC.EVENTS (KIND VARCHAR, AMOUNT NUMBER(12,2), SEEN_AT TIMESTAMP_NTZ)",
    )
    .await
    .expect("create");
    for n in [DISTINCT, DOUBLED] {
        sf.execute(&format!("INSERT INTO PUBLIC.EVENTS SELECT 'k' || (SEQ4() % 7), (SEQ4() % 1000) / 4, DATEADD('second', SEQ4() % 3000, '2026-01-01'::TIMESTAMP_NTZ) FROM TABLE(GENERATOR(ROWCOUNT => {n}))"))
            .await
            .expect("insert");
    }
    let tenant = unique("t-");
    let toml = tenant_toml(
        &tenant,
        &db,
        &unique("SVC_").to_uppercase(),
        "[[pull]]\ntable = \"EVENTS\"\n",
    );
    let schema = stack
        .onboard(&toml, &secret("pw-"))
        .await
        .tenant
        .pg_schema();
    let url = emulator.url();
    Keyless {
        stack,
        emulator,
        tenant,
        object: format!("{db}.PUBLIC.EVENTS"),
        schema,
        url,
    }
}

/// The live table's rows, sorted; `None` when there is no live table yet.
async fn live_rows(stack: &TestStack, schema: &str) -> Option<Vec<Vec<Option<String>>>> {
    let exists = stack
        .pg_text(&format!("SELECT to_regclass('\"{schema}\".events')::text"))
        .await;
    exists[0][0].as_ref()?;
    let mut rows = stack
        .pg_text(&format!(
            "SELECT kind, amount::text, seen_at::text FROM \"{schema}\".events"
        ))
        .await;
    rows.sort();
    Some(rows)
}

async fn assert_exact(stack: &TestStack, schema: &str) {
    let got = live_rows(stack, schema).await.expect("the live table");
    assert_eq!(got.len() as u64, ROWS, "rows in {schema}.events");
    assert!(
        got == source_rows(),
        "{schema}.events differs from the source"
    );
}

/// `GET /_emulator/chunk_stats` of `emulator`: how often a persisted result was read again.
async fn persisted_reads(emulator: &Emulator) -> u64 {
    emulator_get(&emulator.url(), "chunk_stats").await["persisted_reads"]
        .as_u64()
        .expect("persisted_reads")
}

/// The pull's environment: the test's emulator, pages of [`PAGE_ROWS`], a short lease.
fn env(url: &str) -> [(&'static str, &str); 3] {
    [
        ("SNOWSYNC_SNOWFLAKE_URL", url),
        ("SNOWSYNC_PAGE_ROWS", PAGE_ROWS),
        ("SNOWSYNC_LEASE_TTL_SECS", "2"),
    ]
}

/// The rows a `snowsync pull` report line says were read.
fn rows_read(stdout: &str) -> u64 {
    stdout
        .split_whitespace()
        .skip_while(|w| *w != "read")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no row count in {stdout}"))
}

/// Runs `snowsync pull <tenant>`, SIGKILLs it once it has checkpointed `pages` pages, and
/// waits for its lease to lapse; returns the checkpoint it left.
async fn killed_after(
    stack: &TestStack,
    (tenant, object): (&str, &str),
    env: &[(&str, &str)],
    pages: u64,
) -> serde_json::Value {
    let mut child = Spawned::snowsync(&["pull", tenant], env);
    wait_for_pages(stack, tenant, object, pages, &mut child).await;
    assert!(
        child.try_wait().expect("wait").is_none(),
        "the run ended before its kill"
    );
    child.kill().expect("SIGKILL");
    child.finish();
    lease_lapsed(stack, tenant, Direction::Pull, object).await;
    checkpoint_of(&progress(stack, tenant, Direction::Pull, object).await).expect("a checkpoint")
}

#[tokio::test]
async fn a_killed_keyless_pull_reads_on_from_its_persisted_result_and_starts_over_once_it_is_gone()
{
    let k = keyless().await;
    let env = env(&k.url);
    let out = cli(&["pull", &k.tenant], &env);
    assert!(out.status.success(), "{:?}", text(&out));
    assert_exact(&k.stack, &k.schema).await;

    // Killed mid-read: the live table still holds the last full copy, and the checkpoint names
    // the query and the next part of its result.
    let cp = killed_after(&k.stack, (&k.tenant, &k.object), &env, 4).await;
    assert_exact(&k.stack, &k.schema).await;
    let done = cp["rows"].as_u64().expect("rows");
    assert!(done >= 3000, "{cp}");
    assert!(
        cp["result"]["query_id"]
            .as_str()
            .is_some_and(|q| !q.is_empty())
            && cp["result"]["next_part"].as_u64().is_some_and(|p| p > 1),
        "{cp}"
    );
    let before = persisted_reads(&k.emulator).await;
    let out = cli(&["pull", &k.tenant], &env);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert_eq!(
        persisted_reads(&k.emulator).await - before,
        1,
        "read on from the persisted result"
    );
    assert_eq!(
        rows_read(&stdout),
        ROWS - done,
        "only the rows after the checkpoint were read: {stdout}"
    );
    assert_exact(&k.stack, &k.schema).await;

    // Killed again, and the result expires meanwhile (Snowflake keeps one 24 hours): the next
    // run reads the table again, into an emptied staging table.
    killed_after(&k.stack, (&k.tenant, &k.object), &env, 4).await;
    let expired = reqwest::Client::new()
        .post(format!("{}/_emulator/expire_results", k.url))
        .body("{}")
        .send()
        .await
        .expect("expire results");
    assert!(expired.status().is_success());
    let out = cli(&["pull", &k.tenant], &env);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert_eq!(rows_read(&stdout), ROWS, "started over: {stdout}");
    assert_exact(&k.stack, &k.schema).await;
}

#[tokio::test]
async fn seeded_sigkills_of_a_keyless_pull_never_leave_a_half_loaded_table_or_a_doubled_row() {
    let k = keyless().await;
    let env = env(&k.url);
    let mut faults = Faults::seeded("keyless-sigkills");
    let window = faults.kill_window(&["pull", &k.tenant], &env);
    while faults.wants_kills(10) {
        faults.kill_run(&["pull", &k.tenant], &env, window).await;
        lease_lapsed(&k.stack, &k.tenant, Direction::Pull, &k.object).await;
        // Readers see the whole table or none (before the first swap), never part of it.
        assert_exact(&k.stack, &k.schema).await;
    }
    let out = cli(&["pull", &k.tenant], &env);
    assert!(out.status.success(), "{:?}", text(&out));
    assert_exact(&k.stack, &k.schema).await;
}

#[tokio::test]
async fn a_keyless_pull_near_its_deadline_hops_and_each_hop_reads_on_from_the_persisted_result() {
    let k = keyless().await;
    let mut deps = k.stack.deps.clone();
    deps.endpoint = snowsync::snowflake::Endpoint::override_with(&k.url).expect("url");
    deps.settings.page_rows = 3000;
    let mut hop = 0u32;
    let mut total_read = 0;
    loop {
        let result = pull_near_deadline(&deps, &k.tenant, hop).await;
        let t = &result["tables"][0];
        total_read += t["rows_read"].as_u64().expect("rows");
        if t["outcome"] == "complete" {
            break;
        }
        assert_eq!(t["outcome"], "continued", "{result}");
        assert_eq!(t["pages"].as_u64(), Some(1), "one page per hop: {result}");
        // Until the swap, the live table does not exist: nobody reads a part of it.
        assert!(live_rows(&k.stack, &k.schema).await.is_none());
        hop += 1;
        assert!(hop < 20, "no end in sight");
    }
    assert!(hop >= 3, "the run hopped {hop} times");
    assert_eq!(
        persisted_reads(&k.emulator).await,
        u64::from(hop),
        "every hop read on from the persisted result"
    );
    assert_eq!(total_read, ROWS, "no row read twice across hops");
    assert_exact(&k.stack, &k.schema).await;
}
