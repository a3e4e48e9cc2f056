//! Quotas: a pull that would take a tenant over its `[limits]` (or the deployment's defaults)
//! stops before writing the page that would, fails the table with `quota` and the figures, and
//! leaves what readers see untouched; `status` shows usage against the limits.

use snowsync::tenant::config::TenantId;

use crate::helpers::{cli, secret, spawn_stack, tenant_toml, text, unique, TestStack};
use crate::isolation::{deals_db, DEALS};

/// Small pages, so that a limit falls between two of them.
const PAGES_OF_10: (&str, &str) = ("SNOWSYNC_PAGE_ROWS", "10");

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {:?}", text(out)))
}

/// The number of rows in the tenant's `deals`, or `None` when it has no such table.
async fn live_rows(stack: &TestStack, tenant: &str) -> Option<String> {
    let schema = TenantId::parse(tenant).expect("id").pg_schema();
    let exists = stack
        .pg_text(&format!(
            "SELECT to_regclass('\"{schema}\".deals') IS NOT NULL"
        ))
        .await;
    if exists[0][0].as_deref() != Some("t") {
        return None;
    }
    stack
        .pg_text(&format!("SELECT count(*) FROM \"{schema}\".deals"))
        .await[0][0]
        .clone()
}

/// The tenant's tables in PostgreSQL (staging tables included).
async fn tables(stack: &TestStack, tenant: &str) -> String {
    let schema = TenantId::parse(tenant).expect("id").pg_schema();
    stack
        .pg_text(&format!(
            "SELECT count(*) FROM pg_tables WHERE schemaname = '{schema}'"
        ))
        .await[0][0]
        .clone()
        .unwrap_or_default()
}

/// The rows held and the page's rows in a `max_rows` quota message.
fn figures(error: &str) -> (u64, u64) {
    let number = |after: &str| -> u64 {
        let rest = &error[error
            .find(after)
            .unwrap_or_else(|| panic!("{after}: {error}"))
            + after.len()..];
        rest.split(' ')
            .next()
            .and_then(|n| n.replace(',', "").parse().ok())
            .unwrap_or_else(|| panic!("{error}"))
    };
    (number(" holds "), number("this page adds "))
}

fn pull(tenant: &str, env: &[(&str, &str)], extra: &[&str]) -> (bool, serde_json::Value) {
    let mut args = vec!["pull", tenant, "--json"];
    args.extend_from_slice(extra);
    let out = cli(&args, env);
    (out.status.success(), json(&out))
}

