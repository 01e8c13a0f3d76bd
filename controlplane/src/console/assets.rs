//! The console's built files, embedded at compile time by `build.rs`.

mod generated {
    include!(concat!(env!("OUT_DIR"), "/console_assets.rs"));
}

/// One embedded file.
pub struct Asset {
    pub bytes: &'static [u8],
    /// A quoted strong ETag (a hash of the bytes).
    pub etag: &'static str,
    pub content_type: &'static str,
}

/// The file at `path` (relative to the console's root, no leading slash).
pub fn get(path: &str) -> Option<Asset> {
    generated::FILES
        .iter()
        .find(|(p, _, _)| *p == path)
        .map(|(p, bytes, etag)| Asset {
            bytes,
            etag,
            content_type: content_type(p),
        })
}

/// Every embedded file as (path, bytes, etag).
pub fn generated_files() -> &'static [(&'static str, &'static [u8], &'static str)] {
    generated::FILES
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("json" | "map") => "application/json",
        Some("woff2") => "font/woff2",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn index_is_always_embedded() {
        // The real console or the fallback page that says how to build it.
        let index = super::get("index.html").expect("index.html embedded");
        assert!(index.content_type.starts_with("text/html"));
        assert!(index.etag.starts_with('"') && index.etag.ends_with('"'));
    }
}
