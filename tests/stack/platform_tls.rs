//! TLS to the platform database: verified (`verify-full`) unless the URL says otherwise; a
//! wrong CA, a certificate for another name and a server without TLS are refused, each with
//! its fix; the weaker modes (`verify-ca`, `require`, `disable`) only when written in the URL.

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

/// A server that answers the TLS request with `N` (no TLS), as PostgreSQL does with `ssl=off`,
/// then hangs up: what a man in the middle offers to downgrade a connection to plain text.
async fn server_without_tls() -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut request = [0u8; 8];
            if socket.read_exact(&mut request).await.is_ok() {
                let _ = socket.write_all(b"N").await;
            }
        }
    });
    port
}

#[tokio::test]
async fn verify_full_is_the_default_and_nothing_weaker_happens_unless_the_url_says_so() {
    let url = std::env::var("SNOWSYNC_DATABASE_URL").expect("stack env");

    // No CA bundle, no sslmode: nothing to verify against, so no connection at all.
    let refused = PlatformStore::connect_with_ca(&url, None)
        .expect_err("verify-full without a CA bundle is refused");
    let text = refused.to_string();
    assert!(
        !text.contains('\n')
            && text.contains("cannot be verified")
            && text.contains("SNOWSYNC_DATABASE_CA_FILE")
            && text.contains("sslmode=require"),
        "one line naming both fixes: {text}"
    );

    let verified = PlatformStore::connect_with_ca(&url, Some(&ca_file())).expect("pool");
    assert_eq!(
        uses_tls(&verified).await,
        Ok(true),
        "the default verifies the stack's server"
    );

    // The right CA but another host name: verify-full refuses, verify-ca (chain only) accepts.
    let renamed = format!(
        "{}?hostaddr=127.0.0.1",
        url.replace("@127.0.0.1:", "@wrong-name.invalid:")
    );
    let by_name = PlatformStore::connect_with_ca(&renamed, Some(&ca_file())).expect("pool");
    let err = uses_tls(&by_name)
        .await
        .expect_err("a certificate for another name is refused");
    assert!(
        err.contains("error performing TLS handshake")
            && err.contains("certificate not valid for name")
            && err.contains("connect by a name it carries"),
        "{err}"
    );
    let chain_only =
        PlatformStore::connect_with_ca(&format!("{renamed}&sslmode=verify-ca"), Some(&ca_file()))
            .expect("pool");
    assert_eq!(
        uses_tls(&chain_only).await,
        Ok(true),
        "verify-ca skips the name"
    );

    // A server that offers no TLS: the default fails instead of going on in plain text.
    let port = server_without_tls().await;
    let downgraded = url.replace(
        &format!(
            ":{}/",
            url.rsplit(':')
                .next()
                .and_then(|p| p.split('/').next())
                .expect("port")
        ),
        &format!(":{port}/"),
    );
    let store = PlatformStore::connect_with_ca(&downgraded, Some(&ca_file())).expect("pool");
    let err = uses_tls(&store).await.expect_err("no TLS, no connection");
    assert!(
        !err.contains('\n')
            && err.contains("could not connect to the platform database")
            && err.contains("TLS"),
        "{err}"
    );

    let bogus = PlatformStore::connect_with_ca(&format!("{url}?sslmode=verify-maybe"), None)
        .expect_err("an unknown sslmode");
    assert!(
        bogus.to_string().contains("sslmode must be one of"),
        "{bogus}"
    );
}
