//! `/sessions`: a user's live tokens, never their values; revoking one (or
//! every other one) is exact on every server on the database.

use serde_json::{Value, json};
use strop_common::{ErrorCode, SessionsResponse};
use strop_embedded_pg::testing::fresh_database;

use strop_server::ServeOptions;

use crate::support::{TestApp, assert_error, lenient, spawn_app, spawn_on};

async fn login_as(app: &TestApp, name: &str, agent: &str) -> String {
    let res = app
        .http
        .post(app.url("/authenticate"))
        .header("User-Agent", agent)
        .json(&json!({"username": name, "password": "pw"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn sessions(app: &TestApp, token: &str) -> SessionsResponse {
    let res = app.get("/sessions", Some(token)).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

async fn delete(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    app.http
        .delete(app.url(path))
        .header("Authorization", token)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn sessions_list_each_token_without_its_value() {
    let app = spawn_app().await;
    let (name, first) = app.user().await;
    let second = login_as(&app, &name, "strop-test/1.0").await;
    let res = app.get("/sessions", Some(&second)).await;
    let text = res.text().await.unwrap();
    assert!(!text.contains(&first) && !text.contains(&second), "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    let keys: Vec<&str> = v["sessions"][0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "created",
            "current",
            "expires",
            "id",
            "last_used",
            "user_agent"
        ]
    );
    let list: SessionsResponse = serde_json::from_str(&text).unwrap();
    assert_eq!(list.sessions.len(), 2);
    assert!(!list.sessions[0].current);
    assert!(list.sessions[1].current);
    assert_eq!(
        list.sessions[1].user_agent.as_deref(),
        Some("strop-test/1.0")
    );
    for s in &list.sessions {
        assert!(s.last_used.ends_with(":00.000Z"), "to the minute: {s:?}");
        assert!(s.expires > s.created, "{s:?}");
    }
    // Other users see only their own.
    let (_, other) = app.user().await;
    assert_eq!(sessions(&app, &other).await.sessions.len(), 1);
}

#[tokio::test]
async fn another_users_session_is_404_like_a_missing_one() {
    let app = spawn_app().await;
    let (_, mine) = app.user().await;
    let (_, theirs) = app.user().await;
    let their_id = sessions(&app, &theirs).await.sessions[0].id;
    let res = delete(&app, &format!("/sessions/{their_id}"), &mine).await;
    assert_error(res, 404, ErrorCode::NotFound).await;
    assert_eq!(app.get("/whoami", Some(&theirs)).await.status(), 200);
    let res = delete(&app, "/sessions/999999999", &mine).await;
    assert_error(res, 404, ErrorCode::NotFound).await;
    let res = delete(&app, "/sessions/abc", &mine).await;
    let err = assert_error(res, 400, ErrorCode::InvalidRequest).await;
    assert!(err.message.contains("session id"), "{}", err.message);
    let res = app.post("/sessions", &json!({}), Some(&mine)).await;
    assert_error(res, 405, ErrorCode::MethodNotAllowed).await;
    let res = app.get("/sessions", None).await;
    assert_error(res, 401, ErrorCode::MissingToken).await;
}

#[tokio::test]
async fn a_revoked_session_is_refused_on_every_server_at_once() {
    let pg = fresh_database().await;
    let a = spawn_on(pg.clone(), lenient()).await;
    let b = spawn_on(pg, lenient()).await;
    let (name, keeper) = a.user().await;
    let doomed = a.login(&name, "pw").await;
    // Both servers know (and cache) the doomed token.
    assert_eq!(a.get("/whoami", Some(&doomed)).await.status(), 200);
    assert_eq!(b.get("/whoami", Some(&doomed)).await.status(), 200);
    let list = sessions(&a, &keeper).await;
    let id = list.sessions.iter().find(|s| !s.current).unwrap().id;
    let res = delete(&a, &format!("/sessions/{id}"), &keeper).await;
    assert_eq!(res.status(), 200);
    // From the very next request, on either server.
    for app in [&a, &b] {
        let res = app.get("/whoami", Some(&doomed)).await;
        assert_error(res, 401, ErrorCode::InvalidToken).await;
        assert_eq!(app.get("/whoami", Some(&keeper)).await.status(), 200);
    }
    assert_eq!(sessions(&b, &keeper).await.sessions.len(), 1);
    // Revoking it again: it is gone.
    let res = delete(&b, &format!("/sessions/{id}"), &keeper).await;
    assert_error(res, 404, ErrorCode::NotFound).await;
}

#[tokio::test]
async fn log_out_everywhere_else_keeps_only_this_session() {
    let pg = fresh_database().await;
    let a = spawn_on(pg.clone(), lenient()).await;
    let b = spawn_on(pg, lenient()).await;
    let (name, keeper) = a.user().await;
    let others = [a.login(&name, "pw").await, b.login(&name, "pw").await];
    for t in &others {
        assert_eq!(b.get("/whoami", Some(t)).await.status(), 200);
    }
    let res = delete(&a, "/sessions", &keeper).await;
    let err = assert_error(res, 400, ErrorCode::InvalidRequest).await;
    assert!(err.message.contains("others=true"), "{}", err.message);
    let res = delete(&a, "/sessions?others=yes", &keeper).await;
    let err = assert_error(res, 400, ErrorCode::InvalidRequest).await;
    assert!(err.message.contains("others"), "{}", err.message);
    let res = delete(&a, "/sessions?others=true", &keeper).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<Value>().await.unwrap()["message"],
        "2 other sessions revoked."
    );
    for app in [&a, &b] {
        for t in &others {
            assert_eq!(app.get("/whoami", Some(t)).await.status(), 401);
        }
        assert_eq!(app.get("/whoami", Some(&keeper)).await.status(), 200);
    }
    let list = sessions(&b, &keeper).await;
    assert_eq!(list.sessions.len(), 1);
    assert!(list.sessions[0].current);
}

#[tokio::test]
async fn a_login_beyond_the_sessions_per_user_logs_out_the_oldest_everywhere() {
    let pg = fresh_database().await;
    let few = ServeOptions {
        sessions_per_user: 3,
        ..lenient()
    };
    let a = spawn_on(pg.clone(), few.clone()).await;
    let b = spawn_on(pg, few).await;
    let (name, first) = a.user().await;
    let mut tokens = vec![first];
    for i in 0..4 {
        // Both servers know (and cache) each token before the next login.
        for app in [&a, &b] {
            assert_eq!(app.get("/whoami", Some(&tokens[i])).await.status(), 200);
        }
        tokens.push(login_as(&a, &name, &format!("device {i}")).await);
    }
    let newest = tokens.last().unwrap().clone();
    let list = sessions(&b, &newest).await;
    assert_eq!(list.sessions.len(), 3, "{list:?}");
    let agents: Vec<_> = list.sessions.iter().map(|s| s.user_agent.clone()).collect();
    assert!(agents.contains(&Some("device 3".into())), "{agents:?}");
    for app in [&a, &b] {
        for gone in &tokens[..2] {
            let res = app.get("/whoami", Some(gone)).await;
            assert_error(res, 401, ErrorCode::InvalidToken).await;
        }
        for kept in &tokens[2..] {
            assert_eq!(app.get("/whoami", Some(kept)).await.status(), 200);
        }
    }
}
