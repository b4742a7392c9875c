//! Test support: the real opschat server on a random port over a fresh database (a SQLite file
//! in a temp dir, or a new PostgreSQL database), and a fake OpenAI-compatible server.

pub mod fake_openai;
pub mod sse;

use opschat::store::Store;
use opschat::{App, BuildOptions, Config};
use serde_json::Value;
use std::sync::Arc;
use tokio::sync::oneshot;

/// "Now" for every test: Tuesday 24 November 2026, 09:30 UTC.
pub const NOW: &str = "2026-11-24T09:30:00Z";
pub const FIXTURE: &str = include_str!("../../fixtures/ops.json");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// A database that lives as long as the test: a temp file or a PostgreSQL database.
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg_name: Option<String>,
}

fn admin_url() -> String {
    std::env::var("OPSCHAT_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

impl TestDb {
    /// A fresh database, or `None` when PostgreSQL is not reachable outside CI (a loud skip).
    pub async fn new(db: Db) -> Option<TestDb> {
        match db {
            Db::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite:{}", dir.path().join("opschat.db").display());
                Some(TestDb {
                    url,
                    _dir: Some(dir),
                    pg_name: None,
                })
            }
            Db::Postgres => {
                let admin = admin_url();
                let conn = sqlx::PgPool::connect(&admin).await;
                let pool = match conn {
                    Ok(p) => p,
                    Err(e) => {
                        if std::env::var("CI").is_ok_and(|v| v == "true") {
                            panic!(
                                "PostgreSQL tests are mandatory under CI, but {admin} is not reachable: {e}"
                            );
                        }
                        eprintln!(
                            "\n*** SKIPPED: PostgreSQL not reachable at {admin} ({e}); set OPSCHAT_TEST_POSTGRES_URL ***\n"
                        );
                        return None;
                    }
                };
                let name = format!("opschat_t_{}", uuid::Uuid::new_v4().simple());
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&pool)
                    .await
                    .expect("create test database");
                pool.close().await;
                let base = admin
                    .rsplit_once('/')
                    .map(|(b, _)| b.to_string())
                    .unwrap_or(admin.clone());
                Some(TestDb {
                    url: format!("{base}/{name}"),
                    _dir: None,
                    pg_name: Some(name),
                })
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = self.pg_name.take() {
            // Best effort, on its own runtime: the test's runtime may be shutting down.
            let admin = admin_url();
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()?;
                rt.block_on(async {
                    let pool = sqlx::PgPool::connect(&admin).await.ok()?;
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&pool)
                    .await
                    .ok()
                })
            })
            .join();
        }
    }
}

