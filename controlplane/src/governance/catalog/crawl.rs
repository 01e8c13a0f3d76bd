//! The crawler: fills a tenant's catalog from one data source. Bounded (at most
//! [`SAMPLE_ROWS`] sampled rows per table, at most `max_tables` tables per run, a few tables
//! at a time), incremental (a table whose columns and row estimate did not change keeps its
//! profile) and cancellable (checked between tables).
use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
};

use chrono::Utc;
use futures::StreamExt;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::{
    detect::Detector,
    model::{CatalogColumn, CatalogTable, ColumnProfile, TopValue},
};
use crate::{
    bi::datasources::{domain as sources, status::SourceStatus, DataSourceRecord},
    engine::{introspect::TableDetails, ResolvedSource, TableInfo},
    http::{ApiError, ApiResult},
    state::AppState,
    store::{write::Actor, Expect, ListQuery, StoreExt, TenantScope},
};

/// Rows sampled per table for profiles and classification.
pub const SAMPLE_ROWS: usize = 10_000;
/// Tables profiled at the same time.
const PARALLEL_TABLES: usize = 4;
/// Most frequent values kept per column.
const TOP_VALUES: usize = 5;

#[derive(Clone, Copy, Debug)]
pub struct CrawlOptions {
    /// Profile and classify every table again, changed or not.
    pub force: bool,
    pub max_tables: usize,
}

