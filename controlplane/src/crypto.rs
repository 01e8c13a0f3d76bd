//! Keys and the three primitives built on them: AES-256-GCM for credentials at rest,
//! argon2id for passwords, HS256 tokens for sessions.
use std::path::Path;

use aes_gcm::{
    aead::{Aead, KeyInit, Payload},
    Aes256Gcm, Nonce,
};
use argon2::{
    password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Argon2,
};
use base64::{engine::general_purpose::STANDARD as B64, Engine as _};
use rand::{rngs::OsRng, RngCore};
use serde::{Deserialize, Serialize};

pub const SIGNING_KEY_ENV: &str = "NEXBII_SIGNING_KEY";
pub const ENCRYPTION_KEY_ENV: &str = "NEXBII_ENCRYPTION_KEY";
/// Base64 of 32 bytes: the key backup archives are encrypted with (from a Secret). Without
/// it, the backup key is derived from the signing key.
pub const BACKUP_KEY_ENV: &str = "NEXBII_BACKUP_KEY";

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("key {0} must be base64 of 32 bytes")]
    BadKey(&'static str),
    #[error("ciphertext does not decrypt with this key")]
    Decrypt,
    #[error("key file: {0}")]
    Io(#[from] std::io::Error),
}

#[derive(Clone)]
pub struct Keys {
    signing: [u8; 32],
    cipher: Aes256Gcm,
    /// A configured backup key; `None` derives one from the signing key.
    backup: Option<[u8; 32]>,
}

#[derive(Serialize, Deserialize)]
struct KeyFile {
    signing_key: String,
    encryption_key: String,
}

fn decode_key(name: &'static str, b64: &str) -> Result<[u8; 32], CryptoError> {
    let bytes = B64
        .decode(b64.trim())
        .map_err(|_| CryptoError::BadKey(name))?;
    bytes.try_into().map_err(|_| CryptoError::BadKey(name))
}

pub fn random_key_b64() -> String {
    let mut k = [0u8; 32];
    OsRng.fill_bytes(&mut k);
    B64.encode(k)
}

impl Keys {
    pub fn from_bytes(signing: [u8; 32], encryption: [u8; 32]) -> Self {
        Self {
            signing,
            cipher: Aes256Gcm::new(&encryption.into()),
            backup: None,
        }
    }

    /// The same keys with a configured backup key.
    pub fn with_backup_key(mut self, key: [u8; 32]) -> Self {
        self.backup = Some(key);
        self
    }

    /// The key backup archives are encrypted with: the configured one, else derived from the
    /// signing key (so it survives restarts with the same key file or Secret).
    pub fn backup_key(&self) -> [u8; 32] {
        self.backup
            .unwrap_or_else(|| self.derive("nexbii-backup-archive-key"))
    }

    /// Keys from `NEXBII_SIGNING_KEY` / `NEXBII_ENCRYPTION_KEY` (how the operator passes its
    /// Secret), else from `file`, generated with mode 0600 on first start; the backup key from
    /// `NEXBII_BACKUP_KEY` when set.
    pub fn load(file: &Path) -> Result<Self, CryptoError> {
        let keys = Self::load_instance_keys(file)?;
        match std::env::var(BACKUP_KEY_ENV) {
            Ok(b) if !b.trim().is_empty() => {
                Ok(keys.with_backup_key(decode_key(BACKUP_KEY_ENV, &b)?))
            }
            _ => Ok(keys),
        }
    }

    fn load_instance_keys(file: &Path) -> Result<Self, CryptoError> {
        if let (Ok(s), Ok(e)) = (
            std::env::var(SIGNING_KEY_ENV),
            std::env::var(ENCRYPTION_KEY_ENV),
        ) {
            return Ok(Self::from_bytes(
                decode_key(SIGNING_KEY_ENV, &s)?,
                decode_key(ENCRYPTION_KEY_ENV, &e)?,
            ));
        }
        let kf: KeyFile = match std::fs::read_to_string(file) {
            Ok(text) => serde_json::from_str(&text).map_err(|_| CryptoError::BadKey("key file"))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let kf = KeyFile {
                    signing_key: random_key_b64(),
                    encryption_key: random_key_b64(),
                };
                write_private(file, &serde_json::to_vec_pretty(&kf).expect("serializes"))?;
                kf
            }
            Err(e) => return Err(e.into()),
        };
        Ok(Self::from_bytes(
            decode_key("signing_key", &kf.signing_key)?,
            decode_key("encryption_key", &kf.encryption_key)?,
        ))
    }

    pub fn random() -> Self {
        let (mut s, mut e) = ([0u8; 32], [0u8; 32]);
        OsRng.fill_bytes(&mut s);
        OsRng.fill_bytes(&mut e);
        Self::from_bytes(s, e)
    }

    /// Encrypts `plain`, bound to `context` (tenant and record) so a ciphertext copied to another
    /// record does not decrypt. Output: base64(nonce || ciphertext).
    pub fn seal(&self, plain: &str, context: &str) -> String {
        let mut nonce = [0u8; 12];
        OsRng.fill_bytes(&mut nonce);
        let ct = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plain.as_bytes(),
                    aad: context.as_bytes(),
                },
            )
            .expect("AES-GCM encryption does not fail for in-memory buffers");
        let mut out = nonce.to_vec();
        out.extend(ct);
        B64.encode(out)
    }

    pub fn open(&self, sealed: &str, context: &str) -> Result<String, CryptoError> {
        let raw = B64.decode(sealed).map_err(|_| CryptoError::Decrypt)?;
        if raw.len() < 12 {
            return Err(CryptoError::Decrypt);
        }
        let (nonce, ct) = raw.split_at(12);
        let plain = self
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::Decrypt)?;
        String::from_utf8(plain).map_err(|_| CryptoError::Decrypt)
    }

    /// A key for another purpose, derived from the signing key (HMAC-SHA256 over the purpose,
    /// so keys of different purposes and tenants are unrelated and the signing key stays put).
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        use hmac::{Hmac, Mac};
        let mut mac =
            <Hmac<sha2::Sha256> as Mac>::new_from_slice(&self.signing).expect("any key length");
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }

    pub fn encoding_key(&self) -> jsonwebtoken::EncodingKey {
        jsonwebtoken::EncodingKey::from_secret(&self.signing)
    }

    pub fn decoding_key(&self) -> jsonwebtoken::DecodingKey {
        jsonwebtoken::DecodingKey::from_secret(&self.signing)
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    use std::io::Write;
    opts.open(path)?.write_all(bytes)
}

