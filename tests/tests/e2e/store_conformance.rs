//! The one store conformance suite, run against both implementations.
use nexbii_controlplane::store::{conformance, mongo::MongoStore, sqlite::SqliteStore};
use nexbii_tests::{mongo_url, unique};

#[tokio::test]
async fn embedded_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("conf.db"))
        .await
        .unwrap();
    conformance::run(&store).await;
}

/// The read cache in front of a store keeps every property of the store it wraps.
#[tokio::test]
async fn cached_store_conforms() {
    use nexbii_controlplane::store::cached::CachedStore;
    let dir = tempfile::tempdir().unwrap();
    let inner = SqliteStore::open(&dir.path().join("cached.db"))
        .await
        .unwrap();
    let store = CachedStore::new(
        std::sync::Arc::new(inner),
        std::time::Duration::from_secs(60),
    );
    conformance::run(&store).await;
}

#[tokio::test]
async fn embedded_store_survives_reopen() {
    use nexbii_controlplane::store::{Collection, Store, TenantScope};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("persist.db");
    let scope = TenantScope::new("acme").unwrap();
    {
        let s = SqliteStore::open(&path).await.unwrap();
        conformance::write_for_reopen(&s, &scope).await;
    }
    let s = SqliteStore::open(&path).await.unwrap();
    assert_eq!(
        s.get(&scope, Collection::Scratch, "k").await.unwrap(),
        Some(serde_json::json!({"v": 1}))
    );
}

#[tokio::test]
async fn mongodb_store_conforms() {
    let db = unique("nexbii_conf_");
    let store = MongoStore::connect(&mongo_url(), &db)
        .await
        .unwrap_or_else(|e| nexbii_tests::env::MONGO.missing(&mongo_url(), e));
    conformance::run(&store).await;
    store.drop_all().await.unwrap();
}
