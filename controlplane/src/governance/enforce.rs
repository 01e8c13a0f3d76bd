//! Governance in the query path (stage 2 of the pipeline): row filters rewrite the statement,
//! and every output column whose value derives from a classified column is masked for callers
//! the policy does not exempt. Decisions are pure functions of the policy, the catalog and the
//! statement's lineage; what cannot be resolved is masked (fail closed).
use std::{collections::HashMap, sync::Arc};

use nexbii_crds::{DataSourceType, MaskAction, MaskingRule, RowFiltersSpec, SensitivityLevel};

use super::{
    catalog::CatalogTable,
    lineage::{self, ColumnRef, Lineage, SchemaLookup, TableRef},
    mask::{action_for, stricter},
    rowfilter, GovernanceState, PolicyRecord,
};
use crate::{
    auth::UserRecord,
    engine::{Checked, EngineError, MaskedColumn, OutputMask, Plan, QueryPolicy, QueryRequest},
    store::{cached::CachedStore, TenantScope},
};

/// What the query path needs of one source's catalog: tables with their columns and the
/// sensitivity of each classified column.
#[derive(Default)]
pub struct SourceView {
    /// A crawl of the source has completed.
    pub crawled: bool,
    /// By lower-cased table name: every schema's table of that name.
    tables: HashMap<String, Vec<ViewTable>>,
    /// MySQL: the source's database. Its tables are catalogued without a schema, and a
    /// statement may still name them `db.table`.
    current_database: Option<String>,
}

struct ViewTable {
    table: TableRef,
    columns: Vec<String>,
    /// Lower-cased column name → (level, label).
    levels: HashMap<String, (SensitivityLevel, String)>,
}

impl SourceView {
    pub fn build(
        source_type: DataSourceType,
        tables: &[CatalogTable],
        source: &str,
        crawled: bool,
    ) -> Self {
        let mut view = SourceView {
            crawled,
            ..Default::default()
        };
        for t in tables
            .iter()
            .filter(|t| t.data_source == source && !t.dropped)
        {
            let levels = t
                .columns
                .iter()
                .filter_map(|c| Some((c.name.to_lowercase(), (c.level()?, c.label()?))))
                .collect();
            view.tables
                .entry(t.name.to_lowercase())
                .or_default()
                .push(ViewTable {
                    table: TableRef {
                        schema: t.schema.clone(),
                        name: t.name.clone(),
                    },
                    columns: t.columns.iter().map(|c| c.name.clone()).collect(),
                    levels,
                });
        }
        // PostgreSQL resolves unqualified names through `public` first.
        if source_type == DataSourceType::Postgresql {
            for list in view.tables.values_mut() {
                list.sort_by_key(|t| t.table.schema.as_deref() != Some("public"));
            }
        }
        view
    }

    /// For MySQL sources: `db.table` with `db` the source's database names its table.
    pub fn with_current_database(mut self, database: Option<String>) -> Self {
        self.current_database = database;
        self
    }

    fn find(&self, t: &TableRef) -> Option<&ViewTable> {
        let list = self.tables.get(&t.name.to_lowercase())?;
        match &t.schema {
            Some(s) => list.iter().find(|v| match v.table.schema.as_deref() {
                Some(x) => x.eq_ignore_ascii_case(s),
                // Database names are case-sensitive in MySQL on Linux: compared as written.
                None => self.current_database.as_deref() == Some(s.as_str()),
            }),
            None => list.first(),
        }
    }

    /// The classification of a column (level and why), when it has one.
    pub fn column_level(&self, c: &ColumnRef) -> Option<&(SensitivityLevel, String)> {
        self.level(c)
    }

    fn level(&self, c: &ColumnRef) -> Option<&(SensitivityLevel, String)> {
        self.find(&c.table)?.levels.get(&c.column.to_lowercase())
    }

    /// The highest level of any column of the table; `None` for a table without classified
    /// columns, `Err` for a table the catalog does not know.
    /// The highest level of a table's columns; `None` when none is classified or the table is
    /// unknown.
    pub fn level_of_table(&self, t: &TableRef) -> Option<SensitivityLevel> {
        self.table_level(t).ok().flatten()
    }

