//! Config validation: the shipped example and each bad case, with its message.

use snowsync::tenant::config::TenantConfig;

const GOOD: &str = r#"
tenant = "acme"
[snowflake]
account = "abc-xyz"
user = "HOCKEY_SVC"
warehouse = "ANALYTICS_WH"
database = "SALES"
schema = "PUBLIC"
[[pull]]
table = "OPPORTUNITIES"
cursor = "UPDATED_AT"
primary_key = ["ID"]
"#;

#[test]
fn the_demo_example_is_valid() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/demo.toml"
    ))
    .expect("examples/demo.toml");
    let cfg = TenantConfig::parse(&text).expect("demo config is valid");
    assert_eq!(cfg.tenant.as_str(), "demo");
    assert_eq!(cfg.pull.len(), 2);
    assert_eq!(
        cfg.pull[0].table.to_string(),
        "DEMO_CRM.PUBLIC.OPPORTUNITIES"
    );
    assert_eq!(cfg.pull[0].lookback.as_secs(), 7200);
    assert_eq!(cfg.schedule.timezone, "Europe/Berlin");
    assert!(TenantConfig::parse(GOOD).is_ok());
}

/// Each bad config with a fragment its one-line message must contain.
#[test]
fn bad_configs_are_rejected_with_a_message_naming_the_key() {
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "unknown key",
            GOOD.replace("warehouse =", "wharehouse ="),
            "unknown field `wharehouse`",
        ),
        (
            "unknown top-level key",
            format!("colour = \"blue\"\n{GOOD}"),
            "unknown field `colour`",
        ),
        (
            "bad tenant name",
            GOOD.replace("tenant = \"acme\"", "tenant = \"Acme Corp\""),
            "tenant: invalid tenant id \"Acme Corp\"",
        ),
        (
            "cursor without key",
            GOOD.replace("primary_key = [\"ID\"]", ""),
            "pull[0].primary_key: a cursor needs a primary key",
        ),
        (
            "malformed account",
            GOOD.replace("abc-xyz", "abc xyz"),
            "snowflake.account: invalid account \"abc xyz\"",
        ),
        (
            "account on another host",
            GOOD.replace("abc-xyz", "https://abc.example.com"),
            "snowflake.account",
        ),
        (
            "bad identifier",
            GOOD.replace("\"OPPORTUNITIES\"", "\"MY TABLE\""),
            "pull[0].table",
        ),
        (
            "bad schedule",
            format!("{GOOD}\n[schedule]\npull = \"every day\"\n"),
            "schedule.pull: invalid schedule \"every day\"",
        ),
        (
            "bad lookback",
            GOOD.replace(
                "primary_key = [\"ID\"]",
                "primary_key = [\"ID\"]\nlookback = \"2 hours\"",
            ),
            "pull[0].lookback",
        ),
        (
            "missing section",
            "tenant = \"acme\"\n".to_owned(),
            "missing field `snowflake`",
        ),
    ];
    for (name, text, want) in cases {
        let err = TenantConfig::parse(&text).expect_err(name);
        let msg = err.to_string();
        assert!(msg.contains(want), "{name}: {msg:?} lacks {want:?}");
        assert!(!msg.contains('\n'), "{name}: message spans lines: {msg:?}");
        assert_eq!(err.kind().as_str(), "config", "{name}");
    }
}
