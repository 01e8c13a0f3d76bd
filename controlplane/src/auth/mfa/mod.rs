//! TOTP multi-factor authentication: enrolment, confirmation, the second login step, recovery
//! codes, disable and an admin's reset; enforced per tenant and role by `settings.mfa.required`.
//!
//! **Login.** `POST /api/v1/auth/login` checks the password; when the user has confirmed MFA it
//! answers `{mfaRequired: true, challenge}` instead of a session, and
//! `POST /api/v1/auth/login/mfa {challenge, code}` (a TOTP code or a recovery code) opens the
//! session. When the tenant requires MFA of the user's role and none is set up, the answer is
//! `{mfaRequired: true, enrollmentRequired: true, challenge}`: the challenge is good for
//! nothing but `POST /api/v1/auth/login/mfa/enroll {challenge}` (the secret and `otpauth://`
//! URI) and then `POST /api/v1/auth/login/mfa {challenge, code}`, whose first code confirms the
//! enrolment and opens the session, with the recovery codes shown this once. Nobody gets a
//! session of any kind before the second factor is proved. Challenges live 5 minutes, are
//! signed with a key of their own and are void once the password changes.
//!
//! **Codes.** A TOTP code is accepted for its 30-second step and one step either side, once:
//! the newest accepted step is kept on the user, and a code of that step or older is refused
//! (replay). Wrong codes count towards the account lockout, like wrong passwords.
//!
//! **At rest.** The TOTP secret is sealed with the instance key (AES-256-GCM, bound to tenant
//! and user) and shown only in the enrolment answer; recovery codes are kept as keyed digests.
//! Neither reaches the logs or the audit log (which records requests, never their bodies).
//!
//! API keys are credentials of their own (made by a user who logged in) and are not asked for
//! a second factor; the MFA endpoints themselves belong to login sessions.
use axum::{
    extract::{Path, State},
    http::StatusCode,
    routing::{delete, get, post},
    Json, Router,
};
use chrono::{DateTime, Utc};
use nexbii_crds::settings::{MfaRequirement, Settings};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub mod challenge;
pub mod recovery;
pub mod totp;

use challenge::Purpose;
pub use totp::MfaRecord;

use super::{
    caller::Caller,
    lockout,
    model::{Role, UserRecord},
    sessions::{open_session, LoginResponse},
};
use crate::{
    http::{ApiError, ApiJson, ApiResult, Problem},
    state::{AppState, SharedState},
    store::{write::Actor, StoreExt, TenantScope},
};

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/api/v1/auth/login/mfa", post(login_mfa))
        .route("/api/v1/auth/login/mfa/enroll", post(login_enroll))
        .route("/api/v1/auth/mfa", get(status))
        .route("/api/v1/auth/mfa/enroll", post(enroll))
        .route("/api/v1/auth/mfa/confirm", post(confirm))
        .route("/api/v1/auth/mfa/disable", post(disable))
        .route("/api/v1/auth/mfa/recovery-codes", post(regenerate))
        .route("/api/v1/users/{username}/mfa", delete(reset))
}

/// Whether the tenant's settings require a second factor of this role.
pub fn required_for(req: MfaRequirement, role: Role) -> bool {
    match req {
        MfaRequirement::Optional => false,
        MfaRequirement::Admins => role == Role::Admin,
        MfaRequirement::All => true,
    }
}

/// What a login answers instead of a session when a second step is needed.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MfaChallenge {
    /// Always true: a code must follow (`POST /api/v1/auth/login/mfa`).
    pub mfa_required: bool,
    /// True when MFA must be set up first (`POST /api/v1/auth/login/mfa/enroll`).
    pub enrollment_required: bool,
    /// Short-lived token naming the user and the step; not a session token.
    pub challenge: String,
    pub expires_at: DateTime<Utc>,
}

