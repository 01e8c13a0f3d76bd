//! Data sources: CRUD (credentials write-only), connection test, schema discovery.
use std::path::{Path as FsPath, PathBuf};

use axum::{
    extract::{Path, State},
    http::StatusCode,
    Json,
};
use chrono::Utc;
use nexbii_crds::{DataSourceSpec, DataSourceType, Validate};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::{
    auth::Caller,
    engine::{self, ConnectionTest, EngineError, ResolvedSource, SchemaInfo},
    error::{parse_json, ApiError, ApiResult},
    models::{DataSourceRecord, Origin, Role},
    state::{AppState, SharedState},
    store::{Collection, StoreExt, TenantScope},
};

/// What the API shows of a data source: never the password.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DataSourceView {
    pub name: String,
    pub spec: DataSourceSpec,
    pub has_password: bool,
    pub origin: Origin,
    pub revision: u64,
    pub created_at: chrono::DateTime<Utc>,
    pub updated_at: chrono::DateTime<Utc>,
}

impl From<&DataSourceRecord> for DataSourceView {
    fn from(r: &DataSourceRecord) -> Self {
        Self {
            name: r.name.clone(),
            spec: r.spec.clone(),
            has_password: r.password_sealed.is_some(),
            origin: r.origin,
            revision: r.revision,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// Create/replace body. `spec.tenantRef` may be omitted (it is the caller's tenant).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DataSourceInput {
    /// DNS-label id (create only; the path names it on update).
    #[serde(default)]
    pub name: Option<String>,
    pub spec: DataSourceSpec,
    /// Write-only. On update: absent keeps the stored password, "" removes it.
    #[serde(default)]
    pub password: Option<String>,
}

/// Parses a body whose `spec.tenantRef` defaults to the caller's tenant, and refuses a foreign one.
pub fn parse_scoped_body<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    scope: &TenantScope,
) -> ApiResult<T> {
    let mut v: Value = parse_json(bytes)?;
    if let Some(spec) = v.get_mut("spec").and_then(Value::as_object_mut) {
        match spec
            .get("tenantRef")
            .and_then(|t| t.get("name"))
            .and_then(Value::as_str)
        {
            None => {
                spec.insert(
                    "tenantRef".into(),
                    serde_json::json!({"name": scope.tenant()}),
                );
            }
            Some(t) if t != scope.tenant() => {
                return Err(ApiError::invalid(
                    "spec.tenantRef.name",
                    "must be your own tenant",
                ));
            }
            Some(_) => {}
        }
    }
    parse_json(v.to_string().as_bytes())
}

pub fn check_name(name: &str, field: &str) -> ApiResult<()> {
    if nexbii_crds::validate::is_dns_label(name) {
        Ok(())
    } else {
        Err(ApiError::invalid(
            field,
            "must be a DNS label: lowercase letters, digits and '-', at most 63",
        ))
    }
}

fn seal_context(scope: &TenantScope, name: &str) -> String {
    format!("datasource/{}/{}", scope.tenant(), name)
}

/// Writes a data source (API or provisioning). The password, if given, is sealed before storing.
pub async fn upsert(
    state: &AppState,
    scope: &TenantScope,
    name: &str,
    spec: DataSourceSpec,
    password: Option<Option<String>>,
    origin: Origin,
    base_dir: Option<&FsPath>,
) -> ApiResult<DataSourceRecord> {
    let errs = spec.validate();
    if !errs.is_empty() {
        return Err(ApiError::Invalid(errs));
    }
    let existing = state.store.get_as::<DataSourceRecord>(scope, name).await?;
    let now = Utc::now();
    let password_sealed = match password {
        Some(Some(p)) if !p.is_empty() => Some(state.keys.seal(&p, &seal_context(scope, name))),
        Some(_) => None,
        None => existing.as_ref().and_then(|e| e.password_sealed.clone()),
    };
    let rec = DataSourceRecord {
        name: name.to_string(),
        spec,
        password_sealed,
        base_dir: base_dir.map(|d| d.to_string_lossy().into_owned()),
        origin,
        revision: existing.as_ref().map(|e| e.revision + 1).unwrap_or(1),
        created_at: existing.as_ref().map(|e| e.created_at).unwrap_or(now),
        updated_at: now,
    };
    state.store.upsert_as(scope, &rec).await?;
    state.engine.forget(scope, name);
    tracing::info!(tenant = scope.tenant(), datasource = name, revision = rec.revision, origin = ?origin, "data source saved");
    Ok(rec)
}

/// Whether writing `spec`/`password` from `origin` would change nothing, so provisioners can skip
/// the write and keep the revision (and with it the pool and the cached results).
pub fn is_unchanged(
    state: &AppState,
    scope: &TenantScope,
    existing: &DataSourceRecord,
    spec: &DataSourceSpec,
    password: Option<&str>,
    origin: Origin,
    base_dir: Option<&FsPath>,
) -> bool {
    existing.spec == *spec
        && existing.origin == origin
        && existing.base_dir.as_deref() == base_dir.map(|d| d.to_string_lossy()).as_deref()
        && resolve(state, scope, existing)
            .ok()
            .and_then(|r| r.password)
            .as_deref()
            == password
}

pub async fn load(
    state: &AppState,
    scope: &TenantScope,
    name: &str,
) -> ApiResult<DataSourceRecord> {
    state
        .store
        .get_as::<DataSourceRecord>(scope, name)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("data source {name}")))
}

