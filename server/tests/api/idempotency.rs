//! `Idempotency-Key` on `/reverse`, `/piglatin` and `/register`: a retry
//! gets the first answer and writes nothing, across servers and through a
//! server killed mid-request.

use std::time::Duration;

use serde_json::{Value, json};
use strop_common::ErrorCode;
use strop_embedded_pg::testing::fresh_database;

use crate::binary::{ServerProcess, command, database_url, login, register};
use crate::support::{
    TestApp, assert_error, connect, lenient, lock_history, release, spawn_app, spawn_on,
    unique_name, wait_for_blocked_writes,
};

async fn keyed(
    http: &reqwest::Client,
    url: String,
    token: &str,
    key: &str,
    body: &Value,
) -> reqwest::Response {
    http.post(url)
        .header("Authorization", token)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn run(app: &TestApp, path: &str, token: &str, key: &str, input: &str) -> reqwest::Response {
    keyed(
        &app.http,
        app.url(path),
        token,
        key,
        &json!({"input": input}),
    )
    .await
}

async fn rows(db: &tokio_postgres::Client, input: &str) -> i64 {
    db.query_one("SELECT count(*) FROM history WHERE input = $1", &[&input])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn a_retry_with_the_same_key_on_another_server_writes_nothing_more() {
    let pg = fresh_database().await;
    let a = spawn_on(pg.clone(), lenient()).await;
    let b = spawn_on(pg.clone(), lenient()).await;
    let (_, token) = a.user().await;
    let first = run(&a, "/reverse", &token, "k-1", "once only").await;
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.unwrap();
    assert_eq!(first, json!({"output": "ylno ecno"}));
    for app in [&a, &b, &b] {
        let again = run(app, "/reverse", &token, "k-1", "once only").await;
        assert_eq!(again.status(), 200);
        assert_eq!(again.json::<Value>().await.unwrap(), first);
    }
    let db = connect(&pg).await;
    assert_eq!(rows(&db, "once only").await, 1);
    // The key row points at that one history row.
    let (history_id, key_history): (i64, i64) = {
        let r = db
            .query_one(
                "SELECT h.id, k.history_id FROM history h, idempotency_keys k
                 WHERE h.input = 'once only' AND k.key = 'k-1'",
                &[],
            )
            .await
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!(history_id, key_history);
    // Without a key, the same body is a new row, as always.
    let res = b
        .post("/reverse", &json!({"input": "once only"}), Some(&token))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(rows(&db, "once only").await, 2);
}

#[tokio::test]
async fn the_same_key_with_another_body_is_422_and_keys_are_per_user() {
    let app = spawn_app().await;
    let (_, token) = app.user().await;
    let (_, other) = app.user().await;
    assert_eq!(
        run(&app, "/reverse", &token, "k", "first").await.status(),
        200
    );
    let res = run(&app, "/reverse", &token, "k", "second").await;
    let err = assert_error(res, 422, ErrorCode::IdempotencyMismatch).await;
    assert!(err.message.contains("Idempotency-Key"), "{}", err.message);
    // Another operation is another request.
    let res = run(&app, "/piglatin", &token, "k", "first").await;
    assert_error(res, 422, ErrorCode::IdempotencyMismatch).await;
    // Another user's same key is theirs.
    let res = run(&app, "/reverse", &other, "k", "second").await;
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"output": "dnoces"})
    );
    let db = app.db().await;
    assert_eq!(rows(&db, "first").await, 1);
    assert_eq!(rows(&db, "second").await, 1);
    // A malformed key is a 400 naming the header.
    let res = run(&app, "/reverse", &token, "has space", "x").await;
    let err = assert_error(res, 400, ErrorCode::InvalidRequest).await;
    assert!(err.message.contains("Idempotency-Key"), "{}", err.message);
}

#[tokio::test]
async fn while_the_first_is_in_flight_a_retry_is_409() {
    let pg = fresh_database().await;
    let a = spawn_on(pg.clone(), lenient()).await;
    let b = spawn_on(pg.clone(), lenient()).await;
    let (_, token) = a.user().await;
    let locker = lock_history(&pg).await;
    let (http, url, t) = (a.http.clone(), a.url("/piglatin"), token.clone());
    let first =
        tokio::spawn(
            async move { keyed(&http, url, &t, "slow", &json!({"input": "held up"})).await },
        );
    wait_for_blocked_writes(&pg, 1).await;
    let res = run(&b, "/piglatin", &token, "slow", "held up").await;
    let err = assert_error(res, 409, ErrorCode::IdempotencyInFlight).await;
    assert!(err.message.contains("still"), "{}", err.message);
    release(locker).await;
    let first = first.await.unwrap();
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.unwrap();
    let again = run(&b, "/piglatin", &token, "slow", "held up").await;
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    assert_eq!(rows(&connect(&pg).await, "held up").await, 1);
}

