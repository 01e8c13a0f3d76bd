//! The OpenAPI document, generated from the handlers and the shared spec types.
use utoipa::{
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    Modify, OpenApi,
};

use super::error;
use crate::{
    admin,
    auth::{sessions, users, Role},
    bi::{dashboards, datasources, queries, shares},
    engine,
    events::{notifications, webhooks},
    governance::{approvals, catalog, lineage_api, policies},
    provisioning::operator_api,
    store::{Meta, Origin},
};

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "NexBII control plane", description = "BI and admin API of one NexBII instance. \
        List endpoints page with `?limit=&cursor=` (the next page's cursor is in the `X-Next-Cursor` \
        header); single objects carry `ETag: \"<revision>\"`, and updates and deletes that send it \
        back as `If-Match` are refused with 409 when the object changed since."),
    paths(
        sessions::login, sessions::logout, sessions::me, sessions::list_sessions, sessions::revoke_session,
        users::list_users, users::create_user, users::update_user, users::delete_user,
        admin::tenant::tenant, policies::list, admin::backups::schedules::schedules,
        admin::backups::create, admin::backups::list, admin::backups::get_one, admin::backups::delete,
        admin::backups::verify, admin::backups::restore,
        admin::monitoring::monitoring, admin::monitoring::series,
        admin::performance::queries, admin::performance::slowest, admin::performance::dashboards,
        admin::performance::cache, admin::performance::endpoints, admin::performance::suggestions,
        datasources::list, datasources::create, datasources::get_one, datasources::update, datasources::delete,
        datasources::test, datasources::schema,
        queries::run, queries::list, queries::create, queries::get_one, queries::update, queries::delete, queries::run_saved, queries::export::adhoc, queries::export::saved,
        dashboards::list, dashboards::create, dashboards::get_one, dashboards::update, dashboards::delete, dashboards::data, dashboards::widget_data,
        shares::create, shares::list, shares::revoke, shares::open, shares::data,
        datasources::sync,
        catalog::sync, catalog::cancel, catalog::classify, catalog::list_tables, catalog::get_table,
        catalog::patch_table, catalog::patch_column, catalog::dictionary, catalog::search,
        lineage_api::analyze, lineage_api::graph, lineage_api::impact,
        approvals::list, approvals::create, approvals::get_one, approvals::approve, approvals::reject, approvals::cancel,
        notifications::list, notifications::mark_read, notifications::mark_all_read,
        webhooks::list, webhooks::create, webhooks::get_one, webhooks::update, webhooks::delete,
        webhooks::deliveries, webhooks::redeliver,
        operator_api::put_datasource, operator_api::put_dashboard, operator_api::put_policy,
        operator_api::delete_datasource, operator_api::delete_dashboard, operator_api::delete_policy,
    ),
    components(schemas(
        error::Problem, error::ProblemField, Role, Origin, Meta,
        engine::QueryResult, engine::ColumnInfo, engine::ConnectionTest, engine::SchemaInfo,
        engine::MaskedColumn,
    )),
    modifiers(&Bearer),
    tags((name = "auth"), (name = "users"), (name = "datasources"), (name = "queries"), (name = "dashboards"),
        (name = "governance"), (name = "catalog"), (name = "lineage"), (name = "approvals"), (name = "sharing"), (name = "notifications"), (name = "webhooks"), (name = "admin"), (name = "provisioning"))
)]
struct ApiDoc;

pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
