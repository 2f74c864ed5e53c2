//! `GET /events` against real servers on one real database: fan-out across
//! processes, `Last-Event-ID` resumption, tokens ending streams, shutdown,
//! and a client that never reads.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use strop_common::{ErrorCode, HistoryResponse, paths};
use strop_embedded_pg::testing::fresh_database;
use strop_server::ServeOptions;
use strop_server::live::notify::{HISTORY_CHANNEL, history_payload};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{TestApp, assert_error, spawn_app, spawn_on};

/// One parsed Server-Sent Event.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sse {
    pub(crate) event: String,
    pub(crate) id: Option<String>,
    pub(crate) data: String,
}

/// A `/events` response read incrementally.
pub(crate) struct Stream {
    res: reqwest::Response,
    buf: String,
}

impl Stream {
    pub(crate) async fn open(app: &TestApp, token: &str, last_event_id: Option<i64>) -> Stream {
        Stream::open_at(&app.http, &app.url(paths::EVENTS), token, last_event_id).await
    }

    /// A stream from any `/events` URL (balancer.rs: a replica's, or the balancer's).
    pub(crate) async fn open_at(
        http: &reqwest::Client,
        url: &str,
        token: &str,
        last_event_id: Option<i64>,
    ) -> Stream {
        let mut req = http
            .get(url)
            .header("Authorization", format!("Bearer {token}"));
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id.to_string());
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 200);
        let ct = res.headers()["content-type"].to_str().unwrap().to_string();
        assert_eq!(ct, "text/event-stream");
        Stream {
            res,
            buf: String::new(),
        }
    }

    /// The next event (comments skipped), `None` when the stream ends, or a
    /// panic after `patience`.
    pub(crate) async fn next(&mut self, patience: Duration) -> Option<Sse> {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            while let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut event = Sse {
                    event: "message".into(),
                    id: None,
                    data: String::new(),
                };
                let mut fields = false;
                for line in block.lines() {
                    let (name, value) = line.split_once(':').unwrap_or((line, ""));
                    let value = value.strip_prefix(' ').unwrap_or(value);
                    match name {
                        "" => continue, // a comment (heartbeat)
                        "event" => event.event = value.into(),
                        "id" => event.id = Some(value.into()),
                        "data" => event.data.push_str(value),
                        _ => {}
                    }
                    fields = true;
                }
                if fields {
                    return Some(event);
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.res.chunk())
                .await
                .expect("an event in time")
                .expect("the stream reads");
            match chunk {
                Some(bytes) => self.buf.push_str(std::str::from_utf8(&bytes).unwrap()),
                None => return None,
            }
        }
    }

    pub(crate) async fn entry(&mut self, patience: Duration) -> Value {
        let e = self.next(patience).await.expect("an entry, not the end");
        assert_eq!(e.event, "entry", "{e:?}");
        let v: Value = serde_json::from_str(&e.data).unwrap();
        assert_eq!(e.id, Some(v["id"].to_string()), "id: is the entry id");
        v
    }
}

const PATIENCE: Duration = Duration::from_secs(10);

async fn run(app: &TestApp, token: &str, input: &str) {
    let res = app
        .post(paths::REVERSE, &json!({"input": input}), Some(token))
        .await;
    assert_eq!(res.status(), 200);
}

/// `/get-history` as raw JSON entries, oldest first.
async fn history(app: &TestApp, token: &str) -> Vec<Value> {
    let res = app.get(paths::HISTORY, Some(token)).await;
    let v: Value = res.json().await.unwrap();
    let _: HistoryResponse = serde_json::from_value(v.clone()).unwrap();
    v["history"].as_array().unwrap().clone()
}

#[tokio::test]
async fn an_entry_written_on_one_server_arrives_on_a_stream_held_at_another() {
    let pg = fresh_database().await;
    let a = spawn_on(pg.clone(), ServeOptions::default()).await;
    let b = spawn_on(pg, ServeOptions::default()).await;
    let (_, token) = a.user().await;
    let (_, other) = a.user().await;
    let mut stream = Stream::open(&b, &token, None).await;
    // Someone else's entry is never on this stream; ours is, within a second.
    run(&a, &other, "not yours").await;
    let started = Instant::now();
    run(&a, &token, "live from a").await;
    let got = stream.entry(Duration::from_secs(1)).await;
    eprintln!("arrived {:?} after the write began", started.elapsed());
    // Exactly what /get-history returns.
    assert_eq!(history(&a, &token).await, std::slice::from_ref(&got));
    assert_eq!(got["input"], "live from a");
    run(&b, &token, "and from b").await;
    assert_eq!(stream.entry(PATIENCE).await["input"], "and from b");
}

