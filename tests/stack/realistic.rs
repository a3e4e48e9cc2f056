//! Real Snowflake's behaviours, one at a time, each against an emulator of the test's own
//! started with only that behaviour on (emulator/README.md): results in gzip chunks
//! from a second listener with 503s and cut bodies, statements answered "in progress" and
//! polled (and aborted at the deadline), sessions that expire past renewal, account defaults
//! that change what our SQL means, and retried requests that keep their `requestId`. After
//! each, pulls and pushes are exact. `scripts/test` also runs the pull, push, incremental and
//! fault tests again with every behaviour on at once.

use snowsync::lambda::{Budget, Job};
use snowsync::pull::PullEvent;
use snowsync::push::PushEvent;
use snowsync::runner::{Mode, ObjectReport};
use snowsync::snowflake::{int_at, Endpoint, Session};
use snowsync::Deps;

use crate::helpers::{arm_fault, secret, spawn_stack, tenant_toml, unique, Emulator, TestStack};

/// `EVENTS`: id n (1-based), `HAPPENED_AT` n seconds after 2026-01-01 UTC (TIMESTAMP_TZ, the
/// cursor), `ON_DAY` n days after 2026-01-01, `AT_TIME` n seconds after midnight, `NOTE` 'note n'. Every value is
/// a function of the id, so [`exact`] checks values without reading Snowflake.
const EVENTS: &str =
    "[[pull]]\ntable = \"EVENTS\"\ncursor = \"HAPPENED_AT\"\nprimary_key = [\"ID\"]\n";

async fn seed_events(sf: &Session, from: u32, to: u32) {
    sf.execute(
        "CREATE TABLE IF NOT EXISTS PUBLIC.EVENTS (ID NUMBER(38,0), HAPPENED_AT TIMESTAMP_TZ, ON_DAY DATE, AT_TIME TIME, NOTE VARCHAR)",
    )
    .await
    .expect("create");
    sf.execute(&format!(
        "INSERT INTO PUBLIC.EVENTS SELECT n, DATEADD('second', n, '2026-01-01 00:00:00'::TIMESTAMP_TZ), \
         DATEADD('day', n, '2026-01-01'::DATE), TIMEADD('second', n, '00:00:00'::TIME), 'note ' || n \
         FROM (SELECT SEQ4() + {from} AS n FROM TABLE(GENERATOR(ROWCOUNT => {})))",
        to - from + 1
    ))
    .await
    .expect("insert");
}

/// The tenant's copy of EVENTS holds ids 1..=n, each with the values its id makes.
async fn exact(stack: &TestStack, schema: &str, n: u32) {
    let rows = stack
        .pg_text(&format!(
            "SELECT count(*), count(DISTINCT id), min(id), max(id), \
             count(*) FILTER (WHERE happened_at = timestamptz '2026-01-01 00:00:00+00' + id * interval '1 second' \
               AND on_day = date '2026-01-01' + id::int AND at_time = time '00:00:00' + id * interval '1 second' \
               AND note = 'note ' || id) \
             FROM \"{schema}\".events"
        ))
        .await;
    let n = n.to_string();
    assert_eq!(
        rows[0],
        vec![
            Some(n.clone()),
            Some(n.clone()),
            Some("1".into()),
            Some(n.clone()),
            Some(n)
        ],
        "count, distinct ids, min, max, rows whose every value is right"
    );
}

/// A tenant pulling EVENTS (and pushing actions) through `emulator`; its deps point there.
struct Tenant {
    tenant: String,
    user: String,
    schema: String,
    sf: Session,
    deps: Deps,
}

async fn tenant(stack: &TestStack, emulator: &Emulator, rows: u32) -> Tenant {
    let tenant = unique("t-");
    let user = unique("REAL_").to_uppercase();
    let db = unique("DB_").to_uppercase();
    let sf = emulator.admin(&db).await;
    seed_events(&sf, 1, rows).await;
    let push = "[[push]]\nsource = \"actions\"\ntable = \"PLATFORM_ACTIONS\"\n";
    let toml = tenant_toml(&tenant, &db, &user, &format!("{EVENTS}\n{push}"));
    let schema = stack
        .onboard(&toml, &secret("pw-"))
        .await
        .tenant
        .pg_schema();
    let mut deps = stack.deps.clone();
    deps.endpoint = Endpoint::override_with(&emulator.url()).expect("endpoint");
    deps.settings.page_rows = 200;
    deps.settings.push_batch_rows = 500;
    Tenant {
        tenant,
        user,
        schema,
        sf,
        deps,
    }
}

