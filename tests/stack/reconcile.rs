//! Rows deleted in the source: `snowsync reconcile` (deletes = "reconcile" and "soft"), the
//! source's own delete flag (`deleted_column`), SIGKILLs during reconciliation, and a source
//! that inserts and deletes rows while a reconciliation runs. After each reconciliation the
//! platform holds exactly the source's keys among those it had, and never lost one the source
//! still has.

use std::collections::BTreeSet;

use snowsync::snowflake::Session;
use snowsync::state::Direction;

use crate::helpers::{
    cli, lease_lapsed, pg_schema, secret, sf_rows, spawn_stack, tenant_toml, text, unique, Faults,
    Spawned, TestStack,
};

/// `DEALS (ID, UPDATED_AT, AMOUNT, IS_DELETED)` pulled with `extra` appended to its entry.
async fn deals(stack: &TestStack, extra: &str, rows: u32) -> (String, String, Session) {
    let tenant = unique("t-");
    let db = unique("DB_").to_uppercase();
    let sf = stack.snowflake(&db).await;
    sf.execute("CREATE TABLE PUBLIC.DEALS (ID NUMBER(38,0), UPDATED_AT TIMESTAMP_NTZ(9), AMOUNT NUMBER(12,2), IS_DELETED BOOLEAN)")
        .await
        .expect("create");
    sf.execute(&format!("INSERT INTO PUBLIC.DEALS SELECT SEQ4() + 1, DATEADD('second', SEQ4(), '2026-01-01'::TIMESTAMP_NTZ), SEQ4() / 4, FALSE FROM TABLE(GENERATOR(ROWCOUNT => {rows}))"))
        .await
        .expect("insert");
    let entry = format!(
        "[[pull]]\ntable = \"DEALS\"\ncursor = \"UPDATED_AT\"\nprimary_key = [\"ID\"]\n{extra}"
    );
    stack
        .onboard(&tenant_toml(&tenant, &db, "SVC", &entry), &secret("pw-"))
        .await;
    (tenant, db, sf)
}

const QUIET: (&str, &str) = ("RUST_LOG", "off");
const PAGES: (&str, &str) = ("SNOWSYNC_PAGE_ROWS", "40");

fn ok(args: &[&str], env: &[(&str, &str)]) -> String {
    let out = cli(args, env);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "snowsync {args:?}: {stdout}{stderr}");
    stdout
}

/// The source's keys.
async fn source_keys(sf: &Session) -> BTreeSet<i64> {
    keys_where(sf, "TRUE").await
}

/// The source's keys of rows matching `filter`.
async fn keys_where(sf: &Session, filter: &str) -> BTreeSet<i64> {
    sf_rows(
        sf,
        &format!("SELECT TO_VARCHAR(ID) FROM PUBLIC.DEALS WHERE {filter}"),
    )
    .await
    .into_iter()
    .map(|r| {
        let v = r[0].clone().expect("an ID");
        v.parse()
            .unwrap_or_else(|_| v.parse::<f64>().expect("a number") as i64)
    })
    .collect()
}

/// The platform's keys (with `marked`, only those marked deleted; else only those not).
async fn platform_keys(stack: &TestStack, tenant: &str, marked: Option<bool>) -> BTreeSet<i64> {
    let filter = match marked {
        None => String::new(),
        Some(true) => " WHERE _snowsync_deleted_at IS NOT NULL".into(),
        Some(false) => " WHERE _snowsync_deleted_at IS NULL".into(),
    };
    stack
        .pg_text(&format!(
            "SELECT id FROM {}.deals{filter}",
            pg_schema(tenant)
        ))
        .await
        .into_iter()
        .filter_map(|r| r[0].as_deref().and_then(|v| v.parse().ok()))
        .collect()
}

/// `snowsync reconcile <tenant> --json`: the one table's report.
fn reconcile(tenant: &str) -> serde_json::Value {
    let out = ok(&["reconcile", tenant, "--json"], &[QUIET, PAGES]);
    let doc: serde_json::Value = serde_json::from_str(&out).expect("json");
    let t = doc["tables"][0].clone();
    assert_eq!(t["outcome"], "complete", "{doc}");
    t
}