#[tokio::test]
async fn last_event_id_resumes_without_loss_or_duplicates() {
    let app = spawn_app().await;
    let (_, token) = app.user().await;
    let mut first = Stream::open(&app, &token, None).await;
    for i in 0..3 {
        run(&app, &token, &format!("e{i}")).await;
    }
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(first.entry(PATIENCE).await);
    }
    drop(first);
    // Missed while disconnected, more than one catch-up page.
    for i in 3..260 {
        run(&app, &token, &format!("e{i}")).await;
    }
    let resume_at = seen[1]["id"].as_i64().unwrap();
    let mut second = Stream::open(&app, &token, Some(resume_at)).await;
    let mut resumed = Vec::new();
    for _ in 2..260 {
        resumed.push(second.entry(PATIENCE).await);
    }
    run(&app, &token, "live after").await;
    resumed.push(second.entry(PATIENCE).await);
    let all = history(&app, &token).await;
    assert_eq!(all.len(), 261);
    assert_eq!(
        resumed,
        all[2..],
        "every entry after the id, once, in order"
    );
    assert_eq!(seen, all[..3]);
}

#[tokio::test]
async fn rows_announced_out_of_order_are_streamed_in_order() {
    let app = spawn_app().await;
    let (name, token) = app.user().await;
    let mut stream = Stream::open(&app, &token, None).await;
    // Two of the user's rows committed in order but announced the other way
    // round (two batches whose announcements crossed): the later one must
    // wait for the earlier, or a client resuming after it would skip one.
    let db = app.db().await;
    let ids = insert_unannounced(&db, &name, &["first", "second"]).await;
    for id in [ids[1], ids[0]] {
        announce(&db, id).await;
    }
    assert_eq!(stream.entry(PATIENCE).await["id"], ids[0]);
    assert_eq!(stream.entry(PATIENCE).await["id"], ids[1]);
    // One whose row before it is never announced is read from the table.
    let more = insert_unannounced(&db, &name, &["third", "fourth"]).await;
    announce(&db, more[1]).await;
    assert_eq!(stream.entry(PATIENCE).await["id"], more[0]);
    assert_eq!(stream.entry(PATIENCE).await["id"], more[1]);
}

