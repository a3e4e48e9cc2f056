//! Exact incremental pulls: shared cursor values across page boundaries, updates and late rows
//! inside the lookback window, rows a microsecond either side of the watermark, SIGKILL in the
//! middle of a backfill at several points, and the lease.

use std::time::Duration;

use snowsync::lambda::{Budget, Job};
use snowsync::pull::PullEvent;
use snowsync::runner::Mode;
use snowsync::state::Direction;
use snowsync::tenant::config::TenantId;

use crate::helpers::{
    checkpoint_of, cli, lease_lapsed, pg_schema, progress, pull_near_deadline, rows_returned,
    secret, spawn_stack, tenant_toml, text, unique, wait_for_pages, Faults, Spawned, TestStack,
};

const TABLE: &str =
    "[[pull]]\ntable = \"DEALS\"\ncursor = \"UPDATED_AT\"\nprimary_key = [\"ID\"]\n";

/// A tenant pulling `DEALS (ID, UPDATED_AT TIMESTAMP_NTZ, AMOUNT NUMBER(12,2), NOTE VARCHAR)`.
pub(crate) async fn deals(
    stack: &TestStack,
    extra: &str,
) -> (String, String, snowsync::snowflake::Session) {
    deals_as(stack, "SVC", extra).await
}

/// [`deals`], logging in as `user` (whose reads the emulator counts apart).
async fn deals_as(
    stack: &TestStack,
    user: &str,
    extra: &str,
) -> (String, String, snowsync::snowflake::Session) {
    let tenant = unique("t-");
    let db = unique("DB_").to_uppercase();
    let sf = stack.snowflake(&db).await;
    sf.execute("CREATE TABLE PUBLIC.DEALS (ID NUMBER(38,0), UPDATED_AT TIMESTAMP_NTZ(9), AMOUNT NUMBER(12,2), NOTE VARCHAR)")
        .await
        .expect("create");
    stack
        .onboard(
            &tenant_toml(&tenant, &db, user, &format!("{TABLE}{extra}")),
            &secret("pw-"),
        )
        .await;
    (tenant, db, sf)
}

async fn pull(
    stack: &TestStack,
    tenant: &str,
    mode: Mode,
    page_rows: usize,
) -> snowsync::runner::ObjectReport {
    let mut deps = stack.deps.clone();
    deps.settings.page_rows = page_rows;
    let event = PullEvent {
        tenant: tenant.to_owned(),
        tables: None,
        mode,
        hop: 0,
        ..Default::default()
    };
    let report = event
        .run(&deps, &unique("run-"), &Budget::default())
        .await
        .expect("pull");
    report.objects.into_iter().next().expect("one table")
}

/// The destination's rows as `id|updated_at|amount|note` lines, ordered by id.
pub(crate) async fn dest(stack: &TestStack, tenant: &str) -> Vec<String> {
    let schema = pg_schema(tenant);
    stack
        .pg_text(&format!(
            "SELECT id::text || '|' || coalesce(updated_at::text, 'NULL') || '|' || amount::text || '|' || coalesce(note, 'NULL') \
             FROM \"{schema}\".deals ORDER BY id"
        ))
        .await
        .into_iter()
        .map(|r| r[0].clone().unwrap_or_default())
        .collect()
}

/// The source's rows in the same form, read through the admin session.
pub(crate) async fn source(sf: &snowsync::snowflake::Session) -> Vec<String> {
    source_where(sf, "TRUE").await
}

/// The source's rows matching `filter` (SQL), in the form of [`dest`].
async fn source_where(sf: &snowsync::snowflake::Session, filter: &str) -> Vec<String> {
    let batches = sf
        .query(&format!("SELECT TO_VARCHAR(ID) || '|' || COALESCE(TO_VARCHAR(UPDATED_AT, 'YYYY-MM-DD HH24:MI:SS.FF6'), 'NULL') || '|' || TO_VARCHAR(AMOUNT) || '|' || COALESCE(NOTE, 'NULL') AS R, ID FROM PUBLIC.DEALS WHERE {filter} ORDER BY ID"))
        .await
        .expect("read source");
    let mut rows: Vec<(i64, String)> = Vec::new();
    for b in &batches {
        for i in 0..b.num_rows() {
            let id = snowsync::snowflake::int_at(b, 1, i).expect("id");
            let line = snowsync::snowflake::text_at(b, 0, i).expect("row");
            // PostgreSQL prints timestamps without trailing zero fractions.
            rows.push((id, normalise_ts(&line)));
        }
    }
    rows.sort();
    rows.into_iter().map(|(_, l)| l).collect()
}

