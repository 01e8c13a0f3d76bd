//! User management: create, list, change, delete (admins), with hashed passwords.
use std::collections::BTreeMap;

use axum::{
    extract::{Path, Query, State},
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

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    pub username: String,
    pub email: Option<String>,
    pub role: Role,
    pub disabled: bool,
    pub created_at: chrono::DateTime<Utc>,
    pub last_login_at: Option<chrono::DateTime<Utc>>,
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

fn check_password(pw: &str, min: u32) -> ApiResult<()> {
    if pw.chars().count() < min as usize {
        return Err(ApiError::invalid(
            "password",
            format!("must be at least {min} characters"),
        ));
    }
    Ok(())
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
    let user = UserRecord {
        username: username.to_string(),
        email,
        role,
        password_hash: hashed(password).await?,
        disabled: false,
        last_login_at: None,
        attributes: Default::default(),
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
    Query(page): Query<PageParams>,
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
    check_password(&req.password, tenant.spec.auth.password_min_length)?;
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
        let tenant = state.tenant(&caller.scope).await?;
        check_password(&pw, tenant.spec.auth.password_min_length)?;
        user.password_hash = hashed(pw).await?;
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
