//! The group-commit history writer: answers map to their own rows, batches
//! share one transaction, a lost connection fails exactly its batch.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use reqwest::StatusCode;
use tokio::task::JoinHandle;

use futures_util::future::join_all;
use serde_json::{Value, json};
use strop_common::{ErrorBody, ErrorCode, Function, HistoryResponse};
use strop_embedded_pg::testing::fresh_database;
use strop_server::ServeOptions;
use strop_server::db;
use strop_server::db::history::NewEntry;
use strop_server::http::auth::hash_token;
use strop_server::live::history_writer::HistoryWriter;
use strop_server::live::notify::HISTORY_CHANNEL;
use strop_server::strops;

use crate::support::{
    TestApp, connect, lock_history, release, spawn_app, spawn_on, wait_for_blocked_writes,
};

fn expected(function: Function, input: &str) -> String {
    match function {
        Function::Reverse => strops::reverse(input),
        Function::Piglatin => strops::piglatin(input),
    }
}

/// (user_id, function, input, output) of every history row, by id.
async fn rows(app_pg: &tokio_postgres::Config) -> BTreeMap<i64, (i64, String, String, String)> {
    let db = connect(app_pg).await;
    db.query(
        "SELECT id, user_id, function, input, output FROM history",
        &[],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), (r.get(1), r.get(2), r.get(3), r.get(4))))
    .collect()
}

/// How many transactions wrote the history rows.
async fn transactions(pg: &tokio_postgres::Config) -> i64 {
    connect(pg)
        .await
        .query_one("SELECT count(DISTINCT xmin::text) FROM history", &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn each_answer_is_its_own_row_and_batches_share_a_commit() {
    let pg = fresh_database().await;
    db::migrations::migrate(&pg).await.unwrap();
    let pool = db::pool::create(pg.clone(), 8, std::time::Duration::from_secs(30)).unwrap();
    let setup = connect(&pg).await;
    let mut users = Vec::new();
    for name in ["ann", "bob", "cy"] {
        let id: i64 = setup
            .query_one(
                "INSERT INTO users (username, password_hash) VALUES ($1, 'x') RETURNING id",
                &[&name],
            )
            .await
            .unwrap()
            .get(0);
        users.push(id);
    }
    let (writer, drain) = HistoryWriter::start(pool, 64);
    // Held batches make the rest queue up, so later batches hold many rows.
    let locker = lock_history(&pg).await;
    let n = 300;
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let writer = writer.clone();
            let entry = NewEntry {
                user_id: users[i % users.len()],
                function: Function::ALL[i % 2],
                input: format!("input {i}"),
                output: format!("output {i}"),
            };
            tokio::spawn(async move { (entry.clone(), writer.record(entry).await) })
        })
        .collect();
    wait_for_blocked_writes(&pg, 1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    release(locker).await;
    let results = join_all(tasks).await;
    drain.finish().await;

    let stored = rows(&pg).await;
    assert_eq!(stored.len(), n, "one row per answer");
    let mut ids = BTreeSet::new();
    for r in results {
        let (entry, saved) = r.unwrap();
        let saved = saved.unwrap_or_else(|e| panic!("{}: {e:?}", entry.input));
        let row = &stored[&saved.id];
        assert_eq!(
            row,
            &(
                entry.user_id,
                entry.function.as_str().to_string(),
                entry.input.clone(),
                entry.output.clone()
            ),
            "answer id {} is another request's row",
            saved.id
        );
        assert!(ids.insert(saved.id), "id {} answered twice", saved.id);
    }
    let commits = transactions(&pg).await;
    assert!(
        commits < (n as i64) / 4,
        "{commits} transactions for {n} rows: not batched"
    );
}

#[tokio::test]
async fn concurrent_requests_get_their_own_rows_and_a_users_order_is_kept() {
    let app = spawn_app().await;
    let users = join_all((0..4).map(|_| app.user())).await;
    let locker = lock_history(&app.pg).await;
    let app = &app;
    let burst = join_all((0..80).map(|i| {
        let (_, token) = &users[i % users.len()];
        let function = Function::ALL[i % 2];
        let input = format!("burst {i} Hello");
        async move {
            let res = app
                .post(function.path(), &json!({"input": input}), Some(token))
                .await;
            assert_eq!(res.status(), 200, "{input}");
            let v: Value = res.json().await.unwrap();
            assert_eq!(v, json!({"output": expected(function, &input)}));
        }
    }));
    // Meanwhile one user writes in sequence: each answer comes before the
    // next request, so the ids must follow the order of the requests.
    let sequence = async {
        wait_for_blocked_writes(&app.pg, 1).await;
        let (_, token) = &users[0];
        let releaser = async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            release(locker).await;
        };
        let writes = async {
            for i in 0..10 {
                let input = format!("sequence {i}");
                let res = app
                    .post("/reverse", &json!({"input": input}), Some(token))
                    .await;
                assert_eq!(res.status(), 200);
            }
        };
        tokio::join!(releaser, writes);
    };
    tokio::join!(burst, sequence);

    let stored = rows(&app.pg).await;
    assert_eq!(stored.len(), 90);
    for (user_id, function, input, output) in stored.values() {
        let f: Function = function.parse().unwrap();
        assert_eq!(output, &expected(f, input), "row of user {user_id}");
    }
    assert!(transactions(&app.pg).await < 90, "not batched");
    let h: HistoryResponse = app
        .get("/get-history?q=sequence", Some(&users[0].1))
        .await
        .json()
        .await
        .unwrap();
    let order: Vec<&str> = h.history.iter().map(|e| e.input.as_str()).collect();
    let sent: Vec<String> = (0..10).map(|i| format!("sequence {i}")).collect();
    assert_eq!(order, sent);
    assert!(h.history.windows(2).all(|w| w[0].id < w[1].id));
}

