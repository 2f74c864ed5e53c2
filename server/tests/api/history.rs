//! `/get-history`: isolation between users, paging with limit/before,
//! the function and q filters, and the 10,000-entry cap.

use std::time::Duration;

use serde_json::{Value, json};
use strop_common::{Function, HISTORY_CAP, HistoryResponse};

use crate::support::{TestApp, keys, spawn_app};

async fn run(app: &TestApp, token: &str, function: Function, input: &str) -> String {
    let res = app
        .post(function.path(), &json!({"input": input}), Some(token))
        .await;
    assert_eq!(res.status(), 200);
    res.json::<Value>().await.unwrap()["output"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn history(app: &TestApp, token: &str, query: &str) -> HistoryResponse {
    let res = app.get(&format!("/get-history{query}"), Some(token)).await;
    assert_eq!(res.status(), 200, "{query}");
    res.json().await.unwrap()
}

fn inputs(h: &HistoryResponse) -> Vec<&str> {
    h.history.iter().map(|e| e.input.as_str()).collect()
}

#[tokio::test]
async fn empty_history_is_an_empty_list() {
    let app = spawn_app().await;
    let (_, token) = app.user().await;
    let v: Value = app
        .get("/get-history", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v, json!({"history": []}));
    let v: Value = app
        .get("/get-history?limit=5", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v, json!({"history": [], "next_before": null}));
}

#[tokio::test]
async fn users_never_see_each_other() {
    let app = spawn_app().await;
    let (alice, ta) = app.user().await;
    let (bob, tb) = app.user().await;
    for i in 0..3 {
        run(&app, &ta, Function::Reverse, &format!("alice secret {i}")).await;
        run(&app, &tb, Function::Piglatin, &format!("bob note {i}")).await;
    }
    let ha = history(&app, &ta, "").await;
    let hb = history(&app, &tb, "").await;
    assert_eq!(ha.history.len(), 3);
    assert_eq!(hb.history.len(), 3);
    assert!(ha.history.iter().all(|e| e.user == alice));
    assert!(hb.history.iter().all(|e| e.user == bob));
    // Paging from above alice's newest id, or searching her words, finds nothing of hers.
    let top = ha
        .history
        .last()
        .unwrap()
        .id
        .max(hb.history.last().unwrap().id)
        + 1;
    let page = history(&app, &tb, &format!("?before={top}&limit=1000")).await;
    assert_eq!(inputs(&page), ["bob note 0", "bob note 1", "bob note 2"]);
    assert_eq!(page.next_before, Some(None));
    let page = history(&app, &tb, "?q=alice").await;
    assert!(page.history.is_empty());
    let page = history(&app, &tb, &format!("?before={}", ha.history[2].id)).await;
    assert!(page.history.iter().all(|e| e.user == bob));
}

#[tokio::test]
async fn limit_and_before_page_backwards_oldest_first() {
    let app = spawn_app().await;
    let (_, token) = app.user().await;
    let all: Vec<String> = (0..25).map(|i| format!("entry {i:02}")).collect();
    for (i, input) in all.iter().enumerate() {
        let f = if i % 2 == 0 {
            Function::Reverse
        } else {
            Function::Piglatin
        };
        run(&app, &token, f, input).await;
    }
    // Newest 10, oldest first, with a cursor to older ones.
    let p1 = history(&app, &token, "?limit=10").await;
    assert_eq!(
        inputs(&p1),
        all[15..].iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert_eq!(p1.next_before, Some(Some(p1.history[0].id)));
    let p2 = history(
        &app,
        &token,
        &format!("?limit=10&before={}", p1.older_page().unwrap()),
    )
    .await;
    assert_eq!(
        inputs(&p2),
        all[5..15].iter().map(String::as_str).collect::<Vec<_>>()
    );
    let p3 = history(
        &app,
        &token,
        &format!("?limit=10&before={}", p2.older_page().unwrap()),
    )
    .await;
    assert_eq!(
        inputs(&p3),
        all[..5].iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert_eq!(p3.next_before, Some(None), "no older entries: null");
    // Exactly the number that is left: still null, no empty extra page.
    let exact = history(
        &app,
        &token,
        &format!("?limit=5&before={}", p2.older_page().unwrap()),
    )
    .await;
    assert_eq!(exact.history.len(), 5);
    assert_eq!(exact.next_before, Some(None));
    // Ids strictly increase within a page.
    assert!(p1.history.windows(2).all(|w| w[0].id < w[1].id));
    // The plain form: everything, and no next_before key.
    let raw: Value = app
        .get("/get-history", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(keys(&raw), ["history"]);
    assert_eq!(raw["history"].as_array().unwrap().len(), 25);
    let raw: Value = app
        .get("/get-history?limit=1", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(keys(&raw), ["history", "next_before"]);
}

#[tokio::test]
async fn function_and_q_filters() {
    let app = spawn_app().await;
    let (_, token) = app.user().await;
    run(&app, &token, Function::Reverse, "Hello World").await;
    run(&app, &token, Function::Piglatin, "hello there").await;
    run(&app, &token, Function::Reverse, "100% sure").await;
    run(&app, &token, Function::Piglatin, "snake_case").await;
    run(&app, &token, Function::Reverse, "ÄPFEL und Birnen").await;

    let h = history(&app, &token, "?function=piglatin").await;
    assert_eq!(inputs(&h), ["hello there", "snake_case"]);
    assert!(h.history.iter().all(|e| e.function == Function::Piglatin));

    // Case-insensitive, in input or output.
    let h = history(&app, &token, "?q=HELLO").await;
    assert_eq!(inputs(&h), ["Hello World", "hello there"]);
    let h = history(&app, &token, "?q=dlrow").await;
    assert_eq!(inputs(&h), ["Hello World"], "matches the output");
    let h = history(&app, &token, "?q=hello&function=reverse").await;
    assert_eq!(inputs(&h), ["Hello World"]);
    // Wildcards are literal.
    let h = history(&app, &token, "?q=%25").await;
    assert_eq!(inputs(&h), ["100% sure"]);
    let h = history(&app, &token, "?q=_").await;
    assert_eq!(inputs(&h), ["snake_case"]);
    let h = history(&app, &token, "?q=%5C").await;
    assert!(h.history.is_empty(), "backslash is literal too");
    // Non-ASCII letters fold case as the database's LC_CTYPE says: a "C"
    // ctype folds ASCII only, anything Unicode-aware folds Ä to ä.
    let db = app.db().await;
    let ctype: String = db.query_one("SHOW lc_ctype", &[]).await.unwrap().get(0);
    let h = history(&app, &token, "?q=%C3%A4pfel").await;
    if ctype == "C" || ctype == "POSIX" {
        assert!(h.history.is_empty(), "{ctype}");
    } else {
        assert_eq!(inputs(&h), ["ÄPFEL und Birnen"], "{ctype}");
    }
    let h = history(&app, &token, "?q=%C3%84PFEL").await;
    assert_eq!(inputs(&h), ["ÄPFEL und Birnen"]);
    // Filters combine with paging.
    let h = history(&app, &token, "?q=e&limit=2").await;
    assert_eq!(h.history.len(), 2);
    let older = history(
        &app,
        &token,
        &format!("?q=e&limit=2&before={}", h.older_page().unwrap()),
    )
    .await;
    assert!(older.history.iter().all(|e| e.id < h.history[0].id));
}

#[tokio::test]
async fn q_matches_every_word_in_any_order() {
    let app = spawn_app().await;
    let (_, token) = app.user().await;
    run(&app, &token, Function::Reverse, "alpha beta bulk").await;
    run(&app, &token, Function::Piglatin, "bulk upload").await;
    run(&app, &token, Function::Reverse, "alpha only").await;
    run(&app, &token, Function::Piglatin, "Bulk-ALPHA").await;
    run(&app, &token, Function::Reverse, "alphabulk").await;
    run(&app, &token, Function::Piglatin, "gamma").await;

    let all_three = ["alpha beta bulk", "Bulk-ALPHA", "alphabulk"];
    for q in [
        "bulk%20alpha",
        "alpha+bulk",
        "%20BULK%09%20alpha%0A",
        "bulk+alpha+bulk",
    ] {
        let h = history(&app, &token, &format!("?q={q}")).await;
        assert_eq!(inputs(&h), all_three, "{q}");
    }
    // One word is a plain substring, as before.
    let h = history(&app, &token, "?q=bulk").await;
    assert_eq!(
        inputs(&h),
        ["alpha beta bulk", "bulk upload", "Bulk-ALPHA", "alphabulk"]
    );
    // Each word may be in the input or the output.
    let h = history(&app, &token, "?q=klub+alpha").await;
    assert_eq!(inputs(&h), ["alpha beta bulk", "alphabulk"]);
    // A word nowhere means no match.
    let h = history(&app, &token, "?q=alpha+bulk+zzz").await;
    assert!(h.history.is_empty());
    // Many words (past the prepared-statement cache) work the same.
    let h = history(&app, &token, "?q=a+l+p+h+alpha+beta+bulk").await;
    assert_eq!(inputs(&h), ["alpha beta bulk"]);
    // Only whitespace: no words, so no search.
    let h = history(&app, &token, "?q=%20%20").await;
    assert_eq!(h.history.len(), 6);
    // Words combine with the function filter and with paging.
    let h = history(&app, &token, "?q=alpha+bulk&function=reverse").await;
    assert_eq!(inputs(&h), ["alpha beta bulk", "alphabulk"]);
    let h = history(&app, &token, "?q=alpha+bulk&limit=2").await;
    assert_eq!(inputs(&h), ["Bulk-ALPHA", "alphabulk"]);
    let older = history(
        &app,
        &token,
        &format!("?q=alpha+bulk&limit=2&before={}", h.older_page().unwrap()),
    )
    .await;
    assert_eq!(inputs(&older), ["alpha beta bulk"]);
    assert_eq!(older.next_before, Some(None));
}

#[tokio::test]
async fn plain_history_is_capped_at_the_newest_10000() {
    let app = spawn_app().await;
    let (name, token) = app.user().await;
    let db = app.db().await;
    let cap = i64::from(HISTORY_CAP);
    db.execute(
        "INSERT INTO history (user_id, function, input, output)
         SELECT u.id, 'reverse', 'in ' || g, 'out ' || g
         FROM users u, generate_series(1, $2::bigint) g WHERE u.username = $1",
        &[&name, &(cap + 1)],
    )
    .await
    .unwrap();
    let h = history(&app, &token, "").await;
    assert_eq!(h.history.len() as i64, cap);
    assert_eq!(h.history[0].input, "in 2");
    assert_eq!(h.history.last().unwrap().input, format!("in {}", cap + 1));
    assert_eq!(h.next_before, Some(Some(h.history[0].id)));
    let rest = history(&app, &token, &format!("?before={}", h.history[0].id)).await;
    assert_eq!(inputs(&rest), ["in 1"]);
    assert_eq!(rest.next_before, None);
}

#[tokio::test]
async fn a_search_for_rare_words_uses_the_trigram_index() {
    let app = spawn_app().await;
    let (name, token) = app.user().await;
    let db = app.db().await;
    let has_trgm: bool = db
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    if !has_trgm {
        eprintln!("pg_trgm is not installed here: searches are unindexed by design");
        return;
    }
    // 20,000 rows, 'needle' in 20 of them (input), 'thread' in 1 of 4 (output).
    db.execute(
        "INSERT INTO history (user_id, function, input, output)
         SELECT u.id, 'reverse',
                'row ' || g || CASE WHEN g % 1000 = 8 THEN ' needle' ELSE ' hay' END,
                CASE WHEN g % 4 = 0 THEN 'thread ' ELSE 'yarn ' END || g
         FROM users u, generate_series(1, 20000) g WHERE u.username = $1",
        &[&name],
    )
    .await
    .unwrap();
    // Rows inserted after the index wait in its pending list (fastupdate),
    // which makes the index look dear until (auto)vacuum merges them.
    db.batch_execute("VACUUM ANALYZE history").await.unwrap();
    let filter = strop_server::db::history::Filter {
        words: vec!["needle".into(), "thread".into()],
        ..Default::default()
    };
    let sql = strop_server::db::history::page_sql(&filter);
    let user_id: i64 = db
        .query_one("SELECT id FROM users WHERE username = $1", &[&name])
        .await
        .unwrap()
        .get(0);
    let plan: Vec<String> = db
        .query(
            &format!("EXPLAIN {sql}"),
            &[&user_id, &"%needle%", &"%thread%", &51i64],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let plan = plan.join("\n");
    assert!(plan.contains("history_text_trgm_idx"), "{plan}");
    // And the answer is right: the words are in input and output respectively.
    let h = history(&app, &token, "?q=thread+needle").await;
    let expected = (1..=20_000).filter(|g| g % 1000 == 8 && g % 4 == 0).count();
    assert_eq!(h.history.len(), expected);
    assert!(
        h.history
            .iter()
            .all(|e| e.input.ends_with(" needle") && e.output.starts_with("thread "))
    );
}

/// A search is planned for its user and words each time: a word most rows
/// hold and a rare one both give the newest matches, pages included.
#[tokio::test]
async fn a_search_finds_the_newest_matches_of_common_and_rare_words() {
    let app = spawn_app().await;
    let (name, token) = app.user().await;
    // 6,000 rows: 'common' in 2 of 3, 'rare' in rows 10 and 5,990.
    app.db()
        .await
        .execute(
            "INSERT INTO history (user_id, function, input, output)
             SELECT u.id, 'reverse', 'row ' || g,
                    CASE WHEN g % 3 = 0 THEN 'plain' ELSE 'common' END
                    || CASE WHEN g IN (10, 5990) THEN ' rare' ELSE '' END
             FROM users u, generate_series(1, 6000) g WHERE u.username = $1",
            &[&name],
        )
        .await
        .unwrap();
    let row = |g: u32| format!("row {g}");
    let common: Vec<String> = (1..=6000).filter(|g| g % 3 != 0).map(row).collect();
    let h = history(&app, &token, "?q=COMMON&limit=50").await;
    let newest: Vec<&str> = common[common.len() - 50..]
        .iter()
        .map(String::as_str)
        .collect();
    assert_eq!(inputs(&h), newest);
    // Two rows of 6,000.
    let h = history(&app, &token, "?q=rare+common&limit=50").await;
    assert_eq!(inputs(&h), ["row 10", "row 5990"]);
    assert_eq!(h.next_before, Some(None));
    // Paging, 1,000 a page, finds every match once.
    let mut seen = Vec::new();
    let mut query = "?q=common&limit=1000".to_string();
    loop {
        let h = history(&app, &token, &query).await;
        let mut page: Vec<String> = inputs(&h).into_iter().map(str::to_owned).collect();
        page.append(&mut seen);
        seen = page;
        match h.older_page() {
            Some(before) => query = format!("?q=common&limit=1000&before={before}"),
            None => break,
        }
    }
    assert_eq!(seen, common);
}

#[tokio::test]
async fn a_row_with_an_unknown_function_is_an_error_not_a_guess() {
    let app = spawn_app().await;
    let (name, token) = app.user().await;
    run(&app, &token, Function::Reverse, "fine").await;
    // Only a newer schema could write such a row; this one's CHECK forbids it.
    let db = app.db().await;
    db.batch_execute("ALTER TABLE history DROP CONSTRAINT history_function_check")
        .await
        .unwrap();
    db.execute(
        "INSERT INTO history (user_id, function, input, output)
         SELECT id, 'shout', 'hi', 'HI' FROM users WHERE username = $1",
        &[&name],
    )
    .await
    .unwrap();
    let res = app.get("/get-history", Some(&token)).await;
    crate::support::assert_error(res, 500, strop_common::ErrorCode::Internal).await;
}

#[tokio::test]
async fn searches_take_at_most_a_quarter_of_the_pool() {
    let app = crate::support::spawn_with(strop_server::ServeOptions {
        pool_size: 8,
        ..crate::support::lenient()
    })
    .await;
    let (_, token) = app.user().await;
    run(&app, &token, Function::Reverse, "findable words").await;
    // Every read of the table waits behind this lock until it is released.
    let mut locker = app.db().await;
    let lock = locker.transaction().await.unwrap();
    lock.batch_execute("LOCK TABLE history IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let searches: Vec<_> = (0..6)
        .map(|_| {
            let http = app.http.clone();
            let url = app.url("/get-history?q=findable");
            let token = token.clone();
            tokio::spawn(async move {
                http.get(url)
                    .header("authorization", token)
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();
    // Two of the six reach the database; the others wait for a place,
    // leaving the pool's other connections to everyone else.
    let db = app.db().await;
    let mut waiting = 0;
    for _ in 0..100 {
        waiting = crate::support::waiting_on_lock(&db, "ILIKE").await;
        if waiting >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let settled = crate::support::waiting_on_lock(&db, "ILIKE").await;
    assert_eq!((waiting, settled), (2, 2));
    lock.rollback().await.unwrap();
    for search in searches {
        assert_eq!(search.await.unwrap(), 200);
    }
}

#[tokio::test]
async fn pages_holding_the_whole_memory_budget_still_answer() {
    // Two page shares fill the budget: two pages reading at once hold all
    // of it. Each must write its text from its own share, not wait for
    // room the other holds (they waited on each other until 503).
    let page_bytes = 1 << 20;
    let app = crate::support::spawn_with(strop_server::ServeOptions {
        page_bytes,
        stream_memory: 2 * page_bytes,
        ..crate::support::lenient()
    })
    .await;
    let (_, token) = app.user().await;
    run(&app, &token, Function::Reverse, "one entry").await;
    let mut locker = app.db().await;
    let lock = locker.transaction().await.unwrap();
    lock.batch_execute("LOCK TABLE history IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let pages: Vec<_> = (0..4)
        .map(|_| {
            let http = app.http.clone();
            let url = app.url("/get-history");
            let token = token.clone();
            tokio::spawn(async move {
                http.get(url)
                    .header("authorization", token)
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();
    // Two pages hold their share and wait on the table; two wait for room.
    let db = app.db().await;
    for _ in 0..100 {
        if crate::support::waiting_on_lock(&db, "history").await >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(crate::support::waiting_on_lock(&db, "history").await, 2);
    lock.rollback().await.unwrap();
    for page in pages {
        assert_eq!(page.await.unwrap(), 200);
    }
}

#[tokio::test]
async fn a_page_of_a_user_holding_most_of_the_table_reads_only_their_index() {
    let app = spawn_app().await;
    let (big, token) = app.user().await;
    let (_, other) = app.user().await;
    run(&app, &token, Function::Piglatin, "the newest of big").await;
    let db = app.db().await;
    // 40,000 old rows of one user, then 10,000 newer rows of another.
    for (name, rows) in [(&big, 40_000), (&app.user().await.0, 10_000)] {
        db.execute(
            "INSERT INTO history (user_id, function, input, output)
             SELECT u.id, 'reverse', 'row ' || g, 'wor' FROM users u, generate_series(1, $2) g
             WHERE u.username = $1",
            &[name, &rows],
        )
        .await
        .unwrap();
    }
    db.batch_execute("VACUUM ANALYZE history").await.unwrap();
    let user_id: i64 = db
        .query_one("SELECT id FROM users WHERE username = $1", &[&big])
        .await
        .unwrap()
        .get(0);
    for (filter, params) in [
        (
            strop_server::db::history::Filter::default(),
            vec![Box::new(user_id) as Box<dyn tokio_postgres::types::ToSql + Sync>],
        ),
        (
            strop_server::db::history::Filter {
                function: Some(Function::Piglatin),
                ..Default::default()
            },
            vec![Box::new(user_id) as _, Box::new("piglatin") as _],
        ),
    ] {
        let sql = strop_server::db::history::page_sql(&filter);
        let mut params = params;
        params.push(Box::new(51i64));
        let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
            params.iter().map(|p| p.as_ref()).collect();
        let plan: Vec<String> = db
            .query(&format!("EXPLAIN {sql}"), &refs)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        let plan = plan.join("\n");
        assert!(!plan.contains("history_pkey"), "{plan}");
        assert!(plan.contains("Index Cond"), "{plan}");
    }
    // And the pages are right.
    let newest = history(&app, &token, "?limit=3").await;
    let inputs: Vec<&str> = newest.history.iter().map(|e| e.input.as_str()).collect();
    assert_eq!(inputs, ["row 39998", "row 39999", "row 40000"]);
    let pig = history(&app, &token, "?function=piglatin").await;
    assert_eq!(pig.history.len(), 1);
    assert_eq!(pig.history[0].input, "the newest of big");
    assert!(history(&app, &other, "").await.history.is_empty());
}
