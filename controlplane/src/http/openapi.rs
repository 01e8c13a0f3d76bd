//! The OpenAPI document, generated from the handlers and the shared spec types.
use utoipa::{
    openapi::{
        content::ContentBuilder,
        header::HeaderBuilder,
        path::Operation,
        response::ResponseBuilder,
        schema::{ObjectBuilder, Type},
        security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
        },
        Ref, RefOr,
    },
    Modify, OpenApi,
};

use super::error;
use crate::{
    admin,
    auth::{
        apikeys::{
            self,
            scopes::{self, RouteRule},
        },
        mfa, privacy, sessions, users, Role,
    },
    bi::{dashboards, datasources, embed, insights, queries, shares},
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
        // The embed views' credential: a token from `POST /api/v1/embed/tokens`.
        components.add_security_scheme(
            "embedToken",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("an embed token from `POST /api/v1/embed/tokens`"))
                    .build(),
            ),
        );
    }
}

/// API keys on every operation that takes a session token: the security scheme `apiKey`
/// (header `X-API-Key`, or `Authorization: Bearer nxk_…`) with the scope the operation needs
/// as its role (OpenAPI 3.1), read from the same table the request guard enforces; and on
/// every operation the answers the guard adds: 401, 403 and 429 (problem+json, `Retry-After`)
/// and the `RateLimit-*` headers.
struct KeysAndLimits;

fn int_header(description: &str) -> utoipa::openapi::header::Header {
    HeaderBuilder::new()
        .schema(ObjectBuilder::new().schema_type(Type::Integer).build())
        .description(Some(description))
        .build()
}

fn rate_limit_headers() -> Vec<(&'static str, utoipa::openapi::header::Header)> {
    vec![
        (
            "RateLimit-Limit",
            int_header("size of the tightest bucket applying to this request"),
        ),
        ("RateLimit-Remaining", int_header("requests left in it")),
        (
            "RateLimit-Reset",
            int_header("seconds until it is full again"),
        ),
        (
            "RateLimit-Policy",
            HeaderBuilder::new()
                .description(Some("`<burst>;w=<seconds to refill it>`"))
                .build(),
        ),
    ]
}

fn problem(description: &str) -> RefOr<utoipa::openapi::Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/problem+json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build()
        .into()
}

fn uses(op: &Operation, scheme: &str) -> bool {
    op.security.iter().flatten().any(|r| {
        serde_json::to_value(r)
            .ok()
            .and_then(|v| v.as_object().map(|o| o.contains_key(scheme)))
            .unwrap_or(false)
    })
}

