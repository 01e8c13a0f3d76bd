//! Custom CSS made safe to serve into the console: what could load from elsewhere, run code
//! or leave the style element is removed, the rest is kept as written.
//!
//! Hand-rolled on purpose: the console's CSP already forbids external loads and scripts, so
//! this is the second line, and the few constructs that matter (`@import`, `url(…)` other
//! than inline images, `expression(…)`, `javascript:`, `behavior`/`-moz-binding`, `</style`,
//! HTML comments, escapes that could spell any of these) are found on a normalised copy
//! without a full CSS parser.
use regex::Regex;
use std::sync::OnceLock;

/// What is removed, and why, for the response's `removed` list.
fn rules() -> &'static [(Regex, &'static str)] {
    static RULES: OnceLock<Vec<(Regex, &'static str)>> = OnceLock::new();
    RULES.get_or_init(|| {
        [
            (r"(?i)@import[^;]*;?", "@import"),
            (r"(?i)@charset[^;]*;?", "@charset"),
            (r"(?i)@namespace[^;]*;?", "@namespace"),
            (r"(?i)expression\s*\([^)]*\)", "expression()"),
            (r"(?i)(java|vb)script\s*:", "script URL"),
            (r"(?i)-moz-binding\s*:[^;}]*;?", "-moz-binding"),
            (r"(?i)behavior\s*:[^;}]*;?", "behavior"),
            (
                r#"(?i)url\s*\(\s*(?:['"]?)(?:[^)'"]*)(?:['"]?)\s*\)"#,
                "url()",
            ),
            (r"(?i)</?\s*style", "style tag"),
            (r"<!--|-->|<|>", "markup"),
        ]
        .into_iter()
        .map(|(re, why)| (Regex::new(re).expect("valid pattern"), why))
        .collect()
    })
}

/// An inline image is the only `url(…)` kept.
fn inline_image(m: &str) -> bool {
    let inner = m
        .trim_start_matches(|c: char| c != '(')
        .trim_start_matches('(')
        .trim_end_matches(')')
        .trim()
        .trim_matches(|c| c == '\'' || c == '"');
    inner.starts_with("data:image/") && !inner.contains("svg")
}

/// The sanitised CSS and the kinds of things removed (empty when it was clean).
pub fn sanitize(css: &str) -> (String, Vec<&'static str>) {
    // CSS escapes (`\6a avascript`, `\40 import`) can spell anything: a stylesheet that uses
    // them is not served at all rather than decoded and second-guessed.
    if css.contains('\\') {
        return (String::new(), vec!["escapes"]);
    }
    let mut out = css.to_string();
    let mut removed = Vec::new();
    for (re, why) in rules() {
        let mut hit = false;
        out = re
            .replace_all(&out, |c: &regex::Captures<'_>| {
                let m = c.get(0).map_or("", |m| m.as_str());
                if *why == "url()" && inline_image(m) {
                    m.to_string()
                } else {
                    hit = true;
                    String::new()
                }
            })
            .into_owned();
        if hit {
            removed.push(*why);
        }
    }
    (out, removed)
}

#[cfg(test)]
mod tests {
    use super::sanitize;

    #[test]
    fn plain_rules_pass_unchanged() {
        let css = ".nx-header { background: #1f6feb; font-weight: 600 }\n:root { --radius: 4px; }";
        assert_eq!(sanitize(css), (css.to_string(), vec![]));
    }

    #[test]
    fn what_loads_runs_or_escapes_is_removed() {
        for (bad, kind, gone) in [
            (
                "@import url(https://evil.example/x.css); a{color:red}",
                "@import",
                "evil",
            ),
            (
                "a{background:url(https://evil.example/track.png)}",
                "url()",
                "evil",
            ),
            ("a{background:url( 'http://x/y' )}", "url()", "http"),
            ("a{width:expression(alert(1))}", "expression()", "alert"),
            (
                "a{background:javascript:alert(1)}",
                "script URL",
                "javascript",
            ),
            ("a{-moz-binding:url(x.xml#y)}", "-moz-binding", "x.xml"),
            ("a{behavior:url(x.htc)}", "behavior", "x.htc"),
            ("</style><script>alert(1)</script>", "style tag", "<"),
            ("a{b:c}<!-- x -->", "markup", "<!--"),
        ] {
            let (out, removed) = sanitize(bad);
            assert!(removed.contains(&kind), "{bad}: {removed:?} / {out}");
            assert!(!out.contains(gone), "{bad} → {out}");
            assert!(!out.contains('<'), "{bad} → {out}");
        }
        let (out, removed) = sanitize(r"a{background:u\72l(https://evil.example)}");
        assert_eq!((out.as_str(), removed), ("", vec!["escapes"]));
    }

    #[test]
    fn inline_raster_images_are_kept() {
        let css = "a{background:url(data:image/png;base64,iVBORw0KGgo=)}";
        assert_eq!(sanitize(css).0, css);
        let svg = "a{background:url(data:image/svg+xml;base64,PHN2Zz4=)}";
        assert!(!sanitize(svg).0.contains("svg"), "SVG can carry script");
    }
}
