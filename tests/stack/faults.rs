//! Snowflake faults, injected by the emulator per user (`POST /_emulator/faults`): HTTP 503 and
//! 429 (the client retries), expired sessions (we log in again), slow responses, and a burst
//! that outlasts the retries (the run fails `transient`; the next one resumes); a lease taken
//! over mid-run (DynamoDB conditional writes refuse the old holder's checkpoint); the emulator
//! killed and restarted mid-run; PostgreSQL connections dropped. After each, the destination
//! equals the source exactly.

use crate::helpers::{
    cli, lease_lapsed, secret, spawn_stack, text, unique, wait_for_pages, Emulator, Spawned,
    TestStack,
};
use snowsync::lambda::{Budget, Job};
use snowsync::pull::PullEvent;
use snowsync::runner::Mode;
use snowsync::state::Direction;

async fn arm(user: &str, kind: &str, every: u32, count: u32, delay_ms: u32) {
    arm_after(user, kind, every, count, delay_ms, 0).await;
}

/// Like [`arm`], counting only the queries after the first `after`.
async fn arm_after(user: &str, kind: &str, every: u32, count: u32, delay_ms: u32, after: u32) {
    let base = std::env::var("SNOWSYNC_SNOWFLAKE_URL").expect("url");
    crate::helpers::arm_fault(&base, user, kind, every, count, delay_ms, after).await;
}

async fn injected(user: &str) -> u64 {
    let base = std::env::var("SNOWSYNC_SNOWFLAKE_URL").expect("url");
    crate::helpers::emulator_get(&base, &format!("faults?user={user}")).await["injected"]
        .as_u64()
        .unwrap_or(0)
}

const LEDGER: &str =
    "[[pull]]\ntable = \"LEDGER\"\ncursor = \"UPDATED_AT\"\nprimary_key = [\"ID\"]\n";

/// `LEDGER (ID, UPDATED_AT, AMOUNT)` with `rows` rows: id n+1, one second apart from
/// 2026-01-01, amount n/4 (see [`exact`]).
async fn ledger(sf: &snowsync::snowflake::Session, rows: u32) {
    sf.execute("CREATE TABLE PUBLIC.LEDGER (ID NUMBER(38,0), UPDATED_AT TIMESTAMP_NTZ, AMOUNT NUMBER(12,2))")
        .await
        .expect("create");
    sf.execute(&format!("INSERT INTO PUBLIC.LEDGER SELECT SEQ4() + 1, DATEADD('second', SEQ4(), '2026-01-01'::TIMESTAMP_NTZ), SEQ4() / 4 FROM TABLE(GENERATOR(ROWCOUNT => {rows}))"))
        .await
        .expect("insert");
}

/// A tenant (own user) pulling a 600-row [`ledger`]; returns (tenant, user, schema).
async fn faulty_tenant(stack: &TestStack) -> (String, String, String) {
    faulty_tenant_with(stack, 600).await
}

/// A tenant whose login is `FAULTY_…` (faults are armed per user) and its ledger of `rows`.
async fn faulty_tenant_with(stack: &TestStack, rows: u32) -> (String, String, String) {
    let tenant = unique("t-");
    let user = unique("FAULTY_").to_uppercase();
    let db = unique("DB_").to_uppercase();
    ledger(&stack.snowflake(&db).await, rows).await;
    let toml = crate::helpers::tenant_toml(&tenant, &db, &user, LEDGER);
    let cfg = stack.onboard(&toml, &secret("pw-")).await;
    (tenant, user, cfg.tenant.pg_schema())
}

async fn pull(stack: &TestStack, tenant: &str) -> snowsync::runner::ObjectReport {
    let mut deps = stack.deps.clone();
    deps.settings.page_rows = 50;
    let event = PullEvent {
        tenant: tenant.to_owned(),
        tables: None,
        mode: Mode::Incremental,
        hop: 0,
        ..Default::default()
    };
    event
        .run(&deps, &unique("run-"), &Budget::default())
        .await
        .expect("pull")
        .objects
        .remove(0)
}

/// The rows of a [`ledger`] of `n` rows, as PostgreSQL prints them (`id`, `updated_at`,
/// `amount`), computed here from the seeding formula rather than read from the source.
fn ledger_rows(n: u32) -> Vec<Vec<Option<String>>> {
    (0..n)
        .map(|i| {
            vec![
                Some((i + 1).to_string()),
                Some(format!(
                    "2026-01-01 {:02}:{:02}:{:02}",
                    i / 3600,
                    i / 60 % 60,
                    i % 60
                )),
                Some(format!("{}.{:02}", i / 4, i % 4 * 25)),
            ]
        })
        .collect()
}

