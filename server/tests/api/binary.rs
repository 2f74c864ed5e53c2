//! The real `strop-server` executable: the embedded default end to end
//! (start, write, SIGTERM, start again, data still there), no PostgreSQL at
//! all, DATABASE_URL and POSTGRES_* modes with masked secrets, `--version`
//! and the `healthcheck` subcommand.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};
use strop_common::HistoryResponse;
use strop_embedded_pg::testing::fresh_database;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use crate::support::spawn_app;

const BIN: &str = env!("CARGO_BIN_EXE_strop-server");

/// Env vars of the outer environment that would change which database the
/// child uses; each test sets what it wants.
const DB_VARS: [&str; 6] = [
    "DATABASE_URL",
    "POSTGRES_HOST",
    "POSTGRES_PORT",
    "POSTGRES_DB",
    "POSTGRES_USER",
    "POSTGRES_PASSWORD",
];

/// The server binary with none of the caller's settings: no database variables
/// and no STROP_* (e.g. the README's STROP_DATA_DIR); each test sets what it wants.
pub(crate) fn command() -> Command {
    let mut cmd = Command::new(BIN);
    for var in DB_VARS {
        cmd.env_remove(var);
    }
    for (var, _) in std::env::vars_os() {
        if var.to_string_lossy().starts_with("STROP_") {
            cmd.env_remove(var);
        }
    }
    cmd.env("STROP_ADDR", "127.0.0.1:0")
        .env("STROP_LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        // Every test client is 127.0.0.1: only limits.rs tests the login limiter.
        .env("STROP_LOGIN_BURST", "10000")
        .env("STROP_LOGIN_PERIOD", "1ms")
        .env("STROP_LOGIN_ADDRESS_BURST", "10000")
        .env("STROP_LOGIN_SUCCESS_BURST", "10000")
        .env("STROP_LOGIN_SUCCESS_PERIOD", "1ms")
        .kill_on_drop(true);
    cmd
}

/// A temporary data dir the `postgres` user can enter when we run as root.
fn data_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("strop-server-bin-")
        .permissions(std::fs::Permissions::from_mode(0o755))
        .tempdir()
        .unwrap()
}

pub(crate) struct ServerProcess {
    child: Child,
    pub(crate) base: String,
    /// Every stdout line so far (JSON log lines).
    logs: Arc<Mutex<Vec<String>>>,
}

impl ServerProcess {
    /// Starts the binary and waits for its "listening" log line.
    pub(crate) async fn start(mut cmd: Command) -> ServerProcess {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, mut rx) = mpsc::unbounded_channel::<String>();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let sink = logs.clone();
        // Keep draining stdout so logging never blocks the server.
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                sink.lock().unwrap().push(line.clone());
                let _ = tx.send(line);
            }
        });
        let addr = tokio::time::timeout(Duration::from_secs(120), async {
            while let Some(line) = rx.recv().await {
                if let Ok(v) = serde_json::from_str::<Value>(&line)
                    && v["message"] == "listening"
                {
                    return v["addr"].as_str().unwrap().to_string();
                }
            }
            panic!("strop-server exited before listening");
        })
        .await
        .expect("strop-server did not start listening in time");
        ServerProcess {
            child,
            base: format!("http://{addr}"),
            logs,
        }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id().unwrap()
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// SIGKILL: the process dies mid-whatever, like a crashed replica.
    pub(crate) async fn kill(mut self) {
        self.child.kill().await.unwrap();
    }

    pub(crate) fn log_text(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// SIGTERM, then the exit status (must come promptly).
    pub(crate) async fn terminate(mut self) -> (std::process::ExitStatus, String) {
        let pid = Pid::from_raw(self.child.id().unwrap() as i32);
        kill(pid, Signal::SIGTERM).unwrap();
        let status = tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .expect("strop-server did not exit after SIGTERM")
            .unwrap();
        // Let the drain task catch the last lines.
        tokio::time::sleep(Duration::from_millis(100)).await;
        (status, self.log_text())
    }
}