fn normalise_ts(line: &str) -> String {
    let parts: Vec<&str> = line.split('|').collect();
    let ts = parts[1];
    let ts = if ts.contains('.') {
        ts.trim_end_matches('0').trim_end_matches('.')
    } else {
        ts
    };
    format!("{}|{}|{}|{}", parts[0], ts, parts[2], parts[3..].join("|"))
}

async fn watermark(stack: &TestStack, tenant: &str, db: &str) -> Option<String> {
    stack
        .deps
        .state
        .progress(
            &TenantId::parse(tenant).expect("id"),
            Direction::Pull,
            &format!("{db}.PUBLIC.DEALS"),
        )
        .await
        .expect("progress")
        .watermark
}

/// The rows an unfinished run of DEALS has committed so far (its checkpoint), 0 without one.
async fn checkpointed_rows(stack: &TestStack, tenant: &str, db: &str) -> u64 {
    checkpoint(stack, tenant, db)
        .await
        .and_then(|c| c["rows"].as_u64())
        .unwrap_or(0)
}

/// The stored checkpoint of DEALS, if a run is unfinished.
pub(crate) async fn checkpoint(
    stack: &TestStack,
    tenant: &str,
    db: &str,
) -> Option<serde_json::Value> {
    checkpoint_of(
        &progress(
            stack,
            tenant,
            Direction::Pull,
            &format!("{db}.PUBLIC.DEALS"),
        )
        .await,
    )
}

/// Waits until no live run holds the lease of DEALS (see [`lease_lapsed`]).
async fn deals_lease_lapsed(stack: &TestStack, tenant: &str, db: &str) {
    lease_lapsed(
        stack,
        tenant,
        Direction::Pull,
        &format!("{db}.PUBLIC.DEALS"),
    )
    .await;
}

/// Starts `snowsync pull <tenant> --backfill` of DEALS, SIGKILLs it once it has checkpointed
/// `pages` pages (unless it finished first) and waits until its lease lapses. Returns whether
/// the kill landed mid-run.
async fn backfill_killed_after(
    stack: &TestStack,
    (tenant, db): (&str, &str),
    env: &[(&str, &str)],
    pages: u64,
) -> bool {
    let mut child = Spawned::snowsync(&["pull", tenant, "--backfill"], env);
    wait_for_pages(
        stack,
        tenant,
        &format!("{db}.PUBLIC.DEALS"),
        pages,
        &mut child,
    )
    .await;
    let killed = child.try_wait().expect("wait").is_none();
    if killed {
        child.kill().expect("SIGKILL");
    }
    child.finish();
    // The dead run's lease expires (a TTL after its last checkpoint); the next run takes it.
    deals_lease_lapsed(stack, tenant, db).await;
    killed
}

/// Rows of result data one run may read beyond the rows its plan has left: the column
/// description, the upper bound, the pre-scans' boundaries, the session's setup, and pages
/// (of `page_rows`) that grew since their pre-scan.
fn read_slack(page_rows: u64) -> u64 {
    3 * page_rows + 64
}