/// The tenant's copy of a [`ledger`] of `n` rows holds exactly its rows, value for value.
async fn exact(stack: &TestStack, schema: &str, n: u32) {
    exact_rows(stack, schema, ledger_rows(n)).await;
}

/// The tenant's ledger holds exactly `want` (ordered by id), every column compared.
async fn exact_rows(stack: &TestStack, schema: &str, want: Vec<Vec<Option<String>>>) {
    let got = stack
        .pg_text(&format!(
            "SELECT id::text, updated_at::text, amount::text FROM \"{schema}\".ledger l ORDER BY l.id"
        ))
        .await;
    assert_eq!(got.len(), want.len(), "rows in {schema}.ledger");
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g, w, "{schema}.ledger");
    }
}

#[tokio::test]
async fn pulls_survive_5xx_429_expired_sessions_and_slow_responses_exactly() {
    let stack = spawn_stack().await;
    for (kind, every, count, delay) in [
        ("http_503", 3, 3, 0),
        ("http_429", 4, 3, 0),
        ("expired", 3, 4, 0),
        ("delay", 2, 6, 400),
    ] {
        let (tenant, user, schema) = faulty_tenant(&stack).await;
        arm(&user, kind, every, count, delay).await;
        let r = pull(&stack, &tenant).await;
        assert_eq!(r.outcome.as_str(), "complete", "{kind}: {r:?}");
        assert_eq!(
            injected(&user).await,
            u64::from(count),
            "{kind}: every fault was injected"
        );
        exact(&stack, &schema, 600).await;
    }
}

#[tokio::test]
async fn a_burst_of_errors_beyond_the_retries_fails_transient_and_the_next_run_resumes() {
    let stack = spawn_stack().await;
    let (tenant, user, schema) = faulty_tenant(&stack).await;
    // Eight queries succeed (session setup, describe, MAX, the first pages), then ten in a
    // row fail: more than the client's three retries, even shared by the three requests a run
    // keeps in flight (two pages and a boundary pre-scan).
    arm_after(&user, "http_503", 1, 10, 0, 8).await;
    let first = pull(&stack, &tenant).await;
    assert_eq!(first.outcome.as_str(), "failed", "{first:?}");
    assert_eq!(
        first.error_kind.map(|k| k.as_str()),
        Some("transient"),
        "{first:?}"
    );
    // The failed run's other requests were dropped mid-burst: what is left of it must not
    // fail the next run too.
    arm(&user, "http_503", 1, 0, 0).await;
    let id = snowsync::tenant::config::TenantId::parse(&tenant).expect("id");
    let object = format!("{}.PUBLIC.LEDGER", stack_db(&stack, &tenant).await);
    let stored = stack
        .deps
        .state
        .progress(&id, snowsync::state::Direction::Pull, &object)
        .await
        .expect("progress");
    assert!(
        stored.checkpoint.is_some(),
        "the failed run left its checkpoint"
    );
    let second = pull(&stack, &tenant).await;
    assert_eq!(second.outcome.as_str(), "complete", "{second:?}");
    assert!(
        second.rows_read < 600,
        "the second run resumed instead of starting over: {second:?}"
    );
    exact(&stack, &schema, 600).await;
}

#[tokio::test]
async fn rows_written_into_a_planned_range_mid_backfill_are_read_on_from_its_full_page() {
    // The pre-scan cuts the backfill into ranges of 50 rows; every query is slowed down, and
    // once a few pages are in, 100 rows land inside a range not yet read (between seconds 700
    // and 701). That range comes back full (LIMIT 54) and must be read on from its last key:
    // a run that took a full range page as the whole range would lose 50 of them.
    let stack = spawn_stack().await;
    let (tenant, user, schema) = faulty_tenant_with(&stack, 1_000).await;
    arm(&user, "delay", 1, 400, 150).await;
    let db = stack_db(&stack, &tenant).await;
    let child = midway(
        &stack,
        &["pull", &tenant, "--backfill"],
        &[("SNOWSYNC_PAGE_ROWS", "50")],
        (&tenant, &db, 3),
        "the insert",
    )
    .await;
    stack
        .snowflake(&db)
        .await
        .execute("INSERT INTO PUBLIC.LEDGER SELECT 10001 + SEQ4(), DATEADD('millisecond', SEQ4() + 1, '2026-01-01 00:11:40'::TIMESTAMP_NTZ), 0 FROM TABLE(GENERATOR(ROWCOUNT => 100))")
        .await
        .expect("insert");
    let (status, output) = child.finish();
    assert!(status.success(), "{output}");
    // The ledger's 1,000 rows, then the 100 written mid-run: 1 ms apart after 00:11:40, amount 0.
    let mut want = ledger_rows(1_000);
    want.extend((0..100u32).map(|k| {
        vec![
            Some((10_001 + k).to_string()),
            Some(
                format!("2026-01-01 00:11:40.{:03}", k + 1)
                    .trim_end_matches('0')
                    .to_owned(),
            ),
            Some("0.00".to_owned()),
        ]
    }));
    exact_rows(&stack, &schema, want).await;
}

