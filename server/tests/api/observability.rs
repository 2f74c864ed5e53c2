//! What an operator sees: a request id on every answer and on every log line
//! written while serving it, failures logged once with their cause chain,
//! and `/metrics` in the Prometheus text format (parsed with a real parser).
//! Logs and metrics are read from the real `strop-server` process.

use std::time::Duration;

use prometheus_parse::{Scrape, Value as Metric};
use reqwest::StatusCode;
use serde_json::{Value, json};
use strop_embedded_pg::testing::fresh_database;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::binary::{ServerProcess, command, database_url, login, register};
use crate::support::{connect, spawn_app};

fn request_id(res: &reqwest::Response) -> String {
    res.headers()
        .get("x-request-id")
        .unwrap_or_else(|| panic!("no x-request-id on a {} answer", res.status()))
        .to_str()
        .unwrap()
        .to_string()
}

fn is_generated(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The whole raw answer to a hand-written request.
async fn raw(addr: std::net::SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut out))
        .await
        .expect("answer in time")
        .unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn every_answer_carries_a_request_id() {
    let app = spawn_app().await;
    let url = |p: &str| app.url(p);
    let answers = [
        app.http.get(url("/")).send().await.unwrap(),
        app.http.get(url("/nope")).send().await.unwrap(),
        app.http.get(url("/register")).send().await.unwrap(),
        app.http.get(url("/whoami")).send().await.unwrap(),
        app.http
            .post(url("/register"))
            .header("content-type", "text/plain")
            .body("x")
            .send()
            .await
            .unwrap(),
        app.http
            .post(url("/register"))
            .body("{")
            .send()
            .await
            .unwrap(),
        app.http
            .get(url("/"))
            .header("expect", "foo")
            .send()
            .await
            .unwrap(),
    ];
    let mut seen = Vec::new();
    for res in &answers {
        let id = request_id(res);
        assert!(is_generated(&id), "{id}");
        seen.push(id);
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), answers.len(), "ids are unique");

    // A sane incoming id is kept; anything else is replaced.
    let res = app
        .http
        .get(url("/nope"))
        .header("x-request-id", "lb-7f3c-42")
        .send()
        .await
        .unwrap();
    assert_eq!(request_id(&res), "lb-7f3c-42");
    let res = app
        .http
        .get(url("/"))
        .header("x-request-id", "x".repeat(200))
        .send()
        .await
        .unwrap();
    assert!(is_generated(&request_id(&res)));

    // hyper's own answers (a request it cannot parse) carry one too.
    let answer = raw(app.addr, b"GARBAGE\r\n\r\n").await;
    let head = answer
        .split("\r\n\r\n")
        .next()
        .unwrap()
        .to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 400"), "{answer}");
    let id = head
        .lines()
        .find_map(|l| l.strip_prefix("x-request-id: "))
        .unwrap_or_else(|| panic!("no request id: {answer}"));
    assert!(is_generated(id), "{id}");
}

/// Every JSON log line of the process that carries this request id.
fn lines_of(logs: &str, id: &str) -> Vec<Value> {
    logs.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["span"]["request_id"] == id)
        .collect()
}