impl Default for CrawlOptions {
    fn default() -> Self {
        Self {
            force: false,
            max_tables: 500,
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CrawlReport {
    pub data_source: String,
    pub tables: usize,
    /// Tables sampled and profiled in this run.
    pub profiled: usize,
    /// Tables left as they were (unchanged since their last profile).
    pub unchanged: usize,
    /// Columns with a classification after the run, by level.
    pub classified: BTreeMap<String, usize>,
    /// Tables no longer in the source.
    pub dropped: Vec<String>,
    /// Columns that disappeared from tables still present (`table.column`).
    pub dropped_columns: Vec<String>,
    /// Columns whose sensitivity changed in this run.
    pub classification_changes: Vec<ClassificationChange>,
    /// More tables than `maxTables`: the rest waits for the next run.
    pub truncated: bool,
    pub cancelled: bool,
    pub errors: Vec<String>,
}

/// Running crawls, one per (tenant, source); a second request for the same source joins none
/// and is refused with 409 while the first runs.
#[derive(Default)]
pub struct Crawls {
    running: Mutex<HashMap<(String, String), Arc<AtomicBool>>>,
}

impl Crawls {
    fn start(&self, scope: &TenantScope, source: &str) -> Option<CrawlGuard<'_>> {
        let key = (scope.tenant().to_string(), source.to_string());
        let mut running = self.running.lock().expect("crawls lock");
        if running.contains_key(&key) {
            return None;
        }
        let flag = Arc::new(AtomicBool::new(false));
        running.insert(key.clone(), flag.clone());
        Some(CrawlGuard {
            crawls: self,
            key,
            cancel: flag,
        })
    }

    /// Waits (up to two minutes) for a running crawl of the same source to finish, so a crawl
    /// asked for now reflects the source as it is now.
    async fn start_when_free(
        &self,
        scope: &TenantScope,
        source: &str,
    ) -> ApiResult<CrawlGuard<'_>> {
        for _ in 0..1200 {
            if let Some(g) = self.start(scope, source) {
                return Ok(g);
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        Err(ApiError::Conflict(format!(
            "a catalog sync of {source} has been running for two minutes; try again later"
        )))
    }

    /// Asks a running crawl to stop after its current tables. `false` when none runs.
    pub fn cancel(&self, scope: &TenantScope, source: &str) -> bool {
        let key = (scope.tenant().to_string(), source.to_string());
        match self.running.lock().expect("crawls lock").get(&key) {
            Some(flag) => {
                flag.store(true, Ordering::SeqCst);
                true
            }
            None => false,
        }
    }
}

struct CrawlGuard<'a> {
    crawls: &'a Crawls,
    key: (String, String),
    cancel: Arc<AtomicBool>,
}

impl Drop for CrawlGuard<'_> {
    fn drop(&mut self) {
        self.crawls
            .running
            .lock()
            .expect("crawls lock")
            .remove(&self.key);
    }
}

/// Tables sampled at once: never every query slot of the source, so people's queries do not
/// queue behind a crawl.
fn parallel_tables(rec: &DataSourceRecord) -> usize {
    let slots = rec.spec.pool.max_concurrent_queries as usize;
    PARALLEL_TABLES.min(slots.saturating_sub(1)).max(1)
}

/// Crawls one source now.
pub async fn crawl(
    state: &AppState,
    scope: &TenantScope,
    rec: &DataSourceRecord,
    opts: CrawlOptions,
) -> ApiResult<CrawlReport> {
    let guard = state
        .governance
        .crawls
        .start_when_free(scope, &rec.name)
        .await?;
    let src = sources::resolve(state, scope, rec)?;
    let engine_err = sources::engine_error(&rec.name);
    let schema = state.engine.schema(&src).await.map_err(&engine_err)?;
    let settings = crate::admin::settings::effective(state, scope).await?;
    let timeout = crate::bi::queries::domain::limits_for(
        &settings.settings.query,
        rec.spec.query_timeout_seconds,
        None,
    )
    .timeout;
    let details = state
        .engine
        .table_details(&src, timeout)
        .await
        .map_err(&engine_err)?;
    let detector = Detector::for_tenant(state, scope).await?;
    let existing: HashMap<String, CatalogTable> = existing(state, scope, &rec.name).await?;
    let mut report = CrawlReport {
        data_source: rec.name.clone(),
        tables: schema.tables.len(),
        ..Default::default()
    };
    // Owned work items: the futures below must not borrow with lifetimes the compiler cannot
    // name across the stream combinators.
    let mut work: Vec<(TableInfo, Option<TableDetails>, Option<CatalogTable>)> = schema
        .tables
        .iter()
        .map(|t| {
            let d = details
                .iter()
                .find(|d| d.name == t.name && (d.schema == t.schema || d.schema.is_none()));
            let id = CatalogTable::make_id(&rec.name, t.schema.as_deref(), &t.name);
            (t.clone(), d.cloned(), existing.get(&id).cloned())
        })
        .collect();
    // Tables never crawled first, so a large source fills its catalog over successive runs.
    work.sort_by_key(|(_, _, old)| old.as_ref().map(|o| o.crawled_at));
    if work.len() > opts.max_tables {
        work.truncate(opts.max_tables);
        report.truncated = true;
    }
    let results: Vec<_> = futures::stream::iter(work.into_iter().map(|(t, d, old)| {
        let (src, detector, cancel) = (&src, &detector, guard.cancel.clone());
        async move {
            if cancel.load(Ordering::SeqCst) {
                return None;
            }
            let table = Table {
                info: t,
                details: d.as_ref(),
                old: old.as_ref(),
            };
            Some(crawl_table(state, src, detector, &rec.name, table, opts.force, timeout).await)
        }
    }))
    .buffer_unordered(parallel_tables(rec))
    .collect()
    .await;
    report.cancelled = guard.cancel.load(Ordering::SeqCst);
    for done in results.into_iter().flatten() {
        if done.profiled {
            report.profiled += 1;
        } else {
            report.unchanged += 1;
        }
        report.dropped_columns.extend(done.dropped_columns);
        report.errors.extend(done.error);
        report.classification_changes.extend(done.changes);
        let old = existing.get(&done.table.id);
        if !done.profiled && old.is_some_and(|o| same_but_crawl_time(&done.table, o)) {
            continue;
        }
        save(state, scope, done.table, old).await?;
    }
    if !report.cancelled && !report.truncated {
        report.dropped = mark_dropped(state, scope, &schema.tables, &rec.name, existing).await?;
    }
    report.classified = classified_counts(state, scope, &rec.name).await?;
    record_in_status(state, scope, &rec.name, &report).await?;
    state.governance.catalog_changed(scope);
    tell(state, scope, &report).await?;
    tracing::info!(tenant = scope.tenant(), datasource = %rec.name, tables = report.tables,
        profiled = report.profiled, unchanged = report.unchanged, cancelled = report.cancelled,
        "catalog crawled");
    Ok(report)
}

pub async fn existing(
    state: &AppState,
    scope: &TenantScope,
    source: &str,
) -> ApiResult<HashMap<String, CatalogTable>> {
    let mut out = HashMap::new();
    let mut cursor = None;
    loop {
        let q = ListQuery::default()
            .filter("dataSource", source)
            .limit(1000)
            .after(cursor);
        let page = state.store.page_as::<CatalogTable>(scope, &q).await?;
        out.extend(page.items.into_iter().map(|t| (t.id.clone(), t)));
        match page.next {
            Some(c) => cursor = Some(c),
            None => return Ok(out),
        }
    }
}

struct Crawled {
    table: CatalogTable,
    profiled: bool,
    dropped_columns: Vec<String>,
    /// Sampling failed (the table was classified by its column names only).
    error: Option<String>,
    changes: Vec<ClassificationChange>,
}

/// A column whose sensitivity changed in a crawl.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClassificationChange {
    pub table: String,
    pub column: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// One table to crawl: as the source describes it, and as the catalog has it.
struct Table<'a> {
    info: TableInfo,
    details: Option<&'a TableDetails>,
    old: Option<&'a CatalogTable>,
}

