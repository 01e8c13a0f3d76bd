//! The tenant's allowed origins as browser headers: CORS on the embed API, `frame-ancestors`
//! on the embed page. Pure: the list comes from the tenant's `embedding.allowedOrigins`.
use axum::http::{header, HeaderMap, HeaderValue};

use crate::console::CSP;

/// The allowed origins, normalised; entries that do not parse are dropped (validation refuses
/// them on the way in, so only a hand-edited store would hold one).
pub fn normalised(allowed: &[String]) -> Vec<String> {
    allowed
        .iter()
        .filter_map(|o| nexbii_crds::settings::parse_origin(o))
        .collect()
}

/// The request's `Origin` when it is one of `allowed` (as sent: browsers compare it byte for
/// byte with the `Access-Control-Allow-Origin` answered).
pub fn allowed_origin<'a>(headers: &'a HeaderMap, allowed: &[String]) -> Option<&'a str> {
    let origin = headers.get(header::ORIGIN)?.to_str().ok()?;
    let norm = nexbii_crds::settings::parse_origin(origin)?;
    normalised(allowed).contains(&norm).then_some(origin)
}

/// Adds the CORS answer for an allowed origin; other origins get none, so their browsers
/// keep the response from the page. `Vary: Origin` either way, so caches keep them apart.
pub fn add_cors(resp: &mut HeaderMap, origin: Option<&str>, preflight: bool) {
    resp.append(header::VARY, HeaderValue::from_static("origin"));
    let Some(v) = origin.and_then(|o| HeaderValue::from_str(o).ok()) else {
        return;
    };
    resp.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
    if preflight {
        resp.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET"),
        );
        resp.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("authorization"),
        );
        resp.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
    }
}

/// The console's CSP with `frame-ancestors` listing the allowed origins (`'none'` without).
pub fn embed_page_csp(allowed: &[String]) -> String {
    let origins = normalised(allowed);
    let ancestors = if origins.is_empty() {
        "'none'".to_string()
    } else {
        origins.join(" ")
    };
    let base = CSP
        .split(';')
        .map(str::trim)
        .filter(|d| !d.starts_with("frame-ancestors"))
        .collect::<Vec<_>>()
        .join("; ");
    format!("{base}; frame-ancestors {ancestors}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_origin(o: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ORIGIN, o.parse().unwrap());
        h
    }

    #[test]
    fn only_listed_origins_get_cors() {
        let allowed = vec!["https://App.example.com".to_string(), "bad".to_string()];
        assert_eq!(
            allowed_origin(&with_origin("https://app.example.com"), &allowed),
            Some("https://app.example.com")
        );
        assert_eq!(
            allowed_origin(&with_origin("https://evil.example.com"), &allowed),
            None
        );
        assert_eq!(
            allowed_origin(&with_origin("http://app.example.com"), &allowed),
            None
        );
        assert_eq!(allowed_origin(&with_origin("null"), &allowed), None);
        assert_eq!(allowed_origin(&HeaderMap::new(), &allowed), None);

        let mut resp = HeaderMap::new();
        add_cors(&mut resp, Some("https://app.example.com"), true);
        assert_eq!(
            resp["access-control-allow-origin"],
            "https://app.example.com"
        );
        assert_eq!(resp["access-control-allow-headers"], "authorization");
        let mut other = HeaderMap::new();
        add_cors(&mut other, None, true);
        assert!(other.get("access-control-allow-origin").is_none());
        assert_eq!(other["vary"], "origin");
    }

    #[test]
    fn frame_ancestors_lists_the_origins_or_none() {
        let csp = embed_page_csp(&["https://a.example".into(), "http://127.0.0.1:9".into()]);
        assert!(
            csp.ends_with("; frame-ancestors https://a.example http://127.0.0.1:9"),
            "{csp}"
        );
        assert_eq!(csp.matches("frame-ancestors").count(), 1);
        assert!(csp.starts_with("default-src 'self'"));
        assert!(embed_page_csp(&[]).ends_with("; frame-ancestors 'none'"));
        // An entry that could smuggle a directive in is not an origin.
        assert!(embed_page_csp(&["https://a.example; script-src *".into()])
            .ends_with("frame-ancestors 'none'"));
    }
}