/// Rows of `user` written behind the server's back (nothing announced), ids ascending.
async fn insert_unannounced(db: &tokio_postgres::Client, user: &str, inputs: &[&str]) -> Vec<i64> {
    let mut ids: Vec<i64> = db
        .query(
            "INSERT INTO history (user_id, function, input, output)
             SELECT id, 'reverse', i, reverse(i) FROM users, unnest($2::text[]) i
             WHERE username = $1 RETURNING id",
            &[&user, &inputs],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    ids.sort_unstable();
    ids
}

/// What the history writer sends after a commit, for one row.
async fn announce(db: &tokio_postgres::Client, id: i64) {
    let (channel, payload) = (HISTORY_CHANNEL, history_payload(&[id]));
    db.execute("SELECT pg_notify($1, $2)", &[&channel, &payload])
        .await
        .unwrap();
}

#[tokio::test]
async fn a_bad_last_event_id_or_token_is_refused_before_streaming() {
    let app = spawn_app().await;
    let (_, token) = app.user().await;
    let res = app
        .http
        .get(app.url(paths::EVENTS))
        .header("Authorization", &token)
        .header("Last-Event-ID", "nope")
        .send()
        .await
        .unwrap();
    assert_error(res, 400, ErrorCode::InvalidRequest).await;
    let res = app.get(paths::EVENTS, None).await;
    assert_error(res, 401, ErrorCode::MissingToken).await;
    let res = app.get(paths::EVENTS, Some(&"0".repeat(32))).await;
    assert_error(res, 401, ErrorCode::InvalidToken).await;
    let res = app.post(paths::EVENTS, &json!({}), Some(&token)).await;
    assert_error(res, 405, ErrorCode::MethodNotAllowed).await;
    // And the OpenAPI document says so.
    let doc: Value = app.get(paths::OPENAPI, None).await.json().await.unwrap();
    let op = &doc["paths"][paths::EVENTS]["get"];
    assert!(
        op["responses"]["200"]["content"]["text/event-stream"].is_object(),
        "{op}"
    );
    let param = &op["parameters"][0];
    assert_eq!(
        (&param["name"], &param["in"]),
        (&json!("Last-Event-ID"), &json!("header"))
    );
    for status in ["400", "401"] {
        assert!(
            op["responses"][status]["content"]["application/json"].is_object(),
            "{op}"
        );
    }
}

#[tokio::test]
async fn a_revoked_or_expired_token_ends_the_stream_with_an_error_event() {
    // Tokens live 5 s: long enough to log in and connect on a loaded machine.
    let options = ServeOptions {
        token_ttl: Duration::from_secs(5),
        ..ServeOptions::default()
    };
    let app = spawn_on(fresh_database().await, options).await;
    let (name, revoked) = app.user().await;
    let expiring = app.login(&name, "pw").await;
    let mut a = Stream::open(&app, &revoked, None).await;
    let mut b = Stream::open(&app, &expiring, None).await;
    let res = app.post(paths::LOGOUT, &json!({}), Some(&revoked)).await;
    assert_eq!(res.status(), 200);
    // A revocation is heard at once (well before the first heartbeat); an
    // expiry is noticed at the latest on the next heartbeat.
    let heartbeat = strop_server::live::events::HEARTBEAT;
    for (stream, patience) in [
        (&mut a, heartbeat / 3),
        (&mut b, heartbeat + Duration::from_secs(5)),
    ] {
        let e = stream.next(patience).await.expect("an error event");
        assert_eq!(e.event, "error");
        let v: Value = serde_json::from_str(&e.data).unwrap();
        assert_eq!(v["error"], "invalid_token", "{v}");
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert_eq!(stream.next(PATIENCE).await, None, "then the stream ends");
    }
}

#[tokio::test]
async fn shutdown_ends_open_streams_promptly() {
    let mut app = spawn_app().await;
    let (_, token) = app.user().await;
    let mut streams = Vec::new();
    for _ in 0..3 {
        streams.push(Stream::open(&app, &token, None).await);
    }
    let started = Instant::now();
    app.begin_shutdown();
    for s in &mut streams {
        assert_eq!(s.next(PATIENCE).await, None);
    }
    app.finished().await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "streams held shutdown for {took:?}"
    );
}

#[tokio::test]
async fn a_client_that_never_reads_is_dropped() {
    let app = spawn_app().await;
    let (_, token) = app.user().await;
    let mut conn = TcpStream::connect(app.addr).await.unwrap();
    let request = format!(
        "GET /events HTTP/1.1\r\nHost: x\r\nAuthorization: {token}\r\nAccept: text/event-stream\r\n\r\n"
    );
    conn.write_all(request.as_bytes()).await.unwrap();
    // Far more than socket buffers, the server's buffers and the
    // subscriber's queue hold together.
    let big = "x".repeat(60_000);
    let writes = 300;
    for _ in 0..writes {
        run(&app, &token, &big).await;
    }
    // The subscriber gives up on a buffer that stays full...
    tokio::time::sleep(Duration::from_secs(13)).await;
    // ...so reading now drains what was queued, then the end of the stream.
    let mut got = Vec::new();
    let mut chunk = vec![0u8; 1 << 16];
    let ended = loop {
        match tokio::time::timeout(PATIENCE, conn.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Ok(Ok(n)) => {
                got.extend_from_slice(&chunk[..n]);
                if got.ends_with(b"0\r\n\r\n") {
                    break true;
                }
            }
            Err(_) => break false,
        }
    };
    assert!(ended, "the stream of a client that never reads must end");
    let delivered = String::from_utf8_lossy(&got).matches("event:entry").count();
    assert!(
        delivered < writes,
        "only what was buffered before the drop arrives ({delivered} of {writes})"
    );
    // The server is fine, and every row is there (more than one answer's
    // byte budget: the first page is cut, with next_before).
    let res = app.get("/get-history", Some(&token)).await;
    assert_eq!(res.status(), 200);
    let page: Value = res.json().await.unwrap();
    assert!(
        page["next_before"].as_i64().is_some(),
        "{}",
        page["next_before"]
    );
    let rows: i64 = app
        .db()
        .await
        .query_one("SELECT count(*) FROM history", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, writes as i64);
}
