//! The operator's view: `--json` documents of `pull`, `runs`, `status`, `tenant list`,
//! `tenant show` and `check`, read field by field, and the history `runs` keeps.

use serde_json::Value;

use snowsync::snowflake::Session;

use crate::helpers::{cli, secret, spawn_stack, tenant_toml, text, unique, TestStack};

const DEALS: &str = "[[pull]]\ntable = \"DEALS\"\ncursor = \"UPDATED_AT\"\nprimary_key = [\"ID\"]\n\n[schedule]\npull = \"rate(6 hours)\"\n";

/// Runs `snowsync <args> --json` and parses its one document.
fn json(args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = cli(&all, &[]);
    let (stdout, stderr) = text(&out);
    serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("snowsync {args:?} --json: {e}: {stdout}{stderr}"))
}

/// A tenant pulling `DEALS (ID, UPDATED_AT)` of `rows` rows, one second apart from
/// 2026-01-01 00:00:01, every 6 hours; returns the tenant, the table's name and the admin session.
async fn deals_tenant(stack: &TestStack, rows: u32) -> (String, String, Session) {
    let tenant = unique("t-");
    let db = unique("DB_").to_uppercase();
    let sf = stack.snowflake(&db).await;
    sf.execute("CREATE TABLE PUBLIC.DEALS (ID NUMBER(38,0), UPDATED_AT TIMESTAMP_NTZ)")
        .await
        .expect("create");
    sf.execute(&format!("INSERT INTO PUBLIC.DEALS SELECT SEQ4() + 1, DATEADD('second', SEQ4() + 1, '2026-01-01'::TIMESTAMP_NTZ) FROM TABLE(GENERATOR(ROWCOUNT => {rows}))"))
        .await
        .expect("insert");
    stack
        .onboard(&tenant_toml(&tenant, &db, "SVC", DEALS), &secret("pw-"))
        .await;
    (tenant, format!("{db}.PUBLIC.DEALS"), sf)
}

