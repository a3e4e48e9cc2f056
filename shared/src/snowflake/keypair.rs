//! Key-pair login: decrypting the customer's private key and signing the login JWT ourselves.
//!
//! Snowflake's guide makes 3DES-encrypted PKCS#8 keys (`openssl pkcs8 -topk8 -v2 des3`); OpenSSL 3
//! defaults to PBES2 with AES-256: we decrypt both. [`Jwt`] signs the login token Snowflake
//! expects: valid under an hour, issued for the account *name* (the bare locator for
//! `locator.region` accounts) and the user, with the public key's fingerprint.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use pkcs8::{DecodePrivateKey, EncodePublicKey, EncryptedPrivateKeyInfo};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::{Pkcs1v15Sign, RsaPrivateKey};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::error::{Result, SyncError};

/// How long a login JWT is valid. Snowflake refuses tokens that live longer than an hour.
pub const JWT_LIFETIME_SECS: i64 = 59 * 60;

/// Reads a PEM private key, decrypting it when it is encrypted, and returns the RSA key.
///
/// # Errors
/// A `config` error naming `private_key` or `private_key_passphrase`; never quotes either.
pub fn load_private_key(
    pem: &SecretString,
    passphrase: Option<&SecretString>,
) -> Result<RsaPrivateKey> {
    let text = pem.expose_secret().trim();
    if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        let pass = passphrase.ok_or_else(|| {
            SyncError::config(
                "credentials: \"private_key\" is encrypted: add \"private_key_passphrase\"",
            )
        })?;
        let der = pem_body(text, "ENCRYPTED PRIVATE KEY")?;
        let info = EncryptedPrivateKeyInfo::try_from(der.as_slice()).map_err(|_| {
            SyncError::config("credentials: \"private_key\" is not a valid encrypted PKCS#8 key: export it with openssl pkcs8 -topk8")
        })?;
        let doc = info.decrypt(pass.expose_secret().as_bytes()).map_err(|_| {
            SyncError::config(
                "credentials: \"private_key_passphrase\" does not decrypt \"private_key\" (or its cipher is not supported: use openssl pkcs8 -topk8 -v2 des3 or -v2 aes-256-cbc)",
            )
        })?;
        RsaPrivateKey::from_pkcs8_der(doc.as_bytes()).map_err(|_| {
            SyncError::config("credentials: the decrypted \"private_key\" is not an RSA key: Snowflake key-pair login needs RSA (2048 bits or more)")
        })
    } else if text.contains("-----BEGIN PRIVATE KEY-----") {
        RsaPrivateKey::from_pkcs8_pem(text).map_err(|_| {
            SyncError::config("credentials: \"private_key\" is not a valid RSA PKCS#8 key: export it with openssl pkcs8 -topk8 -nocrypt or -v2 des3")
        })
    } else if text.contains("-----BEGIN RSA PRIVATE KEY-----") {
        if text.contains("Proc-Type: 4,ENCRYPTED") {
            return Err(SyncError::config(
                "credentials: \"private_key\" is a legacy encrypted PKCS#1 key: convert it with openssl pkcs8 -topk8 -v2 des3",
            ));
        }
        RsaPrivateKey::from_pkcs1_pem(text).map_err(|_| {
            SyncError::config("credentials: \"private_key\" is not a valid RSA key: export it with openssl pkcs8 -topk8")
        })
    } else {
        Err(SyncError::config(
            "credentials: \"private_key\" is not a PEM private key: paste the whole -----BEGIN PRIVATE KEY----- block",
        ))
    }
}

fn pem_body(text: &str, label: &str) -> Result<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin).map(|i| i + begin.len());
    let stop = text.find(&end);
    let (Some(start), Some(stop)) = (start, stop) else {
        return Err(SyncError::config(format!(
            "credentials: \"private_key\" lacks its {end} line"
        )));
    };
    let b64: String = text[start..stop.max(start)]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    STANDARD
        .decode(b64)
        .map_err(|_| SyncError::config("credentials: \"private_key\" is not valid base64 PEM"))
}

/// Signs Snowflake key-pair login tokens for one user.
pub struct Jwt {
    key: RsaPrivateKey,
    /// `ACCOUNT.USER`, upper case.
    subject: String,
    /// `ACCOUNT.USER.SHA256:<base64 of the SHA-256 of the public key's DER>`.
    issuer: String,
}

impl std::fmt::Debug for Jwt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwt")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl Jwt {
    /// A signer for `user` of the account named `account_name` (see `Account::login_name`).
    ///
    /// # Errors
    /// `config` when the public key cannot be derived (never for a loaded RSA key).
    pub fn new(key: RsaPrivateKey, account_name: &str, user: &str) -> Result<Self> {
        let der = key
            .to_public_key()
            .to_public_key_der()
            .map_err(|_| SyncError::config("credentials: could not derive the public key"))?;
        let fingerprint = STANDARD.encode(Sha256::digest(der.as_bytes()));
        let subject = format!("{}.{}", account_name.to_uppercase(), user.to_uppercase());
        let issuer = format!("{subject}.SHA256:{fingerprint}");
        Ok(Self {
            key,
            subject,
            issuer,
        })
    }

    /// The public-key fingerprint part of the issuer (`SHA256:...`), as Snowflake shows it in
    /// `DESC USER` (`RSA_PUBLIC_KEY_FP`).
    pub fn fingerprint(&self) -> &str {
        self.issuer.rsplit_once('.').map_or("", |(_, fp)| fp)
    }

    /// A fresh RS256 token issued at `now` (seconds since the epoch), valid [`JWT_LIFETIME_SECS`].
    ///
    /// # Errors
    /// `config` when signing fails.
    pub fn token(&self, now: i64) -> Result<String> {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
        let claims = serde_json::json!({
            "iss": self.issuer,
            "sub": self.subject,
            "iat": now,
            "exp": now + JWT_LIFETIME_SECS,
        });
        let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signing_input = format!("{header}.{claims}");
        let digest = Sha256::digest(signing_input.as_bytes());
        let sig = self
            .key
            .sign(Pkcs1v15Sign::new::<Sha256>(), &digest)
            .map_err(|_| {
                SyncError::config("credentials: the private key could not sign the login token")
            })?;
        Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig)))
    }
}