    fn table_level(&self, t: &TableRef) -> Result<Option<SensitivityLevel>, ()> {
        let v = self.find(t).ok_or(())?;
        Ok(v.levels.values().map(|(l, _)| *l).max())
    }

    /// The highest level of the whole source.
    fn max_level(&self) -> Option<SensitivityLevel> {
        self.tables
            .values()
            .flatten()
            .flat_map(|t| t.levels.values().map(|(l, _)| *l))
            .max()
    }
}

impl SchemaLookup for SourceView {
    fn columns(&self, table: &TableRef) -> Option<(TableRef, Vec<String>)> {
        let v = self.find(table)?;
        Some((v.table.clone(), v.columns.clone()))
    }
}

/// The highest sensitivity level a statement touches: in values, counts or conditions. Without
/// lineage, or with references it could not resolve, the source's highest level (fail closed).
pub fn touched_level(lineage: Option<&Lineage>, view: &SourceView) -> Option<SensitivityLevel> {
    let Some(lin) = lineage.filter(|l| l.unresolved.is_empty()) else {
        return view.max_level();
    };
    lin.outputs
        .iter()
        .flat_map(|o| o.sources.iter().chain(&o.counted))
        .chain(&lin.filters)
        .filter_map(|c| view.level(c).map(|(l, _)| *l))
        .max()
}

/// The masking plan for one statement and caller: per output column the strictest action of
/// the classified columns its value derives from; unresolved outputs and outputs of unknown
/// shape get the strictest action of the tables the statement reads.
pub fn masking_plan(
    lineage: Option<&Lineage>,
    view: &SourceView,
    rules: &[&MaskingRule],
    role: &str,
    by_position: bool,
) -> Result<MaskPlan, String> {
    let Some(lin) = lineage else {
        // No lineage at all: everything the source holds may be in the result.
        let fallback = view
            .max_level()
            .map(|l| (l, action_for(rules, l, role)))
            .filter(|(_, a)| *a != MaskAction::None)
            .map(|(level, action)| fallback_mask(level, action, "lineage could not be derived"));
        return refuse_or(Vec::new(), fallback, None);
    };
    // What an unresolved output might carry: anything of the tables read, and, when some
    // reference could not be resolved at all (an unknown table, say), anything a rule covers.
    let strictest_rule = rules.iter().map(|r| r.level).max();
    let known = lin
        .tables
        .iter()
        .filter_map(|t| view.table_level(t).ok().flatten())
        .max();
    let read_level = if lin.unresolved.is_empty() {
        known
    } else {
        known.max(strictest_rule)
    };
    let mut masks = Vec::new();
    for (i, out) in lin.outputs.iter().enumerate() {
        let mut action = MaskAction::None;
        let mut level = SensitivityLevel::Public;
        let mut why = Vec::new();
        for src in &out.sources {
            let Some((l, label)) = view.level(src) else {
                continue;
            };
            let a = action_for(rules, *l, role);
            if a != MaskAction::None {
                action = stricter(action, a);
                level = level.max(*l);
                why.push(format!("{}.{} ({label})", src.table.name, src.column));
            }
        }
        if !out.resolved {
            if let Some(l) = known.max(strictest_rule) {
                let a = action_for(rules, l, role);
                if a != MaskAction::None {
                    action = stricter(action, a);
                    level = level.max(l);
                    why.push("lineage unresolved".into());
                }
            }
        }
        if action != MaskAction::None {
            masks.push(OutputMask {
                index: i,
                name: out.name.clone(),
                action,
                why: MaskedColumn {
                    column: out.name.clone(),
                    action,
                    level,
                    reason: format!("derives from {}", why.join(", ")),
                },
            });
        }
    }
    let fallback = read_level
        .map(|l| (l, action_for(rules, l, role)))
        .filter(|(_, a)| *a != MaskAction::None)
        .map(|(level, action)| {
            fallback_mask(
                level,
                action,
                "result columns could not be matched to lineage",
            )
        });
    let expected = by_position.then_some(lin.outputs.len());
    let mut plan = refuse_or(masks, fallback, expected)?;
    plan.names = lin.outputs.iter().map(|o| o.name.clone()).collect();
    Ok(plan)
}

