//! Backup schedules as stored, and their listing.
use axum::extract::State;
use nexbii_crds::{BackupScheduleSpec, Validate};
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
pub struct ScheduleRecord {
    pub name: String,
    pub spec: BackupScheduleSpec,
    pub origin: Origin,
    #[serde(flatten)]
    pub meta: Meta,
}

crate::entity! {
    ScheduleRecord,
    BackupSchedules,
    name,
    fn validate(&self) -> Vec<nexbii_crds::FieldError> {
        self.spec.validate()
    }
}

#[utoipa::path(get, path = "/api/v1/backup/schedules", tag = "admin", params(PageParams),
    responses((status = 200, body = Vec<ScheduleRecord>,
        headers(("x-next-cursor" = String, description = "cursor of the next page; absent on the last"))),
        (status = 403, body = Problem)),
    security(("bearer" = [])))]
pub async fn schedules(
    State(state): State<SharedState>,
    caller: Caller,
    crate::http::ApiQuery(page): crate::http::ApiQuery<PageParams>,
) -> ApiResult<Paged<ScheduleRecord>> {
    caller.require(Role::Admin)?;
    Ok(state
        .store
        .page_as::<ScheduleRecord>(&caller.scope, &page.query()?)
        .await?
        .into())
}
