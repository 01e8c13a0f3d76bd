//! Read-only views of the tenant's configuration: branding/limits, governance, backup schedules.
use std::collections::BTreeMap;

use axum::{extract::State, Json};
use nexbii_crds::{AuthSettings, Branding, Limits};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    auth::Caller,
    error::ApiResult,
    models::{PolicyRecord, Role, ScheduleRecord},
    state::SharedState,
    store::StoreExt,
};

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantInfo {
    pub name: String,
    pub display_name: String,
    pub branding: Option<Branding>,
    pub features: BTreeMap<String, bool>,
    pub limits: Limits,
    pub auth: AuthSettings,
}

#[utoipa::path(get, path = "/api/v1/tenant", tag = "admin", responses((status = 200, body = TenantInfo)), security(("bearer" = [])))]
pub async fn tenant(
    State(state): State<SharedState>,
    caller: Caller,
) -> ApiResult<Json<TenantInfo>> {
    let t = state.tenant(&caller.scope).await?;
    Ok(Json(TenantInfo {
        name: t.name,
        display_name: t.spec.display_name,
        branding: t.spec.branding,
        features: t.spec.features,
        limits: t.spec.limits,
        auth: t.spec.auth,
    }))
}

#[utoipa::path(get, path = "/api/v1/governance/policies", tag = "admin", responses((status = 200, body = Vec<PolicyRecord>)), security(("bearer" = [])))]
pub async fn policies(
    State(state): State<SharedState>,
    caller: Caller,
) -> ApiResult<Json<Vec<PolicyRecord>>> {
    caller.require(Role::Admin)?;
    Ok(Json(
        state.store.list_as::<PolicyRecord>(&caller.scope).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/backup/schedules", tag = "admin", responses((status = 200, body = Vec<ScheduleRecord>)), security(("bearer" = [])))]
pub async fn schedules(
    State(state): State<SharedState>,
    caller: Caller,
) -> ApiResult<Json<Vec<ScheduleRecord>>> {
    caller.require(Role::Admin)?;
    Ok(Json(
        state.store.list_as::<ScheduleRecord>(&caller.scope).await?,
    ))
}
