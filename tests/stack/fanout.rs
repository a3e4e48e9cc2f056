//! Units of work: a tenant's tables run at once (at most `max_parallel`, or `--parallel K`),
//! and the state machine's events (the plan, a unit, its continuation past the deadline)
//! answered by the pull function exactly as the engine sends them.

use snowsync::pull::PullFunctionEvent;
use snowsync::state::{Direction, RunRecord};

use crate::helpers::{
    cli, lease_lapsed, near_deadline, pg_schema, run_sessions, spawn_stack, tenant_add,
    tenant_toml, text, unique, Faults, Spawned, TestStack,
};
use crate::incremental::{checkpoint, deals, dest, source};

/// The events of `infra/statemachine/events/`, by file name, with the tenant filled in.
fn engine_event(name: &str, tenant: &str) -> serde_json::Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/statemachine/events/");
    let text = std::fs::read_to_string(format!("{path}{name}"))
        .unwrap_or_else(|e| panic!("{path}{name}: {e}"));
    let mut event: serde_json::Value = serde_json::from_str(&text).expect("event json");
    event["tenant"] = tenant.into();
    event
}

/// A tenant with `n` cursor tables `T1..Tn` of `rows` rows each, and `extra` config.
async fn tables(stack: &TestStack, n: usize, rows: usize, extra: &str) -> (String, Vec<String>) {
    let tenant = unique("t-");
    let db = unique("DB_").to_uppercase();
    let sf = stack.snowflake(&db).await;
    let mut config = String::from(extra);
    let mut names = Vec::new();
    for i in 1..=n {
        let table = format!("T{i}");
        sf.execute(&format!("CREATE TABLE PUBLIC.{table} (ID NUMBER(38,0), UPDATED_AT TIMESTAMP_NTZ(9), AMOUNT NUMBER(12,2))"))
            .await
            .expect("create");
        sf.execute(&format!("INSERT INTO PUBLIC.{table} SELECT SEQ4() + 1, DATEADD('second', SEQ4(), '2026-01-01'::TIMESTAMP_NTZ), SEQ4() * {i} FROM TABLE(GENERATOR(ROWCOUNT => {rows}))"))
            .await
            .expect("insert");
        config.push_str(&format!(
            "\n[[pull]]\ntable = \"{table}\"\ncursor = \"UPDATED_AT\"\nprimary_key = [\"ID\"]\n"
        ));
        names.push(format!("{db}.PUBLIC.{table}"));
    }
    stack
        .onboard(&tenant_toml(&tenant, &db, "SVC", &config), "pw")
        .await;
    (tenant, names)
}

/// Every table holds `rows` rows with the sums the source was seeded with.
async fn assert_exact(stack: &TestStack, tenant: &str, n: usize, rows: u64) {
    let schema = pg_schema(tenant);
    for i in 1..=n {
        let got = stack
            .pg_text(&format!(
                "SELECT count(*)::text, sum(id)::text, sum(amount)::text FROM \"{schema}\".t{i}"
            ))
            .await;
        let want = [
            rows.to_string(),
            (rows * (rows + 1) / 2).to_string(),
            format!("{}.00", (rows - 1) * rows / 2 * i as u64),
        ];
        let got: Vec<String> = got[0]
            .iter()
            .map(|v| v.clone().unwrap_or_default())
            .collect();
        assert_eq!(got, want, "table t{i} of {tenant}");
    }
}

/// The most runs of `run_id` that were under way at one moment, from their records.
fn most_at_once(runs: &[RunRecord], run_id: &str) -> usize {
    let spans: Vec<_> = runs
        .iter()
        .filter(|r| r.run_id == run_id || run_id.is_empty())
        .map(|r| (r.started_at, r.finished_at.expect("finished")))
        .collect();
    spans
        .iter()
        .map(|(start, _)| {
            spans
                .iter()
                .filter(|(s, f)| s <= start && start < f)
                .count()
        })
        .max()
        .unwrap_or(0)
}

/// The pull runs of `tenant`, those of its newest run id only.
async fn last_run(stack: &TestStack, tenant: &str) -> Vec<RunRecord> {
    let runs = crate::helpers::run_records(stack, tenant).await;
    let newest = runs
        .iter()
        .filter(|r| r.direction == Direction::Pull)
        .max_by_key(|r| r.started_at)
        .expect("a run")
        .run_id
        .clone();
    runs.into_iter().filter(|r| r.run_id == newest).collect()
}

