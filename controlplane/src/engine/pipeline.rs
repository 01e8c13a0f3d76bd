//! The one query pipeline. Ad-hoc queries, saved queries and dashboard widgets all run here,
//! through the same named stages:
//!
//! 1. `parse_guard`  — parse in the source's dialect, refuse anything but one read statement;
//! 2. `policy`       — every registered [`QueryPolicy`] may refuse the query or shape its plan
//!    (governance plugs in here: row filters, masking, approvals);
//! 3. `cache`        — answer from the result cache, partitioned by the plan;
//! 4. `execute`      — run on the source's pool with the timeout and row limit;
//! 5. `post_process` — name untyped columns, apply the plan to the rows;
//! 6. `record`       — metrics, the query log line and the performance figures
//!    (`telemetry::queries`: by fingerprint, source and user).
use std::{sync::Arc, time::Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{Engine, EngineError, Fetched, QueryLimits, QueryResult, ResolvedSource};
use crate::telemetry::queries::CacheUse;

/// Who runs a query, as the policy stage sees it.
#[derive(Clone, Debug)]
pub struct Access {
    pub user: String,
    pub role: String,
    /// Row-filter attributes that narrow the user's own (an embed token's row context): the
    /// filters apply with the user's attributes and again with these over them.
    pub row_context: std::collections::BTreeMap<String, String>,
}

impl Access {
    pub fn new(user: impl Into<String>, role: impl Into<String>) -> Self {
        Self {
            user: user.into(),
            role: role.into(),
            row_context: Default::default(),
        }
    }
}

/// One query to run.
pub struct QueryRequest<'a> {
    pub source: &'a ResolvedSource,
    pub text: &'a str,
    pub params: &'a [Value],
    pub limits: QueryLimits,
    pub access: &'a Access,
    pub use_cache: bool,
    /// Cached results older than this are not reused (the tenant's `query.cacheTtlSeconds`;
    /// the cache itself keeps nothing longer than the instance's TTL). `None`: the cache's TTL.
    pub cache_max_age: Option<std::time::Duration>,
}

/// What the guard accepted.
#[derive(Clone, Debug)]
pub struct Checked {
    /// Normalized statement (the cache key's text).
    pub normalized: String,
    /// The statement in the source's placeholder style, and how to order the parameters.
    pub native: super::placeholders::Native,
    /// The statement with its literals stripped (performance figures group by it).
    pub fingerprint: crate::telemetry::fingerprint::Fingerprint,
}

/// How the query runs for this caller. Policies refine it; results are cached per plan.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// Results are shared only between callers with the same partition.
    pub cache_partition: String,
    /// The statement to run instead of the caller's (row filters rewrite it); same
    /// placeholders, same output columns.
    pub sql: Option<String>,
    /// Output columns to mask, by position (SQL) or name (MongoDB).
    pub masks: Vec<OutputMask>,
    /// How many output columns the masks were planned for; a result with another count
    /// (the catalog was out of date) gets `fallback` on every column.
    pub expected_columns: Option<usize>,
    /// The action for columns that could not be matched to the plan (fail closed).
    pub fallback: Option<OutputMask>,
    /// Output names the masks were planned for, when they are matched by name (MongoDB):
    /// a column of another name gets `fallback`.
    pub planned_names: Vec<String>,
    /// Key of stable, keyed hashes (`hash` masking).
    pub hash_key: Vec<u8>,
}

/// One output column's masking.
#[derive(Clone, Debug)]
pub struct OutputMask {
    pub index: usize,
    pub name: String,
    pub action: nexbii_crds::MaskAction,
    /// Reported to the caller.
    pub why: MaskedColumn,
}

/// A masked column as the response reports it.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MaskedColumn {
    pub column: String,
    #[schema(value_type = String)]
    pub action: nexbii_crds::MaskAction,
    /// Sensitivity level that governs it.
    #[schema(value_type = String)]
    pub level: nexbii_crds::SensitivityLevel,
    /// Why: the classified source columns it derives from, or "lineage unresolved".
    pub reason: String,
}

