//! Units of work: a tenant's tables run at once (at most `max_parallel`, or `--parallel K`),
//! and the state machine's events (the plan, a unit, its continuation past the deadline)
//! answered by the pull function exactly as the engine sends them.

use snowsync::pull::PullEvent;
use snowsync::state::{Direction, RunRecord};
use snowsync::tenant::config::TenantId;

use crate::helpers::{
    cli, near_deadline, pg_schema, spawn_stack, tenant_add, tenant_toml, text, unique, TestStack,
};

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
    let runs = stack
        .deps
        .state
        .runs(&TenantId::parse(tenant).expect("id"))
        .await
        .expect("runs");
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
    let (_, plan) = near_deadline::<PullEvent>(
        &deps,
        "snowsync-pull",
        engine_event("pull-plan.json", &tenant),
    )
    .await;
    assert_eq!(plan["max_parallel"], 3, "{plan}");
    let units = plan["units"].as_array().expect("units").clone();
    assert_eq!(units.len(), 2, "{plan}");
    for (unit, name) in units.iter().zip(&names) {
        assert_eq!(
            unit,
            &serde_json::json!({"tenant": tenant, "tables": [name], "mode": "incremental", "orchestrated": true})
        );
        // What the state machine does: invoke with the unit, then with each `next_event`.
        let mut event = unit.clone();
        let mut hops = 0;
        loop {
            let (_, result) = near_deadline::<PullEvent>(&deps, "snowsync-pull", event).await;
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
    let sample = engine_event("pull-unit.json", &tenant);
    assert_eq!(sample["orchestrated"], true, "{sample}");
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
    assert_eq!(
        input,
        engine_event("pull-execution-input.json", &tenant),
        "the execution input the state machine expects"
    );
    let out = cli(&["tenant", "remove", &tenant], &[]);
    assert!(out.status.success(), "{:?}", text(&out));
}
