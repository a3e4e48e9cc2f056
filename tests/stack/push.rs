//! Pushes on the stack: backfill of thousands of actions and stages, later additions (including
//! actions that occurred long ago), a crash between the MERGE and the watermark, `--backfill`
//! again, exact values, other tenants' rows, privileges, incompatible destinations.

use snowsync::lambda::{Budget, Job};
use snowsync::push::PushEvent;
use snowsync::runner::{Mode, ObjectReport};
use snowsync::snowflake::{int_at, text_at, Session};
use snowsync::state::Direction;
use snowsync::tenant::config::TenantId;

use crate::helpers::{
    cli, lease_lapsed, near_deadline, record_stage_secrets, secret, sf_rows, spawn_stack,
    tenant_toml, text, unique, Faults, TestStack,
};

pub(crate) const PUSH: &str = "[[push]]\nsource = \"actions\"\ntable = \"PLATFORM_ACTIONS\"\n\n[[push]]\nsource = \"stages\"\ntable = \"PLATFORM_STAGES\"\n";

pub(crate) async fn seed_actions(stack: &TestStack, tenant: &str, from: i64, n: i64) {
    seed_actions_of(stack, tenant, from, n, "page_view").await;
}

/// `n` actions of `tenant` from id `from`, of type `kind` (the visitor and the properties carry
/// it too, so two tenants seeded with other kinds share no value but the ids).
pub(crate) async fn seed_actions_of(
    stack: &TestStack,
    tenant: &str,
    from: i64,
    n: i64,
    kind: &str,
) {
    stack
        .pg
        .execute(
            "INSERT INTO platform.actions (tenant, id, occurred_at, action_type, visitor_id, account_domain, channel, properties) \
             SELECT $1, g, '2026-01-01 12:00:00.123456+02:00'::timestamptz + g * interval '1 second', \
                    $4, $4 || '-v' || g, 'acme.com', 'web', jsonb_build_object('n', g, 'kind', $4::text, 'tag', 'ünïcode \"q\" it''s', 'nested', jsonb_build_object('a', jsonb_build_array(1, 2.5, null))) \
             FROM generate_series($2::bigint, $3::bigint) g",
            &[&tenant, &from, &(from + n - 1), &kind],
        )
        .await
        .expect("seed actions");
}

/// The columns of each destination and of its platform source, as text in one form: instants
/// in UTC to the microsecond, numbers as written, JSON parsed (compared by value).
const ACTIONS_SF: &str = "TO_VARCHAR(ID), TO_VARCHAR(OCCURRED_AT, 'YYYY-MM-DD HH24:MI:SS.FF6'), ACTION_TYPE, VISITOR_ID, ACCOUNT_DOMAIN, CHANNEL, TO_JSON(PROPERTIES), TO_VARCHAR(INGESTED_AT, 'YYYY-MM-DD HH24:MI:SS.FF6')";
const ACTIONS_PG: &str = "id::text, to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), action_type, visitor_id, account_domain, channel, properties::text, to_char(ingested_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')";
const STAGES_SF: &str = "TO_VARCHAR(ID), OPPORTUNITY_ID, STAGE, TO_VARCHAR(ENTERED_AT, 'YYYY-MM-DD HH24:MI:SS.FF6'), TO_VARCHAR(AMOUNT), OWNER, TO_JSON(PROPERTIES), TO_VARCHAR(INGESTED_AT, 'YYYY-MM-DD HH24:MI:SS.FF6')";
const STAGES_PG: &str = "id::text, opportunity_id, stage, to_char(entered_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), amount::text, owner, properties::text, to_char(ingested_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')";
/// The JSON column of both.
const JSON_COLUMN: usize = 6;

/// Rows in one form: a timestamp's `+00` suffix (the emulator's) and its fraction's trailing
/// zeros dropped, JSON re-serialised from its parsed value, NULL kept as `None`.
fn normal(rows: Vec<Vec<Option<String>>>) -> Vec<Vec<Option<String>>> {
    rows.into_iter()
        .map(|row| {
            row.into_iter()
                .enumerate()
                .map(|(i, v)| {
                    v.map(|v| {
                        if i == JSON_COLUMN {
                            serde_json::from_str::<serde_json::Value>(&v)
                                .map_or(v, |j| j.to_string())
                        } else {
                            let v = v
                                .strip_suffix("+00")
                                .or_else(|| v.strip_suffix("+00:00"))
                                .unwrap_or(&v);
                            // `YYYY-MM-DD HH:MM:SS.ffffff`: the emulator drops a fraction's
                            // trailing zeros, so both sides do.
                            let timestamp = v.len() > 20 && &v[4..5] == "-" && &v[19..20] == ".";
                            if timestamp {
                                v.trim_end_matches('0').trim_end_matches('.').to_owned()
                            } else {
                                v.to_owned()
                            }
                        }
                    })
                })
                .collect()
        })
        .collect()
}

