//! User management: create, list, change, delete (admins), with hashed passwords.
use std::collections::BTreeMap;

use axum::{
    extract::{Path, State},
    http::StatusCode,
    Json,
};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    caller::Caller,
    model::{Role, UserRecord},
};
use crate::{
    crypto::hash_password,
    http::{
        paging::{PageParams, Paged},
        precondition::IfMatch,
        ApiError, ApiJson, ApiResult,
    },
    state::{AppState, SharedState},
    store::{write::Actor, Expect, ListQuery, Meta, Store, StoreExt, TenantScope},
};

/// The usernames of the tenant's enabled admins: who hears of what concerns the tenant as a
/// whole (classification changes, health alerts).
pub async fn admin_usernames(state: &AppState, scope: &TenantScope) -> ApiResult<Vec<String>> {
    Ok(state
        .store
        .list_as::<UserRecord>(scope)
        .await?
        .into_iter()
        .filter(|u| u.role == Role::Admin && !u.disabled)
        .map(|u| u.username)
        .collect())
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    pub username: String,
    pub email: Option<String>,
    pub role: Role,
    pub disabled: bool,
    pub created_at: chrono::DateTime<Utc>,
    pub last_login_at: Option<chrono::DateTime<Utc>>,
    /// A confirmed second factor (TOTP): logins ask for a code.
    pub mfa_enabled: bool,
    /// Logins are refused until then (too many failures); an admin can unlock sooner.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locked_until: Option<chrono::DateTime<Utc>>,
    /// What row filters know about the user (`{{user.attributes.<key>}}`).
    pub attributes: BTreeMap<String, String>,
    pub revision: u64,
}

impl From<UserRecord> for UserView {
    fn from(u: UserRecord) -> Self {
        Self {
            username: u.username,
            email: u.email,
            role: u.role,
            disabled: u.disabled,
            created_at: u.meta.created_at,
            last_login_at: u.last_login_at,
            mfa_enabled: u.security.mfa.as_ref().is_some_and(|m| m.confirmed()),
            locked_until: u.security.locked_until.filter(|t| *t > Utc::now()),
            attributes: u.attributes,
            revision: u.meta.revision,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateUser {
    pub username: String,
    #[serde(default)]
    pub email: Option<String>,
    pub role: Role,
    pub password: String,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateUser {
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub role: Option<Role>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub disabled: Option<bool>,
    /// Replaces the user's attributes.
    #[serde(default)]
    pub attributes: Option<BTreeMap<String, String>>,
}

/// Attribute keys are identifiers (they appear in filter placeholders); values are short text.
pub(crate) fn check_attributes(a: &BTreeMap<String, String>) -> ApiResult<()> {
    if a.len() > 50 {
        return Err(ApiError::invalid("attributes", "at most 50 attributes"));
    }
    for (k, v) in a {
        let ident = k.len() <= 63
            && k.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ident {
            return Err(ApiError::invalid(
                format!("attributes.{k}"),
                "keys are letters, digits and _, starting with a letter (at most 63)",
            ));
        }
        if v.len() > 1000 {
            return Err(ApiError::invalid(
                format!("attributes.{k}"),
                "at most 1000 characters",
            ));
        }
    }
    Ok(())
}

/// The tenant's password policy (`settings.password`): 422 naming `password` once per rule broken.
async fn check_password(
    state: &AppState,
    scope: &TenantScope,
    pw: &str,
    username: &str,
) -> ApiResult<()> {
    let settings = crate::admin::settings::effective(state, scope).await?;
    super::password::check(&settings.settings.password, pw, username, scope.tenant())
}

pub(crate) fn check_username(u: &str) -> ApiResult<()> {
    let ok = !u.is_empty()
        && u.len() <= 128
        && u.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.@-".contains(c))
        && u.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "username",
            "letters, digits and _.@- only, starting with a letter or digit",
        ))
    }
}

pub(crate) async fn hashed(password: String) -> ApiResult<String> {
    // argon2 is deliberately slow: keep it off the async workers.
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| ApiError::Internal(e.into()))
}

/// Creates a user with a hashed password (also used for bootstrap admins).
pub async fn create_user_record(
    state: &AppState,
    scope: &TenantScope,
    actor: &Actor,
    username: &str,
    email: Option<String>,
    role: Role,
    password: String,
) -> ApiResult<UserRecord> {
    // Declared passwords are not refused (the Tenant's Secret decides), only warned about.
    if let Err(ApiError::Invalid(errs)) = check_password(state, scope, &password, username).await {
        let rules: Vec<String> = errs.into_iter().map(|e| e.message).collect();
        tracing::warn!(tenant = scope.tenant(), username, rules = %rules.join("; "),
            "the declared password breaks the tenant's password policy; change it after the first login");
    }
    let user = UserRecord {
        username: username.to_string(),
        email,
        role,
        password_hash: hashed(password).await?,
        disabled: false,
        last_login_at: None,
        attributes: Default::default(),
        security: super::model::AccountSecurity {
            password_changed_at: Some(Utc::now()),
            ..Default::default()
        },
        meta: Meta::default(),
    };
    Ok(state
        .writer
        .save(scope, actor, user, Expect::Absent)
        .await?)
}

