//! MySQL / MariaDB: `START TRANSACTION READ ONLY` plus the flavour's statement time limit.
use std::time::Duration;

use nexbii_crds::TlsMode;
use serde_json::Value;
use sqlx::{
    mysql::{MySqlConnectOptions, MySqlPoolOptions, MySqlSslMode},
    Executor, MySql, MySqlConnection, MySqlPool, Row, Statement,
};
use tokio::sync::OnceCell;

use super::{
    convert::{bind_all, columns_of, mysql_row, take_rows},
    query_err, ColumnDef, EngineError, Fetched, QueryLimits, ResolvedSource, SchemaInfo,
};

const GRACE: Duration = Duration::from_secs(2);

pub(super) struct MysqlPool {
    pool: MySqlPool,
    /// MariaDB and MySQL name their statement time limit differently; learned on first use.
    mariadb: OnceCell<bool>,
}

pub(super) fn pool(src: &ResolvedSource) -> Result<MysqlPool, EngineError> {
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
    Ok(MysqlPool {
        pool: MySqlPoolOptions::new()
            .max_connections(s.pool.max_connections)
            .acquire_timeout(Duration::from_secs(s.pool.connect_timeout_seconds as u64))
            .connect_lazy_with(opts),
        mariadb: OnceCell::new(),
    })
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

async fn in_read_only_tx(
    conn: &mut MySqlConnection,
    mariadb: bool,
    sql: &str,
    params: &[Value],
    limits: &QueryLimits,
) -> Result<Fetched, sqlx::Error> {
    let limit_stmt = if mariadb {
        format!(
            "SET SESSION max_statement_time = {:.3}",
            limits.timeout.as_secs_f64()
        )
    } else {
        format!(
            "SET SESSION max_execution_time = {}",
            limits.timeout.as_millis().max(1)
        )
    };
    conn.execute(sqlx::raw_sql(&limit_stmt)).await?;
    conn.execute(sqlx::raw_sql("START TRANSACTION READ ONLY"))
        .await?;
    let res = async {
        let stmt = (&mut *conn).prepare(sql).await?;
        let columns = columns_of(&stmt);
        let q = bind_all::<MySql>(stmt.query(), params);
        let (rows, truncated) = take_rows(q.fetch(&mut *conn), limits.row_limit, mysql_row).await?;
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

pub(super) async fn run(
    p: &MysqlPool,
    sql: &str,
    params: &[Value],
    limits: QueryLimits,
) -> Result<Fetched, EngineError> {
    let mariadb = *p
        .mariadb
        .get_or_try_init(|| async {
            let v: String = sqlx::query_scalar("SELECT VERSION()")
                .fetch_one(&p.pool)
                .await?;
            Ok::<_, sqlx::Error>(v.to_ascii_lowercase().contains("mariadb"))
        })
        .await
        .map_err(query_err)?;
    let mut conn = p.pool.acquire().await.map_err(query_err)?;
    match tokio::time::timeout(
        limits.timeout + GRACE,
        in_read_only_tx(&mut conn, mariadb, sql, params, &limits),
    )
    .await
    {
        Ok(r) => r.map_err(|e| map_err(e, &limits)),
        Err(_) => {
            drop(conn.detach());
            Err(EngineError::Timeout(limits.timeout))
        }
    }
}

pub(super) async fn version(p: &MysqlPool) -> Result<String, EngineError> {
    let v: String = sqlx::query_scalar("SELECT VERSION()")
        .fetch_one(&p.pool)
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
    .fetch_all(&p.pool)
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
