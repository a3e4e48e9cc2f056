//! Concurrency: eight simultaneous invocations for one tenant and table (exactly one runs, the
//! rest report `skipped_locked`), and many tenants at once without interference.

use lambda_runtime::{Context, LambdaEvent};

use crate::helpers::{pg_schema, secret, sf_rows, spawn_stack, tenant_toml, unique, TestStack};

const TABLE: &str =
    "[[pull]]\ntable = \"ORDERS\"\ncursor = \"UPDATED_AT\"\nprimary_key = [\"ID\"]\n";

/// A tenant whose ORDERS table holds `rows` rows (their totals differ from tenant to tenant).
async fn tenant_with_orders(stack: &TestStack, rows: u32) -> (String, String) {
    let tenant = unique("t-");
    let db = unique("DB_").to_uppercase();
    let sf = stack.snowflake(&db).await;
    sf.execute("CREATE TABLE PUBLIC.ORDERS (ID NUMBER(38,0), UPDATED_AT TIMESTAMP_NTZ, TOTAL NUMBER(12,2))")
        .await
        .expect("create");
    sf.execute(&format!(
        "INSERT INTO PUBLIC.ORDERS SELECT SEQ4() + 1, DATEADD('second', SEQ4(), '2026-01-01'::TIMESTAMP_NTZ), SEQ4() / 8 + {rows} FROM TABLE(GENERATOR(ROWCOUNT => {rows}))"
    ))
    .await
    .expect("insert");
    stack
        .onboard(&tenant_toml(&tenant, &db, "SVC", TABLE), &secret("pw-"))
        .await;
    (tenant, db)
}

/// The tenant's ORDERS in PostgreSQL equal the source's, row for row and value for value.
async fn assert_orders_exact(stack: &TestStack, tenant: &str, db: &str) {
    let source = sf_rows(
        &stack.snowflake(db).await,
        "SELECT TO_VARCHAR(ID), TO_VARCHAR(UPDATED_AT, 'YYYY-MM-DD HH24:MI:SS'), TO_VARCHAR(TOTAL) FROM PUBLIC.ORDERS ORDER BY ID",
    )
    .await;
    let schema = pg_schema(tenant);
    let dest = stack
        .pg_text(&format!(
            "SELECT id::text, to_char(updated_at, 'YYYY-MM-DD HH24:MI:SS'), total::text FROM \"{schema}\".orders o ORDER BY o.id"
        ))
        .await;
    assert_eq!(dest.len(), source.len(), "{tenant}: rows");
    for (d, s) in dest.iter().zip(&source) {
        assert_eq!(d, s, "{tenant}: a row differs from the source");
    }
}

async fn invoke(deps: &snowsync::Deps, tenant: &str) -> serde_json::Value {
    let mut ctx = Context::default();
    ctx.request_id = unique("req-");
    let event = serde_json::json!({ "tenant": tenant, "mode": "backfill" });
    snowsync::lambda::handle::<snowsync::pull::PullEvent>(LambdaEvent::new(event, ctx), deps)
        .await
        .expect("handler")
}

#[tokio::test]
async fn eight_simultaneous_invocations_run_one_and_skip_seven() {
    let stack = spawn_stack().await;
    let (tenant, db) = tenant_with_orders(&stack, 2000).await;
    let mut deps = stack.deps.clone();
    deps.settings.page_rows = 50; // 40 pages: the winner holds the lease while the others try
    let results = futures::future::join_all((0..8).map(|_| invoke(&deps, &tenant))).await;
    let outcomes: Vec<String> = results
        .iter()
        .map(|r| r["tables"][0]["outcome"].as_str().unwrap_or("?").to_owned())
        .collect();
    assert_eq!(
        outcomes.iter().filter(|o| *o == "complete").count(),
        1,
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes.iter().filter(|o| *o == "skipped_locked").count(),
        7,
        "{outcomes:?}"
    );
    assert_orders_exact(&stack, &tenant, &db).await;
}

#[tokio::test]
async fn many_tenants_at_once_do_not_interfere() {
    let stack = spawn_stack().await;
    let sizes = [300u32, 700, 1100, 1500, 1900, 2300];
    let mut tenants = Vec::new();
    for n in sizes {
        tenants.push((tenant_with_orders(&stack, n).await, n));
    }
    let mut deps = stack.deps.clone();
    deps.settings.page_rows = 200;
    let results =
        futures::future::join_all(tenants.iter().map(|((t, _), _)| invoke(&deps, t))).await;
    for (((tenant, db), n), result) in tenants.iter().zip(&results) {
        let t = &result["tables"][0];
        assert_eq!(t["outcome"], "complete", "{result}");
        assert_eq!(t["rows_written"].as_u64(), Some(u64::from(*n)), "{result}");
        // Each holds only its own rows: the sizes differ, and so do the totals row by row.
        assert_orders_exact(&stack, tenant, db).await;
    }
}