/// The second step a user who proved their password still owes, if any.
pub fn challenge_after_password(
    state: &AppState,
    scope: &TenantScope,
    settings: &Settings,
    user: &UserRecord,
) -> Option<MfaChallenge> {
    let enrolled = user.security.mfa.as_ref().is_some_and(MfaRecord::confirmed);
    let purpose = if enrolled {
        Purpose::Verify
    } else if required_for(settings.mfa.required, user.role) {
        Purpose::Enroll
    } else {
        return None;
    };
    let (challenge, expires_at) = challenge::issue(
        &state.keys,
        scope.tenant(),
        &user.username,
        &user.password_hash,
        purpose,
    );
    Some(MfaChallenge {
        mfa_required: true,
        enrollment_required: purpose == Purpose::Enroll,
        challenge,
        expires_at,
    })
}

fn seal_context(scope: &TenantScope, username: &str) -> String {
    format!("{}/users/{username}/totp", scope.tenant())
}

fn recovery_key(state: &AppState, scope: &TenantScope) -> [u8; 32] {
    state
        .keys
        .derive(&format!("mfa-recovery-codes:{}", scope.tenant()))
}

fn secret_of(
    state: &AppState,
    scope: &TenantScope,
    user: &str,
    m: &MfaRecord,
) -> ApiResult<Vec<u8>> {
    state
        .keys
        .open(&m.secret, &seal_context(scope, user))
        .ok()
        .and_then(|b32| totp::from_base32(&b32))
        .ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!("the TOTP secret of {user} does not open"))
        })
}

fn unix_now() -> u64 {
    Utc::now().timestamp().max(0) as u64
}

/// The secret of a new (or restarted) enrolment, shown this once.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Enrollment {
    /// The TOTP secret, base32 (for typing into an app).
    pub secret: String,
    /// `otpauth://totp/…` for an authenticator app (as a QR code).
    pub otpauth_uri: String,
    pub issuer: String,
    pub account: String,
}

/// Starts (or restarts) an enrolment: a new secret, sealed on the user, unconfirmed.
async fn start_enrolment(
    state: &AppState,
    scope: &TenantScope,
    user: &UserRecord,
) -> ApiResult<Enrollment> {
    if user.security.mfa.as_ref().is_some_and(MfaRecord::confirmed) {
        return Err(ApiError::Conflict(
            "MFA is already set up; disable it first to enrol again".into(),
        ));
    }
    let secret = totp::new_secret();
    let b32 = totp::to_base32(&secret);
    let sealed = state.keys.seal(&b32, &seal_context(scope, &user.username));
    let now = Utc::now();
    let actor = Actor::User(user.username.clone());
    state
        .writer
        .modify::<UserRecord>(scope, &actor, &user.username, |u| {
            if !u.security.mfa.as_ref().is_some_and(MfaRecord::confirmed) {
                u.security.mfa = Some(MfaRecord {
                    secret: sealed.clone(),
                    enrolled_at: now,
                    confirmed_at: None,
                    last_step: 0,
                    recovery_codes: Vec::new(),
                });
            }
        })
        .await?
        .filter(|u| u.security.mfa.as_ref().is_some_and(|m| m.secret == sealed))
        .ok_or_else(|| ApiError::Conflict("MFA was set up meanwhile".into()))?;
    let issuer = format!("NexBII {}", scope.tenant());
    let account = format!("{}@{}", user.username, scope.tenant());
    tracing::info!(tenant = scope.tenant(), username = %user.username, "MFA enrolment started");
    Ok(Enrollment {
        otpauth_uri: totp::uri(&secret, &issuer, &account),
        secret: b32,
        issuer,
        account,
    })
}

/// How a code fared.
#[derive(Debug, PartialEq, Eq)]
enum CodeCheck {
    Ok,
    Wrong,
}