#[tokio::test]
async fn a_tenants_tables_run_at_most_max_parallel_at_once_or_as_many_as_parallel_says() {
    let stack = spawn_stack().await;
    let (tenant, names) = tables(&stack, 6, 1200, "[limits]\nmax_parallel = 2\n").await;
    let env = [("SNOWSYNC_PAGE_ROWS", "100"), ("RUST_LOG", "off")];
    let out = cli(&["pull", &tenant], &env);
    assert!(out.status.success(), "{:?}", text(&out));
    assert_exact(&stack, &tenant, 6, 1200).await;
    let runs = last_run(&stack, &tenant).await;
    assert_eq!(runs.len(), 6, "one run record per table");
    assert_eq!(
        most_at_once(&runs, ""),
        2,
        "max_parallel = 2: two tables at a time"
    );
    let (closed, left_open) = run_sessions(&tenant).await;
    assert!(
        closed >= 2 && left_open == 0,
        "each worker closes its Snowflake session when the run ends: {closed} closed, {left_open} left open"
    );
    // The report keeps the configured order whatever finished first.
    let out = cli(
        &["pull", &tenant, "--backfill", "--parallel", "3", "--json"],
        &env,
    );
    assert!(out.status.success(), "{:?}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let objects: Vec<&str> = report["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .map(|t| t["object"].as_str().expect("object"))
        .collect();
    assert_eq!(objects, names);
    assert_eq!(most_at_once(&last_run(&stack, &tenant).await, ""), 3);
    assert_exact(&stack, &tenant, 6, 1200).await;
    let out = cli(&["pull", &tenant, "--parallel", "0"], &env);
    let (_, err) = text(&out);
    assert!(!out.status.success() && err.contains("--parallel"), "{err}");
}

#[tokio::test]
async fn the_engines_plan_and_unit_events_run_each_table_and_carry_on_past_the_deadline() {
    let stack = spawn_stack().await;
    let (tenant, names) = tables(&stack, 2, 350, "[limits]\nmax_parallel = 3\n").await;
    let mut deps = stack.deps.clone();
    deps.settings.page_rows = 100;
    let (_, plan) = near_deadline::<PullFunctionEvent>(
        &deps,
        "snowsync-pull",
        engine_event("pull-plan-request.json", &tenant),
    )
    .await;
    assert_eq!(plan["max_parallel"], 3, "{plan}");
    let units = plan["units"].as_array().expect("units").clone();
    assert_eq!(units.len(), 2, "{plan}");
    for (unit, name) in units.iter().zip(&names) {
        assert_eq!(
            unit,
            &serde_json::json!({"tenant": tenant, "tables": [name], "mode": "backfill", "orchestrated": true})
        );
        // What the state machine does: invoke with the unit, then with each `next_event`.
        let mut event = unit.clone();
        let mut hops = 0;
        loop {
            let (_, result) =
                near_deadline::<PullFunctionEvent>(&deps, "snowsync-pull", event).await;
            assert!(
                result.get("continued_by").is_none(),
                "no self-invocation: {result}"
            );
            assert_eq!(result["tables"].as_array().expect("tables").len(), 1);
            match result.get("next_event") {
                Some(next) => {
                    hops += 1;
                    let mut want = unit.clone();
                    want["hop"] = hops.into();
                    assert_eq!(next, &want, "the same unit, one hop further");
                    event = next.clone();
                }
                None => break,
            }
            assert!(hops < 20, "no end in sight");
        }
        assert!(
            hops >= 3,
            "350 rows in pages of 100 hop at least 3 times: {hops}"
        );
    }
    assert_exact(&stack, &tenant, 2, 350).await;
    // The unit event the engine's sample carries runs as well.
    // The engine's own samples have the shape the function answers with.
    let sample = engine_event("pull-plan-result.json", &tenant);
    let keys = |v: &serde_json::Value| -> Vec<String> {
        let mut k: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&plan), keys(&sample));
    assert_eq!(
        keys(&units[0]),
        keys(&engine_event("pull-unit-table.json", &tenant))
    );
}

