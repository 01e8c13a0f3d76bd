//! Talking to the OpenID provider: discovery (cached, with its JWKS), the authorization URL with
//! PKCE, the code exchange and the ID token's verification (signature against the provider's
//! keys, issuer, audience, expiry, nonce, access-token hash).
use std::{sync::Arc, time::Duration};

use base64::Engine as _;
use nexbii_crds::tenant::OidcSettings;
use openidconnect::{
    core::{CoreAuthenticationFlow, CoreClient, CoreGenderClaim, CoreProviderMetadata},
    reqwest, AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl,
    Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    TokenResponse, UserInfoClaims,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Provider metadata is read again after this long (and after any failed verification, so a
/// rotated signing key is picked up at the next login).
const DISCOVERY_TTL: Duration = Duration::from_secs(5 * 60);

/// Why talking to the provider failed. The text is for the logs (it never holds secrets).
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// Discovery or the provider's endpoints could not be reached or understood.
    #[error("identity provider unavailable: {0}")]
    Unavailable(String),
    /// The provider refused the code, or what it answered did not verify.
    #[error("identity provider answer refused: {0}")]
    Refused(String),
}

pub struct Discovery {
    cache: moka::future::Cache<String, Arc<CoreProviderMetadata>>,
    http: reqwest::Client,
}

impl Default for Discovery {
    fn default() -> Self {
        Self {
            cache: moka::future::Cache::builder()
                .time_to_live(DISCOVERY_TTL)
                .max_capacity(1_000)
                .build(),
            http: reqwest::ClientBuilder::new()
                // Following redirects would let a provider send our requests anywhere.
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(10))
                .build()
                .expect("HTTP client builds"),
        }
    }
}

/// A client made from discovery: authorization endpoint set; token and user-info endpoints
/// as the provider announced them.
type Client = CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

/// A login about to be sent to the provider.
pub struct Started {
    pub url: String,
    pub state: String,
    pub nonce: String,
    pub verifier: String,
}

/// Every claim, kept as JSON (the username and groups claims are configurable).
#[derive(Debug, Deserialize, Serialize)]
struct AnyClaims {
    #[serde(flatten)]
    all: Map<String, Value>,
}
impl openidconnect::AdditionalClaims for AnyClaims {}

impl Discovery {
    async fn metadata(&self, issuer: &str) -> Result<Arc<CoreProviderMetadata>, Failure> {
        let http = self.http.clone();
        self.cache
            .try_get_with(issuer.to_string(), async move {
                let url = IssuerUrl::new(issuer.to_string()).map_err(|e| e.to_string())?;
                CoreProviderMetadata::discover_async(url, &http)
                    .await
                    .map(Arc::new)
                    .map_err(|e| format!("discovery: {e}"))
            })
            .await
            .map_err(|e: Arc<String>| Failure::Unavailable(e.to_string()))
    }

    async fn client(
        &self,
        cfg: &OidcSettings,
        secret: &str,
        redirect_uri: &str,
    ) -> Result<Client, Failure> {
        let md = self.metadata(&cfg.issuer_url).await?;
        let redirect = RedirectUrl::new(redirect_uri.to_string())
            .map_err(|e| Failure::Unavailable(format!("redirect URI: {e}")))?;
        Ok(CoreClient::from_provider_metadata(
            (*md).clone(),
            ClientId::new(cfg.client_id.clone()),
            Some(ClientSecret::new(secret.to_string())),
        )
        .set_redirect_uri(redirect))
    }

    /// The provider's authorization URL for a new login, with its state, nonce and PKCE
    /// verifier (kept by the caller until the callback).
    pub async fn start(
        &self,
        cfg: &OidcSettings,
        secret: &str,
        redirect_uri: &str,
    ) -> Result<Started, Failure> {
        let client = self.client(cfg, secret, redirect_uri).await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut req = client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        // `openid` is always asked for by the library.
        for s in cfg.scopes.iter().filter(|s| *s != "openid") {
            req = req.add_scope(Scope::new(s.clone()));
        }
        let (url, state, nonce) = req.set_pkce_challenge(challenge).url();
        Ok(Started {
            url: url.to_string(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            verifier: verifier.secret().clone(),
        })
    }

    /// Exchanges the code, verifies the ID token and answers its claims, completed by the
    /// user-info endpoint when the username or groups claim is not in the token.
    pub async fn finish(
        &self,
        cfg: &OidcSettings,
        secret: &str,
        p: &super::pending::Pending,
        code: String,
    ) -> Result<Map<String, Value>, Failure> {
        let r = self.verified_claims(cfg, secret, p, code).await;
        if matches!(r, Err(Failure::Refused(_))) {
            // Perhaps the provider rotated its keys: read them again next time.
            self.cache.invalidate(&cfg.issuer_url).await;
        }
        r
    }

    async fn verified_claims(
        &self,
        cfg: &OidcSettings,
        secret: &str,
        p: &super::pending::Pending,
        code: String,
    ) -> Result<Map<String, Value>, Failure> {
        let refused =
            |what: &str, e: &dyn std::fmt::Display| Failure::Refused(format!("{what}: {e}"));
        let client = self.client(cfg, secret, &p.redirect_uri).await?;
        let token = client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|e| Failure::Unavailable(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(p.verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(|e| refused("code exchange", &e))?;
        let id_token = token
            .id_token()
            .ok_or_else(|| Failure::Refused("no ID token in the token response".into()))?;
        let verifier = client.id_token_verifier();
        let claims = id_token
            .claims(&verifier, &Nonce::new(p.nonce.clone()))
            .map_err(|e| refused("ID token", &e))?;
        if let Some(expected) = claims.access_token_hash() {
            let alg = id_token
                .signing_alg()
                .map_err(|e| refused("ID token", &e))?;
            let key = id_token
                .signing_key(&verifier)
                .map_err(|e| refused("ID token", &e))?;
            let actual = AccessTokenHash::from_token(token.access_token(), alg, key)
                .map_err(|e| refused("access token hash", &e))?;
            if actual != *expected {
                return Err(Failure::Refused("access token hash differs".into()));
            }
        }
        let subject = claims.subject().clone();
        // The token verified: its payload is the provider's word.
        let mut all = payload(&id_token.to_string())
            .ok_or_else(|| Failure::Refused("ID token payload unreadable".into()))?;
        let missing =
            !all.contains_key(&cfg.username_claim) || !all.contains_key(&cfg.groups_claim);
        if missing {
            if let Ok(req) = client.user_info(token.access_token().clone(), Some(subject)) {
                let info: UserInfoClaims<AnyClaims, CoreGenderClaim> = req
                    .request_async(&self.http)
                    .await
                    .map_err(|e| refused("user info", &e))?;
                // Serialized whole: the standard claims (`preferred_username`, `email`) are not
                // in the additional ones.
                if let Ok(Value::Object(info)) = serde_json::to_value(&info) {
                    for (k, v) in info {
                        all.entry(k).or_insert(v);
                    }
                }
            }
        }
        Ok(all)
    }
}

/// The claims of a compact JWT (its middle part), without checking anything: only called on a
/// token that was verified.
fn payload(jwt: &str) -> Option<Map<String, Value>> {
    let part = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jwt_payload_is_read_from_its_middle_part() {
        let body = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"sub":"1","groups":["a"]}"#);
        let claims = payload(&format!("h.{body}.s")).unwrap();
        assert_eq!(claims["groups"][0], "a");
        assert!(payload("no-dots").is_none());
        assert!(payload("h.!!!.s").is_none());
    }
}
