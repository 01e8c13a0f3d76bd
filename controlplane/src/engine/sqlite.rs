//! SQLite sources are opened read-only at the driver level.
use std::time::Duration;

use serde_json::Value;
use sqlx::{
    sqlite::{SqliteConnectOptions, SqlitePoolOptions},
    Executor, Row, Sqlite, SqlitePool, Statement,
};

use super::{
    convert::{bind_all, columns_of, take_rows, SqliteRows},
    query_err, ColumnDef, EngineError, Fetched, QueryLimits, ResolvedSource, SchemaInfo,
};

pub(super) fn pool(src: &ResolvedSource) -> Result<SqlitePool, EngineError> {
    let path = src
        .sqlite_path
        .as_ref()
        .ok_or_else(|| EngineError::Config("sqlite source without a resolved path".into()))?;
    let opts = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .create_if_missing(false)
        // Another process may change the schema under a cached statement; sqlx keeps the old
        // column list and panics reading the new rows. Preparing is cheap on SQLite.
        .statement_cache_capacity(0);
    Ok(SqlitePoolOptions::new()
        .max_connections(src.spec.pool.max_connections)
        .acquire_timeout(Duration::from_secs(
            src.spec.pool.connect_timeout_seconds as u64,
        ))
        .connect_lazy_with(opts))
}

pub(super) async fn run(
    pool: &SqlitePool,
    sql: &str,
    params: &[Value],
    limits: QueryLimits,
) -> Result<Fetched, EngineError> {
    let mut conn = pool.acquire().await.map_err(query_err)?;
    let work = async {
        let stmt = (&mut *conn).prepare(sql).await.map_err(query_err)?;
        let columns = columns_of(&stmt);
        let convert = SqliteRows::new(stmt.columns());
        let q = bind_all::<Sqlite>(stmt.query(), params);
        let (rows, truncated) = take_rows(
            q.fetch(&mut *conn),
            limits.row_limit,
            |r| convert.row(r),
            query_err,
            None,
        )
        .await?;
        Ok::<_, EngineError>(Fetched {
            columns,
            rows,
            truncated,
            masked: None,
        })
    };
    match tokio::time::timeout(limits.timeout, work).await {
        Ok(r) => r,
        Err(_) => {
            drop(conn.detach());
            Err(EngineError::Timeout(limits.timeout))
        }
    }
}

pub(super) async fn version(pool: &SqlitePool) -> Result<String, EngineError> {
    let v: String = sqlx::query_scalar("SELECT sqlite_version()")
        .fetch_one(pool)
        .await
        .map_err(query_err)?;
    Ok(format!("SQLite {v}"))
}

pub(super) async fn schema(pool: &SqlitePool) -> Result<SchemaInfo, EngineError> {
    let rows = sqlx::query(
        "SELECT m.name, p.name, p.type, p.\"notnull\" FROM sqlite_master m
         JOIN pragma_table_info(m.name) p
         WHERE m.type IN ('table', 'view') AND m.name NOT LIKE 'sqlite_%'
         ORDER BY m.name, p.cid",
    )
    .fetch_all(pool)
    .await
    .map_err(query_err)?;
    Ok(super::group_tables(
        rows.into_iter()
            .map(|r| {
                (
                    None,
                    r.get::<String, _>(0),
                    ColumnDef {
                        name: r.get(1),
                        type_name: r.get(2),
                        nullable: r.get::<i64, _>(3) == 0,
                    },
                )
            })
            .collect(),
    ))
}

/// Prepares `sql` without running it: SQLite resolves its tables and columns.
pub(super) async fn describe(pool: &SqlitePool, sql: &str) -> Result<(), EngineError> {
    let mut conn = pool.acquire().await.map_err(query_err)?;
    // A statement prepared on this connection before is answered from its cache, with the
    // columns it had then: a check after a schema change must ask the database again.
    sqlx::Connection::clear_cached_statements(&mut *conn)
        .await
        .map_err(query_err)?;
    (&mut *conn)
        .prepare(sql)
        .await
        .map(|_| ())
        .map_err(query_err)
}
