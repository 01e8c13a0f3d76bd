//! The governance area: the catalog (crawler, curation, dictionary, search), classification,
//! lineage, and the policies that the query path enforces (masking, row filters).
use std::{sync::Arc, time::Duration};

use axum::{routing::get, Router};

use crate::{
    http::{ApiError, ApiResult},
    state::SharedState,
    store::{cached::CachedStore, ListQuery, StoreExt, TenantScope},
};

pub mod approvals;
pub mod catalog;
pub mod classify;
pub mod enforce;
pub mod lineage;
pub mod lineage_api;
pub mod mask;
pub mod policies;
pub mod rowfilter;

pub use policies::PolicyRecord;

use catalog::{search::CatalogIndex, CatalogTable};

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/api/v1/governance/policies", get(policies::list))
        .merge(catalog::routes())
        .merge(lineage_api::routes())
        .merge(approvals::routes())
}

/// What governance keeps in memory per instance: running crawls, and per-tenant views of the
/// catalog (forgotten on every catalog change here, and after a few seconds for changes made
/// by other replicas).
pub struct GovernanceState {
    pub crawls: catalog::crawl::Crawls,
    /// Crawl requests from data-source syncs, worked off one at a time by [`crawl_worker`].
    crawl_queue: crate::jobs::Queue,
    tables: moka::sync::Cache<TenantScope, Arc<Vec<CatalogTable>>>,
    indexes: moka::sync::Cache<TenantScope, Arc<CatalogIndex>>,
    views: moka::sync::Cache<(TenantScope, String), Arc<enforce::SourceView>>,
    policies: moka::sync::Cache<TenantScope, Arc<Vec<PolicyRecord>>>,
    /// Sources whose last background crawl failed (a query does not wait for them).
    failed_crawls: moka::sync::Cache<(TenantScope, String), String>,
}

impl GovernanceState {
    /// Catalog crawls of a tenant's sources waiting for the worker (monitoring).
    pub fn crawls_pending(&self, scope: &TenantScope) -> usize {
        self.crawl_queue.pending(scope)
    }

    pub fn new(ttl: Duration) -> Self {
        Self {
            crawls: Default::default(),
            crawl_queue: Default::default(),
            failed_crawls: moka::sync::Cache::builder()
                .time_to_live(Duration::from_secs(60))
                .max_capacity(10_000)
                .build(),
            tables: moka::sync::Cache::builder()
                .time_to_live(ttl)
                .max_capacity(1_000)
                .build(),
            indexes: moka::sync::Cache::builder()
                .time_to_live(ttl)
                .max_capacity(1_000)
                .build(),
            views: moka::sync::Cache::builder()
                .time_to_live(ttl)
                .max_capacity(10_000)
                .build(),
            policies: moka::sync::Cache::builder()
                .time_to_live(ttl)
                .max_capacity(10_000)
                .build(),
        }
    }

    /// Asks for a background crawl of the source (deduplicated while queued).
    pub fn request_crawl(&self, scope: &TenantScope, source: &str) {
        self.crawl_queue.push(scope, source);
    }

    /// Why the last background crawl of the source failed, if it did (within a minute).
    pub fn crawl_failure(&self, scope: &TenantScope, source: &str) -> Option<String> {
        self.failed_crawls.get(&(scope.clone(), source.to_string()))
    }

    /// Forgets what was derived from the tenant's catalog.
    pub fn catalog_changed(&self, scope: &TenantScope) {
        self.tables.invalidate(scope);
        self.indexes.invalidate(scope);
        self.policies.invalidate(scope);
        let scope = scope.clone();
        // Views are few per tenant; dropping them by predicate keeps the key simple.
        let _ = self
            .views
            .invalidate_entries_if(move |(s, _), _| *s == scope);
    }

    /// The tenant's governance policies.
    pub async fn policies(
        &self,
        store: &CachedStore,
        scope: &TenantScope,
    ) -> ApiResult<Arc<Vec<PolicyRecord>>> {
        if let Some(p) = self.policies.get(scope) {
            return Ok(p);
        }
        let p = Arc::new(store.list_as::<PolicyRecord>(scope).await?);
        self.policies.insert(scope.clone(), p.clone());
        Ok(p)
    }

