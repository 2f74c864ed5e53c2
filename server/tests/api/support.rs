//! spawn_app() and the small helpers every test module shares.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use strop_common::{Credentials, ErrorBody, ErrorCode, TokenResponse, paths};
use strop_embedded_pg::testing::fresh_database;
use strop_server::accounts::limiter::LoginLimit;
use strop_server::{ServeOptions, StartError, serve, shutdown_on};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// One running server on 127.0.0.1:<random port>.
pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub http: reqwest::Client,
    /// Its database, for checks behind the API's back.
    pub pg: tokio_postgres::Config,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), StartError>>>,
}

/// A server on a brand-new database. Every test client is 127.0.0.1, so
/// the login limiter is loosened (its own tests in `limits.rs` tighten it).
pub async fn spawn_app() -> TestApp {
    spawn_on(fresh_database().await, lenient()).await
}

/// A server on a brand-new database with these options.
pub async fn spawn_with(options: ServeOptions) -> TestApp {
    spawn_on(fresh_database().await, options).await
}

/// Default options but a login limit no test of other things reaches
/// (every test client is 127.0.0.1).
pub fn lenient() -> ServeOptions {
    let loose = LoginLimit {
        burst: NonZeroU32::new(10_000).unwrap(),
        period: Duration::from_millis(1),
    };
    ServeOptions {
        login_limit: loose,
        login_address_limit: loose,
        login_success_limit: loose,
        ..ServeOptions::default()
    }
}

/// A server on `pg` (which may be shared with other servers).
pub async fn spawn_on(pg: tokio_postgres::Config, options: ServeOptions) -> TestApp {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(
        pg.clone(),
        options,
        listener,
        shutdown_on(async {
            let _ = rx.await;
        }),
    ));
    let app = TestApp {
        addr,
        base: format!("http://{addr}"),
        http: reqwest::Client::new(),
        pg,
        shutdown: Some(tx),
        task: Some(task),
    };
    app.wait_ready().await;
    app
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The listener is bound before migrations run; wait until requests are served.
    async fn wait_ready(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = self.http.get(self.url(paths::HEALTHZ)).send().await
                && r.status() == StatusCode::OK
            {
                return;
            }
            if let Some(task) = &self.task {
                assert!(!task.is_finished(), "server exited during start-up");
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "server did not come up"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Graceful shutdown; returns what `serve` returned.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(30), task)
                .await
                .expect("server did not stop in time")
                .unwrap()
                .unwrap();
        }
    }

    /// Sends the shutdown signal without waiting.
    pub fn begin_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Waits for a shutdown begun with [`Self::begin_shutdown`].
    pub async fn finished(mut self) {
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(30), task)
                .await
                .expect("server did not stop in time")
                .unwrap()
                .unwrap();
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut req = self.http.get(self.url(path));
        if let Some(t) = token {
            req = req.header("Authorization", t);
        }
        req.send().await.unwrap()
    }

    pub async fn post(&self, path: &str, body: &Value, token: Option<&str>) -> reqwest::Response {
        let mut req = self.http.post(self.url(path)).json(body);
        if let Some(t) = token {
            req = req.header("Authorization", t);
        }
        req.send().await.unwrap()
    }

    pub async fn register(&self, username: &str, password: &str) -> reqwest::Response {
        let body = serde_json::to_value(Credentials {
            username: username.into(),
            password: password.into(),
        })
        .unwrap();
        self.post(paths::REGISTER, &body, None).await
    }

    pub async fn login(&self, username: &str, password: &str) -> String {
        let body = serde_json::to_value(Credentials {
            username: username.into(),
            password: password.into(),
        })
        .unwrap();
        let res = self.post(paths::AUTHENTICATE, &body, None).await;
        assert_eq!(res.status(), StatusCode::OK, "authenticate {username}");
        res.json::<TokenResponse>().await.unwrap().token
    }

    /// Logs in as a client behind a proxy that names `from` (for servers
    /// that trust `X-Forwarded-For`).
    pub async fn login_from(&self, from: &str, username: &str, password: &str) -> String {
        let res = self
            .http
            .post(self.url(paths::AUTHENTICATE))
            .header("x-forwarded-for", from)
            .json(&serde_json::json!({"username": username, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "authenticate {username}");
        res.json::<TokenResponse>().await.unwrap().token
    }

    /// A newly registered user and a token for it.
    pub async fn user(&self) -> (String, String) {
        let name = unique_name("user");
        let res = self.register(&name, "pw").await;
        assert_eq!(res.status(), StatusCode::OK);
        let token = self.login(&name, "pw").await;
        (name, token)
    }

    /// A direct connection to this server's database.
    pub async fn db(&self) -> tokio_postgres::Client {
        connect(&self.pg).await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub async fn connect(pg: &tokio_postgres::Config) -> tokio_postgres::Client {
    let (client, conn) = pg.connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    client
}

pub fn unique_name(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{prefix}{}", N.fetch_add(1, Ordering::Relaxed))
}

/// The sorted key set of a JSON object.
pub fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .map(String::as_str)
        .collect();
    k.sort_unstable();
    k
}

/// Asserts a SPEC error: this status, JSON content type, exactly
/// `{"error", "message"}`, this code, a non-empty sentence.
pub async fn assert_error(res: reqwest::Response, status: u16, code: ErrorCode) -> ErrorBody {
    assert_eq!(res.status().as_u16(), status, "status");
    let ct = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    assert!(ct.starts_with("application/json"), "content-type {ct:?}");
    let v: Value = res.json().await.unwrap();
    assert_eq!(keys(&v), ["error", "message"], "{v}");
    let body: ErrorBody = serde_json::from_value(v).unwrap();
    assert_eq!(body.error, code, "{body:?}");
    assert_eq!(body.error.status(), status);
    assert!(!body.message.trim().is_empty());
    body
}

/// Status and body of a hand-written HTTP/1.1 request (for what reqwest
/// will not send: chunked bodies, odd headers, invalid bytes).
pub async fn raw_request(addr: SocketAddr, request: &[u8]) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut out))
        .await
        .expect("response in time")
        .unwrap();
    parse_response(&out)
}