fn fallback_mask(level: SensitivityLevel, action: MaskAction, reason: &str) -> OutputMask {
    OutputMask {
        index: usize::MAX,
        name: String::new(),
        action,
        why: MaskedColumn {
            column: String::new(),
            action,
            level,
            reason: reason.into(),
        },
    }
}

/// Masks by output column, the fallback for results of another shape, and the planned shape.
pub struct MaskPlan {
    pub masks: Vec<OutputMask>,
    pub fallback: Option<OutputMask>,
    pub expected: Option<usize>,
    /// The outputs' names (matched by name when not by position).
    pub names: Vec<String>,
}

/// A `refuse` action on any output refuses the whole query, naming the column.
fn refuse_or(
    masks: Vec<OutputMask>,
    fallback: Option<OutputMask>,
    expected: Option<usize>,
) -> Result<MaskPlan, String> {
    if let Some(m) = masks.iter().find(|m| m.action == MaskAction::Refuse) {
        return Err(format!(
            "column {:?} is {} data ({}) and the policy refuses it to this role",
            m.name,
            super::catalog::crawl::level_name(m.why.level),
            m.why.reason
        ));
    }
    let fallback = match fallback {
        // Nothing could be matched and the data would be refused: refuse the query.
        Some(f) if f.action == MaskAction::Refuse && expected.is_none() && masks.is_empty() => {
            return Err(format!(
                "{}, and the policy refuses {} data to this role",
                f.why.reason,
                super::catalog::crawl::level_name(f.why.level)
            ))
        }
        // A refusing fallback that only applies if the shape differs: withhold the values.
        Some(mut f) if f.action == MaskAction::Refuse => {
            f.action = MaskAction::Nullify;
            f.why.action = MaskAction::Nullify;
            Some(f)
        }
        other => other,
    };
    Ok(MaskPlan {
        masks,
        fallback,
        expected,
        names: Vec::new(),
    })
}

/// Row filters of every policy together: filters concatenated; a caller is exempt only if
/// every policy with filters exempts the role; default deny if any policy asks for it.
pub fn merged_row_filters(policies: &[PolicyRecord]) -> RowFiltersSpec {
    let with_filters: Vec<&RowFiltersSpec> = policies
        .iter()
        .map(|p| &p.spec.row_filters)
        .filter(|r| !r.filters.is_empty())
        .collect();
    let mut merged = RowFiltersSpec {
        default_deny: with_filters.iter().any(|r| r.default_deny),
        exempt_roles: Vec::new(),
        filters: with_filters
            .iter()
            .flat_map(|r| r.filters.iter().cloned())
            .collect(),
    };
    if let Some(first) = with_filters.first() {
        merged.exempt_roles = first
            .exempt_roles
            .iter()
            .filter(|role| with_filters.iter().all(|r| r.exempt_roles.contains(role)))
            .cloned()
            .collect();
    }
    merged
}

/// The pipeline's governance stage.
pub struct Enforce {
    pub store: Arc<CachedStore>,
    pub governance: Arc<GovernanceState>,
    pub keys: crate::crypto::Keys,
}

impl Enforce {
    fn deny(msg: impl Into<String>) -> EngineError {
        EngineError::Denied(msg.into())
    }