#[tokio::test]
async fn hundreds_of_rows_sharing_a_cursor_value_cross_page_boundaries_exactly() {
    let stack = spawn_stack().await;
    let (tenant, db, sf) = deals(&stack, "").await;
    // 300 rows share one cursor value, 50 have distinct values, 10 have a NULL cursor.
    sf.execute("INSERT INTO PUBLIC.DEALS SELECT SEQ4() + 1, '2026-01-01 00:00:00'::TIMESTAMP_NTZ, SEQ4() + 0.5, 'same' FROM TABLE(GENERATOR(ROWCOUNT => 300))").await.expect("insert");
    sf.execute("INSERT INTO PUBLIC.DEALS SELECT SEQ4() + 1001, DATEADD('second', SEQ4(), '2026-01-02 00:00:00'::TIMESTAMP_NTZ), 1, 'distinct' FROM TABLE(GENERATOR(ROWCOUNT => 50))").await.expect("insert");
    sf.execute("INSERT INTO PUBLIC.DEALS SELECT SEQ4() + 2001, NULL, 2, 'null cursor' FROM TABLE(GENERATOR(ROWCOUNT => 10))").await.expect("insert");

    let first = pull(&stack, &tenant, Mode::Incremental, 40).await;
    assert_eq!(first.outcome.as_str(), "complete", "{first:?}");
    assert_eq!(first.rows_read, 360);
    assert_eq!(dest(&stack, &tenant).await, source(&sf).await);
    let w1 = watermark(&stack, &tenant, &db)
        .await
        .expect("watermark after backfill");

    // 200 new rows sharing one new cursor value, and 30 updates moving rows to that value.
    sf.execute("INSERT INTO PUBLIC.DEALS SELECT SEQ4() + 3001, '2026-02-01 12:00:00.000001'::TIMESTAMP_NTZ, 3, 'new' FROM TABLE(GENERATOR(ROWCOUNT => 200))").await.expect("insert");
    sf.execute("UPDATE PUBLIC.DEALS SET AMOUNT = AMOUNT + 100, NOTE = 'updated', UPDATED_AT = '2026-02-01 12:00:00.000001'::TIMESTAMP_NTZ WHERE ID <= 30").await.expect("update");
    let second = pull(&stack, &tenant, Mode::Incremental, 40).await;
    assert_eq!(second.outcome.as_str(), "complete", "{second:?}");
    assert_eq!(
        second.rows_read, 230,
        "only the new and changed rows are read: {second:?}"
    );
    assert!(second.pages >= 6, "{second:?}");
    assert_eq!(dest(&stack, &tenant).await, source(&sf).await);
    let w2 = watermark(&stack, &tenant, &db).await.expect("watermark");
    assert_ne!(w1, w2);
    assert_eq!(w2, "ts_ntz:1769947200000001000");

    // Nothing new: nothing read, watermark unchanged.
    let third = pull(&stack, &tenant, Mode::Incremental, 40).await;
    assert_eq!((third.rows_read, third.outcome.as_str()), (0, "complete"));
    assert_eq!(
        watermark(&stack, &tenant, &db).await.as_deref(),
        Some(w2.as_str())
    );
}

#[tokio::test]
async fn rows_a_microsecond_either_side_of_the_watermark_and_late_rows_in_the_lookback() {
    let stack = spawn_stack().await;
    let (tenant, db, sf) = deals(&stack, "lookback = \"1h\"\n").await;
    sf.execute("INSERT INTO PUBLIC.DEALS VALUES (1, '2026-03-01 10:00:00.000000', 1, 'at w'), (2, '2026-03-01 09:59:59.999999', 1, 'w - 1us')")
        .await
        .expect("insert");
    pull(&stack, &tenant, Mode::Incremental, 1000).await;
    assert_eq!(
        watermark(&stack, &tenant, &db).await.as_deref(),
        Some("ts_ntz:1772359200000000000")
    );

    // After the run: a row 1 µs past the watermark, a row committed late at 30 min before it
    // (inside the lookback), a row exactly at the watermark, and one 2 h before (outside).
    sf.execute("INSERT INTO PUBLIC.DEALS VALUES (3, '2026-03-01 10:00:00.000001', 1, 'w + 1us'), (4, '2026-03-01 09:30:00', 1, 'late, inside lookback'), (5, '2026-03-01 10:00:00', 1, 'late, at w'), (6, '2026-03-01 08:00:00', 1, 'late, outside lookback')")
        .await
        .expect("insert");
    sf.execute("UPDATE PUBLIC.DEALS SET NOTE = 'updated in place' WHERE ID = 2")
        .await
        .expect("update");
    let r = pull(&stack, &tenant, Mode::Incremental, 1000).await;
    assert_eq!(r.outcome.as_str(), "complete", "{r:?}");
    let ids: Vec<String> = dest(&stack, &tenant)
        .await
        .iter()
        .map(|l| l.split('|').next().unwrap_or("").to_owned())
        .collect();
    assert_eq!(
        ids,
        vec!["1", "2", "3", "4", "5"],
        "row 6 is older than the lookback window; every other row is there"
    );
    let rows = dest(&stack, &tenant).await;
    assert!(
        rows.contains(&"2|2026-03-01 09:59:59.999999|1.00|updated in place".to_owned()),
        "{rows:?}"
    );
    assert_eq!(
        watermark(&stack, &tenant, &db).await.as_deref(),
        Some("ts_ntz:1772359200000001000")
    );

    // A backfill brings in what no incremental window can: row 6.
    let r = pull(&stack, &tenant, Mode::Backfill, 1000).await;
    assert_eq!(r.outcome.as_str(), "complete", "{r:?}");
    assert_eq!(dest(&stack, &tenant).await, source(&sf).await);
}

