//! PostgreSQL: every query runs in `BEGIN READ ONLY` with `statement_timeout`.
use std::time::Duration;

use nexbii_crds::TlsMode;
use serde_json::Value;
use sqlx::{
    pool::PoolConnection,
    postgres::PgArguments,
    postgres::{PgConnectOptions, PgPoolOptions, PgSslMode},
    query::Query,
    Executor, PgConnection, PgPool, Postgres, Row, Statement, TypeInfo,
};

use super::{
    convert::{columns_of, pg_row, take_rows},
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

/// Binds each JSON parameter as the type PostgreSQL inferred for its placeholder, so `$1`
/// compared with an INT4 column gets an INT4 (PostgreSQL does not cast binary parameters).
fn bind_typed<'q>(
    mut q: Query<'q, Postgres, PgArguments>,
    params: &[Value],
    types: &[String],
) -> Result<Query<'q, Postgres, PgArguments>, String> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
    for (i, p) in params.iter().enumerate() {
        let ty = types.get(i).map(String::as_str).unwrap_or("TEXT");
        let bad = || format!("parameter {}: {p} is not a valid {ty}", i + 1);
        let text = || match p {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if p.is_null() {
            q = q.bind(None::<String>);
            continue;
        }
        q = match ty {
            "BOOL" => q.bind(p.as_bool().ok_or_else(bad)?),
            "INT2" => q.bind(i16::try_from(p.as_i64().ok_or_else(bad)?).map_err(|_| bad())?),
            "INT4" => q.bind(i32::try_from(p.as_i64().ok_or_else(bad)?).map_err(|_| bad())?),
            "INT8" => q.bind(p.as_i64().ok_or_else(bad)?),
            "FLOAT4" => q.bind(p.as_f64().ok_or_else(bad)? as f32),
            "FLOAT8" => q.bind(p.as_f64().ok_or_else(bad)?),
            "NUMERIC" => q.bind(text().parse::<rust_decimal::Decimal>().map_err(|_| bad())?),
            "DATE" => q.bind(text().parse::<NaiveDate>().map_err(|_| bad())?),
            "TIMESTAMP" => q.bind(text().parse::<NaiveDateTime>().map_err(|_| bad())?),
            "TIMESTAMPTZ" => q.bind(text().parse::<DateTime<Utc>>().map_err(|_| bad())?),
            "UUID" => q.bind(text().parse::<uuid::Uuid>().map_err(|_| bad())?),
            "JSON" | "JSONB" => q.bind(sqlx::types::Json(p.clone())),
            _ => q.bind(text()),
        };
    }
    Ok(q)
}

fn map_err(e: sqlx::Error, limits: &QueryLimits) -> EngineError {
    if let sqlx::Error::Protocol(m) = &e {
        if m.starts_with("parameter ") {
            return EngineError::Refused(m.clone());
        }
    }
    if let sqlx::Error::Database(db) = &e {
        if db.code().as_deref() == Some("57014") {
            return EngineError::Timeout(limits.timeout);
        }
    }
    query_err(e)
}

async fn in_read_only_tx(
    conn: &mut PgConnection,
    sql: &str,
    params: &[Value],
    limits: &QueryLimits,
) -> Result<Fetched, sqlx::Error> {
    let ms = limits.timeout.as_millis().max(1);
    conn.execute(sqlx::raw_sql(&format!(
        "BEGIN READ ONLY; SET LOCAL statement_timeout = {ms}"
    )))
    .await?;
    let res = async {
        let stmt = (&mut *conn).prepare(sql).await?;
        let columns = columns_of(&stmt);
        let types: Vec<String> = match stmt.parameters() {
            Some(sqlx::Either::Left(types)) => types.iter().map(|t| t.name().to_string()).collect(),
            _ => Vec::new(),
        };
        let q = bind_typed(stmt.query(), params, &types).map_err(sqlx::Error::Protocol)?;
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
    match tokio::time::timeout(
        limits.timeout + GRACE,
        in_read_only_tx(&mut conn, sql, params, &limits),
    )
    .await
    {
        Ok(r) => r.map_err(|e| map_err(e, &limits)),
        Err(_) => {
            // The connection is mid-statement; never hand it back to the pool.
            drop(conn.detach());
            Err(EngineError::Timeout(limits.timeout))
        }
    }
}

pub(super) async fn run(
    pool: &PgPool,
    sql: &str,
    params: &[Value],
    limits: QueryLimits,
) -> Result<Fetched, EngineError> {
    let conn = pool.acquire().await.map_err(query_err)?;
    guarded(conn, sql, params, limits).await
}

pub(super) async fn version(pool: &PgPool) -> Result<String, EngineError> {
    let row = sqlx::query("SHOW server_version")
        .fetch_one(pool)
        .await
        .map_err(query_err)?;
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
