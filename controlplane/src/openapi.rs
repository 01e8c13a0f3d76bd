//! The OpenAPI document, generated from the handlers and the shared spec types.
use utoipa::{
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    Modify, OpenApi,
};

use crate::{auth, config, dashboards, datasources, engine, error, models, provisioning, queries};

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
    info(title = "NexBII control plane", description = "BI and admin API of one NexBII instance"),
    paths(
        auth::login, auth::logout, auth::me, auth::list_sessions, auth::revoke_session,
        auth::list_users, auth::create_user, auth::update_user, auth::delete_user,
        config::tenant, config::policies, config::schedules,
        datasources::list, datasources::create, datasources::get, datasources::update, datasources::delete,
        datasources::test, datasources::schema,
        queries::run, queries::list, queries::create, queries::get, queries::update, queries::delete, queries::run_saved,
        dashboards::list, dashboards::create, dashboards::get, dashboards::update, dashboards::delete, dashboards::data,
        provisioning::put_datasource, provisioning::put_dashboard, provisioning::put_policy,
        provisioning::delete_datasource, provisioning::delete_dashboard, provisioning::delete_policy,
    ),
    components(schemas(
        error::Problem, error::ProblemField, models::Role, models::Origin,
        engine::QueryResult, engine::ColumnInfo, engine::ConnectionTest, engine::SchemaInfo,
    )),
    modifiers(&Bearer),
    tags((name = "auth"), (name = "users"), (name = "datasources"), (name = "queries"), (name = "dashboards"), (name = "admin"), (name = "provisioning"))
)]
struct ApiDoc;

pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