/// A stage-2 decision maker: may refuse the query or refine its plan.
#[async_trait::async_trait]
pub trait QueryPolicy: Send + Sync {
    async fn plan(
        &self,
        req: &QueryRequest<'_>,
        checked: &Checked,
        plan: &mut Plan,
    ) -> Result<(), EngineError>;
}

impl Engine {
    /// Runs one read-only query through every stage.
    pub async fn run_query(&self, req: QueryRequest<'_>) -> Result<QueryResult, EngineError> {
        let arrived = Instant::now();
        let checked = match self.parse_guard(&req) {
            Ok(c) => c,
            Err(e) => {
                self.record(&req, None, None, Err(&e), 0.0, CacheUse::Bypassed);
                return Err(e);
            }
        };
        let plan = match self.policy(&req, &checked).await {
            Ok(p) => p,
            Err(e) => {
                self.record(&req, Some(&checked), None, Err(&e), 0.0, CacheUse::Bypassed);
                return Err(e);
            }
        };
        let key = cache_key(&req, &checked, &plan);
        let use_cache = req.use_cache && req.cache_max_age != Some(std::time::Duration::ZERO);
        if use_cache {
            let fresh = |r: &QueryResult| match (req.cache_max_age, r.cached_at) {
                (Some(max), Some(at)) => chrono::Utc::now()
                    .signed_duration_since(at)
                    .to_std()
                    .is_ok_and(|age| age <= max),
                _ => true,
            };
            if let Some(hit) = self.cache.get(&key).await.filter(|h| fresh(h)) {
                self.metrics.cache_hits.inc();
                let mut r = (*hit).clone();
                r.cached = true;
                r.elapsed_ms = arrived.elapsed().as_secs_f64() * 1000.0;
                let ms = r.elapsed_ms;
                self.record(&req, Some(&checked), Some(&plan), Ok(&r), ms, CacheUse::Hit);
                return Ok(r);
            }
            self.metrics.cache_misses.inc();
        }
        let started = Instant::now();
        let params = checked.native.params(req.params);
        let sql = plan.sql.as_deref().unwrap_or(&checked.native.sql);
        let res = self
            .execute(req.source, sql, &params, req.limits, &plan)
            .await
            .map_err(|e| e.redact(req.source.password.as_deref()));
        let execution_ms = started.elapsed().as_secs_f64() * 1000.0;
        let result = res.map(|f| post_process(f, &plan, execution_ms));
        let cache_use = if use_cache {
            CacheUse::Miss
        } else {
            CacheUse::Bypassed
        };
        let (c, p) = (Some(&checked), Some(&plan));
        self.record(&req, c, p, result.as_ref(), execution_ms, cache_use);
        let mut result = result?;
        if use_cache {
            let stored = QueryResult {
                cached_at: Some(chrono::Utc::now()),
                ..result.clone()
            };
            self.cache.insert(key, Arc::new(stored)).await;
        }
        result.elapsed_ms = arrived.elapsed().as_secs_f64() * 1000.0;
        Ok(result)
    }

    /// Runs a query with the caller's access string (benchmarks and older call sites).
    pub async fn run(
        &self,
        src: &ResolvedSource,
        text: &str,
        params: &[Value],
        limits: QueryLimits,
        access: &str,
        use_cache: bool,
    ) -> Result<QueryResult, EngineError> {
        let access = Access::new("", access);
        self.run_query(QueryRequest {
            source: src,
            text,
            params,
            limits,
            access: &access,
            use_cache,
            cache_max_age: None,
        })
        .await
    }