/// Starts `snowsync <args>` and waits until its pull of the tenant's `db`.PUBLIC.LEDGER has
/// checkpointed `pages` pages, the run still going (for `what` to happen mid-run).
async fn midway(
    stack: &TestStack,
    args: &[&str],
    env: &[(&str, &str)],
    (tenant, db, pages): (&str, &str, u64),
    what: &str,
) -> Spawned {
    let mut child = Spawned::snowsync(args, env);
    let object = format!("{db}.PUBLIC.LEDGER");
    wait_for_pages(stack, tenant, &object, pages, &mut child).await;
    assert!(
        child.try_wait().expect("wait").is_none(),
        "the run ended before {what}"
    );
    child
}

/// The database of a tenant's config.
async fn stack_db(stack: &TestStack, tenant: &str) -> String {
    let id = snowsync::tenant::config::TenantId::parse(tenant).expect("id");
    let text = stack
        .deps
        .state
        .get_config(&id)
        .await
        .expect("config")
        .expect("stored");
    snowsync::tenant::config::TenantConfig::parse(&text)
        .expect("parse")
        .snowflake
        .database
        .name()
        .to_owned()
}

#[tokio::test]
async fn dropped_postgres_connections_fail_a_run_at_worst_and_the_next_one_is_exact() {
    let stack = spawn_stack().await;
    let (tenant, _user, schema) = faulty_tenant(&stack).await;
    // This run's sessions carry an application_name of their own, so that dropping them leaves
    // the other tests' sessions alone.
    let app = unique("snowsync-drop-");
    let url = std::env::var("SNOWSYNC_DATABASE_URL").expect("database url");
    let sep = if url.contains('?') { '&' } else { '?' };
    let url = format!("{url}{sep}application_name={app}");
    let env = [
        ("SNOWSYNC_PAGE_ROWS", "20"),
        ("SNOWSYNC_LEASE_TTL_SECS", "2"),
        ("SNOWSYNC_DATABASE_URL", url.as_str()),
    ];
    let mut child = Spawned::snowsync(&["pull", &tenant, "--table", "LEDGER"], &env);
    // Drop every session of this run, repeatedly, while the run goes on.
    let mut dropped = 0i64;
    for _ in 0..40 {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        let rows = stack
            .pg_text(&format!("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = '{app}'"))
            .await;
        dropped += rows[0][0]
            .as_deref()
            .and_then(|n| n.parse::<i64>().ok())
            .unwrap_or(0);
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    child.finish();
    assert!(dropped > 0, "no connection was dropped mid-run");
    // The interrupted run may have failed; within a few runs the destination is exact.
    let object = format!("{}.PUBLIC.LEDGER", stack_db(&stack, &tenant).await);
    let mut last = None;
    for _ in 0..3 {
        lease_lapsed(&stack, &tenant, Direction::Pull, &object).await;
        let out = cli(&["pull", &tenant], &env);
        if out.status.success() {
            last = Some(out);
            break;
        }
    }
    assert!(last.is_some(), "no run completed after the drops");
    exact(&stack, &schema, 600).await;
}

#[tokio::test]
async fn a_lease_taken_over_mid_run_refuses_the_old_holders_checkpoint() {
    let stack = spawn_stack().await;
    let (tenant, user, schema) = faulty_tenant(&stack).await;
    let id = snowsync::tenant::config::TenantId::parse(&tenant).expect("id");
    let object = format!("{}.PUBLIC.LEDGER", stack_db(&stack, &tenant).await);
    // Mid-run (after 6 queries), three queries answer after 2.5 s: the run's 1 s lease lapses.
    arm_after(&user, "delay", 1, 3, 2500, 6).await;
    let mut deps = stack.deps.clone();
    deps.settings.page_rows = 50;
    deps.settings.lease_ttl = std::time::Duration::from_secs(1);
    let event = PullEvent {
        tenant: tenant.clone(),
        tables: None,
        mode: Mode::Incremental,
        hop: 0,
        ..Default::default()
    };
    let victim = tokio::spawn(async move { event.run(&deps, "victim", &Budget::default()).await });
    // Another holder takes the lapsed lease while the victim waits on Snowflake.
    let started = std::time::Instant::now();
    while injected(&user).await == 0 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "no delay injected"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let state = &stack.deps.state;
    let dir = snowsync::state::Direction::Pull;
    let ttl = std::time::Duration::from_secs(120);
    while !state
        .acquire_lease(&id, dir, &object, "thief", ttl)
        .await
        .expect("lease")
    {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "lease never lapsed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let r = victim.await.expect("join").expect("pull").objects.remove(0);
    assert_eq!(r.outcome.as_str(), "failed", "{r:?}");
    assert_eq!(r.error_kind.map(|k| k.as_str()), Some("transient"), "{r:?}");
    assert!(r.error.as_deref().unwrap_or("").contains("lease"), "{r:?}");
    let stored = state.progress(&id, dir, &object).await.expect("progress");
    assert!(
        stored.watermark.is_none(),
        "the old holder moved the watermark: {stored:?}"
    );
    assert_eq!(
        stored.lease.as_ref().map(|(owner, _)| owner.as_str()),
        Some("thief"),
        "the new holder keeps the lease"
    );
    // The old holder's own writes, tried again now: each is refused as a lost lease, and the
    // stored checkpoint and watermark stay as they were.
    let before = (stored.checkpoint.clone(), stored.watermark.clone());
    let refused = state
        .save_checkpoint(&id, dir, &object, "victim", r#"{"stale":true}"#, ttl)
        .await
        .expect_err("a checkpoint from the old holder");
    assert!(refused.to_string().contains("lease"), "{refused}");
    let refused = state
        .complete_progress(&id, dir, &object, "victim", Some("int:999999"))
        .await
        .expect_err("a completion from the old holder");
    assert!(refused.to_string().contains("lease"), "{refused}");
    let after = state.progress(&id, dir, &object).await.expect("progress");
    assert_eq!((after.checkpoint, after.watermark), before);
    // While the new holder keeps it, runs skip; once it lets go, the next run is exact.
    assert_eq!(
        pull(&stack, &tenant).await.outcome.as_str(),
        "skipped_locked"
    );
    state
        .release_lease(&id, dir, &object, "thief")
        .await
        .expect("release");
    assert_eq!(pull(&stack, &tenant).await.outcome.as_str(), "complete");
    exact(&stack, &schema, 600).await;
}

#[tokio::test]
async fn an_emulator_restart_mid_run_fails_it_transient_at_worst_and_the_next_run_is_exact() {
    let stack = spawn_stack().await;
    let mut emulator = Emulator::start().await;
    let db = unique("DB_").to_uppercase();
    ledger(&emulator.admin(&db).await, 3000).await;
    let tenant = unique("t-");
    let toml = crate::helpers::tenant_toml(&tenant, &db, "SVC", LEDGER);
    let schema = stack
        .onboard(&toml, &secret("pw-"))
        .await
        .tenant
        .pg_schema();
    let url = emulator.url();
    let env = [
        ("SNOWSYNC_SNOWFLAKE_URL", url.as_str()),
        ("SNOWSYNC_PAGE_ROWS", "50"),
        ("SNOWSYNC_LEASE_TTL_SECS", "2"),
    ];
    let child = midway(
        &stack,
        &["pull", &tenant],
        &env,
        (&tenant, &db, 5),
        "the restart",
    )
    .await;
    emulator.kill();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    emulator.restart().await;
    let (status, output) = child.finish();
    // The client's retries may bridge the restart (the table completes); if not, the table
    // fails with the kind `transient` and no other.
    let line = output
        .lines()
        .find(|l| l.starts_with(&format!("{db}.PUBLIC.LEDGER ")))
        .unwrap_or_else(|| panic!("no report line: {output}"));
    if status.success() {
        assert!(line.contains(" complete "), "{output}");
    } else {
        assert!(line.contains(" failed "), "{output}");
        let kinds: Vec<&str> = output
            .lines()
            .filter_map(|l| l.strip_prefix("  ")?.split_once(": ").map(|(k, _)| k))
            .collect();
        assert_eq!(kinds, ["transient"], "{output}");
    }
    lease_lapsed(
        &stack,
        &tenant,
        Direction::Pull,
        &format!("{db}.PUBLIC.LEDGER"),
    )
    .await;
    let out = cli(&["pull", &tenant], &env);
    assert!(out.status.success(), "{:?}", text(&out));
    exact(&stack, &schema, 3000).await;
}