#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(PageParams),
    responses((status = 200, body = Vec<UserView>,
        headers(("x-next-cursor" = String, description = "cursor of the next page; absent on the last"))),
        (status = 403, body = crate::http::Problem)),
    security(("bearer" = [])))]
pub async fn list_users(
    State(state): State<SharedState>,
    caller: Caller,
    crate::http::ApiQuery(page): crate::http::ApiQuery<PageParams>,
) -> ApiResult<Paged<UserView>> {
    caller.require(Role::Admin)?;
    let page: Paged<UserRecord> = state
        .store
        .page_as::<UserRecord>(&caller.scope, &page.query()?)
        .await?
        .into();
    Ok(page.map(Into::into))
}

#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = CreateUser,
    responses((status = 201, body = UserView), (status = 409, body = crate::http::Problem), (status = 422, body = crate::http::Problem)),
    security(("bearer" = [])))]
pub async fn create_user(
    State(state): State<SharedState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateUser>,
) -> ApiResult<(StatusCode, Json<UserView>)> {
    caller.require(Role::Admin)?;
    let tenant = state.tenant(&caller.scope).await?;
    check_username(&req.username)?;
    check_password(&state, &caller.scope, &req.password, &req.username).await?;
    check_attributes(&req.attributes)?;
    let count = state
        .store
        .count(
            &caller.scope,
            crate::store::Collection::Users,
            &ListQuery::default(),
        )
        .await?;
    if count >= tenant.spec.limits.max_users as u64 {
        return Err(ApiError::Conflict(format!(
            "user quota of {} reached",
            tenant.spec.limits.max_users
        )));
    }
    let user = UserRecord {
        username: req.username,
        email: req.email,
        role: req.role,
        password_hash: hashed(req.password).await?,
        disabled: false,
        last_login_at: None,
        attributes: req.attributes,
        security: super::model::AccountSecurity {
            password_changed_at: Some(Utc::now()),
            ..Default::default()
        },
        meta: Meta::default(),
    };
    let user = state
        .writer
        .save(&caller.scope, &caller.actor(), user, Expect::Absent)
        .await?;
    tracing::info!(tenant = caller.scope.tenant(), by = %caller.username, user = %user.username, role = user.role.as_str(), "user created");
    Ok((StatusCode::CREATED, Json(user.into())))
}

#[utoipa::path(patch, path = "/api/v1/users/{username}", tag = "users",
    params(("username" = String, Path), ("If-Match" = Option<String>, Header, description = "revision the change is based on")),
    request_body = UpdateUser,
    responses((status = 200, body = UserView), (status = 404, body = crate::http::Problem), (status = 409, body = crate::http::Problem), (status = 422, body = crate::http::Problem)),
    security(("bearer" = [])))]
pub async fn update_user(
    State(state): State<SharedState>,
    caller: Caller,
    Path(username): Path<String>,
    if_match: IfMatch,
    ApiJson(req): ApiJson<UpdateUser>,
) -> ApiResult<Json<UserView>> {
    caller.require(Role::Admin)?;
    let mut user = state
        .store
        .get_as::<UserRecord>(&caller.scope, &username)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("user {username}")))?;
    let base = if_match.check(&format!("user {username}"), user.meta.revision)?;
    if username == caller.username
        && (req.role.is_some_and(|r| r != Role::Admin) || req.disabled == Some(true))
    {
        return Err(ApiError::invalid(
            "role",
            "admins cannot demote or disable themselves",
        ));
    }
    if let Some(pw) = req.password {
        check_password(&state, &caller.scope, &pw, &username).await?;
        user.password_hash = hashed(pw).await?;
        user.security.password_changed_at = Some(Utc::now());
    }
    if let Some(e) = req.email {
        user.email = Some(e);
    }
    if let Some(r) = req.role {
        user.role = r;
    }
    if let Some(d) = req.disabled {
        user.disabled = d;
    }
    if let Some(a) = req.attributes {
        check_attributes(&a)?;
        user.attributes = a;
    }
    let user = state
        .writer
        .save(&caller.scope, &caller.actor(), user, Expect::Revision(base))
        .await?;
    // A disabled user's sessions end for good (enabling again does not bring them back).
    if req.disabled == Some(true) {
        let q = ListQuery::default().filter("username", username.as_str());
        super::sessions::revoke_where(&state, &caller.scope, &caller.actor(), q, None).await?;
    }
    Ok(Json(user.into()))
}