#[tokio::test]
async fn log_lines_carry_the_request_id_and_failures_their_cause() {
    let pg = fresh_database().await;
    let mut cmd = command();
    cmd.env("DATABASE_URL", database_url(&pg));
    let server = ServerProcess::start(cmd).await;
    let http = reqwest::Client::new();
    register(&http, &server, "u", "pw").await;

    let res = http
        .get(server.url("/whoami"))
        .header("x-request-id", "trace-me-1")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(request_id(&res), "trace-me-1");

    // Take the database away: the failure's log line must say why.
    let mut admin_cfg = pg.clone();
    admin_cfg.dbname("postgres");
    let admin = connect(&admin_cfg).await;
    let name = pg.get_dbname().unwrap().to_string();
    admin
        .batch_execute(&format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
        .await
        .unwrap();
    let res = http
        .post(server.url("/register"))
        .header("x-request-id", "trace-me-2")
        .json(&json!({"username": "v", "password": "pw"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = res.text().await.unwrap();
    assert!(
        !body.contains(&name),
        "the answer names the database: {body}"
    );

    let (status, logs) = server.terminate().await;
    assert!(status.success());
    let first = lines_of(&logs, "trace-me-1");
    assert!(
        first
            .iter()
            .any(|v| v["message"] == "request" && v["path"] == "/whoami" && v["status"] == 401),
        "no access line with the id: {logs}"
    );
    let second = lines_of(&logs, "trace-me-2");
    // Even the pool library's own lines carry the id.
    let failures: Vec<&Value> = second
        .iter()
        .filter(|v| v["target"] == "strop_server::http::error")
        .collect();
    assert_eq!(failures.len(), 1, "logged once: {second:?}");
    let cause = failures[0]["cause"].as_str().unwrap_or_default();
    assert!(
        cause.contains("does not exist") && cause.contains(&name),
        "no underlying cause: {cause:?}"
    );
    assert!(
        second
            .iter()
            .any(|v| v["message"] == "request" && v["status"] == 503),
        "{second:?}"
    );
}

/// The value of one counter sample, 0 when it is not there yet.
fn counter(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .find(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            Metric::Counter(v) | Metric::Untyped(v) | Metric::Gauge(v) => v,
            ref other => panic!("{name} is not a counter: {other:?}"),
        })
        .unwrap_or(0.0)
}

async fn scrape(http: &reqwest::Client, url: String) -> Scrape {
    let res = http.get(url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let ct = res.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    let text = res.text().await.unwrap();
    Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap()
}

#[tokio::test]
async fn metrics_count_exactly_the_requests_made() {
    let pg = fresh_database().await;
    let mut cmd = command();
    cmd.env("DATABASE_URL", database_url(&pg));
    let server = ServerProcess::start(cmd).await;
    let http = reqwest::Client::new();
    let ok = [("route", "/"), ("status", "200")];
    let missing = [("route", "other"), ("status", "404")];

    let before = scrape(&http, server.url("/metrics")).await;
    for _ in 0..7 {
        assert_eq!(
            http.get(server.url("/")).send().await.unwrap().status(),
            200
        );
    }
    for _ in 0..3 {
        let res = http.get(server.url("/no/such/route")).send().await.unwrap();
        assert_eq!(res.status(), 404);
    }
    // One history row: one group-commit batch of one row.
    register(&http, &server, "metered", "pw").await;
    let token = login(&http, &server, "metered", "pw").await;
    let res = http
        .post(server.url("/reverse"))
        .header("authorization", &token)
        .json(&json!({"input": "abc"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // A live stream is counted under its own route once its head is sent.
    let stream = http
        .get(server.url("/events"))
        .header("authorization", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    drop(stream);
    // Entry deletes are labelled by the template, whatever the id; the
    // export path answers DELETE under its own label.
    for id in [991, 992] {
        let res = http
            .delete(server.url(&format!("/history/{id}")))
            .header("authorization", &token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404);
    }
    let res = http
        .delete(server.url("/history/export"))
        .header("authorization", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
    // prometheus-parse cannot read a label value holding `}` (the text
    // format allows it, and Prometheus reads it): this one line is read raw.
    let raw = http
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        raw.lines()
            .any(|l| l == r#"strop_http_requests_total{route="/history/{id}",status="404"} 2"#),
        "{raw}"
    );
    let after = scrape(&http, server.url("/metrics")).await;
    let requests = "strop_http_requests_total";
    assert_eq!(
        counter(&after, requests, &[("route", "/events"), ("status", "200")]),
        1.0
    );
    assert_eq!(
        counter(&after, requests, &ok) - counter(&before, requests, &ok),
        7.0
    );
    assert_eq!(
        counter(&after, requests, &missing) - counter(&before, requests, &missing),
        3.0
    );
    assert_eq!(
        counter(
            &after,
            requests,
            &[("route", "/history/export"), ("status", "405")]
        ),
        1.0
    );
    // The earlier two scrapes (the first, the raw one) are counted by this one.
    assert_eq!(
        counter(
            &after,
            requests,
            &[("route", "/metrics"), ("status", "200")]
        ),
        2.0
    );
    let latency = after
        .samples
        .iter()
        .find(|s| {
            s.metric == "strop_http_request_duration_seconds" && s.labels.get("route") == Some("/")
        })
        .expect("a latency histogram for /");
    let Metric::Histogram(buckets) = &latency.value else {
        panic!("not a histogram: {:?}", latency.value);
    };
    assert_eq!(buckets.last().unwrap().count, 7.0, "{buckets:?}");
    for gauge in [
        "strop_db_pool_max_size",
        "strop_db_pool_size",
        "strop_db_pool_available",
        "strop_db_pool_waiting",
        "strop_argon2_queue_depth",
    ] {
        assert!(
            after.samples.iter().any(|s| s.metric == gauge),
            "{gauge} missing"
        );
    }
    assert_eq!(counter(&after, "strop_db_pool_max_size", &[]), 16.0);
    let batches = after
        .samples
        .iter()
        .find(|s| s.metric == "strop_history_batch_rows")
        .expect("a batch size histogram");
    let Metric::Histogram(sizes) = &batches.value else {
        panic!("not a histogram: {:?}", batches.value);
    };
    assert_eq!(
        sizes.first().unwrap().count,
        1.0,
        "one batch of one row: {sizes:?}"
    );
    assert_eq!(sizes.last().unwrap().count, 1.0, "{sizes:?}");
    let version = option_env!("STROP_VERSION").unwrap_or(env!("CARGO_PKG_VERSION"));
    assert_eq!(
        counter(&after, "strop_build_info", &[("version", version)]),
        1.0
    );
    server.terminate().await;
}

#[tokio::test]
async fn metrics_can_be_off_or_on_an_address_of_their_own() {
    let pg = fresh_database().await;
    let http = reqwest::Client::new();

    let mut cmd = command();
    cmd.env("DATABASE_URL", database_url(&pg))
        .env("STROP_METRICS", "off");
    let server = ServerProcess::start(cmd).await;
    let res = http.get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    server.terminate().await;

    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut cmd = command();
    cmd.env("DATABASE_URL", database_url(&pg))
        .env("STROP_METRICS", format!("127.0.0.1:{port}"));
    let server = ServerProcess::start(cmd).await;
    let res = http.get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(
        res.status(),
        StatusCode::NOT_FOUND,
        "not on the API's address"
    );
    let own = format!("http://127.0.0.1:{port}");
    let s = scrape(&http, format!("{own}/metrics")).await;
    assert!(s.samples.iter().any(|s| s.metric == "strop_build_info"));
    let res = http.get(format!("{own}/")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND, "only /metrics there");
    server.terminate().await;
}

/// Waits for a log line with this message and returns its `error` field.
async fn logged_error(server: &ServerProcess, message: &str) -> String {
    for _ in 0..100 {
        let found = server
            .log_text()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| v["message"] == message);
        if let Some(v) = found {
            return v["error"].as_str().unwrap_or_default().to_string();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no {message:?} line in: {}", server.log_text());
}

#[tokio::test]
async fn failures_outside_requests_are_logged_with_their_cause() {
    let pg = fresh_database().await;
    let mut cmd = command();
    cmd.env("DATABASE_URL", database_url(&pg));
    let server = ServerProcess::start(cmd).await;
    let http = reqwest::Client::new();
    register(&http, &server, "caused", "pw").await;
    let token = login(&http, &server, "caused", "pw").await;
    let db = connect(&pg).await;

    // The listener's connection is killed: the database's own reason is logged.
    db.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND application_name = 'strop-server listener'",
        &[],
    )
    .await
    .unwrap();
    let lost = logged_error(&server, "live history connection lost").await;
    assert!(
        lost.contains("terminating connection due to administrator command"),
        "{lost:?}"
    );

    // A stream cannot read its catch-up: the missing relation is named.
    db.batch_execute("ALTER TABLE history RENAME TO history_away")
        .await
        .unwrap();
    let stream = http
        .get(server.url("/events"))
        .header("authorization", &token)
        .header("last-event-id", "0")
        .send()
        .await
        .unwrap();
    let unread = logged_error(&server, "cannot read history for a stream").await;
    drop(stream);
    db.batch_execute("ALTER TABLE history_away RENAME TO history")
        .await
        .unwrap();
    assert!(
        unread.contains("relation \"history\" does not exist"),
        "{unread:?}"
    );

    // The writer's batch fails: the request's one failure line has the cause.
    db.batch_execute(
        "ALTER TABLE history ADD CONSTRAINT no_boom CHECK (input <> 'boom') NOT VALID",
    )
    .await
    .unwrap();
    let res = http
        .post(server.url("/reverse"))
        .header("authorization", &token)
        .header("x-request-id", "writer-fails")
        .json(&json!({"input": "boom"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let (_, logs) = server.terminate().await;
    let failure = lines_of(&logs, "writer-fails")
        .into_iter()
        .find(|v| v["target"] == "strop_server::http::error")
        .unwrap_or_else(|| panic!("no failure line: {logs}"));
    let cause = failure["cause"].as_str().unwrap_or_default();
    assert!(
        cause.contains("violates check constraint \"no_boom\""),
        "{cause:?}"
    );
}