async fn crawl_table(
    state: &AppState,
    src: &ResolvedSource,
    detector: &Detector,
    source: &str,
    table: Table<'_>,
    force: bool,
    timeout: std::time::Duration,
) -> Crawled {
    let Table { info, details, old } = table;
    let digest = structure_digest(&info);
    let row_estimate = details.and_then(|d| d.row_estimate);
    let unchanged = old.is_some_and(|o| {
        o.structure_digest == digest && o.row_estimate == row_estimate && o.profiled_at.is_some()
    });
    let mut table = merge_structure(source, &info, details, old, digest);
    let dropped_columns = old
        .map(|o| {
            o.columns
                .iter()
                .filter(|c| table.column(&c.name).is_none())
                .map(|c| format!("{}.{}", table.qualified(), c.name))
                .collect()
        })
        .unwrap_or_default();
    if unchanged && !force {
        return Crawled {
            table,
            profiled: false,
            dropped_columns,
            error: None,
            changes: Vec::new(),
        };
    }
    // A table that cannot be sampled is still classified by its column names.
    let (sample, error) = match state
        .engine
        .sample(
            src,
            info.schema.as_deref(),
            &info.name,
            SAMPLE_ROWS,
            timeout,
        )
        .await
    {
        Ok(s) => (s, None),
        Err(e) => (
            crate::engine::introspect::Sample {
                columns: Vec::new(),
                rows: Vec::new(),
            },
            Some(format!("{}: {e}", table.qualified())),
        ),
    };
    let now = Utc::now();
    let mut changes = Vec::new();
    let qualified = table.qualified();
    for col in table.columns.iter_mut() {
        let values: Vec<&Value> = match sample.columns.iter().position(|c| *c == col.name) {
            Some(i) => sample.rows.iter().map(|r| &r[i]).collect(),
            None => Vec::new(),
        };
        let before = col.level();
        if let Some(c) = detector.classify(&info.name, col, &values, now) {
            col.classification = Some(c);
        }
        if col.level() != before {
            changes.push(ClassificationChange {
                table: qualified.clone(),
                column: col.name.clone(),
                from: before.map(level_name),
                to: col.level().map(level_name),
            });
        }
        if error.is_none() {
            col.profile = Some(profile(&values, col.is_sensitive()));
        }
    }
    table.profiled_at = error.is_none().then_some(now);
    Crawled {
        table,
        profiled: true,
        dropped_columns,
        error,
        changes,
    }
}

/// The table as the source has it now, keeping what people and earlier runs added.
fn merge_structure(
    source: &str,
    info: &TableInfo,
    details: Option<&TableDetails>,
    old: Option<&CatalogTable>,
    digest: String,
) -> CatalogTable {
    let pk: Vec<String> = details.map(|d| d.primary_key.clone()).unwrap_or_default();
    let columns = info
        .columns
        .iter()
        .map(|c| {
            let prev = old.and_then(|o| o.column(&c.name));
            CatalogColumn {
                name: c.name.clone(),
                type_name: c.type_name.clone(),
                nullable: c.nullable,
                primary_key: pk.contains(&c.name),
                profile: prev.and_then(|p| p.profile.clone()),
                classification: prev.and_then(|p| p.classification.clone()),
                override_: prev.and_then(|p| p.override_.clone()),
                curation: prev.map(|p| p.curation.clone()).unwrap_or_default(),
            }
        })
        .collect();
    CatalogTable {
        id: CatalogTable::make_id(source, info.schema.as_deref(), &info.name),
        data_source: source.to_string(),
        schema: info.schema.clone(),
        name: info.name.clone(),
        kind: details.map_or_else(|| "table".into(), |d| d.kind.clone()),
        row_estimate: details.and_then(|d| d.row_estimate),
        primary_key: pk,
        foreign_keys: details.map(|d| d.foreign_keys.clone()).unwrap_or_default(),
        columns,
        structure_digest: digest,
        crawled_at: Utc::now(),
        profiled_at: old.and_then(|o| o.profiled_at),
        dropped: false,
        curation: old.map(|o| o.curation.clone()).unwrap_or_default(),
        history: old.map(|o| o.history.clone()).unwrap_or_default(),
        meta: old.map(|o| o.meta.clone()).unwrap_or_default(),
    }
}