/// Decrypts credentials and resolves file paths, ready for the engine.
pub fn resolve(
    state: &AppState,
    scope: &TenantScope,
    rec: &DataSourceRecord,
) -> ApiResult<ResolvedSource> {
    let password = rec
        .password_sealed
        .as_ref()
        .map(|s| state.keys.open(s, &seal_context(scope, &rec.name)))
        .transpose()
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("data source {}: {e}", rec.name)))?;
    let sqlite_path = match (&rec.spec.path, rec.spec.source_type) {
        (Some(p), DataSourceType::Sqlite) => Some(sqlite_path(state, rec, p)?),
        _ => None,
    };
    Ok(ResolvedSource {
        tenant: scope.clone(),
        name: rec.name.clone(),
        revision: rec.revision,
        spec: rec.spec.clone(),
        password,
        sqlite_path,
    })
}

fn sqlite_path(state: &AppState, rec: &DataSourceRecord, p: &str) -> ApiResult<PathBuf> {
    match rec.origin {
        // API users may only reach files under the configured root, never the server's own files.
        Origin::Api => engine::resolve_confined(&state.settings.sqlite_root, p).ok_or_else(|| {
            ApiError::invalid(
                "spec.path",
                "must be a relative path inside the server's SQLite folder",
            )
        }),
        // Platform engineers' YAML: relative to the manifest folder, or absolute.
        _ => Ok(match &rec.base_dir {
            Some(base) => FsPath::new(base).join(p),
            None => PathBuf::from(p),
        }),
    }
}

pub fn engine_error(e: EngineError) -> ApiError {
    match e {
        EngineError::Refused(m) => ApiError::QueryRefused(m),
        EngineError::Timeout(_) => ApiError::Timeout(e.to_string()),
        EngineError::Connect(_) => ApiError::Upstream(e.to_string()),
        EngineError::Query(m) => ApiError::BadRequest {
            field: Some("sql".into()),
            detail: format!("the data source rejected the query: {m}"),
        },
        EngineError::Config(_) => ApiError::invalid("spec", e.to_string()),
    }
}

fn refuse_provisioned(rec: &DataSourceRecord) -> ApiResult<()> {
    if rec.origin != Origin::Api {
        return Err(ApiError::Conflict(format!(
            "data source {} is provisioned from YAML ({:?}); change it there",
            rec.name, rec.origin
        )));
    }
    Ok(())
}

#[utoipa::path(get, path = "/api/v1/datasources", tag = "datasources",
    responses((status = 200, body = Vec<DataSourceView>)), security(("bearer" = [])))]
pub async fn list(
    State(state): State<SharedState>,
    caller: Caller,
) -> ApiResult<Json<Vec<DataSourceView>>> {
    let recs = state
        .store
        .list_as::<DataSourceRecord>(&caller.scope)
        .await?;
    Ok(Json(recs.iter().map(Into::into).collect()))
}

