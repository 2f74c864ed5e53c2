//! Several servers on one database, restarts, concurrent start-up
//! migrations, and graceful shutdown of an in-flight request.

use std::time::Duration;

use futures_util::future::join_all;
use serde_json::{Value, json};
use strop_common::HistoryResponse;
use strop_embedded_pg::testing::fresh_database;
use strop_server::ServeOptions;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{
    connect, lock_history, parse_response, release, spawn_on, wait_for_blocked_writes,
};

#[tokio::test]
async fn a_token_from_one_server_works_on_another() {
    let pg = fresh_database().await;
    let a = spawn_on(pg.clone(), ServeOptions::default()).await;
    let b = spawn_on(pg, ServeOptions::default()).await;
    let (name, token) = a.user().await;
    let res = b.get("/whoami", Some(&token)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["user"], json!(name));
    assert_eq!(
        b.post("/reverse", &json!({"input": "on b"}), Some(&token))
            .await
            .status(),
        200
    );
    let h: HistoryResponse = a
        .get("/get-history", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(h.history.len(), 1);
    // Logout on one revokes everywhere.
    assert_eq!(
        a.post("/logout", &json!({}), Some(&token)).await.status(),
        200
    );
    assert_eq!(b.get("/whoami", Some(&token)).await.status(), 401);
    // And a name taken on one is taken on the other.
    assert_eq!(b.register(&name, "x").await.status(), 409);
}

#[tokio::test]
async fn history_and_tokens_survive_a_restart() {
    let pg = fresh_database().await;
    let first = spawn_on(pg.clone(), ServeOptions::default()).await;
    let (_, token) = first.user().await;
    assert_eq!(
        first
            .post(
                "/piglatin",
                &json!({"input": "before restart"}),
                Some(&token)
            )
            .await
            .status(),
        200
    );
    first.stop().await;
    let second = spawn_on(pg, ServeOptions::default()).await;
    let h: HistoryResponse = second
        .get("/get-history", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(h.history.len(), 1);
    assert_eq!(h.history[0].input, "before restart");
    assert_eq!(h.history[0].output, "eforebay estartray");
}

#[tokio::test]
async fn three_servers_starting_at_once_on_an_empty_database_all_come_up() {
    let pg = fresh_database().await;
    let apps = join_all((0..3).map(|_| spawn_on(pg.clone(), ServeOptions::default()))).await;
    for (i, app) in apps.iter().enumerate() {
        let res = app.register(&format!("user{i}"), "pw").await;
        assert_eq!(res.status(), 200);
        assert_eq!(app.get("/readyz", None).await.status(), 200);
    }
    let db = apps[0].db().await;
    let applied: i64 = db
        .query_one("SELECT count(*) FROM refinery_schema_history", &[])
        .await
        .unwrap()
        .get(0);
    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .unwrap()
        .filter(|f| f.as_ref().unwrap().path().extension() == Some("sql".as_ref()))
        .count();
    assert_eq!(
        applied,
        i64::try_from(migrations).unwrap(),
        "each migration applied once"
    );
}

#[tokio::test]
async fn shutdown_lets_an_in_flight_request_finish_and_commit() {
    let pg = fresh_database().await;
    let mut app = spawn_on(pg, ServeOptions::default()).await;
    let (_, token) = app.user().await;
    // Start a request, send only half its body, then ask the server to stop.
    let body = br#"{"input": "in flight"}"#;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /reverse HTTP/1.1\r\nHost: x\r\nAuthorization: {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body[..10]).await.unwrap();
    // Time for the server to take the connection and start on the request.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let db = app.db().await;
    app.begin_shutdown();
    // New connections are refused once the listener is closed.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(app.addr).await.is_ok() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "listener still open"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stream.write_all(&body[10..]).await.unwrap();
    let mut out = Vec::new();
    stream.read_to_end(&mut out).await.unwrap();
    let (status, v) = parse_response(&out);
    assert_eq!(status, 200);
    assert_eq!(v, json!({"output": "thgilf ni"}));
    app.finished().await;
    let n: i64 = db
        .query_one(
            "SELECT count(*) FROM history WHERE input = 'in flight'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1, "a 200 means the row is committed");
}

#[tokio::test]
async fn shutdown_with_a_full_history_queue_commits_every_200() {
    let pg = fresh_database().await;
    let options = ServeOptions {
        history_queue: 4,
        ..ServeOptions::default()
    };
    let mut app = spawn_on(pg.clone(), options).await;
    let (_, token) = app.user().await;
    // Held batches fill the small queue; the rest of the burst waits for room.
    let locker = lock_history(&pg).await;
    let n = 40;
    let requests = join_all((0..n).map(|i| {
        let req = app
            .http
            .post(app.url("/reverse"))
            .header("Authorization", &token)
            .json(&json!({"input": format!("queued {i}")}));
        async move {
            match req.send().await {
                Ok(res) => Some((res.status().as_u16(), res.json::<Value>().await.ok())),
                Err(_) => None,
            }
        }
    }));
    let stop = async {
        wait_for_blocked_writes(&pg, 1).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        app.begin_shutdown();
        tokio::time::sleep(Duration::from_millis(300)).await;
        release(locker).await;
    };
    let (results, ()) = tokio::join!(requests, stop);
    app.finished().await;

    let db = connect(&pg).await;
    let stored: Vec<String> = db
        .query("SELECT input FROM history ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut answered_200 = Vec::new();
    for (i, result) in results.iter().enumerate() {
        let input = format!("queued {i}");
        match result {
            Some((200, Some(body))) => {
                let out: String = input.chars().rev().collect();
                assert_eq!(body, &json!({"output": out}));
                answered_200.push(input);
            }
            Some((status, body)) => {
                // An error, never a silent loss: SPEC JSON with a code.
                let body = body.as_ref().expect("a JSON error body");
                assert!(
                    *status >= 500 && body["error"].is_string(),
                    "{status} {body}"
                );
                assert!(
                    !stored.contains(&input),
                    "{input} stored but answered {status}"
                );
            }
            None => panic!("{input}: accepted but never answered"),
        }
    }
    let mut stored_sorted = stored.clone();
    stored_sorted.sort();
    answered_200.sort();
    assert_eq!(
        stored_sorted, answered_200,
        "every 200 has its row, and only those"
    );
    assert_eq!(
        answered_200.len(),
        n,
        "the queue drained before the server stopped"
    );
}
