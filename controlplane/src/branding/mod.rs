//! White-labelling: `GET /api/v1/branding` tells the login page and the console shell whose
//! colours, logos and name to show — before anyone signs in, so it needs no credential. The
//! tenant is named by `?tenant=`, or found from the `Host` the browser asked for (the
//! Tenant's `spec.branding.customDomain`).
use std::time::Duration;

use axum::{
    extract::State,
    http::{header, HeaderMap},
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use regex::Regex;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub mod css;
pub mod problems;

use crate::{
    http::{ApiError, ApiResult, Problem},
    state::{AppState, SharedState},
    store::{Store, TenantScope},
};

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/api/v1/branding", get(branding))
        .merge(problems::routes())
}

/// Custom domains → tenant names, looked up across the instance's tenants and remembered
/// briefly (a changed `customDomain` takes effect within the time-to-live).
pub struct Domains(moka::future::Cache<String, Option<TenantScope>>);

impl Default for Domains {
    fn default() -> Self {
        Self(
            moka::future::Cache::builder()
                .time_to_live(Duration::from_secs(30))
                .max_capacity(10_000)
                .build(),
        )
    }
}

impl Domains {
    pub(crate) async fn tenant_of(
        &self,
        state: &AppState,
        host: &str,
    ) -> ApiResult<Option<TenantScope>> {
        if let Some(hit) = self.0.get(host).await {
            return Ok(hit);
        }
        let mut found = None;
        for scope in state.store.tenants().await? {
            let Ok(t) = state.tenant(&scope).await else {
                continue;
            };
            let domain = t
                .spec
                .branding
                .as_ref()
                .and_then(|b| b.custom_domain.as_deref());
            if domain.is_some_and(|d| d.eq_ignore_ascii_case(host)) {
                found = Some(scope);
                break;
            }
        }
        self.0.insert(host.to_string(), found.clone()).await;
        Ok(found)
    }
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BrandingParams {
    /// The tenant; without it, the tenant whose custom domain is the request's `Host`.
    pub tenant: Option<String>,
}

/// What the login page and the console shell show. Fields the Tenant leaves out (or that do
/// not pass the checks below) are absent: the console's defaults apply.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BrandingView {
    pub tenant: String,
    /// The branding name, else the Tenant's display name.
    pub display_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logo_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dark_logo_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub favicon_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_color: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accent_color: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub font_family: Option<String>,
    /// The Tenant's custom CSS, sanitised (see `removed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_css: Option<String>,
    /// What sanitising took out of the custom CSS (`@import`, `url()`, …).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<String>,
    /// Present when the tenant has single sign-on (`GET /api/v1/auth/oidc/login`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sso: Option<SsoOption>,
}

/// The login page's single sign-on button.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SsoOption {
    pub button_label: String,
}

/// The three patterns fields are checked against, compiled once.
fn patterns() -> &'static [Regex; 3] {
    static P: std::sync::OnceLock<[Regex; 3]> = std::sync::OnceLock::new();
    P.get_or_init(|| {
        [
            nexbii_crds::tenant::IMAGE_URL,
            nexbii_crds::common::COLOR,
            r#"^[A-Za-z0-9 ,'"-]{1,200}$"#,
        ]
        .map(|p| Regex::new(p).expect("valid pattern"))
    })
}

/// The request's host name, without port, lower-cased.
pub(crate) fn host(headers: &HeaderMap) -> Option<String> {
    let h = headers.get(header::HOST)?.to_str().ok()?;
    let name = h.rsplit_once(':').map_or(h, |(n, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            n
        } else {
            h
        }
    });
    Some(name.trim().to_ascii_lowercase())
}