/// Checks a TOTP code (or, with `recovery`, a recovery code) of the user's confirmed MFA — or,
/// with `pending`, of the enrolment waiting for its first code — and records it as used.
async fn use_code(
    state: &AppState,
    scope: &TenantScope,
    username: &str,
    code: &str,
    recovery: bool,
    pending: bool,
) -> ApiResult<CodeCheck> {
    let Some(user) = state.store.get_as::<UserRecord>(scope, username).await? else {
        return Ok(CodeCheck::Wrong);
    };
    let Some(m) = user.security.mfa.filter(|m| m.confirmed() != pending) else {
        return Ok(CodeCheck::Wrong);
    };
    let actor = Actor::User(username.to_string());
    let mut ok = false;
    if totp::looks_like_totp(code) {
        let secret = secret_of(state, scope, username, &m)?;
        let totp::Verdict::Accepted(step) = totp::check(&secret, code, unix_now(), m.last_step)
        else {
            return Ok(CodeCheck::Wrong);
        };
        // Checked again on the record being written: of two requests with one code, one wins.
        state
            .writer
            .modify::<UserRecord>(scope, &actor, username, |u| {
                ok = false;
                if let Some(cur) = u.security.mfa.as_mut() {
                    if cur.secret == m.secret && step > cur.last_step {
                        cur.last_step = step;
                        if pending {
                            cur.confirmed_at = Some(Utc::now());
                        }
                        ok = true;
                    }
                }
            })
            .await?;
    } else if recovery && !pending {
        let digest = recovery::digest(&recovery_key(state, scope), scope.tenant(), username, code);
        if !m.recovery_codes.contains(&digest) {
            return Ok(CodeCheck::Wrong);
        }
        state
            .writer
            .modify::<UserRecord>(scope, &actor, username, |u| {
                ok = u
                    .security
                    .mfa
                    .as_mut()
                    .is_some_and(|cur| recovery::take(&mut cur.recovery_codes, &digest));
            })
            .await?;
        if ok {
            tracing::info!(tenant = scope.tenant(), username, "MFA recovery code used");
        }
    }
    Ok(if ok { CodeCheck::Ok } else { CodeCheck::Wrong })
}

/// New recovery codes for the user (replacing any left), returned in clear this once.
async fn new_recovery_codes(
    state: &AppState,
    scope: &TenantScope,
    username: &str,
) -> ApiResult<Vec<String>> {
    let codes = recovery::generate();
    let key = recovery_key(state, scope);
    let digests: Vec<String> = codes
        .iter()
        .map(|c| recovery::digest(&key, scope.tenant(), username, c))
        .collect();
    state
        .writer
        .modify::<UserRecord>(scope, &Actor::User(username.into()), username, |u| {
            if let Some(m) = u.security.mfa.as_mut() {
                m.recovery_codes = digests.clone();
            }
        })
        .await?;
    Ok(codes)
}

