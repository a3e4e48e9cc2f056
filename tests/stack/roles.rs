//! Tenant isolation in PostgreSQL itself: each tenant's schema is owned by a role of its own,
//! every write of a run happens under `SET ROLE` to it, and a session switched to one tenant's
//! role is refused by PostgreSQL when it touches another's schema. Plus the upgrade of schemas
//! made before roles existed, and `tenant remove --purge`.

use snowsync::lambda::{Budget, Job};
use snowsync::postgres::{PgTenant, PlatformStore};
use snowsync::tenant::config::TenantId;

use crate::helpers::{cli, secret, spawn_stack, tenant_toml, text, unique, TestStack};
use crate::isolation::{deals_db, pull_event, DEALS};

/// Onboards a tenant on a fresh `DEALS` of `n` rows and pulls it; returns its schema and role.
async fn pulled(stack: &TestStack, prefix: &str, n: u32) -> (String, PgTenant) {
    let tenant = unique(prefix);
    let db = deals_db(stack, n, &format!("note-{prefix}")).await;
    stack
        .onboard(&tenant_toml(&tenant, &db, "SVC", DEALS), &secret("pw-"))
        .await;
    let r = pull_event(&tenant)
        .run(&stack.deps, &unique("run-"), &Budget::default())
        .await
        .expect("pull");
    assert_eq!(r.objects[0].outcome.as_str(), "complete", "{r:?}");
    let pg = PgTenant::of(&TenantId::parse(&tenant).expect("id"));
    (tenant, pg)
}

async fn one(stack: &TestStack, sql: &str) -> String {
    stack.pg_text(sql).await[0][0].clone().unwrap_or_default()
}

/// The owners of the schema and of its `deals` table.
async fn owners(stack: &TestStack, pg: &PgTenant) -> (String, String) {
    let s = pg.schema();
    (
        one(stack, &format!("SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = '{s}'")).await,
        one(stack, &format!("SELECT tableowner::text FROM pg_tables WHERE schemaname = '{s}' AND tablename = 'deals'")).await,
    )
}

#[tokio::test]
async fn a_session_under_one_tenants_role_is_refused_by_postgresql_in_anothers_schema() {
    let stack = spawn_stack().await;
    let (_, a) = pulled(&stack, "a-", 3).await;
    let (_, b) = pulled(&stack, "b-", 5).await;
    // The run wrote as the tenant's role: what it created is the role's.
    for t in [&a, &b] {
        assert_eq!(
            owners(&stack, t).await,
            (t.role().to_owned(), t.role().to_owned())
        );
    }
    let client = stack
        .deps
        .platform
        .tenant_client(&a)
        .await
        .expect("a's session");
    let mine = format!("\"{}\".deals", a.schema());
    client
        .batch_execute(&format!("UPDATE {mine} SET note = 'mine' WHERE id = 1"))
        .await
        .expect("a writes its own schema");
    let theirs = format!("\"{}\".deals", b.schema());
    for sql in [
        format!("INSERT INTO {theirs} (id) VALUES (999)"),
        format!("UPDATE {theirs} SET note = 'x'"),
        format!("DELETE FROM {theirs}"),
        format!("DROP TABLE {theirs}"),
        format!("CREATE TABLE \"{}\".planted (x int)", b.schema()),
        "DELETE FROM platform.actions".to_owned(),
    ] {
        let e = client.batch_execute(&sql).await.expect_err(&sql);
        assert_eq!(
            e.code(),
            Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE),
            "{sql}: {e:?}"
        );
    }
    drop(client);
    assert_eq!(
        stack
            .pg_text(&format!("SELECT count(*), min(note) FROM {theirs}"))
            .await,
        vec![vec![Some("5".into()), Some("note-b-".into())]]
    );
}

#[tokio::test]
async fn a_pooled_connection_never_keeps_a_tenants_role_for_its_next_user() {
    let _stack = spawn_stack().await;
    // A pool of its own, used one connection at a time: the second checkout is the first's
    // connection again.
    let url = std::env::var("SNOWSYNC_DATABASE_URL").expect("url");
    let store = PlatformStore::connect(&url).expect("pool");
    let t = PgTenant::of(&TenantId::parse(&unique("p-")).expect("id"));
    store.ensure_tenant(&t).await.expect("role");
    const WHO: &str = "SELECT pg_backend_pid(), current_user::text";
    let switched = store.tenant_client(&t).await.expect("switched");
    let row = switched.query_one(WHO, &[]).await.expect("who");
    let (first, role): (i32, String) = (row.get(0), row.get(1));
    assert_eq!(role, t.role());
    drop(switched);
    let plain = store.client().await.expect("plain");
    let row = plain.query_one(WHO, &[]).await.expect("who");
    let (again, user): (i32, String) = (row.get(0), row.get(1));
    assert_eq!(again, first, "the same pooled connection");
    assert_ne!(user, t.role(), "the tenant role was reset on checkout");
}

