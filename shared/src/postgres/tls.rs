//! TLS for the platform database, with rustls.

use tokio_postgres_rustls::MakeRustlsConnect;

use super::DATABASE_CA_VAR;
use crate::error::{Result, SyncError};

/// TLS for the platform database. Whether TLS is used is the URL's `sslmode` (`disable`,
/// `prefer` = the default, `require`), as with libpq. With [`DATABASE_CA_VAR`] the server's
/// certificate is verified against that CA bundle (and the host name); without it the
/// connection is encrypted but not authenticated, as libpq's `require` does.
pub(super) fn tls_connector(ca_file: Option<&std::path::Path>) -> Result<MakeRustlsConnect> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| SyncError::config(format!("TLS setup: {e}")))?;
    let config = match ca_file {
        Some(file) => {
            let path = file.display();
            let pem = std::fs::read(file).map_err(|e| {
                SyncError::config(format!("{DATABASE_CA_VAR}={path}: cannot read it: {e}"))
            })?;
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
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        None => builder
            .dangerous()
            .with_custom_certificate_verifier(std::sync::Arc::new(EncryptOnly(provider)))
            .with_no_client_auth(),
    };
    Ok(MakeRustlsConnect::new(config))
}

/// Accepts any server certificate (encryption without authentication, libpq's `require`),
/// still checking the handshake's signatures.
#[derive(Debug)]
struct EncryptOnly(std::sync::Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> std::result::Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
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
            &self.0.signature_verification_algorithms,
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
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