/// A wrong code counts towards the lockout; its answer.
async fn wrong_code(
    state: &AppState,
    scope: &TenantScope,
    username: &str,
    as_login: bool,
) -> ApiResult<ApiError> {
    let settings = crate::admin::settings::effective(state, scope).await?;
    lockout::failed(state, scope, username, &settings.settings.lockout).await?;
    tracing::warn!(tenant = scope.tenant(), username, "wrong MFA code");
    Ok(if as_login {
        ApiError::Unauthorized("wrong, expired or already used code".into())
    } else {
        ApiError::invalid("code", "wrong, expired or already used code")
    })
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MfaLogin {
    /// The `challenge` of the login answer.
    pub challenge: String,
    /// A six-digit TOTP code, or (when MFA is set up) an unused recovery code.
    pub code: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnrollLogin {
    pub challenge: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CodeInput {
    /// A six-digit TOTP code (for disable, a recovery code does too).
    pub code: String,
}

fn bad_challenge() -> ApiError {
    ApiError::Unauthorized("invalid or expired challenge; log in again".into())
}

/// The user a challenge names, when it is still good: signed, unexpired, the user enabled, the
/// password unchanged, the account not locked.
async fn challenged(
    state: &AppState,
    token: &str,
    purpose: Option<Purpose>,
) -> ApiResult<(TenantScope, challenge::ChallengeClaims, UserRecord)> {
    let claims = challenge::open(&state.keys, token).ok_or_else(bad_challenge)?;
    if purpose.is_some_and(|p| p != claims.purpose) {
        return Err(bad_challenge());
    }
    let scope = TenantScope::new(&claims.ten).ok_or_else(bad_challenge)?;
    crate::audit::capture::actor(&scope, &claims.sub, "mfa");
    let user = state
        .store
        .get_as::<UserRecord>(&scope, &claims.sub)
        .await?
        .filter(|u| !u.disabled && challenge::binding(&u.password_hash) == claims.pwd)
        .ok_or_else(bad_challenge)?;
    if lockout::is_locked(&user, Utc::now()) {
        return Err(lockout::locked());
    }
    Ok((scope, claims, user))
}

#[utoipa::path(post, path = "/api/v1/auth/login/mfa", tag = "auth", request_body = MfaLogin,
    responses(
        (status = 200, body = LoginResponse, description = "the session; `recoveryCodes` when this \
            code completed an enrolment (shown this once)"),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json",
            description = "a wrong, expired or used code, or a challenge no longer good"),
        (status = 403, body = Problem, content_type = "application/problem+json",
            description = "the client address is not in the tenant's IP allow-list"),
        (status = 409, body = Problem, content_type = "application/problem+json",
            description = "an enrolment challenge, but no enrolment was started"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json",
            description = "the account is locked after too many failures")))]
pub async fn login_mfa(
    State(state): State<SharedState>,
    super::guard::ClientAddr(addr): super::guard::ClientAddr,
    client: super::sessions::ClientInfo,
    ApiJson(req): ApiJson<MfaLogin>,
) -> ApiResult<Json<LoginResponse>> {
    let (scope, claims, user) = challenged(&state, &req.challenge, None).await?;
    crate::admin::settings::domain::admit_address(&state, &scope, addr).await?;
    let pending = claims.purpose == Purpose::Enroll;
    let has = |u: &UserRecord| u.security.mfa.as_ref().map(MfaRecord::confirmed);
    match (claims.purpose, has(&user)) {
        (Purpose::Verify, Some(true)) | (Purpose::Enroll, Some(false)) => {}
        (Purpose::Enroll, None) => {
            return Err(ApiError::Conflict(
                "no enrolment started: POST /api/v1/auth/login/mfa/enroll first".into(),
            ))
        }
        _ => return Err(bad_challenge()),
    }
    if use_code(&state, &scope, &user.username, &req.code, true, pending).await? != CodeCheck::Ok {
        return Err(wrong_code(&state, &scope, &user.username, true).await?);
    }
    let codes = if pending {
        tracing::info!(tenant = scope.tenant(), username = %user.username, "MFA enrolment confirmed");
        Some(new_recovery_codes(&state, &scope, &user.username).await?)
    } else {
        None
    };
    let mut session = open_session(&state, &scope, user, client).await?;
    session.recovery_codes = codes;
    Ok(Json(session))
}

