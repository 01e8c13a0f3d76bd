//! The catalog: what every data source holds (tables, columns, keys, profiles,
//! classifications), what people wrote about it, a data dictionary and search.
use axum::{
    extract::{Path, State},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub mod crawl;
pub mod curate;
pub mod detect;
pub mod dictionary;
pub mod model;
pub mod search;

pub use crawl::{CrawlOptions, CrawlReport};
pub use model::{CatalogColumn, CatalogTable};

use crate::{
    auth::{Caller, Role},
    bi::datasources::domain as sources,
    http::{
        paging::{PageParams, Paged},
        precondition::{IfMatch, Tagged},
        ApiError, ApiJson, ApiResult, Problem,
    },
    state::SharedState,
    store::{Expect, ListQuery, StoreExt},
};

pub fn routes() -> Router<SharedState> {
    let base = "/api/v1/catalog/datasources/{name}";
    Router::new()
        .route(&format!("{base}/sync"), post(sync).delete(cancel))
        .route(&format!("{base}/classify"), post(classify))
        .route(&format!("{base}/tables"), get(list_tables))
        .route(
            &format!("{base}/tables/{{table}}"),
            get(get_table).patch(patch_table),
        )
        .route(
            &format!("{base}/tables/{{table}}/columns/{{column}}"),
            axum::routing::patch(patch_column),
        )
        .route("/api/v1/catalog/dictionary", get(dictionary))
        .route("/api/v1/catalog/search", get(search))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct SyncParams {
    /// Profile and classify every table again, changed or not.
    #[serde(default)]
    pub force: bool,
    /// At most this many tables in this run (1 to 5000, default 500).
    #[serde(default)]
    pub max_tables: Option<usize>,
}

#[utoipa::path(post, path = "/api/v1/catalog/datasources/{name}/sync", tag = "catalog",
    params(("name" = String, Path, description = "data source"), SyncParams),
    responses((status = 200, body = CrawlReport), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "another sync of this source has run for two minutes (a sync waits for a running one first)"),
        (status = 422, body = Problem), (status = 502, body = Problem)),
    security(("bearer" = [])))]
pub async fn sync(
    State(state): State<SharedState>,
    caller: Caller,
    Path(name): Path<String>,
    crate::http::ApiQuery(p): crate::http::ApiQuery<SyncParams>,
) -> ApiResult<Json<CrawlReport>> {
    caller.require(Role::Editor)?;
    let max_tables = p.max_tables.unwrap_or(500);
    if !(1..=5000).contains(&max_tables) {
        return Err(ApiError::invalid("maxTables", "must be between 1 and 5000"));
    }
    let rec = sources::load(&state, &caller.scope, &name).await?;
    let opts = CrawlOptions {
        force: p.force,
        max_tables,
    };
    Ok(Json(crawl::crawl(&state, &caller.scope, &rec, opts).await?))
}

#[utoipa::path(delete, path = "/api/v1/catalog/datasources/{name}/sync", tag = "catalog",
    params(("name" = String, Path, description = "data source")),
    responses((status = 202, description = "the running sync stops after its current tables"),
        (status = 403, body = Problem), (status = 404, body = Problem, description = "no sync is running")),
    security(("bearer" = [])))]
pub async fn cancel(
    State(state): State<SharedState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require(Role::Editor)?;
    if state.governance.crawls.cancel(&caller.scope, &name) {
        Ok(StatusCode::ACCEPTED)
    } else {
        Err(ApiError::NotFound(format!(
            "running catalog sync of {name}"
        )))
    }
}

#[utoipa::path(post, path = "/api/v1/catalog/datasources/{name}/classify", tag = "catalog",
    params(("name" = String, Path, description = "data source")),
    responses((status = 200, body = CrawlReport, description = "every table sampled and classified again"),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 502, body = Problem)),
    security(("bearer" = [])))]
pub async fn classify(
    State(state): State<SharedState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<CrawlReport>> {
    caller.require(Role::Admin)?;
    let rec = sources::load(&state, &caller.scope, &name).await?;
    let opts = CrawlOptions {
        force: true,
        ..Default::default()
    };
    Ok(Json(crawl::crawl(&state, &caller.scope, &rec, opts).await?))
}

/// A table in a list: its shape and notes, without columns' profiles.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TableSummary {
    pub id: String,
    pub data_source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    pub name: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row_estimate: Option<i64>,
    pub columns: usize,
    /// Columns with a sensitivity above public.
    pub sensitive_columns: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub tags: Vec<String>,
    pub dropped: bool,
}

