//! The tenant's key pair: generated here, so the private half goes straight into Secrets
//! Manager and only the public half is shown; and the public key as Snowflake takes it
//! (`RSA_PUBLIC_KEY`) and shows it (`RSA_PUBLIC_KEY_FP`).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::rand_core::OsRng;
use rsa::RsaPrivateKey;
use secrecy::SecretString;
use sha2::{Digest, Sha256};

use crate::error::{Result, SyncError};
use crate::snowflake::keypair::load_private_key;

/// The size of the keys we generate: Snowflake's minimum, and its guide's choice.
pub const KEY_BITS: usize = 2048;

/// A public key, as its DER `SubjectPublicKeyInfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    der: Vec<u8>,
}

impl PublicKey {
    /// The public half of `key`.
    ///
    /// # Errors
    /// `config` when the key cannot be encoded (never for a valid RSA key).
    pub fn of(key: &RsaPrivateKey) -> Result<Self> {
        let der = key
            .to_public_key()
            .to_public_key_der()
            .map_err(|_| SyncError::config("credentials: could not derive the public key"))?;
        Ok(Self {
            der: der.as_bytes().to_vec(),
        })
    }

    /// A key from its DER (tests of what encodes it).
    #[cfg(test)]
    pub(crate) fn from_der(der: Vec<u8>) -> Self {
        Self { der }
    }

    /// The public half of a stored PEM private key (decrypted with `passphrase` when needed).
    ///
    /// # Errors
    /// The `config` errors of [`load_private_key`].
    pub fn of_pem(pem: &SecretString, passphrase: Option<&SecretString>) -> Result<Self> {
        Self::of(&load_private_key(pem, passphrase)?)
    }

    /// The value of `RSA_PUBLIC_KEY`: the DER in base64 on one line (the PEM body without its
    /// header, footer and line breaks).
    pub fn body(&self) -> String {
        STANDARD.encode(&self.der)
    }

    /// `SHA256:<base64 of the SHA-256 of the DER>`: what Snowflake shows as
    /// `RSA_PUBLIC_KEY_FP` and what our login JWT's issuer names.
    pub fn fingerprint(&self) -> String {
        format!("SHA256:{}", STANDARD.encode(Sha256::digest(&self.der)))
    }
}

/// A fresh RSA key pair: the private key as unencrypted PKCS#8 PEM (Secrets Manager encrypts it
/// at rest; a passphrase stored beside it would add nothing) and its public half.
///
/// # Errors
/// `config` when the system's random source or the encoding fails.
pub async fn generate() -> Result<(SecretString, PublicKey)> {
    // A few hundred milliseconds of prime search: off the async threads.
    tokio::task::spawn_blocking(|| {
        let key = RsaPrivateKey::new(&mut OsRng, KEY_BITS)
            .map_err(|e| SyncError::config(format!("could not generate an RSA key: {e}")))?;
        let pem = key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|_| SyncError::config("could not encode the generated key as PKCS#8"))?;
        Ok((
            SecretString::from(pem.as_str().to_owned()),
            PublicKey::of(&key)?,
        ))
    })
    .await
    .map_err(|e| SyncError::config(format!("key generation did not finish: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snowflake::keypair::Jwt;

    #[tokio::test]
    async fn a_generated_key_loads_back_and_its_fingerprint_is_the_jwts() {
        let (pem, public) = generate().await.expect("generate");
        let key = load_private_key(&pem, None).expect("loads as a stored key does");
        assert_eq!(PublicKey::of(&key).expect("public"), public);
        let jwt = Jwt::new(key, "ORG-ACCT", "SVC").expect("jwt");
        assert_eq!(jwt.fingerprint(), public.fingerprint());
        assert!(!public.body().contains('\n') && public.body().starts_with("MII"));
    }
}
