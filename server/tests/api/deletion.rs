//! Deleting history: `DELETE /history/{id}` (the owner's entry only) and
//! `DELETE /history?all=true`, against a real database; the `event: delete`
//! on a stream held at another server process.

use std::time::Duration;

use serde_json::{Value, json};
use strop_common::{DeleteEvent, ErrorCode, HistoryDeleted, paths};
use strop_embedded_pg::testing::fresh_database;
use strop_server::ServeOptions;

use crate::events::Stream;
use crate::support::{TestApp, assert_error, spawn_app, spawn_on};

const PATIENCE: Duration = Duration::from_secs(10);

async fn run(app: &TestApp, token: &str, input: &str) -> i64 {
    let res = app
        .post(paths::REVERSE, &json!({"input": input}), Some(token))
        .await;
    assert_eq!(res.status(), 200);
    *ids(app, token).await.last().unwrap()
}

/// The ids `/get-history` returns, oldest first.
async fn ids(app: &TestApp, token: &str) -> Vec<i64> {
    let v: Value = app
        .get(paths::HISTORY, Some(token))
        .await
        .json()
        .await
        .unwrap();
    v["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect()
}

/// The ids the export streams.
async fn exported(app: &TestApp, token: &str) -> Vec<i64> {
    let text = app
        .get(paths::HISTORY_EXPORT, Some(token))
        .await
        .text()
        .await
        .unwrap();
    text.lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_i64()
                .unwrap()
        })
        .collect()
}

async fn delete(app: &TestApp, path: &str, token: Option<&str>) -> reqwest::Response {
    let mut req = app.http.delete(app.url(path));
    if let Some(t) = token {
        req = req.header("Authorization", t);
    }
    req.send().await.unwrap()
}

fn entry_path(id: impl std::fmt::Display) -> String {
    format!("{}/{id}", paths::HISTORY_ENTRIES)
}

#[tokio::test]
async fn the_owner_deletes_an_entry_and_it_is_gone_everywhere() {
    let app = spawn_app().await;
    let (_, token) = app.user().await;
    let keep = run(&app, &token, "keep").await;
    let gone = run(&app, &token, "gone").await;
    let res = delete(&app, &entry_path(gone), Some(&token)).await;
    assert_eq!(res.status(), 200);
    let body: HistoryDeleted = res.json().await.unwrap();
    assert_eq!(body.deleted, 1);
    assert!(body.message.contains(&gone.to_string()), "{body:?}");
    assert_eq!(ids(&app, &token).await, [keep]);
    assert_eq!(exported(&app, &token).await, [keep]);
    // A second delete finds nothing: 404, and nothing else changes.
    let again = delete(&app, &entry_path(gone), Some(&token)).await;
    assert_error(again, 404, ErrorCode::NotFound).await;
    assert_eq!(ids(&app, &token).await, [keep]);
}

#[tokio::test]
async fn another_users_id_is_404_like_a_missing_one_and_the_row_stays() {
    let app = spawn_app().await;
    let (_, owner) = app.user().await;
    let (_, other) = app.user().await;
    let id = run(&app, &owner, "mine").await;
    let theirs = assert_error(
        delete(&app, &entry_path(id), Some(&other)).await,
        404,
        ErrorCode::NotFound,
    )
    .await;
    assert_eq!(ids(&app, &owner).await, [id]);
    let missing = assert_error(
        delete(&app, &entry_path(id + 1000), Some(&other)).await,
        404,
        ErrorCode::NotFound,
    )
    .await;
    // The same sentence shape: nothing tells whether the id exists.
    assert_eq!(
        theirs.message.replace(&id.to_string(), "N"),
        missing.message.replace(&(id + 1000).to_string(), "N")
    );
}

#[tokio::test]
async fn a_bad_id_is_400_and_a_revoked_token_401() {
    let app = spawn_app().await;
    let (_, token) = app.user().await;
    let id = run(&app, &token, "x").await;
    let signed = format!("+{id}");
    for bad in ["abc", "1.5", "99999999999999999999", &signed, "-1", "0"] {
        let res = delete(&app, &entry_path(bad), Some(&token)).await;
        let body = assert_error(res, 400, ErrorCode::InvalidRequest).await;
        assert!(body.message.contains("whole number"), "{body:?}");
    }
    assert_eq!(ids(&app, &token).await, [id], "a refused id deleted a row");
    assert_error(
        delete(&app, &entry_path(id), None).await,
        401,
        ErrorCode::MissingToken,
    )
    .await;
    // One trailing slash is the same path, as on every route.
    let res = delete(&app, &format!("{}/", entry_path(id)), Some(&token)).await;
    assert_eq!(res.status(), 200);
    assert!(ids(&app, &token).await.is_empty());
    let id = run(&app, &token, "y").await;
    let res = app.post(paths::LOGOUT, &json!({}), Some(&token)).await;
    assert_eq!(res.status(), 200);
    assert_error(
        delete(&app, &entry_path(id), Some(&token)).await,
        401,
        ErrorCode::InvalidToken,
    )
    .await;
    assert_error(
        delete(&app, "/history?all=true", Some(&token)).await,
        401,
        ErrorCode::InvalidToken,
    )
    .await;
    let n: i64 = app
        .db()
        .await
        .query_one("SELECT count(*) FROM history WHERE id = $1", &[&id])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1, "nothing deleted with a revoked token");
}