#[tokio::test]
async fn sigkill_mid_backfill_at_several_points_then_rerun_gives_the_source_exactly() {
    let stack = spawn_stack().await;
    let (tenant, db, sf) = deals(&stack, "").await;
    sf.execute("INSERT INTO PUBLIC.DEALS SELECT SEQ4() + 1, DATEADD('millisecond', (SEQ4() / 7)::INT, '2026-01-01 00:00:00'::TIMESTAMP_NTZ), SEQ4() / 4, 'row ' || SEQ4() FROM TABLE(GENERATOR(ROWCOUNT => 3000))")
        .await
        .expect("insert");
    sf.execute("INSERT INTO PUBLIC.DEALS SELECT SEQ4() + 5001, NULL, 1, 'null cursor' FROM TABLE(GENERATOR(ROWCOUNT => 120))")
        .await
        .expect("insert");
    let env = [
        ("SNOWSYNC_PAGE_ROWS", "50"),
        ("SNOWSYNC_LEASE_TTL_SECS", "2"),
    ];
    let kill_points = [1u64, 2, 4, 9, 15, 22, 31, 40, 48, 55];
    let mut killed = 0;
    for pages in kill_points {
        if backfill_killed_after(&stack, (&tenant, &db), &env, pages).await {
            killed += 1;
        }
    }
    assert!(killed >= 8, "only {killed} kills landed mid-run");
    // The interrupted backfill is resumed by the next run, whatever its mode.
    let done = checkpointed_rows(&stack, &tenant, &db).await;
    assert!(
        done >= 40 * 50,
        "the last kill left {done} rows checkpointed"
    );
    let out = cli(&["pull", &tenant], &env);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    // It carried on from the last checkpoint rather than starting over.
    let read: u64 = stdout
        .split_whitespace()
        .skip_while(|w| *w != "read")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no row count in {stdout}"));
    assert!(
        read <= 3120 - done + 100,
        "the last run read {read} rows where {} were left after the checkpoint: {stdout}",
        3120 - done
    );
    assert_eq!(dest(&stack, &tenant).await, source(&sf).await);
    assert!(watermark(&stack, &tenant, &db).await.is_some());
}

