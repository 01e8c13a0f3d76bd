//! Shared server state.
use std::{sync::Arc, time::Duration};

pub use crate::config::Settings;
use crate::{
    crypto::Keys,
    engine::{Engine, ForgetChangedSources},
    http::{ApiError, ApiResult},
    metrics::Metrics,
    store::{cached::CachedStore, write::Writer, DynStore, TenantScope},
    tenant::TenantRecord,
};

pub struct AppState {
    /// Reads (hot configuration records decoded and cached). Every write goes through `writer`.
    pub store: Arc<CachedStore>,
    pub writer: Writer,
    pub keys: Keys,
    pub engine: Arc<Engine>,
    pub metrics: Metrics,
    pub settings: Settings,
    /// Webhook deliveries waiting to start.
    pub deliveries: crate::jobs::Queue,
    /// Crawls and per-tenant catalog views of the governance area.
    pub governance: Arc<crate::governance::GovernanceState>,
    /// Restores in progress (one per tenant at a time).
    pub backups: Arc<crate::admin::backups::BackupsState>,
    /// The tenants' change journals (point-in-time recovery).
    pub journal: crate::admin::backups::journal::Journal,
    /// Failed logins per (tenant, username), forgotten 15 minutes after the last failure.
    pub login_failures: moka::future::Cache<(String, String), u32>,
    /// Token buckets per API key, user and client address.
    pub rate_limits: crate::auth::ratelimit::Limiters,
    /// API-key use counted since the last flush to the store.
    pub apikey_usage: crate::auth::apikeys::usage::Usage,
    /// The tenants' audit chains (their heads; entries live in the store).
    pub audit: Arc<crate::audit::AuditLog>,
    /// Custom domains → tenants, for the branding served before login.
    pub domains: crate::branding::Domains,
    /// The tenants' settings in force, resolved once per change.
    pub tenant_settings: crate::admin::settings::domain::Cache,
    /// Sessions whose last-seen time was written lately (at most one write per
    /// `settings.session_seen_every` per session and instance).
    pub session_seen: moka::sync::Cache<(TenantScope, String), ()>,
    /// Single sign-on: client secrets, logins waiting for the provider, grants, discovery.
    pub oidc: crate::auth::oidc::OidcState,
}

pub type SharedState = Arc<AppState>;

impl AppState {
    pub fn new(store: DynStore, keys: Keys, settings: Settings) -> SharedState {
        let metrics = Metrics::new();
        let settings_seen_every = settings.session_seen_every.max(Duration::from_millis(1));
        let store = Arc::new(CachedStore::new(store, settings.store_cache_ttl));
        // Catalog views are rebuilt from every table record of a tenant: kept longer than
        // single records (changes made here are seen at once; other replicas' within 10 s).
        let governance = Arc::new(crate::governance::GovernanceState::new(
            settings.store_cache_ttl.max(Duration::from_secs(10)),
        ));
        let enforce = crate::governance::enforce::Enforce {
            store: store.clone(),
            governance: governance.clone(),
            keys: keys.clone(),
        };
        let engine = Arc::new(
            Engine::new(
                metrics.clone(),
                settings.cache_ttl,
                settings.cache_max_cells,
            )
            .with_policy(Arc::new(enforce)),
        );
        let audit = Arc::new(crate::audit::AuditLog::default());
        let journal = crate::admin::backups::journal::Journal::new(
            settings
                .journal_dir
                .clone()
                .unwrap_or_else(|| settings.backup_dir.join(".journal")),
            metrics.journal.clone(),
        );
        let writer = Writer::new(
            store.clone() as DynStore,
            vec![
                Arc::new(ForgetChangedSources(engine.clone())),
                Arc::new(crate::governance::ForgetCatalogViews(governance.clone())),
                Arc::new(crate::audit::log::ForgetAuditHeads(audit.clone())),
                Arc::new(crate::admin::backups::journal::JournalHook(journal.clone())),
            ],
        );
        Arc::new(Self {
            engine,
            writer,
            store,
            keys,
            metrics,
            settings,
            governance,
            backups: Default::default(),
            journal,
            deliveries: Default::default(),
            login_failures: moka::future::Cache::builder()
                .time_to_idle(Duration::from_secs(15 * 60))
                .max_capacity(100_000)
                .build(),
            rate_limits: Default::default(),
            apikey_usage: Default::default(),
            audit,
            domains: Default::default(),
            tenant_settings: crate::admin::settings::domain::new_cache(),
            session_seen: moka::sync::Cache::builder()
                .time_to_live(settings_seen_every)
                .max_capacity(1_000_000)
                .build(),
            oidc: Default::default(),
        })
    }

    pub async fn tenant(&self, scope: &TenantScope) -> ApiResult<Arc<TenantRecord>> {
        self.store
            .cached::<TenantRecord>(scope, TenantRecord::ID)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("tenant {}", scope.tenant())))
    }
}