impl From<CatalogTable> for TableSummary {
    fn from(t: CatalogTable) -> Self {
        Self {
            sensitive_columns: t.columns.iter().filter(|c| c.is_sensitive()).count(),
            columns: t.columns.len(),
            id: t.id,
            data_source: t.data_source,
            schema: t.schema,
            name: t.name,
            kind: t.kind,
            row_estimate: t.row_estimate,
            description: t.curation.description,
            tags: t.curation.tags,
            dropped: t.dropped,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/catalog/datasources/{name}/tables", tag = "catalog",
    params(("name" = String, Path, description = "data source"), PageParams),
    responses((status = 200, body = Vec<TableSummary>,
        headers(("x-next-cursor" = String, description = "cursor of the next page; absent on the last"))),
        (status = 401, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn list_tables(
    State(state): State<SharedState>,
    caller: Caller,
    Path(name): Path<String>,
    crate::http::ApiQuery(page): crate::http::ApiQuery<PageParams>,
) -> ApiResult<Paged<TableSummary>> {
    sources::load(&state, &caller.scope, &name).await?;
    let q: ListQuery = page.query()?.filter("dataSource", name.as_str());
    let page: Paged<CatalogTable> = state
        .store
        .page_as::<CatalogTable>(&caller.scope, &q)
        .await?
        .into();
    Ok(page.map(TableSummary::from))
}

async fn load_table(
    state: &crate::state::AppState,
    caller: &Caller,
    source: &str,
    table: &str,
) -> ApiResult<CatalogTable> {
    sources::load(state, &caller.scope, source).await?;
    let id = format!("{source}:{table}");
    state
        .store
        .get_as::<CatalogTable>(&caller.scope, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("table {table} in the catalog of {source}")))
}

/// Viewers see structure and notes; sampled values are for those who may query the source.
fn for_caller(mut t: CatalogTable, caller: &Caller) -> CatalogTable {
    if caller.role < Role::Editor {
        for c in t.columns.iter_mut() {
            if let Some(p) = c.profile.as_mut() {
                p.min = None;
                p.max = None;
                p.top_values.clear();
                p.values_withheld = true;
            }
        }
    }
    t
}

#[utoipa::path(get, path = "/api/v1/catalog/datasources/{name}/tables/{table}", tag = "catalog",
    params(("name" = String, Path, description = "data source"),
        ("table" = String, Path, description = "`schema.table` or `table`")),
    responses((status = 200, body = CatalogTable, headers(("etag" = String, description = "the record's revision"))),
        (status = 401, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn get_table(
    State(state): State<SharedState>,
    caller: Caller,
    Path((name, table)): Path<(String, String)>,
) -> ApiResult<Tagged<CatalogTable>> {
    let t = load_table(&state, &caller, &name, &table).await?;
    Ok(Tagged(t.meta.revision, for_caller(t, &caller)))
}

#[utoipa::path(patch, path = "/api/v1/catalog/datasources/{name}/tables/{table}", tag = "catalog",
    params(("name" = String, Path, description = "data source"),
        ("table" = String, Path, description = "`schema.table` or `table`")),
    request_body = curate::CurationPatch,
    responses((status = 200, body = CatalogTable, headers(("etag" = String, description = "the record's revision"))),
        (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn patch_table(
    State(state): State<SharedState>,
    caller: Caller,
    if_match: IfMatch,
    Path((name, table)): Path<(String, String)>,
    ApiJson(p): ApiJson<curate::CurationPatch>,
) -> ApiResult<Tagged<CatalogTable>> {
    caller.require(Role::Editor)?;
    p.check()?;
    let mut t = load_table(&state, &caller, &name, &table).await?;
    let rev = if_match.check(&format!("table {table}"), t.meta.revision)?;
    if curate::patch_table(&mut t, &caller.username, &p) {
        t = state
            .writer
            .save(&caller.scope, &caller.actor(), t, Expect::Revision(rev))
            .await?;
        state.governance.catalog_changed(&caller.scope);
    }
    Ok(Tagged(t.meta.revision, for_caller(t, &caller)))
}

#[utoipa::path(patch, path = "/api/v1/catalog/datasources/{name}/tables/{table}/columns/{column}", tag = "catalog",
    params(("name" = String, Path, description = "data source"),
        ("table" = String, Path, description = "`schema.table` or `table`"),
        ("column" = String, Path, description = "column name")),
    request_body = curate::ColumnPatch,
    responses((status = 200, body = CatalogTable, headers(("etag" = String, description = "the record's revision"))),
        (status = 400, body = Problem), (status = 403, body = Problem, description = "classification overrides need the admin role"),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn patch_column(
    State(state): State<SharedState>,
    caller: Caller,
    if_match: IfMatch,
    Path((name, table, column)): Path<(String, String, String)>,
    ApiJson(p): ApiJson<curate::ColumnPatch>,
) -> ApiResult<Tagged<CatalogTable>> {
    caller.require(Role::Editor)?;
    if p.override_.is_some() {
        caller.require(Role::Admin)?;
    }
    p.curation.check()?;
    let mut t = load_table(&state, &caller, &name, &table).await?;
    let rev = if_match.check(&format!("table {table}"), t.meta.revision)?;
    if curate::patch_column(&mut t, &column, &caller.username, &p)? {
        t = state
            .writer
            .save(&caller.scope, &caller.actor(), t, Expect::Revision(rev))
            .await?;
        state.governance.catalog_changed(&caller.scope);
    }
    Ok(Tagged(t.meta.revision, for_caller(t, &caller)))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct DictionaryParams {
    /// `json` (default), `csv` or `markdown`.
    #[serde(default)]
    pub format: Option<String>,
    /// Only this data source.
    #[serde(default)]
    pub data_source: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/catalog/dictionary", tag = "catalog", params(DictionaryParams),
    responses((status = 200, description = "the data dictionary", content(
            (Vec<dictionary::DictionaryEntry> = "application/json"),
            (String = "text/csv"),
            (String = "text/markdown"))),
        (status = 401, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn dictionary(
    State(state): State<SharedState>,
    caller: Caller,
    crate::http::ApiQuery(p): crate::http::ApiQuery<DictionaryParams>,
) -> ApiResult<Response> {
    let format = p.format.as_deref().unwrap_or("json");
    if !["json", "csv", "markdown"].contains(&format) {
        return Err(ApiError::invalid("format", "one of json, csv, markdown"));
    }
    let tables = state.governance.tables(&state.store, &caller.scope).await?;
    let tables: Vec<CatalogTable> = tables
        .iter()
        .filter(|t| p.data_source.as_ref().is_none_or(|d| *d == t.data_source))
        .cloned()
        .collect();
    let entries = dictionary::entries(&tables);
    let attach = |ext: &str| format!("attachment; filename=\"data-dictionary.{ext}\"");
    Ok(match format {
        "csv" => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (header::CONTENT_DISPOSITION, attach("csv")),
            ],
            dictionary::csv(&entries),
        )
            .into_response(),
        "markdown" => (
            [
                (
                    header::CONTENT_TYPE,
                    "text/markdown; charset=utf-8".to_string(),
                ),
                (header::CONTENT_DISPOSITION, attach("md")),
            ],
            dictionary::markdown(&entries),
        )
            .into_response(),
        _ => Json(entries).into_response(),
    })
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct SearchParams {
    /// Words to find in names, descriptions, tags and classifications (typos tolerated).
    pub q: String,
    #[serde(default)]
    pub data_source: Option<String>,
    #[serde(default)]
    pub tag: Option<String>,
    /// `public`, `internal`, `confidential` or `restricted`.
    #[serde(default)]
    pub sensitivity: Option<String>,
    /// At most this many hits (1 to 1000, default 50).
    #[serde(default)]
    pub limit: Option<usize>,
}

#[utoipa::path(get, path = "/api/v1/catalog/search", tag = "catalog", params(SearchParams),
    responses((status = 200, body = search::SearchResult), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn search(
    State(state): State<SharedState>,
    caller: Caller,
    crate::http::ApiQuery(p): crate::http::ApiQuery<SearchParams>,
) -> ApiResult<Json<search::SearchResult>> {
    let limit = p.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be between 1 and 1000"));
    }
    if p.q.len() > 500 {
        return Err(ApiError::invalid("q", "at most 500 characters"));
    }
    let index = state.governance.index(&state.store, &caller.scope).await?;
    let filter = search::FacetFilter {
        data_source: p.data_source,
        tag: p.tag,
        sensitivity: p.sensitivity,
    };
    Ok(Json(index.search(&p.q, &filter, limit)))
}