    async fn row_filters(
        &self,
        req: &QueryRequest<'_>,
        sql: &str,
        policies: &[PolicyRecord],
    ) -> Result<Option<String>, EngineError> {
        let spec = merged_row_filters(policies);
        if spec.filters.is_empty() {
            return Ok(None);
        }
        let scope = &req.source.tenant;
        let user = self
            .store
            .cached::<UserRecord>(scope, &req.access.user)
            .await
            .map_err(|e| EngineError::Config(e.to_string()))?;
        let empty = Default::default();
        let subject = rowfilter::Subject {
            username: &req.access.user,
            role: &req.access.role,
            attributes: user.as_ref().map_or(&empty, |u| &u.attributes),
        };
        let t = req.source.spec.source_type;
        let cannot = |e: rowfilter::RowFilterError| {
            Self::deny(format!("row filters cannot be applied: {e}"))
        };
        let mut filters = rowfilter::plan(&spec, &req.source.name, t, &subject).map_err(cannot)?;
        if !req.access.row_context.is_empty() {
            let mut narrowed = subject.attributes.clone();
            narrowed.extend(req.access.row_context.clone());
            let ctx = rowfilter::Subject {
                attributes: &narrowed,
                ..subject
            };
            let also = rowfilter::plan(&spec, &req.source.name, t, &ctx).map_err(cannot)?;
            filters = rowfilter::narrow(filters, also);
        }
        if filters.is_empty() {
            return Ok(None);
        }
        rowfilter::rewrite(sql, t, &filters)
            .map(Some)
            .map_err(|e| Self::deny(format!("row filters cannot be applied: {e}")))
    }
}

#[async_trait::async_trait]
impl QueryPolicy for Enforce {
    async fn plan(
        &self,
        req: &QueryRequest<'_>,
        checked: &Checked,
        plan: &mut Plan,
    ) -> Result<(), EngineError> {
        let scope: &TenantScope = &req.source.tenant;
        let policies = self.policies(scope).await?;
        if policies.is_empty() {
            return Ok(());
        }
        let sql = &checked.native.sql;
        plan.sql = self.row_filters(req, sql, &policies).await?;
        let rules: Vec<&MaskingRule> = policies.iter().flat_map(|p| &p.spec.masking).collect();
        let approval = super::approvals::query_rule(&policies);
        if rules.is_empty() && approval.is_none() {
            return Ok(());
        }
        let t = req.source.spec.source_type;
        let view = self.crawled_view(req).await?;
        let lin = lineage::analyze(t, sql, view.as_ref()).ok();
        if let Some(rule) = approval {
            let touched = touched_level(lin.as_ref(), &view);
            if let Some(level) = touched.filter(|l| *l >= rule.min_level) {
                self.require_approval(req, level).await?;
            }
        }
        if rules.is_empty() {
            return Ok(());
        }
        let by_position = t != DataSourceType::Mongodb;
        let m = masking_plan(lin.as_ref(), &view, &rules, &req.access.role, by_position)
            .map_err(Self::deny)?;
        plan.masks = m.masks;
        plan.fallback = m.fallback;
        plan.expected_columns = m.expected;
        plan.planned_names = m.names;
        if !plan.masks.is_empty() || plan.fallback.is_some() {
            plan.hash_key = self
                .keys
                .derive(&format!("mask-hash:{}", scope.tenant()))
                .to_vec();
        }
        Ok(())
    }
}

impl Enforce {
    /// Lets the statement run only under an approval granted to this caller for exactly this
    /// source, statement and parameters, within its validity window.
    async fn require_approval(
        &self,
        req: &QueryRequest<'_>,
        level: SensitivityLevel,
    ) -> Result<(), EngineError> {
        use super::approvals::{domain, ApprovalRecord, ApprovalStatus};
        use crate::store::{ListQuery, StoreExt};
        let fp = domain::fingerprint(&req.source.name, req.text, req.params);
        let q = ListQuery::default()
            .filter("requester", req.access.user.as_str())
            .filter("key", fp.as_str())
            .filter(
                "status",
                serde_json::to_value(ApprovalStatus::Approved).unwrap_or_default(),
            );
        let found = self
            .store
            .page_as::<ApprovalRecord>(&req.source.tenant, &q)
            .await
            .map_err(|e| EngineError::Config(format!("approvals unavailable: {e}")))?;
        let now = chrono::Utc::now();
        if found.items.iter().any(|a| domain::grants(a, now)) {
            return Ok(());
        }
        Err(EngineError::ApprovalRequired(
            super::catalog::crawl::level_name(level),
        ))
    }