#[tokio::test]
async fn schedules_start_the_state_machine_when_the_stack_has_one() {
    let stack = spawn_stack().await;
    let tenant = unique("t-");
    let machine = "arn:aws:states:us-east-1:123456789012:stateMachine:snowsync-pull-runs";
    let out = tenant_add(
        &tenant_toml(
            &tenant,
            "DB",
            "SVC",
            "[schedule]\npull = \"rate(1 hour)\"\n\n[[pull]]\ntable = \"T\"\n",
        ),
        &[("SNOWSYNC_PULL_STATE_MACHINE_ARN", machine)],
    );
    assert!(out.status.success(), "{:?}", text(&out));
    let schedule = stack
        .deps
        .scheduler
        .get_schedule()
        .group_name("snowsync")
        .name(format!("snowsync-{tenant}-pull"))
        .send()
        .await
        .expect("schedule");
    let target = schedule.target().expect("target");
    assert_eq!(target.arn(), machine);
    assert_eq!(
        target.role_arn(),
        "arn:aws:iam::123456789012:role/snowsync-scheduler"
    );
    let input: serde_json::Value =
        serde_json::from_str(target.input().expect("input")).expect("json");
    let mut expected = engine_event("pull-execution-input.json", &tenant);
    expected["mode"] = "incremental".into();
    assert_eq!(
        input, expected,
        "the execution input the state machine expects"
    );
    let out = cli(&["tenant", "remove", &tenant], &[]);
    assert!(out.status.success(), "{:?}", text(&out));
}

/// `DEALS` rows: `n` with a cursor (many sharing one value) and `nulls` with a NULL cursor.
async fn seed_deals(sf: &snowsync::snowflake::Session, n: usize, nulls: usize) {
    sf.execute(&format!("INSERT INTO PUBLIC.DEALS SELECT SEQ4() + 1, DATEADD('millisecond', (SEQ4() / 7)::INT, '2026-01-01'::TIMESTAMP_NTZ), SEQ4() / 3, 'row ' || SEQ4() FROM TABLE(GENERATOR(ROWCOUNT => {n}))"))
        .await
        .expect("insert");
    sf.execute(&format!("INSERT INTO PUBLIC.DEALS SELECT SEQ4() + 1000001, NULL, 1, 'null cursor' FROM TABLE(GENERATOR(ROWCOUNT => {nulls}))"))
        .await
        .expect("insert");
}

/// The source moves on between runs: rows updated past every cursor, rows inserted.
async fn move_on(sf: &snowsync::snowflake::Session, n: u32) {
    let ts = format!("DATEADD('second', {n}, '2026-06-01 00:00:00'::TIMESTAMP_NTZ)");
    sf.execute(&format!(
        "UPDATE PUBLIC.DEALS SET UPDATED_AT = {ts}, AMOUNT = AMOUNT + 1 WHERE ID % 97 = {}",
        n % 97
    ))
    .await
    .expect("update");
    sf.execute(&format!("INSERT INTO PUBLIC.DEALS SELECT 2000000 + {n} * 10 + SEQ4(), {ts}, 1, 'late' FROM TABLE(GENERATOR(ROWCOUNT => 5))"))
        .await
        .expect("insert");
}

/// The destination's `deals` equals the source's, or the first rows that differ are named.
async fn same_rows(stack: &TestStack, tenant: &str, sf: &snowsync::snowflake::Session, what: &str) {
    let (got, want) = (dest(stack, tenant).await, source(sf).await);
    if got != want {
        let extra: Vec<_> = got.iter().filter(|r| !want.contains(r)).take(3).collect();
        let missing: Vec<_> = want.iter().filter(|r| !got.contains(r)).take(3).collect();
        panic!(
            "{what}: {} rows where the source has {}; extra {extra:?}, missing {missing:?}",
            got.len(),
            want.len()
        );
    }
}

/// The visible columns of the tenant's `deals` and whether it has its primary key.
async fn deals_shape(stack: &TestStack, tenant: &str) -> (Vec<String>, bool) {
    let schema = pg_schema(tenant);
    let cols = stack
        .pg_text(&format!(
            "SELECT attname FROM pg_attribute WHERE attrelid = '\"{schema}\".deals'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
        ))
        .await
        .into_iter()
        .map(|r| r[0].clone().unwrap_or_default())
        .collect();
    let keyed = stack
        .pg_text(&format!(
            "SELECT count(*) FROM pg_constraint WHERE conrelid = '\"{schema}\".deals'::regclass AND contype = 'p'"
        ))
        .await[0][0]
        .as_deref()
        == Some("1");
    (cols, keyed)
}