#[tokio::test]
async fn deleting_all_needs_the_confirmation_and_takes_only_the_callers_rows() {
    let app = spawn_app().await;
    let (_, token) = app.user().await;
    let (_, other) = app.user().await;
    let mine = [run(&app, &token, "a").await, run(&app, &token, "b").await];
    let theirs = run(&app, &other, "c").await;
    for refused in ["/history", "/history?all=false", "/history?everything=true"] {
        let body = assert_error(
            delete(&app, refused, Some(&token)).await,
            400,
            ErrorCode::InvalidRequest,
        )
        .await;
        assert!(body.message.contains("all=true"), "{body:?}");
    }
    assert_error(
        delete(&app, "/history?all=yes", Some(&token)).await,
        400,
        ErrorCode::InvalidRequest,
    )
    .await;
    assert_eq!(ids(&app, &token).await, mine);
    let res = delete(&app, "/history?all=true", Some(&token)).await;
    assert_eq!(res.status(), 200);
    let body: HistoryDeleted = res.json().await.unwrap();
    assert_eq!(body.deleted, 2, "{body:?}");
    assert!(ids(&app, &token).await.is_empty());
    assert!(exported(&app, &token).await.is_empty());
    assert_eq!(ids(&app, &other).await, [theirs]);
    // Nothing left: still a 200, deleting nothing.
    let res = delete(&app, "/history?all=true", Some(&token)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<HistoryDeleted>().await.unwrap().deleted, 0);
}

#[tokio::test]
async fn the_export_path_keeps_get_and_answers_delete_with_405() {
    let app = spawn_app().await;
    let (_, token) = app.user().await;
    let res = delete(&app, paths::HISTORY_EXPORT, Some(&token)).await;
    assert_eq!(res.headers()["allow"], "GET, HEAD");
    assert_error(res, 405, ErrorCode::MethodNotAllowed).await;
    let res = app.get("/history/12", Some(&token)).await;
    assert_eq!(res.headers()["allow"], "DELETE");
    assert_error(res, 405, ErrorCode::MethodNotAllowed).await;
    let res = app.get(paths::HISTORY_EXPORT, Some(&token)).await;
    assert_eq!(res.status(), 200);
}

/// The next `delete` event, skipping nothing else: an entry here fails.
async fn deleted(stream: &mut Stream) -> DeleteEvent {
    let e = stream.next(PATIENCE).await.expect("an event, not the end");
    assert_eq!(e.event, "delete", "{e:?}");
    assert_eq!(e.id, None, "a delete event is no cursor");
    serde_json::from_str(&e.data).unwrap()
}

#[tokio::test]
async fn a_stream_held_at_another_server_hears_of_each_delete() {
    let pg = fresh_database().await;
    let a = spawn_on(pg.clone(), ServeOptions::default()).await;
    let b = spawn_on(pg, ServeOptions::default()).await;
    let (_, token) = a.user().await;
    let (_, other) = a.user().await;
    let first = run(&a, &token, "one").await;
    let second = run(&a, &token, "two").await;
    let theirs = run(&a, &other, "not yours").await;
    let mut stream = Stream::open_at(&b.http, &b.url(paths::EVENTS), &token, None).await;
    // Another user's delete is never on this stream; ours is.
    assert_eq!(
        delete(&a, &entry_path(theirs), Some(&other)).await.status(),
        200
    );
    assert_eq!(
        delete(&a, &entry_path(first), Some(&token)).await.status(),
        200
    );
    let got = deleted(&mut stream).await;
    assert_eq!((got.ids, got.up_to), (vec![first], None));
    // An entry after it still arrives, then the delete of all.
    let third = run(&a, &token, "three").await;
    assert_eq!(stream.entry(PATIENCE).await["id"], third);
    assert_eq!(
        delete(&a, "/history?all=true", Some(&token)).await.status(),
        200
    );
    let all = deleted(&mut stream).await;
    assert!(all.ids.is_empty(), "{all:?}");
    assert_eq!(all.up_to, Some(third));
    assert!(all.covers(second) && all.covers(third));
}
