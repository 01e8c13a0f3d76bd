//! Impersonation: an admin acts as a non-admin user for a limited time, to see what they see.
//!
//! Starting one makes a session of the user marked with the admin (`impersonator`) and a token
//! whose claims say so too (`imp`); `GET /api/v1/auth/me` shows it, so the console can show a
//! banner. Every request on it is audited under the user with the admin as `impersonator`.
//! It ends at `settings.impersonation.maxMinutes` at the latest (or sooner, as asked), when
//! ended early (`DELETE /api/v1/auth/impersonation`, or an admin revoking the session), and at
//! once when the tenant turns impersonation off or the admin loses the admin role. Admins
//! cannot be impersonated; an impersonation session makes no credentials that outlive it (API
//! keys, share links).
use axum::{extract::State, http::StatusCode, Json};
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use jsonwebtoken::{Algorithm, Header};
use nexbii_crds::Settings;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    caller::{Caller, Claims},
    model::{Role, SessionRecord, UserRecord},
    sessions::ClientInfo,
    users::UserView,
};
use crate::{
    crypto,
    http::{ApiError, ApiJson, ApiResult, Problem},
    state::{AppState, SharedState},
    store::{Expect, Meta, StoreExt, TenantScope},
};

/// What `/auth/me` shows of an impersonation.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImpersonationInfo {
    /// The admin acting as this user.
    pub impersonator: String,
    pub session_id: String,
    pub started_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StartImpersonation {
    /// The user to act as (not an admin).
    pub username: String,
    /// How long, at most `settings.impersonation.maxMinutes` (the default).
    #[serde(default)]
    pub minutes: Option<u32>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImpersonationStarted {
    /// A session token of the user, marked as an impersonation.
    pub token: String,
    pub token_type: &'static str,
    pub expires_at: DateTime<Utc>,
    pub session_id: String,
    pub impersonator: String,
    pub user: UserView,
}

/// Why an impersonation may not start (or go on). Pure decisions over plain values.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("impersonation is disabled for this tenant (settings.impersonation.enabled)")]
    Disabled,
    #[error("only admins impersonate")]
    NotAdmin,
    #[error("an impersonation session cannot start another")]
    Nested,
    #[error("admins cannot be impersonated")]
    TargetIsAdmin,
    #[error("a disabled user cannot be impersonated")]
    TargetDisabled,
    #[error("impersonating yourself")]
    Yourself,
    #[error("minutes must be between 1 and {0} (settings.impersonation.maxMinutes)")]
    Minutes(u32),
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::Disabled | Refusal::NotAdmin | Refusal::Nested => {
                ApiError::Forbidden(r.to_string())
            }
            Refusal::Minutes(_) => ApiError::invalid("minutes", r.to_string()),
            _ => ApiError::invalid("username", r.to_string()),
        }
    }
}

/// Whether `admin` may act as `target` for `minutes` (None: the maximum); the minutes granted.
pub fn check_start(
    settings: &Settings,
    admin: &str,
    admin_role: Role,
    admin_impersonating: bool,
    target: &UserRecord,
    minutes: Option<u32>,
) -> Result<u32, Refusal> {
    let s = &settings.impersonation;
    if !s.enabled {
        return Err(Refusal::Disabled);
    }
    if admin_impersonating {
        return Err(Refusal::Nested);
    }
    if admin_role != Role::Admin {
        return Err(Refusal::NotAdmin);
    }
    if target.username == admin {
        return Err(Refusal::Yourself);
    }
    if target.role == Role::Admin {
        return Err(Refusal::TargetIsAdmin);
    }
    if target.disabled {
        return Err(Refusal::TargetDisabled);
    }
    let m = minutes.unwrap_or(s.max_minutes);
    if m == 0 || m > s.max_minutes {
        return Err(Refusal::Minutes(s.max_minutes));
    }
    Ok(m)
}

/// Whether an impersonation session still holds: the tenant allows impersonation, the admin is
/// still an enabled admin, and the user has not become one.
pub fn check_going_on(
    settings: &Settings,
    admin: Option<&UserRecord>,
    target: &UserRecord,
) -> Result<(), Refusal> {
    if !settings.impersonation.enabled {
        return Err(Refusal::Disabled);
    }
    match admin {
        Some(a) if a.role == Role::Admin && !a.disabled => {}
        _ => return Err(Refusal::NotAdmin),
    }
    if target.role == Role::Admin {
        return Err(Refusal::TargetIsAdmin);
    }
    Ok(())
}

/// [`check_going_on`] with the admin read from the store (cached).
pub async fn still_allowed(
    state: &AppState,
    scope: &TenantScope,
    by: &str,
    target: &UserRecord,
    settings: &Settings,
) -> Result<(), Refusal> {
    let admin = state
        .store
        .cached::<UserRecord>(scope, by)
        .await
        .ok()
        .flatten();
    check_going_on(settings, admin.as_deref(), target)
}

#[utoipa::path(post, path = "/api/v1/admin/impersonations", tag = "admin", request_body = StartImpersonation,
    responses(
        (status = 201, body = ImpersonationStarted, description = "a session token of the user, marked as an impersonation by the caller"),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "not the expected JSON"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "not an admin, already impersonating, or impersonation disabled for the tenant"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "no such user"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "the user is an admin, disabled or the caller; minutes out of range (field names it)")),
    security(("bearer" = [])))]
