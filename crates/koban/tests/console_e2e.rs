//! The browser console end to end, in real headless Chromium driven by playwright-core
//! (`console/e2e/*.mjs`): a data directory made with `koban demo --no-serve`, `koban
//! serve` on a free port, then the scenario scripts. Without Node.js, Chromium, the
//! built console or the reference data the test says why and skips; under `CI=true` it
//! fails instead.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Skips (or, under CI, fails) with a reason.
fn unavailable(why: &str) {
    assert!(!ci(), "console e2e cannot run under CI=true: {why}");
    eprintln!("console e2e skipped: {why}");
}

fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

fn reference_data() -> PathBuf {
    std::env::var_os("KOBAN_REFERENCE_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared/data"))
}

/// Kills the server when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn koban() -> Command {
    Command::new(env!("CARGO_BIN_EXE_koban"))
}

/// Adds an account with the CLI; returns (username, password, TOTP secret).
fn add_user(data: &Path, username: &str, unit: &str, role: &str) -> serde_json::Value {
    let password = format!("e2e-{}-correct-horse-battery", username.len() * 7919);
    let mut child = koban()
        .args(["user", "add", "--data"])
        .arg(data)
        .args([
            "--username",
            username,
            "--display-name",
            username,
            "--unit",
            unit,
            "--role",
            role,
            "--password-stdin",
            "--allow-concurrent",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "koban user add {username} failed");
    let text = String::from_utf8_lossy(&out.stdout);
    let secret = text
        .lines()
        .find_map(|l| l.strip_prefix("TOTP secret:"))
        .map(|s| s.trim().to_string())
        .expect("a TOTP secret");
    serde_json::json!({"username": username, "password": password, "secret": secret})
}

fn serve(data: &Path) -> (Server, String) {
    let mut child = koban()
        .args(["serve", "--data"])
        .arg(data)
        .args(["--listen", "127.0.0.1:0", "--sqlite-sync", "normal"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let server = Server(child);
    let mut lines = BufReader::new(stdout).lines();
    let url = loop {
        let line = lines
            .next()
            .expect("koban serve printed its address")
            .unwrap();
        if let Some(u) = line.strip_prefix("koban listening on ") {
            break u.trim().to_string();
        }
    };
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (server, url)
}

fn run_script(script: &str, env: &[(&str, String)]) -> bool {
    let root = repo_root();
    let started = Instant::now();
    let mut cmd = Command::new("node");
    cmd.arg(root.join("console/e2e").join(script))
        .current_dir(root.join("console"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let status = cmd.status().expect("running node");
    eprintln!(
        "{script}: {status} after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    status.success()
}

#[test]
fn console_in_headless_chromium() {
    let root = repo_root();
    if !koban_console::is_built() {
        return unavailable(&format!(
            "the console is not built into koban: {}",
            koban_console::not_built()
        ));
    }
    if Command::new("node").arg("--version").output().is_err() {
        return unavailable("node is not installed");
    }
    let Some(chromium) = chromium() else {
        return unavailable("chromium is not installed (apt-get install -y chromium)");
    };
    if !root.join("console/node_modules/playwright-core").exists() {
        return unavailable("console/node_modules lacks playwright-core (npm ci in console/)");
    }
    let reference = reference_data();
    if !reference.join("geo/addresses-town-level.csv").exists() {
        return unavailable(&format!(
            "no reference data at {} (set KOBAN_REFERENCE_DATA)",
            reference.display()
        ));
    }

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let setup = Instant::now();
    let out = koban()
        .args(["demo", "--no-serve", "--data"])
        .arg(&data)
        .env("KOBAN_REFERENCE_DATA", &reference)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "koban demo --no-serve: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let extra = serde_json::json!([
        add_user(&data, "kanagawa-dispatcher", "pref-14", "dispatcher"),
        add_user(&data, "dispatcher2", "pref-13", "dispatcher"),
    ]);
    let (_server, url) = serve(&data);
    eprintln!(
        "console e2e: koban at {url}, data ready in {:.1} s",
        setup.elapsed().as_secs_f64()
    );
    let artifacts = std::env::var("KOBAN_E2E_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-e2e-screenshots")
        });
    std::fs::create_dir_all(&artifacts).unwrap();
    let env = [
        ("KOBAN_URL", url),
        ("KOBAN_DATA", data.display().to_string()),
        ("KOBAN_E2E_USERS", extra.to_string()),
        ("KOBAN_ARTIFACTS", artifacts.display().to_string()),
        ("CHROMIUM", chromium.display().to_string()),
    ];
    let scenario = run_script("console.mjs", &env);
    let perf = run_script("perf.mjs", &env);
    eprintln!("console e2e screenshots: {}", artifacts.display());
    assert!(
        scenario,
        "console.mjs failed (screenshots in {})",
        artifacts.display()
    );
    assert!(perf, "perf.mjs failed");
}