fn keys_and_limits(path: &str, method: &axum::http::Method, op: &mut Operation) {
    let rule = scopes::route_rule(path);
    if uses(op, "bearer") {
        let need = match rule {
            Some(RouteRule::Scoped(area)) => Some(vec![scopes::Need {
                area,
                access: scopes::Access::of(method),
            }
            .to_string()]),
            Some(RouteRule::AnyKey) => Some(vec![]),
            _ => None,
        };
        if let Some(need) = need {
            op.security
                .get_or_insert_with(Vec::new)
                .push(SecurityRequirement::new("apiKey", need));
            op.responses.responses.entry("403".into()).or_insert_with(|| {
                problem("the API key lacks the scope this operation needs, the caller's role does not allow it, the client address is not in the tenant's IP allow-list, or the route's feature is turned off for the caller")
            });
        }
        op.responses
            .responses
            .entry("401".into())
            .or_insert_with(|| problem("missing, invalid or expired session token or API key"));
    }
    if uses(op, "bearer") {
        // Any authenticated route can be refused by the tenant's IP allow-list.
        op.responses.responses.entry("403".into()).or_insert_with(|| {
            problem("the caller's role does not allow this, or the client address is not in the tenant's IP allow-list")
        });
    }
    // A body or query string that does not parse is answered by the extractors (`ApiJson`,
    // `ApiQuery`) with a 400 naming the field.
    let reads_query = op
        .parameters
        .iter()
        .flatten()
        .any(|p| matches!(p.parameter_in, utoipa::openapi::path::ParameterIn::Query));
    if op.request_body.is_some() || reads_query {
        op.responses
            .responses
            .entry("400".into())
            .or_insert_with(|| {
                problem(
                    "the body or a query parameter could not be read; the problem names the field",
                )
            });
    }
    // Checks beyond the schema (ranges, references to other objects, `ApiError::Invalid`) are
    // 422 problems naming the field, for any operation that takes input.
    if op.request_body.is_some() || op.parameters.iter().flatten().next().is_some() {
        op.responses
            .responses
            .entry("422".into())
            .or_insert_with(|| problem("a value is out of range or refers to something that does not exist; the problem names the field"));
    }
    // `If-Match` is an ETag (`"<revision>"`, optionally weak) or `*`; anything else is a 400.
    for p in op.parameters.iter_mut().flatten() {
        if matches!(p.parameter_in, utoipa::openapi::path::ParameterIn::Header)
            && p.name.eq_ignore_ascii_case("If-Match")
        {
            p.schema = Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(r#"^(\*|(W/)?"[0-9]{1,19}")$"#))
                    .into(),
            );
            op.responses
                .responses
                .entry("400".into())
                .or_insert_with(|| problem("`If-Match` is not an ETag of the object or `*`"));
        }
    }
    if crate::admin::features::domain::feature_of(path).is_some() {
        op.responses
            .responses
            .entry("403".into())
            .or_insert_with(|| {
                problem("the feature this route belongs to is turned off for the caller")
            });
    }
    let mut limited = ResponseBuilder::new()
        .description("a rate limit (per API key, user or client address) was reached")
        .content(
            "application/problem+json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .header(
            "Retry-After",
            int_header("seconds to wait before trying again"),
        );
    for (name, h) in rate_limit_headers() {
        limited = limited.header(name, h);
    }
    op.responses
        .responses
        .entry("429".into())
        .or_insert_with(|| limited.build().into());
    for (code, resp) in op.responses.responses.iter_mut() {
        if let RefOr::T(r) = resp {
            // Every error body is a problem document (`http::error`), whatever a handler's
            // annotation called it.
            if code.starts_with('4') || code.starts_with('5') {
                if let Some(c) = r.content.shift_remove("application/json") {
                    r.content
                        .entry("application/problem+json".into())
                        .or_insert(c);
                }
            }
            for (name, h) in rate_limit_headers() {
                r.headers.entry(name.into()).or_insert(h);
            }
        }
    }
}