/// Sends `n` distinct `/reverse` requests at once; (input, status, body) of each.
async fn burst(app: &TestApp, token: &str, n: usize, tag: &str) -> Vec<(String, u16, Value)> {
    join_all((0..n).map(|i| async move {
        let input = format!("{tag} {i}");
        let res = app
            .post("/reverse", &json!({"input": input}), Some(token))
            .await;
        let status = res.status().as_u16();
        (input, status, res.json::<Value>().await.unwrap())
    }))
    .await
}

#[tokio::test]
async fn a_connection_lost_mid_batch_fails_that_batch_and_nothing_else() {
    let app = spawn_app().await;
    let (_, token) = app.user().await;
    let locker = lock_history(&app.pg).await;
    let requests = burst(&app, &token, 40, "doomed?");
    let outage = async {
        wait_for_blocked_writes(&app.pg, 1).await;
        // The held batches' connections die as if the database went away.
        let killer = connect(&app.pg).await;
        let killed: i64 = killer
            .query_one(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE datname = current_database() AND application_name = 'strop-server' \
                 AND wait_event_type = 'Lock'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert!(killed >= 1);
        release(locker).await;
    };
    let (results, ()) = tokio::join!(requests, outage);

    let mut ok = BTreeSet::new();
    let mut failed = 0;
    for (input, status, body) in &results {
        match status {
            200 => {
                assert_eq!(body, &json!({"output": strops::reverse(input)}));
                ok.insert(input.clone());
            }
            503 => {
                let err: ErrorBody = serde_json::from_value(body.clone()).unwrap();
                assert_eq!(err.error, ErrorCode::Unavailable);
                failed += 1;
            }
            other => panic!("{input}: status {other} {body}"),
        }
    }
    assert!(failed >= 1, "the lost batches' requests must fail");
    let stored: BTreeSet<String> = rows(&app.pg)
        .await
        .into_values()
        .map(|(_, _, input, _)| input)
        .collect();
    assert_eq!(stored, ok, "rows are exactly the requests answered 200");
    // The writer recovers on fresh connections.
    let res = app
        .post("/reverse", &json!({"input": "after"}), Some(&token))
        .await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn every_committed_row_is_announced_once_on_strop_history() {
    use futures_util::StreamExt;
    use tokio_postgres::AsyncMessage;

    let app = spawn_app().await;
    let (_, token) = app.user().await;
    let (listener, mut conn) = app.pg.connect(tokio_postgres::NoTls).await.unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| conn.poll_message(cx));
        while let Some(Ok(message)) = messages.next().await {
            if let AsyncMessage::Notification(n) = message {
                let _ = tx.send((n.channel().to_string(), n.payload().to_string()));
            }
        }
    });
    listener
        .batch_execute(&format!("LISTEN {HISTORY_CHANNEL}"))
        .await
        .unwrap();

    let results = burst(&app, &token, 50, "announced").await;
    assert!(results.iter().all(|(_, status, _)| *status == 200));
    let stored: BTreeSet<i64> = rows(&app.pg).await.into_keys().collect();
    let mut announced = Vec::new();
    while announced.len() < stored.len() {
        let (channel, payload) = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("a notification for every row")
            .unwrap();
        assert_eq!(channel, "strop_history");
        let ids: Vec<i64> = payload.split(',').map(|id| id.parse().unwrap()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{payload}");
        announced.extend(ids);
    }
    announced.sort_unstable();
    assert_eq!(announced, stored.into_iter().collect::<Vec<_>>());
}