/// argon2id with the crate's defaults (19 MiB, 2 passes): memory-hard, per OWASP guidance.
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 hashing with valid parameters")
        .to_string()
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A password of 20 characters from an unambiguous alphabet.
pub fn generate_password() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut bytes = [0u8; 20];
    OsRng.fill_bytes(&mut bytes);
    bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

pub fn random_id() -> String {
    let mut b = [0u8; 16];
    OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_round_trips_and_binds_context() {
        let k = Keys::random();
        let sealed = k.seal("s3cret", "acme/pg");
        assert!(!sealed.contains("s3cret"));
        assert_eq!(k.open(&sealed, "acme/pg").unwrap(), "s3cret");
        assert!(k.open(&sealed, "other/pg").is_err(), "context is bound");
        assert!(
            Keys::random().open(&sealed, "acme/pg").is_err(),
            "other key fails"
        );
        assert_ne!(sealed, k.seal("s3cret", "acme/pg"), "nonce is random");
    }

    #[test]
    fn password_hash_is_argon2id_and_verifies() {
        let h = hash_password("correct horse");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn key_file_is_created_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        let k1 = Keys::load(&path).unwrap();
        let sealed = k1.seal("v", "c");
        let k2 = Keys::load(&path).unwrap();
        assert_eq!(k2.open(&sealed, "c").unwrap(), "v");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
