//! What one `/get-history` page costs at 100 rows and at 1,000,000 rows.
//!
//!     cargo run --release -p strop-server --example history_bench [-- ROWS]
//!
//! Uses a fresh database on DATABASE_URL's server, or on the shared embedded
//! test cluster. Fills one user with 100 entries and another with ROWS
//! (default 1,000,000), then times the page queries the server runs (through
//! the server's own `db::history::newest`) and prints PostgreSQL's plan and
//! buffer counts for each. Figures, not assertions.

use std::time::{Duration, Instant};

use strop_common::Function;
use strop_embedded_pg::testing::fresh_database;
use strop_server::db;
use strop_server::db::history::Filter;

const PAGE: i64 = 50;
const RUNS: usize = 200;

#[tokio::main]
async fn main() {
    let big: i64 = std::env::args()
        .nth(1)
        .map(|a| a.replace('_', "").parse().expect("ROWS must be a number"))
        .unwrap_or(1_000_000);
    let pg = fresh_database().await;
    db::migrations::migrate(&pg).await.expect("migrate");
    let pool = db::pool::create(pg, 4, std::time::Duration::from_secs(30)).expect("pool");
    let client = pool.get().await.expect("connection");

    println!("filling: user 'small' with 100 entries, user 'big' with {big} entries ...");
    let started = Instant::now();
    let small_id = fill(&client, "small", 100).await;
    let big_id = fill(&client, "big", big).await;
    client
        .batch_execute("VACUUM ANALYZE history")
        .await
        .unwrap();
    println!("filled in {:.1} s\n", started.elapsed().as_secs_f64());

    let middle_small = newest_id(&client, small_id).await - 50;
    let middle_big = newest_id(&client, big_id).await - big / 2;
    let cases: Vec<(&str, Filter, Filter)> = vec![
        ("newest page", Filter::default(), Filter::default()),
        (
            "page from the middle (before=)",
            Filter {
                before: Some(middle_small),
                ..Filter::default()
            },
            Filter {
                before: Some(middle_big),
                ..Filter::default()
            },
        ),
        (
            "function=piglatin",
            only(Function::Piglatin),
            only(Function::Piglatin),
        ),
        ("q= common word", search("entry"), search("entry")),
        ("q= rare word (1 row)", search("needle"), search("needle")),
        (
            "q= two words (every row)",
            search("number entry"),
            search("number entry"),
        ),
        (
            "q= two words (1 row)",
            search("needle entry"),
            search("needle entry"),
        ),
    ];

    println!(
        "{:<32} {:>14} {:>14} {:>14} {:>14}",
        "query (page of 50)", "100 rows p50", "100 rows p99", "big p50", "big p99"
    );
    for (name, small_filter, big_filter) in &cases {
        let s = time_page(&client, small_id, small_filter).await;
        let b = time_page(&client, big_id, big_filter).await;
        println!(
            "{:<32} {:>14} {:>14} {:>14} {:>14}",
            name,
            fmt(s.0),
            fmt(s.1),
            fmt(b.0),
            fmt(b.1)
        );
    }

    for (name, small_filter, big_filter) in &cases {
        for (label, user, filter) in [
            ("100 rows", small_id, small_filter),
            ("big", big_id, big_filter),
        ] {
            println!("\n--- {name}, {label}: EXPLAIN (ANALYZE, BUFFERS)");
            for line in explain(&client, user, filter).await {
                println!("{line}");
            }
        }
    }
}

fn only(f: Function) -> Filter {
    Filter {
        function: Some(f),
        ..Filter::default()
    }
}

fn search(q: &str) -> Filter {
    Filter {
        words: Filter::words_of(q),
        ..Filter::default()
    }
}

/// A user with `n` entries, alternating functions; the oldest mentions "needle".
async fn fill(client: &db::Client, name: &str, n: i64) -> i64 {
    let id: i64 = client
        .query_one(
            "INSERT INTO users (username, password_hash) VALUES ($1, 'x') RETURNING id",
            &[&name],
        )
        .await
        .unwrap()
        .get(0);
    client
        .execute(
            "INSERT INTO history (user_id, function, input, output)
             SELECT $1, CASE WHEN g % 2 = 0 THEN 'reverse' ELSE 'piglatin' END,
                    'entry number ' || g || CASE WHEN g = 1 THEN ' needle' ELSE '' END,
                    reverse('entry number ' || g)
             FROM generate_series(1, $2::bigint) g",
            &[&id, &n],
        )
        .await
        .unwrap();
    id
}

async fn newest_id(client: &db::Client, user: i64) -> i64 {
    client
        .query_one("SELECT max(id) FROM history WHERE user_id = $1", &[&user])
        .await
        .unwrap()
        .get(0)
}

/// (p50, p99) of RUNS page reads.
async fn time_page(client: &db::Client, user: i64, filter: &Filter) -> (Duration, Duration) {
    // Warm the statement cache and the buffers first.
    db::history::newest(client, user, filter, PAGE + 1)
        .await
        .unwrap();
    let mut samples = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let t = Instant::now();
        let rows = db::history::newest(client, user, filter, PAGE + 1)
            .await
            .unwrap();
        samples.push(t.elapsed());
        std::hint::black_box(rows);
    }
    samples.sort();
    (samples[RUNS / 2], samples[RUNS * 99 / 100])
}

async fn explain(client: &db::Client, user: i64, filter: &Filter) -> Vec<String> {
    // Inline the parameters: EXPLAIN of the generic prepared form would hide
    // the plan the server actually gets for these values.
    let mut sql = db::history::page_sql(filter);
    let mut values = vec![user.to_string()];
    if let Some(b) = filter.before {
        values.push(b.to_string());
    }
    if let Some(f) = filter.function {
        values.push(format!("'{}'", f.as_str()));
    }
    for w in &filter.words {
        values.push(format!("'%{}%'", w.replace('\'', "''")));
    }
    values.push((PAGE + 1).to_string());
    for (i, v) in values.iter().enumerate().rev() {
        sql = sql.replace(&format!("${}", i + 1), v);
    }
    client
        .query(&format!("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}"), &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect()
}

fn fmt(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}
