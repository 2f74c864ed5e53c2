//! What an outside probe found: stalled bodies, too many connections,
//! hyper's own answers, encodings and charsets, duplicate or missing
//! headers, odd expectations, invalid UTF-8 in the query, 401 and token
//! caching headers, and usernames that look alike (RFC 8265).

use std::time::Duration;

use serde_json::{Value, json};
use strop_common::{ErrorCode, paths};
use strop_server::ServeOptions;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{assert_error, parse_response, raw_request, spawn_app, spawn_on, spawn_with};

/// The status and SPEC error code of a raw answer, asserting the JSON shape.
fn spec_error(status: u16, body: &Value) -> String {
    assert_eq!(
        body.as_object().map(|o| o.len()),
        Some(2),
        "{status}: not the SPEC shape: {body}"
    );
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    body["error"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_stalled_body_is_answered_408() {
    let app = spawn_with(ServeOptions {
        body_timeout: Duration::from_secs(1),
        ..ServeOptions::default()
    })
    .await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    stream
        .write_all(
            b"POST /register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{\"username\": \"sl",
        )
        .await
        .unwrap();
    // Nothing more is sent; the server answers and closes on its own.
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut out))
        .await
        .expect("the server gave up on the body")
        .unwrap();
    let (status, body) = parse_response(&out);
    assert_eq!(status, 408);
    assert_eq!(spec_error(status, &body), "request_timeout");
}

#[tokio::test]
async fn over_the_connection_cap_only_health_checks_are_answered() {
    let app = spawn_with(ServeOptions {
        max_connections: 2,
        ..ServeOptions::default()
    })
    .await;
    let fresh = || {
        reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap()
    };
    // Two idle connections hold the two places (the harness's own client
    // may hold one more, which only makes the cap reached sooner).
    let held: Vec<TcpStream> = vec![
        TcpStream::connect(app.addr).await.unwrap(),
        TcpStream::connect(app.addr).await.unwrap(),
    ];
    tokio::time::sleep(Duration::from_millis(200)).await;
    let res = fresh().get(app.url(paths::HEALTHZ)).send().await.unwrap();
    assert_eq!(res.status(), 200, "liveness is answered over the cap");
    let res = fresh().get(app.url(paths::READYZ)).send().await.unwrap();
    assert_eq!(res.status(), 200, "readiness is answered over the cap");
    let res = fresh().get(app.url(paths::ROOT)).send().await.unwrap();
    assert!(res.headers().contains_key("retry-after"));
    assert_error(res, 503, ErrorCode::Unavailable).await;

    drop(held);
    // Places free up as soon as the held connections close.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let res = fresh().get(app.url(paths::ROOT)).send().await.unwrap();
        if res.status() == 200 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the cap never freed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn hypers_own_answers_are_spec_json() {
    let app = spawn_app().await;
    let long_url = format!(
        "GET /?q={} HTTP/1.1\r\nHost: x\r\n\r\n",
        "a".repeat(100 * 1024)
    );
    let many_headers = format!(
        "GET / HTTP/1.1\r\nHost: x\r\n{}\r\n",
        (0..200)
            .map(|i| format!("X-H{i}: v\r\n"))
            .collect::<String>()
    );
    let huge_header = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "b".repeat(1024 * 1024)
    );
    let cases: [(&[u8], u16, &str); 5] = [
        (b"GARBAGE\r\n\r\n", 400, "invalid_request"),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",
            400,
            "invalid_request",
        ),
        (long_url.as_bytes(), 414, "uri_too_long"),
        (many_headers.as_bytes(), 431, "headers_too_large"),
        (huge_header.as_bytes(), 431, "headers_too_large"),
    ];
    for (request, want, code) in cases {
        let (status, body) = raw_request(app.addr, request).await;
        assert_eq!(status, want, "{body}");
        assert_eq!(spec_error(status, &body), code);
    }
    // The server is still fine.
    assert_eq!(app.get(paths::HEALTHZ, None).await.status(), 200);
}