    /// Stage 1. Verdicts are remembered per statement and dialect (parsing is pure).
    fn parse_guard(&self, req: &QueryRequest<'_>) -> Result<Checked, EngineError> {
        let t = req.source.spec.source_type;
        let mut h = Sha256::new();
        h.update(t.as_str().as_bytes());
        h.update([0]);
        h.update(req.text.as_bytes());
        let key: [u8; 32] = h.finalize().into();
        let verdict = self.verdicts.get_with(key, || {
            let native = super::placeholders::to_native(req.text, t).map_err(|r| r.0)?;
            let normalized = self.check(t, req.text).map_err(|e| match e {
                EngineError::Refused(m) => m,
                other => other.to_string(),
            })?;
            let fingerprint = match t {
                nexbii_crds::DataSourceType::Mongodb => {
                    crate::telemetry::fingerprint::of_json(&normalized)
                }
                _ => crate::telemetry::fingerprint::of_sql(
                    &normalized,
                    &*super::guard::dialect_for(t),
                ),
            };
            Ok(Checked {
                normalized,
                native,
                fingerprint,
            })
        });
        verdict.map_err(EngineError::Refused)
    }

    /// Stage 2.
    async fn policy(&self, req: &QueryRequest<'_>, checked: &Checked) -> Result<Plan, EngineError> {
        let mut plan = Plan {
            cache_partition: format!("role={}", req.access.role),
            ..Default::default()
        };
        for p in &self.policies {
            p.plan(req, checked, &mut plan).await?;
        }
        Ok(plan)
    }

    /// Stage 6.
    fn record(
        &self,
        req: &QueryRequest<'_>,
        checked: Option<&Checked>,
        plan: Option<&Plan>,
        res: Result<&QueryResult, &EngineError>,
        ms: f64,
        cache: CacheUse,
    ) {
        self.record_performance(req, checked, plan, res, ms, cache);
        // The request's audit entry lists the run: its fingerprint (literals stripped, so no
        // value of the statement), rows and masked column names — never a value.
        crate::audit::capture::query(|| crate::audit::QueryNote {
            datasource: req.source.name.clone(),
            fingerprint: checked
                .map(|c| c.fingerprint.text.to_string())
                .unwrap_or_else(|| "(not parsed)".into()),
            rows: res.ok().map(|r| r.row_count as u64),
            masked: res
                .map(|r| r.masked.iter().map(|m| m.column.clone()).collect())
                .unwrap_or_default(),
            outcome: res
                .map(|_| "ok")
                .unwrap_or_else(|e| e.outcome())
                .to_string(),
        });
        if cache == CacheUse::Hit {
            return;
        }
        let t = req.source.spec.source_type.as_str();
        let outcome = res.map(|_| "ok").unwrap_or_else(|e| e.outcome());
        if outcome != "refused" {
            self.metrics
                .query_duration
                .with_label_values(&[t])
                .observe(ms / 1000.0);
        }
        self.metrics
            .query_executions
            .with_label_values(&[t, outcome])
            .inc();
        let (tenant, source) = (req.source.tenant.tenant(), req.source.name.as_str());
        match res {
            Ok(r) => tracing::info!(
                tenant,
                datasource = source,
                user = %req.access.user,
                rows = r.row_count,
                elapsed_ms = ms,
                "query"
            ),
            Err(e) => {
                tracing::info!(tenant, datasource = source, user = %req.access.user, error = %e, "query failed")
            }
        }
    }
}

/// Stage 5.
fn post_process(mut fetched: Fetched, plan: &Plan, execution_ms: f64) -> QueryResult {
    infer_unknown_types(&mut fetched);
    let masked = apply_masks(&mut fetched, plan);
    QueryResult {
        row_count: fetched.rows.len(),
        columns: fetched.columns,
        rows: super::Rows::new(&fetched.rows),
        truncated: fetched.truncated,
        elapsed_ms: execution_ms,
        execution_ms,
        cached: false,
        cached_at: None,
        masked,
    }
}

/// Masks the planned columns in place, unless the driver already did while fetching; reports
/// what was masked.
fn apply_masks(f: &mut Fetched, plan: &Plan) -> Vec<MaskedColumn> {
    if let Some(done) = f.masked.take() {
        return done;
    }
    let names: Vec<&str> = f.columns.iter().map(|c| c.name.as_str()).collect();
    let Some(masks) = ColumnMasks::resolve(plan, &names) else {
        return Vec::new();
    };
    for row in f.rows.iter_mut() {
        masks.row(row);
    }
    masks.report
}