#[tokio::test]
async fn a_held_lease_makes_a_concurrent_run_skip_and_an_expired_one_is_taken_over() {
    let stack = spawn_stack().await;
    let (tenant, db, sf) = deals(&stack, "").await;
    sf.execute("INSERT INTO PUBLIC.DEALS VALUES (1, '2026-01-01', 1, 'a')")
        .await
        .expect("insert");
    let id = TenantId::parse(&tenant).expect("id");
    let object = format!("{db}.PUBLIC.DEALS");
    let held = stack
        .deps
        .state
        .acquire_lease(
            &id,
            Direction::Pull,
            &object,
            "someone-else",
            Duration::from_secs(2),
        )
        .await
        .expect("lease");
    assert!(held);
    let r = pull(&stack, &tenant, Mode::Incremental, 100).await;
    assert_eq!(r.outcome.as_str(), "skipped_locked");
    assert!(
        dest_missing(&stack, &tenant).await,
        "a skipped run wrote nothing"
    );
    lease_lapsed(&stack, &tenant, Direction::Pull, &object).await;
    let r = pull(&stack, &tenant, Mode::Incremental, 100).await;
    assert_eq!(r.outcome.as_str(), "complete", "{r:?}");

    // Two pulls of one table at once: one runs, the other skips; the result is exact.
    sf.execute("INSERT INTO PUBLIC.DEALS SELECT SEQ4() + 10, DATEADD('second', SEQ4(), '2026-01-02'::TIMESTAMP_NTZ), 1, 'x' FROM TABLE(GENERATOR(ROWCOUNT => 2000))")
        .await
        .expect("insert");
    let (a, b) = tokio::join!(
        pull(&stack, &tenant, Mode::Backfill, 50),
        pull(&stack, &tenant, Mode::Backfill, 50)
    );
    let mut outcomes = [a.outcome.as_str(), b.outcome.as_str()];
    outcomes.sort_unstable();
    assert_eq!(outcomes, ["complete", "skipped_locked"]);
    assert_eq!(dest(&stack, &tenant).await, source(&sf).await);
}

async fn dest_missing(stack: &TestStack, tenant: &str) -> bool {
    let schema = pg_schema(tenant);
    stack
        .pg_text(&format!("SELECT to_regclass('\"{schema}\".deals') IS NULL"))
        .await[0][0]
        .as_deref()
        == Some("t")
}

#[tokio::test]
async fn a_run_near_its_lambda_deadline_stops_at_a_page_boundary_and_continues_in_a_fresh_invocation(
) {
    let stack = spawn_stack().await;
    let (tenant, _db, sf) = deals(&stack, "").await;
    sf.execute("INSERT INTO PUBLIC.DEALS SELECT SEQ4() + 1, DATEADD('minute', SEQ4(), '2026-01-01'::TIMESTAMP_NTZ), 1, 'x' FROM TABLE(GENERATOR(ROWCOUNT => 450))")
        .await
        .expect("insert");
    let mut deps = stack.deps.clone();
    deps.settings.page_rows = 100;
    let mut hop = 0u32;
    let mut total_read = 0;
    loop {
        let result = pull_near_deadline(&deps, &tenant, hop).await;
        let t = &result["tables"][0];
        total_read += t["rows_read"].as_u64().expect("rows");
        if t["outcome"] == "complete" {
            assert!(result.get("continued_by").is_none(), "{result}");
            break;
        }
        assert_eq!(t["outcome"], "continued", "{result}");
        assert!(
            t["pages"].as_u64() == Some(1),
            "one page per invocation: {result}"
        );
        assert!(
            result["continued_by"]
                .as_str()
                .is_some_and(|id| !id.is_empty()),
            "re-invoked itself: {result}"
        );
        hop += 1;
        assert!(hop < 20, "no end in sight");
    }
    assert!(hop >= 5, "the run hopped {hop} times");
    assert_eq!(total_read, 450, "no row read twice across hops");
    assert_eq!(dest(&stack, &tenant).await, source(&sf).await);
}