#[tokio::test]
async fn reconcile_deletes_rows_gone_from_the_source_and_skips_ranges_that_agree() {
    let stack = spawn_stack().await;
    let (tenant, _db, sf) = deals(&stack, "deletes = \"reconcile\"\n", 300).await;
    ok(&["pull", &tenant], &[QUIET, PAGES]);
    // Nothing changed: every range's fingerprint agrees, no key is read.
    let quiet = reconcile(&tenant);
    assert_eq!(quiet["rows_deleted"], 0, "{quiet}");
    assert_eq!(quiet["rows_read"], 0, "{quiet}");

    // 39 rows deleted across every range (first and last rows too); 20 inserted, not pulled yet.
    sf.execute("DELETE FROM PUBLIC.DEALS WHERE ID % 8 = 1 OR ID = 300")
        .await
        .expect("delete");
    sf.execute("INSERT INTO PUBLIC.DEALS SELECT SEQ4() + 1000, '2026-05-01'::TIMESTAMP_NTZ, 1, FALSE FROM TABLE(GENERATOR(ROWCOUNT => 20))")
        .await
        .expect("insert");
    let report = reconcile(&tenant);
    assert_eq!(report["rows_deleted"], 39, "{report}");
    let source = source_keys(&sf).await;
    let kept: BTreeSet<i64> = source.iter().copied().filter(|k| *k < 1000).collect();
    assert_eq!(platform_keys(&stack, &tenant, None).await, kept);

    // Recorded: the run record, status and check show the mode and the last reconciliation.
    let runs: serde_json::Value =
        serde_json::from_str(&ok(&["runs", &tenant, "--json"], &[QUIET])).expect("json");
    let run = &runs["runs"][0];
    assert_eq!(run["plan"], "reconcile", "{runs}");
    assert_eq!(run["rows_deleted"], 39, "{runs}");
    let status = ok(&["status", &tenant], &[QUIET]);
    assert!(
        status.contains("reconcile: ") && status.contains("39 deleted"),
        "{status}"
    );
    // The pull's own last run is still the pull's.
    let status: serde_json::Value =
        serde_json::from_str(&ok(&["status", &tenant, "--json"], &[QUIET])).expect("json");
    let object = &status["objects"][0];
    assert_eq!(object["deletes"], "reconcile", "{status}");
    assert_ne!(object["last_run"]["plan"], "reconcile", "{status}");
    assert_eq!(object["last_reconcile"]["rows_deleted"], 39, "{status}");
    let check = ok(&["check", &tenant], &[QUIET]);
    assert!(
        check.contains("deletes reconcile") && check.contains("39 row(s) deleted"),
        "{check}"
    );

    // The next pull brings the new rows: the platform equals the source.
    ok(&["pull", &tenant], &[QUIET, PAGES]);
    assert_eq!(platform_keys(&stack, &tenant, None).await, source);
}

#[tokio::test]
async fn soft_deletes_mark_rows_and_unmark_a_key_that_comes_back() {
    let stack = spawn_stack().await;
    let (tenant, _db, sf) = deals(&stack, "deletes = \"soft\"\n", 120).await;
    ok(&["pull", &tenant], &[QUIET, PAGES]);
    sf.execute("DELETE FROM PUBLIC.DEALS WHERE ID IN (1, 41, 42, 80, 120)")
        .await
        .expect("delete");
    let report = reconcile(&tenant);
    assert_eq!(report["rows_deleted"], 5, "{report}");
    let marked = platform_keys(&stack, &tenant, Some(true)).await;
    assert_eq!(marked, BTreeSet::from([1, 41, 42, 80, 120]));
    assert_eq!(
        platform_keys(&stack, &tenant, Some(false)).await,
        source_keys(&sf).await
    );
    // Marked once: a second reconciliation counts nothing new.
    assert_eq!(reconcile(&tenant)["rows_deleted"], 0);

    // Key 42 comes back in the source: the pull updates it, the reconciliation unmarks it.
    sf.execute("INSERT INTO PUBLIC.DEALS VALUES (42, '2026-06-01'::TIMESTAMP_NTZ, 7, FALSE)")
        .await
        .expect("insert");
    ok(&["pull", &tenant], &[QUIET, PAGES]);
    reconcile(&tenant);
    assert_eq!(
        platform_keys(&stack, &tenant, Some(true)).await,
        BTreeSet::from([1, 41, 80, 120])
    );
    assert_eq!(
        platform_keys(&stack, &tenant, Some(false)).await,
        source_keys(&sf).await
    );
}