#[tokio::test]
async fn a_batch_whose_rows_were_all_refused_announces_nothing() {
    use futures_util::StreamExt;
    use tokio_postgres::AsyncMessage;

    let pg = fresh_database().await;
    db::migrations::migrate(&pg).await.unwrap();
    let pool = db::pool::create(pg.clone(), 4, std::time::Duration::from_secs(30)).unwrap();
    let setup = connect(&pg).await;
    let user: i64 = setup
        .query_one(
            "INSERT INTO users (username, password_hash) VALUES ('ann', 'x') RETURNING id",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let (listener, mut conn) = pg.connect(tokio_postgres::NoTls).await.unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| conn.poll_message(cx));
        while let Some(Ok(message)) = messages.next().await {
            if let AsyncMessage::Notification(n) = message {
                let _ = tx.send(n.payload().to_string());
            }
        }
    });
    listener
        .batch_execute(&format!("LISTEN {HISTORY_CHANNEL}"))
        .await
        .unwrap();
    let (writer, drain) = HistoryWriter::start(pool, 8);
    let entry = |input: &str| NewEntry {
        user_id: user,
        function: Function::Reverse,
        input: input.into(),
        output: input.chars().rev().collect(),
    };
    // A token no one has: the insert refuses the row, nothing is committed.
    let refused = writer.record_checked(entry("refused"), Some([7; 32])).await;
    assert!(refused.is_err(), "{refused:?}");
    let saved = writer.record(entry("kept")).await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("the kept row is announced")
        .unwrap();
    assert_eq!(
        first,
        saved.id.to_string(),
        "an announcement before the kept row's"
    );
    drain.finish().await;
}

/// A user's rows commit in id order whichever process writes them: while
/// another writer (a second replica, here a bare connection) holds an
/// uncommitted row of the user, the server's write for that user waits and
/// then gets a higher id, so a stream resuming after `Last-Event-ID` can
/// never skip a lower id committed late. Other users' batches are not held up.
#[tokio::test]
async fn a_users_rows_commit_in_id_order_across_writers() {
    let app = spawn_app().await;
    let held = HeldUser::new(&app).await;
    let (_, other_token) = app.user().await;

    let same_user = held.blocked_post(&app, "after the held row").await;
    gets_through(
        &app,
        &other_token,
        "another user's write waited for an unrelated transaction",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !same_user.is_finished(),
        "the user's write committed while a lower id of the same user was uncommitted"
    );

    let (token, held_id) = (held.token.clone(), held.id);
    held.release().await;
    assert_eq!(same_user.await.unwrap(), 200);
    let res = app.get("/get-history", Some(&token)).await;
    let history: HistoryResponse = res.json().await.unwrap();
    let ids: Vec<(i64, &str)> = history
        .history
        .iter()
        .map(|e| (e.id, e.input.as_str()))
        .collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert_eq!(ids[0], (held_id, "held"));
    assert!(
        ids[1].0 > held_id && ids[1].1 == "after the held row",
        "{ids:?}"
    );
}