/// The branding of one tenant as served (pure: checks and sanitising only).
pub fn view(tenant: &str, display_name: &str, b: Option<&nexbii_crds::Branding>) -> BrandingView {
    let b = b.cloned().unwrap_or_default();
    // The same rules as the CRD schema: objects applied from a manifests folder skip the
    // apiserver's checks, so they are applied here again.
    let [image, color, font] = patterns();
    let (image, color, font) = (
        |v: &String| image.is_match(v),
        |v: &String| color.is_match(v),
        |v: &String| font.is_match(v),
    );
    let (css, removed) = match b.custom_css.as_deref().map(css::sanitize) {
        Some((css, removed)) => (Some(css).filter(|c| !c.trim().is_empty()), removed),
        None => (None, Vec::new()),
    };
    BrandingView {
        tenant: tenant.to_string(),
        display_name: b
            .name
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| display_name.to_string()),
        logo_url: b.logo_url.filter(&image),
        dark_logo_url: b.dark_logo_url.filter(&image),
        favicon_url: b.favicon_url.filter(&image),
        primary_color: b.primary_color.filter(&color),
        accent_color: b.accent_color.filter(&color),
        font_family: b.font_family.filter(&font),
        custom_css: css,
        removed: removed.into_iter().map(str::to_string).collect(),
        sso: None,
    }
}

#[utoipa::path(get, path = "/api/v1/branding", tag = "branding", params(BrandingParams),
    responses(
        (status = 200, body = BrandingView, description = "the tenant's branding (no credential needed)"),
        (status = 404, body = Problem, content_type = "application/problem+json",
            description = "no such tenant, or no tenant has this host as its custom domain")),
    security(()))]
pub async fn branding(
    State(state): State<SharedState>,
    headers: HeaderMap,
    crate::http::ApiQuery(p): crate::http::ApiQuery<BrandingParams>,
) -> ApiResult<Response> {
    let unknown = || ApiError::NotFound("tenant".into());
    let scope = match p.tenant.as_deref() {
        Some(t) => TenantScope::new(t).ok_or_else(unknown)?,
        None => {
            let host = host(&headers).ok_or_else(unknown)?;
            state
                .domains
                .tenant_of(&state, &host)
                .await?
                .ok_or_else(unknown)?
        }
    };
    let t = state.tenant(&scope).await.map_err(|_| unknown())?;
    let mut v = view(
        scope.tenant(),
        &t.spec.display_name,
        t.spec.branding.as_ref(),
    );
    v.sso = t.spec.auth.oidc.as_ref().map(|o| SsoOption {
        button_label: o
            .button_label
            .clone()
            .unwrap_or_else(|| "Sign in with single sign-on".into()),
    });
    Ok((
        [
            (header::CACHE_CONTROL, "public, max-age=60"),
            (header::VARY, "Host"),
        ],
        Json(v),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nexbii_crds::Branding;

    #[test]
    fn what_fails_the_rules_is_left_out() {
        let b = Branding {
            name: Some("Acme BI".into()),
            logo_url: Some("https://acme.example/logo.svg".into()),
            dark_logo_url: Some("javascript:alert(1)".into()),
            favicon_url: Some("/favicon.png".into()),
            primary_color: Some("#1f6feb".into()),
            accent_color: Some("red; background: url(x)".into()),
            font_family: Some("Inter, sans-serif".into()),
            custom_css: Some("@import 'x.css'; .nx{color:#333}".into()),
            custom_domain: None,
        };
        let v = view("acme", "Acme", Some(&b));
        assert_eq!(v.display_name, "Acme BI");
        assert_eq!(v.logo_url.as_deref(), Some("https://acme.example/logo.svg"));
        assert_eq!(v.dark_logo_url, None);
        assert_eq!(v.favicon_url.as_deref(), Some("/favicon.png"));
        assert_eq!(v.accent_color, None);
        assert_eq!(v.font_family.as_deref(), Some("Inter, sans-serif"));
        assert_eq!(v.custom_css.as_deref(), Some(" .nx{color:#333}"));
        assert_eq!(v.removed, vec!["@import"]);
        let plain = view("acme", "Acme", None);
        assert_eq!(plain.display_name, "Acme");
        assert!(plain.logo_url.is_none() && plain.custom_css.is_none());
    }

    #[test]
    fn the_host_is_read_without_its_port() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, "BI.Acme.example:8443".parse().unwrap());
        assert_eq!(host(&h).as_deref(), Some("bi.acme.example"));
        h.insert(header::HOST, "bi.acme.example".parse().unwrap());
        assert_eq!(host(&h).as_deref(), Some("bi.acme.example"));
        assert_eq!(host(&HeaderMap::new()), None);
    }
}