/// A plan's masks resolved against a result's columns: which cells to rewrite, and how.
///
/// Drivers that know a result's columns before its rows (PostgreSQL, MySQL) mask the rows in
/// batches beside the fetch (`convert::take_rows`), so masking overlaps with the database
/// sending the next rows instead of following the whole fetch as a second pass.
pub(crate) struct ColumnMasks {
    active: Vec<(usize, nexbii_crds::MaskAction)>,
    masker: crate::governance::mask::Masker,
    pub report: Vec<MaskedColumn>,
}

impl ColumnMasks {
    /// `None` when nothing is masked. Masks are matched by position when the result has the
    /// planned shape, by name when they carry no position (MongoDB); a result of another shape
    /// gets the fallback on every column (fail closed).
    pub(crate) fn resolve(plan: &Plan, names: &[&str]) -> Option<Self> {
        if plan.masks.is_empty() && plan.fallback.is_none() {
            return None;
        }
        let shape_ok = plan.expected_columns.is_none_or(|n| n == names.len());
        let mut active = Vec::new();
        let mut report = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let m = if !shape_ok {
                plan.fallback.as_ref()
            } else if plan.expected_columns.is_some() {
                plan.masks.iter().find(|m| m.index == i)
            } else {
                match plan.masks.iter().find(|m| m.name == *name) {
                    Some(m) => Some(m),
                    None if plan.planned_names.iter().any(|p| p == name) => None,
                    None => plan.fallback.as_ref(),
                }
            };
            if let Some(m) = m.filter(|m| m.action != nexbii_crds::MaskAction::None) {
                active.push((i, m.action));
                report.push(MaskedColumn {
                    column: (*name).to_string(),
                    ..m.why.clone()
                });
            }
        }
        Some(Self {
            active,
            masker: crate::governance::mask::Masker::new(&plan.hash_key),
            report,
        })
    }

    /// Masks one row in place (each masked cell rewritten in its own buffer).
    pub(crate) fn row(&self, row: &mut [Value]) {
        for (i, action) in &self.active {
            if let Some(v) = row.get_mut(*i) {
                self.masker.apply_in_place(*action, v);
            }
        }
    }
}

/// The plan's effect on the result: what runs and what is masked. Part of every cache key, so a
/// masked result is never served to a caller who sees clear values, and the other way round.
fn plan_signature(plan: &Plan) -> String {
    let mut sig = plan.sql.clone().unwrap_or_default();
    for m in plan.masks.iter().chain(plan.fallback.iter()) {
        sig.push_str(&format!("\u{1f}{}:{}:{:?}", m.index, m.name, m.action));
    }
    sig.push_str(&format!("\u{1f}{:?}", plan.expected_columns));
    sig.push_str(&plan.planned_names.join("\u{1f}"));
    sig
}