/// Every row of a destination (`PLATFORM_ACTIONS` or `PLATFORM_STAGES`), every column, by ID.
async fn exported(sf: &Session, table: &str) -> Vec<Vec<Option<String>>> {
    let columns = if table == "PLATFORM_ACTIONS" {
        ACTIONS_SF
    } else {
        STAGES_SF
    };
    normal(
        sf_rows(
            sf,
            &format!("SELECT {columns} FROM PUBLIC.{table} ORDER BY ID"),
        )
        .await,
    )
}

/// Every row of `tenant`'s platform source (`actions` or `stages`), every column, by id.
async fn platform(stack: &TestStack, tenant: &str, source: &str) -> Vec<Vec<Option<String>>> {
    let columns = if source == "actions" {
        ACTIONS_PG
    } else {
        STAGES_PG
    };
    normal(
        stack
            .pg_text(&format!(
                "SELECT {columns} FROM platform.{source} p WHERE tenant = '{tenant}' ORDER BY p.id"
            ))
            .await,
    )
}

/// The destination holds exactly the tenant's rows of `source`, value for value.
pub(crate) async fn assert_exported_exactly(
    stack: &TestStack,
    sf: &Session,
    tenant: &str,
    source: &str,
    when: &str,
) {
    let table = format!("PLATFORM_{}", source.to_uppercase());
    let got = exported(sf, &table).await;
    let want = platform(stack, tenant, source).await;
    assert_eq!(
        got.len(),
        want.len(),
        "{when}: {table} holds {} rows, the tenant has {}",
        got.len(),
        want.len()
    );
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g, w, "{when}: {table} differs from platform.{source}");
    }
}

pub(crate) async fn seed_stages(stack: &TestStack, tenant: &str, n: i64) {
    stack
        .pg
        .execute(
            "INSERT INTO platform.stages (tenant, id, opportunity_id, stage, entered_at, amount, owner, properties) \
             SELECT $1, g, 'opp-' || (g % 97), 'Proposal', '2025-06-30 23:59:59.999999-05:30', (g * 1234567.89 / 1000)::numeric(18,2) - 5000, 'owner ' || g, '{\"k\": [\"v\"]}' \
             FROM generate_series(1, $2::bigint) g",
            &[&tenant, &n],
        )
        .await
        .expect("seed stages");
}

/// A push in batches of `batch` rows on the INSERT path (bulk.rs tests the file path).
async fn push(stack: &TestStack, tenant: &str, mode: Mode, batch: usize) -> Vec<ObjectReport> {
    push_with(stack, tenant, mode, batch, usize::MAX).await
}

/// A push in batches of `batch` rows, each of at least `bulk_min` rows sent as a staged file.
pub(crate) async fn push_with(
    stack: &TestStack,
    tenant: &str,
    mode: Mode,
    batch: usize,
    bulk_min: usize,
) -> Vec<ObjectReport> {
    let mut deps = stack.deps.clone();
    deps.settings.push_batch_rows = batch;
    deps.settings.push_bulk_min_rows = bulk_min;
    let event = PushEvent {
        tenant: tenant.to_owned(),
        sources: None,
        mode,
        hop: 0,
        ..Default::default()
    };
    event
        .run(&deps, &unique("run-"), &Budget::default())
        .await
        .expect("push")
        .objects
}

/// (count, distinct ids, min id, max id) of a destination table.
pub(crate) async fn counts(sf: &Session, table: &str) -> (i64, i64, i64, i64) {
    let b = sf
        .query(&format!(
            "SELECT COUNT(*), COUNT(DISTINCT ID), MIN(ID), MAX(ID) FROM PUBLIC.{table}"
        ))
        .await
        .expect("counts");
    let b = &b[0];
    (
        int_at(b, 0, 0).unwrap_or(0),
        int_at(b, 1, 0).unwrap_or(0),
        int_at(b, 2, 0).unwrap_or(0),
        int_at(b, 3, 0).unwrap_or(0),
    )
}

