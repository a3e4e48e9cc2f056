//! Key-pair login: unencrypted PKCS#8, Snowflake's documented 3DES encryption and OpenSSL 3's
//! default (PBES2 AES-256); the JWT the login sends (claims, issuer fingerprint, lifetime,
//! signature); account forms; wrong passphrases and malformed keys as clear `config` errors.

use std::path::Path;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rsa::pkcs8::DecodePublicKey;
use rsa::{Pkcs1v15Sign, RsaPublicKey};
use sha2::{Digest, Sha256};

use crate::helpers::{cli, openssl, record_secret, rsa_key, secret, spawn_stack, text, unique};

/// A fresh RSA key: (unencrypted PKCS#8 PEM, public key PEM, SHA256 fingerprint as Snowflake shows it).
fn keypair(dir: &Path) -> (String, String, String) {
    let key = rsa_key(dir);
    let key_s = key.to_str().expect("path");
    let pem = std::fs::read_to_string(&key).expect("key");
    let public = String::from_utf8(openssl(&["pkey", "-in", key_s, "-pubout"])).expect("utf8");
    let der = openssl(&["pkey", "-in", key_s, "-pubout", "-outform", "DER"]);
    let fp = format!("SHA256:{}", STANDARD.encode(Sha256::digest(&der)));
    record_secret(pem.lines().nth(1).expect("key body"));
    (pem, public, fp)
}

fn encrypt(dir: &Path, cipher_args: &[&str], pass: &str) -> String {
    let key = dir.join("key.pem");
    let mut args = vec![
        "pkcs8",
        "-topk8",
        "-in",
        key.to_str().expect("path"),
        "-passout",
    ];
    let pass = format!("pass:{pass}");
    args.push(&pass);
    args.extend_from_slice(cipher_args);
    let encrypted = String::from_utf8(openssl(&args)).expect("utf8");
    record_secret(encrypted.lines().nth(1).expect("key body"));
    encrypted
}

/// Onboards through the CLI with `creds` and pulls a one-row table; returns (ok, output).
async fn onboard_and_pull(
    tenant: &str,
    account: &str,
    user: &str,
    creds: serde_json::Value,
) -> (bool, String) {
    let stack = spawn_stack().await;
    let db = unique("DB_").to_uppercase();
    let sf = stack.snowflake(&db).await;
    sf.execute("CREATE TABLE PUBLIC.T (ID NUMBER(38,0))")
        .await
        .expect("create");
    sf.execute("INSERT INTO PUBLIC.T VALUES (1)")
        .await
        .expect("insert");
    let dir = std::env::temp_dir().join(unique("snowsync-kp-"));
    std::fs::create_dir_all(&dir).expect("dir");
    let toml = format!(
        "tenant = \"{tenant}\"\n[snowflake]\naccount = \"{account}\"\nuser = \"{user}\"\nwarehouse = \"W\"\ndatabase = \"{db}\"\nschema = \"PUBLIC\"\n[[pull]]\ntable = \"T\"\n"
    );
    std::fs::write(dir.join("t.toml"), toml).expect("write");
    crate::helpers::write_secret_file(&dir.join("c.json"), &creds.to_string());
    let add = cli(
        &[
            "tenant",
            "add",
            dir.join("t.toml").to_str().expect("p"),
            "--credentials",
            dir.join("c.json").to_str().expect("p"),
        ],
        // What an operator sees by default: one line, no logs.
        &[("RUST_LOG", "off")],
    );
    let (o, e) = text(&add);
    if !add.status.success() {
        return (false, format!("{o}{e}"));
    }
    let out = cli(&["pull", tenant], &[("RUST_LOG", "debug")]);
    let (o, e) = text(&out);
    (out.status.success(), format!("{o}{e}"))
}

async fn last_jwt(user: &str) -> String {
    let base = std::env::var("SNOWSYNC_SNOWFLAKE_URL").expect("url");
    let v: serde_json::Value = reqwest::get(format!("{base}/_emulator/last_jwt?user={user}"))
        .await
        .expect("last jwt")
        .json()
        .await
        .expect("json");
    v["token"]
        .as_str()
        .unwrap_or_else(|| panic!("no JWT recorded for {user}: {v}"))
        .to_owned()
}