#[tokio::test]
async fn twenty_seeded_sigkills_of_pull_never_leave_a_watermark_ahead_of_committed_rows() {
    let stack = spawn_stack().await;
    let user = unique("STORM_").to_uppercase();
    let (tenant, db, sf) = deals_as(&stack, &user, "").await;
    sf.execute("INSERT INTO PUBLIC.DEALS SELECT SEQ4() + 1, DATEADD('millisecond', (SEQ4() / 3)::INT, '2026-01-01 00:00:00'::TIMESTAMP_NTZ), SEQ4() / 4, 'row ' || SEQ4() FROM TABLE(GENERATOR(ROWCOUNT => 2000))")
        .await
        .expect("insert");
    sf.execute("INSERT INTO PUBLIC.DEALS SELECT SEQ4() + 5001, NULL, 1, 'null cursor' FROM TABLE(GENERATOR(ROWCOUNT => 60))")
        .await
        .expect("insert");
    let env = [
        ("SNOWSYNC_PAGE_ROWS", "50"),
        ("SNOWSYNC_LEASE_TTL_SECS", "1"),
    ];
    let mut faults = Faults::seeded("pull_sigkill_storm");
    // A clean backfill measures a whole run: kills land anywhere from process start (login,
    // DDL) through pages, checkpoints and the swap, to the end.
    let window = faults.kill_window(&["pull", &tenant, "--backfill"], &env);
    while faults.wants_kills(20) {
        let backfill = faults.below(4) != 0;
        let mut args = vec!["pull", tenant.as_str()];
        if backfill {
            args.push("--backfill");
        }
        // A run that resumes a checkpoint reads what its plan has left, never the rows
        // before the checkpoint again: at most the pages in flight when it was killed.
        // (A backfill does not resume an incremental run's checkpoint: it reads everything.)
        let total = source(&sf).await.len() as u64;
        let left = match checkpoint(&stack, &tenant, &db).await {
            Some(cp) if !(backfill && cp["kind"] == "incremental") => {
                total - cp["rows"].as_u64().unwrap_or(0)
            }
            _ => total,
        };
        let before = rows_returned(&user).await;
        faults.kill_run(&args, &env, window).await;
        let read = rows_returned(&user).await - before;
        assert!(
            read <= left + read_slack(50),
            "attempt {}: read {read} rows where {left} were left after the checkpoint",
            faults.attempts
        );
        // Whatever the kill interrupted: every source row at or below the stored watermark is
        // in the destination with its exact values.
        if let Some(w) = watermark(&stack, &tenant, &db).await {
            let w = snowsync::decode::KeyValue::decode(&w).expect("watermark");
            let committed: std::collections::HashSet<String> =
                dest(&stack, &tenant).await.into_iter().collect();
            for row in source_where(&sf, &format!("UPDATED_AT <= {}", w.sf_literal())).await {
                assert!(
                    committed.contains(&row),
                    "after attempt {}: row {row} is at or below the watermark {w:?} but not in the destination",
                    faults.attempts
                );
            }
        }
        // The source moves on between runs: 5 rows updated and 5 inserted, past every cursor.
        let n = faults.attempts;
        let ts = format!("DATEADD('second', {n}, '2026-06-01 00:00:00'::TIMESTAMP_NTZ)");
        sf.execute(&format!(
            "UPDATE PUBLIC.DEALS SET UPDATED_AT = {ts}, AMOUNT = AMOUNT + 1 WHERE ID % 400 = {}",
            n % 400
        ))
        .await
        .expect("update");
        sf.execute(&format!("INSERT INTO PUBLIC.DEALS SELECT 10000 + {n} * 10 + SEQ4(), {ts}, 1, 'late ' || SEQ4() FROM TABLE(GENERATOR(ROWCOUNT => 5))"))
            .await
            .expect("insert");
        // The dead run's lease expires (1 s after its last checkpoint); the next run takes it.
        deals_lease_lapsed(&stack, &tenant, &db).await;
    }
    // One kill placed deep into a backfill: the run after it reads only what was left.
    backfill_killed_after(&stack, (&tenant, &db), &env, 20).await;
    let done = checkpointed_rows(&stack, &tenant, &db).await;
    assert!(
        done >= 10 * 50,
        "the deep kill left {done} rows checkpointed"
    );
    let left = source(&sf).await.len() as u64 - done;
    let before = rows_returned(&user).await;
    // An interrupted backfill is finished by the next run; the one after reads what changed
    // meanwhile past its upper bound.
    for i in 0..2 {
        let out = cli(&["pull", &tenant], &env);
        assert!(out.status.success(), "{:?}", text(&out));
        if i == 0 {
            let read = rows_returned(&user).await - before;
            assert!(
                read <= left + read_slack(50),
                "the run after the deep kill read {read} rows where {left} were left"
            );
        }
    }
    assert_eq!(dest(&stack, &tenant).await, source(&sf).await);
    faults.log(&format!(
        "{} kills in {} runs, destination exact",
        faults.kills, faults.attempts
    ));
}

