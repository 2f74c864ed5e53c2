//! Every failure is `{"error", "message"}` JSON with the SPEC's status:
//! routing (404/405), media type (415), size (413), bad JSON and fields (400).

use std::time::Duration;

use serde_json::{Value, json};
use strop_common::{ErrorCode, MAX_BODY_BYTES};

use crate::support::{assert_error, raw_request, spawn_app};

#[tokio::test]
async fn unknown_routes_are_404_json() {
    let app = spawn_app().await;
    // (A single trailing slash is tolerated: "/whoami/" is "/whoami".)
    for path in [
        "/nope",
        "/reverse/extra",
        "/get-history/x",
        "/REVERSE",
        "/%FF",
    ] {
        let res = app.get(path, None).await;
        assert_eq!(res.status(), 404, "{path}");
        assert_error(res, 404, ErrorCode::NotFound).await;
    }
    let res = app.post("/nope", &json!({}), None).await;
    assert_error(res, 404, ErrorCode::NotFound).await;
}

#[tokio::test]
async fn wrong_methods_are_405_json_with_allow() {
    let app = spawn_app().await;
    let (_, token) = app.user().await;
    for path in [
        "/reverse",
        "/piglatin",
        "/register",
        "/authenticate",
        "/logout",
    ] {
        let res = app.get(path, Some(&token)).await;
        assert_eq!(res.headers()["allow"], "POST", "{path}");
        assert_error(res, 405, ErrorCode::MethodNotAllowed).await;
    }
    for path in [
        "/",
        "/get-history",
        "/whoami",
        "/healthz",
        "/readyz",
        "/openapi.json",
    ] {
        let res = app.post(path, &json!({}), Some(&token)).await;
        assert_error(res, 405, ErrorCode::MethodNotAllowed).await;
    }
    let res = app
        .http
        .delete(app.url("/get-history"))
        .header("Authorization", &token)
        .send()
        .await
        .unwrap();
    assert_error(res, 405, ErrorCode::MethodNotAllowed).await;
    let res = app.http.put(app.url("/reverse")).send().await.unwrap();
    assert_error(res, 405, ErrorCode::MethodNotAllowed).await;
    // HEAD is GET without a body.
    let res = app.http.head(app.url("/")).send().await.unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn non_json_content_type_is_415_and_missing_is_json() {
    let app = spawn_app().await;
    let (_, token) = app.user().await;
    for ct in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let res = app
            .http
            .post(app.url("/reverse"))
            .header("Authorization", &token)
            .header("Content-Type", ct)
            .body(r#"{"input": "abc"}"#)
            .send()
            .await
            .unwrap();
        assert_error(res, 415, ErrorCode::UnsupportedMediaType).await;
    }
    let res = app
        .http
        .post(app.url("/register"))
        .header("Content-Type", "text/plain")
        .body(r#"{"username": "x", "password": "y"}"#)
        .send()
        .await
        .unwrap();
    assert_error(res, 415, ErrorCode::UnsupportedMediaType).await;

    // No Content-Type at all: read as JSON.
    let res = app
        .http
        .post(app.url("/reverse"))
        .header("Authorization", &token)
        .body(r#"{"input": "abc"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap(), json!({"output": "cba"}));
    // A charset parameter is fine.
    let res = app
        .http
        .post(app.url("/reverse"))
        .header("Authorization", &token)
        .header("Content-Type", "application/json; charset=utf-8")
        .body(r#"{"input": "abc"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn bodies_over_64_kib_are_413_and_exactly_64_kib_is_fine() {
    let app = spawn_app().await;
    let (_, token) = app.user().await;
    let limit = MAX_BODY_BYTES as usize;
    let overhead = r#"{"input":""}"#.len();
    let exact = format!(r#"{{"input":"{}"}}"#, "a".repeat(limit - overhead));
    assert_eq!(exact.len(), limit);
    let res = app
        .http
        .post(app.url("/reverse"))
        .header("Authorization", &token)
        .header("Content-Type", "application/json")
        .body(exact)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let over = format!(r#"{{"input":"{}"}}"#, "a".repeat(limit - overhead + 1));
    let res = app
        .http
        .post(app.url("/reverse"))
        .header("Authorization", &token)
        .header("Content-Type", "application/json")
        .body(over.clone())
        .send()
        .await
        .unwrap();
    assert_error(res, 413, ErrorCode::PayloadTooLarge).await;
    let res = app
        .http
        .post(app.url("/register"))
        .body(over.clone())
        .send()
        .await
        .unwrap();
    assert_error(res, 413, ErrorCode::PayloadTooLarge).await;

    // Chunked, so no Content-Length announces the size: still 413.
    let mut req = format!(
        "POST /reverse HTTP/1.1\r\nHost: x\r\nAuthorization: {token}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    for chunk in over.as_bytes().chunks(8192) {
        req.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        req.extend_from_slice(chunk);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let (status, body) = raw_request(app.addr, &req).await;
    assert_eq!(status, 413);
    assert_eq!(body["error"], "payload_too_large");

    // A chunked body under the limit works.
    let small = br#"{"input":"chunky"}"#;
    let mut req = format!(
        "POST /reverse HTTP/1.1\r\nHost: x\r\nAuthorization: {token}\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n",
        small.len()
    )
    .into_bytes();
    req.extend_from_slice(small);
    req.extend_from_slice(b"\r\n0\r\n\r\n");
    let (status, body) = raw_request(app.addr, &req).await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"output": "yknuhc"}));
}

#[tokio::test]
async fn unparsable_or_mistyped_bodies_are_400() {
    let app = spawn_app().await;
    let (_, token) = app.user().await;
    let bad_bodies: [&[u8]; 12] = [
        b"",
        b"   ",
        b"{",
        b"not json",
        b"[]",
        b"\"input\"",
        b"null",
        b"{}",
        br#"{"input": 5}"#,
        br#"{"input": null}"#,
        br#"{"input": ["a"]}"#,
        b"{\"input\": \"\xff\xfe\"}",
    ];
    for body in bad_bodies {
        for path in ["/reverse", "/piglatin"] {
            let res = app
                .http
                .post(app.url(path))
                .header("Authorization", &token)
                .header("Content-Type", "application/json")
                .body(body.to_vec())
                .send()
                .await
                .unwrap();
            let err = assert_error(res, 400, ErrorCode::InvalidRequest).await;
            assert!(!err.message.contains("SELECT"), "{}", err.message);
        }
    }
    // NUL cannot be stored in PostgreSQL text: a clear 400, not a 500.
    let res = app
        .post("/reverse", &json!({"input": "a\u{0}b"}), Some(&token))
        .await;
    assert_error(res, 400, ErrorCode::InvalidRequest).await;
}

/// serde reads a struct from an array in field order; that once registered
/// a user named after the password. Only an object is a body.
#[tokio::test]
async fn array_and_scalar_bodies_are_400_and_create_nothing() {
    let app = spawn_app().await;
    let (_, token) = app.user().await;
    for (path, body) in [
        ("/reverse", json!(["x"])),
        ("/piglatin", json!(["x"])),
        ("/register", json!(["arruser", "Arr-Secret-Pw-1"])),
        ("/authenticate", json!(["arruser", "Arr-Secret-Pw-1"])),
        ("/register", json!("arruser")),
        ("/reverse", json!(5)),
    ] {
        let res = app.post(path, &body, Some(&token)).await;
        let err = assert_error(res, 400, ErrorCode::InvalidRequest).await;
        assert!(
            err.message.contains("JSON object"),
            "{path}: {}",
            err.message
        );
    }
    let db = app.db().await;
    let users: i64 = db
        .query_one(
            "SELECT count(*) FROM users WHERE username IN ('arruser', 'Arr-Secret-Pw-1')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(users, 0);
    let rows: i64 = db
        .query_one("SELECT count(*) FROM history", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 0);
    // Unknown keys in an object are still ignored (forward compatibility).
    let res = app
        .post(
            "/reverse",
            &json!({"input": "ab", "future": true}),
            Some(&token),
        )
        .await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn credential_fields_are_validated() {
    let app = spawn_app().await;
    let long_name = "n".repeat(65);
    let long_password = "p".repeat(1025);
    let bad = [
        json!({}),
        json!({"username": "someone"}),
        json!({"password": "pw"}),
        json!({"username": "", "password": "pw"}),
        json!({"username": "someone", "password": ""}),
        json!({"username": 5, "password": "pw"}),
        json!({"username": "someone", "password": 5}),
        json!({"username": null, "password": "pw"}),
        json!({"username": "two words", "password": "pw"}),
        json!({"username": "tab\there", "password": "pw"}),
        json!({"username": "bell\u{7}", "password": "pw"}),
        json!({"username": long_name, "password": "pw"}),
        json!({"username": "someone", "password": long_password}),
    ];
    for body in &bad {
        for path in ["/register", "/authenticate"] {
            let res = app.post(path, body, None).await;
            assert_error(res, 400, ErrorCode::InvalidRequest).await;
        }
    }
    // The edges that are allowed.
    let name64: String = "é".repeat(64);
    let res = app.register(&name64, &"p".repeat(1024)).await;
    assert_eq!(res.status(), 200);
    app.login(&name64, &"p".repeat(1024)).await;
}

#[tokio::test]
async fn username_taken_is_409_and_names_are_case_sensitive() {
    let app = spawn_app().await;
    assert_eq!(app.register("Alice", "pw1").await.status(), 200);
    let res = app.register("Alice", "other").await;
    let err = assert_error(res, 409, ErrorCode::UserExists).await;
    assert!(err.message.contains("Alice"), "{}", err.message);
    assert_eq!(app.register("alice", "pw2").await.status(), 200);
    // The first registration's password still holds.
    app.login("Alice", "pw1").await;
    app.login("alice", "pw2").await;
}

#[tokio::test]
async fn bad_query_values_are_400() {
    let app = spawn_app().await;
    let (_, token) = app.user().await;
    for query in [
        "limit=0",
        "limit=1001",
        "limit=-1",
        "limit=abc",
        "limit=",
        "limit=1.5",
        "before=0",
        "before=-5",
        "before=x",
        "function=upper",
        "function=Reverse",
        "limit=1&limit=2",
        "q=%00",
    ] {
        let res = app
            .get(&format!("/get-history?{query}"), Some(&token))
            .await;
        assert_error(res, 400, ErrorCode::InvalidRequest).await;
    }
    for query in [
        "limit=1",
        "limit=1000",
        "before=1",
        "function=piglatin",
        "q=",
        "unknown=1",
    ] {
        let res = app
            .get(&format!("/get-history?{query}"), Some(&token))
            .await;
        assert_eq!(res.status(), 200, "{query}");
    }
}

#[tokio::test]
async fn garbage_never_gets_a_non_json_answer() {
    let app = spawn_app().await;
    // (Requests hyper cannot parse as HTTP at all never reach the application.)
    let requests: [&[u8]; 4] = [
        b"GET /whoami HTTP/1.1\r\nHost: x\r\nAuthorization: \xff\xfe\r\nConnection: close\r\n\r\n",
        b"POST /register HTTP/1.1\r\nHost: x\r\nContent-Type: \xff\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
        b"GET /get-history?limit=%ZZ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"OPTIONS / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    ];
    for req in requests {
        let (status, body) = raw_request(app.addr, req).await;
        assert!((400..500).contains(&status), "{status}");
        assert!(body["error"].is_string(), "{status} {body}");
        assert!(body["message"].is_string(), "{status} {body}");
    }
}

#[tokio::test]
async fn internal_failures_are_500_json_without_details() {
    let app = spawn_app().await;
    assert_eq!(app.register("broken", "pw").await.status(), 200);
    // A stored hash the server cannot read: a bug on our side, not the client's.
    let db = app.db().await;
    db.execute(
        "UPDATE users SET password_hash = 'not a phc string' WHERE username = 'broken'",
        &[],
    )
    .await
    .unwrap();
    let res = app
        .post(
            "/authenticate",
            &json!({"username": "broken", "password": "pw"}),
            None,
        )
        .await;
    let err = assert_error(res, 500, ErrorCode::Internal).await;
    assert!(!err.message.contains("phc"), "{}", err.message);
    assert!(!err.message.contains("users"), "{}", err.message);
}

#[tokio::test]
async fn random_bodies_never_get_a_server_error_or_non_json() {
    let app = spawn_app().await;
    let (_, token) = app.user().await;
    let pieces: [&[u8]; 16] = [
        b"{",
        b"}",
        b"[",
        b"]",
        b"\"input\"",
        b"\"username\"",
        b"\"password\"",
        b":",
        b",",
        b"\"\\u0000\"",
        b"\"\xf0\x9f\x98\x80\"",
        b"null",
        b"-1e999",
        b"\"\\ud800\"",
        b"\xff",
        b" ",
    ];
    for _ in 0..300 {
        let len = rand::random_range(0..12);
        let body: Vec<u8> = (0..len)
            .flat_map(|_| pieces[rand::random_range(0..pieces.len())].to_vec())
            .collect();
        let path =
            ["/reverse", "/piglatin", "/register", "/authenticate"][rand::random_range(0..4)];
        let res = app
            .http
            .post(app.url(path))
            .header("Authorization", &token)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        assert!(
            status < 500,
            "{status} for {}",
            String::from_utf8_lossy(&body)
        );
        let v: Value = res.json().await.unwrap_or_else(|e| {
            panic!(
                "non-JSON answer for {}: {e}",
                String::from_utf8_lossy(&body)
            )
        });
        if status != 200 {
            assert!(v["error"].is_string() && v["message"].is_string(), "{v}");
        }
    }
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let app = spawn_app().await;
    let mut slow = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // The server drops it after its header timeout (10 s); a hung read means
    // the connection would be held forever.
    let mut buf = [0u8; 256];
    let read = tokio::time::timeout(Duration::from_secs(60), slow.read(&mut buf))
        .await
        .expect("the server kept a half-sent request open for a minute");
    assert!(
        matches!(read, Ok(0) | Err(_)) || buf.starts_with(b"HTTP/1.1 408"),
        "{read:?}: {}",
        String::from_utf8_lossy(&buf)
    );
    // Meanwhile, and afterwards, everyone else is served.
    let res = app.http.get(app.url("/")).send().await.unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn a_bad_query_value_names_its_parameter_and_what_it_takes() {
    let app = spawn_app().await;
    let (_, token) = app.user().await;
    for (query, says) in [
        ("limit=abc", "limit takes a whole number from 1 to 1000"),
        ("limit=0", "limit takes a whole number from 1 to 1000"),
        ("before=x", "before takes an entry id"),
        ("function=upper", "function takes reverse or piglatin"),
        ("q=%00", "q must not contain NUL"),
        ("limit=1&limit=2", "limit is given more than once"),
    ] {
        let res = app
            .get(&format!("/get-history?{query}"), Some(&token))
            .await;
        let err = assert_error(res, 400, ErrorCode::InvalidRequest).await;
        assert!(err.message.contains(says), "{query}: {}", err.message);
    }
}