/// Nothing changed but the crawl time: not worth a write (and a new revision).
fn same_but_crawl_time(new: &CatalogTable, old: &CatalogTable) -> bool {
    let mut n = new.clone();
    n.crawled_at = old.crawled_at;
    serde_json::to_value(&n).ok() == serde_json::to_value(old).ok()
}

fn structure_digest(t: &TableInfo) -> String {
    let mut h = Sha256::new();
    for c in &t.columns {
        h.update(c.name.as_bytes());
        h.update([0]);
        h.update(c.type_name.as_bytes());
        h.update([u8::from(c.nullable)]);
    }
    hex::encode(h.finalize())
}

/// Null share, distinct count, min/max and top values of one column's sample. Values of a
/// sensitive column are withheld: only counts are kept.
pub fn profile(values: &[&Value], sensitive: bool) -> ColumnProfile {
    let non_null: Vec<&Value> = values.iter().copied().filter(|v| !v.is_null()).collect();
    let mut counts: HashMap<String, (u64, &Value)> = HashMap::new();
    for v in &non_null {
        counts.entry(v.to_string()).or_insert((0, v)).0 += 1;
    }
    let mut p = ColumnProfile {
        sampled_rows: values.len() as u64,
        null_fraction: if values.is_empty() {
            0.0
        } else {
            (values.len() - non_null.len()) as f64 / values.len() as f64
        },
        distinct: counts.len() as u64,
        values_withheld: sensitive,
        ..Default::default()
    };
    if sensitive {
        return p;
    }
    p.min = non_null
        .iter()
        .min_by(|a, b| cmp_values(a, b))
        .map(|v| (*v).clone());
    p.max = non_null
        .iter()
        .max_by(|a, b| cmp_values(a, b))
        .map(|v| (*v).clone());
    let mut top: Vec<(u64, &Value)> = counts.into_values().collect();
    top.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| cmp_values(a.1, b.1)));
    p.top_values = top
        .into_iter()
        .take(TOP_VALUES)
        .map(|(count, v)| TopValue {
            value: v.clone(),
            count,
        })
        .collect();
    p
}

/// Numbers by value, everything else by its text.
fn cmp_values(a: &Value, b: &Value) -> std::cmp::Ordering {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        _ => match (a, b) {
            (Value::String(x), Value::String(y)) => x.cmp(y),
            _ => a.to_string().cmp(&b.to_string()),
        },
    }
}

async fn save(
    state: &AppState,
    scope: &TenantScope,
    table: CatalogTable,
    old: Option<&CatalogTable>,
) -> ApiResult<()> {
    let expect = old.map_or(Expect::Absent, |o| Expect::Revision(o.meta.revision));
    state
        .writer
        .save(scope, &Actor::System, table, expect)
        .await?;
    Ok(())
}

/// Tables gone from the source: removed, or kept as `dropped` while people's notes refer to them.
async fn mark_dropped(
    state: &AppState,
    scope: &TenantScope,
    present: &[TableInfo],
    source: &str,
    existing: HashMap<String, CatalogTable>,
) -> ApiResult<Vec<String>> {
    let ids: Vec<String> = present
        .iter()
        .map(|t| CatalogTable::make_id(source, t.schema.as_deref(), &t.name))
        .collect();
    let mut dropped = Vec::new();
    for (id, mut t) in existing {
        if ids.contains(&id) || t.dropped {
            continue;
        }
        dropped.push(t.qualified());
        if t.curation == Default::default() && t.columns.iter().all(|c| c.override_.is_none()) {
            state
                .writer
                .delete::<CatalogTable>(scope, &Actor::System, &id, Some(t.meta.revision))
                .await?;
        } else {
            t.dropped = true;
            let rev = t.meta.revision;
            state
                .writer
                .save(scope, &Actor::System, t, Expect::Revision(rev))
                .await?;
        }
    }
    dropped.sort();
    Ok(dropped)
}