#[utoipa::path(post, path = "/api/v1/auth/login/mfa/enroll", tag = "auth", request_body = EnrollLogin,
    responses(
        (status = 200, body = Enrollment, description = "the new secret, shown this once; confirm \
            it with a first code at `POST /api/v1/auth/login/mfa`"),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json",
            description = "not an enrolment challenge, or no longer good"),
        (status = 403, body = Problem, content_type = "application/problem+json",
            description = "the client address is not in the tenant's IP allow-list"),
        (status = 409, body = Problem, content_type = "application/problem+json",
            description = "MFA is set up already"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json")))]
pub async fn login_enroll(
    State(state): State<SharedState>,
    super::guard::ClientAddr(addr): super::guard::ClientAddr,
    ApiJson(req): ApiJson<EnrollLogin>,
) -> ApiResult<Json<Enrollment>> {
    let (scope, _, user) = challenged(&state, &req.challenge, Some(Purpose::Enroll)).await?;
    crate::admin::settings::domain::admit_address(&state, &scope, addr).await?;
    Ok(Json(start_enrolment(&state, &scope, &user).await?))
}

/// The MFA endpoints belong to login sessions, not API keys.
fn session_only(caller: &Caller) -> ApiResult<()> {
    match &caller.api_key {
        Some(_) => Err(ApiError::BadRequest {
            field: None,
            detail: "MFA belongs to a login session; an API key has none".into(),
        }),
        None => Ok(()),
    }
}

async fn own_user(state: &AppState, caller: &Caller) -> ApiResult<UserRecord> {
    session_only(caller)?;
    state
        .store
        .get_as::<UserRecord>(&caller.scope, &caller.username)
        .await?
        .ok_or_else(|| ApiError::NotFound("user".into()))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MfaStatus {
    /// A confirmed second factor: logins ask for a code.
    pub enabled: bool,
    /// An enrolment waits for its first code.
    pub pending: bool,
    /// The tenant's settings require MFA of this user's role.
    pub required: bool,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub recovery_codes_left: usize,
}

#[utoipa::path(get, path = "/api/v1/auth/mfa", tag = "auth",
    responses((status = 200, body = MfaStatus),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "called with an API key")),
    security(("bearer" = [])))]
pub async fn status(
    State(state): State<SharedState>,
    caller: Caller,
) -> ApiResult<Json<MfaStatus>> {
    let user = own_user(&state, &caller).await?;
    let settings = crate::admin::settings::effective(&state, &caller.scope).await?;
    let m = user.security.mfa.as_ref();
    Ok(Json(MfaStatus {
        enabled: m.is_some_and(MfaRecord::confirmed),
        pending: m.is_some_and(|m| !m.confirmed()),
        required: required_for(settings.settings.mfa.required, user.role),
        confirmed_at: m.and_then(|m| m.confirmed_at),
        recovery_codes_left: m.map_or(0, |m| m.recovery_codes.len()),
    }))
}

#[utoipa::path(post, path = "/api/v1/auth/mfa/enroll", tag = "auth",
    responses(
        (status = 200, body = Enrollment, description = "the new secret, shown this once; confirm \
            it at `POST /api/v1/auth/mfa/confirm`"),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "called with an API key"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "MFA is set up already")),
    security(("bearer" = [])))]
pub async fn enroll(
    State(state): State<SharedState>,
    caller: Caller,
) -> ApiResult<Json<Enrollment>> {
    let user = own_user(&state, &caller).await?;
    Ok(Json(start_enrolment(&state, &caller.scope, &user).await?))
}

/// The recovery codes, shown this once.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecoveryCodes {
    pub recovery_codes: Vec<String>,
}

/// Refuses code checks of a locked account.
fn not_locked(user: &UserRecord) -> ApiResult<()> {
    if lockout::is_locked(user, Utc::now()) {
        return Err(lockout::locked());
    }
    Ok(())
}