/// A TIMESTAMP_TZ rendered in UTC, without the offset the emulator may append.
fn utc(v: Option<String>) -> String {
    let v = v.expect("timestamp");
    v.strip_suffix("+00")
        .or_else(|| v.strip_suffix("+00:00"))
        .unwrap_or(&v)
        .to_owned()
}

pub(crate) async fn setup(stack: &TestStack, extra_user: &str) -> (String, String, Session) {
    let tenant = unique("t-");
    let db = unique("DB_").to_uppercase();
    let sf = stack.snowflake(&db).await;
    stack
        .onboard(&tenant_toml(&tenant, &db, extra_user, PUSH), &secret("pw-"))
        .await;
    (tenant, db, sf)
}

#[tokio::test]
async fn push_exports_exactly_the_tenants_rows_once_with_exact_values() {
    let stack = spawn_stack().await;
    let (tenant, _db, sf) = setup(&stack, "SVC").await;
    let other = unique("other-");
    seed_actions(&stack, &tenant, 1, 3000).await;
    seed_actions_of(&stack, &other, 1, 700, "other_tenant_view").await;
    seed_stages(&stack, &tenant, 2000).await;

    let r = push(&stack, &tenant, Mode::Incremental, 1000).await;
    assert_eq!(r.len(), 2);
    for e in &r {
        assert_eq!(e.outcome.as_str(), "complete", "{e:?}");
    }
    assert_eq!((r[0].rows_written, r[0].pages), (3000, 3));
    assert_eq!(r[1].rows_written, 2000);
    assert_eq!(counts(&sf, "PLATFORM_ACTIONS").await, (3000, 3000, 1, 3000));
    assert_eq!(counts(&sf, "PLATFORM_STAGES").await, (2000, 2000, 1, 2000));
    assert_exported_exactly(&stack, &sf, &tenant, "actions", "first push").await;
    assert_exported_exactly(&stack, &sf, &tenant, "stages", "first push").await;

    // Values: the timestamp's instant (+02:00 → UTC), numeric(18,2), JSON with unicode, quotes, nesting.
    let b = sf
        .query("SELECT TO_VARCHAR(OCCURRED_AT, 'YYYY-MM-DD HH24:MI:SS.FF6'), TO_JSON(PROPERTIES), ACTION_TYPE, EXPORTED_AT IS NOT NULL FROM PUBLIC.PLATFORM_ACTIONS WHERE ID = 7")
        .await
        .expect("row 7");
    assert_eq!(utc(text_at(&b[0], 0, 0)), "2026-01-01 10:00:07.123456");
    let props: serde_json::Value =
        serde_json::from_str(&text_at(&b[0], 1, 0).expect("json")).expect("json");
    assert_eq!(
        props,
        serde_json::json!({"n": 7, "kind": "page_view", "tag": "ünïcode \"q\" it's", "nested": {"a": [1, 2.5, null]}})
    );
    let b = sf
        .query("SELECT TO_VARCHAR(AMOUNT), TO_VARCHAR(ENTERED_AT, 'YYYY-MM-DD HH24:MI:SS.FF6'), OPPORTUNITY_ID FROM PUBLIC.PLATFORM_STAGES WHERE ID = 1999")
        .await
        .expect("stage");
    let want_amount = stack
        .pg_text(&format!(
            "SELECT amount::text FROM platform.stages WHERE tenant = '{tenant}' AND id = 1999"
        ))
        .await[0][0]
        .clone();
    assert_eq!(text_at(&b[0], 0, 0), want_amount);
    assert_eq!(utc(text_at(&b[0], 1, 0)), "2025-07-01 05:29:59.999999");

    // New rows, including actions that occurred long ago but were ingested now.
    stack
        .pg
        .execute(
            "INSERT INTO platform.actions (tenant, id, occurred_at, action_type) VALUES ($1, 5001, '2019-05-05 05:05:05+00', 'old news'), ($1, 5002, now(), 'fresh')",
            &[&tenant],
        )
        .await
        .expect("insert");
    let r = push(&stack, &tenant, Mode::Incremental, 1000).await;
    assert_eq!((r[0].rows_written, r[1].rows_written), (2, 0), "{r:?}");
    assert_eq!(counts(&sf, "PLATFORM_ACTIONS").await, (3002, 3002, 1, 5002));

    // A crash between the MERGE and the watermark update: Snowflake has the rows, the
    // watermark is behind. The re-run sends them again and the MERGE keeps one of each.
    let id = TenantId::parse(&tenant).expect("id");
    let lease = "crash-simulation";
    assert!(stack
        .deps
        .state
        .acquire_lease(
            &id,
            Direction::Push,
            "actions",
            lease,
            std::time::Duration::from_secs(60)
        )
        .await
        .expect("lease"));
    stack
        .deps
        .state
        .complete_progress(
            &id,
            Direction::Push,
            "actions",
            lease,
            Some(r#"{"ingested_at":"2000-01-01 00:00:00.000000","id":0}"#),
        )
        .await
        .expect("rewind watermark");
    stack
        .deps
        .state
        .release_lease(&id, Direction::Push, "actions", lease)
        .await
        .expect("release");
    let r = push(&stack, &tenant, Mode::Incremental, 1000).await;
    assert_eq!(r[0].rows_written, 3002, "{r:?}");
    assert_eq!(counts(&sf, "PLATFORM_ACTIONS").await, (3002, 3002, 1, 5002));

    // --backfill re-exports everything without doubling; another tenant's rows never go.
    let out = cli(&["push", &tenant, "--backfill", "--source", "stages"], &[]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(counts(&sf, "PLATFORM_STAGES").await, (2000, 2000, 1, 2000));
    assert_exported_exactly(&stack, &sf, &tenant, "stages", "--backfill").await;
    // The other tenant's ids 1..700 are ours too, its values are not: a row of it merged by ID
    // would show as a difference.
    assert_exported_exactly(&stack, &sf, &tenant, "actions", "the end").await;
    let b = sf
        .query(
            "SELECT COUNT(*) FROM PUBLIC.PLATFORM_ACTIONS WHERE ACTION_TYPE = 'other_tenant_view'",
        )
        .await
        .expect("q");
    assert_eq!(b.first().and_then(|b| int_at(b, 0, 0)), Some(0));
}

/// The push function's handler, driven as Lambda drives it: the contract's event (the fixture),
/// 5 s left in every invocation so each merges one batch and continues in a fresh invocation,
/// until the export completes; and a malformed event refused as a `config` error.
#[tokio::test]
async fn the_push_handler_runs_the_contract_event_and_continues_near_its_deadline() {
    use lambda_runtime::{Context, LambdaEvent};
    let stack = spawn_stack().await;
    let (tenant, _db, sf) = setup(&stack, "SVC").await;
    seed_actions(&stack, &tenant, 1, 250).await;
    let mut deps = stack.deps.clone();
    deps.settings.push_batch_rows = 100;
    let fixture = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/push_event.json"
    ))
    .expect("fixture");
    let mut event: serde_json::Value = serde_json::from_str(&fixture).expect("fixture json");
    event["tenant"] = tenant.clone().into();
    let mut outcomes = Vec::new();
    let mut written = 0;
    for hop in 0..10u32 {
        event["hop"] = hop.into();
        let (run_id, result) =
            near_deadline::<PushEvent>(&deps, "snowsync-push", event.clone()).await;
        assert_eq!(result["tenant"], tenant.as_str());
        assert_eq!(result["run_id"], run_id.as_str());
        assert!(result.get("tables").is_none(), "{result}");
        let exports = result["exports"].as_array().expect("exports");
        assert_eq!(exports.len(), 1, "only the event's source runs: {result}");
        let e = &exports[0];
        assert_eq!(e["object"], "actions");
        written += e["rows_written"].as_u64().expect("rows");
        let outcome = e["outcome"].as_str().expect("outcome").to_owned();
        if outcome == "continued" {
            assert!(
                result["continued_by"]
                    .as_str()
                    .is_some_and(|id| !id.is_empty()),
                "re-invoked itself: {result}"
            );
        } else {
            assert!(result.get("continued_by").is_none(), "{result}");
        }
        outcomes.push(outcome);
        if outcomes.last().is_some_and(|o| o != "continued") {
            break;
        }
    }
    assert_eq!(outcomes, ["continued", "continued", "complete"]);
    assert_eq!(written, 250, "each batch merged once across the hops");
    assert_eq!(counts(&sf, "PLATFORM_ACTIONS").await, (250, 250, 1, 250));
    let stages = sf
        .query(
            "SELECT COUNT(*) FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_NAME = 'PLATFORM_STAGES'",
        )
        .await
        .expect("tables");
    assert_eq!(
        int_at(&stages[0], 0, 0),
        Some(0),
        "stages were not selected"
    );

    let bad = serde_json::json!({"tenant": tenant, "sorces": ["actions"]});
    let err =
        snowsync::lambda::handle::<PushEvent>(LambdaEvent::new(bad, Context::default()), &deps)
            .await
            .expect_err("malformed event");
    assert_eq!(err.error_type, "config");
    assert!(
        err.error_message.contains("sorces"),
        "{}",
        err.error_message
    );
}

