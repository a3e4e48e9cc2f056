//! Onboarding through the real CLI: idempotent add, list, show without secrets, remove.

use crate::helpers::{cli, secret, spawn_stack, tenant_toml, text, unique};
use snowsync::tenant::config::TenantId;

#[tokio::test]
async fn tenant_add_twice_gives_one_tenant_and_remove_deletes_it() {
    let stack = spawn_stack().await;
    let tenant = unique("t-");
    let dir = std::env::temp_dir().join(unique("snowsync-test-"));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let config = dir.join("tenant.toml");
    let creds = dir.join("creds.json");
    let password = secret("pw-secret-");
    std::fs::write(
        &config,
        tenant_toml(&tenant, "SALES", "SVC", "[[pull]]\ntable = \"T\"\n"),
    )
    .expect("write");
    std::fs::write(&creds, format!(r#"{{"password": "{password}"}}"#)).expect("write");
    let args = [
        "tenant",
        "add",
        config.to_str().expect("path"),
        "--credentials",
        creds.to_str().expect("path"),
    ];

    // A credentials file others may read is added all the same, with a warning naming the fix.
    for mode in [0o644, 0o600] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(mode)).expect("chmod");
        let out = cli(&args, &[]);
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "tenant add failed: {stdout}{stderr}");
        assert!(!stdout.contains(&password) && !stderr.contains(&password));
        assert_eq!(
            stderr.contains("is readable by every user (mode 644)") && stderr.contains("chmod 600"),
            mode == 0o644,
            "{stderr}"
        );
    }
    let listed = cli(&["tenant", "list"], &[]);
    let (stdout, _) = text(&listed);
    // One row of the table names the tenant, with its one pull table and no export.
    let rows: Vec<Vec<&str>> = stdout
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|cells| cells.contains(&tenant.as_str()))
        .collect();
    assert_eq!(rows.len(), 1, "{stdout}");
    let at = rows[0].iter().position(|c| *c == tenant).unwrap_or(0);
    assert_eq!(rows[0][at + 1..at + 3], ["1", "0"], "{stdout}");

    let shown = cli(&["tenant", "show", &tenant], &[]);
    let (stdout, stderr) = text(&shown);
    assert!(shown.status.success(), "{stderr}");
    assert!(
        stdout.contains("secret snowsync/tenants/") && stdout.contains("present"),
        "{stdout}"
    );
    assert!(!stdout.contains(&password));

    let id = TenantId::parse(&tenant).expect("id");
    let stored = stack.deps.secrets.get(&id).await.expect("secret stored");
    assert_eq!(stored.secret_values(), vec![password.as_str()]);

    let removed = cli(&["tenant", "remove", &tenant], &[]);
    assert!(removed.status.success(), "{:?}", text(&removed));
    assert!(stack
        .deps
        .state
        .get_config(&id)
        .await
        .expect("read")
        .is_none());
    assert!(!stack.deps.secrets.exists(&id).await.expect("describe"));
    let (stdout, _) = text(&cli(&["tenant", "list"], &[]));
    assert!(!stdout
        .lines()
        .any(|l| l.split_whitespace().any(|c| c == tenant)));
}

#[tokio::test]
async fn tenant_add_rejects_a_bad_config_in_one_line_and_stores_nothing() {
    let stack = spawn_stack().await;
    let tenant = unique("t-");
    let dir = std::env::temp_dir().join(unique("snowsync-test-"));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let config = dir.join("tenant.toml");
    let creds = dir.join("creds.json");
    std::fs::write(
        &config,
        tenant_toml(
            &tenant,
            "SALES",
            "SVC",
            "[[pull]]\ntable = \"T\"\ncursor = \"U\"\n",
        ),
    )
    .expect("write");
    crate::helpers::write_secret_file(&creds, r#"{"password": "x"}"#);
    let out = cli(
        &[
            "tenant",
            "add",
            config.to_str().expect("p"),
            "--credentials",
            creds.to_str().expect("p"),
        ],
        // What an operator sees by default: one line, no logs.
        &[("RUST_LOG", "off")],
    );
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("pull[0].primary_key"), "{stderr}");
    let id = snowsync::tenant::config::TenantId::parse(&tenant).expect("id");
    assert!(stack
        .deps
        .state
        .get_config(&id)
        .await
        .expect("read")
        .is_none());
    assert!(!stack.deps.secrets.exists(&id).await.expect("describe"));
}
