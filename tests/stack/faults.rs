//! Snowflake faults, injected by the emulator per user (`POST /_emulator/faults`): HTTP 503 and
//! 429 (the client retries), expired sessions (we log in again), slow responses, and a burst
//! that outlasts the retries (the run fails `transient`; the next one resumes). After each,
//! the destination equals the source exactly.

use crate::helpers::{secret, spawn_stack, unique, TestStack};
use snowsync::pull::{run_pull, Budget, PullEvent};
use snowsync::runner::Mode;

async fn arm(user: &str, kind: &str, every: u32, count: u32, delay_ms: u32) {
    let base = std::env::var("SNOWSYNC_SNOWFLAKE_URL").expect("url");
    let spec = serde_json::json!({"user": user, "kind": kind, "every": every, "count": count, "delay_ms": delay_ms});
    let resp = reqwest::Client::new()
        .post(format!("{base}/_emulator/faults"))
        .body(spec.to_string())
        .send()
        .await
        .expect("arm faults");
    assert!(resp.status().is_success());
}

async fn injected(user: &str) -> u64 {
    let base = std::env::var("SNOWSYNC_SNOWFLAKE_URL").expect("url");
    let v: serde_json::Value = reqwest::get(format!("{base}/_emulator/faults?user={user}"))
        .await
        .expect("faults")
        .json()
        .await
        .expect("json");
    v["injected"].as_u64().unwrap_or(0)
}

/// A tenant (own user) pulling 600 rows; returns (tenant, user, schema).
async fn faulty_tenant(stack: &TestStack) -> (String, String, String) {
    let tenant = unique("t-");
    let user = unique("FAULTY_").to_uppercase();
    let db = unique("DB_").to_uppercase();
    let sf = stack.snowflake(&db).await;
    sf.execute("CREATE TABLE PUBLIC.LEDGER (ID NUMBER(38,0), UPDATED_AT TIMESTAMP_NTZ, AMOUNT NUMBER(12,2))")
        .await
        .expect("create");
    sf.execute("INSERT INTO PUBLIC.LEDGER SELECT SEQ4() + 1, DATEADD('second', SEQ4(), '2026-01-01'::TIMESTAMP_NTZ), SEQ4() / 4 FROM TABLE(GENERATOR(ROWCOUNT => 600))")
        .await
        .expect("insert");
    let toml = crate::helpers::tenant_toml(
        &tenant,
        &db,
        &user,
        "[[pull]]\ntable = \"LEDGER\"\ncursor = \"UPDATED_AT\"\nprimary_key = [\"ID\"]\n",
    );
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
    };
    run_pull(&deps, &event, &unique("run-"), &Budget::default())
        .await
        .expect("pull")
        .tables
        .remove(0)
}

async fn exact(stack: &TestStack, schema: &str) {
    let rows = stack
        .pg_text(&format!("SELECT count(*), count(DISTINCT id), sum(amount), max(updated_at)::text FROM \"{schema}\".ledger"))
        .await;
    assert_eq!(
        rows[0],
        vec![
            Some("600".into()),
            Some("600".into()),
            Some("44925.00".into()),
            Some("2026-01-01 00:09:59".into())
        ]
    );
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
        exact(&stack, &schema).await;
    }
}

#[tokio::test]
async fn a_burst_of_errors_beyond_the_retries_fails_transient_and_the_next_run_resumes() {
    let stack = spawn_stack().await;
    let (tenant, user, schema) = faulty_tenant(&stack).await;
    // Eight queries succeed (session setup, describe, MAX, the first pages), then five in a
    // row fail: more than the client's three retries.
    let base = std::env::var("SNOWSYNC_SNOWFLAKE_URL").expect("url");
    let spec =
        serde_json::json!({"user": user, "kind": "http_503", "every": 1, "count": 5, "after": 8});
    reqwest::Client::new()
        .post(format!("{base}/_emulator/faults"))
        .body(spec.to_string())
        .send()
        .await
        .expect("arm");
    let first = pull(&stack, &tenant).await;
    assert_eq!(first.outcome.as_str(), "failed", "{first:?}");
    assert_eq!(
        first.error_kind.map(|k| k.as_str()),
        Some("transient"),
        "{first:?}"
    );
    let id = snowsync::config::TenantId::parse(&tenant).expect("id");
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
    exact(&stack, &schema).await;
}

/// The database of a tenant's config.
async fn stack_db(stack: &TestStack, tenant: &str) -> String {
    let id = snowsync::config::TenantId::parse(tenant).expect("id");
    let text = stack
        .deps
        .state
        .get_config(&id)
        .await
        .expect("config")
        .expect("stored");
    snowsync::config::TenantConfig::parse(&text)
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
    let env = [
        ("SNOWSYNC_PAGE_ROWS", "20"),
        ("SNOWSYNC_LEASE_TTL_SECS", "2"),
    ];
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_snowsync"))
        .args(["pull", &tenant, "--table", "LEDGER"])
        .envs(env)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    // Drop every snowsync session of this database, repeatedly, while the run goes on.
    let mut dropped = 0i64;
    for _ in 0..40 {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        let rows = stack
            .pg_text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'snowsync' AND pid <> pg_backend_pid()")
            .await;
        dropped += rows[0][0]
            .as_deref()
            .and_then(|n| n.parse::<i64>().ok())
            .unwrap_or(0);
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    child.wait().expect("reap");
    assert!(dropped > 0, "no connection was dropped mid-run");
    // The interrupted run may have failed; within a few runs the destination is exact.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let mut last = None;
    for _ in 0..3 {
        let out = crate::helpers::cli(&["pull", &tenant], &env);
        if out.status.success() {
            last = Some(out);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    }
    assert!(last.is_some(), "no run completed after the drops");
    exact(&stack, &schema).await;
}
