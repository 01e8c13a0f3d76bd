//! A store written before revisions existed (old table layout, records without revision or
//! list fields) opens, and its records are brought up to date once: viewers' filtered lists
//! find them again, and a second start changes nothing.
use std::sync::Arc;

use nexbii_controlplane::{
    bi::dashboards::DashboardRecord,
    crypto::Keys,
    migrate,
    state::{AppState, Settings},
    store::{sqlite::SqliteStore, ListQuery, StoreExt, TenantScope},
};
use serde_json::json;
use sqlx::{sqlite::SqliteConnectOptions, Executor};

#[tokio::test]
async fn records_from_before_revisions_are_upgraded_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let opts = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true);
        let pool = sqlx::SqlitePool::connect_with(opts).await.unwrap();
        pool.execute(
            "CREATE TABLE records (tenant TEXT NOT NULL, coll TEXT NOT NULL, id TEXT NOT NULL,
               doc TEXT NOT NULL, updated_at TEXT NOT NULL DEFAULT '2025-01-01T00:00:00.000Z',
               PRIMARY KEY (tenant, coll, id)) WITHOUT ROWID",
        )
        .await
        .unwrap();
        let docs = [
            (
                "tenants",
                "tenant",
                json!({"name": "acme", "spec": {"displayName": "Acme"}, "origin": "manifests", "updatedAt": "2025-01-01T00:00:00Z"}),
            ),
            (
                "dashboards",
                "sales",
                json!({"name": "sales", "origin": "api", "owner": "admin", "validationErrors": [],
                "createdAt": "2025-01-01T00:00:00Z", "updatedAt": "2025-01-01T00:00:00Z",
                "spec": {"tenantRef": {"name": "acme"}, "title": "Sales", "publication": "published",
                    "widgets": [{"id": "w", "chart": "number", "query": {"dataSource": "db", "sql": "SELECT 1"}}]}}),
            ),
        ];
        for (coll, id, doc) in docs {
            sqlx::query("INSERT INTO records (tenant, coll, id, doc) VALUES ('acme', ?, ?, ?)")
                .bind(coll)
                .bind(id)
                .bind(doc.to_string())
                .execute(&pool)
                .await
                .unwrap();
        }
        pool.close().await;
    }

    let store = Arc::new(SqliteStore::open(&path).await.unwrap());
    let state = AppState::new(store, Keys::random(), Settings::default());
    let scope = TenantScope::new("acme").unwrap();
    let published = ListQuery::default().filter("publication", "published");

    // Before: the record reads, but a filtered list cannot see it.
    let before = state
        .store
        .page_as::<DashboardRecord>(&scope, &published)
        .await
        .unwrap();
    assert!(
        before.items.is_empty(),
        "legacy records carry no list fields"
    );

    assert_eq!(migrate::upgrade_legacy_records(&state).await.unwrap(), 2);
    let after = state
        .store
        .page_as::<DashboardRecord>(&scope, &published)
        .await
        .unwrap();
    assert_eq!(after.items.len(), 1, "viewers' list finds it again");
    let d = &after.items[0];
    assert_eq!(d.meta.revision, 1);
    assert_eq!(d.meta.updated_by, "system");
    assert_eq!(
        d.meta.created_at.to_rfc3339(),
        "2025-01-01T00:00:00+00:00",
        "creation time kept"
    );

    assert_eq!(
        migrate::upgrade_legacy_records(&state).await.unwrap(),
        0,
        "a second start changes nothing"
    );
}