impl Tenant {
    async fn pull(&self, mode: Mode, budget: &Budget) -> ObjectReport {
        let event = PullEvent {
            tenant: self.tenant.clone(),
            tables: None,
            mode,
            hop: 0,
            ..Default::default()
        };
        event
            .run(&self.deps, &unique("run-"), budget)
            .await
            .expect("pull")
            .objects
            .remove(0)
    }

    /// Pulls to completion and checks the copy holds ids 1..=n exactly; the report.
    async fn pull_exactly(&self, stack: &TestStack, mode: Mode, n: u32) -> ObjectReport {
        let r = self.pull(mode, &Budget::default()).await;
        assert_eq!(r.outcome.as_str(), "complete", "{r:?}");
        exact(stack, &self.schema, n).await;
        r
    }

    /// Seeds `n` actions for the tenant, pushes them, and checks the destination holds each
    /// once with its values.
    async fn push_exactly(&self, stack: &TestStack, n: i64) {
        stack
            .pg
            .execute(
                "INSERT INTO platform.actions (tenant, id, occurred_at, action_type, visitor_id, account_domain, channel, properties) \
                 SELECT $1, g, timestamptz '2026-01-01 00:00:00+00' + g * interval '1 second', 'view', 'v' || g, 'a.com', 'web', jsonb_build_object('n', g) \
                 FROM generate_series(1, $2::bigint) g",
                &[&self.tenant, &n],
            )
            .await
            .expect("seed actions");
        let event = PushEvent {
            tenant: self.tenant.clone(),
            sources: None,
            mode: Mode::Incremental,
            hop: 0,
            ..Default::default()
        };
        let r = event
            .run(&self.deps, &unique("run-"), &Budget::default())
            .await
            .expect("push")
            .objects;
        assert_eq!(r[0].outcome.as_str(), "complete", "{r:?}");
        assert_eq!(r[0].rows_written, n as u64, "{r:?}");
        let b = self
            .sf
            .query(
                "SELECT COUNT(*), COUNT(DISTINCT ID), MIN(ID), MAX(ID), \
                 COUNT_IF(OCCURRED_AT = DATEADD('second', ID, '2026-01-01 00:00:00 +00:00'::TIMESTAMP_TZ) \
                   AND VISITOR_ID = 'v' || ID AND PROPERTIES:n::NUMBER = ID) \
                 FROM PUBLIC.PLATFORM_ACTIONS",
            )
            .await
            .expect("destination");
        let got: Vec<i64> = (0..5).map(|i| int_at(&b[0], i, 0).unwrap_or(-1)).collect();
        assert_eq!(
            got,
            vec![n, n, 1, n, n],
            "count, distinct, min, max, exact rows"
        );
    }
}

async fn emulator_json(emulator: &Emulator, path: &str) -> serde_json::Value {
    reqwest::get(format!("{}{path}", emulator.url()))
        .await
        .expect("emulator endpoint")
        .json()
        .await
        .expect("json")
}

#[tokio::test]
async fn chunked_results_are_read_whole_through_storage_faults() {
    let stack = spawn_stack().await;
    // Chunks of 3 rows: every page, and the 5-row column lookup, come in parts.
    let emulator = Emulator::start_with(&["--chunk-rows", "3", "--chunk-faults", "3"]).await;
    let t = tenant(&stack, &emulator, 90).await;
    t.pull_exactly(&stack, Mode::Backfill, 90).await;
    seed_events(&t.sf, 91, 130).await;
    t.pull_exactly(&stack, Mode::Incremental, 130).await;
    let stats = emulator_json(&emulator, "/_emulator/chunk_stats").await;
    for what in ["served", "faults_503", "faults_cut"] {
        assert!(stats[what].as_u64().unwrap_or(0) > 0, "{what}: {stats}");
    }
    assert_eq!(
        stats["refused_403"].as_u64(),
        Some(0),
        "SSE-C headers always sent: {stats}"
    );
}

