//! Test helpers: the stack's clients, unique names, a Snowflake admin session for seeding,
//! the real `snowsync` binary, and PostgreSQL reads.

use std::process::Output;

use snowsync::config::{SnowflakeConfig, TenantConfig};
use snowsync::secrets::Credentials;
use snowsync::snowflake::{Endpoint, Session};
use snowsync::Deps;
use tokio_postgres::NoTls;

/// The clients of one test, on the stack started by `scripts/stack up`.
pub struct TestStack {
    pub deps: Deps,
    pub pg: tokio_postgres::Client,
}

/// Connects to the running stack. Panics with the fix when the stack's environment is missing.
pub async fn spawn_stack() -> TestStack {
    for var in [
        "AWS_ENDPOINT_URL",
        "SNOWSYNC_DATABASE_URL",
        "SNOWSYNC_SNOWFLAKE_URL",
    ] {
        assert!(
            std::env::var(var).is_ok(),
            "{var} is not set: run `scripts/stack up && eval \"$(scripts/stack env)\"` first (scripts/test does)"
        );
    }
    let deps = Deps::from_env()
        .await
        .expect("deps from the stack's environment");
    let url = std::env::var("SNOWSYNC_DATABASE_URL").expect("database url");
    let (pg, conn) = tokio_postgres::connect(&url, NoTls)
        .await
        .expect("connect to PostgreSQL");
    tokio::spawn(conn);
    pg.batch_execute("SET TIME ZONE 'UTC'")
        .await
        .expect("set time zone");
    TestStack { deps, pg }
}

/// The repository's `.stack/` folder, where the suite keeps what `scripts/test` scans.
fn stack_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.stack"))
}

fn append(file: &str, text: &str) {
    use std::io::Write;
    let path = stack_dir().join(file);
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = f.write_all(text.as_bytes());
    }
}

/// A fresh secret value (password, passphrase), recorded in `.stack/secrets-used.txt` so that
/// `scripts/test` can scan every output of the suite for it.
pub fn secret(prefix: &str) -> String {
    let value = unique(prefix);
    record_secret(&value);
    value
}

/// Records a secret value (or a line of key material) for the scan.
pub fn record_secret(value: &str) {
    append("secrets-used.txt", &format!("{value}\n"));
}

/// A name no other test uses: `prefix` + 8 hex digits.
pub fn unique(prefix: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}{}", &id[..8])
}

/// A tenant config for database `db`, with `user` and extra TOML appended (`[[pull]]` entries).
pub fn tenant_toml(tenant: &str, db: &str, user: &str, extra: &str) -> String {
    format!(
        r#"tenant = "{tenant}"

[snowflake]
account = "test-org-test-account"
user = "{user}"
warehouse = "TEST_WH"
database = "{db}"
schema = "PUBLIC"

{extra}
"#
    )
}

impl TestStack {
    /// A Snowflake session as an admin user of the emulator, in database `db` (created by the
    /// emulator on login), for seeding source tables.
    pub async fn snowflake(&self, db: &str) -> Session {
        let cfg = TenantConfig::parse(&tenant_toml("seed", db, "TEST_ADMIN", ""))
            .expect("seed config")
            .snowflake;
        admin_session(&cfg).await
    }

    /// Onboards a tenant through the library (as `snowsync tenant add` does).
    pub async fn onboard(&self, toml: &str, password: &str) -> TenantConfig {
        let cfg = TenantConfig::parse(toml).expect("test config parses");
        let creds = Credentials::parse(&serde_json::json!({ "password": password }).to_string())
            .expect("creds");
        self.deps
            .secrets
            .put(&cfg.tenant, &creds)
            .await
            .expect("store secret");
        self.deps
            .state
            .put_config(&cfg.tenant, toml)
            .await
            .expect("store config");
        cfg
    }

    /// Rows of a PostgreSQL query, every value as text (NULL = None).
    pub async fn pg_text(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        let rows = self.pg.simple_query(sql).await.expect(sql);
        rows.into_iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => {
                    Some((0..r.len()).map(|i| r.get(i).map(str::to_owned)).collect())
                }
                _ => None,
            })
            .collect()
    }
}

async fn admin_session(cfg: &SnowflakeConfig) -> Session {
    let endpoint = Endpoint::from_env().expect("endpoint");
    let creds = Credentials::parse(r#"{"password": "admin"}"#).expect("creds");
    Session::connect(cfg, &creds, &endpoint, "snowsync tests seeding")
        .await
        .expect("admin login to the emulator")
}

/// Runs the real `snowsync` binary with the test's environment plus `env`.
pub fn cli(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_snowsync"));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run snowsync");
    // Every CLI output goes to .stack/cli-output.log too: scripts/test scans it for secrets.
    append(
        "cli-output.log",
        &format!(
            "$ snowsync {}\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    );
    out
}

/// stdout and stderr of a finished command, for assertions and failure messages.
pub fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `openssl` with `args`; its stdout. Panics with openssl's stderr when it fails.
pub fn openssl(args: &[&str]) -> Vec<u8> {
    let out = std::process::Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A fresh 2048-bit RSA private key (unencrypted PKCS#8 PEM) in `dir/key.pem`; its path.
pub fn rsa_key(dir: &std::path::Path) -> std::path::PathBuf {
    let key = dir.join("key.pem");
    openssl(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        key.to_str().expect("path"),
    ]);
    key
}