    /// What the query path needs of one source's catalog.
    pub async fn source_view(
        &self,
        store: &CachedStore,
        scope: &TenantScope,
        source: &str,
        source_type: nexbii_crds::DataSourceType,
    ) -> ApiResult<Arc<enforce::SourceView>> {
        let key = (scope.clone(), source.to_string());
        if let Some(v) = self.views.get(&key) {
            return Ok(v);
        }
        let tables = self.tables(store, scope).await?;
        let status = store
            .get_as::<crate::bi::datasources::status::SourceStatus>(scope, source)
            .await?;
        let crawled = status.is_some_and(|s| s.catalog_synced_at.is_some());
        let database = match source_type {
            nexbii_crds::DataSourceType::Mysql => store
                .cached::<crate::bi::datasources::DataSourceRecord>(scope, source)
                .await?
                .and_then(|r| r.spec.database.clone()),
            _ => None,
        };
        let v = Arc::new(
            enforce::SourceView::build(source_type, &tables, source, crawled)
                .with_current_database(database),
        );
        self.views.insert(key, v.clone());
        Ok(v)
    }

    /// Every catalog table of the tenant.
    pub async fn tables(
        &self,
        store: &CachedStore,
        scope: &TenantScope,
    ) -> ApiResult<Arc<Vec<CatalogTable>>> {
        if let Some(t) = self.tables.get(scope) {
            return Ok(t);
        }
        let mut all = Vec::new();
        let mut cursor = None;
        loop {
            let q = ListQuery::default().limit(1000).after(cursor);
            let page = store.page_as::<CatalogTable>(scope, &q).await?;
            all.extend(page.items);
            match page.next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        let all = Arc::new(all);
        self.tables.insert(scope.clone(), all.clone());
        Ok(all)
    }

    /// The tenant's search index, built on first use after a change.
    pub async fn index(
        &self,
        store: &CachedStore,
        scope: &TenantScope,
    ) -> ApiResult<Arc<CatalogIndex>> {
        if let Some(i) = self.indexes.get(scope) {
            return Ok(i);
        }
        let tables = self.tables(store, scope).await?;
        let index = tokio::task::spawn_blocking(move || CatalogIndex::build(&tables))
            .await
            .map_err(|e| ApiError::Internal(e.into()))?
            .map_err(|e| ApiError::Internal(e.into()))?;
        let index = Arc::new(index);
        self.indexes.insert(scope.clone(), index.clone());
        Ok(index)
    }
}

/// Crawls the sources whose sync asked for it, one at a time, for the life of the server.
pub async fn crawl_worker(state: SharedState) {
    loop {
        let (scope, source) = state.governance.crawl_queue.next().await;
        let rec = match crate::bi::datasources::domain::load(&state, &scope, &source).await {
            Ok(rec) => rec,
            Err(_) => continue,
        };
        let key = (scope.clone(), source.clone());
        match catalog::crawl::crawl(&state, &scope, &rec, Default::default()).await {
            Ok(_) | Err(ApiError::Conflict(_)) => state.governance.failed_crawls.invalidate(&key),
            Err(e) => {
                tracing::warn!(tenant = scope.tenant(), datasource = %source, error = %e, "catalog crawl failed");
                state.governance.failed_crawls.insert(key, e.to_string());
            }
        }
    }
}

/// Forgets derived catalog views when catalog records or policies change (any writer).
pub struct ForgetCatalogViews(pub Arc<GovernanceState>);

#[async_trait::async_trait]
impl crate::store::write::WriteHook for ForgetCatalogViews {
    async fn committed(&self, change: &crate::store::write::Change) {
        use crate::store::Collection;
        if matches!(
            change.collection,
            Collection::CatalogTables | Collection::GovernancePolicies | Collection::DataSources
        ) {
            self.0.catalog_changed(&change.tenant);
        }
    }

    async fn replaced(&self, replaced: &crate::store::write::Replaced) {
        self.0.catalog_changed(&replaced.tenant);
    }
}
