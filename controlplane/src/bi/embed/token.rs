//! Embed tokens as pure functions: what a token carries, how it is signed and checked.
//!
//! A token is an HS256 JWT signed with a key of its tenant's own, derived from the instance's
//! signing key: a token of one tenant never verifies for another, and an embed token is never
//! taken for a session token (different key, and an audience sessions do not have).
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::crypto::Keys;

/// The audience of every embed token.
pub const AUDIENCE: &str = "nexbii-embed";
pub const DEFAULT_TTL_SECONDS: u32 = 300;
pub const MAX_TTL_SECONDS: u32 = 3600;

/// What a token binds: tenant, dashboard, locked variables, row context and who minted it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EmbedClaims {
    pub aud: String,
    /// The tenant.
    pub ten: String,
    /// The minting user: the views run with this user's access, never more.
    pub sub: String,
    /// When the minting user was created (a later user of the same name is someone else).
    pub uct: i64,
    /// The API key that minted the token, when a key did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The dashboard.
    pub dsh: String,
    /// Variables fixed by the token.
    #[serde(default)]
    pub var: BTreeMap<String, String>,
    /// Row-policy attributes that narrow the minter's row filters.
    #[serde(default)]
    pub ctx: BTreeMap<String, String>,
    /// Token id, for the audit log (the token itself is never written down).
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
}

/// Why a token is refused; every reason answers the same 401 (a probe learns nothing).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the embed token is expired")]
    Expired,
    #[error("the embed token is not valid for this tenant")]
    Invalid,
}

fn tenant_key(keys: &Keys, tenant: &str) -> [u8; 32] {
    keys.derive(&format!("nexbii-embed-token\0{tenant}"))
}

/// The time to live asked for, checked: 1 to 3600 seconds, 300 when not given.
pub fn ttl(asked: Option<u32>) -> Result<u32, String> {
    match asked {
        None => Ok(DEFAULT_TTL_SECONDS),
        Some(s) if (1..=MAX_TTL_SECONDS).contains(&s) => Ok(s),
        Some(_) => Err(format!("1 to {MAX_TTL_SECONDS} seconds")),
    }
}

/// Signs `claims` with the key of their tenant.
pub fn sign(keys: &Keys, claims: &EmbedClaims) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(&tenant_key(keys, &claims.ten)),
    )
    .expect("HS256 signing of plain claims does not fail")
}

/// The claims of `token` for `tenant` at `now`: signed with the tenant's key, for the embed
/// audience, naming the tenant, not expired (no leeway: a token lives exactly its TTL).
pub fn verify(
    keys: &Keys,
    tenant: &str,
    token: &str,
    now: DateTime<Utc>,
) -> Result<EmbedClaims, Refused> {
    let mut v = Validation::new(Algorithm::HS256);
    v.set_audience(&[AUDIENCE]);
    v.set_required_spec_claims(&["exp", "aud"]);
    // Expiry is checked below against `now`, so tests need no clock of their own.
    v.validate_exp = false;
    let key = DecodingKey::from_secret(&tenant_key(keys, tenant));
    let claims = jsonwebtoken::decode::<EmbedClaims>(token, &key, &v)
        .map_err(|_| Refused::Invalid)?
        .claims;
    if claims.ten != tenant {
        return Err(Refused::Invalid);
    }
    if now.timestamp() >= claims.exp {
        return Err(Refused::Expired);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(tenant: &str, now: DateTime<Utc>) -> EmbedClaims {
        EmbedClaims {
            aud: AUDIENCE.into(),
            ten: tenant.into(),
            sub: "ed".into(),
            uct: 0,
            key: Some("key-1".into()),
            dsh: "sales".into(),
            var: BTreeMap::from([("country".into(), "DE".into())]),
            ctx: BTreeMap::from([("region".into(), "EU".into())]),
            jti: "j1".into(),
            iat: now.timestamp(),
            exp: now.timestamp() + 300,
        }
    }

    #[test]
    fn a_token_verifies_for_its_tenant_until_it_expires() {
        let keys = Keys::random();
        let now = Utc::now();
        let c = claims("acme", now);
        let t = sign(&keys, &c);
        assert_eq!(verify(&keys, "acme", &t, now), Ok(c));
        let later = now + chrono::Duration::seconds(300);
        assert_eq!(verify(&keys, "acme", &t, later), Err(Refused::Expired));
    }

    #[test]
    fn other_tenants_keys_and_forgeries_are_refused() {
        let keys = Keys::random();
        let now = Utc::now();
        let t = sign(&keys, &claims("acme", now));
        assert_eq!(verify(&keys, "globex", &t, now), Err(Refused::Invalid));
        assert_eq!(
            verify(&Keys::random(), "acme", &t, now),
            Err(Refused::Invalid)
        );
        // A token signed with globex's key but naming acme inside.
        let mut c = claims("acme", now);
        c.ten = "globex".into();
        let globex = sign(&keys, &c);
        assert_eq!(verify(&keys, "acme", &globex, now), Err(Refused::Invalid));
        // Changed claims break the signature.
        let (head, rest) = t.split_once('.').unwrap();
        let (_, sig) = rest.split_once('.').unwrap();
        let mut forged = claims("acme", now);
        forged.var.insert("country".into(), "FR".into());
        let forged_body = sign(&keys, &forged);
        let body = forged_body.split('.').nth(1).unwrap();
        assert_eq!(
            verify(&keys, "acme", &format!("{head}.{body}.{sig}"), now),
            Err(Refused::Invalid)
        );
        assert_eq!(
            verify(&keys, "acme", "not.a.token", now),
            Err(Refused::Invalid)
        );
    }

    #[test]
    fn session_tokens_are_not_embed_tokens() {
        // Signed with the instance's session key, and without the embed audience.
        let keys = Keys::random();
        let now = Utc::now();
        let session = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &serde_json::json!({"sub": "admin", "ten": "acme", "sid": "s", "iat": 0, "exp": now.timestamp() + 60}),
            &keys.encoding_key(),
        )
        .unwrap();
        assert_eq!(verify(&keys, "acme", &session, now), Err(Refused::Invalid));
        // The tenant's embed key without the audience is refused too.
        let mut c = claims("acme", now);
        c.aud = "something-else".into();
        assert_eq!(
            verify(&keys, "acme", &sign(&keys, &c), now),
            Err(Refused::Invalid)
        );
    }

    #[test]
    fn ttl_defaults_to_five_minutes_and_stays_within_an_hour() {
        assert_eq!(ttl(None), Ok(300));
        assert_eq!(ttl(Some(1)), Ok(1));
        assert_eq!(ttl(Some(3600)), Ok(3600));
        assert!(ttl(Some(0)).is_err() && ttl(Some(3601)).is_err());
    }
}