/// Checks the token as Snowflake would: RS256 over header.claims with the user's public key,
/// issuer `ACCOUNT.USER.SHA256:<fingerprint>`, subject `ACCOUNT.USER`, at most an hour of life.
fn verify_jwt(token: &str, public_pem: &str, account: &str, user: &str, fingerprint: &str) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "{token}");
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).expect("b64")).expect("json");
    assert_eq!(header["alg"], "RS256");
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("b64")).expect("json");
    assert_eq!(
        claims["iss"],
        format!("{account}.{user}.{fingerprint}"),
        "{claims}"
    );
    assert_eq!(claims["sub"], format!("{account}.{user}"), "{claims}");
    let iat = claims["iat"].as_i64().expect("iat");
    let exp = claims["exp"].as_i64().expect("exp");
    let now = chrono_now();
    assert!((now - iat).abs() < 120, "iat {iat} is not now ({now})");
    assert!(exp > iat && exp - iat <= 3600, "lifetime {} s", exp - iat);
    let key = RsaPublicKey::from_public_key_pem(public_pem).expect("public key");
    let sig = URL_SAFE_NO_PAD.decode(parts[2]).expect("sig");
    let digest = Sha256::digest(format!("{}.{}", parts[0], parts[1]).as_bytes());
    key.verify(Pkcs1v15Sign::new::<Sha256>(), &digest, &sig)
        .expect("the signature verifies with the user's public key");
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

#[tokio::test]
async fn key_pair_login_with_unencrypted_3des_and_aes_keys_sends_a_valid_jwt() {
    let dir = std::env::temp_dir().join(unique("snowsync-kp-"));
    std::fs::create_dir_all(&dir).expect("dir");
    let (pem, public, fp) = keypair(&dir);
    let pass = secret("pass-phrase-");
    let des3 = encrypt(&dir, &["-v2", "des3"], &pass);
    assert!(des3.contains("BEGIN ENCRYPTED PRIVATE KEY"));
    let aes = encrypt(&dir, &[], &pass);
    let cases = [
        ("unencrypted", serde_json::json!({ "private_key": pem })),
        (
            "3des",
            serde_json::json!({ "private_key": des3, "private_key_passphrase": pass }),
        ),
        (
            "aes-256 (OpenSSL 3 default)",
            serde_json::json!({ "private_key": aes, "private_key_passphrase": pass }),
        ),
    ];
    for (name, creds) in cases {
        let user = unique("KP_USER_").to_uppercase();
        let (ok, output) =
            onboard_and_pull(&unique("t-"), "test-org-test-account", &user, creds).await;
        assert!(ok, "{name}: {output}");
        assert!(output.contains("complete"), "{name}: {output}");
        let key_line = pem.lines().nth(1).expect("key body");
        assert!(
            !output.contains(&pass) && !output.contains("-----BEGIN") && !output.contains(key_line),
            "{name}: secret in output: {output}"
        );
        verify_jwt(
            &last_jwt(&user).await,
            &public,
            "TEST-ORG-TEST-ACCOUNT",
            &user,
            &fp,
        );
    }

    // locator.region accounts: the JWT names the bare locator.
    let user = unique("KP_USER_").to_uppercase();
    let (ok, output) = onboard_and_pull(
        &unique("t-"),
        "xy12345.eu-central-1",
        &user,
        serde_json::json!({ "private_key": pem }),
    )
    .await;
    assert!(ok, "{output}");
    verify_jwt(&last_jwt(&user).await, &public, "XY12345", &user, &fp);
}