#[tokio::test]
async fn a_backfill_split_into_1_2_or_4_key_ranges_equals_the_source_and_increments_go_on() {
    let stack = spawn_stack().await;
    let env = [("SNOWSYNC_PAGE_ROWS", "100"), ("RUST_LOG", "off")];
    // (4, sampled): split at the quantiles of a sample, as a table over a million rows is.
    for (k, split) in [
        (1usize, "exact"),
        (2, "exact"),
        (4, "exact"),
        (4, "sampled"),
    ] {
        let (tenant, db, sf) = deals(&stack, &format!("parallel_backfill = {k}\n")).await;
        seed_deals(&sf, 2500, 40).await;
        let exact_rows = if split == "sampled" { "100" } else { "1000000" };
        let mut env = env.to_vec();
        env.push(("SNOWSYNC_SPLIT_EXACT_ROWS", exact_rows));
        let out = cli(&["pull", &tenant], &env);
        assert!(out.status.success(), "{:?}", text(&out));
        same_rows(&stack, &tenant, &sf, &format!("k = {k}")).await;
        let objects: std::collections::BTreeSet<String> = last_run(&stack, &tenant)
            .await
            .into_iter()
            .map(|r| r.object)
            .collect();
        let ranges = objects.iter().filter(|o| o.contains('#')).count();
        assert_eq!(
            ranges,
            if k == 1 { 0 } else { k },
            "k = {k}, {split}: {objects:?}"
        );
        let (cols, keyed) = deals_shape(&stack, &tenant).await;
        assert_eq!(
            cols,
            ["id", "updated_at", "amount", "note", "_snowsync_synced_at"],
            "the range tag is gone with the swap"
        );
        assert!(keyed, "the swap built the primary key");
        assert!(checkpoint(&stack, &tenant, &db).await.is_none());
        move_on(&sf, 1).await;
        let out = cli(&["pull", &tenant], &env);
        assert!(out.status.success(), "{:?}", text(&out));
        same_rows(
            &stack,
            &tenant,
            &sf,
            &format!("k = {k}, after an increment"),
        )
        .await;
    }
}

#[tokio::test]
async fn seeded_sigkills_of_single_range_workers_never_lose_double_or_swap_twice() {
    let stack = spawn_stack().await;
    let (tenant, db, sf) = deals(&stack, "parallel_backfill = 4\n").await;
    seed_deals(&sf, 3000, 30).await;
    let object = format!("{db}.PUBLIC.DEALS");
    let env = [
        ("SNOWSYNC_PAGE_ROWS", "100"),
        ("SNOWSYNC_LEASE_TTL_SECS", "1"),
        ("RUST_LOG", "info"),
    ];
    let plan = serde_json::json!({"tenant": tenant, "mode": "backfill", "plan": true}).to_string();
    let mut faults = Faults::seeded("range_sigkills");
    let mut window = None;
    let mut round = 0u32;
    while faults.kills < 10 {
        round += 1;
        assert!(
            round <= 40,
            "only {} of {round} rounds killed a worker",
            faults.kills
        );
        // The plan step splits the backfill (or finds the unfinished split) ...
        let out = cli(&["unit", "pull", &plan], &env);
        assert!(out.status.success(), "{:?}", text(&out));
        let answer: serde_json::Value = serde_json::from_slice(&out.stdout).expect("plan");
        let units: Vec<String> = answer["units"]
            .as_array()
            .expect("units")
            .iter()
            .map(|u| {
                assert_eq!(u["range"]["of"], 4, "{answer}");
                u.to_string()
            })
            .collect();
        assert_eq!(units.len(), 4, "{answer}");
        // ... and the Map runs every range at once; one is killed at a seeded moment (none in
        // the first round, which measures how long a round takes).
        let started = std::time::Instant::now();
        let mut workers: Vec<Spawned> = units
            .iter()
            .map(|u| Spawned::snowsync(&["unit", "pull", u], &env))
            .collect();
        let mut outputs = String::new();
        if let Some(window) = window {
            let victim = faults.below(4) as usize;
            let delay = std::time::Duration::from_millis(faults.below(window) + 1);
            tokio::time::sleep(delay).await;
            let running = workers[victim].try_wait().expect("wait").is_none();
            if running {
                workers[victim].kill().expect("SIGKILL");
                faults.kills += 1;
            }
            faults.log(&format!(
                "round {round}: range {victim} {} after {} ms",
                if running { "SIGKILLed" } else { "finished" },
                delay.as_millis()
            ));
            for (i, w) in workers.into_iter().enumerate() {
                let (status, out) = w.finish();
                assert!(i == victim || status.success(), "range {i}: {out}");
                outputs.push_str(&out);
            }
            // The engine retries the killed unit once its leases lapse.
            for held in [format!("{object}#{victim}"), object.clone()] {
                lease_lapsed(&stack, &tenant, Direction::Pull, &held).await;
            }
            let out = cli(&["unit", "pull", &units[victim]], &env);
            assert!(out.status.success(), "{:?}", text(&out));
            outputs.push_str(&String::from_utf8_lossy(&out.stderr));
        } else {
            for w in workers {
                let (status, out) = w.finish();
                assert!(status.success(), "{out}");
                outputs.push_str(&out);
            }
            window = Some(started.elapsed().as_millis() as u64);
        }
        // Every range read: swapped in once (a victim killed between its swap and its log line
        // leaves none logged), the table equal to the source.
        let swaps = outputs.matches("every range read: swapped in").count();
        assert!(swaps <= 1, "round {round}: {swaps} swaps");
        assert!(
            checkpoint(&stack, &tenant, &db).await.is_none(),
            "round {round}"
        );
        same_rows(&stack, &tenant, &sf, &format!("round {round}")).await;
        move_on(&sf, round).await;
    }
    faults.log(&format!(
        "{} kills in {round} rounds, destination exact",
        faults.kills
    ));
}