    /// The source's catalog view, waiting (within the query's timeout, at most 10 s) for the
    /// first crawl of a source nobody has crawled yet. Without one, every table is unknown and
    /// every column masked (fail closed).
    async fn crawled_view(&self, req: &QueryRequest<'_>) -> Result<Arc<SourceView>, EngineError> {
        let (scope, name) = (&req.source.tenant, req.source.name.as_str());
        let t = req.source.spec.source_type;
        let mut view = self.view(scope, name, t).await?;
        if view.crawled {
            return Ok(view);
        }
        self.governance.request_crawl(scope, name);
        let until =
            std::time::Instant::now() + req.limits.timeout.min(std::time::Duration::from_secs(10));
        while !view.crawled && std::time::Instant::now() < until {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            view = self.view(scope, name, t).await?;
        }
        Ok(view)
    }

    async fn policies(&self, scope: &TenantScope) -> Result<Arc<Vec<PolicyRecord>>, EngineError> {
        self.governance
            .policies(&self.store, scope)
            .await
            .map_err(|e| EngineError::Config(format!("governance policies unavailable: {e}")))
    }

    async fn view(
        &self,
        scope: &TenantScope,
        source: &str,
        t: DataSourceType,
    ) -> Result<Arc<SourceView>, EngineError> {
        self.governance
            .source_view(&self.store, scope, source, t)
            .await
            .map_err(|e| EngineError::Config(format!("catalog unavailable: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use nexbii_crds::{MaskAction, MaskingRule, SensitivityLevel};
    use serde_json::json;

    use super::*;

    fn view() -> SourceView {
        let table: CatalogTable = serde_json::from_value(json!({
            "id": "hr:public.people", "dataSource": "hr", "schema": "public", "name": "people",
            "kind": "table", "crawledAt": "2026-01-01T00:00:00Z",
            "columns": [
                {"name": "id", "type": "int4", "nullable": false},
                {"name": "ssn", "type": "text", "nullable": true,
                 "override": {"level": "restricted", "by": "admin", "at": "2026-01-01T00:00:00Z"}},
                {"name": "email", "type": "text", "nullable": true,
                 "classification": {"detector": "email", "level": "confidential", "confidence": 0.9,
                                    "classifiedAt": "2026-01-01T00:00:00Z"}},
                {"name": "city", "type": "text", "nullable": true}
            ]
        }))
        .unwrap();
        SourceView::build(DataSourceType::Postgresql, &[table], "hr", true)
    }

    fn rules(restricted: MaskAction) -> Vec<MaskingRule> {
        vec![
            MaskingRule {
                level: SensitivityLevel::Confidential,
                action: MaskAction::Partial,
                exempt_roles: vec!["admin".into()],
            },
            MaskingRule {
                level: SensitivityLevel::Restricted,
                action: restricted,
                exempt_roles: vec![],
            },
        ]
    }

    fn plan(sql: &str, role: &str, restricted: MaskAction) -> Result<MaskPlan, String> {
        let v = view();
        let rules = rules(restricted);
        let refs: Vec<&MaskingRule> = rules.iter().collect();
        let lin = lineage::analyze(DataSourceType::Postgresql, sql, &v).ok();
        masking_plan(lin.as_ref(), &v, &refs, role, true)
    }

    fn masked(p: &MaskPlan) -> Vec<(usize, MaskAction)> {
        p.masks.iter().map(|m| (m.index, m.action)).collect()
    }

    #[test]
    fn outputs_deriving_from_classified_columns_are_masked_and_counts_pass() {
        let p = plan(
            "SELECT city, lower(ssn) AS s, email FROM people",
            "editor",
            MaskAction::Hash,
        )
        .unwrap();
        assert_eq!(
            masked(&p),
            [(1, MaskAction::Hash), (2, MaskAction::Partial)]
        );
        assert_eq!(p.expected, Some(3));
        assert!(
            p.masks[0].why.reason.contains("people.ssn"),
            "{}",
            p.masks[0].why.reason
        );
        let p = plan(
            "SELECT count(ssn), count(DISTINCT email) FROM people",
            "editor",
            MaskAction::Hash,
        )
        .unwrap();
        assert!(p.masks.is_empty());
        let p = plan("SELECT ssn, email FROM people", "admin", MaskAction::Hash).unwrap();
        assert_eq!(
            masked(&p),
            [(0, MaskAction::Hash)],
            "admin is exempt only for confidential"
        );
    }

    #[test]
    fn what_cannot_be_resolved_is_masked() {
        // A table the catalog does not know: its columns could be anything.
        let p = plan("SELECT x FROM secrets", "editor", MaskAction::Redact).unwrap();
        assert_eq!(masked(&p), [(0, MaskAction::Redact)]);
        // No lineage at all: every column falls back to the source's strictest action.
        let v = view();
        let rules = rules(MaskAction::Redact);
        let refs: Vec<&MaskingRule> = rules.iter().collect();
        let p = masking_plan(None, &v, &refs, "editor", true).unwrap();
        assert_eq!(p.fallback.map(|f| f.action), Some(MaskAction::Redact));
        assert!(masking_plan(None, &v, &[], "editor", true)
            .unwrap()
            .fallback
            .is_none());
    }

    #[test]
    fn refusal_names_the_column() {
        let err = plan(
            "SELECT id, ssn AS tax_id FROM people",
            "editor",
            MaskAction::Refuse,
        )
        .err()
        .unwrap();
        assert!(
            err.contains("\"tax_id\"") && err.contains("restricted"),
            "{err}"
        );
        assert!(plan("SELECT id, city FROM people", "editor", MaskAction::Refuse).is_ok());
    }

    #[test]
    fn merged_row_filters_exempt_only_what_every_policy_exempts() {
        let policy = |exempt: &[&str]| -> PolicyRecord {
            serde_json::from_value(json!({
                "name": "p", "origin": "api",
                "spec": {"tenantRef": {"name": "t"}, "rowFilters": {"exemptRoles": exempt, "defaultDeny": false,
                    "filters": [{"name": "f", "dataSource": "s", "table": "t", "clause": "a = 1"}]}}
            }))
            .unwrap()
        };
        let m = merged_row_filters(&[policy(&["admin", "editor"]), policy(&["admin"])]);
        assert_eq!(m.exempt_roles, ["admin"]);
        assert_eq!(m.filters.len(), 2);
        assert!(!m.default_deny);
    }

    #[test]
    fn mysql_names_qualified_with_the_current_database_resolve() {
        let table: CatalogTable = serde_json::from_value(serde_json::json!({
            "id": "shop:customers", "dataSource": "shop", "name": "customers",
            "kind": "table", "crawledAt": "2026-01-01T00:00:00Z",
            "columns": [
                {"name": "id", "type": "int", "nullable": false},
                {"name": "email", "type": "varchar", "nullable": true,
                 "classification": {"detector": "email", "level": "confidential", "confidence": 0.9,
                                    "classifiedAt": "2026-01-01T00:00:00Z"}}
            ]
        }))
        .unwrap();
        let v = SourceView::build(DataSourceType::Mysql, &[table], "shop", true)
            .with_current_database(Some("test".into()));
        let rules = rules(MaskAction::Redact);
        let refs: Vec<&MaskingRule> = rules.iter().collect();
        let plan = |sql: &str| {
            let lin = lineage::analyze(DataSourceType::Mysql, sql, &v).unwrap();
            (
                lin.unresolved.is_empty(),
                masking_plan(Some(&lin), &v, &refs, "editor", true).unwrap(),
            )
        };
        let (resolved, p) = plan("SELECT id, email FROM test.customers");
        assert!(resolved, "db.table of the current database resolves");
        assert_eq!(
            masked(&p),
            vec![(1, MaskAction::Partial)],
            "only email is masked"
        );
        let (resolved, p) = plan("SELECT id, email FROM other.customers");
        assert!(!resolved, "another database is not this catalog");
        assert_eq!(
            p.masks.len(),
            2,
            "unresolved: every output masked (fail closed)"
        );
    }
}
