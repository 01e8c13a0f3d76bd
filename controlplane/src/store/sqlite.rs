//! Embedded store: one SQLite file (WAL mode), no server to run.
use std::{path::Path, str::FromStr};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde_json::Value;
use sqlx::{
    sqlite::{
        SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions,
        SqliteSynchronous,
    },
    Arguments, Row, SqlitePool,
};

use super::{
    changed_meanwhile, channel_stream,
    query::{page_of, stamp},
    sorted_names, Collection, CollectionState, Delta, Expect, ListQuery, Page, Put, RawRecord,
    Snapshot, Store, StoreError, StoreResult, TenantScope, WriteAccess,
};

pub struct SqliteStore {
    pool: SqlitePool,
}

fn backend(e: sqlx::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// How much of the store file SQLite maps into memory.
const MMAP_BYTES: u64 = 256 << 20;

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
            .busy_timeout(std::time::Duration::from_secs(5))
            // Reads served from the page cache by a mapping rather than a pread and a copy per
            // page: a snapshot (backup, restore) reads the whole file, and every 10 kB record
            // is a chain of overflow pages. Past this size, the rest is read as before.
            .pragma("mmap_size", MMAP_BYTES.to_string());
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
                rev INTEGER NOT NULL DEFAULT 0,
                fields TEXT NOT NULL DEFAULT '{}',
                PRIMARY KEY (tenant, coll, id)
            ) WITHOUT ROWID",
        )
        .execute(&pool)
        .await?;
        // Files written before revisions existed gain the columns; their records read as revision 0.
        let cols: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_table_info('records')")
            .fetch_all(&pool)
            .await?;
        for (name, ddl) in [
            (
                "rev",
                "ALTER TABLE records ADD COLUMN rev INTEGER NOT NULL DEFAULT 0",
            ),
            (
                "fields",
                "ALTER TABLE records ADD COLUMN fields TEXT NOT NULL DEFAULT '{}'",
            ),
        ] {
            if !cols.iter().any(|c| c == name) {
                sqlx::query(ddl).execute(&pool).await?;
            }
        }
        // Serves lists by time, and covers the restore's swap guard (count, revisions, newest
        // per collection): without `rev` in it, the guard read every record's overflow chain
        // to reach the columns after `doc`, a tenth of a second per 100 MB (README, "backup_pitr").
        sqlx::query(
            "CREATE INDEX IF NOT EXISTS records_state ON records (tenant, coll, updated_at, rev)",
        )
        .execute(&pool)
        .await?;
        // Its predecessor, without `rev`: the new index serves all it did.
        sqlx::query("DROP INDEX IF EXISTS records_updated")
            .execute(&pool)
            .await?;
        // Records of a restore in progress, swapped into `records` in one transaction.
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS restore_staging (
                staging TEXT NOT NULL,
                tenant TEXT NOT NULL,
                coll TEXT NOT NULL,
                id TEXT NOT NULL,
                doc TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                rev INTEGER NOT NULL,
                fields TEXT NOT NULL,
                PRIMARY KEY (staging, coll, id)
            ) WITHOUT ROWID",
        )
        .execute(&pool)
        .await?;
        Ok(Self { pool })
    }

    async fn revision_of(
        &self,
        scope: &TenantScope,
        coll: Collection,
        id: &str,
    ) -> StoreResult<Option<u64>> {
        let rev: Option<i64> =
            sqlx::query_scalar("SELECT rev FROM records WHERE tenant = ? AND coll = ? AND id = ?")
                .bind(scope.tenant())
                .bind(coll.name())
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
        Ok(rev.map(|r| r as u64))
    }

    /// The WHERE clause and arguments of a list query (after tenant and collection).
    fn conditions(
        scope: &TenantScope,
        coll: Collection,
        q: &ListQuery,
        with_cursor: bool,
    ) -> StoreResult<(String, SqliteArguments<'static>)> {
        q.check()?;
        let mut sql = String::from(" FROM records WHERE tenant = ? AND coll = ?");
        let mut args = SqliteArguments::default();
        let add = |args: &mut SqliteArguments<'static>, v: Value| -> StoreResult<()> {
            let r = match v {
                Value::String(s) => args.add(s),
                Value::Bool(b) => args.add(b as i64),
                Value::Number(n) => match n.as_i64() {
                    Some(i) => args.add(i),
                    None => args.add(n.as_f64().unwrap_or(f64::NAN)),
                },
                other => args.add(other.to_string()),
            };
            r.map_err(|e| StoreError::Backend(e.to_string()))
        };
        add(&mut args, Value::String(scope.tenant().into()))?;
        add(&mut args, Value::String(coll.name().into()))?;
        for (field, value) in &q.filters {
            add(&mut args, Value::String(format!("$.{field}")))?;
            if value.is_null() {
                sql.push_str(" AND json_extract(fields, ?) IS NULL");
            } else {
                sql.push_str(" AND json_extract(fields, ?) = ?");
                add(&mut args, value.clone())?;
            }
        }
        if let Some(t) = &q.updated_from {
            sql.push_str(" AND updated_at >= ?");
            add(&mut args, Value::String(stamp(t)))?;
        }
        if let Some(t) = &q.updated_before {
            sql.push_str(" AND updated_at < ?");
            add(&mut args, Value::String(stamp(t)))?;
        }
        if let Some((from, to)) = q.id_range() {
            sql.push_str(" AND id >= ? AND id < ?");
            add(&mut args, Value::String(from))?;
            add(&mut args, Value::String(to))?;
        }
        if let (true, Some(after)) = (with_cursor, &q.after) {
            sql.push_str(if q.descending {
                " AND id < ?"
            } else {
                " AND id > ?"
            });
            add(&mut args, Value::String(after.clone()))?;
        }
        Ok((sql, args))
    }
}

