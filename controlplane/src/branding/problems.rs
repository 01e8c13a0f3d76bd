//! White-labelled problem types: the `type` URI of a problem+json body names the tenant's own
//! host when the request's tenant is branded (`https://<custom domain>/problems/<slug>`, else
//! the host the request was sent to), and `GET /problems/{slug}` describes each type there, so
//! those URIs resolve. Unbranded requests keep `https://nexbii.io/problems/<slug>`.
use axum::{
    extract::{Path, Request, State},
    http::{header, HeaderMap, HeaderValue},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    http::{
        error::{DEFAULT_PROBLEM_BASE, PROBLEM_TYPES},
        middleware::Identity,
        ApiError, ApiResult, Problem,
    },
    state::SharedState,
    store::TenantScope,
};

pub fn routes() -> Router<SharedState> {
    Router::new().route("/problems/{slug}", get(problem_type))
}

/// A branded tenant's problem base: its custom domain (always https: that is how end users
/// reach it), else `origin` (`scheme://host` of the request). `None` when the tenant has no
/// branding name or custom domain: the default base applies.
pub fn problem_base(b: Option<&nexbii_crds::Branding>, origin: Option<&str>) -> Option<String> {
    let b = b?;
    if let Some(d) = b.custom_domain.as_deref().filter(|d| !d.trim().is_empty()) {
        return Some(format!(
            "https://{}/problems/",
            d.trim().to_ascii_lowercase()
        ));
    }
    if b.name.as_deref().is_some_and(|n| !n.trim().is_empty()) {
        return origin.map(|o| format!("{}/problems/", o.trim_end_matches('/')));
    }
    None
}

/// `type` with the default base swapped for `base` (other URIs are left as they are).
pub fn rebase(type_uri: &str, base: &str) -> Option<String> {
    type_uri
        .strip_prefix(DEFAULT_PROBLEM_BASE)
        .filter(|slug| !slug.is_empty())
        .map(|slug| format!("{base}{slug}"))
}

/// The request's tenant, found like `GET /api/v1/branding` finds it (`?tenant=`, then the
/// `Host` as a custom domain), else the tenant the request authenticated as.
pub async fn request_tenant(
    state: &SharedState,
    query: Option<&str>,
    headers: &HeaderMap,
    authenticated: Option<String>,
) -> Option<std::sync::Arc<crate::tenant::TenantRecord>> {
    let named = query.and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "tenant")
            .map(|(_, v)| v.into_owned())
    });
    let scope = match named.as_deref().and_then(TenantScope::new) {
        Some(s) => Some(s),
        None => match super::host(headers) {
            Some(h) => state.domains.tenant_of(state, &h).await.ok().flatten(),
            None => None,
        },
    }
    .or_else(|| authenticated.as_deref().and_then(TenantScope::new))?;
    state.tenant(&scope).await.ok()
}

/// The problem base of the request's tenant when it is branded.
async fn branded_base(
    state: &SharedState,
    query: Option<&str>,
    headers: &HeaderMap,
    peer: Option<std::net::IpAddr>,
    authenticated: Option<String>,
) -> Option<String> {
    let t = request_tenant(state, query, headers, authenticated).await?;
    let origin = crate::auth::oidc::external_base(state, headers, peer).ok();
    problem_base(t.spec.branding.as_ref(), origin.as_deref())
}