#[tokio::test]
async fn statements_answered_in_progress_are_polled_to_their_results() {
    let stack = spawn_stack().await;
    let emulator = Emulator::start_with(&["--async-every", "1"]).await;
    let t = tenant(&stack, &emulator, 500).await;
    t.pull_exactly(&stack, Mode::Backfill, 500).await;
    t.push_exactly(&stack, 1200).await;
    let stats = emulator_json(&emulator, "/_emulator/async_stats").await;
    for what in ["in_progress", "polls"] {
        assert!(stats[what].as_u64().unwrap_or(0) > 10, "{what}: {stats}");
    }
}

#[tokio::test]
async fn a_statement_still_running_near_the_deadline_is_aborted_and_reported_transient() {
    let stack = spawn_stack().await;
    let emulator = Emulator::start_with(&["--async-after-ms", "300"]).await;
    let t = tenant(&stack, &emulator, 50).await;
    // Every statement after the session's setup takes 30 s; the run has 12 s.
    arm_fault(&emulator.url(), &t.user, "slow", 1, 100, 30_000, 1).await;
    let budget = Budget {
        deadline: Some(std::time::Instant::now() + std::time::Duration::from_secs(12)),
    };
    let started = std::time::Instant::now();
    let r = t.pull(Mode::Backfill, &budget).await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(12),
        "the run stopped waiting before its deadline: {:?}",
        started.elapsed()
    );
    assert_eq!(r.outcome.as_str(), "failed", "{r:?}");
    assert_eq!(r.error_kind.map(|k| k.as_str()), Some("transient"), "{r:?}");
    let msg = r.error.clone().unwrap_or_default();
    assert!(msg.contains("still running"), "{msg}");
    let aborts = emulator_json(&emulator, "/_emulator/aborts").await;
    assert!(
        aborts.as_array().is_some_and(|a| !a.is_empty()),
        "the statement was aborted: {aborts}"
    );
}

#[tokio::test]
async fn sessions_that_expire_past_renewal_keep_pulls_and_pushes_exact() {
    let stack = spawn_stack().await;
    // Every 11th statement finds the session expired; every renewal finds the master token
    // expired too, so each expiry is a fresh login that loses the push's temporary table.
    let emulator =
        Emulator::start_with(&["--expire-every", "11", "--master-expire-every", "1"]).await;
    let t = tenant(&stack, &emulator, 700).await;
    t.pull_exactly(&stack, Mode::Backfill, 700).await;
    t.push_exactly(&stack, 3000).await;
    let logins = emulator_json(&emulator, "/_emulator/sessions").await;
    let of_user = logins
        .as_array()
        .map(|a| a.iter().filter(|s| s["user"] == t.user.as_str()).count())
        .unwrap_or(0);
    assert!(of_user > 3, "fresh logins happened: {of_user}");
}

#[tokio::test]
async fn hostile_account_defaults_are_pinned_away() {
    let stack = spawn_stack().await;
    // JSON results, DD/MM/YYYY input formats, ignore-case identifiers, Los Angeles time.
    let emulator = Emulator::start_with(&["--hostile-defaults"]).await;
    let t = tenant(&stack, &emulator, 400).await;
    let r = t.pull(Mode::Backfill, &Budget::default()).await;
    assert_eq!(r.outcome.as_str(), "complete", "{r:?}");
    seed_events(&t.sf, 401, 450).await;
    let r = t.pull(Mode::Incremental, &Budget::default()).await;
    assert_eq!(r.outcome.as_str(), "complete", "{r:?}");
    assert_eq!(
        r.rows_read, 50,
        "the cursor literal meant the same instant: {r:?}"
    );
    exact(&stack, &t.schema, 450).await;
    t.push_exactly(&stack, 800).await;
    let sessions = emulator_json(&emulator, "/_emulator/sessions").await;
    let s = sessions
        .as_array()
        .and_then(|a| a.iter().rev().find(|s| s["user"] == t.user.as_str()))
        .expect("the tenant's session")
        .clone();
    for (name, want) in [
        ("TIMEZONE", "UTC"),
        ("GO_QUERY_RESULT_FORMAT", "ARROW"),
        ("TIMESTAMP_INPUT_FORMAT", "AUTO"),
        ("DATE_INPUT_FORMAT", "AUTO"),
        ("TIME_INPUT_FORMAT", "AUTO"),
    ] {
        assert_eq!(
            s["params"][name].as_str().map(str::to_uppercase).as_deref(),
            Some(want),
            "{name}: {s}"
        );
    }
    assert!(
        s["params"]["STATEMENT_TIMEOUT_IN_SECONDS"]
            .as_str()
            .is_some()
            || s["params"]["STATEMENT_TIMEOUT_IN_SECONDS"]
                .as_u64()
                .is_some(),
        "{s}"
    );
}

