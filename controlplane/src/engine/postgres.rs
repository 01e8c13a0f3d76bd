//! PostgreSQL: every connection starts read-only (`default_transaction_read_only=on`) with the
//! query timeout as its `statement_timeout` (startup options, so no round trip), and every query
//! is one extended-protocol round trip (Bind/Execute/Sync) on a statement prepared once per
//! connection (sqlx's per-connection statement cache: `prepare` and `query` both look it up by
//! SQL text, so only a connection's first run of a text pays a Parse/Describe round trip).
//!
//! Before: `BEGIN READ ONLY; SET LOCAL statement_timeout` (1), prepare (cached), execute (1),
//! `ROLLBACK` (1): three round trips per query. Now one; sqlx's release-time ping and the reset
//! below run after the result is handed back, off the query's path.
//!
//! Session state: a query is one statement in its own implicit transaction, which commits, so a
//! session-level setting it changes would stay on the connection. The guard refuses `SET` and
//! `set_config()` (in expressions and in FROM), which leaves functions defined in the database
//! (a plpgsql function may call `set_config(..., false)` or `SET ROLE`). So every connection is
//! reset when it goes back to the pool: `SET SESSION AUTHORIZATION DEFAULT; RESET ALL` restores
//! the startup values (read-only, the timeout) and the login role before any other query can
//! use it; a connection whose reset fails is closed. Read-only cannot be lifted inside the
//! running statement: PostgreSQL refuses `transaction_read_only = off` once a query has run.
//! A new connection that did not start read-only (a pooler that drops startup options) is
//! refused. A transaction-pooling proxy cannot keep any session state: point sources at the
//! database or at a session-pooling proxy (or make the role read-only in the database).
use std::{sync::Mutex, time::Duration};

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
    convert::{columns_of, take_rows, PgRows},
    pipeline::ColumnMasks,
    query_err, ColumnDef, EngineError, Fetched, Plan, QueryLimits, ResolvedSource, SchemaInfo,
};

/// Extra time the client waits beyond the server-side timeout before it gives up on the connection.
const GRACE: Duration = Duration::from_secs(2);

/// `statement_timeout` of a pool made before any query said which one it needs.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Run on every connection returned to the pool (see the module docs).
/// Session advisory locks outlive a statement; a function could take one, so release them too.
const RESET_SESSION: &str =
    "SET SESSION AUTHORIZATION DEFAULT; RESET ALL; SELECT pg_advisory_unlock_all()";

/// One PostgreSQL source: its connect options and a pool whose connections all start with the
/// same `statement_timeout`.
///
/// The pool is keyed by that timeout: the caller's timeout (tenant and source limits) only
/// changes when those limits do, and then the pool is replaced (old connections close as they
/// come back). A query that waited for a concurrency slot has less time left than the key; it
/// sets its own `statement_timeout` first (one more round trip, only on a saturated source) and
/// the release-time reset restores the startup value.
pub(super) struct PgSource {
    opts: PgConnectOptions,
    max_connections: u32,
    acquire_timeout: Duration,
    pool: Mutex<Option<(u128, PgPool)>>,
}

/// Connection options of a source (also used for one-off connections, e.g. `EXPLAIN`).
pub(crate) fn connect_options(src: &ResolvedSource) -> PgConnectOptions {
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
    opts
}

pub(super) fn pool(src: &ResolvedSource) -> Result<PgSource, EngineError> {
    let s = &src.spec;
    let opts = connect_options(src);
    Ok(PgSource {
        opts,
        max_connections: s.pool.max_connections,
        acquire_timeout: Duration::from_secs(s.pool.connect_timeout_seconds as u64),
        pool: Mutex::new(None),
    })
}

fn millis(d: Duration) -> u128 {
    d.as_millis().max(1)
}

impl PgSource {
    /// The pool whose connections start with `statement_timeout = timeout`.
    fn pool_for(&self, timeout: Duration) -> PgPool {
        let ms = millis(timeout);
        let mut slot = self.pool.lock().expect("pg pool lock");
        match &*slot {
            Some((key, pool)) if *key == ms => pool.clone(),
            _ => {
                let pool = self.build(ms);
                *slot = Some((ms, pool.clone()));
                pool
            }
        }
    }

    /// The current pool, for connection tests and schema reads.
    fn any_pool(&self) -> PgPool {
        let current = self
            .pool
            .lock()
            .expect("pg pool lock")
            .as_ref()
            .map(|(_, p)| p.clone());
        current.unwrap_or_else(|| self.pool_for(DEFAULT_TIMEOUT))
    }

