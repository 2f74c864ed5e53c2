//! `PUT /password` and `DELETE /account`.

use std::time::Duration;

use serde_json::{Value, json};
use strop_common::{ErrorCode, paths};
use strop_embedded_pg::testing::fresh_database;

use crate::events::Stream;
use crate::support::{TestApp, assert_error, lenient, spawn_app, spawn_on};

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: &Value,
    token: &str,
) -> reqwest::Response {
    app.http
        .request(method, app.url(path))
        .header("Authorization", token)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn authenticate(app: &TestApp, name: &str, password: &str) -> u16 {
    app.post(
        "/authenticate",
        &json!({"username": name, "password": password}),
        None,
    )
    .await
    .status()
    .as_u16()
}

#[tokio::test]
async fn a_password_change_revokes_every_other_session_on_every_server() {
    let pg = fresh_database().await;
    let a = spawn_on(pg.clone(), lenient()).await;
    let b = spawn_on(pg, lenient()).await;
    let (name, keeper) = a.user().await;
    let other = b.login(&name, "pw").await;
    assert_eq!(a.get("/whoami", Some(&other)).await.status(), 200);
    let put = reqwest::Method::PUT;
    let wrong = json!({"current_password": "nope", "new_password": "new-pw"});
    let res = send(&a, put.clone(), "/password", &wrong, &keeper).await;
    assert_error(res, 401, ErrorCode::InvalidCredentials).await;
    let empty = json!({"current_password": "pw", "new_password": ""});
    let res = send(&a, put.clone(), "/password", &empty, &keeper).await;
    assert_error(res, 400, ErrorCode::InvalidRequest).await;
    assert_eq!(b.get("/whoami", Some(&other)).await.status(), 200);

    let good = json!({"current_password": "pw", "new_password": "new-pw"});
    let res = send(&a, put, "/password", &good, &keeper).await;
    assert_eq!(res.status(), 200);
    for app in [&a, &b] {
        let res = app.get("/whoami", Some(&other)).await;
        assert_error(res, 401, ErrorCode::InvalidToken).await;
        assert_eq!(app.get("/whoami", Some(&keeper)).await.status(), 200);
    }
    assert_eq!(authenticate(&b, &name, "pw").await, 401);
    assert_eq!(authenticate(&b, &name, "new-pw").await, 200);
}

#[tokio::test]
async fn deleting_an_account_leaves_no_row_ends_streams_and_frees_the_name() {
    let pg = fresh_database().await;
    let a = spawn_on(pg.clone(), lenient()).await;
    let b = spawn_on(pg, lenient()).await;
    let (name, token) = a.user().await;
    let other = b.login(&name, "pw").await;
    for input in ["one", "two"] {
        let res = a
            .post("/reverse", &json!({"input": input}), Some(&token))
            .await;
        assert_eq!(res.status(), 200);
    }
    let mut stream = Stream::open_at(&b.http, &b.url(paths::EVENTS), &other, None).await;
    let db = a.db().await;
    let user_id: i64 = db
        .query_one("SELECT id FROM users WHERE username = $1", &[&name])
        .await
        .unwrap()
        .get(0);
    let del = reqwest::Method::DELETE;
    let res = send(
        &a,
        del.clone(),
        "/account",
        &json!({"password": "x"}),
        &token,
    )
    .await;
    assert_error(res, 401, ErrorCode::InvalidCredentials).await;
    let res = send(&a, del.clone(), "/account", &json!({}), &token).await;
    assert_error(res, 400, ErrorCode::InvalidRequest).await;

    let res = send(&a, del, "/account", &json!({"password": "pw"}), &token).await;
    assert_eq!(res.status(), 200);
    for table in [
        "users WHERE id",
        "tokens WHERE user_id",
        "history WHERE user_id",
    ] {
        let n: i64 = db
            .query_one(&format!("SELECT count(*) FROM {table} = $1"), &[&user_id])
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, 0, "{table}");
    }
    for app in [&a, &b] {
        for t in [&token, &other] {
            assert_eq!(app.get("/whoami", Some(t)).await.status(), 401);
        }
    }
    // The open stream on the other server ends with an error event.
    let e = stream
        .next(Duration::from_secs(5))
        .await
        .expect("an error event");
    assert_eq!(e.event, "error");
    assert_eq!(stream.next(Duration::from_secs(5)).await, None);
    // The name is free, and the new account starts empty.
    assert_eq!(b.register(&name, "again").await.status(), 200);
    let fresh = b.login(&name, "again").await;
    let h: Value = b
        .get("/get-history", Some(&fresh))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(h["history"], json!([]));
}

#[tokio::test]
async fn account_routes_refuse_wrong_methods_and_missing_tokens() {
    let app = spawn_app().await;
    let res = app.get("/password", None).await;
    assert_error(res, 405, ErrorCode::MethodNotAllowed).await;
    let res = app.get("/account", None).await;
    assert_error(res, 405, ErrorCode::MethodNotAllowed).await;
    let res = send(
        &app,
        reqwest::Method::DELETE,
        "/account",
        &json!({"password": "pw"}),
        "",
    )
    .await;
    assert_error(res, 401, ErrorCode::MissingToken).await;
}
