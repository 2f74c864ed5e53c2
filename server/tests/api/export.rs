//! `GET /history/export`: every entry as NDJSON, oldest first, streamed in
//! pages so the server's memory does not grow with the history.

use serde_json::{Value, json};
use strop_common::{ErrorCode, HistoryEntry, HistoryResponse};
use strop_embedded_pg::testing::fresh_database;

use crate::binary::{ServerProcess, command, database_url, login, register};
use crate::support::{assert_error, connect, spawn_app};

#[tokio::test]
async fn export_is_every_entry_oldest_first_as_ndjson() {
    let app = spawn_app().await;
    let (_, token) = app.user().await;
    let (_, other) = app.user().await;
    for i in 0..5 {
        let res = app
            .post(
                "/reverse",
                &json!({"input": format!("mine {i}")}),
                Some(&token),
            )
            .await;
        assert_eq!(res.status(), 200);
    }
    let res = app
        .post("/piglatin", &json!({"input": "theirs"}), Some(&other))
        .await;
    assert_eq!(res.status(), 200);
    let res = app.get("/history/export", Some(&token)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/x-ndjson");
    let text = res.text().await.unwrap();
    assert!(text.ends_with('\n'));
    let exported: Vec<HistoryEntry> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let h: HistoryResponse = app
        .get("/get-history", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(exported, h.history, "the same entries, in the same order");
    // An empty history is an empty body; no token is a 401.
    let (_, empty) = app.user().await;
    let res = app.get("/history/export", Some(&empty)).await;
    assert_eq!(res.text().await.unwrap(), "");
    assert_error(
        app.get("/history/export", None).await,
        401,
        ErrorCode::MissingToken,
    )
    .await;
}

/// Peak and current resident memory of a process, in KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap()
    };
    (field("VmHWM:"), field("VmRSS:"))
}

#[tokio::test]
async fn exporting_100000_entries_keeps_the_servers_memory_flat() {
    const ROWS: i64 = 100_000;
    let pg = fresh_database().await;
    let mut cmd = command();
    cmd.env("DATABASE_URL", database_url(&pg));
    let server = ServerProcess::start(cmd).await;
    let http = reqwest::Client::new();
    register(&http, &server, "exporter", "pw").await;
    let token = login(&http, &server, "exporter", "pw").await;
    // About 100 MB of history, written behind the server's back.
    let db = connect(&pg).await;
    db.execute(
        "INSERT INTO history (user_id, function, input, output)
         SELECT u.id, 'reverse', repeat('x', 480) || g, g || repeat('x', 480)
         FROM users u, generate_series(1, $1::bigint) AS g WHERE u.username = 'exporter'",
        &[&ROWS],
    )
    .await
    .unwrap();
    let pid = server.pid();
    let (peak_before, _) = memory_kib(pid);
    let mut res = http
        .get(server.url("/history/export"))
        .header("Authorization", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let mut lines = 0i64;
    let mut bytes = 0usize;
    let mut last_id = 0i64;
    let mut partial = Vec::new();
    while let Some(chunk) = res.chunk().await.unwrap() {
        bytes += chunk.len();
        partial.extend_from_slice(&chunk);
        while let Some(end) = partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = partial.drain(..=end).collect();
            let v: Value = serde_json::from_slice(&line).unwrap();
            let id = v["id"].as_i64().unwrap();
            assert!(id > last_id, "id order");
            last_id = id;
            lines += 1;
        }
    }
    assert!(partial.is_empty());
    assert_eq!(lines, ROWS, "every entry");
    let (peak_after, rss_after) = memory_kib(pid);
    let grown = peak_after.saturating_sub(peak_before);
    println!(
        "export of {ROWS} entries, {} MiB: peak RSS {} -> {} MiB, now {} MiB",
        bytes >> 20,
        peak_before >> 10,
        peak_after >> 10,
        rss_after >> 10
    );
    // A server that held the export would grow by ~100 MB.
    assert!(
        grown < 32 * 1024,
        "peak RSS grew by {grown} KiB for a {bytes}-byte export"
    );
    assert!(bytes > 90_000_000, "the export is the whole history");
    server.terminate().await;
}
