//! Client-side encryption of a file for an internal stage, as Snowflake's drivers do it
//! (snowflake-connector-python `encryption_util.py`, gosnowflake `encrypt_util.go`): the file
//! under a random key of the master key's size with AES-CBC, a random IV and PKCS#7 padding;
//! that file key wrapped with AES-ECB under the stage's master key (`queryStageMasterKey`),
//! PKCS#7-padded too (a 16-byte key wraps to 32 bytes). Snowflake unwraps and decrypts on
//! `COPY INTO`; the wrapped key, the IV and the material descriptor travel as the object's
//! metadata (see [`super::stage`]). docs/development-notes.md has the details that cost time.

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockEncrypt, BlockEncryptMut, KeyInit, KeyIvInit};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use sha2::{Digest, Sha256};

/// AES's block size, in bytes.
const BLOCK: usize = 16;

/// The stage's key and its descriptor, from a `PUT` answer's `encryptionMaterial`.
pub(crate) struct Material<'a> {
    /// `queryStageMasterKey`, decoded: 16 or 32 bytes.
    pub master_key: &'a [u8],
    pub query_id: &'a str,
    pub smk_id: &'a str,
}

/// What the storage keeps beside an encrypted file.
#[derive(Clone)]
pub(crate) struct Envelope {
    /// The wrapped file key, base64.
    pub key: String,
    /// The IV, base64.
    pub iv: String,
    /// `{"queryId":…,"smkId":…,"keySize":…}`, as the drivers write it.
    pub matdesc: String,
    /// SHA-256 of the plaintext, base64 (`sfc-digest`).
    pub digest: String,
}

/// Why a file could not be encrypted.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EncryptError {
    #[error("the stage's master key is {0} bytes (16 or 32 expected)")]
    KeySize(usize),
    #[error("the operating system gave no random bytes: {0}")]
    Random(getrandom::Error),
}

/// Encrypts `file` in place (it grows by the padding) and returns its envelope.
///
/// # Errors
/// A master key of an unsupported size; no randomness from the OS.
pub(crate) fn encrypt(
    file: &mut Vec<u8>,
    material: &Material<'_>,
) -> Result<Envelope, EncryptError> {
    let key_len = material.master_key.len();
    if key_len != 16 && key_len != 32 {
        return Err(EncryptError::KeySize(key_len));
    }
    let digest = B64.encode(Sha256::digest(file.as_slice()));
    let mut file_key = vec![0u8; key_len];
    let mut iv = [0u8; BLOCK];
    getrandom::getrandom(&mut file_key).map_err(EncryptError::Random)?;
    getrandom::getrandom(&mut iv).map_err(EncryptError::Random)?;

    let len = file.len();
    file.resize(len + BLOCK - len % BLOCK, 0);
    let sealed = if key_len == 16 {
        cbc::Encryptor::<aes::Aes128>::new_from_slices(&file_key, &iv)
            .map(|c| c.encrypt_padded_mut::<Pkcs7>(file, len).map(<[u8]>::len))
    } else {
        cbc::Encryptor::<aes::Aes256>::new_from_slices(&file_key, &iv)
            .map(|c| c.encrypt_padded_mut::<Pkcs7>(file, len).map(<[u8]>::len))
    };
    // The buffer has room for the padding and the key and IV have the cipher's sizes.
    let sealed = sealed
        .map_err(|_| EncryptError::KeySize(key_len))?
        .map_err(|_| EncryptError::KeySize(key_len))?;
    file.truncate(sealed);

    let wrapped = wrap(&file_key, material.master_key)?;
    let matdesc = serde_json::json!({
        "queryId": material.query_id,
        "smkId": material.smk_id,
        "keySize": (key_len * 8).to_string(),
    })
    .to_string();
    Ok(Envelope {
        key: B64.encode(wrapped),
        iv: B64.encode(iv),
        matdesc,
        digest,
    })
}