#[tokio::test]
async fn a_backfill_killed_after_its_swap_records_the_watermark_without_reading_again() {
    let stack = spawn_stack().await;
    let user = unique("SWAPPED_").to_uppercase();
    let (tenant, db, sf) = deals_as(&stack, &user, "").await;
    sf.execute("INSERT INTO PUBLIC.DEALS SELECT SEQ4() + 1, DATEADD('second', SEQ4(), '2026-01-01'::TIMESTAMP_NTZ), SEQ4(), 'row' FROM TABLE(GENERATOR(ROWCOUNT => 1500))")
        .await
        .expect("insert");
    let env = [
        ("SNOWSYNC_PAGE_ROWS", "50"),
        ("SNOWSYNC_LEASE_TTL_SECS", "1"),
    ];
    // A real checkpoint of this table's backfill, then the run that finishes it (and swaps).
    assert!(backfill_killed_after(&stack, (&tenant, &db), &env, 5).await);
    let mut cp = checkpoint(&stack, &tenant, &db).await.expect("checkpoint");
    let out = cli(&["pull", &tenant], &env);
    assert!(out.status.success(), "{:?}", text(&out));
    let upper = watermark(&stack, &tenant, &db).await.expect("watermark");
    assert_eq!(dest(&stack, &tenant).await, source(&sf).await);
    // The state a kill between the swap's commit and the watermark's write leaves: the
    // checkpoint saved before the swap (every row read), no staging table, the swapped table.
    cp["read_all"] = true.into();
    cp["rows"] = 1500.into();
    let (id, object) = (
        TenantId::parse(&tenant).expect("id"),
        format!("{db}.PUBLIC.DEALS"),
    );
    let state = &stack.deps.state;
    let owner = "killed-after-swap";
    let ttl = Duration::from_millis(1);
    assert!(state
        .acquire_lease(&id, Direction::Pull, &object, owner, ttl)
        .await
        .expect("lease"));
    state
        .save_checkpoint(&id, Direction::Pull, &object, owner, &cp.to_string(), ttl)
        .await
        .expect("checkpoint");
    deals_lease_lapsed(&stack, &tenant, &db).await;
    let before = rows_returned(&user).await;
    let out = cli(&["pull", &tenant, "--backfill"], &env);
    assert!(out.status.success(), "{:?}", text(&out));
    let read = rows_returned(&user).await - before;
    assert!(
        read <= read_slack(50),
        "the run after the swap read {read} rows: it read the table again"
    );
    assert!(checkpoint(&stack, &tenant, &db).await.is_none());
    assert_eq!(watermark(&stack, &tenant, &db).await, Some(upper));
    assert_eq!(dest(&stack, &tenant).await, source(&sf).await);
}

#[tokio::test]
async fn a_step_longer_than_the_lease_keeps_it_while_its_process_lives() {
    let stack = spawn_stack().await;
    let state = &stack.deps.state;
    let id = &TenantId::parse(&unique("t-")).expect("id");
    let ttl = Duration::from_secs(1);
    let step = Duration::from_millis(2500);
    // A thief tries for the lease every 100 ms while the holder's step runs.
    let thief = |object: String| async move {
        let deadline = tokio::time::Instant::now() + step;
        while tokio::time::Instant::now() < deadline {
            if state
                .acquire_lease(id, Direction::Pull, &object, "thief", ttl)
                .await
                .expect("lease")
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    };
    for (object, kept) in [("HELD.PUBLIC.T", true), ("UNHELD.PUBLIC.T", false)] {
        assert!(state
            .acquire_lease(id, Direction::Pull, object, "holder", ttl)
            .await
            .expect("lease"));
        let work = tokio::time::sleep(step);
        let ((), stolen) = if kept {
            let key = (id, Direction::Pull, object);
            tokio::join!(
                state.holding(key, "holder", ttl, work),
                thief(object.into())
            )
        } else {
            tokio::join!(work, thief(object.into()))
        };
        assert_eq!(
            stolen,
            !kept,
            "{object}: a {} ms step under a {} ms lease",
            step.as_millis(),
            ttl.as_millis()
        );
    }
}