#[tokio::test]
async fn a_role_without_write_grants_gets_a_privilege_error_naming_the_grant() {
    let stack = spawn_stack().await;
    let tenant = unique("t-");
    let db = unique("DB_").to_uppercase();
    let toml = tenant_toml(&tenant, &db, "SVC", PUSH).replace(
        "user = \"SVC\"",
        "user = \"SVC\"\nrole = \"SNOWSYNC_NO_WRITE\"",
    );
    stack.onboard(&toml, &secret("pw-")).await;
    seed_actions(&stack, &tenant, 1, 10).await;
    let out = cli(&["push", &tenant, "--source", "actions"], &[]);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(
        stdout.contains("privilege: role SNOWSYNC_NO_WRITE may not write the push destination"),
        "{stdout}{stderr}"
    );
    assert!(
        stdout.contains("GRANT USAGE, CREATE TABLE ON SCHEMA"),
        "{stdout}"
    );
    let runs = crate::helpers::run_records(&stack, &tenant).await;
    assert!(runs
        .iter()
        .any(|r| r.error_kind.map(|k| k.as_str()) == Some("privilege")));
}

#[tokio::test]
async fn a_tenant_without_push_never_touches_snowflake_and_incompatible_destinations_are_named() {
    let stack = spawn_stack().await;
    // No [[push]]: the push succeeds without even logging in (this user cannot log in).
    let tenant = unique("t-");
    stack
        .onboard(
            &tenant_toml(
                &tenant,
                "ANY",
                "SNOWSYNC_WRONG_PASSWORD",
                "[[pull]]\ntable = \"T\"\n",
            ),
            &secret("pw-"),
        )
        .await;
    let out = cli(&["push", &tenant], &[]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("no [[push]] exports"), "{stdout}");

    // An existing destination with the wrong columns is reported, not altered (not even by
    // the columns it lacks, which a compatible one would gain).
    let (tenant, _db, sf) = setup(&stack, "SVC").await;
    sf.execute(
        "CREATE TABLE PUBLIC.PLATFORM_ACTIONS (ID NUMBER(38,0), OCCURRED_AT VARCHAR, NOTE VARCHAR)",
    )
    .await
    .expect("create");
    seed_actions(&stack, &tenant, 1, 5).await;
    let out = cli(&["push", &tenant, "--source", "actions"], &[]);
    let (stdout, _) = text(&out);
    assert!(!out.status.success());
    assert!(stdout.contains("config: push destination"), "{stdout}");
    assert!(
        stdout.contains("OCCURRED_AT is TEXT (needs TIMESTAMP_TZ)"),
        "{stdout}"
    );
    let b = sf
        .query("SELECT COUNT(*) FROM PUBLIC.PLATFORM_ACTIONS")
        .await
        .expect("q");
    assert_eq!(b.first().and_then(|b| int_at(b, 0, 0)).unwrap_or(0), 0);
    let b = sf
        .query(
            "SELECT COUNT(*) FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_NAME = 'PLATFORM_ACTIONS'",
        )
        .await
        .expect("q");
    assert_eq!(
        b.first().and_then(|b| int_at(b, 0, 0)),
        Some(3),
        "no column added"
    );
}

