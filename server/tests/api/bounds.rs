//! Deadlines and limits of issue 15 one by one: a connection's first
//! request and idle time (HTTP/1 and HTTP/2), connections per address,
//! search size, the statement timeout, and writes per account.

use std::time::{Duration, Instant};

use serde_json::json;
use strop_common::{ErrorCode, paths};
use strop_server::ServeOptions;
use strop_server::accounts::limiter::LoginLimit;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{assert_error, connect, lenient, spawn_with};

fn quick_deadlines() -> ServeOptions {
    ServeOptions {
        first_request_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(1),
        ..lenient()
    }
}

/// How long the server took to close `stream` (reading whatever it sends).
async fn closed_within(stream: &mut TcpStream, patience: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(
            tokio::time::Instant::from_std(started + patience),
            stream.read(&mut buf),
        )
        .await
        {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {}
            Err(_) => return None,
        }
    }
}

#[tokio::test]
async fn connections_without_a_complete_request_are_closed_at_the_deadline() {
    let app = spawn_with(quick_deadlines()).await;
    let patience = Duration::from_secs(5);
    // Nothing at all.
    let mut silent = TcpStream::connect(app.addr).await.unwrap();
    // The HTTP/2 preface and nothing more.
    let mut h2 = TcpStream::connect(app.addr).await.unwrap();
    h2.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();
    // Headers one byte at a time, each well within any per-read timeout.
    let mut trickle = TcpStream::connect(app.addr).await.unwrap();
    let trickling = async {
        for b in b"GET / HTTP/1.1\r\nHost: x\r\n" {
            if trickle.write_all(&[*b]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        closed_within(&mut trickle, patience).await
    };
    let (silent, h2, trickle) = tokio::join!(
        closed_within(&mut silent, patience),
        closed_within(&mut h2, patience),
        trickling
    );
    for (what, closed) in [("silent", silent), ("http/2 preface", h2)] {
        let took = closed.unwrap_or_else(|| panic!("{what} connection still open"));
        assert!(took < Duration::from_secs(3), "{what}: {took:?}");
    }
    trickle.expect("a trickling request is still open");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let app = spawn_with(quick_deadlines()).await;
    let mut conn = TcpStream::connect(app.addr).await.unwrap();
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = conn.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    // A second request in time is served on the same connection...
    tokio::time::sleep(Duration::from_millis(500)).await;
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let n = conn.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    // ...then, idle, it is closed.
    let took = closed_within(&mut conn, Duration::from_secs(5))
        .await
        .expect("an idle connection stays open");
    assert!(took < Duration::from_secs(4), "{took:?}");
}

#[tokio::test]
async fn an_open_stream_is_not_idle() {
    let app = spawn_with(quick_deadlines()).await;
    let (_, token) = app.user().await;
    let mut events = app.get(paths::EVENTS, Some(&token)).await;
    assert_eq!(events.status(), 200);
    // Three idle deadlines later the stream is still open and delivers.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let res = app
        .post(
            paths::REVERSE,
            &json!({"input": "still here"}),
            Some(&token),
        )
        .await;
    assert_eq!(res.status(), 200);
    let mut got = String::new();
    while !got.contains("ereh llits") {
        let chunk = tokio::time::timeout(Duration::from_secs(5), events.chunk())
            .await
            .expect("no event within 5 s")
            .unwrap()
            .expect("the stream ended");
        got.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test]
async fn one_address_has_at_most_its_connections_and_health_checks_still_answer() {
    let app = spawn_with(ServeOptions {
        max_connections_per_address: 2,
        ..lenient()
    })
    .await;
    let _held = [
        TcpStream::connect(app.addr).await.unwrap(),
        TcpStream::connect(app.addr).await.unwrap(),
    ];
    tokio::time::sleep(Duration::from_millis(200)).await;
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let res = fresh.get(app.url(paths::HEALTHZ)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let res = fresh.get(app.url(paths::ROOT)).send().await.unwrap();
    assert!(res.headers().contains_key("retry-after"));
    assert_error(res, 503, ErrorCode::Unavailable).await;
}

#[tokio::test]
async fn search_words_are_bounded_in_size_and_number() {
    let app = spawn_with(lenient()).await;
    let (_, token) = app.user().await;
    let long = "x".repeat(257);
    let res = app
        .get(&format!("/get-history?q={long}"), Some(&token))
        .await;
    let err = assert_error(res, 400, ErrorCode::InvalidRequest).await;
    assert!(err.message.contains("256 bytes"), "{}", err.message);
    let many = (0..9)
        .map(|i| format!("w{i}"))
        .collect::<Vec<_>>()
        .join("+");
    let res = app
        .get(&format!("/get-history?q={many}"), Some(&token))
        .await;
    let err = assert_error(res, 400, ErrorCode::InvalidRequest).await;
    assert!(err.message.contains("8 words"), "{}", err.message);
    let res = app.get("/get-history?q=w1+w2", Some(&token)).await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn a_statement_past_the_timeout_is_503_and_the_pool_recovers() {
    let app = spawn_with(ServeOptions {
        statement_timeout: Duration::from_millis(300),
        ..lenient()
    })
    .await;
    let (_, token) = app.user().await;
    // Reads wait for this lock, so the search runs into the timeout.
    let locker = connect(&app.pg).await;
    locker
        .batch_execute("BEGIN; LOCK TABLE history IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let started = Instant::now();
    let res = app.get("/get-history?q=anything", Some(&token)).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(res.headers().contains_key("retry-after"));
    let err = assert_error(res, 503, ErrorCode::Unavailable).await;
    assert!(err.message.contains("took longer"), "{}", err.message);
    locker.batch_execute("COMMIT").await.unwrap();
    let res = app.get("/get-history?q=anything", Some(&token)).await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn writes_per_account_are_limited_with_retry_after() {
    let app = spawn_with(ServeOptions {
        write_limit: LoginLimit {
            burst: std::num::NonZeroU32::new(3).unwrap(),
            period: Duration::from_secs(2),
        },
        ..lenient()
    })
    .await;
    let (_, token) = app.user().await;
    let (_, other) = app.user().await;
    for _ in 0..3 {
        let res = app
            .post(paths::REVERSE, &json!({"input": "abc"}), Some(&token))
            .await;
        assert_eq!(res.status(), 200);
    }
    let res = app
        .post(paths::PIGLATIN, &json!({"input": "abc"}), Some(&token))
        .await;
    let wait: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    let err = assert_error(res, 429, ErrorCode::RateLimited).await;
    assert!(err.message.contains("writes"), "{}", err.message);
    // Another account is untouched; the limited one gets in after the wait.
    let res = app
        .post(paths::REVERSE, &json!({"input": "abc"}), Some(&other))
        .await;
    assert_eq!(res.status(), 200);
    tokio::time::sleep(Duration::from_secs(wait)).await;
    let res = app
        .post(paths::REVERSE, &json!({"input": "abc"}), Some(&token))
        .await;
    assert_eq!(res.status(), 200);
}