fn raw_row(coll: Collection, row: sqlx::sqlite::SqliteRow) -> StoreResult<RawRecord> {
    let at: String = row.get(3);
    Ok(RawRecord {
        collection: coll,
        id: row.get(0),
        doc: row.get(1),
        revision: row.get::<i64, _>(2) as u64,
        updated_at: parse_stamp(&at)?,
        fields: row.get(4),
    })
}

/// A stored `updated_at` (RFC 3339); anything else means the file was altered outside the store.
fn parse_stamp(at: &str) -> StoreResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(at)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("updated_at {at:?}: {e}")))
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

    fn kind(&self) -> &'static str {
        "embedded"
    }

    async fn usage(&self) -> StoreResult<super::StoreUsage> {
        let (file,): (String,) =
            sqlx::query_as("SELECT file FROM pragma_database_list WHERE name = 'main'")
                .fetch_one(&self.pool)
                .await
                .map_err(backend)?;
        if file.is_empty() {
            return Ok(Default::default()); // in memory
        }
        // The database file and its write-ahead log.
        let size = |p: &str| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        Ok(super::StoreUsage {
            bytes: Some(size(&file) + size(&format!("{file}-wal"))),
            path: Some(file.into()),
        })
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

    async fn list(
        &self,
        scope: &TenantScope,
        coll: Collection,
        q: &ListQuery,
    ) -> StoreResult<Page> {
        let (cond, mut args) = Self::conditions(scope, coll, q, true)?;
        let order = if q.descending { "DESC" } else { "ASC" };
        let mut sql = format!("SELECT id, doc{cond} ORDER BY id {order}");
        if let Some(n) = q.limit {
            sql.push_str(" LIMIT ?");
            args.add((n as i64).saturating_add(1))
                .map_err(|e| StoreError::Backend(e.to_string()))?;
        }
        let rows = sqlx::query_with(&sql, args)
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        let rows = rows
            .into_iter()
            .map(|r| Ok((r.get::<String, _>(0), parse(r.get(1))?)))
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(page_of(rows, q.limit))
    }

    async fn count(
        &self,
        scope: &TenantScope,
        coll: Collection,
        q: &ListQuery,
    ) -> StoreResult<u64> {
        let (cond, args) = Self::conditions(scope, coll, q, false)?;
        let n: i64 = sqlx::query_scalar_with(&format!("SELECT COUNT(*){cond}"), args)
            .fetch_one(&self.pool)
            .await
            .map_err(backend)?;
        Ok(n as u64)
    }

    async fn put(
        &self,
        _access: &WriteAccess,
        scope: &TenantScope,
        coll: Collection,
        put: Put<'_>,
        expect: Expect,
    ) -> StoreResult<()> {
        let fields = Value::Object(put.fields.clone()).to_string();
        match expect {
            Expect::Absent => {
                let res = sqlx::query(
                    "INSERT INTO records (tenant, coll, id, doc, updated_at, rev, fields)
                     VALUES (?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(scope.tenant())
                .bind(coll.name())
                .bind(put.id)
                .bind(put.doc.to_string())
                .bind(stamp(&put.updated_at))
                .bind(put.revision as i64)
                .bind(fields)
                .execute(&self.pool)
                .await;
                match res {
                    Ok(_) => Ok(()),
                    Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                        Err(StoreError::Conflict(format!("{} {}", coll.name(), put.id)))
                    }
                    Err(e) => Err(backend(e)),
                }
            }
            Expect::Revision(expected) => {
                let res = sqlx::query(
                    "UPDATE records SET doc = ?, updated_at = ?, rev = ?, fields = ?
                     WHERE tenant = ? AND coll = ? AND id = ? AND rev = ?",
                )
                .bind(put.doc.to_string())
                .bind(stamp(&put.updated_at))
                .bind(put.revision as i64)
                .bind(fields)
                .bind(scope.tenant())
                .bind(coll.name())
                .bind(put.id)
                .bind(expected as i64)
                .execute(&self.pool)
                .await
                .map_err(backend)?;
                if res.rows_affected() > 0 {
                    return Ok(());
                }
                let what = format!("{} {}", coll.name(), put.id);
                match self.revision_of(scope, coll, put.id).await? {
                    Some(actual) => Err(StoreError::Stale {
                        what,
                        expected,
                        actual,
                    }),
                    None => Err(StoreError::Missing(what)),
                }
            }
        }
    }

    async fn remove(
        &self,
        _access: &WriteAccess,
        scope: &TenantScope,
        coll: Collection,
        id: &str,
        revision: Option<u64>,
    ) -> StoreResult<bool> {
        let mut q = sqlx::query(
            "DELETE FROM records WHERE tenant = ? AND coll = ? AND id = ? AND (? IS NULL OR rev = ?)",
        )
        .bind(scope.tenant())
        .bind(coll.name())
        .bind(id);
        let rev = revision.map(|r| r as i64);
        q = q.bind(rev).bind(rev);
        let res = q.execute(&self.pool).await.map_err(backend)?;
        if res.rows_affected() > 0 {
            return Ok(true);
        }
        match (revision, self.revision_of(scope, coll, id).await?) {
            (Some(expected), Some(actual)) => Err(StoreError::Stale {
                what: format!("{} {id}", coll.name()),
                expected,
                actual,
            }),
            _ => Ok(false),
        }
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

    async fn snapshot(&self, scope: &TenantScope, colls: &[Collection]) -> StoreResult<Snapshot> {
        let names = sorted_names(colls);
        let mut conn = self.pool.acquire().await.map_err(backend)?;
        sqlx::query("BEGIN")
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
        // In WAL mode the first read fixes what the whole transaction sees; writers go on.
        let mut newest: Option<String> = None;
        for name in &names {
            let n: Option<String> = sqlx::query_scalar(
                "SELECT max(updated_at) FROM records WHERE tenant = ? AND coll = ?",
            )
            .bind(scope.tenant())
            .bind(*name)
            .fetch_one(&mut *conn)
            .await
            .map_err(backend)?;
            newest = newest.max(n);
        }
        let position = format!("sqlite:newestUpdate={}", newest.unwrap_or_default());
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        let tenant = scope.tenant().to_string();
        tokio::spawn(async move {
            'colls: for name in names {
                let coll = Collection::from_name(name).expect("names come from collections");
                let mut rows = sqlx::query(
                    "SELECT id, doc, rev, updated_at, fields FROM records
                     WHERE tenant = ? AND coll = ? ORDER BY id",
                )
                .bind(&tenant)
                .bind(name)
                .fetch(&mut *conn);
                while let Some(row) = rows.next().await {
                    let item = row.map_err(backend).and_then(|r| raw_row(coll, r));
                    let failed = item.is_err();
                    if tx.send(item).await.is_err() || failed {
                        break 'colls;
                    }
                }
            }
            let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
        });
        Ok(Snapshot {
            position,
            records: channel_stream(rx),
        })
    }

    async fn stage(
        &self,
        _access: &WriteAccess,
        scope: &TenantScope,
        staging: &str,
        records: &[RawRecord],
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        for r in records {
            let res = sqlx::query(
                "INSERT INTO restore_staging (staging, tenant, coll, id, doc, updated_at, rev, fields)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(staging)
            .bind(scope.tenant())
            .bind(r.collection.name())
            .bind(&r.id)
            .bind(&r.doc)
            .bind(stamp(&r.updated_at))
            .bind(r.revision as i64)
            .bind(&r.fields)
            .execute(&mut *tx)
            .await;
            match res {
                Ok(_) => {}
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                    return Err(StoreError::Conflict(format!(
                        "{} {} staged twice",
                        r.collection.name(),
                        r.id
                    )))
                }
                Err(e) => return Err(backend(e)),
            }
        }
        tx.commit().await.map_err(backend)
    }

    async fn swap_staged(
        &self,
        _access: &WriteAccess,
        scope: &TenantScope,
        staging: &str,
        delta: &Delta<'_>,
    ) -> StoreResult<()> {
        let mut conn = self.pool.acquire().await.map_err(backend)?;
        // IMMEDIATE: the write lock is held from the check on, so no writer gets in between.
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
        let applied = apply_delta(&mut conn, scope, staging, delta).await;
        let ended = match applied {
            Ok(()) => sqlx::query("COMMIT").execute(&mut *conn).await,
            Err(_) => sqlx::query("ROLLBACK").execute(&mut *conn).await,
        };
        applied?;
        ended.map(|_| ()).map_err(backend)
    }

    async fn drop_staged(
        &self,
        _access: &WriteAccess,
        scope: &TenantScope,
        staging: &str,
    ) -> StoreResult<()> {
        sqlx::query("DELETE FROM restore_staging WHERE staging = ? AND tenant = ?")
            .bind(staging)
            .bind(scope.tenant())
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(backend)
    }
}

/// What [`SqliteStore::swap_staged`] does inside its transaction.
async fn apply_delta(
    conn: &mut sqlx::SqliteConnection,
    scope: &TenantScope,
    staging: &str,
    delta: &Delta<'_>,
) -> StoreResult<()> {
    let tenant = scope.tenant();
    for (coll, expected) in delta.expect {
        let (count, revisions, newest): (i64, Option<i64>, Option<String>) = sqlx::query_as(
            "SELECT count(*), sum(rev), max(updated_at) FROM records WHERE tenant = ? AND coll = ?",
        )
        .bind(tenant)
        .bind(coll.name())
        .fetch_one(&mut *conn)
        .await
        .map_err(backend)?;
        let newest = newest.as_deref().map(parse_stamp).transpose()?;
        let now = CollectionState {
            count: count as u64,
            revisions: revisions.unwrap_or(0) as u64,
            newest,
        };
        if now != *expected {
            return Err(changed_meanwhile(*coll));
        }
    }
    for (coll, id) in delta.removed {
        sqlx::query("DELETE FROM records WHERE tenant = ? AND coll = ? AND id = ?")
            .bind(tenant)
            .bind(coll.name())
            .bind(id)
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
    }
    for coll in delta.collections() {
        sqlx::query(
            "INSERT OR REPLACE INTO records (tenant, coll, id, doc, updated_at, rev, fields)
             SELECT tenant, coll, id, doc, updated_at, rev, fields FROM restore_staging
             WHERE staging = ? AND tenant = ? AND coll = ?",
        )
        .bind(staging)
        .bind(tenant)
        .bind(coll.name())
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    }
    sqlx::query("DELETE FROM restore_staging WHERE staging = ? AND tenant = ?")
        .bind(staging)
        .bind(tenant)
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    Ok(())
}
