//! Builds the browser console (`console/` at the repository root) with npm and Vite, and
//! embeds the result: `npm ci` when `node_modules` is missing or older than the lock
//! file, then `npm run build` into `OUT_DIR`, whenever the console's sources change.
//! Without npm, or when the build fails, a small page saying why is embedded instead
//! and cargo prints a warning, so the rest of koban still builds.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let console = manifest.join("../../console");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default());
    for p in [
        "src",
        "index.html",
        "package.json",
        "package-lock.json",
        "vite.config.ts",
        "tsconfig.json",
        "public",
    ] {
        println!("cargo:rerun-if-changed={}", console.join(p).display());
    }
    println!("cargo:rerun-if-env-changed=KOBAN_CONSOLE_SKIP_BUILD");
    let dist = out.join("dist");
    let result = if std::env::var_os("KOBAN_CONSOLE_SKIP_BUILD").is_some() {
        Err("KOBAN_CONSOLE_SKIP_BUILD is set".to_string())
    } else {
        build(&console, &dist)
    };
    let mut files = Vec::new();
    let note = match result {
        Ok(()) => {
            collect(&dist, &dist, &mut files);
            String::new()
        }
        Err(why) => {
            println!("cargo:warning=the koban console was not built: {why}");
            let page = out.join("not-built.html");
            let html = format!(
                "<!doctype html><html lang=\"ja\"><meta charset=\"utf-8\"><title>koban</title>\
                 <body style=\"background:#111;color:#eee;font-family:sans-serif;padding:2em\">\
                 <h1>koban</h1><p>コンソールはビルドされていません / The console was not built \
                 into this binary:</p><pre>{}</pre><p>Install Node.js and npm, then rebuild \
                 (<code>cargo build --release -p koban</code>). The API is at \
                 <code>/api/v1</code>.</p></body></html>",
                escape(&why)
            );
            if let Err(e) = std::fs::write(&page, html) {
                panic!("writing {}: {e}", page.display());
            }
            files.push(("index.html".to_string(), page));
            why
        }
    };
    files.sort();
    let mut code = String::from(
        "/// Every embedded file: (path, bytes, content type).\npub static FILES: &[(&str, &[u8], &str)] = &[\n",
    );
    for (name, path) in &files {
        let _ = writeln!(
            code,
            "    ({name:?}, include_bytes!({:?}), {:?}),",
            path.display().to_string(),
            content_type(name)
        );
    }
    code.push_str("];\n");
    let _ = writeln!(
        code,
        "/// Why the console was not built (empty when it was).\npub const NOT_BUILT: &str = {note:?};"
    );
    if let Err(e) = std::fs::write(out.join("files.rs"), code) {
        panic!("writing files.rs: {e}");
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn npm() -> &'static str {
    if cfg!(windows) { "npm.cmd" } else { "npm" }
}

fn run(cmd: &mut Command, what: &str) -> Result<(), String> {
    let out = cmd
        .output()
        .map_err(|e| format!("{what}: cannot run npm ({e}); install Node.js and npm"))?;
    if out.status.success() {
        return Ok(());
    }
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    let tail: Vec<&str> = text.lines().rev().take(30).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    Err(format!(
        "{what} failed ({}):\n{}",
        out.status,
        tail.join("\n")
    ))
}

fn modified(p: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

fn build(console: &Path, dist: &Path) -> Result<(), String> {
    if !console.join("package.json").exists() {
        return Err(format!("no console sources at {}", console.display()));
    }
    let lock = console.join("package-lock.json");
    let installed = console.join("node_modules/.package-lock.json");
    let stale = match (modified(&lock), modified(&installed)) {
        (Some(l), Some(i)) => l > i,
        _ => true,
    };
    if stale {
        run(
            Command::new(npm())
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(console),
            "npm ci",
        )?;
    }
    let _ = std::fs::remove_dir_all(dist);
    run(
        Command::new(npm())
            .args(["run", "build", "--", "--outDir"])
            .arg(dist)
            .arg("--emptyOutDir")
            .current_dir(console),
        "npm run build",
    )?;
    if !dist.join("index.html").exists() {
        return Err("the build wrote no index.html".into());
    }
    Ok(())
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(root, &p, files);
        } else if let Ok(rel) = p.strip_prefix(root) {
            let name = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            if !name.ends_with(".map") {
                files.push((name, p));
            }
        }
    }
}

fn content_type(name: &str) -> &'static str {
    let ext = name.rsplit('.').next().unwrap_or("");
    match ext {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "geojson" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "ico" => "image/x-icon",
        "wasm" => "application/wasm",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}