#[tokio::test]
async fn a_retried_statement_keeps_its_request_id_with_a_fresh_guid() {
    let stack = spawn_stack().await;
    let emulator = Emulator::start_with(&[]).await;
    let t = tenant(&stack, &emulator, 1).await;
    let user = "RETRIED";
    let cfg =
        snowsync::tenant::config::TenantConfig::parse(&tenant_toml(&t.tenant, "DB_R", user, ""))
            .expect("config");
    let creds =
        snowsync::tenant::secrets::Credentials::parse(r#"{"password": "x"}"#).expect("creds");
    let endpoint = Endpoint::override_with(&emulator.url()).expect("endpoint");
    let sf = Session::connect(&cfg.snowflake, &creds, &endpoint, "retries", None)
        .await
        .expect("login");
    arm_fault(&emulator.url(), user, "http_503", 1, 2, 0, 0).await;
    sf.query("SELECT 42")
        .await
        .expect("the third attempt answers");
    let ids = emulator_json(&emulator, &format!("/_emulator/request_ids?user={user}")).await;
    let ids = ids.as_array().expect("list");
    let last: Vec<&serde_json::Value> = ids.iter().rev().take(3).collect();
    assert_eq!(last.len(), 3, "{ids:?}");
    assert!(
        last.iter().all(|r| r["requestId"] == last[0]["requestId"]),
        "one requestId for every attempt: {last:?}"
    );
    let guids: std::collections::HashSet<String> = last
        .iter()
        .map(|r| r["request_guid"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(guids.len(), 3, "a fresh request_guid per attempt: {last:?}");
}

#[tokio::test]
async fn pages_are_bounded_by_bytes_and_a_row_larger_than_the_budget_is_read_alone() {
    let stack = spawn_stack().await;
    let emulator = Emulator::start().await;
    let mut t = tenant(&stack, &emulator, 1).await;
    // 30 rows of about 6 KB against a page budget of 4 KB: each row is a page of its own,
    // the first one because the declared VARCHAR could hold 16 MB, the rest as measured.
    t.sf.execute("DELETE FROM PUBLIC.EVENTS")
        .await
        .expect("empty");
    t.sf.execute(
        "INSERT INTO PUBLIC.EVENTS SELECT n, DATEADD('second', n, '2026-01-01 00:00:00'::TIMESTAMP_TZ), \
         DATEADD('day', n, '2026-01-01'::DATE), TIMEADD('second', n, '00:00:00'::TIME), 'note ' || n || REPEAT('x', 6000) \
         FROM (SELECT SEQ4() + 1 AS n FROM TABLE(GENERATOR(ROWCOUNT => 30)))",
    )
    .await
    .expect("wide rows");
    t.deps.settings.page_bytes = 4096;
    let r = t.pull(Mode::Backfill, &Budget::default()).await;
    assert_eq!(r.outcome.as_str(), "complete", "{r:?}");
    // 30 pages of one row, plus the (empty) NULL-cursor page and the empty page that ends
    // the last range: no page held two rows.
    assert_eq!((r.rows_read, r.pages), (30, 32), "{r:?}");
    let rows = stack
        .pg_text(&format!(
            "SELECT count(*), count(*) FILTER (WHERE note = 'note ' || id || repeat('x', 6000)) FROM \"{}\".events",
            t.schema
        ))
        .await;
    assert_eq!(rows[0], vec![Some("30".into()), Some("30".into())]);
}