pub fn parse_response(out: &[u8]) -> (u16, Value) {
    let text = String::from_utf8_lossy(out);
    let (head, body) = text.split_once("\r\n\r\n").expect("a full response");
    let status: u16 = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
    out
}

/// A connection holding a SHARE lock on `history` in an open transaction:
/// history inserts wait (reads do not) until [`release`] commits it.
pub async fn lock_history(pg: &tokio_postgres::Config) -> tokio_postgres::Client {
    let locker = connect(pg).await;
    locker
        .batch_execute("BEGIN; LOCK TABLE history IN SHARE MODE")
        .await
        .unwrap();
    locker
}

pub async fn release(locker: tokio_postgres::Client) {
    locker.batch_execute("COMMIT").await.unwrap();
}

/// Waits until at least `n` server connections to `pg`'s database are
/// stuck on a lock: batches in flight, held by [`lock_history`].
pub async fn wait_for_blocked_writes(pg: &tokio_postgres::Config, n: i64) {
    let db = connect(pg).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let blocked: i64 = db
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                 AND application_name = 'strop-server' AND wait_event_type = 'Lock'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if blocked >= n {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{blocked} of {n} writes blocked"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Backends of `db`'s database waiting on a lock while running a statement
/// that contains `text`.
pub async fn waiting_on_lock(db: &tokio_postgres::Client, text: &str) -> i64 {
    db.query_one(
        "SELECT count(*) FROM pg_stat_activity
         WHERE datname = current_database() AND wait_event_type = 'Lock'
           AND query LIKE '%' || $1 || '%'",
        &[&text],
    )
    .await
    .unwrap()
    .get(0)
}
