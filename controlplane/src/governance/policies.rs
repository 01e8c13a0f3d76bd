//! Governance policies as stored, and their listing.
use axum::extract::{Query, State};
use nexbii_crds::{GovernancePolicySpec, Validate};
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
    Query(page): Query<PageParams>,
) -> ApiResult<Paged<PolicyRecord>> {
    caller.require(Role::Admin)?;
    Ok(state
        .store
        .page_as::<PolicyRecord>(&caller.scope, &page.query()?)
        .await?
        .into())
}
