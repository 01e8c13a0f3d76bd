//! The `Caller` extractor: the authenticated user of a request, the only source of its tenant.
//! A request authenticates with a session token (`Authorization: Bearer <JWT>` from login) or
//! an API key (`Authorization: Bearer nxk_…` or `X-API-Key: nxk_…`); keys are checked by the
//! request guard (`auth::guard`: validity, scopes, rate limits), which hands the result over.
use axum::{
    extract::FromRequestParts,
    http::{header, request::Parts},
};
use chrono::Utc;
use jsonwebtoken::{Algorithm, Validation};
use serde::{Deserialize, Serialize};

use super::{
    apikeys::domain::{self as keys, KeyPrincipal},
    model::{Role, SessionRecord, UserRecord},
};
use crate::{
    http::{ApiError, ApiResult},
    state::SharedState,
    store::{write::Actor, TenantScope},
};

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Claims {
    pub sub: String,
    pub ten: String,
    pub sid: String,
    pub iat: i64,
    pub exp: i64,
    /// Marks an impersonation token: the admin acting as `sub`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imp: Option<String>,
}

/// The authenticated user of a request. Handlers get their tenant scope only from here.
#[derive(Clone, Debug)]
pub struct Caller {
    pub scope: TenantScope,
    pub username: String,
    pub role: Role,
    /// The login session (`share:<id>` for a share link's viewers; `key:<id>` for a key).
    pub session_id: String,
    /// Set when the request authenticated with an API key: the key, and the scopes it holds.
    pub api_key: Option<KeyPrincipal>,
    /// Set when an admin acts as this user (an impersonation session): the admin.
    pub impersonator: Option<String>,
    /// Row-filter attributes narrowing the user's own (an embed token's row context).
    pub row_context: std::collections::BTreeMap<String, String>,
}

impl Caller {
    pub fn require(&self, role: Role) -> ApiResult<()> {
        if self.role >= role {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "requires role {}",
                role.as_str()
            )))
        }
    }

    /// The caller as the query pipeline sees it.
    pub fn access(&self) -> crate::engine::Access {
        let mut a = crate::engine::Access::new(self.username.clone(), self.role.as_str());
        a.row_context = self.row_context.clone();
        a
    }

    /// Refuses what must not be done under someone else's identity: making credentials that
    /// outlive the impersonation (API keys, share links).
    pub fn require_own_identity(&self) -> ApiResult<()> {
        match &self.impersonator {
            Some(by) => Err(ApiError::Forbidden(format!(
                "not while {by} is impersonating {}: end the impersonation first",
                self.username
            ))),
            None => Ok(()),
        }
    }

    /// Who the write path records as the author of this caller's changes.
    pub fn actor(&self) -> Actor {
        if self.session_id == OPERATOR_SESSION {
            return Actor::Operator;
        }
        Actor::User(self.username.clone())
    }

    /// The operator acting in `scope` through its token (the provisioning API), so that the
    /// admin domain functions it reuses record `Actor::Operator` as the author.
    pub fn operator(scope: TenantScope) -> Self {
        Self {
            scope,
            username: "operator".into(),
            role: Role::Admin,
            session_id: OPERATOR_SESSION.into(),
            api_key: None,
            impersonator: None,
            row_context: Default::default(),
        }
    }
}

/// The session id of [`Caller::operator`]: never a login session's (those are random ids,
/// `share:<id>` or `key:<id>`).
const OPERATOR_SESSION: &str = "operator:";

fn unauthorized() -> ApiError {
    ApiError::Unauthorized("missing, invalid or expired token".into())
}

impl FromRequestParts<SharedState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &SharedState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(p) = parts.extensions.get::<KeyPrincipal>() {
            crate::http::middleware::identify(
                parts,
                &p.scope,
                &p.owner,
                &format!("key:{}", p.key_id),
            );
            return Ok(Caller {
                scope: p.scope.clone(),
                username: p.owner.clone(),
                role: p.role,
                session_id: format!("key:{}", p.key_id),
                api_key: Some(p.clone()),
                impersonator: None,
                row_context: Default::default(),
            });
        }
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(unauthorized)?;
        // A key that the guard did not accept (it runs before every handler) opens nothing.
        if keys::is_key(token) || parts.headers.contains_key("x-api-key") {
            return Err(unauthorized());
        }
        let claims = jsonwebtoken::decode::<Claims>(
            token,
            &state.keys.decoding_key(),
            &Validation::new(Algorithm::HS256),
        )
        .map_err(|_| unauthorized())?
        .claims;
        let scope = TenantScope::new(&claims.ten).ok_or_else(unauthorized)?;
        // Revocation and role changes take effect at once: the session and user are re-read.
        let session = state
            .store
            .cached::<SessionRecord>(&scope, &claims.sid)
            .await?
            .filter(|s| s.username == claims.sub && s.impersonator == claims.imp)
            .ok_or_else(unauthorized)?;
        // Idle and absolute timeouts as the tenant's settings say now.
        let settings = crate::admin::settings::effective(state, &scope)
            .await
            .map_err(|_| unauthorized())?;
        let now = Utc::now();
        if !super::sessions::alive(&session, &settings.settings.sessions, now) {
            return Err(unauthorized());
        }
        let user = state
            .store
            .cached::<UserRecord>(&scope, &session.username)
            .await?
            // A session older than its user belongs to a deleted namesake.
            .filter(|u| !u.disabled && u.meta.created_at <= session.meta.created_at)
            .ok_or_else(unauthorized)?;
        if let Some(by) = &session.impersonator {
            super::impersonation::still_allowed(state, &scope, by, &user, &settings.settings)
                .await
                .map_err(|_| unauthorized())?;
        }
        super::sessions::seen(state, &scope, &session, now).await;
        // Monitoring: the request's tenant and user, for the per-tenant request windows.
        crate::http::middleware::identify(parts, &scope, &user.username, "session");
        if let Some(by) = &session.impersonator {
            crate::audit::capture::impersonator(by);
        }
        Ok(Caller {
            scope,
            username: user.username.clone(),
            role: user.role,
            session_id: session.id.clone(),
            api_key: None,
            impersonator: session.impersonator.clone(),
            row_context: Default::default(),
        })
    }
}
