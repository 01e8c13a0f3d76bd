//! The second-step challenge: a short-lived token (5 minutes, HS256 with a key derived from the
//! instance key for this purpose only, so it can never pass for a session token) that says
//! who proved their password, in which tenant, and what is left to do — give a code, or enrol
//! first. It is bound to the password hash as it was, so a password changed meanwhile voids it.
use chrono::{Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::crypto::Keys;

pub const TTL_MINUTES: i64 = 5;

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Purpose {
    /// The user has MFA: a code completes the login.
    Verify,
    /// MFA is required and not set up: enrol, then a first code completes the login.
    Enroll,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ChallengeClaims {
    pub sub: String,
    pub ten: String,
    pub purpose: Purpose,
    /// Digest of the password hash the password was checked against.
    pub pwd: String,
    pub iat: i64,
    pub exp: i64,
}

fn key(keys: &Keys) -> [u8; 32] {
    keys.derive("nexbii-mfa-challenge")
}

pub fn binding(password_hash: &str) -> String {
    hex::encode(&Sha256::digest(password_hash.as_bytes())[..16])
}

/// A new challenge and when it expires.
pub fn issue(
    keys: &Keys,
    tenant: &str,
    username: &str,
    password_hash: &str,
    purpose: Purpose,
) -> (String, chrono::DateTime<Utc>) {
    let now = Utc::now();
    let exp = now + Duration::minutes(TTL_MINUTES);
    let claims = ChallengeClaims {
        sub: username.to_string(),
        ten: tenant.to_string(),
        purpose,
        pwd: binding(password_hash),
        iat: now.timestamp(),
        exp: exp.timestamp(),
    };
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(&key(keys)),
    )
    .unwrap_or_default();
    (token, exp)
}

/// The claims of a valid, unexpired challenge.
pub fn open(keys: &Keys, token: &str) -> Option<ChallengeClaims> {
    let mut v = Validation::new(Algorithm::HS256);
    v.leeway = 0;
    jsonwebtoken::decode::<ChallengeClaims>(token, &DecodingKey::from_secret(&key(keys)), &v)
        .ok()
        .map(|d| d.claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_open_only_with_their_key_and_are_no_session_tokens() {
        let keys = Keys::random();
        let (t, exp) = issue(&keys, "acme", "ann", "$argon2id$x", Purpose::Verify);
        assert!(exp > Utc::now());
        let c = open(&keys, &t).unwrap();
        assert_eq!(
            (c.sub.as_str(), c.ten.as_str(), c.purpose),
            ("ann", "acme", Purpose::Verify)
        );
        assert_eq!(c.pwd, binding("$argon2id$x"));
        assert_ne!(c.pwd, binding("$argon2id$y"));
        assert!(open(&Keys::random(), &t).is_none(), "another instance key");
        // Signed with another key than sessions: the session key does not open it.
        let as_session = jsonwebtoken::decode::<serde_json::Value>(
            &t,
            &keys.decoding_key(),
            &Validation::new(Algorithm::HS256),
        );
        assert!(as_session.is_err());
        assert!(open(&keys, "not-a-token").is_none());
    }
}
