//! Two `koban serve` processes on one PostgreSQL database, with a NATS JetStream server
//! of the test's own: a client of one instance sees the other instance's changes live,
//! carried by the bus (the table poll is switched off), and an event written while NATS is
//! down waits in the outbox and arrives once NATS is back.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use koban_access::Role;
use koban_service::{Config, Koban, NewUser, SystemClock};
use koban_store::SqliteSync;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

fn postgres_url() -> Option<String> {
    match std::env::var("KOBAN_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("CI").map_or(true, |v| v != "true"),
                "KOBAN_TEST_DATABASE_URL is not set under CI=true: the PostgreSQL tests must run in CI"
            );
            eprintln!("KOBAN_TEST_DATABASE_URL not set: skipping the PostgreSQL variant");
            None
        }
    }
}

fn nats_server() -> Option<PathBuf> {
    let found = [
        "/usr/sbin/nats-server",
        "/usr/bin/nats-server",
        "/usr/local/bin/nats-server",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists());
    if found.is_none() {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "nats-server is not installed: the two-instance test must run in CI"
        );
        eprintln!("nats-server not found: skipping the two-instance test");
    }
    found
}

/// Kills the child when dropped, so a failing test leaves no servers behind.
struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start_nats(bin: &Path, port: u16, store: &Path) -> Proc {
    let child = Command::new(bin)
        .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
        .arg(store)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wrapped at once, so the process is killed and reaped on every path.
    let proc = Proc(child);
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return proc;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("nats-server did not start on {port}");
}

/// Starts `koban serve` and returns it with its base URL (read from its first line).
fn start_koban(data: &Path, db: &str, key: &Path, nats_port: u16, stream: &str) -> (Proc, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_koban"))
        .arg("serve")
        .arg("--data")
        .arg(data)
        .args(["--database", db, "--listen", "127.0.0.1:0"])
        .arg("--secrets-key")
        .arg(key)
        .args(["--nats-url", &format!("nats://127.0.0.1:{nats_port}")])
        .args(["--nats-stream", stream])
        // Ten minutes: only the bus can bring the other instance's events in time.
        .args(["--events-poll-ms", "600000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    // Keep draining: a closed pipe would make the server's next line of output fail.
    std::thread::spawn(move || {
        let mut sink = String::new();
        while reader.read_line(&mut sink).is_ok_and(|n| n > 0) {
            sink.clear();
        }
    });
    let base = line
        .trim()
        .strip_prefix("koban listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    (Proc(child), base)
}

fn totp(secret: &str) -> String {
    let secret = koban_auth::totp::TotpSecret::from_base32(secret).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    koban_auth::totp::totp_code(&secret, now)
}

async fn login(http: &reqwest::Client, base: &str, user: &str, secret: &str) -> String {
    let r = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": user, "password": "blue-heron-over-the-river-42", "totp_code": totp(secret)}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    v["token"].as_str().unwrap().to_string()
}

async fn create_incident(http: &reqwest::Client, base: &str, token: &str, lat: f64) -> String {
    let r = http
        .post(format!("{base}/api/v1/incidents"))
        .bearer_auth(token)
        .json(&json!({"type_code": "theft", "location": {"lat": lat, "lon": 139.76}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    v["id"].as_str().unwrap().to_string()
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn next_event(ws: &mut Ws, within: Duration) -> Option<Value> {
    tokio::time::timeout(within, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(&t).unwrap();
                    if v["type"] == "event" {
                        return v;
                    }
                }
                Some(Ok(_)) => continue,
                other => panic!("stream ended: {other:?}"),
            }
        }
    })
    .await
    .ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_live_events_through_jetstream() {
    let Some(server) = postgres_url() else { return };
    let Some(nats_bin) = nats_server() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let name = format!("koban_t_{}", uuid_like());
    let db = koban_store::postgres::create_scratch_database(&server, &name)
        .await
        .unwrap();
    let key = dir.path().join("shared-secrets.key");
    let (data_a, data_b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&data_a).unwrap();
    std::fs::create_dir_all(&data_b).unwrap();

    // Accounts, made through the service as `koban user add` would.
    let mut secrets = Vec::new();
    {
        let store = koban_store::connect(&db, SqliteSync::Normal).await.unwrap();
        let koban = Koban::open(
            store.clone(),
            &data_a,
            Arc::new(SystemClock),
            Config {
                secrets_key_file: Some(key.clone()),
                ..Config::default()
            },
        )
        .await
        .unwrap();
        for u in ["disp-a", "disp-b"] {
            let created = koban
                .system_create_user(
                    "test",
                    NewUser {
                        username: u.into(),
                        display_name: u.into(),
                        unit_id: "pref-13".into(),
                        roles: vec![Role::Dispatcher],
                        password: "blue-heron-over-the-river-42".into(),
                        allow_concurrent: true,
                    },
                )
                .await
                .unwrap();
            secrets.push(created.totp_secret);
        }
        store.close().await;
    }

    let nats_port = free_port();
    let nats_store = dir.path().join("nats");
    let nats = start_nats(&nats_bin, nats_port, &nats_store).await;
    let stream = format!("T{}", uuid_like());
    let (_a, base_a) = start_koban(&data_a, &db, &key, nats_port, &stream);
    let (_b, base_b) = start_koban(&data_b, &db, &key, nats_port, &stream);
    let http = reqwest::Client::new();
    let ta = login(&http, &base_a, "disp-a", &secrets[0]).await;
    let tb = login(&http, &base_b, "disp-b", &secrets[1]).await;

    let (mut ws, _) = tokio_tungstenite::connect_async(format!(
        "{}/api/v1/events",
        base_b.replacen("http", "ws", 1)
    ))
    .await
    .unwrap();
    ws.send(Message::Text(
        json!({"type": "auth", "token": tb}).to_string().into(),
    ))
    .await
    .unwrap();
    // Give both instances' bus connections a moment to come up.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let first = create_incident(&http, &base_a, &ta, 35.68).await;
    let e = next_event(&mut ws, Duration::from_secs(10))
        .await
        .expect("instance B's client never saw instance A's incident");
    assert_eq!(e["kind"], "incident.created");
    assert_eq!(e["data"]["id"], first.as_str());
    let seq = e["seq"].as_u64().unwrap();

    // NATS goes down: the change still commits, and its event waits in the outbox.
    drop(nats);
    let second = create_incident(&http, &base_a, &ta, 35.69).await;
    assert!(
        next_event(&mut ws, Duration::from_millis(1500))
            .await
            .is_none(),
        "nothing can arrive while the bus is down (the poll is off)"
    );
    let waiting: i64 = {
        let pool = sqlx::PgPool::connect(&db).await.unwrap();
        let (n,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM live_events WHERE published_at_us IS NULL")
                .fetch_one(&pool)
                .await
                .unwrap();
        pool.close().await;
        n
    };
    assert!(waiting >= 1, "the event must wait in the outbox");

    // NATS comes back (same port, same store): the relay publishes and B receives it.
    let _nats = start_nats(&nats_bin, nats_port, &nats_store).await;
    let e = next_event(&mut ws, Duration::from_secs(30))
        .await
        .expect("the outboxed event never arrived after NATS came back");
    assert_eq!(e["data"]["id"], second.as_str());
    assert_eq!(
        e["seq"].as_u64(),
        Some(seq + 1),
        "nothing lost, nothing repeated"
    );

    drop(ws);
    drop(_a);
    drop(_b);
    koban_store::postgres::drop_scratch_database(&server, &name)
        .await
        .unwrap();
}

fn uuid_like() -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{n:x}{}", std::process::id())
}