/// Admins hear of classification changes; the owners of what a dropped table or column breaks
/// (and admins) hear of the breakage, with the impacted queries, widgets and dashboards.
async fn tell(state: &AppState, scope: &TenantScope, report: &CrawlReport) -> ApiResult<()> {
    use crate::events::{emit, Notice};
    let admins = crate::auth::users::admin_usernames(state, scope).await?;
    let source = &report.data_source;
    if !report.classification_changes.is_empty() {
        let notice = Notice {
            kind: "classification.changed",
            title: format!("Classification changed in {source}"),
            body: format!(
                "{} column(s) of {source} changed sensitivity.",
                report.classification_changes.len()
            ),
            link: Some(format!("/api/v1/catalog/datasources/{source}/tables")),
        };
        let data =
            serde_json::json!({"dataSource": source, "changes": report.classification_changes});
        emit(state, scope, &admins, &notice, data).await?;
    }
    let gone: Vec<(String, Option<String>)> = report
        .dropped
        .iter()
        .map(|t| (t.clone(), None))
        .chain(report.dropped_columns.iter().filter_map(|c| {
            let (t, col) = c.rsplit_once('.')?;
            Some((t.to_string(), Some(col.to_string())))
        }))
        .collect();
    if gone.is_empty() {
        return Ok(());
    }
    let graph = crate::governance::lineage_api::tenant_graph(state, scope).await?;
    let mut impacted = Vec::new();
    for (table, column) in &gone {
        impacted.extend(
            crate::governance::lineage_api::impact_of(&graph, source, table, column.as_deref())
                .impacted,
        );
    }
    if impacted.is_empty() {
        return Ok(());
    }
    let mut to = admins;
    for d in state
        .store
        .list_as::<crate::bi::dashboards::DashboardRecord>(scope)
        .await?
    {
        if impacted
            .iter()
            .any(|i| i.id == format!("dashboard:{}", d.name))
            && !to.contains(&d.owner)
        {
            to.push(d.owner);
        }
    }
    let notice = Notice {
        kind: "lineage.broken",
        title: format!("Lineage broken in {source}"),
        body: format!(
            "{} was dropped; {} queries, widgets or dashboards used it.",
            gone.iter()
                .map(|(t, c)| c.as_ref().map_or(t.clone(), |c| format!("{t}.{c}")))
                .collect::<Vec<_>>()
                .join(", "),
            impacted.len()
        ),
        link: Some(format!("/api/v1/lineage/impact?dataSource={source}")),
    };
    let data = serde_json::json!({"dataSource": source, "dropped": report.dropped, "droppedColumns": report.dropped_columns, "impacted": impacted});
    emit(state, scope, &to, &notice, data).await
}

/// The source's status says when its catalog was last complete and what is classified.
async fn record_in_status(
    state: &AppState,
    scope: &TenantScope,
    source: &str,
    report: &CrawlReport,
) -> ApiResult<()> {
    // Per-table errors and truncation are reported, but the catalog is usable: only a
    // cancelled run leaves it unfinished.
    let complete = !report.cancelled;
    let classified = report.classified.clone();
    state
        .writer
        .modify::<SourceStatus>(scope, &Actor::System, source, |s| {
            if complete {
                s.catalog_synced_at = Some(Utc::now());
            }
            s.classified = classified.clone();
        })
        .await?;
    Ok(())
}

pub async fn classified_counts(
    state: &AppState,
    scope: &TenantScope,
    source: &str,
) -> ApiResult<BTreeMap<String, usize>> {
    let mut counts = BTreeMap::new();
    for t in existing(state, scope, source).await?.values() {
        for c in &t.columns {
            if let Some(level) = c.level() {
                *counts.entry(level_name(level)).or_insert(0) += 1;
            }
        }
    }
    Ok(counts)
}

pub fn level_name(l: nexbii_crds::SensitivityLevel) -> String {
    serde_json::to_value(l)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn profiles_count_nulls_and_distinct_values_and_withhold_sensitive_ones() {
        let vals = [json!(3), json!(1), Value::Null, json!(3), json!(10)];
        let refs: Vec<&Value> = vals.iter().collect();
        let p = profile(&refs, false);
        assert_eq!((p.sampled_rows, p.distinct), (5, 3));
        assert!((p.null_fraction - 0.2).abs() < 1e-9);
        assert_eq!((p.min, p.max), (Some(json!(1)), Some(json!(10))));
        assert_eq!(p.top_values[0].value, json!(3));
        assert_eq!(p.top_values[0].count, 2);

        let secret = profile(&refs, true);
        assert_eq!(secret.distinct, 3);
        assert!(secret.values_withheld && secret.min.is_none() && secret.top_values.is_empty());
    }
}
