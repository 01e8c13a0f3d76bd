//! Query execution against tenants' data sources: guards, pooled connections, per-source
//! concurrency limits, timeouts, row limits and a result cache.
use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use nexbii_crds::{DataSourceSpec, DataSourceType};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::Semaphore;

use crate::{metrics::Metrics, store::TenantScope};

pub mod convert;
pub mod explain;
pub mod guard;
pub mod introspect;
mod invalidate;
mod mongo;
mod mysql;
pub mod performance;
pub mod pipeline;
pub mod placeholders;
mod postgres;
mod sqlite;

pub use invalidate::ForgetChangedSources;
pub use pipeline::{Access, Checked, MaskedColumn, OutputMask, Plan, QueryPolicy, QueryRequest};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    Refused(String),
    /// A governance policy does not let this caller run the query (403).
    #[error("{0}")]
    Denied(String),
    /// The statement touches data at this sensitivity level and needs an approval first.
    #[error("this query reads {0} data and needs an approval (POST /api/v1/approvals)")]
    ApprovalRequired(String),
    #[error("query exceeded the {0:?} timeout")]
    Timeout(Duration),
    #[error("cannot connect to data source: {0}")]
    Connect(String),
    #[error("query failed: {0}")]
    Query(String),
    /// A statement error with the 1-based character position the database pointed at.
    #[error("query failed: {0} (at character {1})")]
    QueryAt(String, usize),
    #[error("invalid data source configuration: {0}")]
    Config(String),
}

impl EngineError {
    pub(crate) fn outcome(&self) -> &'static str {
        match self {
            Self::Refused(_) => "refused",
            Self::Denied(_) | Self::ApprovalRequired(_) => "denied",
            Self::Timeout(_) => "timeout",
            _ => "error",
        }
    }

    /// Removes the source's password from driver messages, in case a driver ever echoes it.
    pub(crate) fn redact(self, secret: Option<&str>) -> Self {
        let Some(secret) = secret.filter(|s| !s.is_empty()) else {
            return self;
        };
        let r = |m: String| m.replace(secret, "***");
        match self {
            Self::Connect(m) => Self::Connect(r(m)),
            Self::Query(m) => Self::Query(r(m)),
            Self::QueryAt(m, at) => Self::QueryAt(r(m), at),
            Self::Config(m) => Self::Config(r(m)),
            other => other,
        }
    }
}

/// A data source ready to use: its spec plus the decrypted password (kept only in memory).
#[derive(Clone)]
pub struct ResolvedSource {
    pub tenant: TenantScope,
    pub name: String,
    pub revision: u64,
    pub spec: DataSourceSpec,
    pub password: Option<String>,
    /// SQLite file, already resolved and checked against the allowed roots.
    pub sqlite_path: Option<PathBuf>,
}

impl std::fmt::Debug for ResolvedSource {
    // Hand-written so the password can never end up in a log line through `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResolvedSource")
            .field("tenant", &self.tenant)
            .field("name", &self.name)
            .field("revision", &self.revision)
            .field("type", &self.spec.source_type)
            .finish()
    }
}

