//! Per-tenant schedules in EventBridge Scheduler (moto): created by `tenant add`, updated when
//! the config changes, deleted when an expression goes or the tenant is removed.

use crate::helpers::{cli, spawn_stack, tenant_toml, text, unique};

#[tokio::test]
async fn tenant_add_creates_updates_and_remove_deletes_the_schedules() {
    let stack = spawn_stack().await;
    let tenant = unique("t-");
    let dir = std::env::temp_dir().join(unique("snowsync-sched-"));
    std::fs::create_dir_all(&dir).expect("dir");
    let (config, creds) = (dir.join("t.toml"), dir.join("c.json"));
    crate::helpers::write_secret_file(&creds, r#"{"password": "x"}"#);
    let write = |schedule: &str| {
        let body = format!(
            "{schedule}\n[[pull]]\ntable = \"T\"\n\n[[push]]\nsource = \"actions\"\ntable = \"PLATFORM_ACTIONS\"\n"
        );
        std::fs::write(&config, tenant_toml(&tenant, "DB", "SVC", &body)).expect("write");
    };
    let add = || {
        let out = cli(
            &[
                "tenant",
                "add",
                config.to_str().expect("p"),
                "--credentials",
                creds.to_str().expect("p"),
            ],
            &[],
        );
        let (o, e) = text(&out);
        assert!(out.status.success(), "{o}{e}");
        o
    };
    write("[schedule]\npull = \"cron(0 3 * * ? *)\"\npush = \"rate(1 day)\"\ntimezone = \"Europe/Berlin\"\n");
    let out = add();
    assert!(
        out.contains(&format!(
            "schedule snowsync-{tenant}-pull: cron(0 3 * * ? *) (Europe/Berlin)"
        )),
        "{out}"
    );

    let get = |kind: &'static str| {
        let scheduler = stack.deps.scheduler.clone();
        let name = format!("snowsync-{tenant}-{kind}");
        async move {
            scheduler
                .get_schedule()
                .group_name("snowsync")
                .name(name)
                .send()
                .await
        }
    };
    let pull = get("pull").await.expect("pull schedule");
    assert_eq!(pull.schedule_expression(), Some("cron(0 3 * * ? *)"));
    assert_eq!(pull.schedule_expression_timezone(), Some("Europe/Berlin"));
    let target = pull.target().expect("target");
    assert!(
        target.arn().ends_with(":function:snowsync-pull"),
        "{}",
        target.arn()
    );
    assert!(
        target.role_arn().ends_with(":role/snowsync-scheduler"),
        "{}",
        target.role_arn()
    );
    let input: serde_json::Value =
        serde_json::from_str(target.input().expect("input")).expect("json");
    assert_eq!(
        input,
        serde_json::json!({"tenant": tenant, "mode": "incremental"})
    );
    let retry = target.retry_policy().expect("retry policy");
    assert_eq!(
        (
            retry.maximum_retry_attempts(),
            retry.maximum_event_age_in_seconds()
        ),
        (Some(2), Some(3600))
    );
    let push = get("push").await.expect("push schedule");
    assert_eq!(push.schedule_expression(), Some("rate(1 day)"));
    assert!(push
        .target()
        .expect("t")
        .arn()
        .ends_with(":function:snowsync-push"));

    // Change the pull expression, drop the push one: updated and deleted; adding twice is fine.
    write("[schedule]\npull = \"rate(6 hours)\"\n");
    add();
    add();
    let pull = get("pull").await.expect("pull schedule");
    assert_eq!(pull.schedule_expression(), Some("rate(6 hours)"));
    assert_eq!(pull.schedule_expression_timezone(), Some("UTC"));
    assert!(get("push").await.is_err(), "the push schedule was deleted");

    let out = cli(&["tenant", "remove", &tenant], &[]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(get("pull").await.is_err(), "removed with the tenant");
}

#[tokio::test]
async fn egress_ips_and_remote_runs_use_the_deployed_functions() {
    let _stack = spawn_stack().await;
    // The stack's functions carry SNOWSYNC_EGRESS_IPS (locally: documentation addresses).
    let out = cli(&["egress-ips"], &[]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    let ips: Vec<&str> = stdout.lines().collect();
    assert_eq!(ips.len(), 2, "{stdout}");
    assert!(
        ips.iter()
            .all(|ip| ip.parse::<std::net::Ipv4Addr>().is_ok()),
        "{stdout}"
    );

    // A remote backfill is an asynchronous invocation of the deployed function.
    let out = cli(&["pull", "any-tenant", "--backfill", "--remote"], &[]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.starts_with("invoked snowsync-pull asynchronously: request "),
        "{stdout}"
    );

    // A function that is not deployed is named, with the fix.
    let out = cli(
        &["push", "any-tenant", "--backfill", "--remote"],
        &[("SNOWSYNC_PUSH_FUNCTION", "not-deployed")],
    );
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(
        stderr.contains("invoke not-deployed") && stderr.contains("deploy infra/"),
        "{stderr}"
    );
}