/// The file key, PKCS#7-padded, encrypted block by block (ECB) under the master key.
fn wrap(file_key: &[u8], master_key: &[u8]) -> Result<Vec<u8>, EncryptError> {
    let pad = BLOCK - file_key.len() % BLOCK;
    let mut out = file_key.to_vec();
    out.extend(std::iter::repeat_n(u8::try_from(pad).unwrap_or(16), pad));
    let blocks = out.chunks_exact_mut(BLOCK).map(aes::Block::from_mut_slice);
    match master_key.len() {
        16 => {
            let c =
                aes::Aes128::new_from_slice(master_key).map_err(|_| EncryptError::KeySize(16))?;
            blocks.for_each(|b| c.encrypt_block(b));
        }
        n => {
            let c =
                aes::Aes256::new_from_slice(master_key).map_err(|_| EncryptError::KeySize(n))?;
            blocks.for_each(|b| c.encrypt_block(b));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use aes::cipher::{BlockDecrypt, BlockDecryptMut};

    use super::*;

    fn unwrap_key(wrapped: &[u8], master: &[u8]) -> Vec<u8> {
        let c = aes::Aes128::new_from_slice(master).expect("key");
        let mut out = wrapped.to_vec();
        out.chunks_exact_mut(BLOCK)
            .for_each(|b| c.decrypt_block(aes::Block::from_mut_slice(b)));
        let pad = usize::from(*out.last().expect("padded"));
        out.truncate(out.len() - pad);
        out
    }

    #[test]
    fn a_file_decrypts_with_the_unwrapped_key_and_its_digest_matches() {
        let master = [7u8; 16];
        let plain: Vec<u8> = (0..1000u32).flat_map(u32::to_le_bytes).collect();
        for size in [0, 1, 15, 16, 17, plain.len()] {
            let mut file = plain[..size].to_vec();
            let m = Material {
                master_key: &master,
                query_id: "q-1",
                smk_id: "42",
            };
            let env = encrypt(&mut file, &m).expect("encrypt");
            assert_eq!(file.len() % BLOCK, 0);
            assert!(file.len() > size, "PKCS#7 always pads");
            let wrapped = B64.decode(&env.key).expect("b64");
            assert_eq!(wrapped.len(), 32, "a 16-byte key wraps to two blocks");
            let key = unwrap_key(&wrapped, &master);
            let iv = B64.decode(&env.iv).expect("b64");
            let back = cbc::Decryptor::<aes::Aes128>::new_from_slices(&key, &iv)
                .expect("sizes")
                .decrypt_padded_vec_mut::<Pkcs7>(&file)
                .expect("decrypts");
            assert_eq!(back, &plain[..size]);
            assert_eq!(env.digest, B64.encode(Sha256::digest(&plain[..size])));
            assert_eq!(
                env.matdesc,
                r#"{"keySize":"128","queryId":"q-1","smkId":"42"}"#
            );
        }
    }

    #[test]
    fn each_file_gets_its_own_key_and_iv() {
        let master = [1u8; 32];
        let m = Material {
            master_key: &master,
            query_id: "q",
            smk_id: "1",
        };
        let (mut a, mut b) = (b"same".to_vec(), b"same".to_vec());
        let (ea, eb) = (
            encrypt(&mut a, &m).expect("a"),
            encrypt(&mut b, &m).expect("b"),
        );
        assert_ne!(a, b);
        assert_ne!(ea.key, eb.key);
        assert_ne!(ea.iv, eb.iv);
        assert_eq!(
            B64.decode(&ea.key).expect("b64").len(),
            48,
            "a 32-byte key wraps to three blocks"
        );
    }

    #[test]
    fn a_master_key_of_another_size_is_refused() {
        let m = Material {
            master_key: &[0u8; 24],
            query_id: "q",
            smk_id: "1",
        };
        assert!(matches!(
            encrypt(&mut vec![1], &m),
            Err(EncryptError::KeySize(24))
        ));
    }
}
