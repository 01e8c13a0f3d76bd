//! Shared server state.
use std::{path::PathBuf, sync::Arc, time::Duration};

use crate::{
    crypto::Keys,
    engine::Engine,
    error::{ApiError, ApiResult},
    metrics::Metrics,
    models::TenantRecord,
    store::{DynStore, StoreExt, TenantScope},
};

#[derive(Clone, Debug)]
pub struct Settings {
    /// Folder API-created SQLite sources must live in (manifest-provisioned ones may live anywhere).
    pub sqlite_root: PathBuf,
    pub cache_ttl: Duration,
    pub cache_max_cells: u64,
    /// Token the operator authenticates with on the provisioning API; disabled when `None`.
    pub operator_token: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            sqlite_root: PathBuf::from("./data/sources"),
            cache_ttl: Duration::from_secs(60),
            cache_max_cells: 5_000_000,
            operator_token: None,
        }
    }
}

pub struct AppState {
    pub store: DynStore,
    pub keys: Keys,
    pub engine: Engine,
    pub metrics: Metrics,
    pub settings: Settings,
    /// Failed logins per (tenant, username), forgotten 15 minutes after the last failure.
    pub login_failures: moka::future::Cache<(String, String), u32>,
}

pub type SharedState = Arc<AppState>;

impl AppState {
    pub fn new(store: DynStore, keys: Keys, settings: Settings) -> SharedState {
        let metrics = Metrics::new();
        Arc::new(Self {
            engine: Engine::new(
                metrics.clone(),
                settings.cache_ttl,
                settings.cache_max_cells,
            ),
            store,
            keys,
            metrics,
            settings,
            login_failures: moka::future::Cache::builder()
                .time_to_idle(Duration::from_secs(15 * 60))
                .max_capacity(100_000)
                .build(),
        })
    }

    pub async fn tenant(&self, scope: &TenantScope) -> ApiResult<TenantRecord> {
        self.store
            .get_as::<TenantRecord>(scope, TenantRecord::ID)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("tenant {}", scope.tenant())))
    }
}