/// While one of a user's batches waits for its commit, that user's next rows
/// wait in the writer rather than in a new batch: a batch waits as a whole, so
/// a row sent together with another user's would hold that user up too.
#[tokio::test]
async fn a_users_next_row_does_not_hold_up_another_users_row() {
    let app = spawn_app().await;
    let held = HeldUser::new(&app).await;
    let (_, other_token) = app.user().await;

    let first = held.blocked_post(&app, "first").await;
    // The user's next row first: without the wait in the writer it would
    // take the free slot, blocked on the user's lock, and the other user's
    // row would wait behind it (or share its batch).
    let second = post(&app, &held.token, "second");
    tokio::time::sleep(Duration::from_millis(200)).await;
    gets_through(
        &app,
        &other_token,
        "another user's row waited behind a held user's batch",
    )
    .await;
    assert!(!first.is_finished() && !second.is_finished());

    let token = held.token.clone();
    held.release().await;
    assert_eq!(first.await.unwrap(), 200);
    assert_eq!(second.await.unwrap(), 200);
    assert_eq!(inputs(&app, &token).await, ["held", "first", "second"]);
}

/// With a queue of 2, a held user's rows fill the writer's own room; while a
/// batch slot is free the writer still takes rows from the queue, so another
/// user's row gets past them.
#[tokio::test]
async fn a_held_users_queued_rows_do_not_block_a_free_slot() {
    let options = ServeOptions {
        history_queue: 2,
        ..ServeOptions::default()
    };
    let app = spawn_on(fresh_database().await, options).await;
    let held = HeldUser::new(&app).await;
    let (_, other_token) = app.user().await;

    let first = held.blocked_post(&app, "first").await;
    let mut waiting = Vec::new();
    for input in ["second", "third", "fourth"] {
        waiting.push(post(&app, &held.token, input));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    gets_through(
        &app,
        &other_token,
        "another user's row waited behind a held user's queued rows",
    )
    .await;

    let token = held.token.clone();
    held.release().await;
    assert_eq!(first.await.unwrap(), 200);
    for w in waiting {
        assert_eq!(w.await.unwrap(), 200);
    }
    assert_eq!(
        inputs(&app, &token).await,
        ["held", "first", "second", "third", "fourth"]
    );
}

/// A user whose lock another writer (a second replica, here a bare
/// connection) holds with an uncommitted row until [`HeldUser::release`].
struct HeldUser {
    token: String,
    /// The uncommitted row's id.
    id: i64,
    replica: tokio_postgres::Client,
}

impl HeldUser {
    async fn new(app: &TestApp) -> HeldUser {
        let (name, token) = app.user().await;
        let db = app.db().await;
        let uid: i64 = db
            .query_one("SELECT id FROM users WHERE username = $1", &[&name])
            .await
            .unwrap()
            .get(0);
        let replica = connect(&app.pg).await;
        replica.batch_execute("BEGIN").await.unwrap();
        let id: i64 = replica
            .query_one(
                "SELECT saved_id FROM strop_insert_history(ARRAY[$1::bigint], \
                 ARRAY['reverse'], ARRAY['held'], ARRAY['dleh'])",
                &[&uid],
            )
            .await
            .unwrap()
            .get(0);
        HeldUser { token, id, replica }
    }

    /// Posts the user's row; returns once its batch waits on the user's lock.
    async fn blocked_post(&self, app: &TestApp, input: &'static str) -> JoinHandle<StatusCode> {
        let request = post(app, &self.token, input);
        wait_for_blocked_writes(&app.pg, 1).await;
        request
    }

    async fn release(self) {
        self.replica.batch_execute("COMMIT").await.unwrap();
    }
}

/// `POST /reverse` in a task of its own; its status.
fn post(app: &TestApp, token: &str, input: &'static str) -> JoinHandle<StatusCode> {
    let request = app
        .http
        .post(app.url("/reverse"))
        .header("Authorization", token)
        .json(&json!({"input": input}));
    tokio::spawn(async move { request.send().await.unwrap().status() })
}

/// Posts a row as `token`'s user and asserts it is answered 200 within 20 s
/// (`why` names the failure otherwise).
async fn gets_through(app: &TestApp, token: &str, why: &str) {
    let status = tokio::time::timeout(Duration::from_secs(20), post(app, token, "someone else"))
        .await
        .expect(why)
        .unwrap();
    assert_eq!(status, 200, "{why}");
}

/// The inputs of the user's history, oldest first.
async fn inputs(app: &TestApp, token: &str) -> Vec<String> {
    let history: HistoryResponse = app
        .get("/get-history", Some(token))
        .await
        .json()
        .await
        .unwrap();
    history.history.into_iter().map(|e| e.input).collect()
}

/// The batch statement, run directly: one saved id (or NULL) per row given.
/// `checked`: the writer's statement (V12, no token to check) instead of
/// V7's, which replicas of the previous version still run.
async fn insert_rows(
    db: &tokio_postgres::Client,
    users: &[i64],
    checked: bool,
) -> Vec<Option<i64>> {
    let texts: Vec<&str> = users.iter().map(|_| "row").collect();
    let functions: Vec<&str> = users.iter().map(|_| "reverse").collect();
    let rows = if checked {
        let tokens: Vec<Option<&[u8]>> = users.iter().map(|_| None).collect();
        db.query(
            "SELECT saved_id FROM strop_insert_history_checked($1::bigint[], $2::bytea[], \
             $3::text[], $4::text[], $5::text[])",
            &[&users, &tokens, &functions, &texts, &texts],
        )
        .await
    } else {
        db.query(
            "SELECT saved_id FROM strop_insert_history($1::bigint[], $2::text[], $3::text[], $4::text[])",
            &[&users, &functions, &texts, &texts],
        )
        .await
    };
    rows.unwrap().iter().map(|r| r.get(0)).collect()
}

#[tokio::test]
async fn a_user_deleted_mid_batch_loses_only_their_own_row() {
    for checked in [false, true] {
        a_user_deleted_mid_batch(checked).await;
    }
}

async fn a_user_deleted_mid_batch(checked: bool) {
    let app = spawn_app().await;
    let (alive, _) = app.user().await;
    let (doomed, _) = app.user().await;
    let db = app.db().await;
    let id_of = async |name: &str| -> i64 {
        db.query_one("SELECT id FROM users WHERE username = $1", &[&name])
            .await
            .unwrap()
            .get(0)
    };
    let (alive, doomed) = (id_of(&alive).await, id_of(&doomed).await);

    // The account's deletion is in flight (uncommitted) when the batch comes.
    let mut deleter = app.db().await;
    let deletion = deleter.transaction().await.unwrap();
    deletion
        .execute("DELETE FROM users WHERE id = $1", &[&doomed])
        .await
        .unwrap();
    let batch = tokio::spawn({
        let pg = app.pg.clone();
        async move { insert_rows(&connect(&pg).await, &[alive, doomed, alive], checked).await }
    });
    // The batch waits for the deletion instead of reading around it...
    for _ in 0..200 {
        if crate::support::waiting_on_lock(&db, "strop_insert_history").await > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    deletion.commit().await.unwrap();
    // ...then writes the other user's rows and skips the deleted one's.
    let saved = batch.await.unwrap();
    assert!(saved[0].is_some() && saved[2].is_some(), "{saved:?}");
    assert_eq!(saved[1], None, "{saved:?}");
    let count: i64 = db
        .query_one("SELECT count(*) FROM history WHERE user_id = $1", &[&alive])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 2);
}

/// A write's token is checked by its own batch's insert (migration V12), not
/// by a lookup before it: a token deleted behind the servers' backs (no
/// notice, so no cache could know) is refused by the write, with the 401 of
/// any unknown token, while another user's row in the same batch commits,
/// and from then on by every request; and before a 400 could answer, the
/// token is looked up: 401 comes first, as on every route.
#[tokio::test]
async fn a_writes_token_is_checked_by_its_batch_and_only_its_row_fails() {
    let app = spawn_app().await;
    let (doomed, first) = app.user().await;
    let tokens = [
        first,
        app.login(&doomed, "pw").await,
        app.login(&doomed, "pw").await,
    ];
    let (_, alive) = app.user().await;
    let fillers = [app.user().await.1, app.user().await.1];
    for token in tokens.iter().chain([&alive]).chain(&fillers) {
        assert_eq!(post(&app, token, "known").await.unwrap(), 200);
    }
    // Two logouts (which every server's cache hears of), and one deletion
    // behind the servers' backs: no cache knows, only the table.
    for token in &tokens[..2] {
        let res = app.post("/logout", &json!({}), Some(token)).await;
        assert_eq!(res.status(), 200);
    }
    let db = app.db().await;
    db.execute(
        "DELETE FROM tokens WHERE token_hash = $1",
        &[&&hash_token(&tokens[2])[..]],
    )
    .await
    .unwrap();
    let unknown = app
        .post("/reverse", &json!({"input": "x"}), Some(&"0".repeat(32)))
        .await;
    assert_eq!(unknown.status(), 401);
    let unknown: Value = unknown.json().await.unwrap();

    let refused = async |res: reqwest::Response| {
        assert_eq!(res.status(), 401);
        assert_eq!(res.json::<Value>().await.unwrap(), unknown);
    };
    // A body that is not JSON, an input with NUL: 401, not 400.
    let bad_body = app
        .http
        .post(app.url("/reverse"))
        .header("Authorization", &tokens[0])
        .header("Content-Type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    refused(bad_body).await;
    refused(
        app.post("/reverse", &json!({"input": "a\u{0}b"}), Some(&tokens[1]))
            .await,
    )
    .await;

    // Both slots held by other users' batches, so the dead token's row and
    // the live one's queue up and go in one batch.
    let locker = lock_history(&app.pg).await;
    let held: Vec<_> = fillers.iter().map(|t| post(&app, t, "filler")).collect();
    wait_for_blocked_writes(&app.pg, 2).await;
    let dead = post(&app, &tokens[2], "together");
    let live = post(&app, &alive, "together");
    tokio::time::sleep(Duration::from_millis(200)).await;
    release(locker).await;
    for h in held {
        assert_eq!(h.await.unwrap(), 200);
    }
    assert_eq!(dead.await.unwrap(), 401);
    assert_eq!(live.await.unwrap(), 200);
    let together: Vec<i64> = db
        .query(
            "SELECT u.id FROM history h JOIN users u ON u.id = h.user_id \
             WHERE h.input = 'together'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(together.len(), 1, "only the live token's row");
    let doomed_rows: i64 = db
        .query_one(
            "SELECT count(*) FROM history h JOIN users u ON u.id = h.user_id \
             WHERE u.username = $1",
            &[&doomed],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(doomed_rows, 3, "the three warm-up rows, nothing since");
    // Refused from then on: the write also told this server's cache.
    let res = app.get("/whoami", Some(&tokens[2])).await;
    assert_eq!(res.status(), 401);
    refused(
        app.post("/reverse", &json!({"input": "again"}), Some(&tokens[2]))
            .await,
    )
    .await;
}
