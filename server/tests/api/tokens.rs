//! The in-process token cache against real servers: revocation through one
//! server is refused by another on its next request, and a lost LISTEN
//! connection empties the cache and bypasses it until listening again.

use std::time::Duration;

use serde_json::json;
use strop_embedded_pg::testing::fresh_database;
use strop_server::ServeOptions;
use strop_server::config::TokenCacheMode;
use strop_server::http::auth::hash_token;

use crate::support::{TestApp, connect, spawn_on};

const PATIENCE: Duration = Duration::from_secs(10);

/// Waits until `n` servers' LISTEN connections are up; returns their pids.
async fn listener_pids(db: &tokio_postgres::Client, n: usize) -> Vec<i32> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let rows = db
            .query(
                "SELECT pid FROM pg_stat_activity
                 WHERE datname = current_database()
                   AND application_name = 'strop-server listener'
                   AND query ILIKE 'LISTEN%'",
                &[],
            )
            .await
            .unwrap();
        if rows.len() == n {
            return rows.iter().map(|r| r.get(0)).collect();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no LISTEN connection"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn whoami(app: &TestApp, token: &str) -> u16 {
    app.get("/whoami", Some(token)).await.status().as_u16()
}

/// Polls until `token` is refused; a cache that never forgets fails here.
async fn until_refused(app: &TestApp, token: &str) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while whoami(app, token).await != 401 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the token is still accepted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Deletes a token row behind the servers' backs, with no notice.
async fn delete_silently(db: &tokio_postgres::Client, token: &str) {
    let n = db
        .execute(
            "DELETE FROM tokens WHERE token_hash = $1",
            &[&&hash_token(token)[..]],
        )
        .await
        .unwrap();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn a_logout_on_one_server_is_refused_by_another_on_its_next_request() {
    let pg = fresh_database().await;
    let a = spawn_on(pg.clone(), ServeOptions::default()).await;
    let b = spawn_on(pg, ServeOptions::default()).await;
    let db = a.db().await;
    listener_pids(&db, 2).await;
    let (_, token) = a.user().await;
    for _ in 0..3 {
        // Known to b, so b answers these from its cache.
        assert_eq!(whoami(&b, &token).await, 200);
    }
    assert_eq!(
        a.post("/logout", &json!({}), Some(&token)).await.status(),
        200
    );
    assert_eq!(whoami(&b, &token).await, 401, "b's very next request");
    assert_eq!(
        b.post("/reverse", &json!({"input": "x"}), Some(&token))
            .await
            .status(),
        401
    );
    assert_eq!(whoami(&a, &token).await, 401);
}

#[tokio::test]
async fn tokens_are_answered_from_memory_until_a_notice_says_otherwise() {
    let app = spawn_on(fresh_database().await, ServeOptions::default()).await;
    let db = app.db().await;
    listener_pids(&db, 1).await;
    let (_, token) = app.user().await;
    assert_eq!(whoami(&app, &token).await, 200);
    // Without a notice the cache cannot know (which is why every deletion
    // in the server notifies): proof that the cache is in use.
    delete_silently(&db, &token).await;
    assert_eq!(whoami(&app, &token).await, 200);
    // `*` empties every server's cache.
    db.execute("SELECT pg_notify('strop_tokens', '*')", &[])
        .await
        .unwrap();
    until_refused(&app, &token).await;
}

#[tokio::test]
async fn with_the_token_cache_off_every_check_reads_the_table() {
    let options = ServeOptions {
        token_cache: TokenCacheMode::Off,
        ..ServeOptions::default()
    };
    let app = spawn_on(fresh_database().await, options).await;
    let db = app.db().await;
    let (_, token) = app.user().await;
    assert_eq!(whoami(&app, &token).await, 200);
    // No notice, and yet the very next request is refused: nothing was kept.
    delete_silently(&db, &token).await;
    assert_eq!(whoami(&app, &token).await, 401);
    assert_eq!(
        app.post("/reverse", &json!({"input": "x"}), Some(&token))
            .await
            .status(),
        401
    );
}

#[tokio::test]
async fn a_killed_listener_empties_the_cache_which_is_bypassed_until_listening_again() {
    let pg = fresh_database().await;
    let app = spawn_on(pg.clone(), ServeOptions::default()).await;
    let db = app.db().await;
    let dbname = pg.get_dbname().unwrap().to_owned();
    let pid = listener_pids(&db, 1).await[0];
    // A database cannot close itself to connections: do it from another.
    let admin = connect(pg.clone().dbname("postgres")).await;
    let (name, lost) = app.user().await;
    let later = app.login(&name, "pw").await;
    assert_eq!(whoami(&app, &lost).await, 200);
    assert_eq!(whoami(&app, &later).await, 200);
    // A revocation whose notice is lost, then the LISTEN connection dies and
    // cannot come back (the pool keeps its open connections).
    delete_silently(&db, &lost).await;
    assert_eq!(whoami(&app, &lost).await, 200, "still cached");
    admin
        .batch_execute(&format!(
            "ALTER DATABASE \"{dbname}\" WITH ALLOW_CONNECTIONS false"
        ))
        .await
        .unwrap();
    let killed: bool = db
        .query_one("SELECT pg_terminate_backend($1)", &[&pid])
        .await
        .unwrap()
        .get(0);
    assert!(killed);
    // The drop empties the cache.
    until_refused(&app, &lost).await;
    // While not listening, a revocation (its notice unheard) is refused at
    // once: the lookup just before it was not cached.
    assert_eq!(whoami(&app, &later).await, 200);
    let revoked: i64 = db
        .query_one(
            "WITH gone AS (DELETE FROM tokens WHERE token_hash = $1 RETURNING token_hash)
             SELECT count(pg_notify('strop_tokens', encode(token_hash, 'hex'))) FROM gone",
            &[&&hash_token(&later)[..]],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(revoked, 1);
    assert_eq!(whoami(&app, &later).await, 401);
    // Listening again: new tokens work (and are cached again).
    admin
        .batch_execute(&format!(
            "ALTER DATABASE \"{dbname}\" WITH ALLOW_CONNECTIONS true"
        ))
        .await
        .unwrap();
    let again = listener_pids(&db, 1).await;
    assert_ne!(again, [pid]);
    let fresh = app.login(&name, "pw").await;
    assert_eq!(whoami(&app, &fresh).await, 200);
}