#[tokio::test]
async fn a_pull_over_max_rows_stops_before_the_page_and_says_what_to_raise() {
    let stack = spawn_stack().await;
    let tenant = unique("q-");
    let db = deals_db(&stack, 40, "n").await;
    let config = |limits: &str| tenant_toml(&tenant, &db, "SVC", &format!("{DEALS}\n{limits}"));
    let password = secret("pw-");
    stack
        .onboard(&config("[limits]\nmax_rows = 25\n"), &password)
        .await;

    // 10 + 10 fit, the third page would make 30: the table fails, nothing is swapped in, the
    // staging table's space is given back.
    let (ok, doc) = pull(&tenant, &[PAGES_OF_10], &[]);
    assert!(!ok, "{doc}");
    let t = &doc["tables"][0];
    assert_eq!(t["outcome"], "failed", "{doc}");
    assert_eq!(t["error_kind"], "quota", "{doc}");
    let error = t["error"].as_str().expect("error");
    assert!(
        error.contains(&format!("quota: tenant {tenant} holds "))
            && error.ends_with("over its max_rows of 25 rows: raise [limits] max_rows in the tenant config (then snowsync tenant add) or remove tables"),
        "{error}"
    );
    let (held, page) = figures(error);
    assert!(held <= 25 && held + page > 25 && page > 0, "{error}");
    assert_eq!(live_rows(&stack, &tenant).await, None);
    assert_eq!(
        tables(&stack, &tenant).await,
        "0",
        "the staging table is dropped"
    );
    let runs = json(&cli(&["runs", &tenant, "--json"], &[]));
    assert_eq!(runs["runs"][0]["error_kind"], "quota", "{runs}");
    // Text output names the kind too.
    let out = cli(&["pull", &tenant], &[PAGES_OF_10]);
    assert!(!out.status.success());
    assert!(text(&out).0.contains("quota"), "{:?}", text(&out));

    // Raised, the pull completes (starting over: the stopped run's staging is gone).
    stack
        .onboard(&config("[limits]\nmax_rows = 60\n"), &password)
        .await;
    let (ok, doc) = pull(&tenant, &[PAGES_OF_10], &[]);
    assert!(ok, "{doc}");
    assert_eq!(live_rows(&stack, &tenant).await.as_deref(), Some("40"));

    // A backfill holds two copies while it stages: 40 live + 30 staged > 60. Readers keep the
    // live table whole.
    let (ok, doc) = pull(&tenant, &[PAGES_OF_10], &["--backfill"]);
    assert!(!ok, "{doc}");
    let error = doc["tables"][0]["error"].as_str().expect("error");
    assert!(error.contains("over its max_rows of 60 rows"), "{error}");
    // The staged rows alone stay far under 60: the live copy counts.
    let (held, page) = figures(error);
    assert!(held > 40 && held <= 60 && held + page > 60, "{error}");
    assert_eq!(live_rows(&stack, &tenant).await.as_deref(), Some("40"));
    assert_eq!(tables(&stack, &tenant).await, "1");

    // status: usage against the limit, in the table and in --json.
    let status = json(&cli(&["status", &tenant, "--json"], &[]));
    let usage = &status["usage"][0];
    assert_eq!(usage["tenant"], tenant.as_str(), "{status}");
    assert_eq!(usage["rows"], 40, "{status}");
    assert_eq!(usage["max_rows"], 60, "{status}");
    assert!(usage["bytes"].as_u64().unwrap_or(0) > 0, "{status}");
    assert_eq!(usage["max_bytes"], serde_json::Value::Null, "{status}");
    let out = cli(&["status", &tenant], &[]);
    let (stdout, _) = text(&out);
    assert!(
        stdout.contains("MAX ROWS") && stdout.contains("60") && stdout.contains("67%"),
        "{stdout}"
    );
}

#[tokio::test]
async fn the_deployment_default_applies_to_tenants_without_limits() {
    let stack = spawn_stack().await;
    let tenant = unique("d-");
    let db = deals_db(&stack, 40, "n").await;
    stack
        .onboard(&tenant_toml(&tenant, &db, "SVC", DEALS), &secret("pw-"))
        .await;
    // The first page fits in 1 kB; after it the staging table holds a disk page of 8 kB.
    let (ok, doc) = pull(
        &tenant,
        &[PAGES_OF_10, ("SNOWSYNC_DEFAULT_MAX_BYTES", "1KB")],
        &[],
    );
    assert!(!ok, "{doc}");
    assert_eq!(doc["tables"][0]["error_kind"], "quota", "{doc}");
    let error = doc["tables"][0]["error"].as_str().expect("error");
    assert!(
        error.contains("over its max_bytes of 1.0 KB: raise [limits] max_bytes"),
        "{error}"
    );
    assert_eq!(live_rows(&stack, &tenant).await, None);

    // A default that does not parse is refused, naming the variable.
    let out = cli(
        &["pull", &tenant],
        // what an operator sees by default: the one line, no logs
        &[("SNOWSYNC_DEFAULT_MAX_BYTES", "lots"), ("RUST_LOG", "off")],
    );
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(
        stderr.starts_with("error: SNOWSYNC_DEFAULT_MAX_BYTES: invalid size \"lots\""),
        "{stderr}"
    );

    // Without limits anywhere, the same pull completes.
    let (ok, doc) = pull(&tenant, &[PAGES_OF_10], &[]);
    assert!(ok, "{doc}");
    assert_eq!(live_rows(&stack, &tenant).await.as_deref(), Some("40"));
}