/// The OpenAPI document as a branded tenant's users see it: titled "<name> API", with the
/// tenant as contact (its custom domain as URL) and problem types on `base`.
pub fn brand_document(
    doc: &mut utoipa::openapi::OpenApi,
    name: &str,
    domain: Option<&str>,
    base: &str,
) {
    doc.info.title = format!("{name} API");
    doc.info.description = doc
        .info
        .description
        .take()
        .map(|d| format!("The {name} API. {d}"));
    let mut contact = utoipa::openapi::info::Contact::new();
    contact.name = Some(name.to_string());
    contact.url = domain.map(|d| format!("https://{}", d.to_ascii_lowercase()));
    doc.info.contact = Some(contact);
    if let Some(utoipa::openapi::RefOr::T(utoipa::openapi::schema::Schema::Object(o))) = doc
        .components
        .as_mut()
        .and_then(|c| c.schemas.get_mut("Problem"))
    {
        if let Some(utoipa::openapi::RefOr::T(utoipa::openapi::schema::Schema::Object(t))) =
            o.properties.get_mut("type")
        {
            t.description = Some(format!(
                "`{base}<slug>`: `GET /problems/{{slug}}` on this host describes it"
            ));
        }
    }
}

/// Rewrites the `type` of problem+json answers for branded tenants (a layer inside request
/// tracking, so the authenticated tenant is known once the request is answered).
pub async fn brand_problems(
    State(state): State<SharedState>,
    req: Request,
    next: Next,
) -> Response {
    let query = req.uri().query().map(str::to_string);
    let headers = req.headers().clone();
    let peer = crate::auth::oidc::peer(req.extensions());
    let identity = req.extensions().get::<Identity>().cloned();
    let resp = next.run(req).await;
    let is_problem = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if !is_problem {
        return resp;
    }
    let authenticated = identity.and_then(|i| i.tenant());
    let Some(base) = branded_base(&state, query.as_deref(), &headers, peer, authenticated).await
    else {
        return resp;
    };
    let (mut parts, body) = resp.into_parts();
    // Problem bodies are small documents made by `ApiError`; anything larger is left alone.
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return ApiError::Internal(anyhow::anyhow!("problem body unreadable")).into_response();
    };
    let rebased = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|mut v| {
            let t = rebase(v.get("type")?.as_str()?, &base)?;
            v["type"] = serde_json::Value::String(t);
            serde_json::to_vec(&v).ok()
        });
    let out = rebased.unwrap_or_else(|| bytes.to_vec());
    parts.headers.remove(header::CONTENT_LENGTH);
    if let Ok(v) = HeaderValue::from_str(&out.len().to_string()) {
        parts.headers.insert(header::CONTENT_LENGTH, v);
    }
    Response::from_parts(parts, axum::body::Body::from(out))
}

/// One problem type, as `GET /problems/{slug}` describes it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProblemType {
    /// The URI problem bodies of this type carry (branded like them).
    #[serde(rename = "type")]
    pub type_: String,
    pub slug: String,
    /// The HTTP status it comes with.
    pub status: u16,
    pub title: String,
    pub description: String,
}

/// Describes one problem type (the target of a problem body's `type` URI).
#[utoipa::path(get, path = "/problems/{slug}", tag = "branding",
    params(("slug" = String, Path, description = "the last segment of a problem's `type` URI")),
    responses(
        (status = 200, body = ProblemType, description = "what the problem type means"),
        (status = 404, body = Problem, content_type = "application/problem+json",
            description = "no such problem type")),
    security(()))]