fn cache_key(req: &QueryRequest<'_>, checked: &Checked, plan: &Plan) -> [u8; 32] {
    let src = req.source;
    let mut h = Sha256::new();
    for part in [
        src.tenant.tenant(),
        &src.name,
        &src.revision.to_string(),
        &checked.normalized,
        &Value::Array(req.params.to_vec()).to_string(),
        &req.limits.row_limit.to_string(),
        &plan.cache_partition,
        &plan_signature(plan),
    ] {
        // Length-prefix every part so ("ab","c") and ("a","bc") differ.
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().into()
}

/// Computed SQLite columns have no declared type; name them after their first non-null value.
fn infer_unknown_types(f: &mut Fetched) {
    for (i, c) in f.columns.iter_mut().enumerate() {
        if !(c.type_name.is_empty() || c.type_name == "NULL") {
            continue;
        }
        let first = f.rows.iter().map(|r| &r[i]).find(|v| !v.is_null());
        c.type_name = match first {
            Some(Value::Number(n)) if n.is_i64() || n.is_u64() => "INTEGER",
            Some(Value::Number(_)) => "REAL",
            Some(Value::String(_)) => "TEXT",
            Some(Value::Bool(_)) => "BOOLEAN",
            Some(_) => "JSON",
            None => "NULL",
        }
        .into();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use nexbii_crds::{DataSourceSpec, DataSourceType, PoolSpec, TenantRef, TlsSpec};

    use super::*;
    use crate::{metrics::Metrics, store::TenantScope};

    /// Refuses any statement that mentions a table.
    struct DenyTable(&'static str);
    #[async_trait::async_trait]
    impl QueryPolicy for DenyTable {
        async fn plan(
            &self,
            _: &QueryRequest<'_>,
            c: &Checked,
            _: &mut Plan,
        ) -> Result<(), EngineError> {
            if c.normalized.contains(self.0) {
                return Err(EngineError::Refused(format!("{} is restricted", self.0)));
            }
            Ok(())
        }
    }

    /// Gives every user their own cached results.
    struct PerUser;
    #[async_trait::async_trait]
    impl QueryPolicy for PerUser {
        async fn plan(
            &self,
            r: &QueryRequest<'_>,
            _: &Checked,
            p: &mut Plan,
        ) -> Result<(), EngineError> {
            p.cache_partition = format!("user={}", r.access.user);
            Ok(())
        }
    }

    async fn source(dir: &std::path::Path) -> ResolvedSource {
        let path = dir.join("p.db");
        let opts = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true);
        let pool = sqlx::SqlitePool::connect_with(opts).await.unwrap();
        sqlx::query("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1), (2)")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
        ResolvedSource {
            tenant: TenantScope::new("acme").unwrap(),
            name: "s".into(),
            revision: 1,
            spec: DataSourceSpec {
                tenant_ref: TenantRef {
                    name: "acme".into(),
                },
                source_type: DataSourceType::Sqlite,
                display_name: None,
                host: None,
                port: None,
                database: None,
                username: None,
                path: Some("p.db".into()),
                password_secret_ref: None,
                tls: TlsSpec::default(),
                pool: PoolSpec::default(),
                query_timeout_seconds: None,
                schema_sync_interval_seconds: 0,
                suspend: false,
            },
            password: None,
            sqlite_path: Some(path),
        }
    }

    #[tokio::test]
    async fn policies_refuse_before_execution_and_partition_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let src = source(dir.path()).await;
        let engine = Engine::new(Metrics::new(), Duration::from_secs(60), 1_000)
            .with_policy(Arc::new(DenyTable("secret")))
            .with_policy(Arc::new(PerUser));
        let limits = QueryLimits {
            timeout: Duration::from_secs(5),
            row_limit: 10,
        };
        let (ann, bob) = (Access::new("ann", "viewer"), Access::new("bob", "viewer"));
        let run = |text: &'static str, access: Access| {
            let (engine, src) = (&engine, &src);
            async move {
                engine
                    .run_query(QueryRequest {
                        source: src,
                        text,
                        params: &[],
                        limits,
                        access: &access,
                        use_cache: true,
                        cache_max_age: None,
                    })
                    .await
            }
        };

        // The policy stage refuses; the table does not even exist, so execution never happened.
        let err = run("SELECT * FROM secret", ann.clone()).await.unwrap_err();
        assert!(
            matches!(&err, EngineError::Refused(m) if m.contains("restricted")),
            "{err:?}"
        );
        // The guard still comes first: a write is refused by stage 1, not reaching policies.
        let err = run("DELETE FROM t", ann.clone()).await.unwrap_err();
        assert!(
            matches!(&err, EngineError::Refused(m) if m.contains("only read")),
            "{err:?}"
        );

        let first = run("SELECT x FROM t ORDER BY x", ann.clone())
            .await
            .unwrap();
        assert_eq!((first.row_count, first.cached), (2, false));
        let hit = run("SELECT x FROM t ORDER BY x", ann.clone())
            .await
            .unwrap();
        assert!(hit.cached && hit.cached_at.is_some() && first.cached_at.is_none());
        assert_eq!(
            hit.execution_ms, first.execution_ms,
            "a hit reports the original execution time"
        );
        assert!(
            !run("SELECT x FROM t ORDER BY x", bob).await.unwrap().cached,
            "the plan's partition keeps users' cached results apart"
        );
    }

    fn mask(index: usize, name: &str, action: nexbii_crds::MaskAction) -> OutputMask {
        OutputMask {
            index,
            name: name.into(),
            action,
            why: MaskedColumn {
                column: name.into(),
                action,
                level: nexbii_crds::SensitivityLevel::Restricted,
                reason: "test".into(),
            },
        }
    }

    fn masked_row(plan: &Plan, names: &[&str], row: &[&str]) -> (Vec<Value>, Vec<String>) {
        let mut row: Vec<Value> = row.iter().map(|v| Value::from(*v)).collect();
        let Some(m) = ColumnMasks::resolve(plan, names) else {
            return (row, Vec::new());
        };
        m.row(&mut row);
        (row, m.report.iter().map(|r| r.column.clone()).collect())
    }

    #[test]
    fn column_masks_follow_the_plan_and_fail_closed_on_another_shape() {
        use nexbii_crds::MaskAction::{Nullify, Redact};
        let none = Plan::default();
        assert!(
            ColumnMasks::resolve(&none, &["a"]).is_none(),
            "no plan, no work"
        );

        // SQL: by position, for the planned number of columns.
        let by_position = Plan {
            masks: vec![mask(1, "b", Redact)],
            expected_columns: Some(2),
            fallback: Some(mask(usize::MAX, "*", Nullify)),
            ..Default::default()
        };
        let (row, report) = masked_row(&by_position, &["a", "renamed"], &["x", "y"]);
        assert_eq!(row, vec![Value::from("x"), Value::from("***")]);
        assert_eq!(report, vec!["renamed"], "reported under the result's name");
        // Another number of columns than planned: every column gets the fallback.
        let (row, report) = masked_row(&by_position, &["a", "b", "c"], &["x", "y", "z"]);
        assert_eq!(row, vec![Value::Null; 3]);
        assert_eq!(report, vec!["a", "b", "c"]);

        // MongoDB: by name; a planned name stays clear, an unplanned one gets the fallback.
        let by_name = Plan {
            masks: vec![mask(usize::MAX, "ssn", Redact)],
            planned_names: vec!["ssn".into(), "name".into()],
            fallback: Some(mask(usize::MAX, "*", Nullify)),
            ..Default::default()
        };
        let (row, report) = masked_row(&by_name, &["name", "ssn", "extra"], &["n", "s", "e"]);
        assert_eq!(row, vec![Value::from("n"), Value::from("***"), Value::Null]);
        assert_eq!(report, vec!["ssn", "extra"]);
    }

    #[tokio::test]
    async fn rows_masked_beside_the_fetch_keep_their_order_and_the_limit() {
        use std::sync::Arc;

        use super::super::convert::{take_rows, MASK_BATCH};
        let plan = Plan {
            masks: vec![mask(1, "secret", nexbii_crds::MaskAction::Redact)],
            expected_columns: Some(2),
            ..Default::default()
        };
        let masks = Arc::new(ColumnMasks::resolve(&plan, &["id", "secret"]).unwrap());
        let n = 2 * MASK_BATCH + 17;
        for (limit, available) in [(n, n), (n - 1, n), (10, 10)] {
            let stream = futures::stream::iter((0..available).map(Ok::<usize, sqlx::Error>));
            let (rows, truncated) = take_rows(
                stream,
                limit,
                |i| Ok(vec![Value::from(*i), Value::from(format!("clear {i}"))]),
                |e| EngineError::Query(e.to_string()),
                Some(&masks),
            )
            .await
            .unwrap();
            assert_eq!(rows.len(), limit.min(available));
            assert_eq!(truncated, available > limit);
            for (i, r) in rows.iter().enumerate() {
                assert_eq!(r[0], Value::from(i), "row {i} in its place");
                assert_eq!(r[1], Value::from("***"), "row {i} masked");
            }
        }
    }
}