#[derive(Clone, Copy, Debug)]
pub struct QueryLimits {
    pub timeout: Duration,
    pub row_limit: usize,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ColumnInfo {
    pub name: String,
    #[serde(rename = "type")]
    pub type_name: String,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueryResult {
    pub columns: Vec<ColumnInfo>,
    /// Each row's values in column order (any JSON value).
    #[schema(value_type = Vec<Vec<Value>>)]
    pub rows: Rows,
    pub row_count: usize,
    /// More rows existed than the row limit allowed.
    pub truncated: bool,
    /// Time this answer took, cache hits included.
    pub elapsed_ms: f64,
    /// Time the database took when the result was produced (for a cache hit: back then).
    pub execution_ms: f64,
    pub cached: bool,
    /// When a cached result was stored; absent on a fresh result.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cached_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Columns whose values were masked for this caller, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub masked: Vec<MaskedColumn>,
}

/// Result rows, encoded to JSON once: a cached result is answered without encoding its rows
/// again (and cloning it for a response copies a pointer, not the rows).
#[derive(Clone, Debug)]
pub struct Rows(Arc<serde_json::value::RawValue>);

impl Rows {
    pub fn new(rows: &[Vec<Value>]) -> Self {
        let raw = serde_json::value::to_raw_value(rows)
            .unwrap_or_else(|_| serde_json::value::to_raw_value(&()).expect("null encodes"));
        Self(Arc::from(raw))
    }

    /// The rows as values again (for callers that inspect them).
    pub fn values(&self) -> Vec<Vec<Value>> {
        serde_json::from_str(self.0.get()).unwrap_or_default()
    }
}

impl Serialize for Rows {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

/// Rows as fetched from a driver: columns, at most `row_limit` rows, and whether more existed.
pub(crate) struct Fetched {
    pub columns: Vec<ColumnInfo>,
    pub rows: Vec<Vec<Value>>,
    pub truncated: bool,
    /// Set when the driver masked the rows while fetching them (see `pipeline::ColumnMasks`).
    pub masked: Option<Vec<MaskedColumn>>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionTest {
    pub ok: bool,
    pub server_version: String,
    pub latency_ms: f64,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct SchemaInfo {
    pub tables: Vec<TableInfo>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct TableInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    pub name: String,
    pub columns: Vec<ColumnDef>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ColumnDef {
    pub name: String,
    #[serde(rename = "type")]
    pub type_name: String,
    pub nullable: bool,
}

enum Pool {
    Postgres(postgres::PgSource),
    Mysql(mysql::MysqlPool),
    Sqlite(sqlx::SqlitePool),
    Mongo(mongodb::Database),
}

struct Conn {
    revision: u64,
    pool: Pool,
    permits: Semaphore,
}

type ConnKey = (String, String);

pub struct Engine {
    conns: Mutex<HashMap<ConnKey, Arc<Conn>>>,
    cache: moka::future::Cache<[u8; 32], Arc<QueryResult>>,
    metrics: Metrics,
    /// Stage-2 policies of the query pipeline, in order.
    policies: Vec<Arc<dyn QueryPolicy>>,
    /// Guard verdicts by statement digest: dashboards send the same statements over and over.
    verdicts: moka::sync::Cache<[u8; 32], Result<pipeline::Checked, String>>,
}

impl Engine {
    pub fn new(metrics: Metrics, cache_ttl: Duration, cache_max_cells: u64) -> Self {
        let cache = moka::future::Cache::builder()
            .time_to_live(cache_ttl)
            // Weigh results by cell count so one huge result cannot crowd out memory.
            .weigher(|_k, v: &Arc<QueryResult>| {
                (v.row_count.saturating_mul(v.columns.len().max(1)) + 1).min(u32::MAX as usize)
                    as u32
            })
            .max_capacity(cache_max_cells)
            .build();
        Self {
            conns: Mutex::new(HashMap::new()),
            cache,
            metrics,
            policies: Vec::new(),
            verdicts: moka::sync::Cache::new(10_000),
        }
    }

    /// Adds a stage-2 policy to the query pipeline (before the engine is shared).
    pub fn with_policy(mut self, policy: Arc<dyn QueryPolicy>) -> Self {
        self.policies.push(policy);
        self
    }

    fn conn(&self, src: &ResolvedSource) -> Result<Arc<Conn>, EngineError> {
        let key = (src.tenant.tenant().to_string(), src.name.clone());
        let mut conns = self.conns.lock().expect("engine lock");
        if let Some(c) = conns.get(&key).filter(|c| c.revision == src.revision) {
            return Ok(c.clone());
        }
        let pool = match src.spec.source_type {
            DataSourceType::Postgresql => Pool::Postgres(postgres::pool(src)?),
            DataSourceType::Mysql => Pool::Mysql(mysql::pool(src)?),
            DataSourceType::Sqlite => Pool::Sqlite(sqlite::pool(src)?),
            DataSourceType::Mongodb => Pool::Mongo(mongo::database(src)?),
        };
        let conn = Arc::new(Conn {
            revision: src.revision,
            pool,
            permits: Semaphore::new(src.spec.pool.max_concurrent_queries.max(1) as usize),
        });
        conns.insert(key, conn.clone());
        Ok(conn)
    }

    /// Drops the pooled connections of a removed or changed source.
    pub fn forget(&self, tenant: &TenantScope, name: &str) {
        self.conns
            .lock()
            .expect("engine lock")
            .remove(&(tenant.tenant().to_string(), name.to_string()));
    }

    /// Drops every pool of the tenant and every cached result (after a restore: revisions
    /// went back, so a revision no longer names one version of a source).
    pub fn forget_tenant(&self, tenant: &TenantScope) {
        self.conns
            .lock()
            .expect("engine lock")
            .retain(|(t, _), _| t != tenant.tenant());
        self.cache.invalidate_all();
    }

    /// Checks the statement without running it.
    pub fn check(&self, source_type: DataSourceType, text: &str) -> Result<String, EngineError> {
        let native =
            placeholders::to_native(text, source_type).map_err(|r| EngineError::Refused(r.0))?;
        let text = native.sql.as_str();
        match source_type {
            DataSourceType::Mongodb => guard::check_mongo(text)
                .map(|q| serde_json::json!({"c": q.collection, "p": q.pipeline}).to_string()),
            other => guard::check_sql(text, other),
        }
        .map_err(|r| EngineError::Refused(r.0))
    }

    async fn execute(
        &self,
        src: &ResolvedSource,
        text: &str,
        params: &[Value],
        limits: QueryLimits,
        plan: &Plan,
    ) -> Result<Fetched, EngineError> {
        let conn = self.conn(src)?;
        let deadline = Instant::now() + limits.timeout;
        // The caller's timeout: SQL drivers keep it as their connections' server-side timeout.
        let preset = limits.timeout;
        // Waiting for a slot counts against the timeout: a saturated source answers 504, not never.
        let (_permit, limits) = match conn.permits.try_acquire() {
            Ok(permit) => (permit, limits),
            Err(_) => {
                let permit = tokio::time::timeout(limits.timeout, conn.permits.acquire())
                    .await
                    .map_err(|_| EngineError::Timeout(limits.timeout))?
                    .expect("semaphore never closed");
                let remaining = deadline.saturating_duration_since(Instant::now());
                let limits = QueryLimits {
                    timeout: remaining.max(Duration::from_millis(1)),
                    ..limits
                };
                (permit, limits)
            }
        };
        // The database produces at most one row more than the limit, so `truncated` stays exact.
        // The statement already passed the guard (`run` checks first); the cap only bounds it.
        let cap = limits.row_limit as u64 + 1;
        let capped = match src.spec.source_type {
            DataSourceType::Mongodb => None,
            t => guard::with_row_cap(text, t, cap).ok(),
        };
        let sql = capped.as_deref().unwrap_or(text);
        match &conn.pool {
            Pool::Postgres(p) => postgres::run(p, sql, params, limits, preset, plan).await,
            Pool::Mysql(p) => mysql::run(p, sql, params, limits, preset, plan).await,
            Pool::Sqlite(p) => sqlite::run(p, sql, params, limits).await,
            Pool::Mongo(db) => mongo::run(db, sql, params, limits).await,
        }
    }

    /// Checks a statement against the source without running it (tables, columns, types).
    pub async fn describe(&self, src: &ResolvedSource, text: &str) -> Result<(), EngineError> {
        self.check(src.spec.source_type, text)?;
        let native = placeholders::to_native(text, src.spec.source_type)
            .map_err(|r| EngineError::Refused(r.0))?;
        let text = native.sql.as_str();
        let conn = self.conn(src)?;
        let timeout = Duration::from_secs(src.spec.pool.connect_timeout_seconds.max(1) as u64);
        tokio::time::timeout(timeout, async {
            match &conn.pool {
                Pool::Postgres(p) => postgres::describe(p, text).await,
                Pool::Mysql(p) => mysql::describe(p, text).await,
                Pool::Sqlite(p) => sqlite::describe(p, text).await,
                // Aggregations are not prepared; the guard has checked their shape.
                Pool::Mongo(_) => Ok(()),
            }
        })
        .await
        .map_err(|_| EngineError::Connect(format!("no answer within {timeout:?}")))?
        .map_err(|e| e.redact(src.password.as_deref()))
    }

    pub async fn test_connection(
        &self,
        src: &ResolvedSource,
    ) -> Result<ConnectionTest, EngineError> {
        let conn = self.conn(src)?;
        let started = Instant::now();
        let timeout = Duration::from_secs(src.spec.pool.connect_timeout_seconds.max(1) as u64);
        let version = tokio::time::timeout(timeout, async {
            match &conn.pool {
                Pool::Postgres(p) => postgres::version(p).await,
                Pool::Mysql(p) => mysql::version(p).await,
                Pool::Sqlite(p) => sqlite::version(p).await,
                Pool::Mongo(db) => mongo::version(db).await,
            }
        })
        .await
        .map_err(|_| EngineError::Connect(format!("no answer within {timeout:?}")))
        .and_then(|r| r)
        .map_err(|e| e.redact(src.password.as_deref()))?;
        Ok(ConnectionTest {
            ok: true,
            server_version: version,
            latency_ms: started.elapsed().as_secs_f64() * 1000.0,
        })
    }

    pub async fn schema(&self, src: &ResolvedSource) -> Result<SchemaInfo, EngineError> {
        let conn = self.conn(src)?;
        let res = match &conn.pool {
            Pool::Postgres(p) => postgres::schema(p).await,
            Pool::Mysql(p) => mysql::schema(p).await,
            Pool::Sqlite(p) => sqlite::schema(p).await,
            Pool::Mongo(db) => mongo::schema(db).await,
        };
        res.map_err(|e| e.redact(src.password.as_deref()))
    }
}

/// Groups rows into [`ColumnDef`] lists per table, preserving order.
pub(crate) fn group_tables(rows: Vec<(Option<String>, String, ColumnDef)>) -> SchemaInfo {
    let mut tables: Vec<TableInfo> = Vec::new();
    for (schema, table, col) in rows {
        match tables.last_mut() {
            Some(t) if t.name == table && t.schema == schema => t.columns.push(col),
            _ => tables.push(TableInfo {
                schema,
                name: table,
                columns: vec![col],
            }),
        }
    }
    SchemaInfo { tables }
}

/// Resolves a SQLite path against `base`; `None` when it escapes `base` (API-created sources).
pub fn resolve_confined(base: &Path, rel: &str) -> Option<PathBuf> {
    let p = Path::new(rel);
    if p.is_absolute()
        || p.components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return None;
    }
    Some(base.join(p))
}

pub(crate) fn query_err(e: sqlx::Error) -> EngineError {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolClosed
        | sqlx::Error::Configuration(_) => EngineError::Connect(e.to_string()),
        sqlx::Error::Database(db) if refuses_connection(db.as_ref()) => {
            EngineError::Connect(db.message().to_string())
        }
        sqlx::Error::Database(db) => {
            let position = db
                .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                .and_then(|pg| match pg.position() {
                    Some(sqlx::postgres::PgErrorPosition::Original(at)) => Some(at),
                    _ => None,
                });
            match position {
                Some(at) => EngineError::QueryAt(db.message().to_string(), at),
                None => EngineError::Query(db.message().to_string()),
            }
        }
        other => EngineError::Query(other.to_string()),
    }
}

/// Database errors that are about reaching the data, not about the statement: refused
/// credentials, a database that does not exist, a server that cannot take connections.
fn refuses_connection(db: &dyn sqlx::error::DatabaseError) -> bool {
    if let Some(my) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        // 1044/1045 access denied, 1049 unknown database, 1040 too many connections.
        return matches!(my.number(), 1040 | 1044 | 1045 | 1049);
    }
    let code = db.code().unwrap_or_default();
    // PostgreSQL SQLSTATE classes 08 (connection), 28 (authorization), 3D (unknown database),
    // 53 (insufficient resources), and 57P03 (cannot connect now).
    ["08", "28", "3D", "53"].iter().any(|c| code.starts_with(c)) || code == "57P03"
}