#[tokio::test]
async fn the_sources_own_delete_flag_is_honoured_by_the_pull() {
    let stack = spawn_stack().await;
    let (tenant, _db, sf) = deals(&stack, "deleted_column = \"IS_DELETED\"\n", 100).await;
    sf.execute("UPDATE PUBLIC.DEALS SET IS_DELETED = TRUE WHERE ID <= 10")
        .await
        .expect("flag");
    ok(&["pull", &tenant], &[QUIET, PAGES]);
    let live = "NOT IS_DELETED";
    assert_eq!(
        platform_keys(&stack, &tenant, None).await,
        keys_where(&sf, live).await
    );
    // Flagged later (the cursor moves with it): the incremental pull removes the row.
    sf.execute("UPDATE PUBLIC.DEALS SET IS_DELETED = TRUE, UPDATED_AT = '2026-06-01'::TIMESTAMP_NTZ WHERE ID IN (50, 51)")
        .await
        .expect("flag");
    let out = ok(&["pull", &tenant, "--json"], &[QUIET, PAGES]);
    let doc: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(doc["tables"][0]["rows_deleted"], 2, "{doc}");
    assert_eq!(
        platform_keys(&stack, &tenant, None).await,
        keys_where(&sf, live).await
    );
}

#[tokio::test]
async fn a_source_inserting_and_deleting_while_reconciliation_runs_loses_no_live_row() {
    let stack = spawn_stack().await;
    let (tenant, db, sf) = deals(&stack, "deletes = \"reconcile\"\n", 3000).await;
    ok(&["pull", &tenant], &[QUIET, PAGES]);
    let pulled = platform_keys(&stack, &tenant, None).await;
    sf.execute("DELETE FROM PUBLIC.DEALS WHERE ID % 10 = 3")
        .await
        .expect("delete");
    // While it runs: rows inserted (new keys) and more deleted, all over the key space.
    let mut run = Spawned::snowsync(&["reconcile", &tenant], &[QUIET, PAGES]);
    let mut step = 0;
    while run.try_wait().expect("wait").is_none() && step < 40 {
        sf.execute(&format!(
            "INSERT INTO PUBLIC.DEALS VALUES ({}, '2026-07-01'::TIMESTAMP_NTZ, 1, FALSE)",
            5000 + step
        ))
        .await
        .expect("insert");
        sf.execute(&format!(
            "DELETE FROM PUBLIC.DEALS WHERE ID = {}",
            (step * 73) % 3000 + 1
        ))
        .await
        .expect("delete");
        step += 1;
    }
    let (status, out) = run.finish();
    assert!(status.success(), "{out}");
    assert!(
        step > 0,
        "the source never moved while the reconciliation ran"
    );
    let source = source_keys(&sf).await;
    let platform = platform_keys(&stack, &tenant, None).await;
    // Nothing deleted that still exists.
    for k in pulled.intersection(&source) {
        assert!(
            platform.contains(k),
            "key {k} exists in the source but was deleted"
        );
    }
    // And a reconciliation after the source stood still leaves exactly the source's keys.
    reconcile(&tenant);
    let expected: BTreeSet<i64> = pulled.intersection(&source).copied().collect();
    assert_eq!(platform_keys(&stack, &tenant, None).await, expected);
    lease_lapsed(
        &stack,
        &tenant,
        Direction::Pull,
        &format!("{db}.PUBLIC.DEALS"),
    )
    .await;
}

#[tokio::test]
async fn seeded_sigkills_during_reconciliation_never_delete_a_row_the_source_has() {
    let stack = spawn_stack().await;
    let (tenant, db, sf) = deals(&stack, "deletes = \"reconcile\"\n", 2000).await;
    let object = format!("{db}.PUBLIC.DEALS");
    ok(&["pull", &tenant], &[QUIET, PAGES]);
    let env = [QUIET, PAGES, ("SNOWSYNC_LEASE_TTL_SECS", "1")];
    let mut faults = Faults::seeded("reconcile_sigkill_storm");
    sf.execute("DELETE FROM PUBLIC.DEALS WHERE ID % 7 = 0")
        .await
        .expect("delete");
    // The clean run reads every range's keys; later runs read those of the ranges a deletion
    // touched, from their checkpoint on: kills land in the first half of it.
    let window = faults.kill_window(&["reconcile", &tenant], &env) / 2;
    let mut next_id = 10_000;
    while faults.wants_kills(12) {
        // The source moves between runs: a row deleted in about every range, rows inserted and
        // sometimes pulled.
        let n = faults.below(41);
        sf.execute(&format!("DELETE FROM PUBLIC.DEALS WHERE ID % 41 = {n}"))
            .await
            .expect("delete");
        sf.execute(&format!(
            "INSERT INTO PUBLIC.DEALS VALUES ({next_id}, DATEADD('second', {next_id}, '2026-08-01'::TIMESTAMP_NTZ), 1, FALSE)"
        ))
        .await
        .expect("insert");
        next_id += 1;
        if faults.below(3) == 0 {
            lease_lapsed(&stack, &tenant, Direction::Pull, &object).await;
            ok(&["pull", &tenant], &env);
        }
        let before = platform_keys(&stack, &tenant, None).await;
        faults.kill_run(&["reconcile", &tenant], &env, window).await;
        let source = source_keys(&sf).await;
        let after = platform_keys(&stack, &tenant, None).await;
        for k in before.intersection(&source) {
            assert!(
                after.contains(k),
                "attempt {}: key {k} exists in the source but was deleted",
                faults.attempts
            );
        }
        assert!(after.is_subset(&before), "a reconciliation added rows");
        lease_lapsed(&stack, &tenant, Direction::Pull, &object).await;
    }
    // A reconciliation after the storm finishes the interrupted one from its checkpoint (the
    // ranges done before it are the next one's), a fresh one covers every range; one more pull
    // and the platform equals the source.
    let before = platform_keys(&stack, &tenant, None).await;
    reconcile(&tenant);
    let source = source_keys(&sf).await;
    let after = platform_keys(&stack, &tenant, None).await;
    assert!(before.intersection(&source).all(|k| after.contains(k)));
    reconcile(&tenant);
    assert_eq!(
        platform_keys(&stack, &tenant, None).await,
        before.intersection(&source).copied().collect()
    );
    ok(&["pull", &tenant], &env);
    assert_eq!(platform_keys(&stack, &tenant, None).await, source);
}