#[tokio::test]
async fn a_server_killed_mid_request_leaves_the_key_free_for_a_retry() {
    let pg = fresh_database().await;
    let mut cmd = command();
    cmd.env("DATABASE_URL", database_url(&pg));
    let doomed = ServerProcess::start(cmd).await;
    let survivor = spawn_on(pg.clone(), lenient()).await;
    let http = reqwest::Client::new();
    register(&http, &doomed, "crash", "pw").await;
    let token = login(&http, &doomed, "crash", "pw").await;
    let locker = lock_history(&pg).await;
    let url = doomed.url("/reverse");
    let t = token.clone();
    let lost = tokio::spawn(async move {
        let http = reqwest::Client::new();
        http.post(url)
            .header("Authorization", t)
            .header("Idempotency-Key", "crash-1")
            .json(&json!({"input": "survives a crash"}))
            .send()
            .await
    });
    wait_for_blocked_writes(&pg, 1).await;
    doomed.kill().await;
    assert!(
        lost.await.unwrap().is_err(),
        "the client saw the connection drop"
    );
    // Its transaction is still open in PostgreSQL: the key is in flight.
    let res = run(&survivor, "/reverse", &token, "crash-1", "survives a crash").await;
    assert_error(res, 409, ErrorCode::IdempotencyInFlight).await;
    // Once PostgreSQL rolls it back (it finds the client gone), the retry
    // does the work, once.
    release(locker).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let answer = loop {
        let res = run(&survivor, "/reverse", &token, "crash-1", "survives a crash").await;
        if res.status() == 200 {
            break res.json::<Value>().await.unwrap();
        }
        assert_error(res, 409, ErrorCode::IdempotencyInFlight).await;
        assert!(
            tokio::time::Instant::now() < deadline,
            "the key stayed in flight"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(answer, json!({"output": "hsarc a sevivrus"}));
    let again = run(&survivor, "/reverse", &token, "crash-1", "survives a crash").await;
    assert_eq!(again.json::<Value>().await.unwrap(), answer);
    assert_eq!(rows(&connect(&pg).await, "survives a crash").await, 1);
}

async fn register_keyed(app: &TestApp, key: &str, name: &str, pw: &str) -> reqwest::Response {
    app.http
        .post(app.url("/register"))
        .header("Idempotency-Key", key)
        .json(&json!({"username": name, "password": pw}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn register_with_a_key_answers_a_retry_like_the_first_time() {
    let pg = fresh_database().await;
    let a = spawn_on(pg.clone(), lenient()).await;
    let b = spawn_on(pg.clone(), lenient()).await;
    let name = unique_name("idem");
    let first = register_keyed(&a, "r-1", &name, "pw").await;
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.unwrap();
    // Without the key the name is taken; with it, the retry gets the answer.
    assert_eq!(b.register(&name, "pw").await.status(), 409);
    let again = register_keyed(&b, "r-1", &name, "pw").await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    let res = register_keyed(&b, "r-1", &name, "other-pw").await;
    assert_error(res, 422, ErrorCode::IdempotencyMismatch).await;
    let res = register_keyed(&b, "r-1", &unique_name("idem"), "pw").await;
    assert_error(res, 422, ErrorCode::IdempotencyMismatch).await;
    // A taken name stores nothing under the key: it stays a plain 409.
    let res = register_keyed(&a, "r-2", &name, "pw").await;
    assert_error(res, 409, ErrorCode::UserExists).await;
    let db = connect(&pg).await;
    let keys: i64 = db
        .query_one(
            "SELECT count(*) FROM idempotency_keys WHERE key = 'r-2'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(keys, 0);
    let users: i64 = db
        .query_one("SELECT count(*) FROM users WHERE username = $1", &[&name])
        .await
        .unwrap()
        .get(0);
    assert_eq!(users, 1);
}

#[tokio::test]
async fn keys_expire_after_24_hours_and_are_cleaned_up() {
    let pg = fresh_database().await;
    let app = spawn_on(pg.clone(), lenient()).await;
    let (_, token) = app.user().await;
    assert_eq!(
        run(&app, "/reverse", &token, "old", "aged").await.status(),
        200
    );
    let db = connect(&pg).await;
    db.execute(
        "UPDATE idempotency_keys SET created_at = now() - interval '25 hours'",
        &[],
    )
    .await
    .unwrap();
    // An expired key is a new key: this body is welcome and written.
    assert_eq!(
        run(&app, "/reverse", &token, "old", "new body")
            .await
            .status(),
        200
    );
    assert_eq!(rows(&db, "new body").await, 1);
    db.execute(
        "UPDATE idempotency_keys SET created_at = now() - interval '25 hours'",
        &[],
    )
    .await
    .unwrap();
    // A server starting sweeps expired keys.
    let _other = spawn_on(pg.clone(), lenient()).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let n: i64 = db
            .query_one("SELECT count(*) FROM idempotency_keys", &[])
            .await
            .unwrap()
            .get(0);
        if n == 0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "expired keys stay");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
