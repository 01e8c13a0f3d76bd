//! Embedded store: one SQLite file (WAL mode), no server to run.
use std::{path::Path, str::FromStr};

use async_trait::async_trait;
use serde_json::Value;
use sqlx::{
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
    Row, SqlitePool,
};

use super::{Collection, Store, StoreError, StoreResult, TenantScope};

pub struct SqliteStore {
    pool: SqlitePool,
}

fn backend(e: sqlx::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl SqliteStore {
    pub async fn open(path: &Path) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let opts = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(std::time::Duration::from_secs(5));
        Self::with_options(opts).await
    }

    /// A private in-memory database (tests and benchmarks).
    pub async fn in_memory() -> anyhow::Result<Self> {
        Self::with_options(SqliteConnectOptions::from_str("sqlite::memory:")?).await
    }

    async fn with_options(opts: SqliteConnectOptions) -> anyhow::Result<Self> {
        // One writer at a time is SQLite's model; a small pool serves concurrent readers in WAL mode.
        let in_memory = opts.get_filename().as_os_str() == ":memory:";
        let pool = SqlitePoolOptions::new()
            .max_connections(if in_memory { 1 } else { 4 })
            .connect_with(opts)
            .await?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS records (
                tenant TEXT NOT NULL,
                coll TEXT NOT NULL,
                id TEXT NOT NULL,
                doc TEXT NOT NULL,
                updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
                PRIMARY KEY (tenant, coll, id)
            ) WITHOUT ROWID",
        )
        .execute(&pool)
        .await?;
        Ok(Self { pool })
    }
}

fn parse(doc: String) -> StoreResult<Value> {
    serde_json::from_str(&doc).map_err(|e| StoreError::Corrupt(e.to_string()))
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    async fn get(
        &self,
        scope: &TenantScope,
        coll: Collection,
        id: &str,
    ) -> StoreResult<Option<Value>> {
        let row = sqlx::query("SELECT doc FROM records WHERE tenant = ? AND coll = ? AND id = ?")
            .bind(scope.tenant())
            .bind(coll.name())
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.map(|r| parse(r.get(0))).transpose()
    }

    async fn list(&self, scope: &TenantScope, coll: Collection) -> StoreResult<Vec<Value>> {
        let rows = sqlx::query("SELECT doc FROM records WHERE tenant = ? AND coll = ? ORDER BY id")
            .bind(scope.tenant())
            .bind(coll.name())
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.into_iter().map(|r| parse(r.get(0))).collect()
    }

    async fn insert(
        &self,
        scope: &TenantScope,
        coll: Collection,
        id: &str,
        doc: &Value,
    ) -> StoreResult<()> {
        let res = sqlx::query("INSERT INTO records (tenant, coll, id, doc) VALUES (?, ?, ?, ?)")
            .bind(scope.tenant())
            .bind(coll.name())
            .bind(id)
            .bind(doc.to_string())
            .execute(&self.pool)
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(StoreError::Conflict(format!("{} {id}", coll.name())))
            }
            Err(e) => Err(backend(e)),
        }
    }

    async fn upsert(
        &self,
        scope: &TenantScope,
        coll: Collection,
        id: &str,
        doc: &Value,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO records (tenant, coll, id, doc) VALUES (?, ?, ?, ?)
             ON CONFLICT (tenant, coll, id) DO UPDATE SET doc = excluded.doc,
               updated_at = strftime('%Y-%m-%dT%H:%M:%fZ','now')",
        )
        .bind(scope.tenant())
        .bind(coll.name())
        .bind(id)
        .bind(doc.to_string())
        .execute(&self.pool)
        .await
        .map(|_| ())
        .map_err(backend)
    }

    async fn delete(&self, scope: &TenantScope, coll: Collection, id: &str) -> StoreResult<bool> {
        let res = sqlx::query("DELETE FROM records WHERE tenant = ? AND coll = ? AND id = ?")
            .bind(scope.tenant())
            .bind(coll.name())
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(res.rows_affected() > 0)
    }

    async fn tenants(&self) -> StoreResult<Vec<TenantScope>> {
        let rows =
            sqlx::query("SELECT DISTINCT tenant FROM records WHERE coll = ? ORDER BY tenant")
                .bind(Collection::Tenants.name())
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?;
        Ok(rows
            .into_iter()
            .filter_map(|r| TenantScope::new(&r.get::<String, _>(0)))
            .collect())
    }
}
