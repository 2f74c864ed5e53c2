//! Tokens: both header forms, missing/invalid/revoked/expired, logout,
//! whoami, and the same answer for an unknown user and a wrong password.

use std::time::Duration;

use serde_json::{Value, json};
use strop_common::ErrorCode;
use strop_embedded_pg::testing::fresh_database;
use strop_server::ServeOptions;

use crate::support::{assert_error, keys, spawn_app, spawn_on};

#[tokio::test]
async fn bare_and_bearer_tokens_both_work() {
    let app = spawn_app().await;
    let (name, token) = app.user().await;
    for header in [
        token.clone(),
        format!("Bearer {token}"),
        format!("bearer {token}"),
    ] {
        let res = app.get("/whoami", Some(&header)).await;
        assert_eq!(res.status(), 200, "{header}");
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["user"], json!(name));
        // Issue 17: and when the token expires (the default 30 days on),
        // RFC 3339 UTC like the history's `timestamp`.
        let expires = v["expires"].as_str().expect("expires");
        let at = humantime::parse_rfc3339(expires).expect(expires);
        let ahead = at
            .duration_since(std::time::SystemTime::now())
            .unwrap()
            .as_secs();
        assert!(
            (29 * 86_400..=30 * 86_400 + 60).contains(&ahead),
            "{expires} is {ahead} s ahead"
        );
        assert_eq!(v.as_object().unwrap().len(), 2, "{v}");
        let res = app
            .post("/reverse", &json!({"input": "ab"}), Some(&header))
            .await;
        assert_eq!(res.status(), 200);
    }
}

