//! The tenant as its users see it: name, branding, features, limits, auth settings.
use std::collections::BTreeMap;

use axum::{extract::State, Json};
use nexbii_crds::{AuthSettings, Branding, Limits};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{auth::Caller, http::ApiResult, state::SharedState};

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

#[utoipa::path(get, path = "/api/v1/tenant", tag = "admin", responses((status = 200, body = TenantInfo), (status = 401, body = crate::http::Problem)), security(("bearer" = [])))]
pub async fn tenant(
    State(state): State<SharedState>,
    caller: Caller,
) -> ApiResult<Json<TenantInfo>> {
    let t = state.tenant(&caller.scope).await?;
    Ok(Json(TenantInfo {
        name: t.name.clone(),
        display_name: t.spec.display_name.clone(),
        branding: t.spec.branding.clone(),
        features: t.spec.features.clone(),
        limits: t.spec.limits.clone(),
        auth: t.spec.auth.clone(),
    }))
}