#[tokio::test]
async fn a_failed_unit_fails_its_invocation_with_its_kind_so_the_engine_retries_or_dead_letters_it()
{
    let stack = spawn_stack().await;
    let tenant = unique("t-");
    let db = unique("DB_").to_uppercase();
    stack.snowflake(&db).await;
    stack
        .onboard(
            &tenant_toml(&tenant, &db, "SVC", "[[pull]]\ntable = \"NOPE\"\n"),
            "pw",
        )
        .await;
    let mut ctx = lambda_runtime::Context::default();
    ctx.request_id = unique("req-");
    let unit = serde_json::json!({"tenant": tenant, "tables": [format!("{db}.PUBLIC.NOPE")], "mode": "incremental", "orchestrated": true});
    let failed = snowsync::lambda::handle::<PullFunctionEvent>(
        lambda_runtime::LambdaEvent::new(unit.clone(), ctx.clone()),
        &stack.deps,
    )
    .await
    .expect_err("an orchestrated unit's failure fails the invocation");
    assert_eq!(
        failed.error_type, "missing_object",
        "{}",
        failed.error_message
    );
    assert!(
        failed.error_message.contains("NOPE"),
        "{}",
        failed.error_message
    );
    // Not orchestrated (a schedule aimed at the function), the failure is in the result.
    let mut direct = unit;
    direct["orchestrated"] = false.into();
    let result = snowsync::lambda::handle::<PullFunctionEvent>(
        lambda_runtime::LambdaEvent::new(direct, ctx),
        &stack.deps,
    )
    .await
    .expect("a report");
    assert_eq!(result["tables"][0]["outcome"], "failed", "{result}");
}