pub(crate) async fn register(http: &reqwest::Client, server: &ServerProcess, user: &str, pw: &str) {
    let res = http
        .post(server.url("/register"))
        .json(&json!({"username": user, "password": pw}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

pub(crate) async fn login(
    http: &reqwest::Client,
    server: &ServerProcess,
    user: &str,
    pw: &str,
) -> String {
    let res = http
        .post(server.url("/authenticate"))
        .json(&json!({"username": user, "password": pw}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn embedded_default_keeps_data_across_restarts_and_stops_its_cluster() {
    let dir = data_dir();
    let http = reqwest::Client::new();
    let mut cmd = command();
    cmd.env("STROP_DATA_DIR", dir.path());
    let server = ServerProcess::start(cmd).await;

    register(&http, &server, "wonsun", "pa55word").await;
    let token = login(&http, &server, "wonsun", "pa55word").await;
    let res = http
        .post(server.url("/reverse"))
        .header("Authorization", &token)
        .json(&json!({"input": "persist me"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"output": "em tsisrep"})
    );

    let (status, logs) = server.terminate().await;
    assert!(status.success(), "exit status {status}");
    assert!(
        !dir.path().join("pgdata/postmaster.pid").exists(),
        "the embedded cluster was left running"
    );
    // One access line per request, and no secrets anywhere in the log.
    let access: Vec<Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["message"] == "request")
        .collect();
    assert!(
        access.iter().any(|v| v["method"] == "POST"
            && v["path"] == "/reverse"
            && v["status"] == 200
            && v["latency_us"].is_number()),
        "{logs}"
    );
    assert!(!logs.contains(&token), "token in the log");
    assert!(!logs.contains("pa55word"), "password in the log");

    // Second start on the same data dir: the user, the token and the history are there.
    let mut cmd = command();
    cmd.env("STROP_DATA_DIR", dir.path());
    let server = ServerProcess::start(cmd).await;
    let res = http
        .get(server.url("/get-history"))
        .header("Authorization", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let h: HistoryResponse = res.json().await.unwrap();
    assert_eq!(h.history.len(), 1);
    assert_eq!(h.history[0].input, "persist me");
    login(&http, &server, "wonsun", "pa55word").await;
    let (status, _) = server.terminate().await;
    assert!(status.success());
    assert!(!dir.path().join("pgdata/postmaster.pid").exists());
}

#[tokio::test]
async fn no_postgresql_anywhere_exits_naming_the_three_ways() {
    let dir = data_dir();
    let empty = tempfile::tempdir().unwrap();
    let mut cmd = command();
    cmd.env("STROP_DATA_DIR", dir.path())
        .env("PATH", empty.path())
        .env("STROP_PG_BINDIR", empty.path());
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .expect("strop-server did not exit")
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    for way in ["DATABASE_URL", "POSTGRES_HOST", "install"] {
        assert!(stderr.contains(way), "{way} not named in: {stderr}");
    }
    assert!(!dir.path().join("pgdata").exists());
}

#[tokio::test]
async fn a_taken_port_ends_the_server_at_once_naming_the_way_out() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = holder.local_addr().unwrap();
    let dir = data_dir();
    let mut cmd = command();
    cmd.env("STROP_ADDR", addr.to_string())
        .env("STROP_DATA_DIR", dir.path());
    let out = tokio::time::timeout(Duration::from_secs(30), cmd.output())
        .await
        .expect("strop-server did not exit")
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on {addr}")),
        "{stderr}"
    );
    assert!(stderr.contains("STROP_ADDR"), "{stderr}");
    // It stopped before touching the database.
    assert!(!dir.path().join("pgdata").exists());
}

/// The test database's password: the real one where the database requires it
/// (e.g. the GitLab job's postgres service, scram-sha-256), else a stand-in
/// that trust authentication ignores but the logs must never show.
pub(crate) fn password(pg: &tokio_postgres::Config) -> String {
    match pg.get_password() {
        Some(p) => String::from_utf8_lossy(p).into_owned(),
        None => "s3cret-xyzzy".to_string(),
    }
}

/// The `DATABASE_URL` a server process needs to log in to the test database.
pub(crate) fn database_url(pg: &tokio_postgres::Config) -> String {
    key_value(pg, &password(pg))
}

/// `key=value` connection string for a test database with the given password.
pub(crate) fn key_value(pg: &tokio_postgres::Config, password: &str) -> String {
    // The embedded test cluster asks for its own password.
    let own = pg
        .get_password()
        .map(|p| String::from_utf8_lossy(p).into_owned());
    let password = own.as_deref().unwrap_or(password);
    let host = match &pg.get_hosts()[0] {
        tokio_postgres::config::Host::Tcp(h) => h.clone(),
        tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
    };
    format!(
        "host={host} port={} user={} dbname={} password={password}",
        pg.get_ports().first().copied().unwrap_or(5432),
        pg.get_user().unwrap(),
        pg.get_dbname().unwrap(),
    )
}

fn host_of(pg: &tokio_postgres::Config) -> String {
    match &pg.get_hosts()[0] {
        tokio_postgres::config::Host::Tcp(h) => h.clone(),
        tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
    }
}

async fn assert_serves(server: &ServerProcess) {
    let http = reqwest::Client::new();
    register(&http, server, "u", "pw").await;
    let res = http.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn database_url_and_postgres_vars_select_the_database_with_secrets_masked() {
    let pg = fresh_database().await;
    let password = password(&pg);
    let mut cmd = command();
    cmd.env("DATABASE_URL", key_value(&pg, &password));
    let server = ServerProcess::start(cmd).await;
    assert_serves(&server).await;
    let (status, logs) = server.terminate().await;
    assert!(status.success());
    assert!(!logs.contains(&password), "password in the log: {logs}");
    assert!(logs.contains("password=***"), "{logs}");

    let pg = fresh_database().await;
    let mut cmd = command();
    cmd.env("POSTGRES_HOST", host_of(&pg))
        .env(
            "POSTGRES_PORT",
            pg.get_ports().first().copied().unwrap_or(5432).to_string(),
        )
        .env("POSTGRES_DB", pg.get_dbname().unwrap())
        .env("POSTGRES_USER", pg.get_user().unwrap())
        .env("POSTGRES_PASSWORD", &password)
        // Ignored: POSTGRES_HOST is set, so no embedded cluster is started here.
        .env("STROP_DATA_DIR", "/nonexistent/strop");
    let server = ServerProcess::start(cmd).await;
    assert_serves(&server).await;
    let (status, logs) = server.terminate().await;
    assert!(status.success());
    assert!(!logs.contains(&password), "password in the log: {logs}");
    assert!(!Path::new("/nonexistent/strop").exists());

    // With no data dir given, an external database's start-up line names none
    // (in a container it would be the unused home of the image's user).
    let pg = fresh_database().await;
    let mut cmd = command();
    cmd.env("DATABASE_URL", key_value(&pg, &password));
    let server = ServerProcess::start(cmd).await;
    let (status, logs) = server.terminate().await;
    assert!(status.success());
    let start = logs
        .lines()
        .find(|l| l.contains("starting strop-server"))
        .expect("a start-up line");
    assert!(start.contains("data_dir: None"), "{start}");
}

#[tokio::test]
async fn version_flag_prints_name_and_version() {
    let out = command().arg("--version").output().await.unwrap();
    assert!(out.status.success());
    let want = option_env!("STROP_VERSION").unwrap_or(env!("CARGO_PKG_VERSION"));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("strop-server {want}")
    );
}

#[tokio::test]
async fn healthcheck_subcommand_reports_by_exit_code() {
    let app = spawn_app().await;
    let ok = command()
        .args(["healthcheck", "--url", &app.base])
        .output()
        .await
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    // The default URL comes from STROP_ADDR, with 0.0.0.0 meaning loopback.
    let ok = command()
        .env("STROP_ADDR", format!("0.0.0.0:{}", app.addr.port()))
        .arg("healthcheck")
        .output()
        .await
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let port = app.addr.port();
    app.stop().await;
    let down = command()
        .args(["healthcheck", "--url", &format!("http://127.0.0.1:{port}")])
        .output()
        .await
        .unwrap();
    assert_eq!(down.status.code(), Some(1));
}
