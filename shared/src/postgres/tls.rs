//! TLS for the platform database, with rustls: libpq's `sslmode`, verified by default.
//!
//! A URL without `sslmode` is `verify-full`: the server's certificate must chain to the CA
//! bundle of [`DATABASE_CA_VAR`] (the deployed functions ship AWS's RDS bundle, see
//! infra/README.md) and name the host; a database without TLS is refused, never used in plain
//! text. The weaker modes exist for local work and must be written in the URL: `verify-ca`
//! (chain, not the name), `require` (encrypted, any certificate, unless a CA bundle is set),
//! `prefer`/`allow` (plain text when the server has no TLS), `disable`.

use tokio_postgres_rustls::MakeRustlsConnect;

use super::{DATABASE_CA_VAR, DATABASE_URL_VAR};
use crate::error::{Result, SyncError};

/// How the connection is secured: libpq's `sslmode` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// Plain text.
    Disable,
    /// TLS when the server offers it, else plain text (libpq's `allow` and `prefer`).
    Prefer,
    /// TLS, any certificate (verified when a CA bundle is set).
    Require,
    /// TLS, a certificate that chains to the CA bundle.
    VerifyCa,
    /// TLS, a certificate that chains to the CA bundle and names the host: the default.
    VerifyFull,
}

impl SslMode {
    /// Takes `sslmode` out of a connection string (URL or `key=value` form): the string
    /// without it, and the mode (`verify-full` when absent).
    ///
    /// # Errors
    /// `config` for a value libpq does not know (the URL itself is never echoed).
    pub fn take_from(url: &str) -> Result<(String, SslMode)> {
        let mut value = None;
        let mut keep = |kv: &&str| match kv.strip_prefix("sslmode=") {
            Some(v) => {
                value = Some(v.to_owned());
                false
            }
            None => true,
        };
        let rest = if url.contains("://") {
            match url.split_once('?') {
                Some((base, query)) => {
                    let kept: Vec<&str> = query.split('&').filter(&mut keep).collect();
                    if kept.is_empty() {
                        base.to_owned()
                    } else {
                        format!("{base}?{}", kept.join("&"))
                    }
                }
                None => url.to_owned(),
            }
        } else {
            let kept: Vec<&str> = url.split_whitespace().filter(&mut keep).collect();
            kept.join(" ")
        };
        let mode = match value.as_deref() {
            None | Some("verify-full") => SslMode::VerifyFull,
            Some("verify-ca") => SslMode::VerifyCa,
            Some("require") => SslMode::Require,
            Some("prefer" | "allow") => SslMode::Prefer,
            Some("disable") => SslMode::Disable,
            Some(_) => {
                return Err(SyncError::config(format!(
                    "{DATABASE_URL_VAR}: sslmode must be one of verify-full (the default), verify-ca, require, prefer, allow, disable"
                )))
            }
        };
        Ok((rest, mode))
    }

    /// The mode tokio-postgres negotiates (it knows only whether TLS is off, optional or
    /// required; the certificate checks are the connector's).
    pub(super) fn negotiation(self) -> tokio_postgres::config::SslMode {
        match self {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                tokio_postgres::config::SslMode::Require
            }
        }
    }
}

/// The TLS connector for `mode`, verifying against `ca_file` when given (and always for
/// `verify-ca` and `verify-full`, which need one).
///
/// # Errors
/// `config` for a verifying mode without a CA bundle, or a bundle that is unusable.
pub(super) fn tls_connector(
    mode: SslMode,
    ca_file: Option<&std::path::Path>,
) -> Result<MakeRustlsConnect> {
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| SyncError::config(format!("TLS setup: {e}")))?;
    let roots = match ca_file {
        Some(file) => Some(std::sync::Arc::new(roots(file)?)),
        None if matches!(mode, SslMode::VerifyCa | SslMode::VerifyFull) => {
            return Err(SyncError::config(format!(
                "the platform database's certificate cannot be verified: set {DATABASE_CA_VAR} to the CA bundle that signed it (AWS RDS: the global bundle the functions ship), or, for local work only, add sslmode=require to {DATABASE_URL_VAR}"
            )))
        }
        None => None,
    };
    let config = match roots {
        // verify-full, and require with a bundle (checked fully: libpq would skip the name)
        Some(roots) if mode != SslMode::VerifyCa => {
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        roots => {
            let chain = roots
                .map(|roots| {
                    rustls::client::WebPkiServerVerifier::builder_with_provider(
                        roots,
                        provider.clone(),
                    )
                    .build()
                    .map_err(|e| SyncError::config(format!("{DATABASE_CA_VAR}: {e}")))
                })
                .transpose()?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(std::sync::Arc::new(Lenient { chain, provider }))
                .with_no_client_auth()
        }
    };
    Ok(MakeRustlsConnect::new(config))
}

/// The certificates of a PEM bundle.
fn roots(file: &std::path::Path) -> Result<rustls::RootCertStore> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let path = file.display();
    let pem = std::fs::read(file)
        .map_err(|e| SyncError::config(format!("{DATABASE_CA_VAR}={path}: cannot read it: {e}")))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|_| {
            SyncError::config(format!(
                "{DATABASE_CA_VAR}={path}: not a PEM certificate bundle"
            ))
        })?;
        roots.add(cert).map_err(|e| {
            SyncError::config(format!(
                "{DATABASE_CA_VAR}={path}: unusable certificate: {e}"
            ))
        })?;
    }
    if roots.is_empty() {
        return Err(SyncError::config(format!(
            "{DATABASE_CA_VAR}={path}: no certificate in it"
        )));
    }
    Ok(roots)
}

/// libpq's weaker modes: `verify-ca` (the chain checked against the bundle, not the host name)
/// and `require` without a bundle (any certificate: encryption without authentication). The
/// handshake's signatures are checked either way.
#[derive(Debug)]
struct Lenient {
    /// The bundle's verifier (`verify-ca`); none for `require`.
    chain: Option<std::sync::Arc<rustls::client::WebPkiServerVerifier>>,
    provider: std::sync::Arc<rustls::crypto::CryptoProvider>,
}

impl rustls::client::danger::ServerCertVerifier for Lenient {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        intermediates: &[rustls::pki_types::CertificateDer<'_>],
        server_name: &rustls::pki_types::ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> std::result::Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(rustls::client::danger::ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(rustls::client::danger::ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_is_taken_out_of_either_form_and_defaults_to_verify_full() {
        let cases = [
            (
                "postgres://u@h:5432/db",
                "postgres://u@h:5432/db",
                SslMode::VerifyFull,
            ),
            (
                "postgres://u@h/db?application_name=x&sslmode=require&connect_timeout=5",
                "postgres://u@h/db?application_name=x&connect_timeout=5",
                SslMode::Require,
            ),
            (
                "postgres://u@h/db?sslmode=disable",
                "postgres://u@h/db",
                SslMode::Disable,
            ),
            (
                "postgres://u@h/db?sslmode=allow",
                "postgres://u@h/db",
                SslMode::Prefer,
            ),
            (
                "host=h user=u sslmode=verify-ca dbname=d",
                "host=h user=u dbname=d",
                SslMode::VerifyCa,
            ),
        ];
        for (url, rest, mode) in cases {
            assert_eq!(SslMode::take_from(url).expect(url), (rest.to_owned(), mode));
        }
        let err = SslMode::take_from("postgres://u:secret@h/db?sslmode=maybe").expect_err("bad");
        assert!(!err.to_string().contains("secret"), "{err}");
    }
}
