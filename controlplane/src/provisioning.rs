//! The operator's API: upserts and deletes provisioned objects of one tenant, authenticated by
//! the instance's operator token (`NEXBII_OPERATOR_TOKEN`, from the Secret the operator made).
//! Objects written here are read-only through the user API, like manifest-provisioned ones.
use axum::{
    extract::{FromRequestParts, Path, State},
    http::{header, request::Parts, StatusCode},
    Json,
};
use chrono::Utc;
use nexbii_crds::{DashboardSpec, DataSourceSpec, GovernancePolicySpec, Validate};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::{
    dashboards,
    datasources::{self, check_name},
    error::{ApiError, ApiJson, ApiResult},
    models::{Origin, PolicyRecord},
    state::SharedState,
    store::{Collection, StoreExt, TenantScope},
};

pub const OPERATOR_TOKEN_ENV: &str = "NEXBII_OPERATOR_TOKEN";

/// A request made with the operator token, for a tenant this instance serves.
pub struct Operator;

fn digest(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}

impl FromRequestParts<SharedState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &SharedState,
    ) -> Result<Self, Self::Rejection> {
        let expected = state.settings.operator_token.as_deref().ok_or_else(|| {
            ApiError::Forbidden("provisioning is disabled on this instance".into())
        })?;
        let given = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| ApiError::Unauthorized("operator token required".into()))?;
        // Compare digests so the comparison time does not depend on where the tokens differ.
        let (a, b) = (digest(expected), digest(given));
        if a.iter()
            .zip(b.iter())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            != 0
        {
            return Err(ApiError::Unauthorized("invalid operator token".into()));
        }
        Ok(Operator)
    }
}

async fn tenant_scope(state: &SharedState, tenant: &str) -> ApiResult<TenantScope> {
    let scope =
        TenantScope::new(tenant).ok_or_else(|| ApiError::NotFound(format!("tenant {tenant}")))?;
    state.tenant(&scope).await?;
    Ok(scope)
}

