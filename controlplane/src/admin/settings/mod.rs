//! System settings of the tenant (admin only): one typed, validated document. What the
//! Tenant declares under `spec.settings` is shown and read-only; the rest is set here.
use axum::{extract::State, routing::get, Router};
use serde_json::{Map, Value};

pub mod domain;
pub mod model;

pub use domain::{effective, Resolved};
use model::{SettingsRecord, SettingsView};

use crate::{
    auth::{guard::ClientAddr, Caller, Role},
    http::{
        precondition::{IfMatch, Tagged},
        ApiError, ApiJson, ApiResult, Problem,
    },
    state::SharedState,
    store::{Expect, StoreExt},
};

pub fn routes() -> Router<SharedState> {
    Router::new().route("/api/v1/admin/settings", get(show).put(replace))
}

async fn view(state: &SharedState, caller: &Caller) -> ApiResult<Tagged<SettingsView>> {
    let resolved = effective(state, &caller.scope).await?;
    let tenant = state.tenant(&caller.scope).await?;
    let stored = state
        .store
        .get_as::<SettingsRecord>(&caller.scope, SettingsRecord::ID)
        .await?;
    let revision = stored.as_ref().map_or(0, |s| s.meta.revision);
    Ok(Tagged(
        revision,
        SettingsView {
            settings: resolved.settings.clone(),
            sources: resolved.sources.clone(),
            limits: resolved.limits,
            declared_by: format!("Tenant/{}", tenant.name),
            revision,
            updated_at: stored.as_ref().map(|s| s.meta.updated_at),
            updated_by: stored.as_ref().map(|s| s.meta.updated_by.clone()),
            stored: stored.map(|s| s.values).unwrap_or_default(),
        },
    ))
}

#[utoipa::path(get, path = "/api/v1/admin/settings", tag = "admin",
    responses(
        (status = 200, body = SettingsView, description = "the settings in force, the part set here, and where each value comes from; `ETag` is the revision"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "not an admin")),
    security(("bearer" = [])))]
pub async fn show(
    State(state): State<SharedState>,
    caller: Caller,
) -> ApiResult<Tagged<SettingsView>> {
    caller.require(Role::Admin)?;
    view(&state, &caller).await
}

#[utoipa::path(put, path = "/api/v1/admin/settings", tag = "admin",
    request_body(content = nexbii_crds::Settings, description = "the part of the settings document to set (any subset; what is left out takes its default, what the Tenant declares stays)"),
    params(("If-Match" = Option<String>, Header, description = "the revision (ETag) the change is based on")),
    responses(
        (status = 200, body = SettingsView, description = "the settings now in force"),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "not a JSON object"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "not an admin"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "a field the Tenant declares would change (field names it), or the settings changed since the If-Match revision"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "unknown field, wrong type, out of range, beyond the Tenant's limits, or an IP allow-list without the caller's own address (field names it)")),
    security(("bearer" = [])))]
pub async fn replace(
    State(state): State<SharedState>,
    caller: Caller,
    ClientAddr(addr): ClientAddr,
    if_match: IfMatch,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> ApiResult<Tagged<SettingsView>> {
    caller.require(Role::Admin)?;
    let tenant = state.tenant(&caller.scope).await?;
    let limits = domain::limits(&tenant.spec, state.settings.cache_ttl);
    domain::check_update(&tenant.name, &tenant.spec, &body, limits)?;
    // An allow-list that leaves out the admin setting it would lock them out at once.
    let after = domain::resolve(&tenant.spec, &body, limits);
    if !domain::allows(&after.settings.network.ip_allow_list, addr) {
        return Err(ApiError::invalid(
            "network.ipAllowList",
            format!(
                "would lock you out: your address {} is not in it",
                addr.map_or_else(|| "(unknown)".to_string(), |a| a.to_string())
            ),
        ));
    }
    let existing = state
        .store
        .get_as::<SettingsRecord>(&caller.scope, SettingsRecord::ID)
        .await?;
    let (expect, meta) = match existing {
        Some(e) => (
            Expect::Revision(if_match.check("the settings", e.meta.revision)?),
            e.meta,
        ),
        None => {
            if_match.check("the settings", 0)?;
            (Expect::Absent, Default::default())
        }
    };
    let rec = SettingsRecord {
        id: SettingsRecord::ID.into(),
        values: body,
        meta,
    };
    state
        .writer
        .save(&caller.scope, &caller.actor(), rec, expect)
        .await?;
    view(&state, &caller).await
}
