//! Login failures: Snowflake's real error responses (the emulator's designated users answer
//! them) become clear, classified errors naming user and account, and no secret leaks into
//! output or logs.

use crate::helpers::{cli, secret, spawn_stack, tenant_toml, text, unique};

/// Pulls as `user` with a unique password, with debug logs on; returns (exit ok, stdout+stderr, password).
async fn pull_as(user: &str) -> (bool, String, String, String) {
    let stack = spawn_stack().await;
    let tenant = unique("t-");
    let db = unique("DB_").to_uppercase();
    let password = secret("Sup3r-s3cret-");
    let toml = tenant_toml(&tenant, &db, user, "[[pull]]\ntable = \"T\"\n");
    stack.onboard(&toml, &password).await;
    let out = cli(&["pull", &tenant], &[("RUST_LOG", "trace")]);
    let (stdout, stderr) = text(&out);
    let status = stack
        .deps
        .state
        .runs(&snowsync::tenant::config::TenantId::parse(&tenant).expect("id"))
        .await
        .expect("runs");
    let kinds = status
        .iter()
        .filter_map(|r| r.error_kind.map(|k| k.as_str().to_owned()))
        .collect::<Vec<_>>()
        .join(",");
    (
        out.status.success(),
        format!("{stdout}\n{stderr}"),
        password,
        kinds,
    )
}

#[tokio::test]
async fn a_wrong_password_is_an_auth_error_naming_user_and_account_without_the_secret() {
    let (ok, output, password, kinds) = pull_as("SNOWSYNC_WRONG_PASSWORD").await;
    assert!(!ok, "{output}");
    assert!(output.contains("auth: Snowflake refused the login of user SNOWSYNC_WRONG_PASSWORD to account test-org-test-account"), "{output}");
    assert!(output.contains("390100"), "{output}");
    assert!(
        !output.contains(&password),
        "the password leaked:\n{output}"
    );
    assert_eq!(kinds, "auth");
}

#[tokio::test]
async fn a_blocked_ip_is_a_network_policy_error_pointing_at_the_egress_ips() {
    let (ok, output, password, kinds) = pull_as("SNOWSYNC_IP_BLOCKED").await;
    assert!(!ok, "{output}");
    assert!(
        output.contains("network_policy: Snowflake refused user SNOWSYNC_IP_BLOCKED"),
        "{output}"
    );
    assert!(
        output.contains("390422") && output.contains("egress IPs"),
        "{output}"
    );
    assert!(
        !output.contains(&password),
        "the password leaked:\n{output}"
    );
    assert_eq!(kinds, "network_policy");
}