/// The id of the push watermark of `actions` (0 when none).
pub(crate) async fn pushed_id(stack: &TestStack, tenant: &str) -> i64 {
    let id = TenantId::parse(tenant).expect("id");
    stack
        .deps
        .state
        .progress(&id, Direction::Push, "actions")
        .await
        .expect("progress")
        .watermark
        .and_then(|w| serde_json::from_str::<serde_json::Value>(&w).ok())
        .and_then(|v| v["id"].as_i64())
        .unwrap_or(0)
}

#[tokio::test]
async fn twenty_seeded_sigkills_of_push_never_double_or_skip_a_row() {
    // Batches of 100 rows stay under the bulk threshold: INSERTs.
    sigkill_storm("push_sigkill_storm", &[]).await;
}

#[tokio::test]
async fn twenty_seeded_sigkills_of_bulk_push_never_double_or_skip_a_row() {
    // Every batch a staged file: kills land in the PUT, the upload, the COPY and the MERGE too.
    sigkill_storm(
        "bulk_push_sigkill_storm",
        &[("SNOWSYNC_PUSH_BULK_MIN_ROWS", "1")],
    )
    .await;
}

/// Twenty SIGKILLs of `snowsync push` (with `extra_env`) at seeded moments while the platform
/// gains rows: after each, no row doubled, none missing up to the watermark, no incremental
/// run re-sending rows at or below it; at the end, every action exported once, value for value.
async fn sigkill_storm(seed: &str, extra_env: &[(&str, &str)]) {
    let stack = spawn_stack().await;
    let (tenant, _db, sf) = setup(&stack, "SVC").await;
    seed_actions(&stack, &tenant, 1, 1200).await;
    let mut env = vec![
        ("SNOWSYNC_PUSH_BATCH_ROWS", "100"),
        ("SNOWSYNC_LEASE_TTL_SECS", "1"),
    ];
    env.extend_from_slice(extra_env);
    let mut faults = Faults::seeded(seed);
    // A clean backfill measures a whole run; kills land anywhere in it (login, DDL, the
    // temporary table, INSERTs or the file's PUT, upload and COPY, the MERGE, the watermark
    // write).
    let window = faults.kill_window(
        &["push", &tenant, "--source", "actions", "--backfill"],
        &env,
    );
    let mut seeded = 1200;
    // The latest EXPORTED_AT among rows at or below the watermark: an incremental run re-sends
    // none of them (a crash re-sends only the batch after the watermark).
    let touched_upto = |wm: i64| {
        let sf = &sf;
        async move {
            sf_rows(
                sf,
                &format!("SELECT TO_VARCHAR(MAX(EXPORTED_AT)) FROM PUBLIC.PLATFORM_ACTIONS WHERE ID <= {wm}"),
            )
            .await
        }
    };
    let mut incremental_checks = 0;
    while faults.wants_kills(20) {
        let mut args = vec!["push", tenant.as_str(), "--source", "actions"];
        let backfill = faults.below(4) != 0;
        if backfill {
            args.push("--backfill");
        }
        let wm_before = pushed_id(&stack, &tenant).await;
        let touched_before = touched_upto(wm_before).await;
        faults.kill_run(&args, &env, window).await;
        if !backfill && wm_before > 0 {
            assert_eq!(
                touched_upto(wm_before).await,
                touched_before,
                "attempt {}: an incremental run re-sent rows at or below the watermark (id {wm_before})",
                faults.attempts
            );
            incremental_checks += 1;
        }
        // Never a doubled row, and every action up to the watermark is there.
        let wm = pushed_id(&stack, &tenant).await;
        let (rows, distinct, _, _) = counts(&sf, "PLATFORM_ACTIONS").await;
        assert_eq!(
            rows, distinct,
            "after attempt {}: doubled rows",
            faults.attempts
        );
        let b = sf
            .query(&format!(
                "SELECT COUNT(*) FROM PUBLIC.PLATFORM_ACTIONS WHERE ID <= {wm}"
            ))
            .await
            .expect("count");
        assert_eq!(
            int_at(&b[0], 0, 0).unwrap_or(0),
            wm,
            "after attempt {}: the watermark (id {wm}) is ahead of the exported rows",
            faults.attempts
        );
        // The platform moves on: 20 more actions between runs.
        seed_actions(&stack, &tenant, seeded + 1, 20).await;
        seeded += 20;
        lease_lapsed(&stack, &tenant, Direction::Push, "actions").await;
    }
    let wm_before = pushed_id(&stack, &tenant).await;
    let touched_before = touched_upto(wm_before).await;
    let out = cli(&["push", &tenant, "--source", "actions"], &env);
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(
        touched_upto(wm_before).await,
        touched_before,
        "the last run re-sent rows at or below the watermark (id {wm_before})"
    );
    assert_eq!(
        counts(&sf, "PLATFORM_ACTIONS").await,
        (seeded, seeded, 1, seeded)
    );
    assert_exported_exactly(&stack, &sf, &tenant, "actions", "after the storm").await;
    record_stage_secrets().await;
    faults.log(&format!(
        "{} kills in {} runs ({incremental_checks} incremental runs checked for re-sends), {seeded} actions exported once, every value exact",
        faults.kills, faults.attempts
    ));
}
