//! MySQL / MariaDB: every connection is set up once (`after_connect`) with
//! `SET SESSION TRANSACTION READ ONLY` and the flavour's statement time limit (MariaDB
//! `max_statement_time`, MySQL `max_execution_time`); a query is then one `COM_STMT_EXECUTE`
//! round trip on a statement prepared once per connection (sqlx's statement cache).
//!
//! Before: `SET SESSION <time limit>` (1), `START TRANSACTION READ ONLY` (1), prepare (cached),
//! execute (1), `ROLLBACK` (1): four round trips per query. Now one.
//!
//! Session state: in autocommit mode each statement is its own transaction, read-only because
//! the session's access mode is. A stored function could change session variables (MySQL has
//! no `RESET ALL`), so when a connection goes back to the pool it gets the same two settings
//! again before any other query can use it (sqlx closes it if that fails). Other session
//! variables a function might change (`sql_mode`, `time_zone`, user variables) were not reset
//! by the old per-query `ROLLBACK` either and are not reset now.
use std::{
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use nexbii_crds::TlsMode;
use serde_json::Value;
use sqlx::{
    mysql::{MySqlConnectOptions, MySqlPoolOptions, MySqlSslMode},
    Executor, MySql, MySqlConnection, MySqlPool, Row, Statement,
};

use super::{
    convert::{bind_all, mysql_columns, take_rows, MySqlRows},
    pipeline::ColumnMasks,
    query_err, ColumnDef, EngineError, Fetched, Plan, QueryLimits, ResolvedSource, SchemaInfo,
};

const GRACE: Duration = Duration::from_secs(2);

/// The time limit of a pool made before any query said which one it needs.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// One MySQL / MariaDB source: its connect options and a pool whose connections all carry the
/// same statement time limit. Keyed and replaced like the PostgreSQL pool (see `PgSource`): a
/// query that waited for a concurrency slot sets its own, shorter limit first, and the
/// release-time reset restores the pool's.
pub(super) struct MysqlPool {
    opts: MySqlConnectOptions,
    max_connections: u32,
    acquire_timeout: Duration,
    /// MariaDB and MySQL name their statement time limit differently; learned on first connect.
    mariadb: Arc<OnceLock<bool>>,
    pool: Mutex<Option<(u128, MySqlPool)>>,
}

/// Connection options of a source (also used for one-off connections, e.g. `EXPLAIN`).
pub(crate) fn connect_options(src: &ResolvedSource) -> MySqlConnectOptions {
    let s = &src.spec;
    let mut opts = MySqlConnectOptions::new()
        .host(s.host.as_deref().unwrap_or("localhost"))
        .port(s.port.unwrap_or(3306))
        .database(s.database.as_deref().unwrap_or_default())
        .username(s.username.as_deref().unwrap_or_default())
        .ssl_mode(match s.tls.mode {
            TlsMode::Disable => MySqlSslMode::Disabled,
            TlsMode::Prefer => MySqlSslMode::Preferred,
            TlsMode::Require => MySqlSslMode::Required,
            TlsMode::VerifyFull => MySqlSslMode::VerifyIdentity,
        });
    if let Some(p) = &src.password {
        opts = opts.password(p);
    }
    opts
}

pub(super) fn pool(src: &ResolvedSource) -> Result<MysqlPool, EngineError> {
    let s = &src.spec;
    let opts = connect_options(src);
    Ok(MysqlPool {
        opts,
        max_connections: s.pool.max_connections,
        acquire_timeout: Duration::from_secs(s.pool.connect_timeout_seconds as u64),
        mariadb: Arc::new(OnceLock::new()),
        pool: Mutex::new(None),
    })
}

fn millis(d: Duration) -> u128 {
    d.as_millis().max(1)
}

/// The statement time limit, in the flavour's variable and unit.
fn time_limit(mariadb: bool, ms: u128) -> String {
    if mariadb {
        format!(
            "SET SESSION max_statement_time = {}.{:03}",
            ms / 1000,
            ms % 1000
        )
    } else {
        format!("SET SESSION max_execution_time = {ms}")
    }
}

/// Read-only access mode and the time limit: one round trip (sqlx enables multi-statements).
pub(crate) fn session_setup(mariadb: bool, ms: u128) -> String {
    format!(
        "SET SESSION TRANSACTION READ ONLY; {}",
        time_limit(mariadb, ms)
    )
}

async fn is_mariadb(conn: &mut MySqlConnection) -> Result<bool, sqlx::Error> {
    let v: String = sqlx::query_scalar("SELECT VERSION()")
        .fetch_one(&mut *conn)
        .await?;
    Ok(v.to_ascii_lowercase().contains("mariadb"))
}

impl MysqlPool {
    fn pool_for(&self, timeout: Duration) -> MySqlPool {
        let ms = millis(timeout);
        let mut slot = self.pool.lock().expect("mysql pool lock");
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
    fn any_pool(&self) -> MySqlPool {
        let current = self
            .pool
            .lock()
            .expect("mysql pool lock")
            .as_ref()
            .map(|(_, p)| p.clone());
        current.unwrap_or_else(|| self.pool_for(DEFAULT_TIMEOUT))
    }

    fn build(&self, ms: u128) -> MySqlPool {
        let on_connect = self.mariadb.clone();
        let on_release = self.mariadb.clone();
        MySqlPoolOptions::new()
            .max_connections(self.max_connections)
            .acquire_timeout(self.acquire_timeout)
            .after_connect(move |conn, _| {
                let flavour = on_connect.clone();
                Box::pin(async move {
                    let mariadb = match flavour.get() {
                        Some(m) => *m,
                        None => {
                            let m = is_mariadb(conn).await?;
                            *flavour.get_or_init(|| m)
                        }
                    };
                    conn.execute(sqlx::raw_sql(&session_setup(mariadb, ms)))
                        .await?;
                    Ok(())
                })
            })
            .after_release(move |conn, _| {
                let mariadb = on_release.get().copied();
                Box::pin(async move {
                    // Set on connect, so always known here; unknown would mean close it.
                    let Some(mariadb) = mariadb else {
                        return Ok(false);
                    };
                    conn.execute(sqlx::raw_sql(&session_setup(mariadb, ms)))
                        .await?;
                    Ok(true)
                })
            })
            .connect_lazy_with(self.opts.clone())
    }
}

fn map_err(e: sqlx::Error, limits: &QueryLimits) -> EngineError {
    if let sqlx::Error::Database(db) = &e {
        // 1969: MariaDB max_statement_time; 3024: MySQL max_execution_time.
        let number = db
            .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
            .map(|e| e.number());
        if matches!(number, Some(1969) | Some(3024)) {
            return EngineError::Timeout(limits.timeout);
        }
    }
    query_err(e)
}

async fn run_one(
    conn: &mut MySqlConnection,
    sql: &str,
    params: &[Value],
    limits: &QueryLimits,
    preset: Duration,
    mariadb: Option<bool>,
    plan: &Plan,
) -> Result<Fetched, EngineError> {
    let err = |e: sqlx::Error| map_err(e, limits);
    if millis(limits.timeout) != millis(preset) {
        // Less time is left than the connection's limit (see `MysqlPool`).
        let mariadb = match mariadb {
            Some(m) => m,
            None => is_mariadb(conn).await.map_err(err)?,
        };
        conn.execute(sqlx::raw_sql(&time_limit(mariadb, millis(limits.timeout))))
            .await
            .map_err(err)?;
    }
    let stmt = (&mut *conn).prepare(sql).await.map_err(err)?;
    let mut convert = MySqlRows::default();
    let q = bind_all::<MySql>(stmt.query(), params);
    let prepared = mysql_columns(stmt.columns());
    let names: Vec<&str> = prepared.iter().map(|c| c.name.as_str()).collect();
    let masks = ColumnMasks::resolve(plan, &names).map(std::sync::Arc::new);
    let (rows, truncated) = take_rows(
        q.fetch(&mut *conn),
        limits.row_limit,
        |r| convert.row(r),
        err,
        masks.as_ref(),
    )
    .await?;
    // Without a row, the prepared statement's description is all there is.
    let columns = convert.described().unwrap_or(prepared);
    Ok(Fetched {
        columns,
        rows,
        truncated,
        masked: masks.map(|m| m.report.clone()),
    })
}

/// Runs `sql` with `limits`; `preset` is the caller's full timeout, which keys the pool.
pub(super) async fn run(
    p: &MysqlPool,
    sql: &str,
    params: &[Value],
    limits: QueryLimits,
    preset: Duration,
    plan: &Plan,
) -> Result<Fetched, EngineError> {
    let mut conn = p.pool_for(preset).acquire().await.map_err(query_err)?;
    let mariadb = p.mariadb.get().copied();
    match tokio::time::timeout(
        limits.timeout + GRACE,
        run_one(&mut conn, sql, params, &limits, preset, mariadb, plan),
    )
    .await
    {
        Ok(r) => r,
        Err(_) => {
            drop(conn.detach());
            Err(EngineError::Timeout(limits.timeout))
        }
    }
}

pub(super) async fn version(p: &MysqlPool) -> Result<String, EngineError> {
    let v: String = sqlx::query_scalar("SELECT VERSION()")
        .fetch_one(&p.any_pool())
        .await
        .map_err(query_err)?;
    let flavour = if v.to_ascii_lowercase().contains("mariadb") {
        "MariaDB"
    } else {
        "MySQL"
    };
    Ok(format!("{flavour} {v}"))
}

pub(super) async fn schema(p: &MysqlPool) -> Result<SchemaInfo, EngineError> {
    let rows = sqlx::query(
        "SELECT CAST(table_name AS CHAR), CAST(column_name AS CHAR), CAST(column_type AS CHAR),
                CAST(is_nullable AS CHAR)
         FROM information_schema.columns
         WHERE table_schema = DATABASE()
         ORDER BY table_name, ordinal_position",
    )
    .fetch_all(&p.any_pool())
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
                        nullable: r.get::<String, _>(3) == "YES",
                    },
                )
            })
            .collect(),
    ))
}

/// Prepares `sql` without running it: the server resolves its tables and columns.
pub(super) async fn describe(p: &MysqlPool, sql: &str) -> Result<(), EngineError> {
    let mut conn = p.any_pool().acquire().await.map_err(query_err)?;
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
