//! Test helpers: the stack's clients, unique names, a Snowflake admin session for seeding,
//! the real `snowsync` binary, and PostgreSQL reads.

use std::process::Output;

use snowsync::snowflake::{Endpoint, Session};
use snowsync::tenant::config::{SnowflakeConfig, TenantConfig};
use snowsync::tenant::secrets::Credentials;
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

/// Every run record of `tenant`.
pub async fn run_records(stack: &TestStack, tenant: &str) -> Vec<snowsync::state::RunRecord> {
    stack
        .deps
        .state
        .runs(&snowsync::tenant::config::TenantId::parse(tenant).expect("tenant id"))
        .await
        .expect("run records")
}

/// `snowsync tenant add` of `toml` with a password credentials file, as an operator runs it.
pub fn tenant_add(toml: &str, env: &[(&str, &str)]) -> Output {
    let dir = std::env::temp_dir().join(unique("snowsync-add-"));
    std::fs::create_dir_all(&dir).expect("dir");
    let (config, creds) = (dir.join("t.toml"), dir.join("c.json"));
    std::fs::write(&config, toml).expect("write config");
    write_secret_file(&creds, r#"{"password": "x"}"#);
    let path = |p: &std::path::Path| p.to_str().expect("utf-8 path").to_owned();
    cli(
        &[
            "tenant",
            "add",
            &path(&config),
            "--credentials",
            &path(&creds),
        ],
        env,
    )
}

/// Writes a credentials file as an operator should keep one: readable by its owner only.
pub fn write_secret_file(path: &std::path::Path, contents: &str) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .expect("credentials file");
    f.write_all(contents.as_bytes()).expect("write");
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
        admin_session(db, &Endpoint::from_env().expect("endpoint")).await
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

/// An admin session in database `db` (which the emulator creates on login).
async fn admin_session(db: &str, endpoint: &Endpoint) -> Session {
    let cfg: SnowflakeConfig = TenantConfig::parse(&tenant_toml("seed", db, "TEST_ADMIN", ""))
        .expect("seed config")
        .snowflake;
    let creds = Credentials::parse(r#"{"password": "admin"}"#).expect("creds");
    Session::connect(&cfg, &creds, endpoint, "snowsync tests seeding", None)
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

/// A `snowsync` process running in the background with its output in a file (never a pipe: with
/// `RUST_LOG=debug` a full pipe would block it), appended to `.stack/cli-output.log` at the end.
pub struct Spawned {
    pub child: std::process::Child,
    args: String,
    log: std::path::PathBuf,
}

impl Spawned {
    pub fn snowsync(args: &[&str], env: &[(&str, &str)]) -> Self {
        let log = stack_dir().join(format!("child-{}.log", unique("")));
        let file = std::fs::File::create(&log).expect("child log");
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_snowsync"))
            .args(args)
            .envs(env.iter().copied())
            .stdout(file.try_clone().expect("log"))
            .stderr(file)
            .spawn()
            .expect("spawn snowsync");
        Self {
            child,
            args: args.join(" "),
            log,
        }
    }

    pub fn try_wait(&mut self) -> std::io::Result<Option<std::process::ExitStatus>> {
        self.child.try_wait()
    }

    pub fn kill(&mut self) -> std::io::Result<()> {
        self.child.kill()
    }

    /// Waits for the process; its exit status and output (also appended to cli-output.log).
    pub fn finish(mut self) -> (std::process::ExitStatus, String) {
        let status = self.child.wait().expect("reap");
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let _ = std::fs::remove_file(&self.log);
        append(
            "cli-output.log",
            &format!("$ snowsync {}\n{text}", self.args),
        );
        (status, text)
    }
}

/// Seeded fault choices, so a failing fault test replays: the seed comes from
/// `SNOWSYNC_FAULT_SEED` when set, else from the clock, and every choice is logged to stderr and
/// `.stack/faults.log` (`<test> seed=<n>` first, then one line per fault).
pub struct Faults {
    test: String,
    state: u64,
    /// Runs SIGKILLed while still running.
    pub kills: u32,
    /// Runs started by [`Faults::kill_run`].
    pub attempts: u32,
}

impl Faults {
    pub fn seeded(test: &str) -> Self {
        let seed = std::env::var("SNOWSYNC_FAULT_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
            });
        let faults = Self {
            test: test.to_owned(),
            state: seed,
            kills: 0,
            attempts: 0,
        };
        faults.log(&format!(
            "seed={seed} (replay with SNOWSYNC_FAULT_SEED={seed})"
        ));
        faults
    }

    /// Logs one line for this test.
    pub fn log(&self, line: &str) {
        eprintln!("[faults] {}: {line}", self.test);
        append("faults.log", &format!("{} {}\n", self.test, line));
    }

    /// A number in `0..n` (splitmix64).
    pub fn below(&mut self, n: u64) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % n.max(1)
    }

    /// Times one clean run of `snowsync <args>` (it must succeed): kills then land anywhere in
    /// 1.2 times that, from process start to past the end of a run.
    pub fn kill_window(&self, args: &[&str], env: &[(&str, &str)]) -> std::time::Duration {
        let started = std::time::Instant::now();
        let out = cli(args, env);
        assert!(out.status.success(), "{:?}", text(&out));
        let window = started.elapsed() * 6 / 5;
        self.log(&format!("kill window {} ms", window.as_millis()));
        window
    }

    /// Whether fewer than `kills` runs were SIGKILLed mid-run so far; fails when most runs
    /// finish before their kill (the window is too short to test anything).
    pub fn wants_kills(&self, kills: u32) -> bool {
        assert!(
            self.attempts < kills * 4,
            "only {} of {} runs were killed mid-run",
            self.kills,
            self.attempts
        );
        self.kills < kills
    }

    /// Runs the `snowsync` binary with `args` and `env`, and SIGKILLs it after a seeded delay
    /// in `0..window` unless it has finished by then. Returns whether it was killed. Its output
    /// goes to `.stack/cli-output.log` like [`cli`]'s.
    pub async fn kill_run(
        &mut self,
        args: &[&str],
        env: &[(&str, &str)],
        window: std::time::Duration,
    ) -> bool {
        let delay = std::time::Duration::from_millis(self.below(window.as_millis() as u64 + 1));
        self.attempts += 1;
        let mut child = Spawned::snowsync(args, env);
        let started = std::time::Instant::now();
        while started.elapsed() < delay && child.try_wait().expect("wait").is_none() {
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        let killed = child.try_wait().expect("wait").is_none();
        if killed {
            child.kill().expect("SIGKILL");
            self.kills += 1;
        }
        child.finish();
        self.log(&format!(
            "attempt {} `snowsync {}`: {} after {} ms",
            self.attempts,
            args.join(" "),
            if killed { "SIGKILL" } else { "finished" },
            delay.as_millis()
        ));
        killed
    }
}

/// The PostgreSQL schema of a tenant id.
pub fn pg_schema(tenant: &str) -> String {
    snowsync::tenant::config::TenantId::parse(tenant)
        .expect("tenant id")
        .pg_schema()
}

/// A Snowflake emulator of the test's own (not the stack's), keeping its databases in a folder
/// so that it can be killed and restarted with its data.
pub struct Emulator {
    pub port: u16,
    dir: std::path::PathBuf,
    args: Vec<String>,
    child: Option<std::process::Child>,
}

/// The variable `scripts/test` sets for its realistic pass (`--realistic`): every emulator a
/// test starts of its own behaves like the stack's.
pub const EMULATOR_ARGS_VAR: &str = "SNOWSYNC_EMULATOR_ARGS";

impl Emulator {
    /// An emulator with the stack's behaviour (`SNOWSYNC_EMULATOR_ARGS`, none by default).
    pub async fn start() -> Self {
        let args = std::env::var(EMULATOR_ARGS_VAR).unwrap_or_default();
        Self::start_with(&args.split_whitespace().collect::<Vec<_>>()).await
    }

    /// An emulator started with these extra arguments (realistic behaviours).
    pub async fn start_with(args: &[&str]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let dir = stack_dir().join(format!("emulator-{}", unique("")));
        let mut e = Self {
            port,
            dir,
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            child: None,
        };
        e.restart().await;
        e
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts the emulator (again) on the same port and data, and waits until it answers.
    pub async fn restart(&mut self) {
        let root = std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
        let log = std::fs::File::create(self.dir.with_extension("log")).expect("emulator log");
        let child = std::process::Command::new(root.join(".venv/bin/python"))
            .args([
                "-m",
                "snowemu",
                "--port",
                &self.port.to_string(),
                "--db-path",
            ])
            .arg(&self.dir)
            .args(&self.args)
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start the emulator");
        self.child = Some(child);
        let started = std::time::Instant::now();
        loop {
            if let Ok(r) = reqwest::get(format!("{}/_emulator/health", self.url())).await {
                if r.status().is_success() {
                    return;
                }
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(60),
                "the test's emulator did not start: see {}",
                self.dir.with_extension("log").display()
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// SIGKILLs the emulator (its data stays in its folder).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// An admin session to this emulator in database `db`, for seeding.
    pub async fn admin(&self, db: &str) -> Session {
        admin_session(db, &Endpoint::override_with(&self.url()).expect("endpoint")).await
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The stored progress of one table or export.
pub async fn progress(
    stack: &TestStack,
    tenant: &str,
    direction: snowsync::state::Direction,
    object: &str,
) -> snowsync::state::StoredProgress {
    let id = snowsync::tenant::config::TenantId::parse(tenant).expect("id");
    stack
        .deps
        .state
        .progress(&id, direction, object)
        .await
        .expect("progress")
}

/// The checkpoint an unfinished run left, parsed.
pub fn checkpoint_of(p: &snowsync::state::StoredProgress) -> Option<serde_json::Value> {
    p.checkpoint
        .as_deref()
        .and_then(|c| serde_json::from_str(c).ok())
}

/// Polls `object`'s stored progress every `every` until `done` holds of it; fails with `what`
/// after `limit`.
async fn poll_progress(
    stack: &TestStack,
    (tenant, direction, object): (&str, snowsync::state::Direction, &str),
    every: std::time::Duration,
    limit: std::time::Duration,
    what: &str,
    mut done: impl FnMut(&snowsync::state::StoredProgress) -> bool,
) {
    let started = std::time::Instant::now();
    while !done(&progress(stack, tenant, direction, object).await) {
        assert!(started.elapsed() < limit, "{what}");
        tokio::time::sleep(every).await;
    }
}

/// Waits until the pull of `object` (DB.SCHEMA.TABLE) has checkpointed `pages` pages, or the
/// run ended.
pub async fn wait_for_pages(
    stack: &TestStack,
    tenant: &str,
    object: &str,
    pages: u64,
    child: &mut Spawned,
) {
    let pull = snowsync::state::Direction::Pull;
    poll_progress(
        stack,
        (tenant, pull, object),
        std::time::Duration::from_millis(5),
        std::time::Duration::from_secs(120),
        "no progress",
        |p| {
            checkpoint_of(p)
                .and_then(|c| c["pages"].as_u64())
                .is_some_and(|n| n >= pages)
                || child.try_wait().expect("wait").is_some()
        },
    )
    .await;
}

/// Arms an emulator fault for `user`'s queries (`POST /_emulator/faults` of the emulator at
/// `base`): after the first `after`, every `every`-th fails (or is slowed by `delay_ms`),
/// `count` times.
pub async fn arm_fault(
    base: &str,
    user: &str,
    kind: &str,
    every: u32,
    count: u32,
    delay_ms: u32,
    after: u32,
) {
    let spec = serde_json::json!({"user": user, "kind": kind, "every": every, "count": count, "delay_ms": delay_ms, "after": after});
    let resp = reqwest::Client::new()
        .post(format!("{base}/_emulator/faults"))
        .body(spec.to_string())
        .send()
        .await
        .expect("arm faults");
    assert!(resp.status().is_success(), "arm faults: {}", resp.status());
}

/// Every row of a Snowflake query, each column as text (`None` for NULL), in the order given.
pub async fn sf_rows(sf: &Session, sql: &str) -> Vec<Vec<Option<String>>> {
    let mut rows = Vec::new();
    for b in sf.query(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}")) {
        for row in 0..b.num_rows() {
            rows.push(
                (0..b.num_columns())
                    .map(|c| snowsync::snowflake::text_at(&b, c, row))
                    .collect(),
            );
        }
    }
    rows
}

/// Rows of result data the stack's emulator has returned to `user`'s sessions so far (every
/// statement's rows, however the client fetched them).
pub async fn rows_returned(user: &str) -> u64 {
    let base = std::env::var("SNOWSYNC_SNOWFLAKE_URL").expect("SNOWSYNC_SNOWFLAKE_URL");
    emulator_get(&base, &format!("query_count?user={user}")).await["rows"]
        .as_u64()
        .expect("rows returned")
}

/// The stack emulator's sessions of `tenant`'s runs (by the query tag each run sets): how many
/// its client closed, and how many it left open though they had not expired.
pub async fn run_sessions(tenant: &str) -> (usize, usize) {
    let base = std::env::var("SNOWSYNC_SNOWFLAKE_URL").expect("SNOWSYNC_SNOWFLAKE_URL");
    let tag = format!("snowsync tenant={tenant} run=");
    let sessions = emulator_get(&base, "sessions").await;
    let mine: Vec<&serde_json::Value> = sessions
        .as_array()
        .expect("sessions")
        .iter()
        .filter(|s| s["queryTag"].as_str().is_some_and(|t| t.starts_with(&tag)))
        .collect();
    let closed = mine.iter().filter(|s| s["closed"] == true).count();
    let left_open = mine
        .iter()
        .filter(|s| s["closed"] != true && s["expired"] != true)
        .count();
    (closed, left_open)
}

/// `GET <base>/_emulator/<path>` of an emulator, as JSON.
pub async fn emulator_get(base: &str, path: &str) -> serde_json::Value {
    reqwest::get(format!("{base}/_emulator/{path}"))
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Invokes function `function`'s handler for job `J` with `event`, 5 s before its deadline:
/// below the safety margin, so the invocation stops after one page or batch. Returns the
/// invocation's request id (the run id) and its result.
pub async fn near_deadline<J: snowsync::lambda::Job>(
    deps: &Deps,
    function: &str,
    event: serde_json::Value,
) -> (String, serde_json::Value) {
    use lambda_runtime::{Context, LambdaEvent};
    let mut ctx = Context::default();
    ctx.request_id = unique("req-");
    ctx.invoked_function_arn = format!("arn:aws:lambda:us-east-1:123456789012:function:{function}");
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis();
    ctx.deadline = u64::try_from(now_ms).expect("ms") + 5_000;
    let request_id = ctx.request_id.clone();
    let result = snowsync::lambda::handle::<J>(LambdaEvent::new(event, ctx), deps)
        .await
        .expect("handler");
    (request_id, result)
}

/// The pull function near its deadline (see [`near_deadline`]) for `tenant` at `hop`.
pub async fn pull_near_deadline(deps: &Deps, tenant: &str, hop: u32) -> serde_json::Value {
    let event = serde_json::json!({ "tenant": tenant, "mode": "incremental", "hop": hop });
    near_deadline::<snowsync::pull::PullFunctionEvent>(deps, "snowsync-pull", event)
        .await
        .1
}

/// Waits until no live run holds the lease of `object` (released, expired, or never taken):
/// what a test waits for after killing a run, instead of sleeping for the lease's whole TTL.
pub async fn lease_lapsed(
    stack: &TestStack,
    tenant: &str,
    direction: snowsync::state::Direction,
    object: &str,
) {
    poll_progress(
        stack,
        (tenant, direction, object),
        std::time::Duration::from_millis(20),
        std::time::Duration::from_secs(30),
        &format!("the lease of {object} never lapsed"),
        |p| !matches!(&p.lease, Some((_, until)) if *until >= chrono::Utc::now()),
    )
    .await;
}

/// Records every stage master key and presigned-URL signature the stack's emulator handed out
/// so far, so that `scripts/test` scans the suite's outputs for them too.
pub async fn record_stage_secrets() {
    let base = std::env::var("SNOWSYNC_SNOWFLAKE_URL").expect("SNOWSYNC_SNOWFLAKE_URL");
    let stats = emulator_get(&base, "stage_stats").await;
    for s in stats["secrets"].as_array().expect("stage secrets") {
        record_secret(s.as_str().expect("secret"));
    }
}
