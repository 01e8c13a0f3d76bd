//! Builds the web console (`console/`, a Vite project) and embeds its files in the binary.
//!
//! Where the assets come from, first match wins:
//! 1. `NEXBII_CONSOLE_DIST=<dir>`: an already built `dist` folder (container builds build the
//!    console in a Node stage and hand it over); npm is not run.
//! 2. `npm ci` (only when `package-lock.json` changed since the last install) and
//!    `npm run build` into `OUT_DIR`, unless `NEXBII_SKIP_CONSOLE_BUILD=1`.
//! 3. With the build skipped, `console/dist` when it exists (`npm run build` by hand).
//! 4. Otherwise a fallback page saying how to build the console, and a `cargo:warning`.
//!
//! The result is `$OUT_DIR/console_assets.rs`: a table of (path, bytes, etag), included by
//! `src/console/assets.rs`.
use std::{
    env, fs,
    hash::{Hash, Hasher},
    path::{Path, PathBuf},
    process::Command,
};

const FALLBACK: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>NexBII console not built</title></head>
<body><main>
<h1>The NexBII web console was not built into this binary</h1>
<p>The API is available under <code>/api/v1</code>. To include the console, install Node.js 20+
and npm, then rebuild: <code>cargo build -p nexbii-controlplane</code> runs
<code>npm ci &amp;&amp; npm run build</code> in <code>controlplane/console</code> by itself
(unless <code>NEXBII_SKIP_CONSOLE_BUILD=1</code> is set), or build it by hand there and
rebuild with <code>NEXBII_SKIP_CONSOLE_BUILD=1</code>.</p>
</main></body></html>
"#;

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets it"));
    let console = manifest.join("console");
    for f in [
        "package.json",
        "package-lock.json",
        "index.html",
        "vite.config.ts",
        "tsconfig.json",
        "src",
        "public",
    ] {
        println!("cargo:rerun-if-changed={}", console.join(f).display());
    }
    println!("cargo:rerun-if-env-changed=NEXBII_CONSOLE_DIST");
    println!("cargo:rerun-if-env-changed=NEXBII_SKIP_CONSOLE_BUILD");

    let dist = match assets_dir(&console, &out) {
        Ok(d) => Some(d),
        Err(why) => {
            println!("cargo:warning=web console not embedded: {why}; serving a page that says how to build it");
            None
        }
    };
    let files = match &dist {
        Some(d) => {
            let mut files = Vec::new();
            collect(d, d, &mut files);
            files.sort();
            files
        }
        None => {
            let page = out.join("console-fallback.html");
            fs::write(&page, FALLBACK).expect("OUT_DIR is writable");
            vec![("index.html".to_string(), page)]
        }
    };
    let mut code = String::from("pub static FILES: &[(&str, &[u8], &str)] = &[\n");
    for (rel, path) in &files {
        let bytes = fs::read(path).expect("asset readable");
        let mut h = std::collections::hash_map::DefaultHasher::new();
        bytes.hash(&mut h);
        code.push_str(&format!(
            "    ({rel:?}, include_bytes!({:?}), \"\\\"{:016x}\\\"\"),\n",
            path.display().to_string(),
            h.finish()
        ));
    }
    code.push_str("];\n");
    fs::write(out.join("console_assets.rs"), code).expect("OUT_DIR is writable");
}

/// The folder holding the built console, or why there is none.
fn assets_dir(console: &Path, out: &Path) -> Result<PathBuf, String> {
    if let Ok(d) = env::var("NEXBII_CONSOLE_DIST") {
        let d = PathBuf::from(d);
        return if d.join("index.html").is_file() {
            Ok(d)
        } else {
            Err(format!(
                "NEXBII_CONSOLE_DIST={} has no index.html",
                d.display()
            ))
        };
    }
    if env::var("NEXBII_SKIP_CONSOLE_BUILD").is_ok_and(|v| v == "1") {
        let d = console.join("dist");
        return if d.join("index.html").is_file() {
            Ok(d)
        } else {
            Err("NEXBII_SKIP_CONSOLE_BUILD=1 and no controlplane/console/dist".into())
        };
    }
    if !console.join("package.json").is_file() {
        return Err("controlplane/console/package.json is missing".into());
    }
    install(console)?;
    let target = out.join("console-dist");
    npm(
        console,
        &[
            "run",
            "build",
            "--",
            "--outDir",
            &target.display().to_string(),
            "--emptyOutDir",
        ],
    )?;
    Ok(target)
}

/// `npm ci` when `node_modules` was not installed from the current `package-lock.json` (a
/// stamp holds the lock's hash), so an unchanged lock costs nothing.
fn install(console: &Path) -> Result<(), String> {
    let lock = fs::read(console.join("package-lock.json"))
        .map_err(|e| format!("package-lock.json: {e}"))?;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    lock.hash(&mut h);
    let want = format!("{:016x}", h.finish());
    let stamp = console.join("node_modules/.nexbii-lock-hash");
    if fs::read_to_string(&stamp).is_ok_and(|s| s.trim() == want) {
        return Ok(());
    }
    npm(console, &["ci", "--no-audit", "--no-fund"])?;
    fs::write(&stamp, want).map_err(|e| format!("{}: {e}", stamp.display()))
}

fn npm(dir: &Path, args: &[&str]) -> Result<(), String> {
    let out = Command::new("npm")
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| format!("npm could not be started ({e})"))?;
    if out.status.success() {
        return Ok(());
    }
    // The end of npm's output says what went wrong; cargo shows warnings, not script output.
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    let tail: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = tail[tail.len().saturating_sub(8)..].join(" | ");
    Err(format!(
        "`npm {}` failed ({}): {tail}",
        args.join(" "),
        out.status
    ))
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(root, &p, out);
        } else if let Ok(rel) = p.strip_prefix(root) {
            let rel = rel.to_string_lossy().replace('\\', "/");
            out.push((rel, p));
        }
    }
}
