//! Tenant-scoped AWS access in the function path (issue 16, item 2; infra/README.md, "IAM"):
//! with a tenant-access role set, a run assumes it with the session tag `tenant=<id>` and every
//! request about the tenant's secret and state items is signed with that session's key.
//!
//! moto does not enforce IAM, so what is observable is the traffic: moto's request recorder
//! (`/moto-api/recorder/`) keeps every request as moto received it (headers and body), and
//! moto's STS maps an assumed session's access key back to its assumed-role ARN.

use std::collections::BTreeSet;

use lambda_runtime::{Context, LambdaEvent};
use snowsync::tenant::config::TenantId;

use crate::helpers::{secret, spawn_stack, tenant_toml, unique, TestStack};

const ROLE: &str = "arn:aws:iam::123456789012:role/snowsync-tenant-access";
const DEALS: &str = "[[pull]]\ntable = \"DEALS\"\ncursor = \"U\"\nprimary_key = [\"ID\"]\n";

/// One request moto received: the service and access key of its signature, its body.
#[derive(Debug)]
struct Recorded {
    service: String,
    access_key: String,
    body: String,
}

/// moto's request recorder. Only this file uses it; it is stopped and emptied as soon as the
/// run under test returns, before any assertion, so no other test's secrets stay on disk.
struct Recorder {
    base: String,
    http: reqwest::Client,
}

impl Recorder {
    fn new() -> Self {
        Self {
            base: std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL"),
            http: reqwest::Client::new(),
        }
    }

    async fn post(&self, what: &str) {
        let url = format!("{}/moto-api/recorder/{what}", self.base);
        let r = self.http.post(&url).send().await.expect(&url);
        assert!(r.status().is_success(), "{url}: {}", r.status());
    }

    async fn start(&self) {
        self.post("reset-recording").await;
        self.post("start-recording").await;
    }

    /// Stops recording and returns what was recorded, leaving the recording empty.
    async fn finish(&self) -> Vec<Recorded> {
        self.post("stop-recording").await;
        let url = format!("{}/moto-api/recorder/download-recording", self.base);
        let text = self
            .http
            .get(&url)
            .send()
            .await
            .expect(&url)
            .text()
            .await
            .expect("recording");
        self.post("reset-recording").await;
        text.lines().filter_map(recorded).collect()
    }
}

/// A recorder line as a request: the SigV4 `Credential=<key>/<date>/<region>/<service>/...`
/// of its Authorization header, and its body (base64 when moto stored bytes).
fn recorded(line: &str) -> Option<Recorded> {
    use base64::Engine;
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    let auth = v["headers"]
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))?
        .1
        .as_str()?;
    let scope: Vec<&str> = auth.split("Credential=").nth(1)?.split('/').collect();
    let raw = v["body"].as_str().unwrap_or_default();
    let body = if v["body_encoded"].as_bool() == Some(true) {
        let bytes = base64::engine::general_purpose::STANDARD.decode(raw).ok()?;
        String::from_utf8_lossy(&bytes).into_owned()
    } else {
        raw.to_owned()
    };
    Some(Recorded {
        service: scope.get(3)?.to_string(),
        access_key: scope.first()?.to_string(),
        body,
    })
}