pub async fn start(
    State(state): State<SharedState>,
    caller: Caller,
    client: ClientInfo,
    ApiJson(req): ApiJson<StartImpersonation>,
) -> ApiResult<(StatusCode, Json<ImpersonationStarted>)> {
    caller.require(Role::Admin)?;
    let settings = crate::admin::settings::effective(&state, &caller.scope).await?;
    let target = state
        .store
        .get_as::<UserRecord>(&caller.scope, &req.username)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("user {}", req.username)))?;
    let minutes = check_start(
        &settings.settings,
        &caller.username,
        caller.role,
        caller.impersonator.is_some(),
        &target,
        req.minutes,
    )?;
    let now = Utc::now();
    let session = SessionRecord {
        id: crypto::random_id(),
        username: target.username.clone(),
        expires_at: now + ChronoDuration::minutes(minutes as i64),
        revoked: false,
        user_agent: client.user_agent,
        client: client.address,
        last_seen_at: Some(now),
        impersonator: Some(caller.username.clone()),
        meta: Meta::default(),
    };
    let session = state
        .writer
        .save(&caller.scope, &caller.actor(), session, Expect::Absent)
        .await?;
    let claims = Claims {
        sub: target.username.clone(),
        ten: caller.scope.tenant().to_string(),
        sid: session.id.clone(),
        iat: now.timestamp(),
        exp: session.expires_at.timestamp(),
        imp: Some(caller.username.clone()),
    };
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &state.keys.encoding_key(),
    )
    .map_err(|e| ApiError::Internal(e.into()))?;
    tracing::info!(tenant = caller.scope.tenant(), admin = %caller.username, user = %target.username, minutes, session = %session.id, "impersonation started");
    Ok((
        StatusCode::CREATED,
        Json(ImpersonationStarted {
            token,
            token_type: "Bearer",
            expires_at: session.expires_at,
            session_id: session.id,
            impersonator: caller.username,
            user: target.into(),
        }),
    ))
}

#[utoipa::path(delete, path = "/api/v1/auth/impersonation", tag = "auth",
    responses(
        (status = 204, description = "the impersonation session is ended (its token opens nothing more)"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "the caller's session is not an impersonation")),
    security(("bearer" = [])))]
pub async fn end(State(state): State<SharedState>, caller: Caller) -> ApiResult<StatusCode> {
    let Some(by) = &caller.impersonator else {
        return Err(ApiError::Conflict(
            "this session is not an impersonation; to sign out use POST /api/v1/auth/logout".into(),
        ));
    };
    super::sessions::revoke(&state, &caller, &caller.session_id).await?;
    tracing::info!(tenant = caller.scope.tenant(), admin = %by, user = %caller.username, "impersonation ended");
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, role: Role) -> UserRecord {
        UserRecord {
            username: name.into(),
            email: None,
            role,
            password_hash: String::new(),
            disabled: false,
            last_login_at: None,
            attributes: Default::default(),
            security: Default::default(),
            meta: Meta::default(),
        }
    }

    #[test]
    fn who_may_impersonate_whom_and_for_how_long() {
        let mut s = Settings::default();
        s.impersonation.max_minutes = 30;
        let viewer = user("vic", Role::Viewer);
        let ok = |m| check_start(&s, "root", Role::Admin, false, &viewer, m);
        assert_eq!(ok(None), Ok(30));
        assert_eq!(ok(Some(5)), Ok(5));
        assert_eq!(ok(Some(31)), Err(Refusal::Minutes(30)));
        assert_eq!(ok(Some(0)), Err(Refusal::Minutes(30)));
        assert_eq!(
            check_start(
                &s,
                "root",
                Role::Admin,
                false,
                &user("a2", Role::Admin),
                None
            ),
            Err(Refusal::TargetIsAdmin)
        );
        assert_eq!(
            check_start(&s, "root", Role::Editor, false, &viewer, None),
            Err(Refusal::NotAdmin)
        );
        assert_eq!(
            check_start(&s, "root", Role::Admin, true, &viewer, None),
            Err(Refusal::Nested)
        );
        let mut off = viewer.clone();
        off.disabled = true;
        assert_eq!(
            check_start(&s, "root", Role::Admin, false, &off, None),
            Err(Refusal::TargetDisabled)
        );
        s.impersonation.enabled = false;
        assert_eq!(
            check_start(&s, "root", Role::Admin, false, &viewer, None),
            Err(Refusal::Disabled)
        );
    }

    #[test]
    fn an_impersonation_stops_when_its_grounds_go() {
        let mut s = Settings::default();
        let admin = user("root", Role::Admin);
        let viewer = user("vic", Role::Viewer);
        assert_eq!(check_going_on(&s, Some(&admin), &viewer), Ok(()));
        let demoted = user("root", Role::Editor);
        assert_eq!(
            check_going_on(&s, Some(&demoted), &viewer),
            Err(Refusal::NotAdmin)
        );
        assert_eq!(check_going_on(&s, None, &viewer), Err(Refusal::NotAdmin));
        assert_eq!(
            check_going_on(&s, Some(&admin), &user("vic", Role::Admin)),
            Err(Refusal::TargetIsAdmin)
        );
        s.impersonation.enabled = false;
        assert_eq!(
            check_going_on(&s, Some(&admin), &viewer),
            Err(Refusal::Disabled)
        );
    }
}