#[tokio::test]
async fn missing_and_invalid_tokens_are_401() {
    let app = spawn_app().await;
    let (_, token) = app.user().await;
    let requests = [
        ("POST", "/reverse"),
        ("POST", "/piglatin"),
        ("GET", "/get-history"),
        ("POST", "/logout"),
        ("GET", "/whoami"),
    ];
    for (method, path) in requests {
        let send = |auth: Option<String>| {
            let mut req = if method == "GET" {
                app.http.get(app.url(path))
            } else {
                app.http.post(app.url(path)).json(&json!({"input": "x"}))
            };
            if let Some(a) = auth {
                req = req.header("Authorization", a);
            }
            req.send()
        };
        assert_error(send(None).await.unwrap(), 401, ErrorCode::MissingToken).await;
        assert_error(
            send(Some(String::new())).await.unwrap(),
            401,
            ErrorCode::MissingToken,
        )
        .await;
        assert_error(
            send(Some("Bearer ".into())).await.unwrap(),
            401,
            ErrorCode::MissingToken,
        )
        .await;
        for bad in [
            "nonsense".to_string(),
            "0".repeat(32),
            format!("Basic {token}"),
            format!("{token}x"),
        ] {
            assert_error(send(Some(bad)).await.unwrap(), 401, ErrorCode::InvalidToken).await;
        }
    }
    // Nothing was recorded by the refused calls.
    let db = app.db().await;
    let n: i64 = db
        .query_one("SELECT count(*) FROM history", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_answer() {
    let app = spawn_app().await;
    assert_eq!(app.register("wonsun", "password").await.status(), 200);
    let wrong = app
        .post(
            "/authenticate",
            &json!({"username": "wonsun", "password": "nope"}),
            None,
        )
        .await;
    let unknown = app
        .post(
            "/authenticate",
            &json!({"username": "nobody", "password": "password"}),
            None,
        )
        .await;
    let a = assert_error(wrong, 401, ErrorCode::InvalidCredentials).await;
    let b = assert_error(unknown, 401, ErrorCode::InvalidCredentials).await;
    assert_eq!(a, b);
}

#[tokio::test]
async fn each_authenticate_mints_a_new_token_stored_only_as_a_hash() {
    let app = spawn_app().await;
    assert_eq!(app.register("u", "pw").await.status(), 200);
    let t1 = app.login("u", "pw").await;
    let t2 = app.login("u", "pw").await;
    assert_ne!(t1, t2);
    for t in [&t1, &t2] {
        assert_eq!(app.get("/whoami", Some(t)).await.status(), 200);
    }
    let db = app.db().await;
    let rows = db
        .query("SELECT token_hash FROM tokens", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    for row in rows {
        let stored: Vec<u8> = row.get(0);
        assert_eq!(stored.len(), 32);
        for t in [&t1, &t2] {
            assert!(!hex_of(&stored).contains(t.as_str()));
        }
    }
    let hash: String = db
        .query_one("SELECT password_hash FROM users", &[])
        .await
        .unwrap()
        .get(0);
    assert!(hash.starts_with("$argon2id$"), "{hash}");
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn logout_revokes_only_that_token() {
    let app = spawn_app().await;
    let (name, t1) = app.user().await;
    let t2 = app.login(&name, "pw").await;
    let res = app.post("/logout", &json!({}), Some(&t1)).await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v, json!({"message": "Logged out."}));
    for (method_post, path) in [(false, "/whoami"), (true, "/reverse"), (true, "/logout")] {
        let res = if method_post {
            app.post(path, &json!({"input": "x"}), Some(&t1)).await
        } else {
            app.get(path, Some(&t1)).await
        };
        assert_error(res, 401, ErrorCode::InvalidToken).await;
    }
    assert_eq!(app.get("/whoami", Some(&t2)).await.status(), 200);
    // Logout needs no body at all.
    let res = app
        .http
        .post(app.url("/logout"))
        .header("Authorization", format!("Bearer {t2}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_error(
        app.get("/whoami", Some(&t2)).await,
        401,
        ErrorCode::InvalidToken,
    )
    .await;
}

#[tokio::test]
async fn tokens_expire_after_the_configured_lifetime() {
    let options = ServeOptions {
        // Long enough that a loaded machine gets register, login and one
        // whoami done inside it.
        token_ttl: Duration::from_secs(3),
        ..ServeOptions::default()
    };
    let app = spawn_on(fresh_database().await, options).await;
    let (name, token) = app.user().await;
    assert_eq!(app.get("/whoami", Some(&token)).await.status(), 200);
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert_error(
        app.get("/whoami", Some(&token)).await,
        401,
        ErrorCode::InvalidToken,
    )
    .await;
    // A new login works, and prunes the user's expired token.
    let fresh = app.login(&name, "pw").await;
    assert_eq!(app.get("/whoami", Some(&fresh)).await.status(), 200);
    let db = app.db().await;
    let n: i64 = db
        .query_one("SELECT count(*) FROM tokens", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
}

#[tokio::test]
async fn whoami_answers_the_user_and_when_the_token_expires() {
    let app = spawn_app().await;
    let (name, token) = app.user().await;
    let res = app.get("/whoami", Some(&token)).await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    // Issue 17 adds `expires` (SPEC's `{"user"}` plus one key).
    let mut k = keys(&v);
    k.sort();
    assert_eq!(k, ["expires", "user"]);
    assert_eq!(v["user"], name);
}

#[tokio::test]
async fn a_hash_stored_under_older_settings_is_replaced_at_the_next_login() {
    use argon2::password_hash::PasswordHasher;
    let app = spawn_app().await;
    let db = app.db().await;
    let name = crate::support::unique_name("old");
    // What the server stored before its settings changed: the argon2 crate's default.
    let old = argon2::Argon2::default()
        .hash_password(b"an old password")
        .unwrap()
        .to_string();
    assert!(old.contains("m=19456,t=2,p=1"), "{old}");
    db.execute(
        "INSERT INTO users (username, password_hash) VALUES ($1, $2)",
        &[&name, &old],
    )
    .await
    .unwrap();
    let stored = |db: tokio_postgres::Client, name: String| async move {
        let h: String = db
            .query_one(
                "SELECT password_hash FROM users WHERE username = $1",
                &[&name],
            )
            .await
            .unwrap()
            .get(0);
        (db, h)
    };
    // A wrong password changes nothing.
    let res = app
        .post(
            "/authenticate",
            &json!({"username": name, "password": "wrong"}),
            None,
        )
        .await;
    assert_eq!(res.status(), 401);
    let (db, h) = stored(db, name.clone()).await;
    assert_eq!(h, old);
    let token = app.login(&name, "an old password").await;
    let (_, h) = stored(db, name.clone()).await;
    assert!(h.starts_with("$argon2id$v=19$m=9216,t=4,p=1$"), "{h}");
    // The new hash is of the same password, and the token works.
    assert_eq!(app.get("/whoami", Some(&token)).await.status(), 200);
    app.login(&name, "an old password").await;
}
