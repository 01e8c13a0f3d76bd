//! The operator's API: upserts and deletes provisioned objects of one tenant, authenticated by
//! the instance's operator token. Objects written here are read-only through the user API.
use axum::{
    extract::{Path, State},
    http::StatusCode,
    Json,
};
use chrono::Utc;
use nexbii_crds::{DashboardSpec, DataSourceSpec, GovernancePolicySpec, SavedQuerySpec};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    auth::Operator,
    bi::{
        dashboards::{self, DashboardRecord},
        datasources::{self, domain::SaveSource, DataSourceRecord},
        queries::{self, SavedQuery},
    },
    governance::PolicyRecord,
    http::{body::check_name, ApiError, ApiJson, ApiResult, Problem},
    state::SharedState,
    store::{write::Actor, Entity, Expect, Origin, StoreExt, TenantScope},
};

pub(super) async fn tenant_scope(state: &SharedState, tenant: &str) -> ApiResult<TenantScope> {
    let scope =
        TenantScope::new(tenant).ok_or_else(|| ApiError::NotFound(format!("tenant {tenant}")))?;
    state.tenant(&scope).await?;
    // The operator's writes are audited in the tenant's log like anyone's.
    crate::audit::capture::actor(&scope, "operator", "operator");
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
    responses((status = 200, body = DataSourceSyncResult), (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn put_datasource(
    State(state): State<SharedState>,
    _op: Operator,
    Path((tenant, name)): Path<(String, String)>,
    ApiJson(req): ApiJson<ProvisionDataSource>,
) -> ApiResult<Json<DataSourceSyncResult>> {
    let scope = target(&state, &tenant, &name, &req.spec.tenant_ref.name).await?;
    let existing = state
        .store
        .get_as::<DataSourceRecord>(&scope, &name)
        .await?;
    // Unchanged spec and password: keep the revision (and the pool, and the cache).
    let unchanged = existing.as_ref().is_some_and(|e| {
        datasources::domain::is_unchanged(
            &state,
            &scope,
            e,
            &req.spec,
            req.password.as_deref(),
            Origin::Operator,
            None,
        )
    });
    let rec = match existing {
        Some(e) if unchanged => e,
        existing => {
            datasources::domain::save(
                &state,
                &scope,
                &Actor::Operator,
                existing.as_ref(),
                SaveSource {
                    name: &name,
                    spec: req.spec,
                    password: Some(req.password),
                    origin: Origin::Operator,
                    base_dir: None,
                },
            )
            .await?
        }
    };
    let (status, changed) = datasources::status::check(&state, &scope, &rec).await?;
    if changed {
        dashboards::domain::revalidate(&state, &scope, &name).await?;
    }
    let out = DataSourceSyncResult {
        revision: rec.meta.revision,
        connected: status.connected,
        server_version: status.server_version,
        error: status.last_error,
        tables: status.tables,
        columns: status.columns,
        synced_at: status.checked_at,
    };
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
    /// `Pending`, `Approved` or `Rejected` when publication needs approval under the policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval_state: Option<String>,
    /// Who must approve next (usernames or `role:<name>`), while pending.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub approvers: Vec<String>,
}

#[utoipa::path(put, path = "/api/v1/provisioning/{tenant}/dashboards/{name}", tag = "provisioning",
    params(("tenant" = String, Path), ("name" = String, Path)), request_body = ProvisionDashboard,
    responses((status = 200, body = DashboardSyncResult), (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn put_dashboard(
    State(state): State<SharedState>,
    _op: Operator,
    Path((tenant, name)): Path<(String, String)>,
    ApiJson(req): ApiJson<ProvisionDashboard>,
) -> ApiResult<Json<DashboardSyncResult>> {
    let scope = target(&state, &tenant, &name, &req.spec.tenant_ref.name).await?;
    let existing = state.store.get_as::<DashboardRecord>(&scope, &name).await?;
    let rec = dashboards::domain::save(
        &state,
        &scope,
        &Actor::Operator,
        existing.as_ref(),
        &name,
        req.spec,
        Origin::Operator,
    )
    .await?;
    let mut approvers = Vec::new();
    if let Some(a) = rec.approval.as_ref().filter(|a| a.state == "Pending") {
        use crate::governance::approvals::ApprovalRecord;
        if let Some(req) = state.store.get_as::<ApprovalRecord>(&scope, &a.id).await? {
            approvers = req
                .levels
                .get(req.current_level)
                .map(|l| l.approvers.clone())
                .unwrap_or_default();
        }
    }
    Ok(Json(DashboardSyncResult {
        url: format!("/api/v1/dashboards/{name}"),
        validation_errors: rec.validation_errors,
        approval_state: rec.approval.map(|a| a.state),
        approvers,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProvisionPolicy {
    pub spec: GovernancePolicySpec,
}

#[utoipa::path(put, path = "/api/v1/provisioning/{tenant}/governancepolicies/{name}", tag = "provisioning",
    params(("tenant" = String, Path), ("name" = String, Path)), request_body = ProvisionPolicy,
    responses((status = 200, body = nexbii_crds::PolicyEnforcement, description = "what the policy enforces now"),
        (status = 401, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn put_policy(
    State(state): State<SharedState>,
    _op: Operator,
    Path((tenant, name)): Path<(String, String)>,
    ApiJson(req): ApiJson<ProvisionPolicy>,
) -> ApiResult<Json<nexbii_crds::PolicyEnforcement>> {
    let scope = target(&state, &tenant, &name, &req.spec.tenant_ref.name).await?;
    let existing = state.store.get_as::<PolicyRecord>(&scope, &name).await?;
    let enforcement = crate::governance::policies::enforcement(&state, &scope, &req.spec).await?;
    let rec = PolicyRecord {
        name,
        spec: req.spec,
        origin: Origin::Operator,
        meta: existing
            .as_ref()
            .map(|e| e.meta.clone())
            .unwrap_or_default(),
    };
    let expect = existing.map_or(Expect::Absent, |e| Expect::Revision(e.meta.revision));
    state
        .writer
        .save(&scope, &Actor::Operator, rec, expect)
        .await?;
    Ok(Json(enforcement))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProvisionSavedQuery {
    pub spec: SavedQuerySpec,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SavedQuerySyncResult {
    pub revision: u64,
    pub url: String,
}

#[utoipa::path(put, path = "/api/v1/provisioning/{tenant}/savedqueries/{name}", tag = "provisioning",
    params(("tenant" = String, Path), ("name" = String, Path)), request_body = ProvisionSavedQuery,
    responses((status = 200, body = SavedQuerySyncResult),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "an unknown data source or a statement the instance refuses (field names it)")),
    security(("bearer" = [])))]
pub async fn put_saved_query(
    State(state): State<SharedState>,
    _op: Operator,
    Path((tenant, name)): Path<(String, String)>,
    ApiJson(req): ApiJson<ProvisionSavedQuery>,
) -> ApiResult<Json<SavedQuerySyncResult>> {
    use nexbii_crds::Validate;
    let scope = target(&state, &tenant, &name, &req.spec.tenant_ref.name).await?;
    let errs = req.spec.validate();
    if !errs.is_empty() {
        return Err(ApiError::Invalid(errs));
    }
    let mut rec =
        SavedQuery::from_spec(&name, &req.spec, Actor::Operator.label(), Origin::Operator);
    queries::domain::check_saved(
        &state,
        &scope,
        &rec.name,
        &rec.data_source,
        &rec.sql,
        &rec.params,
    )
    .await?;
    let existing = state.store.get_as::<SavedQuery>(&scope, &name).await?;
    // An unchanged query keeps its revision (the operator resyncs periodically).
    if let Some(e) = existing
        .as_ref()
        .filter(|e| e.same_content(&rec) && e.origin == Origin::Operator)
    {
        return Ok(Json(SavedQuerySyncResult {
            revision: e.meta.revision,
            url: format!("/api/v1/queries/{name}"),
        }));
    }
    let expect = existing
        .as_ref()
        .map_or(Expect::Absent, |e| Expect::Revision(e.meta.revision));
    rec.meta = existing.map(|e| e.meta).unwrap_or_default();
    let rec = state
        .writer
        .save(&scope, &Actor::Operator, rec, expect)
        .await?;
    Ok(Json(SavedQuerySyncResult {
        revision: rec.meta.revision,
        url: format!("/api/v1/queries/{name}"),
    }))
}

/// Deletes are idempotent: removing what is already gone is a success.
async fn delete_in<T: Entity>(
    state: &SharedState,
    tenant: &str,
    name: &str,
) -> ApiResult<StatusCode> {
    let scope = tenant_scope(state, tenant).await?;
    state
        .writer
        .delete::<T>(&scope, &Actor::Operator, name, None)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

macro_rules! delete_handler {
    ($fn:ident, $kind:literal, $record:ty) => {
        #[utoipa::path(delete, path = concat!("/api/v1/provisioning/{tenant}/", $kind, "/{name}"), tag = "provisioning",
            params(("tenant" = String, Path), ("name" = String, Path)),
            responses((status = 204), (status = 401, body = Problem), (status = 404, body = Problem)), security(("bearer" = [])))]
        pub async fn $fn(
            State(state): State<SharedState>,
            _op: Operator,
            Path((tenant, name)): Path<(String, String)>,
        ) -> ApiResult<StatusCode> {
            delete_in::<$record>(&state, &tenant, &name).await
        }
    };
}

delete_handler!(delete_datasource, "datasources", DataSourceRecord);
delete_handler!(delete_dashboard, "dashboards", DashboardRecord);
delete_handler!(delete_policy, "governancepolicies", PolicyRecord);
delete_handler!(delete_saved_query, "savedqueries", SavedQuery);

/// One alert firing, as the operator copies it into the Tenant's status.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FiringAlert {
    pub key: String,
    pub kind: crate::admin::alerts::model::AlertKind,
    pub since: chrono::DateTime<Utc>,
    pub message: String,
}

#[utoipa::path(get, path = "/api/v1/provisioning/{tenant}/alerts", tag = "provisioning",
    params(("tenant" = String, Path)),
    responses((status = 200, body = Vec<FiringAlert>, description = "the tenant's health alerts firing now, by key"),
        (status = 401, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn alerts(
    State(state): State<SharedState>,
    _op: Operator,
    Path(tenant): Path<String>,
) -> ApiResult<Json<Vec<FiringAlert>>> {
    use crate::admin::alerts::model::AlertsRecord;
    let scope = tenant_scope(&state, &tenant).await?;
    let rec = state
        .store
        .get_as::<AlertsRecord>(&scope, AlertsRecord::ID)
        .await?;
    Ok(Json(
        rec.map(|r| r.active)
            .unwrap_or_default()
            .into_iter()
            .map(|(key, a)| FiringAlert {
                key,
                kind: a.kind,
                since: a.since,
                message: a.message,
            })
            .collect(),
    ))
}