#[utoipa::path(delete, path = "/api/v1/users/{username}", tag = "users",
    params(("username" = String, Path), ("If-Match" = Option<String>, Header, description = "revision the deletion is based on")),
    responses((status = 204), (status = 404, body = crate::http::Problem), (status = 409, body = crate::http::Problem), (status = 422, body = crate::http::Problem)),
    security(("bearer" = [])))]
pub async fn delete_user(
    State(state): State<SharedState>,
    caller: Caller,
    Path(username): Path<String>,
    if_match: IfMatch,
) -> ApiResult<StatusCode> {
    caller.require(Role::Admin)?;
    if username == caller.username {
        return Err(ApiError::invalid(
            "username",
            "admins cannot delete themselves",
        ));
    }
    state
        .writer
        .delete::<UserRecord>(&caller.scope, &caller.actor(), &username, if_match.0)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("user {username}")))?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/users/{username}/unlock", tag = "users",
    params(("username" = String, Path)),
    responses(
        (status = 200, body = UserView, description = "the account takes logins again; its failed-login count starts from zero"),
        (status = 403, body = crate::http::Problem, content_type = "application/problem+json"),
        (status = 404, body = crate::http::Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn unlock_user(
    State(state): State<SharedState>,
    caller: Caller,
    Path(username): Path<String>,
) -> ApiResult<Json<UserView>> {
    caller.require(Role::Admin)?;
    let user = state
        .writer
        .modify::<UserRecord>(
            &caller.scope,
            &caller.actor(),
            &username,
            super::lockout::clear,
        )
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("user {username}")))?;
    state
        .login_failures
        .invalidate(&(caller.scope.tenant().to_string(), username.clone()))
        .await;
    tracing::info!(tenant = caller.scope.tenant(), by = %caller.username, user = %username, "account unlocked");
    Ok(Json(user.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

#[utoipa::path(post, path = "/api/v1/auth/password", tag = "auth", request_body = PasswordChange,
    responses(
        (status = 204, description = "the password is changed; the user's other sessions are ended"),
        (status = 400, body = crate::http::Problem, content_type = "application/problem+json", description = "called with an API key, or not JSON"),
        (status = 422, body = crate::http::Problem, content_type = "application/problem+json",
            description = "`currentPassword` is wrong, or `password` names every rule of the tenant's policy the new one breaks"),
        (status = 429, body = crate::http::Problem, content_type = "application/problem+json", description = "the account is locked")),
    security(("bearer" = [])))]
pub async fn change_own_password(
    State(state): State<SharedState>,
    caller: Caller,
    ApiJson(req): ApiJson<PasswordChange>,
) -> ApiResult<StatusCode> {
    if caller.api_key.is_some() {
        return Err(ApiError::BadRequest {
            field: None,
            detail: "a password belongs to a login session; an API key has none".into(),
        });
    }
    let scope = &caller.scope;
    let settings = crate::admin::settings::effective(&state, scope).await?;
    // Checked like a login: a wrong current password counts towards the lockout.
    let user = super::sessions::authenticate(
        &state,
        scope,
        &settings.settings.lockout,
        &caller.username,
        req.current_password.clone(),
    )
    .await
    .map_err(|e| match e {
        ApiError::Unauthorized(_) => {
            ApiError::invalid("currentPassword", "is not the current password")
        }
        other => other,
    })?;
    check_password(&state, scope, &req.new_password, &caller.username).await?;
    if req.new_password == req.current_password {
        return Err(ApiError::invalid(
            "password",
            "must differ from the current password",
        ));
    }
    let hash = hashed(req.new_password).await?;
    let now = Utc::now();
    state
        .writer
        .modify::<UserRecord>(scope, &caller.actor(), &user.username, |u| {
            u.password_hash = hash.clone();
            u.security.password_changed_at = Some(now);
        })
        .await?;
    let others = state
        .store
        .page_as::<super::model::SessionRecord>(
            scope,
            &ListQuery::default()
                .filter("username", caller.username.clone())
                .filter("revoked", false),
        )
        .await?;
    for s in others
        .items
        .into_iter()
        .filter(|s| s.id != caller.session_id)
    {
        state
            .writer
            .modify::<super::model::SessionRecord>(scope, &caller.actor(), &s.id, |s| {
                s.revoked = true
            })
            .await?;
    }
    tracing::info!(tenant = scope.tenant(), username = %caller.username, "password changed");
    Ok(StatusCode::NO_CONTENT)
}
