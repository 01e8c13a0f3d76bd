//! The web console: the single-page application built from `controlplane/console/` (see
//! `build.rs`), served at `/` from the binary itself. It is the router's fallback, so every
//! API, health and metrics route keeps precedence; unknown `/api/…` paths stay problem+json
//! 404s. The files are public static assets: the guard asks no credential for unmatched paths,
//! and the console calls the API with the session token like any other client.
use axum::{
    extract::Request,
    http::{header, HeaderValue, Method, StatusCode},
    response::{IntoResponse, Response},
};

use crate::http::ApiError;

pub mod assets;

/// Nothing external: scripts, styles, images and API calls come from this origin only.
/// Styles need no `'unsafe-inline'`: React and ECharts set styles through the CSSOM (which CSP
/// allows) and CodeMirror uses constructed style sheets.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; \
    base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// Serves the console's files; any other path that is not the API's answers `index.html`, so
/// client-side routes (`/dashboards/sales-overview`) survive a reload.
pub async fn fallback(req: Request) -> Response {
    let path = req.uri().path();
    if path == "/api" || path.starts_with("/api/") {
        return ApiError::NotFound("route".into()).into_response();
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return ApiError::MethodNotAllowed.into_response();
    }
    let rel = path.trim_start_matches('/');
    let (name, hashed) = if assets::get(rel).is_some() {
        (rel, rel.starts_with("assets/"))
    } else if rel.starts_with("assets/") {
        // A missing hashed file is an old page asking for a previous build: a 404, not HTML
        // the browser would try to run as a script.
        return ApiError::NotFound(format!("console asset {rel}")).into_response();
    } else {
        ("index.html", false)
    };
    let Some(plain) = assets::get(name) else {
        return ApiError::NotFound("route".into()).into_response();
    };
    // The build writes a gzip copy of each text file; clients that accept gzip get it.
    let gzip = accepts_gzip(req.headers())
        .then(|| assets::get(&format!("{name}.gz")))
        .flatten();
    let asset = gzip.as_ref().unwrap_or(&plain);
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == asset.etag.as_bytes());
    let mut resp = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else if req.method() == Method::HEAD {
        (
            [(header::CONTENT_LENGTH, asset.bytes.len().to_string())],
            StatusCode::OK,
        )
            .into_response()
    } else {
        asset.bytes.into_response()
    };
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(plain.content_type),
    );
    if gzip.is_some() {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    h.insert(header::ETAG, HeaderValue::from_static(asset.etag));
    // Hashed names change with their content; everything else is revalidated every time.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if hashed { IMMUTABLE } else { "no-cache" }),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

fn accepts_gzip(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or_default();
            // `gzip;q=0` refuses it.
            let refused = parts.any(|p| p.replace(' ', "") == "q=0");
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

#[cfg(test)]
mod tests {
    use axum::body::Body;

    use super::*;

    async fn get(path: &str) -> Response {
        fallback(Request::get(path).body(Body::empty()).unwrap()).await
    }

    fn header(r: &Response, name: header::HeaderName) -> &str {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    #[tokio::test]
    async fn client_routes_get_the_index_uncached_with_the_csp() {
        for path in ["/", "/dashboards/sales-overview", "/sql"] {
            let r = get(path).await;
            assert_eq!(r.status(), StatusCode::OK, "{path}");
            assert!(header(&r, header::CONTENT_TYPE).starts_with("text/html"));
            assert_eq!(header(&r, header::CACHE_CONTROL), "no-cache");
            assert!(header(&r, header::CONTENT_SECURITY_POLICY).starts_with("default-src 'self'"));
        }
    }

    #[tokio::test]
    async fn api_paths_and_missing_assets_are_not_the_index() {
        let r = get("/api/v1/no-such-thing").await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert_eq!(header(&r, header::CONTENT_TYPE), "application/problem+json");
        let r = get("/assets/index-00000000.js").await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        let r = fallback(Request::post("/").body(Body::empty()).unwrap()).await;
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    }

    #[tokio::test]
    async fn the_etag_answers_not_modified() {
        let etag = header(&get("/").await, header::ETAG).to_string();
        let r = fallback(
            Request::get("/")
                .header(header::IF_NONE_MATCH, &etag)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    }

    #[test]
    fn gzip_is_recognised_in_accept_encoding() {
        let with = |v: &str| {
            let mut h = axum::http::HeaderMap::new();
            h.insert(header::ACCEPT_ENCODING, v.parse().unwrap());
            accepts_gzip(&h)
        };
        assert!(with("gzip, deflate, br, zstd"));
        assert!(with("br;q=1.0, GZIP;q=0.5"));
        assert!(with("*"));
        assert!(!with("br, zstd"));
        assert!(!with("gzip;q=0, br"));
        assert!(!accepts_gzip(&axum::http::HeaderMap::new()));
    }

    #[tokio::test]
    async fn gzip_copies_are_sent_to_clients_that_accept_them() {
        // Only meaningful when the console was built (the fallback page has no gzip copy).
        if assets::get("index.html.gz").is_none() {
            return;
        }
        let r = fallback(
            Request::get("/dashboards")
                .header(header::ACCEPT_ENCODING, "gzip, br")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(header(&r, header::CONTENT_ENCODING), "gzip");
        assert!(header(&r, header::CONTENT_TYPE).starts_with("text/html"));
        assert_eq!(header(&r, header::VARY), "accept-encoding");
        let plain = get("/dashboards").await;
        assert!(plain.headers().get(header::CONTENT_ENCODING).is_none());
        assert_ne!(header(&r, header::ETAG), header(&plain, header::ETAG));
    }

    #[tokio::test]
    async fn hashed_assets_are_immutable() {
        // Only meaningful when the console was built (the fallback page has no assets).
        let Some((path, _, _)) = assets::generated_files()
            .iter()
            .find(|(p, _, _)| p.starts_with("assets/"))
        else {
            return;
        };
        let r = get(&format!("/{path}")).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header(&r, header::CACHE_CONTROL), IMMUTABLE);
    }
}
