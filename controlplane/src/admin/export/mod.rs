//! Configuration export and import (admin only): the tenant's data sources, saved queries,
//! dashboards, governance policies and settings as Kubernetes-style documents in the CRD shapes,
//! which `--manifests` and the operator accept as they are. Credentials leave only as Secret
//! references, never as values.
use axum::{
    body::Bytes,
    extract::State,
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

pub mod documents;
pub mod import;
pub mod mapping;

use import::{ImportResult, Target};

use crate::{
    admin::settings::model::SettingsRecord,
    auth::{guard::ClientAddr, Caller, Role},
    bi::{dashboards::DashboardRecord, datasources::DataSourceRecord, queries::SavedQuery},
    governance::PolicyRecord,
    http::{ApiError, ApiQuery, ApiResult, Problem},
    state::SharedState,
    store::StoreExt,
};

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/api/v1/admin/export", get(export))
        .route("/api/v1/admin/import", post(import_config))
}

#[derive(Clone, Copy, Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// Multi-document YAML (`application/yaml`).
    #[default]
    Yaml,
    /// One `v1` `List` (`application/json`).
    Json,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    /// `yaml` (default) or `json`.
    #[serde(default)]
    #[param(inline)]
    pub format: ExportFormat,
}

#[utoipa::path(get, path = "/api/v1/admin/export", tag = "admin", params(ExportParams),
    responses(
        (status = 200, description = "the tenant's configuration as resources in the CRD shapes \
            (`nexbii.io/v1alpha1` Tenant with `spec.settings`, DataSource, GovernancePolicy, \
            SavedQuery, Dashboard), ordered by kind then name: multi-document YAML, or with \
            `?format=json` a `v1` List. A stored data-source password is exported as \
            `spec.passwordSecretRef` to the Secret `datasource-<name>-credentials` (key \
            `password`, named in the `nexbii.io/secret-keys` annotation), never as a value",
            content((Vec<Object> = "application/yaml"), (Object = "application/json"))),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "unknown `format`"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "not an admin")),
    security(("bearer" = [])))]
pub async fn export(
    State(state): State<SharedState>,
    caller: Caller,
    ApiQuery(p): ApiQuery<ExportParams>,
) -> ApiResult<Response> {
    caller.require(Role::Admin)?;
    let (scope, t) = (&caller.scope, caller.scope.tenant());
    let tenant = state.tenant(scope).await?;
    let stored = state
        .store
        .get_as::<SettingsRecord>(scope, SettingsRecord::ID)
        .await?
        .map(|s| s.values)
        .unwrap_or_default();
    let mut docs = vec![mapping::tenant_doc(t, &tenant.spec, &stored)];
    let store = &state.store;
    for r in store.list_as::<DataSourceRecord>(scope).await? {
        docs.push(mapping::datasource_doc(t, &r));
    }
    for r in store.list_as::<PolicyRecord>(scope).await? {
        docs.push(mapping::policy_doc(t, &r));
    }
    for r in store.list_as::<SavedQuery>(scope).await? {
        docs.push(mapping::query_doc(t, &r));
    }
    for r in store.list_as::<DashboardRecord>(scope).await? {
        docs.push(mapping::dashboard_doc(t, &r));
    }
    let docs = mapping::ordered(docs);
    Ok(match p.format {
        ExportFormat::Yaml => (
            [(header::CONTENT_TYPE, "application/yaml")],
            mapping::to_yaml(&docs),
        )
            .into_response(),
        ExportFormat::Json => Json(mapping::to_list(docs)).into_response(),
    })
}

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportParams {
    /// Check and report only: nothing is written.
    #[serde(default)]
    pub dry_run: bool,
    /// When any object fails, apply none (default `true`); `false` applies the objects that
    /// passed their checks.
    #[serde(default = "yes")]
    pub atomic: bool,
}

fn yes() -> bool {
    true
}

/// Whether the body is JSON (by its content type); anything else is read as YAML.
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            let m = m.trim();
            m == "application/json" || m.ends_with("+json")
        })
}

#[utoipa::path(post, path = "/api/v1/admin/import", tag = "admin", params(ImportParams),
    request_body(description = "resources as `GET /api/v1/admin/export` writes them, plus `v1` \
        Secret documents holding the passwords that `spec.passwordSecretRef` names (a reference \
        to a data source whose password this instance already holds may be left unresolved). \
        Of a Tenant, only `spec.settings` is imported",
        content((String = "application/yaml"), (Object = "application/json"))),
    responses(
        (status = 200, body = Vec<ImportResult>, description = "one result per object, in the \
            order applied: `created`, `updated`, `unchanged`, `skipped` (a kind that is not \
            imported, or held back by an atomic import that failed) or `error` (with the \
            reason; an object provisioned from YAML by the operator or `--manifests` is never \
            overwritten: `conflict (409)`)"),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "unreadable YAML or JSON, or a document that is not its kind's shape: the field is `documents[<index>].<path>`; or an unknown query parameter"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "not an admin")),
    security(("bearer" = [])))]
pub async fn import_config(
    State(state): State<SharedState>,
    caller: Caller,
    ClientAddr(client): ClientAddr,
    ApiQuery(p): ApiQuery<ImportParams>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Vec<ImportResult>>)> {
    caller.require(Role::Admin)?;
    let text = std::str::from_utf8(&body).map_err(|_| ApiError::BadRequest {
        field: None,
        detail: "the body is not UTF-8".into(),
    })?;
    let parsed = documents::parse(text, is_json(&headers))?;
    let target = Target {
        state: &state,
        scope: &caller.scope,
        username: &caller.username,
        client,
    };
    let mut steps = import::plan(&target, parsed).await?;
    // A dry run reports the plan and writes nothing.
    if !p.dry_run {
        if p.atomic && import::any_error(&steps) {
            import::hold_back(&mut steps);
        } else {
            import::apply(&target, &mut steps).await;
        }
    }
    let report = steps.into_iter().map(|s| s.result).collect();
    Ok((StatusCode::OK, Json(report)))
}