#[tokio::test]
async fn a_wrong_passphrase_or_malformed_key_is_a_clear_config_error_at_tenant_add() {
    let dir = std::env::temp_dir().join(unique("snowsync-kp-"));
    std::fs::create_dir_all(&dir).expect("dir");
    let (pem, _, _) = keypair(&dir);
    let pass = secret("right-pass-");
    let des3 = encrypt(&dir, &["-v2", "des3"], &pass);
    let truncated = pem.lines().take(5).collect::<Vec<_>>().join("\n");
    let cases = [
        (
            "wrong passphrase",
            serde_json::json!({ "private_key": des3, "private_key_passphrase": "wrong-pass-123" }),
            "\"private_key_passphrase\" does not decrypt",
        ),
        (
            "missing passphrase",
            serde_json::json!({ "private_key": des3 }),
            "add \"private_key_passphrase\"",
        ),
        (
            "truncated key",
            serde_json::json!({ "private_key": truncated }),
            "\"private_key\"",
        ),
        (
            "not a key",
            serde_json::json!({ "private_key": "-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----" }),
            "not a valid RSA PKCS#8 key",
        ),
    ];
    for (name, creds, want) in cases {
        let (ok, output) =
            onboard_and_pull(&unique("t-"), "test-org-test-account", "KP", creds).await;
        assert!(!ok, "{name}: {output}");
        assert!(output.contains(want), "{name}: {output}");
        assert_eq!(output.trim().lines().count(), 1, "{name}: {output}");
        assert!(
            !output.contains(&pass)
                && !output.contains("wrong-pass-123")
                && !output.contains("MII"),
            "{name}: secret in {output}"
        );
    }
}

/// The public key as `RSA_PUBLIC_KEY` takes it: the PEM body on one line.
fn key_body(public_pem: &str) -> String {
    public_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect()
}

/// Rotation as Snowflake runs it: a login must carry one of the user's registered keys, and a
/// second key (`RSA_PUBLIC_KEY_2`) lets the new one in before the old one is dropped.
#[tokio::test]
async fn only_a_registered_key_logs_in_and_a_second_key_slot_rotates_without_downtime() {
    let stack = spawn_stack().await;
    let dir = std::env::temp_dir().join(unique("snowsync-rot-"));
    std::fs::create_dir_all(&dir).expect("dir");
    for d in ["old", "new"] {
        std::fs::create_dir_all(dir.join(d)).expect("dir");
    }
    let (_, old_public, _) = keypair(&dir.join("old"));
    let (new_private, new_public, _) = keypair(&dir.join("new"));
    let user = unique("ROT_").to_uppercase();
    let admin = stack.snowflake("ADMIN_DB").await;
    let alter = |sql: String| {
        let admin = &admin;
        async move {
            admin
                .execute(&sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
        }
    };
    // The user has only the old key; the tenant's secret holds the new one.
    alter(format!(
        "CREATE USER {user} RSA_PUBLIC_KEY = '{}' DEFAULT_ROLE = PUBLIC",
        key_body(&old_public)
    ))
    .await;
    let tenant = unique("k-");
    let creds = serde_json::json!({ "private_key": new_private });
    let (ok, out) = onboard_and_pull(&tenant, "XY12345", &user, creds).await;
    assert!(!ok, "an unregistered key logged in: {out}");
    assert!(
        out.contains("auth: Snowflake refused the key-pair login")
            && out.contains("check that the user's RSA_PUBLIC_KEY matches the private key"),
        "{out}"
    );
    // Step 1 of a rotation: the new key in the second slot; both keys now log in.
    alter(format!(
        "ALTER USER {user} SET RSA_PUBLIC_KEY_2 = '{}'",
        key_body(&new_public)
    ))
    .await;
    let out = cli(&["pull", &tenant], &[]);
    assert!(out.status.success(), "{:?}", text(&out));
    // Step 2: the old key dropped; the new one still logs in.
    alter(format!("ALTER USER {user} UNSET RSA_PUBLIC_KEY")).await;
    let out = cli(&["pull", &tenant], &[]);
    assert!(out.status.success(), "{:?}", text(&out));
    // And once the new key is dropped too in favour of the old, it no longer does.
    alter(format!(
        "ALTER USER {user} SET RSA_PUBLIC_KEY = '{}'",
        key_body(&old_public)
    ))
    .await;
    alter(format!("ALTER USER {user} UNSET RSA_PUBLIC_KEY_2")).await;
    let out = cli(&["pull", &tenant], &[]);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "a dropped key logged in: {stdout}");
    assert!(stdout.contains("auth:"), "{stdout}{stderr}");
}