/// A running opschat server.
pub struct TestApp {
    pub base: String,
    /// Signed in as the first account (an admin) with its API token.
    pub http: reqwest::Client,
    pub store: Arc<dyn Store>,
    pub config: Config,
    /// The first account's id, as stored in the owner columns.
    pub owner: String,
    /// The first account's API token.
    pub token: String,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// The configuration every test starts from.
pub fn config(url: &str) -> Config {
    let mut c = Config::with_database(url);
    c.now = Some(NOW.into());
    c.utc_offset = Some("+00:00".into());
    c.db_pool = Some(8);
    c
}

impl TestApp {
    /// Starts the real server with `cfg` on 127.0.0.1:0.
    pub async fn start(cfg: Config, demo: bool) -> TestApp {
        opschat::install_crypto_provider();
        let app = App::build(
            &cfg,
            BuildOptions {
                migrate: true,
                demo,
            },
        )
        .await
        .expect("build app");
        let store = app.chat.store().clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            app.serve(listener, async move {
                let _ = rx.await;
            })
            .await
            .expect("serve");
        });
        let base = format!("http://{addr}");
        let (owner, token) = first_account(&base).await;
        TestApp {
            base,
            http: bearer_client(&token),
            store,
            config: cfg,
            owner,
            token,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// Creates another account (a manager) and returns a client signed in as it, by token.
    pub async fn add_user(&self, username: &str) -> User {
        let (status, body) = self
            .post(
                "/api/admin/users",
                &serde_json::json!({"username": username, "password": PASSWORD}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let id = body["user"]["id"].as_str().expect("user id").to_string();
        let (cookie, _) = sign_in(&self.base, username, PASSWORD).await;
        let token = create_token(&self.base, &cookie, "tests").await;
        User {
            id,
            http: bearer_client(&token),
            cookie,
        }
    }

    /// Stops the server and waits for it, as a restart would.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self.http.get(self.url(path)).send().await.expect("GET");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self
            .http
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("POST");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn patch(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self
            .http
            .patch(self.url(path))
            .json(body)
            .send()
            .await
            .expect("PATCH");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> (u16, Value) {
        let r = self
            .http
            .post(self.url(path))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("POST");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Sends one chat message; panics unless it is answered.
    pub async fn ask(&self, message: &str, session: Option<&str>) -> Value {
        let (status, body) = self
            .post(
                "/api/operations-chat",
                &serde_json::json!({"message": message, "session_id": session}),
            )
            .await;
        assert_eq!(status, 200, "ask {message:?}: {body}");
        body
    }

    /// Completes the task titled `title` through the API (found by search, at its version).
    pub async fn complete_task(&self, title: &str) {
        let q: String = title
            .bytes()
            .map(|b| match b {
                b if b.is_ascii_alphanumeric() => char::from(b).to_string(),
                b => format!("%{b:02X}"),
            })
            .collect();
        let (status, tasks) = self.get(&format!("/api/tasks?q={q}")).await;
        assert_eq!(status, 200, "{tasks}");
        let task = &tasks["tasks"][0];
        assert_eq!(task["title"], title, "{tasks}");
        let (status, body) = self
            .patch(
                &format!("/api/tasks/{}", task["id"].as_str().expect("task id")),
                &serde_json::json!({"status": "completed", "version": task["version"]}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }

    pub async fn import_fixture(&self) {
        let doc: Value = serde_json::from_str(FIXTURE).expect("fixture");
        let (status, body) = self.post("/api/operations/import", &doc).await;
        assert_eq!(status, 200, "{body}");
    }

    /// Every message of a session, oldest first.
    pub async fn history(&self, session: &str) -> Value {
        let (status, body) = self
            .get(&format!(
                "/api/operations-chat/history/{session}?limit=1000"
            ))
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }
}

/// The password every test account has.
pub const PASSWORD: &str = "correct horse battery";

/// Another signed-in account.
pub struct User {
    pub id: String,
    pub http: reqwest::Client,
    /// `opschat_session=…`, for requests made as a browser would.
    pub cookie: String,
}

pub fn bearer_client(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {token}").parse().expect("header"),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Signs in with a password: the `Cookie` header value and the response body.
pub async fn sign_in(base: &str, username: &str, password: &str) -> (String, Value) {
    let r = reqwest::Client::new()
        .post(format!("{base}/api/auth/login"))
        .json(&serde_json::json!({"username": username, "password": password}))
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), 200, "sign in as {username}");
    let cookie = session_cookie(&r);
    (cookie, r.json().await.expect("json"))
}

/// `opschat_session=…` from a response's `Set-Cookie`.
pub fn session_cookie(r: &reqwest::Response) -> String {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("opschat_session="))
        .and_then(|v| v.split(';').next())
        .expect("a session cookie")
        .to_string()
}

/// Creates an API token through the browser session `cookie`.
pub async fn create_token(base: &str, cookie: &str, name: &str) -> String {
    let r = reqwest::Client::new()
        .post(format!("{base}/api/tokens"))
        .header("cookie", cookie)
        .header("origin", base)
        .json(&serde_json::json!({"name": name}))
        .send()
        .await
        .expect("create token");
    assert_eq!(r.status(), 201);
    let body: Value = r.json().await.expect("json");
    body["token"].as_str().expect("token").to_string()
}

/// Creates the first account ("manager", an admin) through the set-up endpoint; its owner
/// key and an API token.
async fn first_account(base: &str) -> (String, String) {
    let r = reqwest::Client::new()
        .post(format!("{base}/api/auth/setup"))
        .json(&serde_json::json!({"username": "manager", "password": PASSWORD, "display_name": "Maria Lopez"}))
        .send()
        .await
        .expect("setup");
    let (cookie, body) = if r.status() == 409 {
        // A restart on the same database: the account exists already.
        sign_in(base, "manager", PASSWORD).await
    } else {
        assert_eq!(r.status(), 201, "first account");
        (session_cookie(&r), r.json().await.expect("json"))
    };
    let owner = body["user"]["id"].as_str().expect("id").to_string();
    (owner, create_token(base, &cookie, "tests").await)
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Runs a test body against SQLite and PostgreSQL: `both!(name, |db| async move { ... })`.
#[macro_export]
macro_rules! both {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let Some(db) = $crate::support::TestDb::new($crate::support::Db::Sqlite).await
                else {
                    return;
                };
                ($body)(db).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(db) = $crate::support::TestDb::new($crate::support::Db::Postgres).await
                else {
                    return;
                };
                ($body)(db).await;
            }
        }
    };
}

/// Runs raw SQL on the test database, whichever backend it is.
pub async fn exec(url: &str, sql: &str) {
    if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    } else {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    }
}

/// One integer from SQL on the test database, whichever backend it is.
pub async fn count(url: &str, sql: &str) -> i64 {
    if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(&pool)
            .await
            .unwrap()
    } else {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(&pool)
            .await
            .unwrap()
    }
}