/// The form fields of an STS query-protocol body.
fn form(body: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(&format!("http://x/?{body}"))
        .expect("form")
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Who STS says an access key belongs to. moto's STS identifies the caller by the access key
/// alone (it does not check signatures), so the secret half is not needed.
async fn identity_of_key(stack: &TestStack, access_key: &str) -> String {
    let creds = aws_sdk_sts::config::Credentials::new(access_key, "unused", None, None, "test");
    let config = stack
        .deps
        .aws_config()
        .to_builder()
        .credentials_provider(aws_sdk_sts::config::SharedCredentialsProvider::new(creds))
        .build();
    caller_arn(&config).await
}

async fn caller_arn(config: &aws_config::SdkConfig) -> String {
    aws_sdk_sts::Client::new(config)
        .get_caller_identity()
        .send()
        .await
        .expect("GetCallerIdentity")
        .arn()
        .unwrap_or_default()
        .to_owned()
}

/// A tenant with a 3-row `DEALS` table.
async fn tenant_with_deals(stack: &TestStack) -> String {
    let tenant = unique("ta-");
    let db = unique("DB_").to_uppercase();
    let sf = stack.snowflake(&db).await;
    sf.execute("CREATE TABLE PUBLIC.DEALS (ID NUMBER(38,0), U TIMESTAMP_NTZ, NOTE VARCHAR)")
        .await
        .expect("create");
    sf.execute("INSERT INTO PUBLIC.DEALS VALUES (1, '2026-01-01', 'a'), (2, '2026-01-01', 'b'), (3, '2026-01-02', 'c')")
        .await
        .expect("insert");
    stack
        .onboard(&tenant_toml(&tenant, &db, "SVC", DEALS), &secret("pw-"))
        .await;
    tenant
}

#[tokio::test]
async fn a_pull_through_the_function_reads_its_tenant_only_through_a_tagged_tenant_session() {
    let stack = spawn_stack().await;
    let tenant = tenant_with_deals(&stack).await;
    let deps = stack.deps.clone().with_tenant_role(ROLE);
    let mut ctx = Context::default();
    ctx.request_id = unique("req-");
    ctx.invoked_function_arn =
        "arn:aws:lambda:us-east-1:123456789012:function:snowsync-pull".to_owned();
    ctx.deadline = u64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_millis(),
    )
    .expect("ms")
        + 600_000;
    let event = serde_json::json!({ "tenant": tenant });

    let recorder = Recorder::new();
    recorder.start().await;
    let result =
        snowsync::lambda::handle::<snowsync::pull::PullEvent>(LambdaEvent::new(event, ctx), &deps)
            .await;
    let requests = recorder.finish().await;
    let result = result.expect("handler");
    assert_eq!(result["tables"][0]["outcome"], "complete", "{result}");
    assert_eq!(result["tables"][0]["rows_written"], 3, "{result}");

    // One AssumeRole for this run: the role, the tenant as session name and sole tag, 900 s.
    let assumes: Vec<Vec<(String, String)>> = requests
        .iter()
        .filter(|r| r.service == "sts")
        .map(|r| form(&r.body))
        .filter(|f| f.contains(&("Action".into(), "AssumeRole".into())))
        .filter(|f| f.contains(&("RoleSessionName".into(), tenant.clone())))
        .collect();
    assert_eq!(
        assumes.len(),
        1,
        "AssumeRole calls for {tenant}: {assumes:?}"
    );
    let call = &assumes[0];
    for (k, v) in [
        ("RoleArn", ROLE),
        ("DurationSeconds", "900"),
        ("Tags.member.1.Key", "tenant"),
        ("Tags.member.1.Value", tenant.as_str()),
    ] {
        assert!(
            call.contains(&(k.to_owned(), v.to_owned())),
            "AssumeRole without {k}={v}: {call:?}"
        );
    }
    assert!(
        !call.iter().any(|(k, _)| k.starts_with("Tags.member.2")),
        "one session tag only: {call:?}"
    );

    // Every request about the tenant's state items and secret: signed with one key, not the
    // process's own, and STS says that key is the tenant's session of the role.
    let pk = format!("\"TENANT#{tenant}\"");
    let secret_name = format!("snowsync/tenants/{tenant}");
    let tenant_requests: Vec<&Recorded> = requests
        .iter()
        .filter(|r| match r.service.as_str() {
            "dynamodb" => r.body.contains(&pk),
            "secretsmanager" => r.body.contains(&secret_name),
            _ => false,
        })
        .collect();
    let count = |service: &str| {
        tenant_requests
            .iter()
            .filter(|r| r.service == service)
            .count()
    };
    // Config, lease, run start, progress, checkpoint/commit, run end, lease release.
    assert!(
        count("dynamodb") >= 5,
        "DynamoDB requests: {}",
        count("dynamodb")
    );
    assert_eq!(count("secretsmanager"), 1, "one secret read per run");
    let keys: BTreeSet<&str> = tenant_requests
        .iter()
        .map(|r| r.access_key.as_str())
        .collect();
    let own = std::env::var("AWS_ACCESS_KEY_ID").expect("AWS_ACCESS_KEY_ID");
    assert_eq!(
        keys.len(),
        1,
        "tenant requests signed with several keys: {keys:?}"
    );
    let key = keys.first().expect("a key");
    assert_ne!(
        *key, own,
        "a tenant request used the process's own credentials"
    );
    assert_eq!(
        identity_of_key(&stack, key).await,
        format!("arn:aws:sts::123456789012:assumed-role/snowsync-tenant-access/{tenant}")
    );
}

#[tokio::test]
async fn the_tenant_clients_are_the_session_and_without_a_role_the_process_itself() {
    let stack = spawn_stack().await;
    let tenant = TenantId::parse(&unique("ta-")).expect("id");
    let scoped = stack
        .deps
        .clone()
        .with_tenant_role(ROLE)
        .for_tenant(&tenant)
        .await
        .expect("tenant session");
    assert_eq!(
        caller_arn(scoped.aws_config()).await,
        format!("arn:aws:sts::123456789012:assumed-role/snowsync-tenant-access/{tenant}")
    );
    // Unset (local development, the CLI): no session, the process's own identity.
    let unscoped = stack.deps.for_tenant(&tenant).await.expect("no role");
    assert!(
        !caller_arn(unscoped.aws_config())
            .await
            .contains(":assumed-role/"),
        "no role configured, yet a session was assumed"
    );
}