#[tokio::test]
async fn schemas_made_before_tenant_roles_are_handed_to_their_role_on_first_use() {
    let stack = spawn_stack().await;
    let (tenant, pg) = pulled(&stack, "old-", 4).await;
    // As an older snowsync left it: schema and tables the login role's, no tenant role.
    let (s, r) = (pg.schema(), pg.role());
    stack
        .pg
        .batch_execute(&format!(
            "ALTER TABLE \"{s}\".deals OWNER TO CURRENT_USER; ALTER SCHEMA \"{s}\" OWNER TO CURRENT_USER; \
             DO $$ BEGIN EXECUTE format('REVOKE ALL ON DATABASE %I FROM %I', current_database(), '{r}'); END $$; \
             DROP ROLE \"{r}\""
        ))
        .await
        .expect("downgrade");
    let login = one(&stack, "SELECT current_user::text").await;
    assert_eq!(owners(&stack, &pg).await, (login.clone(), login));
    for _ in 0..2 {
        let r = pull_event(&tenant)
            .run(&stack.deps, &unique("run-"), &Budget::default())
            .await
            .expect("pull");
        assert_eq!(r.objects[0].outcome.as_str(), "complete", "{r:?}");
        assert_eq!(
            owners(&stack, &pg).await,
            (pg.role().to_owned(), pg.role().to_owned())
        );
    }
    assert_eq!(
        one(&stack, &format!("SELECT count(*) FROM \"{s}\".deals")).await,
        "4"
    );
}

#[tokio::test]
async fn purge_drops_the_tenants_schema_and_role_and_nothing_else() {
    let stack = spawn_stack().await;
    let (a, pa) = pulled(&stack, "a-", 3).await;
    let (b, pb) = pulled(&stack, "b-", 5).await;
    let exists = |pg: &PgTenant| {
        format!(
            "SELECT (SELECT count(*) FROM pg_namespace WHERE nspname = '{}') || '/' || \
             (SELECT count(*) FROM pg_roles WHERE rolname = '{}')",
            pg.schema(),
            pg.role()
        )
    };
    // Without --purge the data stays.
    let out = cli(&["tenant", "remove", &b], &[]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(one(&stack, &exists(&pb)).await, "1/1");

    // A view outside the schema reads a's table: the purge is refused and drops nothing.
    let view = unique("keep_");
    stack
        .pg
        .batch_execute(&format!(
            "CREATE VIEW public.{view} AS SELECT id FROM \"{}\".deals",
            pa.schema()
        ))
        .await
        .expect("view");
    // what an operator sees by default: the one line, no logs
    let out = cli(&["tenant", "remove", &a, "--purge"], &[("RUST_LOG", "off")]);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{stdout}{stderr}");
    assert!(
        stderr.contains("other objects depend on them") && stderr.contains(&view),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert_eq!(one(&stack, &exists(&pa)).await, "1/1");
    let shown = cli(&["tenant", "show", &a], &[]);
    assert!(
        shown.status.success(),
        "the tenant is still there: {:?}",
        text(&shown)
    );

    stack
        .pg
        .batch_execute(&format!("DROP VIEW public.{view}"))
        .await
        .expect("drop view");
    let out = cli(&["tenant", "remove", &a, "--purge"], &[]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!(
            "dropped schema {} (1 tables) and role {}",
            pa.schema(),
            pa.role()
        )),
        "{stdout}"
    );
    assert_eq!(one(&stack, &exists(&pa)).await, "0/0");
    // b's data, b's role and the platform's own tables are untouched.
    assert_eq!(one(&stack, &exists(&pb)).await, "1/1");
    assert_eq!(
        one(
            &stack,
            &format!("SELECT count(*) FROM \"{}\".deals", pb.schema())
        )
        .await,
        "5"
    );
    assert_eq!(
        one(&stack, "SELECT count(*) FROM pg_tables WHERE schemaname = 'platform' AND tablename IN ('actions', 'stages')").await,
        "2"
    );
    // Purging again finds nothing and says so.
    let out = cli(&["tenant", "remove", &a, "--purge"], &[]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(text(&out)
        .0
        .contains("dropped schema (none) (0 tables) and role (none)"));
}