#[utoipa::path(post, path = "/api/v1/auth/mfa/confirm", tag = "auth", request_body = CodeInput,
    responses(
        (status = 200, body = RecoveryCodes, description = "MFA is on; the recovery codes, shown this once"),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "no enrolment waits for a code"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "a wrong, expired or used code"),
        (status = 429, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn confirm(
    State(state): State<SharedState>,
    caller: Caller,
    ApiJson(req): ApiJson<CodeInput>,
) -> ApiResult<Json<RecoveryCodes>> {
    let user = own_user(&state, &caller).await?;
    not_locked(&user)?;
    if user.security.mfa.as_ref().is_none_or(MfaRecord::confirmed) {
        return Err(ApiError::Conflict(
            "no enrolment waits for a code: POST /api/v1/auth/mfa/enroll first".into(),
        ));
    }
    let (scope, name) = (&caller.scope, &caller.username);
    if use_code(&state, scope, name, &req.code, false, true).await? != CodeCheck::Ok {
        return Err(wrong_code(&state, scope, name, false).await?);
    }
    tracing::info!(tenant = scope.tenant(), username = %name, "MFA enrolment confirmed");
    Ok(Json(RecoveryCodes {
        recovery_codes: new_recovery_codes(&state, scope, name).await?,
    }))
}

#[utoipa::path(post, path = "/api/v1/auth/mfa/disable", tag = "auth", request_body = CodeInput,
    responses(
        (status = 204, description = "MFA is off"),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json",
            description = "MFA is not on, or the tenant's settings require it of this role"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "a wrong, expired or used code"),
        (status = 429, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn disable(
    State(state): State<SharedState>,
    caller: Caller,
    ApiJson(req): ApiJson<CodeInput>,
) -> ApiResult<StatusCode> {
    let user = own_user(&state, &caller).await?;
    not_locked(&user)?;
    let (scope, name) = (&caller.scope, &caller.username);
    if !user.security.mfa.as_ref().is_some_and(MfaRecord::confirmed) {
        return Err(ApiError::Conflict("MFA is not on".into()));
    }
    let settings = crate::admin::settings::effective(&state, scope).await?;
    if required_for(settings.settings.mfa.required, user.role) {
        return Err(ApiError::Conflict(format!(
            "the tenant's settings require MFA of role {} (settings.mfa.required)",
            user.role.as_str()
        )));
    }
    if use_code(&state, scope, name, &req.code, true, false).await? != CodeCheck::Ok {
        return Err(wrong_code(&state, scope, name, false).await?);
    }
    state
        .writer
        .modify::<UserRecord>(scope, &caller.actor(), name, |u| u.security.mfa = None)
        .await?;
    tracing::info!(tenant = scope.tenant(), username = %name, "MFA disabled");
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/auth/mfa/recovery-codes", tag = "auth", request_body = CodeInput,
    responses(
        (status = 200, body = RecoveryCodes, description = "new codes, shown this once; the old ones no longer work"),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "MFA is not on"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "a wrong, expired or used TOTP code"),
        (status = 429, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn regenerate(
    State(state): State<SharedState>,
    caller: Caller,
    ApiJson(req): ApiJson<CodeInput>,
) -> ApiResult<Json<RecoveryCodes>> {
    let user = own_user(&state, &caller).await?;
    not_locked(&user)?;
    let (scope, name) = (&caller.scope, &caller.username);
    if !user.security.mfa.as_ref().is_some_and(MfaRecord::confirmed) {
        return Err(ApiError::Conflict("MFA is not on".into()));
    }
    if use_code(&state, scope, name, &req.code, false, false).await? != CodeCheck::Ok {
        return Err(wrong_code(&state, scope, name, false).await?);
    }
    Ok(Json(RecoveryCodes {
        recovery_codes: new_recovery_codes(&state, scope, name).await?,
    }))
}

#[utoipa::path(delete, path = "/api/v1/users/{username}/mfa", tag = "users",
    params(("username" = String, Path)),
    responses(
        (status = 204, description = "the user's second factor is removed (they enrol again where the tenant requires it)"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn reset(
    State(state): State<SharedState>,
    caller: Caller,
    Path(username): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require(Role::Admin)?;
    state
        .writer
        .modify::<UserRecord>(&caller.scope, &caller.actor(), &username, |u| {
            u.security.mfa = None
        })
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("user {username}")))?;
    tracing::info!(tenant = caller.scope.tenant(), by = %caller.username, user = %username, "MFA reset by an admin");
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_requirement_follows_the_role() {
        use MfaRequirement::*;
        assert!(!required_for(Optional, Role::Admin));
        assert!(required_for(Admins, Role::Admin) && !required_for(Admins, Role::Editor));
        assert!(required_for(All, Role::Viewer));
    }
}
