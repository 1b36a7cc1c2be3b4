//! The integration-test rig: a real koban server on a random loopback port, over SQLite
//! in a temporary directory or over a scratch PostgreSQL database, with a clock the test
//! moves by hand.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use koban_access::Role;
use koban_service::{Config, Koban, ManualClock, NewUser};
use koban_store::{SqliteSync, Store};
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server the tests may use; tests make their own databases on it.
pub fn postgres_url() -> Option<String> {
    match std::env::var("KOBAN_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!(
                    "KOBAN_TEST_DATABASE_URL is not set under CI=true: the PostgreSQL tests must run in CI"
                );
            }
            eprintln!(
                "KOBAN_TEST_DATABASE_URL not set: skipping the PostgreSQL variant of this test"
            );
            None
        }
    }
}

pub struct Server {
    pub base: String,
    pub clock: Arc<ManualClock>,
    pub koban: Koban,
    pub db: Db,
    /// The database URL (sqlite://… or postgres://…), for tests that tamper with it.
    pub url: String,
    pub data: tempfile::TempDir,
    pub http: reqwest::Client,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<()>>,
    pg: Option<(String, String)>,
    auditor: tokio::sync::Mutex<Option<(TestUser, String)>>,
}

fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64
}

/// The NENA EIDO schema of the reference data (`$KOBAN_REFERENCE_DATA`, default
/// `../shared/data` beside the workspace), if it is there.
pub fn eido_schema_path() -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("KOBAN_REFERENCE_DATA")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
        });
    let path = dir.join("eido/eido-openapi.yaml");
    path.is_file().then_some(path)
}

impl Server {
    pub async fn start(db: Db) -> Option<Server> {
        Self::start_with(
            db,
            koban_api::RateLimit {
                burst: 1000,
                per_minute: 6000,
            },
        )
        .await
    }

    pub async fn start_with(db: Db, limit: koban_api::RateLimit) -> Option<Server> {
        let data = tempfile::tempdir().unwrap();
        let (url, pg) = match db {
            Db::Sqlite => (
                format!("sqlite://{}", data.path().join("koban.sqlite3").display()),
                None,
            ),
            Db::Postgres => {
                let server = postgres_url()?;
                let name = format!("koban_t_{}", uuid::Uuid::now_v7().simple());
                let url = koban_store::postgres::create_scratch_database(&server, &name)
                    .await
                    .unwrap();
                (url, Some((server, name)))
            }
        };
        let store: Arc<dyn Store> = koban_store::connect(&url, SqliteSync::Normal)
            .await
            .unwrap();
        let clock = Arc::new(ManualClock::new(now_us()));
        let config = Config {
            eido_schema: eido_schema_path(),
            ..Config::default()
        };
        let koban = Koban::open(store, data.path(), clock.clone(), config)
            .await
            .unwrap();
        // The live event feeder, as `koban serve` runs it on a single instance.
        let feeder = koban.clone();
        tokio::spawn(async move {
            feeder
                .run_live_feeder(None, koban_service::live::FeederConfig::default())
                .await
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = koban_api::router(koban.clone(), limit);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(async move {
            koban_api::serve(listener, app, None, async move {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        Some(Server {
            base,
            clock,
            koban,
            db,
            url,
            data,
            http: reqwest::Client::new(),
            shutdown: Some(tx),
            handle: Some(handle),
            pg,
            auditor: tokio::sync::Mutex::new(None),
        })
    }

    /// Stops the server and drops a scratch PostgreSQL database.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            let _ = h.await;
        }
        self.koban.store().close().await;
        if let Some((server, name)) = self.pg.take() {
            koban_store::postgres::drop_scratch_database(&server, &name)
                .await
                .unwrap();
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Creates an account from the console and returns (id, password, TOTP secret).
    pub async fn user(&self, username: &str, unit: &str, roles: &[Role]) -> TestUser {
        let password = "blue-heron-over-the-river-42".to_string();
        let created = self
            .koban
            .system_create_user(
                "test",
                NewUser {
                    username: username.into(),
                    display_name: format!("{username} テスト"),
                    unit_id: unit.into(),
                    roles: roles.to_vec(),
                    password: password.clone(),
                    allow_concurrent: true,
                },
            )
            .await
            .unwrap();
        TestUser {
            id: created.user.id,
            username: username.into(),
            password,
            secret: created.totp_secret,
        }
    }

    /// The current TOTP code of a user, after moving the clock to a fresh 30-second step
    /// (each code is accepted once).
    pub fn code(&self, u: &TestUser) -> String {
        use koban_service::Clock;
        self.clock.advance_s(30);
        let secret = koban_auth::totp::TotpSecret::from_base32(&u.secret).unwrap();
        koban_auth::totp::totp_code(&secret, self.clock.now_us() / 1_000_000)
    }

    pub async fn login_raw(&self, u: &TestUser, password: &str, code: &str) -> reqwest::Response {
        self.http
            .post(self.url("/api/v1/auth/login"))
            .json(&json!({"username": u.username, "password": password, "totp_code": code}))
            .send()
            .await
            .unwrap()
    }

    /// Logs on and returns the bearer token.
    pub async fn login(&self, u: &TestUser) -> String {
        let code = self.code(u);
        let r = self.login_raw(u, &u.password, &code).await;
        assert_eq!(
            r.status(),
            200,
            "login of {} failed: {}",
            u.username,
            r.text().await.unwrap()
        );
        let v: Value = r.json().await.unwrap();
        v["token"].as_str().unwrap().to_string()
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let mut req = self.http.request(m, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        let v = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, v)
    }

    pub async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        self.call("get", path, Some(token), None).await
    }

    /// Audit events matching a query string, searched as a national auditor.
    pub async fn audit_events(&self, query: &str) -> Vec<Value> {
        let mut guard = self.auditor.lock().await;
        if guard.is_none() {
            let u = self
                .user("z-national-auditor", "npa", &[Role::Auditor])
                .await;
            *guard = Some((u, String::new()));
        }
        let (u, token) = guard.as_mut().unwrap();
        let mut result = self
            .get(&format!("/api/v1/audit/events?{query}"), token)
            .await;
        if result.0 == 401 {
            // The cached session timed out while the test moved the clock.
            *token = self.login(u).await;
            result = self
                .get(&format!("/api/v1/audit/events?{query}"), token)
                .await;
        }
        assert_eq!(result.0, 200, "{}", result.1);
        result.1.as_array().unwrap().clone()
    }

    /// The test clock's current time, UTC microseconds.
    pub fn clock_now(&self) -> i64 {
        use koban_service::Clock;
        self.clock.now_us()
    }

    /// Number of audit events stored.
    pub async fn audit_size(&self) -> u64 {
        self.koban
            .store()
            .audit_head()
            .await
            .unwrap()
            .map(|h| h.tree_size)
            .unwrap_or(0)
    }
}

#[derive(Clone, Debug)]
pub struct TestUser {
    pub id: String,
    pub username: String,
    pub password: String,
    pub secret: String,
}

/// Runs one test body against SQLite and against PostgreSQL, as two test functions.
#[macro_export]
macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                if let Some(s) = $crate::common::Server::start($crate::common::Db::Sqlite).await {
                    super::$name(&s).await;
                    s.stop().await;
                }
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(s) = $crate::common::Server::start($crate::common::Db::Postgres).await {
                    super::$name(&s).await;
                    s.stop().await;
                }
            }
        }
    };
}