#[tokio::test]
async fn json_documents_and_the_run_history_say_what_happened() {
    let stack = spawn_stack().await;
    let (tenant, object, sf) = deals_tenant(&stack, 3).await;

    // pull --json: the function's own result document.
    let first = json(&["pull", &tenant]);
    assert_eq!(first["tenant"], tenant.as_str());
    assert!(first["run_id"].as_str().is_some_and(|id| !id.is_empty()));
    let t = &first["tables"][0];
    assert_eq!(t["object"], object.as_str());
    assert_eq!(t["outcome"], "complete");
    assert_eq!(
        (t["rows_read"].as_u64(), t["rows_written"].as_u64()),
        (Some(3), Some(3))
    );
    sf.execute("INSERT INTO PUBLIC.DEALS VALUES (4, '2026-01-02 00:00:00')")
        .await
        .expect("insert");
    let second = json(&["pull", &tenant]);
    assert_eq!(second["tables"][0]["rows_written"], 1);

    // runs: newest first, with plan, duration, watermarks that chain, and hops.
    let runs = json(&["runs", &tenant]);
    assert_eq!(runs["tenant"], tenant.as_str());
    let list = runs["runs"].as_array().expect("runs");
    assert_eq!(list.len(), 2, "{runs}");
    let (newer, older) = (&list[0], &list[1]);
    assert_eq!(newer["run_id"], second["run_id"]);
    assert_eq!(older["run_id"], first["run_id"]);
    assert!(newer["started_at"].as_str() > older["started_at"].as_str());
    assert_eq!(
        (older["plan"].as_str(), newer["plan"].as_str()),
        (Some("backfill"), Some("incremental"))
    );
    assert_eq!(
        (
            older["rows_written"].as_u64(),
            newer["rows_written"].as_u64()
        ),
        (Some(3), Some(1))
    );
    assert_eq!(older["outcome"], "complete");
    assert_eq!(older["watermark_before"], Value::Null);
    assert_eq!(newer["watermark_before"], older["watermark_after"]);
    assert_eq!(
        newer["watermark_after"],
        second["tables"][0]["watermark_after"]
    );
    // A backfill's NULL-cursor rows are a page of their own (here an empty one).
    assert_eq!(
        (older["hop"].as_u64(), older["pages"].as_u64()),
        (Some(0), Some(2))
    );
    assert!(
        newer["duration_seconds"].as_f64().is_some_and(|s| s >= 0.0),
        "{newer}"
    );
    assert_eq!(newer["direction"], "pull");
    assert_eq!(newer["object"], object.as_str());
    let limited = json(&["runs", &tenant, "--limit", "1"]);
    assert_eq!(limited["runs"].as_array().map(Vec::len), Some(1));
    assert_eq!(limited["runs"][0]["run_id"], second["run_id"]);
    let by_table = json(&["runs", &tenant, "--table", "deals"]);
    assert_eq!(by_table["runs"].as_array().map(Vec::len), Some(2));
    let other = json(&["runs", &tenant, "--table", "OTHER"]);
    assert_eq!(other["runs"].as_array().map(Vec::len), Some(0));

    // status: the last run, the watermark, the lag against the schedule's period.
    let status = json(&["status", &tenant]);
    assert_eq!(status["tenants"], serde_json::json!([tenant]));
    let s = &status["objects"][0];
    assert_eq!(
        (s["tenant"].as_str(), s["direction"].as_str()),
        (Some(tenant.as_str()), Some("pull"))
    );
    assert_eq!(s["object"], object.as_str());
    assert_eq!(s["last_run"]["run_id"], second["run_id"]);
    assert_eq!(s["watermark"], second["tables"][0]["watermark_after"]);
    assert!(
        s["lag_seconds"]
            .as_i64()
            .is_some_and(|l| (0..600).contains(&l)),
        "{s}"
    );
    assert_eq!(s["schedule_period_seconds"], 6 * 3600);

    // tenant list / show, check.
    let list = json(&["tenant", "list"]);
    assert!(list["tenants"]
        .as_array()
        .expect("tenants")
        .iter()
        .any(|t| t == tenant.as_str()));
    let show = json(&["tenant", "show", &tenant]);
    assert_eq!(show["secret_present"], true);
    assert_eq!(show["secret"], format!("snowsync/tenants/{tenant}"));
    assert!(show["config"]
        .as_str()
        .is_some_and(|c| c.contains("table = \"DEALS\"")));
    let check = json(&["check", &tenant]);
    assert_eq!(check["tenant"], tenant.as_str());
    let checks = check["checks"].as_array().expect("checks");
    assert!(checks
        .iter()
        .all(|c| c["item"].is_string() && c["detail"].is_string()));
    assert_eq!(check["ok"], checks.iter().all(|c| c["status"] != "fail"));
    assert!(checks.iter().any(|c| c["item"].as_str().is_some_and(|i| i.contains("DEALS")) && c["status"] == "ok"), "{check}");

    // The same history as a table for people.
    let out = cli(&["runs", &tenant], &[]);
    let (stdout, _) = text(&out);
    assert!(out.status.success());
    for want in [
        "PLAN",
        "WATERMARK AFTER",
        "backfill",
        "incremental",
        "2026-01-02 00:00:00",
    ] {
        assert!(stdout.contains(want), "{want} not in:\n{stdout}");
    }
}

/// Progress while a pull runs: a bar on a terminal (through `script`, which gives the run a
/// pseudo-terminal), a line at the start and the end of each table otherwise, and nothing with
/// `--quiet`.
#[tokio::test]
async fn progress_is_a_bar_on_a_terminal_lines_otherwise_and_nothing_when_quiet() {
    let stack = spawn_stack().await;
    let (tenant, object, _) = deals_tenant(&stack, 3000).await;
    let env = [("SNOWSYNC_PAGE_ROWS", "50")];

    let out = cli(&["pull", &tenant, "--backfill"], &env);
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains(&format!("{object}: started")), "{stderr}");
    assert!(
        stderr.contains(&format!("{object}: complete after 3000 rows in ")),
        "{stderr}"
    );

    let out = cli(&["pull", &tenant, "--backfill", "--quiet"], &env);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains(": started"), "{stderr}");
    assert!(
        stdout.contains(&object),
        "the report still prints: {stdout}"
    );

    let command = format!(
        "{} pull {tenant} --backfill",
        env!("CARGO_BIN_EXE_snowsync")
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .envs(env)
        .output()
        .expect("script");
    let terminal = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{terminal}");
    assert!(
        !terminal.contains(": started"),
        "no plain lines on a terminal: {terminal}"
    );
    assert!(
        terminal.contains(&object) && terminal.contains(" rows") && terminal.contains(" pages"),
        "a bar per table: {terminal}"
    );
}
