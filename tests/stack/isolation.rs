//! Tenant isolation in the code path: one function serves every tenant, and besides the
//! tenant-scoped AWS session (IAM refuses another tenant's secret and state items in AWS; see
//! `tenant_access.rs`) the code itself must keep a run for tenant A away from B's secret, B's
//! schema and B's rows (locally, and wherever no tenant-access role is set). The secret name, the state rows and
//! the PostgreSQL schema all derive from the validated tenant id of the event.

use snowsync::lambda::{Budget, Job};
use snowsync::pull::PullEvent;
use snowsync::push::PushEvent;
use snowsync::runner::Mode;
use snowsync::tenant::config::TenantId;

use crate::helpers::{pg_schema, secret, spawn_stack, tenant_toml, unique, TestStack};

pub(crate) const DEALS: &str =
    "[[pull]]\ntable = \"DEALS\"\ncursor = \"U\"\nprimary_key = [\"ID\"]\n";

pub(crate) fn pull_event(tenant: &str) -> PullEvent {
    PullEvent {
        tenant: tenant.to_owned(),
        tables: None,
        mode: Mode::Incremental,
        hop: 0,
        ..Default::default()
    }
}

/// A database with `DEALS (ID, U, NOTE)` holding `n` rows noted `note`.
pub(crate) async fn deals_db(stack: &TestStack, n: u32, note: &str) -> String {
    let db = unique("DB_").to_uppercase();
    let sf = stack.snowflake(&db).await;
    sf.execute("CREATE TABLE PUBLIC.DEALS (ID NUMBER(38,0), U TIMESTAMP_NTZ, NOTE VARCHAR)")
        .await
        .expect("create");
    sf.execute(&format!("INSERT INTO PUBLIC.DEALS SELECT SEQ4() + 1, '2026-01-01', '{note}' FROM TABLE(GENERATOR(ROWCOUNT => {n}))"))
        .await
        .expect("insert");
    db
}

async fn schema_rows(stack: &TestStack, tenant: &str) -> Vec<Vec<Option<String>>> {
    let schema = pg_schema(tenant);
    stack
        .pg_text(&format!(
            "SELECT count(*), min(note), max(note) FROM \"{schema}\".deals"
        ))
        .await
}

#[tokio::test]
async fn a_config_stored_under_one_tenant_naming_another_is_refused_before_any_read_or_write() {
    let stack = spawn_stack().await;
    let b = unique("b-");
    let db = deals_db(&stack, 5, "note-b").await;
    stack
        .onboard(&tenant_toml(&b, &db, "SVC", DEALS), &secret("pw-"))
        .await;
    let r = pull_event(&b)
        .run(&stack.deps, &unique("run-"), &Budget::default())
        .await
        .expect("b's pull");
    assert_eq!(r.objects[0].outcome.as_str(), "complete");
    // A's config row names B (tampered with, or written by a bug): a run for A would read B's
    // secret and write B's schema. It is refused.
    let a = TenantId::parse(&unique("a-")).expect("id");
    let toml = format!("{DEALS}\n[[push]]\nsource = \"actions\"\ntable = \"PLATFORM_ACTIONS\"\n");
    stack
        .deps
        .state
        .put_config(&a, &tenant_toml(&b, &db, "SVC", &toml))
        .await
        .expect("store");
    let err = (pull_event(a.as_str()))
        .run(&stack.deps, "run-a", &Budget::default())
        .await
        .expect_err("a's pull");
    assert_eq!(err.kind().as_str(), "config", "{err}");
    assert!(
        err.to_string().contains(&format!("names tenant {b}")),
        "{err}"
    );
    let push = PushEvent {
        tenant: a.as_str().to_owned(),
        sources: None,
        mode: Mode::Incremental,
        hop: 0,
        ..Default::default()
    };
    let err = push
        .run(&stack.deps, "run-a", &Budget::default())
        .await
        .expect_err("a's push");
    assert!(
        err.to_string().contains(&format!("names tenant {b}")),
        "{err}"
    );
    // B's state holds only B's own run.
    let runs = crate::helpers::run_records(&stack, &b).await;
    assert_eq!(runs.len(), 1, "{runs:?}");
}

#[tokio::test]
async fn a_tenant_without_its_own_secret_never_falls_back_to_anothers() {
    let stack = spawn_stack().await;
    let db = deals_db(&stack, 3, "x").await;
    let (a, b) = (unique("a-"), unique("b-"));
    stack
        .onboard(&tenant_toml(&a, &db, "SVC", DEALS), &secret("pw-"))
        .await;
    stack
        .onboard(&tenant_toml(&b, &db, "SVC", DEALS), &secret("pw-"))
        .await;
    let id = TenantId::parse(&a).expect("id");
    stack
        .deps
        .secrets
        .delete(&id)
        .await
        .expect("delete a's secret");
    let err = pull_event(&a)
        .run(&stack.deps, "run-a", &Budget::default())
        .await
        .expect_err("a's pull without a secret");
    let msg = err.to_string();
    assert!(msg.contains(&id.secret_name()), "{msg}");
    assert!(!msg.contains(&b), "{msg}");
    // Nothing was written for A.
    let schema = id.pg_schema();
    let exists = stack
        .pg_text(&format!(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = '{schema}'"
        ))
        .await;
    assert_eq!(exists[0][0].as_deref(), Some("0"));
}

#[tokio::test]
async fn event_tenants_that_try_to_escape_their_names_are_refused() {
    let stack = spawn_stack().await;
    for bad in [
        "../b",
        "a/b",
        "b\"; DROP SCHEMA platform; --",
        "",
        "A",
        "-a",
    ] {
        let err = pull_event(bad)
            .run(&stack.deps, "run-x", &Budget::default())
            .await
            .expect_err(bad);
        assert_eq!(err.kind().as_str(), "config", "{bad:?}: {err}");
        assert!(
            err.to_string().contains("invalid tenant id"),
            "{bad:?}: {err}"
        );
    }
}

#[tokio::test]
async fn long_tenant_ids_sharing_a_prefix_get_schemas_of_their_own() {
    let stack = spawn_stack().await;
    // 63 characters, equal but for the last: PostgreSQL cuts identifiers at 63 bytes, so
    // `tenant_<id>` alone would put both in one schema.
    let prefix = format!("{}-", unique("long"));
    let pad = "x".repeat(62 - prefix.len());
    let (a, b) = (format!("{prefix}{pad}a"), format!("{prefix}{pad}b"));
    let (db_a, db_b) = (
        deals_db(&stack, 4, "note-a").await,
        deals_db(&stack, 7, "note-b").await,
    );
    for (t, db) in [(&a, &db_a), (&b, &db_b)] {
        stack
            .onboard(&tenant_toml(t, db, "SVC", DEALS), &secret("pw-"))
            .await;
        let r = pull_event(t)
            .run(&stack.deps, &unique("run-"), &Budget::default())
            .await
            .expect("pull");
        assert_eq!(r.objects[0].outcome.as_str(), "complete", "{r:?}");
    }
    let some = |s: &str| Some(s.to_owned());
    assert_eq!(
        schema_rows(&stack, &a).await,
        vec![vec![some("4"), some("note-a"), some("note-a")]]
    );
    assert_eq!(
        schema_rows(&stack, &b).await,
        vec![vec![some("7"), some("note-b"), some("note-b")]]
    );
}
