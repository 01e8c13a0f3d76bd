//! PostgreSQL: every query runs in `BEGIN READ ONLY` with `statement_timeout`.
use std::time::Duration;

use nexbii_crds::TlsMode;
use serde_json::Value;
use sqlx::{
    Statement,
    pool::PoolConnection,
    postgres::{PgConnectOptions, PgPoolOptions, PgSslMode},
    Executor, PgConnection, PgPool, Postgres, Row,
};

use super::{
    convert::{bind_all, columns_of, pg_row, take_rows},
    query_err, ColumnDef, EngineError, Fetched, QueryLimits, ResolvedSource, SchemaInfo,
};

/// Extra time the client waits beyond the server-side timeout before it gives up on the connection.
const GRACE: Duration = Duration::from_secs(2);

pub(super) fn pool(src: &ResolvedSource) -> Result<PgPool, EngineError> {
    let s = &src.spec;
    let mut opts = PgConnectOptions::new()
        .host(s.host.as_deref().unwrap_or("localhost"))
        .port(s.port.unwrap_or(5432))
        .database(s.database.as_deref().unwrap_or_default())
        .username(s.username.as_deref().unwrap_or_default())
        .application_name("nexbii")
        .ssl_mode(match s.tls.mode {
            TlsMode::Disable => PgSslMode::Disable,
            TlsMode::Prefer => PgSslMode::Prefer,
            TlsMode::Require => PgSslMode::Require,
            TlsMode::VerifyFull => PgSslMode::VerifyFull,
        });
    if let Some(p) = &src.password {
        opts = opts.password(p);
    }
    Ok(PgPoolOptions::new()
        .max_connections(s.pool.max_connections)
        .acquire_timeout(Duration::from_secs(s.pool.connect_timeout_seconds as u64))
        .connect_lazy_with(opts))
}

fn map_err(e: sqlx::Error, limits: &QueryLimits) -> EngineError {
    if let sqlx::Error::Database(db) = &e {
        if db.code().as_deref() == Some("57014") {
            return EngineError::Timeout(limits.timeout);
        }
    }
    query_err(e)
}

async fn in_read_only_tx(conn: &mut PgConnection, sql: &str, params: &[Value], limits: &QueryLimits) -> Result<Fetched, sqlx::Error> {
    let ms = limits.timeout.as_millis().max(1);
    conn.execute(sqlx::raw_sql(&format!(
        "BEGIN READ ONLY; SET LOCAL statement_timeout = {ms}"
    )))
    .await?;
    let res = async {
        let stmt = (&mut *conn).prepare(sql).await?;
        let columns = columns_of(&stmt);
        let q = bind_all::<Postgres>(stmt.query(), params);
        let (rows, truncated) = take_rows(q.fetch(&mut *conn), limits.row_limit, pg_row).await?;
        Ok(Fetched {
            columns,
            rows,
            truncated,
        })
    }
    .await;
    conn.execute(sqlx::raw_sql("ROLLBACK")).await?;
    res
}

async fn guarded(
    mut conn: PoolConnection<Postgres>,
    sql: &str,
    params: &[Value],
    limits: QueryLimits,
) -> Result<Fetched, EngineError> {
    match tokio::time::timeout(limits.timeout + GRACE, in_read_only_tx(&mut conn, sql, params, &limits)).await {
        Ok(r) => r.map_err(|e| map_err(e, &limits)),
        Err(_) => {
            // The connection is mid-statement; never hand it back to the pool.
            drop(conn.detach());
            Err(EngineError::Timeout(limits.timeout))
        }
    }
}

pub(super) async fn run(pool: &PgPool, sql: &str, params: &[Value], limits: QueryLimits) -> Result<Fetched, EngineError> {
    let conn = pool.acquire().await.map_err(query_err)?;
    guarded(conn, sql, params, limits).await
}

pub(super) async fn version(pool: &PgPool) -> Result<String, EngineError> {
    let row = sqlx::query("SHOW server_version").fetch_one(pool).await.map_err(query_err)?;
    Ok(format!("PostgreSQL {}", row.get::<String, _>(0)))
}

pub(super) async fn schema(pool: &PgPool) -> Result<SchemaInfo, EngineError> {
    let rows = sqlx::query(
        "SELECT table_schema::text, table_name::text, column_name::text, data_type::text, is_nullable = 'YES'
         FROM information_schema.columns
         WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_schema NOT LIKE 'pg_toast%'
         ORDER BY table_schema, table_name, ordinal_position",
    )
    .fetch_all(pool)
    .await
    .map_err(query_err)?;
    Ok(super::group_tables(
        rows.into_iter()
            .map(|r| {
                (
                    Some(r.get::<String, _>(0)),
                    r.get::<String, _>(1),
                    ColumnDef {
                        name: r.get(2),
                        type_name: r.get(3),
                        nullable: r.get(4),
                    },
                )
            })
            .collect(),
    ))
}