#[tokio::test]
async fn the_reconcile_schedule_fires_a_reconciliation_that_hops_one_range_per_invocation() {
    let stack = spawn_stack().await;
    let (tenant, db, sf) = deals(&stack, "deletes = \"reconcile\"\n", 200).await;
    ok(&["pull", &tenant], &[QUIET, PAGES]);
    sf.execute("DELETE FROM PUBLIC.DEALS WHERE ID % 9 = 0")
        .await
        .expect("delete");

    // `tenant add` with a reconcile expression: a third schedule, firing the pull function
    // with the reconcile event.
    let dir = std::env::temp_dir().join(unique("snowsync-reconcile-"));
    std::fs::create_dir_all(&dir).expect("dir");
    let (config, creds) = (dir.join("t.toml"), dir.join("c.json"));
    crate::helpers::write_secret_file(&creds, r#"{"password": "x"}"#);
    let entry = "[schedule]\nreconcile = \"cron(0 4 ? * SUN *)\"\n\n[[pull]]\ntable = \"DEALS\"\ncursor = \"UPDATED_AT\"\nprimary_key = [\"ID\"]\ndeletes = \"reconcile\"\n";
    std::fs::write(&config, tenant_toml(&tenant, &db, "SVC", entry)).expect("write");
    let out = ok(
        &[
            "tenant",
            "add",
            config.to_str().expect("p"),
            "--credentials",
            creds.to_str().expect("p"),
        ],
        &[QUIET],
    );
    assert!(
        out.contains(&format!("snowsync-{tenant}-reconcile: cron(0 4 ? * SUN *)")),
        "{out}"
    );
    let schedule = stack
        .deps
        .scheduler
        .get_schedule()
        .group_name("snowsync")
        .name(format!("snowsync-{tenant}-reconcile"))
        .send()
        .await
        .expect("reconcile schedule");
    let target = schedule.target().expect("target");
    assert!(
        target.arn().ends_with(":function:snowsync-pull"),
        "{}",
        target.arn()
    );
    let mut event: serde_json::Value =
        serde_json::from_str(target.input().expect("input")).expect("json");
    assert_eq!(
        event,
        serde_json::json!({"tenant": tenant, "mode": "reconcile"})
    );

    // The function, near its deadline each time: one range per invocation, carried on from
    // the checkpoint until the last.
    let mut deps = stack.deps.clone();
    deps.settings.page_rows = 40;
    let mut hops = 0;
    let last = loop {
        event["hop"] = hops.into();
        let (_, result) = crate::helpers::near_deadline::<snowsync::pull::PullFunctionEvent>(
            &deps,
            "snowsync-pull",
            event.clone(),
        )
        .await;
        let t = result["tables"][0].clone();
        if t["outcome"] == "complete" {
            break t;
        }
        assert_eq!(t["outcome"], "continued", "{result}");
        hops += 1;
        assert!(hops < 50, "the reconciliation never finished: {result}");
        assert_eq!(t["pages"], hops, "one range per invocation: {result}");
    };
    assert!(hops >= 4, "200 keys in ranges of 40 took {hops} hops");
    assert_eq!(last["rows_deleted"], 22, "{last}");
    assert_eq!(
        platform_keys(&stack, &tenant, None).await,
        source_keys(&sf).await
    );
}