#[tokio::test]
async fn encodings_and_charsets_other_than_plain_utf8_are_415() {
    let app = spawn_app().await;
    let body = r#"{"username": "enc", "password": "pw"}"#;
    for coding in ["gzip", "br", "deflate, gzip"] {
        let res = app
            .http
            .post(app.url(paths::REGISTER))
            .header("content-type", "application/json")
            .header("content-encoding", coding)
            .body(body)
            .send()
            .await
            .unwrap();
        let err = assert_error(res, 415, ErrorCode::UnsupportedMediaType).await;
        assert!(err.message.contains(coding), "{}", err.message);
    }
    for ct in [
        "application/json; charset=latin1",
        "application/json;charset=\"utf-16\"",
    ] {
        let res = app
            .http
            .post(app.url(paths::REGISTER))
            .header("content-type", ct)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_error(res, 415, ErrorCode::UnsupportedMediaType).await;
    }
    let res = app
        .http
        .post(app.url(paths::REGISTER))
        .header("content-type", "application/json; charset=UTF-8")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn duplicate_or_missing_headers_and_odd_expectations() {
    let app = spawn_app().await;
    let (_, token) = app.user().await;
    let two_types = "POST /register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
        Content-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";
    let two_tokens = format!(
        "GET /whoami HTTP/1.1\r\nHost: x\r\nAuthorization: {token}\r\n\
         Authorization: Bearer 00000000000000000000000000000000\r\nConnection: close\r\n\r\n"
    );
    let no_host = "GET / HTTP/1.1\r\nConnection: close\r\n\r\n";
    for request in [two_types, &two_tokens, no_host] {
        let (status, body) = raw_request(app.addr, request.as_bytes()).await;
        assert_eq!(status, 400, "{request}: {body}");
        assert_eq!(spec_error(status, &body), "invalid_request");
    }
    // HTTP/1.0 has no Host requirement.
    let (status, _) = raw_request(app.addr, b"GET / HTTP/1.0\r\n\r\n").await;
    assert_eq!(status, 200);
    let res = app
        .http
        .get(app.url(paths::ROOT))
        .header("expect", "foo")
        .send()
        .await
        .unwrap();
    assert_error(res, 417, ErrorCode::ExpectationFailed).await;
    let res = app
        .get(&format!("{}?q=%FF", paths::HISTORY), Some(&token))
        .await;
    assert_error(res, 400, ErrorCode::InvalidRequest).await;
}

#[tokio::test]
async fn every_401_names_bearer_and_tokens_are_not_cached() {
    let app = spawn_app().await;
    app.register("cache", "pw").await;
    let wrong = app
        .post(
            paths::AUTHENTICATE,
            &json!({"username": "cache", "password": "no"}),
            None,
        )
        .await;
    let answers = [
        wrong,
        app.get(paths::WHOAMI, None).await,
        app.get(
            paths::WHOAMI,
            Some("Bearer 00000000000000000000000000000000"),
        )
        .await,
        app.post(paths::LOGOUT, &json!({}), Some("garbage")).await,
    ];
    for res in answers {
        assert_eq!(res.status(), 401);
        assert_eq!(res.headers()["www-authenticate"], "Bearer");
    }
    let res = app
        .post(
            paths::AUTHENTICATE,
            &json!({"username": "cache", "password": "pw"}),
            None,
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn look_alike_usernames_are_one_account_and_invisible_characters_are_refused() {
    let app = spawn_app().await;
    assert_eq!(app.register("Jos\u{e9}", "pw").await.status(), 200);
    let res = app.register("Jose\u{301}", "other").await;
    assert_error(res, 409, ErrorCode::UserExists).await;
    assert_eq!(app.register("Alice", "pw").await.status(), 200);
    let res = app
        .register("\u{ff21}\u{ff4c}\u{ff49}\u{ff43}\u{ff45}", "other")
        .await;
    assert_error(res, 409, ErrorCode::UserExists).await;
    // Case stays significant (UsernameCasePreserved), as in the seed.
    assert_eq!(app.register("alice", "pw").await.status(), 200);
    // Either spelling logs in to the one account.
    let token = app
        .login("\u{ff21}\u{ff4c}\u{ff49}\u{ff43}\u{ff45}", "pw")
        .await;
    let who: Value = app
        .get(paths::WHOAMI, Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(who["user"], json!("Alice"));
    let token = app.login("Jose\u{301}", "pw").await;
    let who: Value = app
        .get(paths::WHOAMI, Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(who["user"], json!("Jos\u{e9}"));
    for bad in [
        "zero\u{200b}width",
        "zw\u{200d}j",
        "soft\u{ad}",
        "\u{feff}bom",
        "rlo\u{202e}",
    ] {
        let res = app.register(bad, "pw").await;
        let err = assert_error(res, 400, ErrorCode::InvalidRequest).await;
        assert!(
            err.message.contains("U+") || err.message.contains("RFC 8265"),
            "{}",
            err.message
        );
    }
}

#[tokio::test]
async fn rows_from_before_the_rules_are_canonicalised_or_reported_never_merged() {
    let app = spawn_app().await;
    let pg = app.pg.clone();
    app.stop().await;
    let db = crate::support::connect(&pg).await;
    for name in [
        "Jos\u{e9}",
        "Jose\u{301}",
        "\u{ff22}ob",
        "carol",
        "bad\u{200b}",
    ] {
        db.execute(
            "INSERT INTO users (username, password_hash) VALUES ($1, 'x')",
            &[&name],
        )
        .await
        .unwrap();
    }
    let pool =
        strop_server::db::pool::create(pg.clone(), 2, std::time::Duration::from_secs(30)).unwrap();
    let report = strop_server::accounts::usernames::check_existing(&pool)
        .await
        .unwrap();
    assert_eq!(
        report.renamed,
        [("\u{ff22}ob".to_string(), "Bob".to_string())]
    );
    assert_eq!(
        report.collisions,
        [vec!["Jos\u{e9}".to_string(), "Jose\u{301}".to_string()]]
    );
    assert_eq!(report.invalid, ["bad\u{200b}"]);
    let count: i64 = db
        .query_one("SELECT count(*) FROM users", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 5, "nothing merged or deleted");
    // The server starts on such a database, and runs the same check.
    let app = spawn_on(pg, ServeOptions::default()).await;
    assert_eq!(app.get(paths::HEALTHZ, None).await.status(), 200);
}