    fn build(&self, timeout_ms: u128) -> PgPool {
        let opts = self.opts.clone().options([
            ("default_transaction_read_only", "on".to_string()),
            ("statement_timeout", timeout_ms.to_string()),
        ]);
        PgPoolOptions::new()
            .max_connections(self.max_connections)
            .acquire_timeout(self.acquire_timeout)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    // Fail closed where startup options do not arrive (e.g. a pooler that drops
                    // them): once per connection, never per query.
                    let ro: String =
                        sqlx::query_scalar("SELECT current_setting('transaction_read_only')")
                            .fetch_one(&mut *conn)
                            .await?;
                    if ro != "on" {
                        return Err(sqlx::Error::Configuration(
                            "the connection did not start read-only (a pooler dropping startup \
                             options?)"
                                .into(),
                        ));
                    }
                    Ok(())
                })
            })
            .after_release(|conn, _| {
                Box::pin(async move {
                    conn.execute(sqlx::raw_sql(RESET_SESSION)).await?;
                    Ok(true)
                })
            })
            .connect_lazy_with(opts)
    }
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

async fn run_one(
    conn: &mut PgConnection,
    sql: &str,
    params: &[Value],
    limits: &QueryLimits,
    preset: Duration,
    plan: &Plan,
) -> Result<Fetched, EngineError> {
    let err = |e: sqlx::Error| map_err(e, limits);
    if millis(limits.timeout) != millis(preset) {
        // Less time is left than the connection's startup timeout (see `PgSource`).
        let ms = millis(limits.timeout);
        conn.execute(sqlx::raw_sql(&format!("SET statement_timeout = {ms}")))
            .await
            .map_err(err)?;
    }
    // Cached per connection: a round trip only the first time this connection sees `sql`.
    let stmt = (&mut *conn).prepare(sql).await.map_err(err)?;
    let columns = columns_of(&stmt);
    // A column NexBII cannot convert fails here, before the statement runs.
    let convert = PgRows::new(stmt.columns())?;
    let types: Vec<String> = match stmt.parameters() {
        Some(sqlx::Either::Left(types)) => types.iter().map(|t| t.name().to_string()).collect(),
        _ => Vec::new(),
    };
    let q = bind_typed(stmt.query(), params, &types).map_err(|m| err(sqlx::Error::Protocol(m)))?;
    let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    let masks = ColumnMasks::resolve(plan, &names).map(std::sync::Arc::new);
    let (rows, truncated) = take_rows(
        q.fetch(&mut *conn),
        limits.row_limit,
        |r| convert.row(r),
        err,
        masks.as_ref(),
    )
    .await?;
    Ok(Fetched {
        columns,
        rows,
        truncated,
        masked: masks.map(|m| m.report.clone()),
    })
}

async fn guarded(
    mut conn: PoolConnection<Postgres>,
    sql: &str,
    params: &[Value],
    limits: QueryLimits,
    preset: Duration,
    plan: &Plan,
) -> Result<Fetched, EngineError> {
    match tokio::time::timeout(
        limits.timeout + GRACE,
        run_one(&mut conn, sql, params, &limits, preset, plan),
    )
    .await
    {
        Ok(r) => r,
        Err(_) => {
            // The connection is mid-statement; never hand it back to the pool.
            drop(conn.detach());
            Err(EngineError::Timeout(limits.timeout))
        }
    }
}

/// Runs `sql` with `limits`; `preset` is the caller's full timeout, which keys the pool (it is
/// larger than `limits.timeout` only when the query waited for a concurrency slot).
pub(super) async fn run(
    src: &PgSource,
    sql: &str,
    params: &[Value],
    limits: QueryLimits,
    preset: Duration,
    plan: &Plan,
) -> Result<Fetched, EngineError> {
    let conn = src.pool_for(preset).acquire().await.map_err(query_err)?;
    guarded(conn, sql, params, limits, preset, plan).await
}

pub(super) async fn version(src: &PgSource) -> Result<String, EngineError> {
    let pool = &src.any_pool();
    let row = sqlx::query("SHOW server_version")
        .fetch_one(pool)
        .await
        .map_err(query_err)?;
    Ok(format!("PostgreSQL {}", row.get::<String, _>(0)))
}

pub(super) async fn schema(src: &PgSource) -> Result<SchemaInfo, EngineError> {
    let pool = &src.any_pool();
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

/// Prepares `sql` without running it: the server resolves its tables, columns and types.
pub(super) async fn describe(src: &PgSource, sql: &str) -> Result<(), EngineError> {
    let mut conn = src.any_pool().acquire().await.map_err(query_err)?;
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
