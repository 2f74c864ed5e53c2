//! /reverse and /piglatin over HTTP: outputs, recording, and concurrency.

use futures_util::future::join_all;
use serde_json::{Value, json};
use strop_common::{Function, HistoryResponse};

use crate::support::spawn_app;

#[tokio::test]
async fn operations_answer_and_record_every_call() {
    let app = spawn_app().await;
    let (_, token) = app.user().await;
    let cases = [
        (Function::Reverse, "", ""),
        (Function::Piglatin, "", ""),
        (Function::Reverse, "e\u{301}a", "ae\u{301}"),
        (
            Function::Reverse,
            "👩\u{200d}👩\u{200d}👧 ok",
            "ko 👩\u{200d}👩\u{200d}👧",
        ),
        (Function::Reverse, "a\r\nb", "b\r\na"),
        (Function::Piglatin, "Hello, world!", "Ellohay, orldway!"),
        (Function::Piglatin, "THIS is my", "ISTHAY isway myay"),
    ];
    for (f, input, output) in cases {
        let res = app
            .post(f.path(), &json!({"input": input}), Some(&token))
            .await;
        assert_eq!(res.status(), 200, "{f} {input:?}");
        let v: Value = res.json().await.unwrap();
        assert_eq!(v, json!({"output": output}), "{f} {input:?}");
    }
    let h: HistoryResponse = app
        .get("/get-history", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(h.history.len(), cases.len());
    for (entry, (f, input, output)) in h.history.iter().zip(cases) {
        assert_eq!(
            (entry.function, entry.input.as_str(), entry.output.as_str()),
            (f, input, output)
        );
    }
}

#[tokio::test]
async fn two_hundred_concurrent_calls_give_exactly_two_hundred_rows() {
    let app = spawn_app().await;
    let (_, token) = app.user().await;
    let calls = (0..200).map(|i| {
        let app = &app;
        let token = &token;
        async move {
            let res = app
                .post(
                    "/reverse",
                    &json!({"input": format!("call {i}")}),
                    Some(token),
                )
                .await;
            (res.status().as_u16(), res.json::<Value>().await.unwrap())
        }
    });
    let results = join_all(calls).await;
    for (i, (status, body)) in results.iter().enumerate() {
        assert_eq!(*status, 200, "{body}");
        let want: String = format!("call {i}").chars().rev().collect();
        assert_eq!(body["output"], want.as_str());
    }
    let db = app.db().await;
    let rows: i64 = db
        .query_one("SELECT count(DISTINCT input) FROM history", &[])
        .await
        .unwrap()
        .get(0);
    let all: i64 = db
        .query_one("SELECT count(*) FROM history", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!((rows, all), (200, 200));
    let h: HistoryResponse = app
        .get("/get-history", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(h.history.len(), 200);
}
