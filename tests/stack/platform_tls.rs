//! TLS to the platform database (managed databases such as RDS require it): `sslmode=require`
//! encrypts; with a CA bundle the server's certificate is verified, and a wrong CA is refused.

use std::path::PathBuf;

use snowsync::postgres::PlatformStore;

use crate::helpers::{openssl, unique};

fn ca_file() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../.stack/postgres-ca.crt"
    ))
}

async fn uses_tls(store: &PlatformStore) -> Result<bool, String> {
    let client = store.client().await.map_err(|e| e.to_string())?;
    let row = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok(row.get(0))
}

#[tokio::test]
async fn the_platform_database_is_reached_over_tls_and_the_ca_is_checked() {
    let url = std::env::var("SNOWSYNC_DATABASE_URL").expect("stack env");
    let require = format!("{url}?sslmode=require");

    let encrypted = PlatformStore::connect_with_ca(&require, None).expect("pool");
    assert_eq!(
        uses_tls(&encrypted).await,
        Ok(true),
        "sslmode=require encrypts"
    );

    let verified = PlatformStore::connect_with_ca(&require, Some(&ca_file())).expect("pool");
    assert_eq!(
        uses_tls(&verified).await,
        Ok(true),
        "the stack's CA verifies its server"
    );

    let plain =
        PlatformStore::connect_with_ca(&format!("{url}?sslmode=disable"), None).expect("pool");
    assert_eq!(uses_tls(&plain).await, Ok(false));

    // A CA that did not sign the server's certificate (same subject, 127.0.0.1, so only the
    // issuer differs from the CA that verified above): the TLS handshake is refused. A failure
    // before TLS (a closed port, a refused connection) or after it (a wrong password) does not
    // count.
    let dir = std::env::temp_dir().join(unique("snowsync-ca-"));
    std::fs::create_dir_all(&dir).expect("dir");
    let other = dir.join("other-ca.crt");
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        dir.join("k.pem").to_str().expect("p"),
        "-out",
        other.to_str().expect("p"),
    ]);
    let wrong = PlatformStore::connect_with_ca(&require, Some(&other)).expect("pool");
    let err = uses_tls(&wrong)
        .await
        .expect_err("an unknown CA is refused");
    assert!(
        err.contains("could not connect to the platform database")
            && err.contains("error performing TLS handshake")
            && err.contains("invalid peer certificate: UnknownIssuer")
            && err.contains("check that SNOWSYNC_DATABASE_CA_FILE holds the CA"),
        "the wrong CA must fail the TLS handshake on the certificate's issuer, naming the fix: {err}"
    );

    let missing = PlatformStore::connect_with_ca(&require, Some(&dir.join("nope.crt")))
        .expect_err("a missing CA file is a config error");
    assert!(
        missing.to_string().contains("SNOWSYNC_DATABASE_CA_FILE")
            && missing.to_string().contains("cannot read it"),
        "{missing}"
    );
}
