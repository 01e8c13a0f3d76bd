//! Data-source logic: saving (credentials sealed), change detection for provisioners,
//! resolving a record into what the engine runs against, and engine errors as API errors.
use std::path::{Path as FsPath, PathBuf};

use nexbii_crds::{DataSourceSpec, DataSourceType};

use super::model::DataSourceRecord;
use crate::{
    engine::{self, EngineError, ResolvedSource},
    http::{ApiError, ApiResult},
    state::AppState,
    store::{write::Actor, Expect, Origin, StoreExt, TenantScope},
};

fn seal_context(scope: &TenantScope, name: &str) -> String {
    format!("datasource/{}/{}", scope.tenant(), name)
}

/// A data source to write: API, manifests loader or operator.
pub struct SaveSource<'a> {
    pub name: &'a str,
    pub spec: DataSourceSpec,
    /// `None` keeps the stored password, `Some(None)` or `Some("")` removes it.
    pub password: Option<Option<String>>,
    pub origin: Origin,
    pub base_dir: Option<&'a FsPath>,
}

/// Writes a data source on top of `existing` (what the caller read; `None` to create).
/// The password, if given, is sealed before storing.
pub async fn save(
    state: &AppState,
    scope: &TenantScope,
    actor: &Actor,
    existing: Option<&DataSourceRecord>,
    s: SaveSource<'_>,
) -> ApiResult<DataSourceRecord> {
    let password_sealed = match s.password {
        Some(Some(p)) if !p.is_empty() => Some(state.keys.seal(&p, &seal_context(scope, s.name))),
        Some(_) => None,
        None => existing.and_then(|e| e.password_sealed.clone()),
    };
    let rec = DataSourceRecord {
        name: s.name.to_string(),
        spec: s.spec,
        password_sealed,
        base_dir: s.base_dir.map(|d| d.to_string_lossy().into_owned()),
        origin: s.origin,
        meta: existing.map(|e| e.meta.clone()).unwrap_or_default(),
    };
    let expect = existing.map_or(Expect::Absent, |e| Expect::Revision(e.meta.revision));
    let rec = state.writer.save(scope, actor, rec, expect).await?;
    tracing::info!(tenant = scope.tenant(), datasource = s.name, revision = rec.meta.revision, origin = ?s.origin, "data source saved");
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
        revision: rec.meta.revision,
        spec: rec.spec.clone(),
        password,
        sqlite_path,
    })
}

/// API users may only reach SQLite files under the configured root.
pub fn confined_sqlite_path(state: &AppState, p: &str) -> ApiResult<PathBuf> {
    engine::resolve_confined(&state.settings.sqlite_root, p).ok_or_else(|| {
        ApiError::invalid(
            "spec.path",
            "must be a relative path inside the server's SQLite folder",
        )
    })
}

fn sqlite_path(state: &AppState, rec: &DataSourceRecord, p: &str) -> ApiResult<PathBuf> {
    match rec.origin {
        // API users may only reach files under the configured root, never the server's own files.
        Origin::Api => confined_sqlite_path(state, p),
        // Platform engineers' YAML: relative to the manifest folder, or absolute.
        _ => Ok(match &rec.base_dir {
            Some(base) => FsPath::new(base).join(p),
            None => PathBuf::from(p),
        }),
    }
}

/// An engine error as the API answers it, naming the data source when it is the source that
/// failed (not the statement).
pub fn engine_error(source: &str) -> impl Fn(EngineError) -> ApiError + '_ {
    move |e| engine_error_of(source, e)
}

fn engine_error_of(source: &str, e: EngineError) -> ApiError {
    match e {
        EngineError::Refused(m) => ApiError::QueryRefused(m),
        EngineError::Denied(m) => ApiError::Forbidden(m),
        EngineError::ApprovalRequired(level) => ApiError::ApprovalRequired(level),
        EngineError::Timeout(_) => ApiError::Timeout(e.to_string()),
        EngineError::Connect(_) => ApiError::DataSource {
            name: source.to_string(),
            detail: e.to_string(),
        },
        EngineError::Query(m) => ApiError::Sql {
            detail: format!("the data source rejected the query: {m}"),
            position: None,
        },
        EngineError::QueryAt(m, at) => ApiError::Sql {
            detail: format!("the data source rejected the query at character {at}: {m}"),
            position: Some(at),
        },
        EngineError::Config(_) => ApiError::invalid("spec", e.to_string()),
    }
}