#[tokio::test]
async fn tables_at_once_share_the_processs_connection_budget_and_a_bad_budget_is_named() {
    let stack = spawn_stack().await;
    let (tenant, _) = tables(&stack, 4, 1500, "").await;
    // This run's connections carry a name of their own (other tests' runs share the database).
    let name = unique("budget-");
    let url = std::env::var("SNOWSYNC_DATABASE_URL").expect("database url");
    let url = format!(
        "{url}{}application_name={name}",
        if url.contains('?') { '&' } else { '?' }
    );
    let mut run = Spawned::snowsync(
        &["pull", &tenant, "--parallel", "4"],
        &[
            ("SNOWSYNC_PAGE_ROWS", "100"),
            ("SNOWSYNC_DATABASE_CONNECTIONS", "2"),
            ("SNOWSYNC_DATABASE_URL", &url),
            ("RUST_LOG", "off"),
        ],
    );
    let mut most = 0i64;
    while run.try_wait().expect("wait").is_none() {
        let n: i64 = stack
            .pg
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                &[&name],
            )
            .await
            .expect("count")
            .get(0);
        most = most.max(n);
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let (status, out) = run.finish();
    assert!(status.success(), "{out}");
    assert_exact(&stack, &tenant, 4, 1500).await;
    assert!(
        (1..=2).contains(&most),
        "{most} connections at once, over the budget of 2"
    );
    let out = cli(
        &["pull", &tenant],
        &[("SNOWSYNC_DATABASE_CONNECTIONS", "0"), ("RUST_LOG", "off")],
    );
    let (_, err) = text(&out);
    assert!(!out.status.success(), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("SNOWSYNC_DATABASE_CONNECTIONS"), "{err}");
}

#[tokio::test]
async fn a_function_invoked_directly_reads_a_split_tables_ranges_one_at_a_time_across_hops() {
    let stack = spawn_stack().await;
    let (tenant, _db, sf) = deals(&stack, "parallel_backfill = 3\n").await;
    seed_deals(&sf, 900, 10).await;
    let mut deps = stack.deps.clone();
    deps.settings.page_rows = 100;
    let mut hops = 0;
    loop {
        let result = crate::helpers::pull_near_deadline(&deps, &tenant, hops).await;
        if result["tables"][0]["outcome"] == "complete" {
            break;
        }
        assert_eq!(result["tables"][0]["outcome"], "continued", "{result}");
        hops += 1;
        assert!(hops < 40, "no end in sight");
    }
    assert!(hops >= 3, "910 rows in pages of 100 hop: {hops}");
    same_rows(&stack, &tenant, &sf, "after the hops").await;
    let runs = crate::helpers::run_records(&stack, &tenant).await;
    let ranges: Vec<RunRecord> = runs
        .into_iter()
        .filter(|r| r.object.contains('#'))
        .collect();
    assert!(!ranges.is_empty(), "the table was read in ranges");
    for run_id in ranges.iter().map(|r| r.run_id.clone()) {
        assert_eq!(
            most_at_once(&ranges, &run_id),
            1,
            "one range at a time in an invocation"
        );
    }
}

#[tokio::test]
async fn remote_runs_start_the_state_machine_with_the_schedules_input() {
    let stack = spawn_stack().await;
    let tenant = unique("t-");
    stack
        .onboard(
            &tenant_toml(&tenant, "DB", "SVC", "[[pull]]\ntable = \"T\"\n"),
            "pw",
        )
        .await;
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let sfn = aws_sdk_sfn::Client::new(&config);
    let machine = sfn
        .create_state_machine()
        .name(unique("snowsync-pull-"))
        .definition(r#"{"StartAt": "Plan", "States": {"Plan": {"Type": "Pass", "End": true}}}"#)
        .role_arn("arn:aws:iam::123456789012:role/snowsync-pull-runs")
        .send()
        .await
        .expect("state machine")
        .state_machine_arn()
        .to_owned();
    let env = [
        ("SNOWSYNC_PULL_STATE_MACHINE_ARN", machine.as_str()),
        ("RUST_LOG", "off"),
    ];
    let out = cli(&["pull", &tenant, "--remote", "--backfill", "--json"], &env);
    assert!(out.status.success(), "{:?}", text(&out));
    let started: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let execution = sfn
        .describe_execution()
        .execution_arn(started["execution_arn"].as_str().expect("arn"))
        .send()
        .await
        .expect("execution");
    assert_eq!(execution.state_machine_arn(), machine);
    let input: serde_json::Value =
        serde_json::from_str(execution.input().expect("input")).expect("input json");
    assert_eq!(input, engine_event("pull-execution-input.json", &tenant));
    // A machine that is not there: one line naming it.
    let gone = format!("{machine}-gone");
    let out = cli(
        &["pull", &tenant, "--remote"],
        &[
            ("SNOWSYNC_PULL_STATE_MACHINE_ARN", gone.as_str()),
            ("RUST_LOG", "off"),
        ],
    );
    let (_, err) = text(&out);
    assert!(!out.status.success(), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("Step Functions") && err.contains(&gone),
        "{err}"
    );
}