pub async fn problem_type(
    State(state): State<SharedState>,
    Path(slug): Path<String>,
    req: Request,
) -> ApiResult<Response> {
    let (slug, status, description) = PROBLEM_TYPES
        .iter()
        .find(|(s, ..)| *s == slug)
        .copied()
        .ok_or_else(|| ApiError::NotFound(format!("problem type {slug:?}")))?;
    let peer = crate::auth::oidc::peer(req.extensions());
    let base = branded_base(&state, req.uri().query(), req.headers(), peer, None)
        .await
        .unwrap_or_else(|| DEFAULT_PROBLEM_BASE.to_string());
    let title = axum::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error")
        .to_string();
    Ok((
        [
            (header::CACHE_CONTROL, "public, max-age=3600"),
            (header::VARY, "Host"),
        ],
        Json(ProblemType {
            type_: format!("{base}{slug}"),
            slug: slug.to_string(),
            status,
            title,
            description: description.to_string(),
        }),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nexbii_crds::Branding;

    #[test]
    fn branded_tenants_get_their_own_problem_base() {
        let origin = Some("http://10.0.0.5:8080");
        assert_eq!(problem_base(None, origin), None);
        assert_eq!(problem_base(Some(&Branding::default()), origin), None);
        let named = Branding {
            name: Some("Acme Insights".into()),
            ..Default::default()
        };
        assert_eq!(
            problem_base(Some(&named), origin).as_deref(),
            Some("http://10.0.0.5:8080/problems/")
        );
        assert_eq!(problem_base(Some(&named), None), None);
        let domain = Branding {
            custom_domain: Some("BI.Acme.example".into()),
            ..named
        };
        assert_eq!(
            problem_base(Some(&domain), origin).as_deref(),
            Some("https://bi.acme.example/problems/")
        );
    }

    #[test]
    fn the_document_carries_the_tenant_name_and_problem_base() {
        let mut doc = crate::http::openapi::document();
        let plain = serde_json::to_value(&doc).unwrap();
        assert_eq!(plain["info"]["title"], "NexBII control plane");
        brand_document(
            &mut doc,
            "Acme Insights",
            Some("BI.acme.example"),
            "https://bi.acme.example/problems/",
        );
        let v = serde_json::to_value(&doc).unwrap();
        assert_eq!(v["info"]["title"], "Acme Insights API");
        assert_eq!(v["info"]["contact"]["name"], "Acme Insights");
        assert_eq!(v["info"]["contact"]["url"], "https://bi.acme.example");
        let d = v["info"]["description"].as_str().unwrap();
        assert!(d.starts_with("The Acme Insights API. "), "{d}");
        let t = v["components"]["schemas"]["Problem"]["properties"]["type"]["description"]
            .as_str()
            .unwrap();
        assert!(
            t.starts_with("`https://bi.acme.example/problems/<slug>`"),
            "{t}"
        );
        assert!(!v.to_string().contains("nexbii.io/problems"));
    }

    #[test]
    fn only_default_problem_types_are_rebased() {
        let base = "https://bi.acme.example/problems/";
        assert_eq!(
            rebase("https://nexbii.io/problems/not-found", base).as_deref(),
            Some("https://bi.acme.example/problems/not-found")
        );
        assert_eq!(rebase("https://other.example/problems/x", base), None);
        assert_eq!(rebase("https://nexbii.io/problems/", base), None);
    }

    #[test]
    fn every_error_has_a_described_problem_type() {
        let all = [
            ApiError::BadRequest {
                field: None,
                detail: String::new(),
            },
            ApiError::invalid("f", "m"),
            ApiError::Sql {
                detail: String::new(),
                position: None,
            },
            ApiError::QueryRefused(String::new()),
            ApiError::Unauthorized(String::new()),
            ApiError::Forbidden(String::new()),
            ApiError::ApprovalRequired(String::new()),
            ApiError::NotFound(String::new()),
            ApiError::Gone(String::new()),
            ApiError::MethodNotAllowed,
            ApiError::Conflict(String::new()),
            ApiError::Owned {
                field: String::new(),
                owner: String::new(),
            },
            ApiError::TooManyRequests(String::new()),
            ApiError::Timeout(String::new()),
            ApiError::DataSource {
                name: String::new(),
                detail: String::new(),
            },
            ApiError::Unavailable(String::new()),
            ApiError::Internal(anyhow::anyhow!("x")),
        ];
        for e in &all {
            let p = e.to_problem();
            let (slug, status, _) = PROBLEM_TYPES
                .iter()
                .find(|(s, ..)| *s == e.slug())
                .unwrap_or_else(|| panic!("{} is not described", e.slug()));
            assert_eq!(p.type_, format!("{DEFAULT_PROBLEM_BASE}{slug}"));
            assert_eq!(p.status, *status, "{slug}");
        }
        assert_eq!(all.len(), PROBLEM_TYPES.len());
    }
}