/// Checks an upsert's path and body agree, and returns the tenant scope to write in.
async fn target(
    state: &SharedState,
    tenant: &str,
    name: &str,
    spec_tenant: &str,
) -> ApiResult<TenantScope> {
    let scope = tenant_scope(state, tenant).await?;
    check_name(name, "name")?;
    if spec_tenant != tenant {
        return Err(ApiError::invalid(
            "spec.tenantRef.name",
            "must match the tenant in the path",
        ));
    }
    Ok(scope)
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProvisionDataSource {
    pub spec: DataSourceSpec,
    /// The password read from the referenced Secret (write-only).
    #[serde(default)]
    pub password: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DataSourceSyncResult {
    pub revision: u64,
    pub connected: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub tables: u32,
    pub columns: u32,
    pub synced_at: chrono::DateTime<Utc>,
}

#[utoipa::path(put, path = "/api/v1/provisioning/{tenant}/datasources/{name}", tag = "provisioning",
    params(("tenant" = String, Path), ("name" = String, Path)), request_body = ProvisionDataSource,
    responses((status = 200, body = DataSourceSyncResult), (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn put_datasource(
    State(state): State<SharedState>,
    _op: Operator,
    Path((tenant, name)): Path<(String, String)>,
    ApiJson(req): ApiJson<ProvisionDataSource>,
) -> ApiResult<Json<DataSourceSyncResult>> {
    let scope = target(&state, &tenant, &name, &req.spec.tenant_ref.name).await?;
    // Unchanged spec and password: keep the revision (and the pool, and the cache).
    let existing = state
        .store
        .get_as::<crate::models::DataSourceRecord>(&scope, &name)
        .await?;
    let unchanged = existing.as_ref().is_some_and(|e| {
        datasources::is_unchanged(
            &state,
            &scope,
            e,
            &req.spec,
            req.password.as_deref(),
            Origin::Operator,
            None,
        )
    });
    let rec = match existing.filter(|_| unchanged) {
        Some(e) => e,
        None => {
            datasources::upsert(
                &state,
                &scope,
                &name,
                req.spec,
                Some(req.password),
                Origin::Operator,
                None,
            )
            .await?
        }
    };
    let src = datasources::resolve(&state, &scope, &rec)?;
    let mut out = DataSourceSyncResult {
        revision: rec.revision,
        connected: false,
        server_version: None,
        error: None,
        tables: 0,
        columns: 0,
        synced_at: Utc::now(),
    };
    match state.engine.test_connection(&src).await {
        Ok(t) => {
            out.connected = true;
            out.server_version = Some(t.server_version);
            match state.engine.schema(&src).await {
                Ok(s) => {
                    out.tables = s.tables.len() as u32;
                    out.columns = s.tables.iter().map(|t| t.columns.len() as u32).sum();
                }
                Err(e) => out.error = Some(e.to_string()),
            }
        }
        Err(e) => out.error = Some(e.to_string()),
    }
    Ok(Json(out))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProvisionDashboard {
    pub spec: DashboardSpec,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DashboardSyncResult {
    pub url: String,
    pub validation_errors: Vec<String>,
}

#[utoipa::path(put, path = "/api/v1/provisioning/{tenant}/dashboards/{name}", tag = "provisioning",
    params(("tenant" = String, Path), ("name" = String, Path)), request_body = ProvisionDashboard,
    responses((status = 200, body = DashboardSyncResult), (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn put_dashboard(
    State(state): State<SharedState>,
    _op: Operator,
    Path((tenant, name)): Path<(String, String)>,
    ApiJson(req): ApiJson<ProvisionDashboard>,
) -> ApiResult<Json<DashboardSyncResult>> {
    let scope = target(&state, &tenant, &name, &req.spec.tenant_ref.name).await?;
    let rec = dashboards::upsert(
        &state,
        &scope,
        &name,
        req.spec,
        Origin::Operator,
        "operator",
    )
    .await?;
    Ok(Json(DashboardSyncResult {
        url: format!("/api/v1/dashboards/{name}"),
        validation_errors: rec.validation_errors,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProvisionPolicy {
    pub spec: GovernancePolicySpec,
}

#[utoipa::path(put, path = "/api/v1/provisioning/{tenant}/governancepolicies/{name}", tag = "provisioning",
    params(("tenant" = String, Path), ("name" = String, Path)), request_body = ProvisionPolicy,
    responses((status = 204), (status = 422, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn put_policy(
    State(state): State<SharedState>,
    _op: Operator,
    Path((tenant, name)): Path<(String, String)>,
    ApiJson(req): ApiJson<ProvisionPolicy>,
) -> ApiResult<StatusCode> {
    let scope = target(&state, &tenant, &name, &req.spec.tenant_ref.name).await?;
    let errs = req.spec.validate();
    if !errs.is_empty() {
        return Err(ApiError::Invalid(errs));
    }
    let rec = PolicyRecord {
        name,
        spec: req.spec,
        origin: Origin::Operator,
        updated_at: Utc::now(),
    };
    state.store.upsert_as(&scope, &rec).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes are idempotent: removing what is already gone is a success.
async fn delete_in(
    state: &SharedState,
    tenant: &str,
    coll: Collection,
    name: &str,
) -> ApiResult<StatusCode> {
    let scope = tenant_scope(state, tenant).await?;
    state.store.delete(&scope, coll, name).await?;
    if coll == Collection::DataSources {
        state.engine.forget(&scope, name);
    }
    Ok(StatusCode::NO_CONTENT)
}

macro_rules! delete_handler {
    ($fn:ident, $kind:literal, $coll:expr) => {
        #[utoipa::path(delete, path = concat!("/api/v1/provisioning/{tenant}/", $kind, "/{name}"), tag = "provisioning",
            params(("tenant" = String, Path), ("name" = String, Path)),
            responses((status = 204), (status = 404, body = crate::error::Problem)), security(("bearer" = [])))]
        pub async fn $fn(
            State(state): State<SharedState>,
            _op: Operator,
            Path((tenant, name)): Path<(String, String)>,
        ) -> ApiResult<StatusCode> {
            delete_in(&state, &tenant, $coll, &name).await
        }
    };
}

delete_handler!(delete_datasource, "datasources", Collection::DataSources);
delete_handler!(delete_dashboard, "dashboards", Collection::Dashboards);
delete_handler!(
    delete_policy,
    "governancepolicies",
    Collection::GovernancePolicies
);
