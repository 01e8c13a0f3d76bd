//! Reading a statement's plan from the database itself, for the performance suggestions.
//! A fresh connection per request rather than the source's pool: a plan request must neither
//! wait behind dashboards nor leave anything behind in a pooled session. The connection is
//! read-only, its statements are limited to 5 s, and TLS is as the source declares.
use std::time::Duration;

use serde_json::Value;
use sqlx::{
    sqlite::SqliteConnectOptions, Connection, Executor, MySqlConnection, PgConnection, Row,
    SqliteConnection,
};

use super::{mysql, postgres, EngineError, ResolvedSource};
use nexbii_crds::DataSourceType;

const STATEMENT_MS: u128 = 5_000;
const CONNECT: Duration = Duration::from_secs(10);

/// A plan as the database gives it.
#[derive(Clone, Debug)]
pub enum Plan {
    /// `EXPLAIN (VERBOSE, FORMAT JSON)`.
    Postgres(Value),
    /// `EXPLAIN FORMAT=JSON` (MySQL and MariaDB shapes differ; see the readers).
    Mysql(Value),
    /// `EXPLAIN QUERY PLAN`: the `detail` of each step.
    Sqlite(Vec<String>),
}

pub enum ExplainConn {
    Pg(PgConnection),
    My(MySqlConnection),
    Lite(SqliteConnection),
}

fn quote(ident: &str, q: char) -> String {
    format!("{q}{}{q}", ident.replace(q, &format!("{q}{q}")))
}

impl ExplainConn {
    pub async fn open(src: &ResolvedSource) -> Result<Self, EngineError> {
        let connect_err =
            |e: sqlx::Error| EngineError::Connect(e.to_string()).redact(src.password.as_deref());
        let timed_out = |_| EngineError::Connect("connecting timed out".into());
        match src.spec.source_type {
            DataSourceType::Postgresql => {
                let opts = postgres::connect_options(src).options([
                    ("default_transaction_read_only", "on"),
                    ("statement_timeout", "5000"),
                ]);
                let c = tokio::time::timeout(CONNECT, PgConnection::connect_with(&opts))
                    .await
                    .map_err(timed_out)?
                    .map_err(connect_err)?;
                Ok(Self::Pg(c))
            }
            DataSourceType::Mysql => {
                let opts = mysql::connect_options(src);
                let mut c = tokio::time::timeout(CONNECT, MySqlConnection::connect_with(&opts))
                    .await
                    .map_err(timed_out)?
                    .map_err(connect_err)?;
                // Executor methods on the connection, not `query.fetch(conn)`: the latter makes
                // the future's Send depend on a higher-ranked bound axum cannot prove.
                let conn = &mut c;
                let version = conn
                    .fetch_one(sqlx::raw_sql("SELECT VERSION()"))
                    .await
                    .map_err(connect_err)?;
                let mariadb = version
                    .try_get::<String, _>(0)
                    .map_err(connect_err)?
                    .to_ascii_lowercase()
                    .contains("mariadb");
                conn.execute(sqlx::raw_sql(&mysql::session_setup(mariadb, STATEMENT_MS)))
                    .await
                    .map_err(connect_err)?;
                Ok(Self::My(c))
            }
            DataSourceType::Sqlite => {
                let path = src.sqlite_path.as_ref().ok_or_else(|| {
                    EngineError::Config("sqlite source without a resolved path".into())
                })?;
                let opts = SqliteConnectOptions::new()
                    .filename(path)
                    .read_only(true)
                    .create_if_missing(false);
                let c = SqliteConnection::connect_with(&opts)
                    .await
                    .map_err(connect_err)?;
                Ok(Self::Lite(c))
            }
            DataSourceType::Mongodb => Err(EngineError::Config(
                "plans are read from SQL sources only".into(),
            )),
        }
    }

    /// The plan of `sql` (planned, not run).
    pub async fn plan(&mut self, sql: &str) -> Result<Plan, EngineError> {
        let err = |e: sqlx::Error| EngineError::Query(e.to_string());
        match self {
            Self::Pg(c) => {
                let row = sqlx::query(&format!("EXPLAIN (VERBOSE, FORMAT JSON) {sql}"))
                    .fetch_one(&mut *c)
                    .await
                    .map_err(err)?;
                let plan: sqlx::types::Json<Value> = row.try_get(0).map_err(err)?;
                Ok(Plan::Postgres(plan.0))
            }
            Self::My(c) => {
                let conn = &mut *c;
                let text = format!("EXPLAIN FORMAT=JSON {sql}");
                let row = conn.fetch_one(sqlx::raw_sql(&text)).await.map_err(err)?;
                let text: String = row.try_get(0).map_err(err)?;
                serde_json::from_str(&text)
                    .map(Plan::Mysql)
                    .map_err(|e| EngineError::Query(format!("unreadable plan: {e}")))
            }
            Self::Lite(c) => {
                let rows = sqlx::query(&format!("EXPLAIN QUERY PLAN {sql}"))
                    .fetch_all(&mut *c)
                    .await
                    .map_err(err)?;
                Ok(Plan::Sqlite(
                    rows.iter()
                        .filter_map(|r| r.try_get::<String, _>("detail").ok())
                        .collect(),
                ))
            }
        }
    }

    /// Rows in a table: the database's estimate where it keeps one (PostgreSQL's `reltuples`,
    /// MySQL's `TABLE_ROWS`), counted on SQLite (local files; no estimate is kept).
    pub async fn table_rows(
        &mut self,
        schema: Option<&str>,
        table: &str,
    ) -> Result<f64, EngineError> {
        let err = |e: sqlx::Error| EngineError::Query(e.to_string());
        match self {
            Self::Pg(c) => {
                let qualified = match schema {
                    Some(s) => format!("{}.{}", quote(s, '"'), quote(table, '"')),
                    None => quote(table, '"'),
                };
                let row = sqlx::query(
                    "SELECT greatest(reltuples, 0)::float8 FROM pg_class WHERE oid = to_regclass($1)",
                )
                .bind(qualified)
                .fetch_optional(&mut *c)
                .await
                .map_err(err)?;
                Ok(row.map(|r| r.get::<f64, _>(0)).unwrap_or(0.0))
            }
            Self::My(c) => {
                let conn = &mut *c;
                let q = sqlx::query(
                    "SELECT CAST(COALESCE(TABLE_ROWS, 0) AS SIGNED) FROM information_schema.TABLES \
                     WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?",
                )
                .bind(schema.map(str::to_string))
                .bind(table.to_string());
                let row = conn.fetch_optional(q).await.map_err(err)?;
                Ok(row.map(|r| r.get::<i64, _>(0) as f64).unwrap_or(0.0))
            }
            Self::Lite(c) => {
                let n: i64 =
                    sqlx::query_scalar(&format!("SELECT count(*) FROM {}", quote(table, '"')))
                        .fetch_one(&mut *c)
                        .await
                        .map_err(err)?;
                Ok(n as f64)
            }
        }
    }

    pub async fn close(self) {
        let _ = match self {
            Self::Pg(c) => c.close().await,
            Self::My(c) => c.close().await,
            Self::Lite(c) => c.close().await,
        };
    }
}
