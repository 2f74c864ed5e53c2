//! The process's LISTEN connection: a notification becomes rows read once,
//! a revocation becomes a token notice, and a killed connection is
//! announced (watch false, Flush), re-established, and followed by Resync.

use std::time::Duration;

use strop_embedded_pg::testing::fresh_database;
use strop_server::db;
use strop_server::live::listener::{HistoryNotice, Listener};
use strop_server::live::notify::{HISTORY_CHANNEL, TOKENS_CHANNEL, TokenNotice, history_payload};
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

use crate::support::connect;

const PATIENCE: Duration = Duration::from_secs(10);

async fn next<T: Clone>(rx: &mut broadcast::Receiver<T>) -> T {
    tokio::time::timeout(PATIENCE, rx.recv())
        .await
        .expect("a notice in time")
        .expect("the channel is open")
}

async fn until(listening: &mut watch::Receiver<bool>, want: bool) {
    tokio::time::timeout(PATIENCE, listening.wait_for(|l| *l == want))
        .await
        .unwrap_or_else(|_| panic!("listening never became {want}"))
        .unwrap();
}

/// The next notice that is not a Resync (the first LISTEN sends one).
async fn next_rows(rx: &mut broadcast::Receiver<HistoryNotice>) -> Vec<(i64, i64, String)> {
    loop {
        if let HistoryNotice::Rows(rows) = next(rx).await {
            return rows
                .iter()
                .map(|r| (r.user_id, r.entry.id, r.entry.input.clone()))
                .collect();
        }
    }
}

#[tokio::test]
async fn notifications_become_rows_and_a_killed_connection_comes_back() {
    let pg = fresh_database().await;
    db::migrations::migrate_with_retry(&pg, PATIENCE)
        .await
        .unwrap();
    let pool = db::pool::create(pg.clone(), 2, std::time::Duration::from_secs(30)).unwrap();
    let stop = CancellationToken::new();
    let (listener, task) = Listener::spawn(pg.clone(), pool, stop.clone());
    let mut history = listener.history();
    let mut tokens = listener.tokens();
    let mut listening = listener.listening();
    until(&mut listening, true).await;

    let sql = connect(&pg).await;
    let user: i64 = sql
        .query_one(
            "INSERT INTO users (username, password_hash) VALUES ('ann', 'x') RETURNING id",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let mut ids = Vec::new();
    for input in ["one", "two"] {
        let id: i64 = sql
            .query_one(
                "INSERT INTO history (user_id, function, input, output)
                 VALUES ($1, 'reverse', $2, 'x') RETURNING id",
                &[&user, &input],
            )
            .await
            .unwrap()
            .get(0);
        ids.push(id);
    }
    sql.execute(
        "SELECT pg_notify($1, $2)",
        &[&HISTORY_CHANNEL, &history_payload(&ids)],
    )
    .await
    .unwrap();
    assert_eq!(
        next_rows(&mut history).await,
        [
            (user, ids[0], "one".to_string()),
            (user, ids[1], "two".to_string())
        ]
    );

    let hash = [7u8; 32];
    sql.execute(
        // What `notify::revoke_token` sends for a revoked token.
        "SELECT pg_notify($1, encode($2, 'hex'))",
        &[&TOKENS_CHANNEL, &&hash[..]],
    )
    .await
    .unwrap();
    assert_eq!(next(&mut tokens).await, TokenNotice::Revoked(hash));

    // Kill the listening backend: the drop is announced, then it comes back.
    let killed: i64 = sql
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE datname = current_database() AND application_name = 'strop-server listener'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(killed, 1, "exactly one listening connection per process");
    until(&mut listening, false).await;
    assert_eq!(next(&mut tokens).await, TokenNotice::Flush);
    until(&mut listening, true).await;
    loop {
        if let HistoryNotice::Resync = next(&mut history).await {
            break;
        }
    }
    // And it hears again.
    sql.execute(
        "SELECT pg_notify($1, $2)",
        &[&HISTORY_CHANNEL, &history_payload(&ids[..1])],
    )
    .await
    .unwrap();
    assert_eq!(next_rows(&mut history).await[0].1, ids[0]);

    stop.cancel();
    tokio::time::timeout(PATIENCE, task)
        .await
        .expect("the listener stops")
        .unwrap();
    assert!(!*listening.borrow(), "stopped means not listening");
}