#[utoipa::path(post, path = "/api/v1/datasources", tag = "datasources", request_body = DataSourceInput,
    responses((status = 201, body = DataSourceView), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<SharedState>,
    caller: Caller,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<DataSourceView>)> {
    caller.require(Role::Admin)?;
    let input: DataSourceInput = parse_scoped_body(&body, &caller.scope)?;
    let name = input
        .name
        .ok_or_else(|| ApiError::invalid("name", "required"))?;
    check_name(&name, "name")?;
    if state
        .store
        .get(&caller.scope, Collection::DataSources, &name)
        .await?
        .is_some()
    {
        return Err(ApiError::Conflict(format!(
            "data source {name} already exists"
        )));
    }
    let tenant = state.tenant(&caller.scope).await?;
    let count = state
        .store
        .list(&caller.scope, Collection::DataSources)
        .await?
        .len();
    if count >= tenant.spec.limits.max_data_sources as usize {
        return Err(ApiError::Conflict(format!(
            "data source quota of {} reached",
            tenant.spec.limits.max_data_sources
        )));
    }
    if input.spec.source_type == DataSourceType::Sqlite {
        let p = input.spec.path.as_deref().unwrap_or_default();
        engine::resolve_confined(&state.settings.sqlite_root, p).ok_or_else(|| {
            ApiError::invalid(
                "spec.path",
                "must be a relative path inside the server's SQLite folder",
            )
        })?;
    }
    let rec = upsert(
        &state,
        &caller.scope,
        &name,
        input.spec,
        Some(input.password),
        Origin::Api,
        None,
    )
    .await?;
    Ok((StatusCode::CREATED, Json((&rec).into())))
}

#[utoipa::path(get, path = "/api/v1/datasources/{name}", tag = "datasources", params(("name" = String, Path)),
    responses((status = 200, body = DataSourceView), (status = 404, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn get(
    State(state): State<SharedState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<DataSourceView>> {
    Ok(Json((&load(&state, &caller.scope, &name).await?).into()))
}

#[utoipa::path(put, path = "/api/v1/datasources/{name}", tag = "datasources", params(("name" = String, Path)),
    request_body = DataSourceInput,
    responses((status = 200, body = DataSourceView), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<SharedState>,
    caller: Caller,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<DataSourceView>> {
    caller.require(Role::Admin)?;
    let existing = load(&state, &caller.scope, &name).await?;
    refuse_provisioned(&existing)?;
    let input: DataSourceInput = parse_scoped_body(&body, &caller.scope)?;
    if input.name.as_deref().is_some_and(|n| n != name) {
        return Err(ApiError::invalid(
            "name",
            "cannot rename; create a new data source",
        ));
    }
    let rec = upsert(
        &state,
        &caller.scope,
        &name,
        input.spec,
        input.password.map(Some),
        Origin::Api,
        None,
    )
    .await?;
    Ok(Json((&rec).into()))
}

#[utoipa::path(delete, path = "/api/v1/datasources/{name}", tag = "datasources", params(("name" = String, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn delete(
    State(state): State<SharedState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require(Role::Admin)?;
    let existing = load(&state, &caller.scope, &name).await?;
    refuse_provisioned(&existing)?;
    state
        .store
        .delete(&caller.scope, Collection::DataSources, &name)
        .await?;
    state.engine.forget(&caller.scope, &name);
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/datasources/{name}/test", tag = "datasources", params(("name" = String, Path)),
    responses((status = 200, body = ConnectionTest), (status = 502, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn test(
    State(state): State<SharedState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<ConnectionTest>> {
    caller.require(Role::Editor)?;
    let rec = load(&state, &caller.scope, &name).await?;
    let src = resolve(&state, &caller.scope, &rec)?;
    let res = state
        .engine
        .test_connection(&src)
        .await
        .map_err(engine_error)?;
    Ok(Json(res))
}

#[utoipa::path(get, path = "/api/v1/datasources/{name}/schema", tag = "datasources", params(("name" = String, Path)),
    responses((status = 200, body = SchemaInfo), (status = 502, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn schema(
    State(state): State<SharedState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<SchemaInfo>> {
    caller.require(Role::Editor)?;
    let rec = load(&state, &caller.scope, &name).await?;
    let src = resolve(&state, &caller.scope, &rec)?;
    Ok(Json(state.engine.schema(&src).await.map_err(engine_error)?))
}
