//! Governance policies as stored, and their listing.
use axum::extract::State;
use nexbii_crds::{GovernancePolicySpec, MaskAction, PolicyEnforcement, Validate};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    auth::{Caller, Role},
    http::{
        paging::{PageParams, Paged},
        ApiResult, Problem,
    },
    state::SharedState,
    store::{Meta, Origin, StoreExt},
};

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRecord {
    pub name: String,
    pub spec: GovernancePolicySpec,
    pub origin: Origin,
    #[serde(flatten)]
    pub meta: Meta,
}

crate::entity! {
    PolicyRecord,
    GovernancePolicies,
    name,
    fn validate(&self) -> Vec<nexbii_crds::FieldError> {
        self.spec.validate()
    }
}

#[utoipa::path(get, path = "/api/v1/governance/policies", tag = "governance", params(PageParams),
    responses((status = 200, body = Vec<PolicyRecord>,
        headers(("x-next-cursor" = String, description = "cursor of the next page; absent on the last"))),
        (status = 403, body = Problem)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<SharedState>,
    caller: Caller,
    crate::http::ApiQuery(page): crate::http::ApiQuery<PageParams>,
) -> ApiResult<Paged<PolicyRecord>> {
    caller.require(Role::Admin)?;
    Ok(state
        .store
        .page_as::<PolicyRecord>(&caller.scope, &page.query()?)
        .await?
        .into())
}

/// What `spec` enforces over the tenant's catalog `tables`: the rules in effect and the
/// columns and tables they reach (the operator shows it in the policy's status).
pub fn summarize(
    spec: &GovernancePolicySpec,
    tables: &[crate::governance::catalog::model::CatalogTable],
) -> PolicyEnforcement {
    let a = &spec.approvals;
    let approvals = [
        ("restrictedQueries", a.restricted_queries.is_some()),
        ("dashboardPublication", a.dashboard_publication.is_some()),
        ("dataSourceCreation", a.data_source_creation.is_some()),
        ("exports", a.exports.is_some()),
        ("externalSharing", a.external_sharing.is_some()),
    ]
    .into_iter()
    .filter(|(_, on)| *on)
    .map(|(name, _)| name.to_string())
    .collect();
    // A column at level L is governed by the rules of the highest level at or below L
    // (`mask::action_for`); it is covered when one of them masks or refuses.
    let covered = |level| {
        let governing = spec
            .masking
            .iter()
            .filter(|r| r.level <= level)
            .map(|r| r.level)
            .max();
        governing.is_some_and(|g| {
            spec.masking
                .iter()
                .any(|r| r.level == g && r.action != MaskAction::None)
        })
    };
    let live = tables.iter().filter(|t| !t.dropped);
    let levels: Vec<_> = live
        .clone()
        .flat_map(|t| t.columns.iter().filter_map(|c| c.level()))
        .collect();
    let filtered = live
        .filter(|t| {
            spec.row_filters.filters.iter().any(|f| {
                let (schema, table) = match f.table.rsplit_once('.') {
                    Some((s, t)) => (Some(s), t),
                    None => (None, f.table.as_str()),
                };
                f.data_source == t.data_source
                    && table.eq_ignore_ascii_case(&t.name)
                    && schema.is_none_or(|s| {
                        t.schema
                            .as_deref()
                            .is_some_and(|ts| ts.eq_ignore_ascii_case(s))
                    })
            })
        })
        .count();
    PolicyEnforcement {
        masking_rules: spec
            .masking
            .iter()
            .filter(|r| r.action != MaskAction::None)
            .count() as u32,
        row_filters: spec.row_filters.filters.len() as u32,
        classification_rules: (spec.classification.builtin_detectors.len()
            + spec.classification.custom_rules.len()) as u32,
        approvals,
        columns_covered: levels.iter().filter(|l| covered(**l)).count() as u64,
        columns_classified: levels.len() as u64,
        tables_filtered: filtered as u64,
    }
}

/// [`summarize`] over the tenant's current catalog.
pub async fn enforcement(
    state: &crate::state::AppState,
    scope: &crate::store::TenantScope,
    spec: &GovernancePolicySpec,
) -> crate::http::ApiResult<PolicyEnforcement> {
    let tables = state
        .store
        .list_as::<crate::governance::catalog::model::CatalogTable>(scope)
        .await?;
    Ok(summarize(spec, &tables))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::governance::catalog::model::{CatalogColumn, CatalogTable, ClassificationOverride};
    use nexbii_crds::SensitivityLevel as L;

    fn column(name: &str, level: Option<L>) -> CatalogColumn {
        let mut c: CatalogColumn = serde_json::from_value(serde_json::json!({
            "name": name, "type": "text", "nullable": true
        }))
        .unwrap();
        c.override_ = level.map(|l| ClassificationOverride {
            level: Some(l),
            label: None,
            reason: None,
            by: "t".into(),
            at: chrono::Utc::now(),
        });
        c
    }

    #[test]
    fn counts_what_the_rules_reach() {
        let spec: GovernancePolicySpec = serde_yaml::from_str(
            r#"
tenantRef: {name: acme}
classification: {builtinDetectors: [email, phone]}
masking:
  - {level: internal, action: none}
  - {level: confidential, action: partial, exemptRoles: [admin]}
rowFilters:
  filters:
    - {name: region, dataSource: sales, table: public.customers, subjects: ["role:viewer"], clause: "region = 'EU'"}
approvals:
  exports: {levels: 1, approvers: ["role:admin"]}
"#,
        )
        .unwrap();
        let mut customers: CatalogTable = serde_json::from_value(serde_json::json!({
            "id": "x", "dataSource": "sales", "schema": "public", "name": "customers", "kind": "table",
            "columns": [], "structureDigest": "d", "crawledAt": chrono::Utc::now()
        }))
        .unwrap();
        customers.columns = vec![
            column("email", Some(L::Confidential)),
            column("ssn", Some(L::Restricted)),
            column("segment", Some(L::Internal)),
            column("id", None),
        ];
        let mut orders = customers.clone();
        orders.name = "orders".into();
        orders.columns = vec![column("total", Some(L::Public))];
        let e = summarize(&spec, &[customers, orders]);
        assert_eq!(e.masking_rules, 1, "the `none` rule changes nothing");
        assert_eq!(e.row_filters, 1);
        assert_eq!(e.classification_rules, 2);
        assert_eq!(e.approvals, vec!["exports".to_string()]);
        // confidential and restricted fall under the partial rule; internal under `none`.
        assert_eq!(e.columns_covered, 2);
        assert_eq!(e.columns_classified, 4);
        assert_eq!(e.tables_filtered, 1);
    }
}
