//! What single sign-on keeps between requests, in this instance's memory: the tenants' client
//! secrets (as the manifests give them), the logins waiting for the provider's answer (keyed by
//! their `state`, ten minutes, taken once) and the grants waiting for the console's exchange
//! (one minute, taken once).
use std::{collections::HashMap, sync::RwLock, time::Duration};

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// How long the provider may take to send the user back.
pub const LOGIN_TTL: Duration = Duration::from_secs(10 * 60);
/// How long the console has to exchange a grant for a session.
pub const GRANT_TTL: Duration = Duration::from_secs(60);

/// A login sent to the provider.
#[derive(Clone, Debug)]
pub struct Pending {
    pub tenant: String,
    /// The PKCE code verifier (its challenge went to the provider).
    pub verifier: String,
    /// The nonce the ID token must carry.
    pub nonce: String,
    /// The redirect URI given to the provider (the code exchange must repeat it).
    pub redirect_uri: String,
    /// Where the console goes after the login.
    pub return_to: String,
    /// Digest of the browser cookie set with the login, so a callback is only accepted from
    /// the browser that started it (no login CSRF with somebody else's code).
    pub browser: String,
    pub expires_at: DateTime<Utc>,
}

/// A proven identity waiting for its session.
#[derive(Clone, Debug)]
pub struct Grant {
    pub tenant: String,
    pub username: String,
    pub expires_at: DateTime<Utc>,
}

/// Something that is good until `expires_at` (memory entries also leave by the cache's own
/// expiry; this check makes the limit exact).
pub trait Expiring {
    fn expires_at(&self) -> DateTime<Utc>;
    fn live_at(&self, now: DateTime<Utc>) -> bool {
        now < self.expires_at()
    }
}
impl Expiring for Pending {
    fn expires_at(&self) -> DateTime<Utc> {
        self.expires_at
    }
}
impl Expiring for Grant {
    fn expires_at(&self) -> DateTime<Utc> {
        self.expires_at
    }
}

pub fn digest(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

pub struct OidcState {
    /// Client secret per tenant, replaced whole by every manifests apply.
    secrets: RwLock<HashMap<String, String>>,
    /// Keyed by the digest of the `state` parameter.
    pending: moka::sync::Cache<String, Pending>,
    /// Keyed by the digest of the grant.
    grants: moka::sync::Cache<String, Grant>,
    /// Provider metadata (with its JWKS) per issuer.
    pub(super) discovery: super::provider::Discovery,
}

impl Default for OidcState {
    fn default() -> Self {
        Self {
            secrets: Default::default(),
            pending: moka::sync::Cache::builder()
                .time_to_live(LOGIN_TTL)
                .max_capacity(100_000)
                .build(),
            grants: moka::sync::Cache::builder()
                .time_to_live(GRANT_TTL)
                .max_capacity(100_000)
                .build(),
            discovery: Default::default(),
        }
    }
}

impl OidcState {
    pub fn set_client_secrets(&self, secrets: HashMap<String, String>) {
        *self.secrets.write().unwrap_or_else(|p| p.into_inner()) = secrets;
    }

    pub fn client_secret(&self, tenant: &str) -> Option<String> {
        self.secrets
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(tenant)
            .cloned()
    }

    pub fn put_pending(&self, state: &str, p: Pending) {
        self.pending.insert(digest(state), p);
    }

    /// The login `state` names, once: taking it removes it, live or not.
    pub fn take_pending(&self, state: &str, now: DateTime<Utc>) -> Option<Pending> {
        self.pending
            .remove(&digest(state))
            .filter(|p| p.live_at(now))
    }

    pub fn put_grant(&self, grant: &str, g: Grant) {
        self.grants.insert(digest(grant), g);
    }

    /// The identity a grant stands for, once.
    pub fn take_grant(&self, grant: &str, now: DateTime<Utc>) -> Option<Grant> {
        self.grants
            .remove(&digest(grant))
            .filter(|g| g.live_at(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(expires_at: DateTime<Utc>) -> Pending {
        Pending {
            tenant: "acme".into(),
            verifier: "v".into(),
            nonce: "n".into(),
            redirect_uri: "http://127.0.0.1/cb".into(),
            return_to: "/".into(),
            browser: digest("cookie"),
            expires_at,
        }
    }

    #[test]
    fn a_state_is_taken_once_and_not_after_it_expired() {
        let s = OidcState::default();
        let now = Utc::now();
        s.put_pending("st-1", pending(now + chrono::Duration::minutes(10)));
        assert_eq!(s.take_pending("st-1", now).unwrap().tenant, "acme");
        assert!(s.take_pending("st-1", now).is_none(), "second use");
        s.put_pending("st-2", pending(now + chrono::Duration::minutes(10)));
        assert!(s.take_pending("other", now).is_none());
        assert!(
            s.take_pending("st-2", now + chrono::Duration::minutes(10))
                .is_none(),
            "expired exactly at its limit"
        );
        // The expired one is gone too, not left for later.
        assert!(s.take_pending("st-2", now).is_none());
    }

    #[test]
    fn a_grant_is_taken_once_and_not_after_it_expired() {
        let s = OidcState::default();
        let now = Utc::now();
        let g = |exp| Grant {
            tenant: "acme".into(),
            username: "ann".into(),
            expires_at: exp,
        };
        s.put_grant("g1", g(now + chrono::Duration::seconds(60)));
        assert_eq!(s.take_grant("g1", now).unwrap().username, "ann");
        assert!(s.take_grant("g1", now).is_none());
        s.put_grant("g2", g(now - chrono::Duration::seconds(1)));
        assert!(s.take_grant("g2", now).is_none());
    }

    #[test]
    fn client_secrets_are_replaced_whole() {
        let s = OidcState::default();
        s.set_client_secrets(HashMap::from([("acme".into(), "s1".into())]));
        assert_eq!(s.client_secret("acme").as_deref(), Some("s1"));
        s.set_client_secrets(HashMap::from([("beta".into(), "s2".into())]));
        assert_eq!(s.client_secret("acme"), None);
    }
}