impl Modify for KeysAndLimits {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        use axum::http::Method;
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "apiKey",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-API-Key",
                "An API key `nxk_<tenant>_<id>_<secret>` from `POST /api/v1/apikeys`, also \
                accepted as `Authorization: Bearer nxk_…`. The scope listed for an operation \
                (`<area>:read|write`) must be granted by the key and allowed to its owner's role.",
            ))),
        );
        for (path, item) in api.paths.paths.iter_mut() {
            for (method, op) in [
                (Method::GET, &mut item.get),
                (Method::PUT, &mut item.put),
                (Method::POST, &mut item.post),
                (Method::DELETE, &mut item.delete),
                (Method::PATCH, &mut item.patch),
                (Method::HEAD, &mut item.head),
                (Method::OPTIONS, &mut item.options),
            ] {
                if let Some(op) = op {
                    keys_and_limits(path, &method, op);
                }
            }
        }
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
        sessions::admin_list, sessions::admin_revoke_one, sessions::admin_revoke_many,
        crate::auth::impersonation::start, crate::auth::impersonation::end,
        admin::users::import, admin::users::bulk_action, admin::users::activity_report, admin::users::access_report,
        apikeys::create, apikeys::list, apikeys::get_one, apikeys::rotate, apikeys::revoke,
        users::list_users, users::create_user, users::update_user, users::delete_user, users::unlock_user, users::change_own_password,
        mfa::login_mfa, mfa::login_enroll, mfa::status, mfa::enroll, mfa::confirm, mfa::disable,
        mfa::regenerate, mfa::reset, privacy::export, privacy::erase,
        crate::auth::oidc::login, crate::auth::oidc::callback, crate::auth::oidc::exchange,
        admin::tenant::tenant, policies::list, admin::backups::schedules::schedules,
        admin::backups::create, admin::backups::list, admin::backups::get_one, admin::backups::delete,
        admin::backups::verify, admin::backups::restore,
        admin::monitoring::monitoring, admin::monitoring::series,
        admin::performance::queries, admin::performance::slowest, admin::performance::dashboards,
        admin::performance::cache, admin::performance::endpoints, admin::performance::suggestions,
        admin::settings::show, admin::settings::replace,
        admin::export::export, admin::export::import_config,
        admin::features::mine, admin::features::list, admin::features::set, admin::features::remove,
        admin::runtime::config, admin::alerts::alerts,
        admin::history::list, admin::history::get_one, admin::history::diff, admin::history::rollback,
        datasources::list, datasources::create, datasources::get_one, datasources::update, datasources::delete,
        datasources::test, datasources::schema,
        queries::run, queries::list, queries::create, queries::get_one, queries::update, queries::delete, queries::run_saved, queries::export::adhoc, queries::export::saved,
        insights::routes::adhoc, insights::routes::saved,
        dashboards::list, dashboards::create, dashboards::get_one, dashboards::update, dashboards::delete, dashboards::data, dashboards::widget_data,
        shares::create, shares::list, shares::revoke, shares::open, shares::data,
        embed::mint, embed::open, embed::data, embed::preflight, embed::preflight_data,
        datasources::sync,
        catalog::sync, catalog::cancel, catalog::classify, catalog::list_tables, catalog::get_table,
        catalog::patch_table, catalog::patch_column, catalog::dictionary, catalog::search,
        lineage_api::analyze, lineage_api::graph, lineage_api::impact,
        approvals::list, approvals::create, approvals::get_one, approvals::approve, approvals::reject, approvals::cancel,
        notifications::list, notifications::mark_read, notifications::mark_all_read,
        webhooks::list, webhooks::create, webhooks::get_one, webhooks::update, webhooks::delete,
        webhooks::deliveries, webhooks::redeliver,
        crate::audit::list, crate::audit::export, crate::audit::verify,
        crate::branding::branding, crate::branding::problems::problem_type,
        operator_api::put_datasource, operator_api::put_dashboard, operator_api::put_policy,
        operator_api::delete_datasource, operator_api::delete_dashboard, operator_api::delete_policy,
        operator_api::alerts,
        operator_api::put_saved_query, operator_api::delete_saved_query,
        crate::provisioning::backups::create_backup, crate::provisioning::backups::get_backup,
        crate::provisioning::backups::delete_backup, crate::provisioning::backups::create_restore,
    ),
    components(schemas(
        error::Problem, error::ProblemField, Role, Origin, Meta,
        engine::QueryResult, engine::ColumnInfo, engine::ConnectionTest, engine::SchemaInfo,
        engine::MaskedColumn,
        apikeys::ApiKeyView, apikeys::ApiKeyWithSecret, apikeys::ApiKeyInput, apikeys::RotateInput,
        apikeys::KeyState,
        insights::Insights, insights::Finding, insights::FindingKind, insights::SkippedColumn, insights::InsightsRequest,
    )),
    modifiers(&Bearer, &KeysAndLimits),
    tags((name = "auth"), (name = "apikeys"), (name = "users"), (name = "datasources"), (name = "queries"), (name = "dashboards"),
        (name = "governance"), (name = "catalog"), (name = "lineage"), (name = "approvals"), (name = "sharing"), (name = "embedding"), (name = "notifications"), (name = "webhooks"), (name = "audit"), (name = "branding"), (name = "admin"), (name = "provisioning"))
)]
struct ApiDoc;

pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
